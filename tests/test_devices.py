"""Where you're signed in (Settings): every live session of the extension, with its browser
parsed from the User-Agent; ending one by its row's handle, or every other one; the
administrator's `portal extension sessions`; and the notice mailed for each new device. Both
profiles (embedded SQLite, PostgreSQL with Redis)."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import func, select
from starlette.testclient import TestClient

from portal.base.models import OutboxMessage
from portal.flows.devices import routes as devices_routes
from portal.web.shared import Shared
from tests.conftest import Account, Auth, csrf_from, run
from tests.test_cli import cli as cli
from tests.test_reset import BASE
from tests.test_reset import settings as settings
from tests.test_signouts import Jar, use

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
OTHER = "202-wickedsprockets"
HTMX = {"HX-Request": "true"}


def browser(client: TestClient, agent: str, username: str = "201-wickedsprockets") -> Jar:
    """A browser of its own, named by `agent`: signs in from empty cookies."""
    client.cookies.clear()
    client.headers["User-Agent"] = agent
    assert Auth(client).login(username).headers["location"] == "/phone"
    return dict(client.cookies)


def settings_page(client: TestClient, jar: Jar, agent: str) -> Any:
    use(client, jar)
    client.headers["User-Agent"] = agent
    return client.get("/settings")


def handles(html: str) -> dict[str, str]:
    """Each other session's Sign Out button's accessible name → the handle its form posts."""
    found = re.findall(
        r'name="session" value="([^"]+)">\s*<button[^>]*>Sign Out'
        r'<span class="visually-hidden"> of ([^<]+)</span>',
        html,
    )
    return {f"Sign Out of {label}": handle for handle, label in found}


def sign_out(client: TestClient, page: Any, handle: str, htmx: bool = True) -> Any:
    data = {"csrf_token": csrf_from(page.text), "session": handle}
    return client.post("/settings/sessions/sign-out", data=data, headers=HTMX if htmx else {})


def signed_in(client: TestClient, jar: Jar) -> bool:
    use(client, jar)
    return client.get("/phone").status_code == 200


def test_the_list_shows_every_session_with_its_browser(
    client: TestClient, account: Account
) -> None:
    firefox = browser(client, FIREFOX)
    chrome = browser(client, CHROME)

    page = settings_page(client, chrome, CHROME)

    assert page.status_code == 200
    assert "Where You&#39;re Signed In" in page.text or "Where You're Signed In" in page.text
    assert page.text.count("This device") == 1
    this = page.text.index("This device")
    assert page.text.rindex("Chrome on Linux", 0, this) > page.text.rfind("<li", 0, this)
    assert list(handles(page.text)) == ["Sign Out of Firefox on Windows"]
    assert "Sign Out Everywhere Else" in page.text
    assert "Mozilla/5.0" not in page.text and "Gecko" not in page.text  # never the raw header
    assert page.text.count("testclient") == 2  # each session's address
    assert re.search(r"Signed in</dt><dd><time datetime=\"\d{4}-\d\d-\d\dT\d\d:\d\dZ\">", page.text)
    assert "Last active" in page.text
    # The other browser sees the same two, itself as this device.
    other = settings_page(client, firefox, FIREFOX)
    assert list(handles(other.text)) == ["Sign Out of Chrome on Linux"]


def test_ending_another_session_signs_it_out_at_its_next_request(
    client: TestClient, account: Account
) -> None:
    firefox = browser(client, FIREFOX)
    safari = browser(client, SAFARI)
    chrome = browser(client, CHROME)
    page = settings_page(client, chrome, CHROME)
    handle = handles(page.text)["Sign Out of Firefox on Windows"]

    answer = sign_out(client, page, handle)

    assert answer.status_code == 200
    assert "Firefox on Windows was signed out." in answer.text
    assert 'id="sessions"' in answer.text and "<html" not in answer.text  # the section alone
    assert list(handles(answer.text)) == ["Sign Out of Mobile Safari on iOS"]
    assert not signed_in(client, firefox)
    assert signed_in(client, safari) and signed_in(client, chrome)
    # Again, with the same handle: that session is gone, and nothing else ends.
    page = settings_page(client, chrome, CHROME)
    again = sign_out(client, page, handle)
    assert devices_routes.NOT_FOUND in again.text
    assert signed_in(client, safari) and signed_in(client, chrome)


def test_without_javascript_the_same_form_redirects_with_its_message(
    client: TestClient, account: Account
) -> None:
    firefox = browser(client, FIREFOX)
    chrome = browser(client, CHROME)
    page = settings_page(client, chrome, CHROME)

    answer = sign_out(client, page, handles(page.text)["Sign Out of Firefox on Windows"], False)

    assert answer.status_code == 303 and answer.headers["location"] == "/settings"
    after = client.get("/settings")
    assert "Firefox on Windows was signed out." in after.text
    assert "Firefox on Windows was signed out." not in client.get("/settings").text  # once
    assert not signed_in(client, firefox)


def test_a_forged_or_other_extensions_handle_does_nothing(
    client: TestClient, make_account: Any
) -> None:
    make_account()
    make_account(OTHER, email=None)
    theirs_first = browser(client, FIREFOX, OTHER)
    theirs = browser(client, SAFARI, OTHER)
    their_handle = handles(settings_page(client, theirs, SAFARI).text)[
        "Sign Out of Firefox on Windows"
    ]
    mine = browser(client, CHROME)
    mine_other = browser(client, FIREFOX)

    for forged in [their_handle, "0" * 32, "", "é" * 40, "x" * 5000]:
        page = settings_page(client, mine, CHROME)
        answer = sign_out(client, page, forged)
        assert answer.status_code == 200
        assert devices_routes.NOT_FOUND in answer.text
    assert signed_in(client, theirs_first) and signed_in(client, theirs)
    assert signed_in(client, mine) and signed_in(client, mine_other)
    # Without the CSRF token, nothing at all.
    page = settings_page(client, mine, CHROME)
    handle = handles(page.text)["Sign Out of Firefox on Windows"]
    refused = client.post("/settings/sessions/sign-out", data={"session": handle})
    assert refused.status_code == 403
    assert signed_in(client, mine_other)


def test_sign_out_everywhere_else_leaves_only_this_one(
    client: TestClient, make_account: Any
) -> None:
    make_account()
    make_account(OTHER, email=None)
    others = [browser(client, FIREFOX), browser(client, SAFARI)]
    theirs = browser(client, FIREFOX, OTHER)
    chrome = browser(client, CHROME)
    page = settings_page(client, chrome, CHROME)

    answer = client.post(
        "/settings/sessions/sign-out-others",
        data={"csrf_token": csrf_from(page.text)},
        headers=HTMX,
    )

    assert devices_routes.OTHERS_ENDED in answer.text
    assert handles(answer.text) == {} and "Sign Out Everywhere Else" not in answer.text
    assert answer.text.count("This device") == 1
    assert not any(signed_in(client, jar) for jar in others)
    assert signed_in(client, chrome)
    assert signed_in(client, theirs)  # another extension's sessions are not this one's


def test_the_command_line_lists_and_signs_out(
    client: TestClient, account: Account, cli: Any
) -> None:
    firefox = browser(client, FIREFOX)
    browser(client, SAFARI)

    code, out, err = cli("extension", "sessions", "201-wickedsprockets")

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert sorted(line.split("  ")[0] for line in lines) == [
        "Firefox on Windows",
        "Mobile Safari on iOS",
    ]
    assert all("testclient" in line and "last active" in line for line in lines)
    assert "Mozilla" not in out
    code, out, _ = cli("extension", "sign-out", "201-wickedsprockets")
    assert code == 0 and "2 sessions ended" in out
    assert not signed_in(client, firefox)
    code, out, _ = cli("extension", "sessions", "201-wickedsprockets")
    assert code == 0 and "not signed in anywhere" in out
    code, out, err = cli("extension", "sessions", "299-wickedsprockets")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "unknown extension" in err


def outbox_count(client: TestClient) -> int:
    async def work(shared: Shared) -> int:
        async with shared.db() as db:
            return int((await db.exec(select(func.count()).select_from(OutboxMessage))).one())

    return run(client, work)


def test_a_new_device_gets_one_notice_and_a_known_one_none(
    client: TestClient, account: Account, smtp_sink: Any
) -> None:
    client.headers["User-Agent"] = FIREFOX
    auth = Auth(client)
    assert auth.login().status_code == 303

    notice = smtp_sink.wait_for(1)[0]

    assert notice.to == "ada@example.com"
    assert notice.subject == "New sign-in to Phone Portal"
    assert "Firefox on Windows" in notice.text and "testclient" in notice.text
    assert re.search(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", notice.text)
    assert f"If this wasn't you, change your password: {BASE}/settings" in notice.text
    assert "Mozilla" not in notice.text
    # One paragraph a line: no line is wrapped inside a sentence.
    assert all(
        not line or line.endswith((",", ".", "/settings")) for line in notice.text.splitlines()
    )
    # The same browser again (its device cookie kept across the sign-out): nothing more.
    auth.logout()
    assert auth.login().status_code == 303
    assert outbox_count(client) == 1
    assert len(smtp_sink.messages) == 1


def test_no_notice_without_an_address(client: TestClient, make_account: Any) -> None:
    make_account(OTHER, email=None)
    browser(client, FIREFOX, OTHER)
    assert outbox_count(client) == 0
