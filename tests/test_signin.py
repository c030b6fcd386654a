"""Sign in and sign out over HTTP, with and without htmx."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.clock import Clock
from portal.base.settings import Settings
from tests.conftest import PASSWORD, Account, Auth, csrf_from

INVALID = "Invalid username or password"


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get("portal_session")


def use_cookie(client: TestClient, value: str) -> None:
    """Send exactly this session cookie from now on, as an attacker replaying it would."""
    client.cookies.clear()
    client.cookies.set("portal_session", value)


def test_login_page_has_the_form_and_a_csrf_token(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert csrf_from(page.text)
    assert 'aria-label="Theme: System"' in page.text


def test_sign_in_lands_on_the_phone_tab(auth: Auth, account: Account) -> None:
    response = auth.login()
    assert response.status_code == 303
    assert response.headers["location"] == "/phone"
    phone = auth.client.get("/phone")
    assert phone.status_code == 200
    assert "Ada Lovelace" in phone.text and "201" in phone.text


def test_htmx_sign_in_answers_with_hx_redirect(auth: Auth, account: Account) -> None:
    response = auth.login(htmx=True)
    assert response.headers["HX-Redirect"] == "/phone"


@pytest.mark.parametrize(
    "username",
    [" 201-wickedsprockets ", "201-WickedSprockets", "\t201-WICKEDSPROCKETS\n"],
    ids=["padded", "mixed-case", "upper-with-whitespace"],
)
def test_username_is_trimmed_and_tenant_code_case_insensitive(
    auth: Auth, account: Account, username: str
) -> None:
    assert auth.login(username=username).headers["location"] == "/phone"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("201-wickedsprockets", "wrong password"),
        ("201-wickedsprockets", ""),
        ("202-wickedsprockets", "correct horse battery staple"),  # unknown extension
        ("201-nosuchtenant", "correct horse battery staple"),  # unknown tenant
        ("", ""),
        ("not a username", "x"),
        ("201-wickedsprockets", "correct horse battery staple "),  # never trimmed
    ],
)
def test_every_failure_says_the_same_thing(
    auth: Auth, account: Account, username: str, password: str
) -> None:
    response = auth.login(username=username, password=password)
    assert response.status_code == 200
    assert INVALID in response.text
    assert auth.client.get("/phone").status_code == 303  # still signed out


def test_htmx_failure_returns_only_the_form_with_the_username_kept(
    auth: Auth, account: Account
) -> None:
    response = auth.login(password="nope", htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<form id="login-form"')
    assert "<html" not in response.text
    assert INVALID in response.text
    assert 'value="201-wickedsprockets"' in response.text
    assert "nope" not in response.text  # the password is never sent back
    assert response.headers["Vary"] == "HX-Request"


def test_disabled_extension_cannot_sign_in(auth: Auth, account: Account, client: Any) -> None:
    from sqlalchemy import update

    from portal.base.models import Extension
    from tests.conftest import run

    async def disable(services: Any) -> None:
        async with services.db() as session:
            await session.exec(update(Extension).values(disabled=True))
            await session.commit()

    run(client, disable)
    assert INVALID in auth.login().text


@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/settings", "/settings"),
        ("/settings?x=1", "/settings?x=1"),
        ("https://evil.example/", "/phone"),
        ("//evil.example/", "/phone"),
        ("/\\evil.example", "/phone"),
        ("javascript:alert(1)", "/phone"),
    ],
)
def test_next_is_followed_only_when_local(
    auth: Auth, account: Account, next_value: str, expected: str
) -> None:
    assert auth.login(next=next_value).headers["location"] == expected


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_next_no_header_can_hold_signs_in_and_goes_to_the_encoded_path(
    auth: Auth, account: Account, htmx: bool
) -> None:
    """`/login?next=/%E3%80%82evil.com` from a link: a local path, but not Latin-1, which is all
    a header can hold. The sign-in goes through and the browser goes to that path, encoded."""
    response = auth.login(htmx=htmx, next="/\u3002evil.com")
    where = response.headers["HX-Redirect" if htmx else "location"]
    assert where == "/%E3%80%82evil.com"
    assert session_cookie(auth.client)
    assert auth.client.get("/phone").status_code == 200


def test_a_form_post_signed_out_from_a_page_with_a_broken_url_goes_to_sign_in(
    client: TestClient,
) -> None:
    """htmx says which page a form was posted from; one that is not a URL is ignored."""
    response = client.post(
        "/settings/password", headers={"HX-Request": "true", "HX-Current-URL": "http://["}
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login"


def test_signed_out_tab_request_goes_to_login_with_next(client: TestClient) -> None:
    response = client.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"
    login = client.get(response.headers["location"])
    assert 'name="next" value="/settings"' in login.text


def test_session_id_changes_at_sign_in_and_the_old_one_is_dead(
    auth: Auth, account: Account, client: TestClient, clock: Clock
) -> None:
    """Signing in over a session (here from a form shown while signed in) never keeps its id."""
    auth.login()
    before = session_cookie(client)
    assert before
    token = csrf_from(client.get("/settings").text)
    client.post(
        "/login",
        data={"username": account.username, "password": account.password, "csrf_token": token},
    )
    after = session_cookie(client)
    assert after and after != before
    # The pre-login entry is gone from the store, not merely anonymous...
    store = client.app.state.shared.store  # type: ignore[attr-defined]
    assert client.portal.call(store.read, before, 60) == b""
    # ...so replaying the pre-login id gets a signed-out visitor. Its cookie is left alone for
    # a minute (an answer about it may be late, the browser holding the new id by now)...
    use_cookie(client, before)
    replay = client.get("/phone")
    assert replay.status_code == 303
    assert "portal_session" not in replay.headers.get("set-cookie", "")
    # ...then dropped.
    clock.offset += 61
    replay = client.get("/phone")
    assert replay.status_code == 303
    assert replay.headers["set-cookie"].startswith("portal_session=; Path=/; Max-Age=0")


def test_csrf_token_rotates_at_sign_in(auth: Auth, account: Account, client: TestClient) -> None:
    before = auth.csrf()
    auth.client.post(
        "/login",
        data={"username": account.username, "password": account.password, "csrf_token": before},
    )
    after = csrf_from(client.get("/phone").text)
    assert after != before


def test_signed_in_visit_to_login_goes_to_phone(auth: Auth, account: Account) -> None:
    auth.login()
    assert auth.client.get("/login").headers["location"] == "/phone"


def test_root_redirects_by_state(auth: Auth, account: Account, client: TestClient) -> None:
    assert client.get("/").headers["location"] == "/login"
    auth.login()
    assert client.get("/").headers["location"] == "/phone"


def test_sign_out_ends_the_session_on_the_server(
    auth: Auth, account: Account, client: TestClient
) -> None:
    auth.login()
    signed_in = session_cookie(client)
    response = auth.logout()
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/phone").status_code == 303
    # A copy of the cookie kept from before sign-out is worthless too.
    use_cookie(client, signed_in or "")
    assert client.get("/phone").status_code == 303


def test_after_sign_out_the_login_page_says_so_once(
    auth: Auth, account: Account, client: TestClient
) -> None:
    auth.login()
    response = auth.logout()
    assert response.headers["location"] == "/login"
    page = client.get("/login")
    assert "You have been signed out." in page.text
    assert "You have been signed out." not in client.get("/login").text  # said once
    # An idle sign-out has its own words, and a visitor who never signed in hears neither.
    assert "You have been signed out." not in client.get("/login?reason=idle").text
    client.cookies.clear()
    assert "signed out" not in client.get("/login").text


def test_sign_out_without_csrf_token_is_refused(
    auth: Auth, account: Account, client: TestClient
) -> None:
    auth.login()
    response = client.post("/logout", data={})
    assert response.status_code == 403
    assert client.get("/phone").status_code == 200  # nothing changed


def test_sign_out_when_already_signed_out_just_goes_to_login(client: TestClient) -> None:
    response = client.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_admin_password_reset_signs_out_existing_sessions(
    auth: Auth, account: Account, client: TestClient
) -> None:
    from portal.domain import signouts
    from tests.conftest import run

    auth.login()
    assert client.get("/phone").status_code == 200

    async def reset(services: Any) -> None:
        async with services.db() as session:
            await signouts.set_password(
                session,
                services.passwords,
                services.store,
                account.username,
                "a brand new password",
            )

    run(client, reset)
    assert client.get("/phone").status_code == 303
    assert auth.login(password="a brand new password").headers["location"] == "/phone"


@pytest.mark.parametrize("htmx", [True, False])
def test_a_second_sign_in_of_a_signed_in_browser_goes_to_the_phone_tab(
    auth: Auth, account: Account, client: TestClient, htmx: bool
) -> None:
    """A double click on Sign In, or a sign-in tab left open while this browser signed in
    elsewhere: the form's token went with the sign-in, but the browser is where it meant to be."""
    stale = auth.csrf()
    assert auth.login().headers["location"] == "/phone"
    form = {"username": account.username, "password": account.password, "csrf_token": stale}
    response = client.post("/login", data=form, headers={"HX-Request": "true"} if htmx else {})
    if htmx:
        assert response.status_code == 200
        assert response.headers["hx-redirect"] == "/phone"
    else:
        assert response.status_code == 303
        assert response.headers["location"] == "/phone"
    assert client.get("/phone").status_code == 200


def test_login_post_without_csrf_gets_403_and_a_fresh_form(
    account: Account, client: TestClient
) -> None:
    response = client.post(
        "/login", data={"username": account.username, "password": account.password}
    )
    assert response.status_code == 403
    assert "expired" in response.text
    assert client.get("/phone").status_code == 303
    # The fresh form it carries works.
    retry = client.post(
        "/login",
        data={
            "username": account.username,
            "password": account.password,
            "csrf_token": csrf_from(response.text),
        },
    )
    assert retry.headers["location"] == "/phone"


def test_csrf_token_may_come_as_a_header(account: Account, client: TestClient) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": account.username, "password": account.password},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == "/phone"


# --- the username this browser remembers -----------------------------------------------------

NAME_FIELD = 'name="username" type="text" value="{}"'
NOT_YOU = '<a href="/login/not-you">Not you?</a>'


def device_cookie_header(response: Any) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith("portal_device=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def test_after_sign_out_the_login_page_offers_the_name_again(
    auth: Auth, account: Account, client: TestClient
) -> None:
    cookie = device_cookie_header(auth.login())
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/login" in cookie
    assert "Secure" not in cookie  # http:// base URL; https below
    auth.logout()
    page = client.get("/login")
    assert NAME_FIELD.format(account.username) in page.text
    assert NOT_YOU in page.text
    assert PASSWORD not in page.text
    # ...and after an idle sign-out, with where the session ended kept.
    idle = client.get("/login", params={"reason": "idle", "next": "/settings"})
    assert NAME_FIELD.format(account.username) in idle.text
    assert '<a href="/login/not-you?next=/settings">Not you?</a>' in idle.text


def test_not_you_forgets_the_name_but_the_device_keeps_its_counter(
    auth: Auth, account: Account, client: TestClient
) -> None:
    auth.login()
    auth.logout()
    answer = client.get("/login/not-you")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    cookie = device_cookie_header(answer)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/login" in cookie
    assert account.username not in cookie
    page = client.get("/login")
    assert NAME_FIELD.format("") in page.text and "Not you?" not in page.text

    # Someone else fills the account's counter; this browser, once the owner's, still gets in.
    kept = client.cookies["portal_device"]
    client.cookies.clear()
    for _ in range(5):
        auth.login(password="wrong password")
    assert auth.login().status_code == 429
    client.cookies.clear()
    client.cookies.set("portal_device", kept, path="/login")
    assert auth.login().headers["location"] == "/phone"


@pytest.mark.parametrize(
    ("next_value", "location"),
    [("/settings", "/login?next=%2Fsettings"), ("https://evil.example/", "/login")],
)
def test_not_you_keeps_only_a_local_next(
    client: TestClient, next_value: str, location: str
) -> None:
    answer = client.get("/login/not-you", params={"next": next_value})
    assert answer.headers["location"] == location
    assert "portal_device" not in answer.headers.get("set-cookie", "")  # nothing to forget


def test_a_device_cookie_that_does_not_verify_shows_the_empty_form(
    auth: Auth, account: Account, client: TestClient, make_account: Any
) -> None:
    auth.login()
    auth.logout()
    genuine = client.cookies["portal_device"]
    name, nonce, signature = genuine.split(".")
    make_account("202-wickedsprockets", email=None)
    for planted in [
        f"202-wickedsprockets.{nonce}.{signature}",  # another name on 201's signature
        f"{name}.{nonce}.{'0' * 32}",
        f"{name}.{nonce}",
        "a.b.c.d",
        ".x.y",
        "x" * 500,
    ]:
        client.cookies.clear()
        client.cookies.set("portal_device", planted, path="/login")
        page = client.get("/login")
        assert page.status_code == 200, planted
        assert NAME_FIELD.format("") in page.text and "Not you?" not in page.text, planted
        assert client.get("/login/not-you").status_code == 303


def test_the_remembered_name_is_one_that_signed_in(
    auth: Auth, account: Account, client: TestClient
) -> None:
    """Never what was typed in a failed attempt (a password in the wrong box, say)."""
    auth.login(username=PASSWORD, password=account.username)
    auth.login(username="202-wickedsprockets", password="x")
    assert "portal_device" not in client.cookies
    assert NAME_FIELD.format("") in client.get("/login").text
    auth.login(username=" 201-WickedSprockets ")  # remembered as the canonical name
    auth.logout()
    auth.login(username="202-wickedsprockets", password="x")  # a failure changes nothing
    assert NAME_FIELD.format(account.username) in client.get("/login").text


def test_under_https_the_device_cookie_is_secure(settings: Settings, account: Account) -> None:
    secure = replace(settings, base_url="https://portal.example.com")
    with TestClient(
        create_app(secure), base_url="https://portal.example.com", follow_redirects=False
    ) as client:
        auth = Auth(client)
        cookie = device_cookie_header(auth.login())
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Domain" not in cookie
        auth.logout()
        assert NAME_FIELD.format(account.username) in client.get("/login").text
        assert "; Secure" in device_cookie_header(client.get("/login/not-you"))
