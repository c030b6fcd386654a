"""Headers on every answer, and the cap on request bodies."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from portal.middleware.headers import CONTENT_SECURITY_POLICY, content_security_policy
from tests.conftest import Account, Auth, csrf_from


@pytest.mark.parametrize("path", ["/login", "/no-such-page", "/healthz", "/static/css/portal.css"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # http:// base URL


def directives(policy: str) -> dict[str, str]:
    return dict(part.split(" ", 1) for part in policy.split("; "))


def test_csp_allows_nothing_but_what_it_lists() -> None:
    """Mozilla's HTTP Observatory's top marks: `default-src 'none'`, and every source the
    pages use listed: no inline code or eval, nothing from another origin, no framing."""
    assert directives(CONTENT_SECURITY_POLICY) == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def test_csp_takes_more_sources_where_a_feature_needs_them() -> None:
    policy = directives(
        content_security_policy(connect=["wss://sip.example.com"], media=["'self'"])
    )
    assert policy["connect-src"] == "'self' wss://sip.example.com"
    assert policy["media-src"] == "'self'"
    assert policy["default-src"] == "'none'"


def test_pages_have_no_inline_scripts_or_handlers(auth: Auth, account: Account) -> None:
    pages = [auth.client.get("/login").text]
    auth.login()
    pages += [auth.client.get(p).text for p in ("/phone", "/settings")]
    for html in pages:
        assert "<script>" not in html
        assert "hx-on" not in html
        assert " onclick=" not in html
        assert "style=" not in html  # inline styles are refused by the CSP too


def test_signed_in_pages_are_never_cached(auth: Auth, account: Account) -> None:
    auth.login()
    for path in ("/phone", "/settings"):
        assert auth.client.get(path).headers["Cache-Control"] == "no-store"


def test_oversized_body_gets_413(client: TestClient) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "u" * 100_000, "password": "p", "csrf_token": token}
    )
    assert response.status_code == 413


def test_htmx_config_keeps_htmx_from_injecting_styles(client: TestClient) -> None:
    assert """<meta name="htmx-config" content='{"includeIndicatorCSS": false}'>""" in (
        client.get("/login").text
    )


def test_every_answer_on_a_reset_link_sends_no_referrer(client: TestClient) -> None:
    """The reset token is in the path: no page there, an error's neither, may pass it on as a
    referrer, not even to this site (its own requests could land in a proxy's log)."""
    path = "/reset-password/" + "A" * 43
    answers = {
        "page": client.get(path),  # this link is unknown: 410
        "no CSRF token": client.post(path, data={"new_password": "x"}),  # 403
        "not allowed": client.put(path),  # 405
        "too large": client.post(path, content=b"x" * 100_000),  # 413
    }
    assert {name: r.status_code for name, r in answers.items()} == {
        "page": 410,
        "no CSRF token": 403,
        "not allowed": 405,
        "too large": 413,
    }
    for response in answers.values():
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/reset-password").headers["Referrer-Policy"] == "same-origin"
