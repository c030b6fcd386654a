"""Forgot password: the emailed link, its one use, its expiry, and an answer that tells nothing."""

from __future__ import annotations

import logging
import os
import re
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.base.models import OutboxMessage
from portal.base.settings import Settings
from portal.domain import signouts
from tests.conftest import PASSWORD, Account, Auth, csrf_from, run
from tests.servers import portal_command, portal_server
from tests.smtp import TestSink

BASE = "http://portal.example.test:8443"
LINK = re.compile(re.escape(BASE) + r"/reset-password/([A-Za-z0-9_-]{43})")
NEW = "a new and better passphrase"


@pytest.fixture
def settings(settings: Settings, smtp_sink: TestSink) -> Settings:
    return replace(
        settings,
        base_url=BASE,
        smtp_port=smtp_sink.port,
        mail_from="Portal <portal@wickedsprockets.example>",
        mail_poll_seconds=0.05,
        mail_retry_max_seconds=0.2,
    )


def ask_for_link(client: TestClient, username: str = "201-wickedsprockets", **headers: str) -> Any:
    token = csrf_from(client.get("/forgot-password").text)
    return client.post(
        "/forgot-password", data={"username": username, "csrf_token": token}, headers=headers
    )


def newest(sink: TestSink, subject: str, count: int) -> Any:
    """The newest of `count` messages with `subject`: a sign-in from a new browser mails a
    notice of its own beside them."""
    return next(m for m in sink.wait_for(count) if m.subject == subject)


def link_from(mail: Any) -> str:
    match = LINK.search(mail.text)
    assert match, mail.text
    return match.group(0).removeprefix(BASE)


def set_new_password(
    client: TestClient, path: str, new: str = NEW, confirm: str | None = None
) -> Any:
    page = client.get(path).text
    if 'name="csrf_token"' not in page:  # a dead link shows no form: post as an attacker would
        page = client.get("/login").text
    return client.post(
        path,
        data={
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
            "csrf_token": csrf_from(page),
        },
    )


def outbox(client: TestClient) -> list[OutboxMessage]:
    async def read(shared: Any) -> list[OutboxMessage]:
        async with shared.db() as session:
            return list((await session.exec(select(OutboxMessage))).all())

    return run(client, read)


def test_the_login_page_links_to_forgot_password(client: TestClient) -> None:
    assert 'href="/forgot-password" data-forgot-link' in client.get("/login").text


def test_the_form_is_prefilled_from_the_login_form(client: TestClient) -> None:
    page = client.get("/forgot-password?username=201-wickedsprockets")
    assert 'value="201-wickedsprockets"' in page.text
    assert "Send Reset Link" in page.text


def test_the_whole_reset_by_email(
    client: TestClient, account: Account, smtp_sink: TestSink, settings: Settings
) -> None:
    answer = ask_for_link(client, " 201-WickedSprockets ", Host="evil.example")
    assert answer.status_code == 200
    assert "a link to choose a new password is on its way" in answer.text
    assert "valid for 1 hour" in answer.text

    [mail] = smtp_sink.wait_for(1)
    assert mail.sender == settings.mail_from
    assert mail.recipients == ("ada@example.com",)
    assert mail.subject == "Reset your Phone Portal password"
    assert "201-wickedsprockets" in mail.text
    assert "Wickedsprockets" in mail.text  # the tenant's name
    assert "If you did not ask for this, ignore this email" in mail.text
    assert "evil.example" not in mail.text  # built from PORTAL_BASE_URL, not the Host header
    path = link_from(mail)
    assert f'href="{BASE}{path}"' in mail.html

    form = client.get(path)
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert "Choose a New Password" in form.text
    done = set_new_password(client, path)
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    assert "Your password was changed" in client.get("/login").text

    auth = Auth(client)
    assert "Invalid username or password" in auth.login(password=PASSWORD).text
    assert auth.login(password=NEW).headers["location"] == "/phone"

    # The reset link, the change's notice and the new browser's notice.
    notice = newest(smtp_sink, "Your Phone Portal password was changed", 3)
    assert "contact your system administrator" in notice.text

    reused = client.get(path)
    assert reused.status_code == 410
    assert "Ask for a New Link" in reused.text
    assert all(m.body_text == "" for m in outbox(client))  # sent mail leaves no link behind


def test_a_reset_signs_out_every_session_and_lifts_the_lock(
    app: Any, client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    signed_in = TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False)
    with signed_in:
        Auth(signed_in).login()
        assert signed_in.get("/phone").status_code == 200
        auth = Auth(client)
        for _ in range(5):
            auth.login(password="wrong")
        assert auth.login().status_code == 429  # locked...
        ask_for_link(client)  # ...yet forgot-password still works
        reset = newest(smtp_sink, "Reset your Phone Portal password", 2)  # and a new-device one
        set_new_password(client, link_from(reset))
        assert signed_in.get("/phone").status_code == 303
        assert auth.login(password=NEW).headers["location"] == "/phone"


def test_the_reset_page_posts_without_htmx_and_with_it(
    client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    ask_for_link(client)
    path = link_from(smtp_sink.wait_for(1)[0])
    token = csrf_from(client.get(path).text)
    response = client.post(
        path,
        data={"new_password": NEW, "confirm_password": NEW, "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == "/login"


@pytest.mark.parametrize(
    ("new", "confirm", "message"),
    [
        ("short", "short", "Use at least 8 characters."),
        ("password123", "password123", "most common passwords"),
        ("my 201-wickedsprockets pass", "my 201-wickedsprockets pass", "your username"),
        (NEW, NEW + "x", "The two passwords do not match."),
        ("", "", "Enter a new password."),
    ],
)
def test_policy_errors_on_the_reset_form_leave_the_link_usable(
    client: TestClient, account: Account, smtp_sink: TestSink, new: str, confirm: str, message: str
) -> None:
    ask_for_link(client)
    path = link_from(smtp_sink.wait_for(1)[0])
    page = client.get(path)
    response = client.post(
        path,
        data={"new_password": new, "confirm_password": confirm, "csrf_token": csrf_from(page.text)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert "<html" not in response.text
    assert set_new_password(client, path).headers["location"] == "/login"


def test_an_expired_link_gets_the_friendly_page(
    settings: Settings, account: Account, smtp_sink: TestSink
) -> None:
    from portal.app import create_app

    quick = replace(settings, reset_token_seconds=1)
    with TestClient(create_app(quick), base_url="http://127.0.0.1:8000") as client:
        ask_for_link(client)
        path = link_from(smtp_sink.wait_for(1)[0])
        assert "within 1 second" in smtp_sink.messages[0].text
        time.sleep(1.2)
        page = client.get(path)
        assert page.status_code == 410
        assert "Ask for a New Link" in page.text
        assert set_new_password(client, path).status_code == 410


@pytest.mark.parametrize(
    "path",
    [
        "/reset-password/" + "A" * 43,
        "/reset-password/short",
        "/reset-password/" + "x" * 5000,
        "/reset-password/%00%00",
        "/reset-password/..%2F..%2Fetc",
    ],
)
def test_mangled_links_get_the_friendly_page(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 410)
    assert "Traceback" not in response.text


def test_a_newer_link_voids_the_older_one(
    client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    ask_for_link(client)
    first = link_from(smtp_sink.wait_for(1)[0])
    ask_for_link(client)
    second = link_from(smtp_sink.wait_for(2)[0])
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_any_password_change_voids_outstanding_links(
    client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    ask_for_link(client)
    path = link_from(smtp_sink.wait_for(1)[0])

    async def admin_reset(shared: Any) -> None:
        async with shared.db() as session:
            await signouts.set_password(
                session, shared.passwords, shared.store, account.username, NEW
            )

    run(client, admin_reset)
    assert client.get(path).status_code == 410


def test_the_answer_is_the_same_for_every_extension(
    client: TestClient, make_account: Any, smtp_sink: TestSink
) -> None:
    make_account("201-wickedsprockets", email="ada@example.com")
    make_account("202-wickedsprockets", email=None)

    def answer(username: str) -> tuple[int, str]:
        response = ask_for_link(client, username)
        body = re.sub(r"[A-Za-z0-9_-]{43}", "TOKEN", response.text).replace(username, "NAME")
        return response.status_code, body

    with_email = answer("201-wickedsprockets")
    assert answer("202-wickedsprockets") == with_email  # no email address
    assert answer("203-wickedsprockets") == with_email  # no such extension
    assert answer("201-nosuchtenant") == with_email  # no such tenant
    assert "ask your system administrator" in with_email[1]
    smtp_sink.wait_for(1)
    time.sleep(0.3)
    assert [m.recipients for m in smtp_sink.messages] == [("ada@example.com",)]


def test_reset_requests_are_limited_per_extension_without_locking(
    client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    answers = {ask_for_link(client).text.count("on its way") for _ in range(5)}
    assert answers == {1}  # the same answer every time
    smtp_sink.wait_for(3)
    time.sleep(0.3)
    assert len(smtp_sink.messages) == 3
    assert Auth(client).login().headers["location"] == "/phone"  # never locks the account


ASK_AGAIN = "Enter your extension and company code, like 201-wickedsprockets."


@pytest.mark.parametrize("typed", ["   ", "201", "201-", "wickedsprockets", "201 wickedsprockets"])
def test_a_value_that_names_no_one_is_asked_for_again_with_an_example(
    client: TestClient, account: Account, smtp_sink: TestSink, typed: str
) -> None:
    """`201` alone, as the old label invited, got "a link is on its way" and nothing was sent.
    The answer depends on the shape of what was typed only, never on any account."""
    response = ask_for_link(client, typed, **{"HX-Request": "true"})
    assert response.status_code == 200
    # The example is kept on one line (a span around it): the words are the message's.
    assert ASK_AGAIN in re.sub(r"<[^>]+>", "", response.text)
    assert '<span class="nowrap">201-wickedsprockets</span>' in response.text
    assert "on its way" not in response.text
    assert 'aria-invalid="true"' in response.text
    assert ask_for_link(client, "201-nosuchtenant").text.count("on its way") == 1
    time.sleep(0.3)
    assert smtp_sink.messages == []


def test_the_field_is_labelled_as_on_the_login_page(client: TestClient) -> None:
    forgot = client.get("/forgot-password").text
    login = client.get("/login").text
    label = '<label for="username">Username</label>'
    assert label in login
    assert label in forgot


def test_mail_survives_an_smtp_outage(
    client: TestClient, account: Account, smtp_sink: TestSink
) -> None:
    smtp_sink.stop()
    ask_for_link(client)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pending = outbox(client)
        if pending and pending[0].attempts >= 1:
            break
        time.sleep(0.05)
    assert pending[0].sent_at is None
    assert pending[0].failed_at is None
    smtp_sink.start()
    path = link_from(smtp_sink.wait_for(1)[0])
    assert set_new_password(client, path).headers["location"] == "/login"


def test_no_reset_token_reaches_the_logs(
    client: TestClient, account: Account, smtp_sink: TestSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ask_for_link(client)
    path = link_from(smtp_sink.wait_for(1)[0])
    set_new_password(client, path)
    token = path.rsplit("/", 1)[1]
    # Everything the portal and its libraries logged; not the test's HTTP client, nor the
    # SMTP server standing in for the recipient's mail server (mail.log is aiosmtpd's).
    server_logs = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "mail.log"))
    )
    assert token not in server_logs
    assert "/reset-password/…" in server_logs  # the access log, with the token cut out
    assert NEW not in server_logs


def test_the_answer_takes_the_same_time_for_every_extension(
    tmp_path: Path, smtp_sink: TestSink
) -> None:
    """Against a real server, where the answer leaves before any work on the extension."""
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.db",
        "PORTAL_SECRET_KEY": "timing-test",
        "PORTAL_SMTP_PORT": str(smtp_sink.port),
        "PORTAL_MAIL_POLL_SECONDS": "0.1",
    }
    portal_command(env, "db", "upgrade")
    portal_command(env, "tenant", "add", "acme", "--name", "Acme")
    for number, email in (("1", "one@example.com"), ("2", "two@example.com"), ("3", None)):
        extra = ["--email", email] if email else []
        portal_command(env, "extension", "add", f"{number}-acme", "--name", "X", *extra)
    # Each extension may ask 3 times an hour and the address 20 times: stay inside both.
    kinds = {"with email": ["1-acme", "2-acme"] * 3, "without": ["3-acme"] * 6, "none": []}
    kinds["none"] = [f"{n}-acme" for n in range(10, 16)]
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    with (
        portal_server(env, tmp_path / "server.log") as server,
        httpx2.Client(base_url=server.base) as web,
    ):
        token = csrf_from(web.get("/forgot-password").text)
        for round_ in range(6):
            for kind, names in kinds.items():
                started = time.perf_counter()
                response = web.post(
                    "/forgot-password", data={"username": names[round_], "csrf_token": token}
                )
                timings[kind].append(time.perf_counter() - started)
                assert response.status_code == 200
        smtp_sink.wait_for(6)
    medians = {kind: statistics.median(values) for kind, values in timings.items()}
    assert max(medians.values()) - min(medians.values()) < 0.03, medians
