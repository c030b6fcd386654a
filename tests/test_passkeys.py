"""Passkeys: added in Settings (the name, the limit of ten, the password within five minutes),
signed in with from the login page with no username typed, and every rule a challenge and an
assertion must pass (single use, expiry, origin, relying party, counter, user verification).
Throttled on counters of their own: a password lockout never blocks one. Both profiles.

The browser is played by `tests.authenticator.SoftAuthenticator`; the real Chromium with a
virtual authenticator is in tests/browser/test_passkeys.py."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.base.clock import Clock
from portal.base.models import AuditEvent, Passkey
from portal.base.settings import Settings
from portal.domain import accounts
from portal.flows.passkeys import routes as passkey_routes
from portal.flows.passkeys import service
from portal.flows.passkeys import signin as passkey_signin
from portal.security import throttle
from portal.security.sessionstore import OwnerRead
from portal.web.shared import Shared
from tests.authenticator import SoftAuthenticator
from tests.conftest import PASSWORD, Account, Auth, csrf_from, run
from tests.test_signouts import Jar, sign_in, use

ORIGIN = "http://localhost:8000"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, base_url=ORIGIN)


def settings_token(client: TestClient) -> str:
    return csrf_from(client.get("/settings").text)


def add_options(client: TestClient, name: str = "Laptop", password: str | None = None) -> Any:
    data = {"passkey_name": name, "csrf_token": settings_token(client)}
    if password is not None:
        data["passkey_password"] = password
    return client.post("/settings/passkeys/options", data=data, headers=HTMX)


def add_passkey(client: TestClient, key: SoftAuthenticator, name: str = "Laptop") -> Any:
    answer = add_options(client, name)
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    credential = key.create(answer.json())
    data = {"credential": credential, "csrf_token": settings_token(client)}
    return client.post("/settings/passkeys/add", data=data, headers=HTMX)


def sign_in_options(client: TestClient) -> tuple[dict[str, Any], str]:
    token = Auth(client).csrf()
    answer = client.post("/login/passkey/options", data={"csrf_token": token})
    assert answer.status_code == 200, answer.text
    return answer.json(), token


def passkey_sign_in(client: TestClient, credential: str, token: str) -> Any:
    return client.post("/login/passkey", data={"credential": credential, "csrf_token": token})


def sign_in_with(client: TestClient, key: SoftAuthenticator, **lie: Any) -> Any:
    options, token = sign_in_options(client)
    return passkey_sign_in(client, key.get(options, **lie), token)


def registered(client: TestClient, account: Account, key: SoftAuthenticator) -> None:
    """`account` signs in with its password, adds `key`'s passkey, and signs out."""
    client.cookies.clear()
    assert Auth(client).login(account.username).status_code == 303
    assert "was added" in add_passkey(client, key).text
    Auth(client).logout()
    client.cookies.clear()


def stored_passkeys(client: TestClient) -> list[Passkey]:
    async def work(shared: Shared) -> list[Passkey]:
        async with shared.db() as db:
            return list((await db.exec(select(Passkey))).all())

    return run(client, work)


def audit_events(client: TestClient, event: str) -> list[str]:
    async def work(shared: Shared) -> list[str]:
        async with shared.db() as db:
            rows = await db.exec(select(AuditEvent).where(AuditEvent.event == event))
            return [f"{row.outcome} {row.username}" for row in rows.all()]

    return run(client, work)


def test_a_passkey_added_in_settings_signs_in_with_no_username_typed(
    client: TestClient, account: Account
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    [kept] = stored_passkeys(client)
    assert (kept.name, kept.last_used_at) == ("Laptop", None)

    before = client.cookies.get("portal_session")
    answer = sign_in_with(client, key)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"redirect": "/phone"}
    assert client.cookies.get("portal_session") not in (None, before)
    phone = client.get("/phone")
    assert phone.status_code == 200 and "Ada Lovelace" in phone.text
    assert "success 201-wickedsprockets" in audit_events(client, "passkey-sign-in")
    assert stored_passkeys(client)[0].last_used_at is not None
    page = client.get("/settings").text
    assert "Laptop" in page and "Never" not in page


def test_a_challenge_works_once(client: TestClient, account: Account) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    options, token = sign_in_options(client)
    credential = key.get(options)
    assert passkey_sign_in(client, credential, token).status_code == 200
    client.cookies.clear()
    # The same assertion again, and a fresh one for the same challenge: both refused.
    token = Auth(client).csrf()
    assert passkey_sign_in(client, credential, token).status_code == 400
    again = passkey_sign_in(client, key.get(options), token)
    assert again.status_code == 400
    assert again.json()["error"] == service.EXPIRED
    assert client.get("/phone").status_code == 303


def test_a_replayed_assertion_is_refused_even_with_the_visitors_own_challenge_cookie(
    client: TestClient, account: Account
) -> None:
    """An attacker who captured an assertion and its challenge cookie cannot use them twice."""
    key = SoftAuthenticator()
    registered(client, account, key)
    options, token = sign_in_options(client)
    cookie = client.cookies.get("portal_passkey", path="/login/passkey")
    credential = key.get(options)
    assert passkey_sign_in(client, credential, token).status_code == 200
    client.cookies.clear()
    token = Auth(client).csrf()
    client.cookies.set("portal_passkey", cookie or "", path="/login/passkey")
    assert passkey_sign_in(client, credential, token).status_code == 400
    assert client.get("/phone").status_code == 303


def test_a_challenge_is_bound_to_the_visitor_it_was_given_to(
    client: TestClient, account: Account
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    options, _ = sign_in_options(client)
    client.cookies.clear()  # another browser, with no challenge of its own
    token = Auth(client).csrf()
    assert passkey_sign_in(client, key.get(options), token).status_code == 400


def test_a_challenge_expires(client: TestClient, account: Account, clock: Clock) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    options, token = sign_in_options(client)
    clock.offset += service.CHALLENGE_SECONDS + 1
    answer = passkey_sign_in(client, key.get(options), token)
    assert (answer.status_code, answer.json()["error"]) == (400, service.EXPIRED)


@pytest.mark.parametrize(
    "lie",
    [
        {"origin": "http://localhost.evil.example:8000"},
        {"origin": "http://localhost:8001"},
        {"rp_id": "evil.example"},
        {"verified": False},
    ],
    ids=["origin", "port", "relying-party", "no-user-verification"],
)
def test_an_assertion_for_another_site_or_without_verification_is_refused(
    client: TestClient, account: Account, lie: dict[str, Any]
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    answer = sign_in_with(client, key, **lie)
    assert (answer.status_code, answer.json()["error"]) == (400, service.FAILED)
    assert client.get("/phone").status_code == 303
    assert "failure 201-wickedsprockets" in audit_events(client, "passkey-sign-in")


def test_a_counter_that_goes_back_is_refused(client: TestClient, account: Account) -> None:
    """A cloned authenticator: its counter is behind the one the portal saw."""
    key = SoftAuthenticator()
    registered(client, account, key)
    assert sign_in_with(client, key, counter=5).status_code == 200
    client.cookies.clear()
    assert sign_in_with(client, key, counter=3).status_code == 400
    client.cookies.clear()
    assert sign_in_with(client, key, counter=6).status_code == 200


def test_an_unknown_or_removed_passkey_signs_nobody_in(
    client: TestClient, account: Account
) -> None:
    stranger = SoftAuthenticator()
    stranger.user_handle = b"portal-extension:1"
    options, token = sign_in_options(client)
    assert passkey_sign_in(client, stranger.get({**options}), token).status_code == 400
    assert "failure unknown-passkey" in audit_events(client, "passkey-sign-in")

    key = SoftAuthenticator()
    registered(client, account, key)
    Auth(client).login(account.username)
    [kept] = stored_passkeys(client)
    data = {"passkey": str(kept.id), "csrf_token": settings_token(client)}
    removed = client.post("/settings/passkeys/remove", data=data, headers=HTMX)
    assert "The passkey “Laptop” was removed." in removed.text
    client.cookies.clear()
    assert sign_in_with(client, key).status_code == 400
    assert "success 201-wickedsprockets" in audit_events(client, "passkey-remove")


def test_a_passkey_signs_in_its_own_extension_only(client: TestClient, make_account: Any) -> None:
    ours = make_account()
    theirs = make_account("201-acme")
    key = SoftAuthenticator()
    registered(client, theirs, key)
    # This browser remembers 201-wickedsprockets; the passkey is acme's 201.
    Auth(client).login(ours.username)
    Auth(client).logout()
    assert sign_in_with(client, key).status_code == 200
    page = client.get("/settings").text
    assert "Acme" in page and "Wickedsprockets" not in page


def test_a_password_lockout_does_not_block_a_passkey(client: TestClient, account: Account) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    for _ in range(5):
        Auth(client).login(account.username, "wrong password")
    assert Auth(client).login(account.username).status_code == 429
    assert sign_in_with(client, key).status_code == 200
    assert client.get("/phone").status_code == 200


def test_passkey_failures_lock_like_password_failures(client: TestClient, account: Account) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    for _ in range(5):
        assert sign_in_with(client, key, rp_id="evil.example").status_code == 400
    locked = sign_in_with(client, key)
    assert locked.status_code == 429
    assert locked.json()["error"].startswith("Too many failed attempts.")
    assert "locked 201-wickedsprockets" in audit_events(client, "passkey-sign-in")
    # The password still works: passkey failures lock passkeys only.
    assert Auth(client).login(account.username).status_code == 303


def test_at_most_ten_passkeys(client: TestClient, account: Account) -> None:
    Auth(client).login(account.username)
    for number in range(10):
        assert "was added" in add_passkey(client, SoftAuthenticator(), f"Key {number}").text
    refused = add_options(client, "One too many")
    assert refused.headers["content-type"].startswith("text/html")
    assert service.AT_LIMIT in refused.text
    assert "Add a Passkey" not in refused.text
    assert len(stored_passkeys(client)) == 10


def test_adds_at_once_stop_at_ten(client: TestClient, account: Account) -> None:
    """Several adds finishing together, the extension at eight: two are kept, whichever they
    are, and the others are told about the limit."""
    Auth(client).login(account.username)
    for number in range(8):
        assert "was added" in add_passkey(client, SoftAuthenticator(), f"Key {number}").text

    async def race(shared: Shared) -> list[str | None]:
        who = await accounts.load_account(shared.engine, account.id)
        assert who is not None
        started = []
        for number in range(4):
            options = await service.add_options(shared, who, f"Racer {number}")
            assert not isinstance(options, str), options
            handle, public_key = options
            started.append((handle, SoftAuthenticator().create(json.loads(public_key))))
        answers = await asyncio.gather(
            *(service.add(shared, who, handle, made, "192.0.2.1") for handle, made in started)
        )
        return [error for _, error in answers]

    errors = run(client, race)
    assert len(stored_passkeys(client)) == 10
    assert sorted(errors, key=str) == sorted(
        [None, None, service.AT_LIMIT, service.AT_LIMIT], key=str
    )


def test_a_name_is_required_and_kept_short(client: TestClient, account: Account) -> None:
    Auth(client).login(account.username)
    assert service.NO_NAME in add_options(client, "   ").text
    assert service.LONG_NAME in add_options(client, "x" * 65).text
    assert stored_passkeys(client) == []


def test_adding_or_removing_needs_the_password_within_five_minutes(
    client: TestClient, account: Account, clock: Clock
) -> None:
    key = SoftAuthenticator()
    Auth(client).login(account.username)
    clock.offset += 301
    assert "Confirm with your password" in client.get("/settings").text
    assert service.NO_CURRENT in add_options(client).text
    wrong = add_options(client, password="not it")
    assert service.WRONG_CURRENT in wrong.text
    answer = add_options(client, password=PASSWORD)
    assert answer.headers["content-type"].startswith("application/json")
    data = {"credential": key.create(answer.json()), "csrf_token": settings_token(client)}
    assert "was added" in client.post("/settings/passkeys/add", data=data, headers=HTMX).text
    assert "failure 201-wickedsprockets" in audit_events(client, "passkey-reverify")

    # Removing, later again: the password first, then it goes.
    clock.offset += 301
    [kept] = stored_passkeys(client)
    data = {"passkey": str(kept.id), "csrf_token": settings_token(client)}
    refused = client.post("/settings/passkeys/remove", data=data, headers=HTMX)
    assert service.NO_CURRENT in refused.text and len(stored_passkeys(client)) == 1
    data["passkey_password"] = PASSWORD
    client.post("/settings/passkeys/remove", data=data, headers=HTMX)
    assert stored_passkeys(client) == []


def test_a_passkey_sign_in_counts_as_proof_for_five_minutes(
    client: TestClient, account: Account, clock: Clock
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    clock.offset += 600
    assert sign_in_with(client, key).status_code == 200
    answer = add_options(client, "Second")
    assert answer.headers["content-type"].startswith("application/json")


def test_rename_and_remove_work_without_javascript(client: TestClient, account: Account) -> None:
    registered(client, account, SoftAuthenticator())
    Auth(client).login(account.username)
    [kept] = stored_passkeys(client)
    page = client.get(f"/settings?rename={kept.id}").text
    assert 'name="passkey_name"' in page and "New name" in page
    data = {
        "passkey": str(kept.id),
        "passkey_name": "  Work   phone ",
        "csrf_token": csrf_from(page),
    }
    answer = client.post("/settings/passkeys/rename", data=data)
    assert (answer.status_code, answer.headers["location"]) == (303, "/settings#passkeys")
    assert "The passkey was renamed “Work phone”." in client.get("/settings").text
    assert stored_passkeys(client)[0].name == "Work phone"

    data = {"passkey": str(kept.id), "csrf_token": settings_token(client)}
    assert client.post("/settings/passkeys/remove", data=data).status_code == 303
    assert stored_passkeys(client) == []


def passkeys_shown(client: TestClient, jar: Jar) -> list[tuple[str, str]]:
    """(name, last used) of each row of the Passkeys list, as the browser of `jar` sees it."""
    use(client, jar)
    page = client.get("/settings", headers=HTMX).text
    pattern = r'passkeys__name"[^>]*><strong>([^<]*)</strong>.*?<dt>Last used</dt><dd>(.*?)</dd>'
    return re.findall(pattern, page, re.S)


def test_every_session_sees_a_change_of_its_passkeys_at_once(
    client: TestClient, account: Account
) -> None:
    """Where the list is kept beside the extension's sessions (Redis), a change made in one
    session, and a sign-in with a passkey, shows in another session's Settings at once."""
    key = SoftAuthenticator()
    here, there = sign_in(client, account.username), sign_in(client, account.username)
    assert passkeys_shown(client, there) == []  # and kept so

    use(client, here)
    assert "was added" in add_passkey(client, key).text
    assert passkeys_shown(client, there) == [("Laptop", "Never")]

    [kept] = stored_passkeys(client)
    assert service.row(kept).keys() == service.ROW_KEYS  # what a kept list must hold
    use(client, here)
    data = {"passkey": str(kept.id), "passkey_name": "Work phone"}
    client.post("/settings/passkeys/rename", data={**data, "csrf_token": settings_token(client)})
    assert passkeys_shown(client, there) == [("Work phone", "Never")]

    client.cookies.clear()
    assert sign_in_with(client, key).json() == {"redirect": "/phone"}
    [(name, last_used)] = passkeys_shown(client, there)
    assert name == "Work phone" and last_used.startswith("<time datetime=")

    use(client, here)
    data = {"passkey": str(kept.id), "csrf_token": settings_token(client)}
    assert client.post("/settings/passkeys/remove", data=data, headers=HTMX).status_code == 200
    assert passkeys_shown(client, there) == []


def test_a_kept_list_of_another_shape_is_read_again(client: TestClient, account: Account) -> None:
    """Rows kept by an older release (other fields), or not rows at all, are never shown: the
    list is read from the database instead, so a template never meets a field it lacks."""
    registered(client, account, SoftAuthenticator())
    for kept in (b'[{"id":"1","name":"Old"}]', b"not json", b'{"id":"1"}'):
        read = OwnerRead(account.id, [], {service.KEPT: kept}, "")
        rows = run(client, lambda shared, read=read: service.rows(shared, account.id, read))
        assert [row["name"] for row in rows] == ["Laptop"]


def test_another_extensions_passkey_cannot_be_renamed_or_removed(
    client: TestClient, make_account: Any
) -> None:
    theirs = make_account("202-wickedsprockets")
    registered(client, theirs, SoftAuthenticator())
    ours = make_account()
    Auth(client).login(ours.username)
    [kept] = stored_passkeys(client)
    token = settings_token(client)
    data = {"passkey": str(kept.id), "passkey_name": "Mine now", "csrf_token": token}
    assert (
        passkey_routes.GONE
        in client.post("/settings/passkeys/rename", data=data, headers=HTMX).text
    )
    data = {"passkey": str(kept.id), "csrf_token": token}
    assert (
        passkey_routes.GONE
        in client.post("/settings/passkeys/remove", data=data, headers=HTMX).text
    )
    assert stored_passkeys(client)[0].name == "Laptop"


def test_without_a_domain_name_passkeys_are_not_offered(
    client: TestClient, account: Account, app: Any
) -> None:
    shared: Shared = app.state.shared
    shared.settings = replace(shared.settings, base_url="http://127.0.0.1:8000")
    token = Auth(client).csrf()
    assert client.post("/login/passkey/options", data={"csrf_token": token}).status_code == 404
    Auth(client).login(account.username)
    assert "Passkeys" not in client.get("/settings").text


def test_the_options_ask_for_a_discoverable_verified_passkey_of_this_site(
    client: TestClient, account: Account
) -> None:
    options, _ = sign_in_options(client)
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    Auth(client).login(account.username)
    created = add_options(client).json()
    assert created["rp"]["id"] == "localhost"
    assert created["authenticatorSelection"]["residentKey"] == "required"
    assert created["authenticatorSelection"]["userVerification"] == "required"
    assert account.username in json.dumps(created["user"])


GARBAGE = [
    "",
    "{",
    "null",
    "[]",
    '{"id": 1}',
    '{"id": "", "rawId": "", "type": "public-key", "response": {}}',
    '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "%%",'
    ' "authenticatorData": "", "signature": ""}}',
    "\x00" * 10,
    "é" * 3000,
]


@pytest.mark.parametrize("credential", GARBAGE)
def test_a_malformed_answer_is_refused_with_a_message_never_a_500(
    client: TestClient, account: Account, credential: str
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    options, token = sign_in_options(client)
    answer = passkey_sign_in(client, credential, token)
    assert answer.status_code == 400 and answer.json()["error"]
    # The same with a real credential's id and a broken rest.
    options, token = sign_in_options(client)
    broken = json.loads(key.get(options))
    broken["response"]["signature"] = credential
    answer = passkey_sign_in(client, json.dumps(broken), token)
    assert answer.status_code in (400, 429) and answer.json()["error"]

    Auth(client).login(account.username)
    answer = add_options(client, "Another")
    data = {"credential": credential, "csrf_token": settings_token(client)}
    added = client.post("/settings/passkeys/add", data=data, headers=HTMX)
    assert added.status_code == 200 and service.NOT_ADDED in added.text
    assert len(stored_passkeys(client)) == 1


def test_challenges_for_visitors_are_limited_per_address(client: TestClient) -> None:
    """Each one is a row for a few minutes: a bot cannot fill the table."""
    token = Auth(client).csrf()
    for _ in range(throttle.CHALLENGES_PER_ADDRESS):
        assert client.post("/login/passkey/options", data={"csrf_token": token}).status_code == 200
    refused = client.post("/login/passkey/options", data={"csrf_token": token})
    assert (refused.status_code, refused.json()["error"]) == (429, passkey_signin.TOO_MANY)


@pytest.mark.parametrize(
    "path",
    [
        "/login/passkey/options",
        "/login/passkey",
        "/settings/passkeys/options",
        "/settings/passkeys/add",
        "/settings/passkeys/rename",
        "/settings/passkeys/remove",
    ],
)
def test_every_passkey_post_needs_the_csrf_token(
    client: TestClient, account: Account, path: str
) -> None:
    key = SoftAuthenticator()
    registered(client, account, key)
    Auth(client).login(account.username)
    [kept] = stored_passkeys(client)
    data = {"passkey": str(kept.id), "passkey_name": "Forged", "credential": "{}"}
    answer = client.post(path, data={**data, "csrf_token": "forged"})
    assert answer.status_code == 403
    assert [p.name for p in stored_passkeys(client)] == ["Laptop"]
