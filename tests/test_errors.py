"""Error pages in the portal's look; bad input never gets a 500 or a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import Account, Auth, csrf_from

INVALID = "Invalid username or password"


def test_404_is_a_portal_page(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "<title>Page Not Found · Phone Portal</title>" in response.text
    assert '<link rel="stylesheet" href="/static/css/portal.' in response.text


def test_405_is_a_portal_page(client: TestClient) -> None:
    response = client.delete("/phone")
    assert response.status_code == 405
    assert "Portal" in response.text


@pytest.fixture
def quiet_client(app: Starlette) -> Iterator[TestClient]:
    """A client that receives 500 pages instead of re-raising the server's exception."""
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


def test_500_shows_a_friendly_page_and_no_traceback(
    quiet_client: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Auth(quiet_client)
    auth.login()

    async def broken(*args: Any) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("portal.web.guard.current_account", broken)
    response = quiet_client.get("/phone")
    assert response.status_code == 500
    assert "Something Went Wrong" in response.text
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
    assert response.headers["Content-Security-Policy"]
    htmx = quiet_client.get("/settings", headers={"HX-Request": "true"})
    assert htmx.status_code == 500
    assert "<html" not in htmx.text
    assert htmx.headers["HX-Retarget"] == "#main"


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "", "password": ""},
        {"username": "u" * 20_000, "password": "p"},
        {"username": "201-wickedsprockets\x00", "password": "x"},
        {"username": "\x00\x00", "password": "\x00"},
        {"username": "201-wickedsprockets", "password": "p" * 20_000},
        {"username": "٢٠١-wickedsprockets", "password": "x"},  # non-ASCII digits
        {"username": "201-wicked\u202esprockets", "password": "x"},
        {},
        {"password": "only"},
        {"username": "only"},
    ],
    ids=lambda f: ",".join(f"{k}:{len(v)}" for k, v in f.items()) or "empty",
)
def test_bad_sign_in_input_gets_the_generic_error(
    client: TestClient, account: Account, fields: dict[str, str]
) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={**fields, "csrf_token": token})
    assert response.status_code == 200
    assert INVALID in response.text


def test_invalid_utf8_and_raw_bytes_get_the_generic_error(
    client: TestClient, account: Account
) -> None:
    token = csrf_from(client.get("/login").text)
    body = b"username=%FF%FE%00" + b"\xff\xfe&password=%C3%28&csrf_token=" + token.encode()
    response = client.post(
        "/login", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    assert INVALID in response.text


def test_malformed_multipart_gets_400(client: TestClient) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        content=b"--nope\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code in (400, 403)
    assert "Traceback" not in response.text


def test_file_upload_instead_of_text_gets_400(client: TestClient, account: Account) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "password": "x"},
        files={"username": ("name.txt", b"201-wickedsprockets")},
    )
    assert response.status_code == 400
    assert "Bad Request" in response.text
    assert client.get("/phone").status_code == 303
