"""The signed-in tabs: whole pages for the browser, fragments for htmx."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from portal.base.clock import Clock
from portal.tabs import TABS
from tests.conftest import Account, Auth, csrf_from

HTMX = {"HX-Request": "true"}
EVERY_TAB = [(tab.path, tab.label) for tab in TABS]


@pytest.fixture
def signed_in(auth: Auth, account: Account) -> TestClient:
    auth.login()
    return auth.client


@pytest.mark.parametrize(("path", "heading"), EVERY_TAB)
def test_direct_load_is_a_whole_page(signed_in: TestClient, path: str, heading: str) -> None:
    page = signed_in.get(path)
    assert page.status_code == 200
    assert page.text.startswith("<!doctype html>")
    assert f"<h1>{heading}</h1>" in page.text
    assert f"<title>{heading} · Phone Portal</title>" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Vary"] == "HX-Request"


@pytest.mark.parametrize(("path", "heading"), EVERY_TAB)
def test_htmx_request_gets_just_the_tab(signed_in: TestClient, path: str, heading: str) -> None:
    fragment = signed_in.get(path, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "<header" not in fragment.text
    assert f"<h1>{heading}</h1>" in fragment.text
    assert f"<title>{heading} · Phone Portal</title>" in fragment.text
    # The tab bar comes along out of band, so the current tab is marked.
    assert 'id="tabs"' in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text
    assert (
        f'href="{path}" hx-get="{path}" hx-target="#main" hx-push-url="true" aria-current="page"'
        in (fragment.text)
    )
    assert fragment.headers["Cache-Control"] == "no-store"
    assert len(fragment.content) < len(signed_in.get(path).content) / 2


def test_shell_shows_who_is_signed_in_and_the_controls(signed_in: TestClient) -> None:
    page = signed_in.get("/phone").text
    assert "Ada Lovelace" in page
    assert "Wickedsprockets" in page  # the tenant's name as the fixture made it
    assert '<a href="/phone"' in page
    assert '<a href="/settings"' in page
    assert 'aria-label="Sign Out"' in page
    assert '<form class="signout" method="post" action="/logout">' in page
    assert 'aria-label="Menu"' in page
    assert 'aria-label="Theme: System"' in page


def test_phone_tab_without_a_phone_system_says_so(signed_in: TestClient) -> None:
    page = signed_in.get("/phone").text
    assert "Extension <strong>201</strong>" in page
    assert 'role="status"><span class="phone-light" aria-hidden="true"></span><span' in page
    assert "Disconnected: No phone system is configured for this portal." in page
    assert "jssip" not in page and "phone." not in page  # no script to load for nothing
    assert "The softphone needs JavaScript" in page  # shown only without JavaScript


def test_settings_tab_has_the_change_password_section(signed_in: TestClient) -> None:
    assert "Change Password</h2>" in signed_in.get("/settings").text


def test_pages_carry_the_csrf_header_for_htmx(signed_in: TestClient) -> None:
    page = signed_in.get("/phone").text
    assert """hx-headers:inherited='{"X-CSRF-Token": \"""" in page


@pytest.mark.parametrize("path", [tab.path for tab in TABS])
def test_signed_out_htmx_request_gets_hx_redirect_not_a_login_form(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers=HTMX)
    assert response.headers["HX-Redirect"] == f"/login?next={path}"
    assert response.text == ""


def test_history_restore_request_when_signed_out_gets_hx_redirect(client: TestClient) -> None:
    response = client.get("/settings", headers={"HX-History-Restore-Request": "true"})
    assert response.headers["HX-Redirect"] == "/login?next=/settings"


def test_session_status_for_a_visitor(client: TestClient) -> None:
    assert client.get("/session").json() == {"signed_in": False, "remaining": 0}


def idle_of(client: TestClient) -> int:
    idle: int = client.app.state.shared.settings.session_idle_seconds  # type: ignore[attr-defined]
    return idle


def test_stay_signed_in_slides_the_session(signed_in: TestClient, clock: Clock) -> None:
    """The idle warning's "Stay Signed In": one POST, and the time left is whole again."""
    idle = idle_of(signed_in)
    token = csrf_from(signed_in.get("/settings").text)
    clock.offset += idle - 100  # the warning shows two minutes before the end
    assert signed_in.get("/session").json()["remaining"] == pytest.approx(100, abs=2)
    stay = signed_in.post("/session", headers={"X-CSRF-Token": token})
    assert stay.status_code == 200
    assert stay.json() == {"signed_in": True, "remaining": pytest.approx(idle, abs=2)}
    assert signed_in.get("/session").json()["remaining"] == pytest.approx(idle, abs=2)
    clock.offset += 200  # past the first expiry
    assert signed_in.get("/settings").status_code == 200


def test_stay_signed_in_needs_the_csrf_token_and_a_session(
    signed_in: TestClient, clock: Clock
) -> None:
    idle = idle_of(signed_in)
    token = csrf_from(signed_in.get("/settings").text)
    clock.offset += idle - 100
    assert signed_in.post("/session").status_code == 403
    assert signed_in.post("/session", headers={"X-CSRF-Token": "forged"}).status_code == 403
    clock.offset += idle + 1  # too late: the session is gone, and a POST cannot bring it back
    late = signed_in.post("/session", headers={"X-CSRF-Token": token})
    assert late.status_code in (401, 403)
    assert signed_in.get("/session").json() == {"signed_in": False, "remaining": 0}
