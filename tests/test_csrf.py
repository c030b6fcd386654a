"""Every POST route refuses a request without the session's CSRF token, and changes nothing."""

from __future__ import annotations

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
