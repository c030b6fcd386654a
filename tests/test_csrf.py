"""Every POST route refuses a request without its CSRF token, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import Account, Auth, csrf_from


def post_routes(client: TestClient) -> list[str]:
    return [
        route.path
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.methods and "POST" in route.methods
    ]


def test_every_post_route_needs_the_token(auth: Auth, account: Account) -> None:
    auth.login()
    client = auth.client
    paths = post_routes(client)
    assert "/login" in paths
    assert "/logout" in paths
    for path in paths:
        for data, headers in [
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({}, {"X-CSRF-Token": "forged"}),
            ({"csrf_token": ""}, {"X-CSRF-Token": ""}),
        ]:
            response = client.post(path, data=data, headers=headers)
            if path == "/login":  # signed in already: sent on to where a sign-in leads
                assert response.status_code == 303, (path, data, headers)
                assert response.headers["location"] == "/phone"
                continue
            assert response.status_code == 403, (path, data, headers)
    assert client.get("/phone").status_code == 200  # still signed in: nothing changed


def test_a_token_from_another_session_is_refused(auth: Auth, account: Account, app: object) -> None:
    with TestClient(app, base_url="http://127.0.0.1:8000") as other:  # type: ignore[arg-type]
        foreign = csrf_from(other.get("/login").text)
    auth.login()
    assert auth.client.post("/logout", data={"csrf_token": foreign}).status_code == 403


def test_htmx_403_is_swapped_into_main(auth: Auth, account: Account) -> None:
    auth.login()
    response = auth.client.post("/logout", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#main"
    assert "<html" not in response.text
    assert "expired" in response.text


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_form_sent_as_json_is_refused_cleanly(
    account: Account, client: TestClient, content_type: str
) -> None:
    token = csrf_from(client.get("/login").text)
    body = f'{{"username": "{account.username}", "password": "{account.password}"}}'
    response = client.post("/login", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 403
    # With the header token, the fields are simply missing: the generic failure.
    with_header = client.post(
        "/login", content=body, headers={"Content-Type": content_type, "X-CSRF-Token": token}
    )
    assert with_header.status_code == 200
    assert "Invalid username or password" in with_header.text


def store_of(client: TestClient) -> Any:
    return client.app.state.shared.store  # type: ignore[attr-defined]


def test_the_anonymous_pages_store_nothing_and_bind_their_token_to_a_cookie(
    client: TestClient,
) -> None:
    """A visitor who only looks (or a bot fetching the login page in a loop) leaves no state."""
    store = store_of(client)
    writes = store.writes
    for path in ("/login", "/forgot-password"):
        response = client.get(path)
        assert response.status_code == 200
        cookies = response.headers.get_list("set-cookie")
        assert not any(c.startswith("portal_session=") for c in cookies)
    assert store.writes == writes
    assert client.get("/login").headers.get_list("set-cookie") == []  # made once, sent back
    first = client.cookies.get("portal_csrf")
    assert first and len(first) == 43
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as fresh:
        made = fresh.get("/login").headers["set-cookie"]
    assert made.startswith("portal_csrf=")
    assert "HttpOnly" in made and "SameSite=Lax" in made and "Path=/" in made
    assert "Secure" not in made  # http:// base URL; test_settings covers https (__Host-)


def test_an_anonymous_token_works_only_with_its_own_cookie(
    account: Account, client: TestClient, app: object
) -> None:
    form = {"username": account.username, "password": "not the password"}
    with TestClient(app, base_url="http://127.0.0.1:8000") as other:  # type: ignore[arg-type]
        foreign = csrf_from(other.get("/login").text)
        foreign_cookie = other.cookies.get("portal_csrf")
    mine = csrf_from(client.get("/login").text)
    assert mine != foreign
    assert client.post("/login", data={**form, "csrf_token": foreign}).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": mine}).status_code == 200
    # A cookie of the visitor's own choosing, without the server's key, makes no valid token.
    client.cookies.clear()
    client.cookies.set("portal_csrf", "A" * 43)
    assert client.post("/login", data={**form, "csrf_token": mine}).status_code == 403
    client.cookies.clear()
    client.cookies.set("portal_csrf", foreign_cookie or "")
    assert client.post("/login", data={**form, "csrf_token": foreign}).status_code == 200
    client.cookies.clear()
    assert client.post("/login", data={**form, "csrf_token": mine}).status_code == 403


def test_signing_in_reads_no_session_stores_one_and_retires_the_form_token(
    auth: Auth, account: Account, client: TestClient
) -> None:
    store = store_of(client)
    reads: list[str] = []
    real_read = store.read

    async def counted(session_id: str, lifetime: int) -> bytes:
        reads.append(session_id)
        return await real_read(session_id, lifetime)

    store.read = counted
    form_token = auth.csrf()
    writes = store.writes
    signed_in = client.post(
        "/login",
        data={"username": account.username, "password": account.password, "csrf_token": form_token},
    )
    assert signed_in.status_code == 303
    assert reads == []
    assert store.writes == writes + 1
    # Signed in, the session's own token is the only one accepted.
    assert client.post("/logout", data={"csrf_token": form_token}).status_code == 403
    assert client.get("/phone").status_code == 200
