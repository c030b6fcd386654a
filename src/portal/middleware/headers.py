"""The security headers every answer carries, and `no-store` on every page."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(*, https: bool, connect: Sequence[str] = ()) -> dict[str, str]:
    """`connect`: origins beyond 'self' that pages may open connections to (the SIP server)."""
    policy = CONTENT_SECURITY_POLICY
    if connect:
        policy = policy.replace("connect-src 'self'", " ".join(["connect-src 'self'", *connect]))
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, and `no-store` to every dynamic one.

    Pages carry CSRF tokens and account details, so none of them may sit in a cache; Back after
    sign-out then asks the server again and gets the login page.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        connect: Sequence[str] = (),
        static_prefix: str = "/static/",
    ) -> None:
        self.app = app
        self.headers = security_headers(https=https, connect=connect)
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dynamic = not scope["path"].startswith(self.static_prefix)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if dynamic:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_wrapper)
