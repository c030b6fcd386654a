"""The security headers every answer carries, and `no-store` on every page."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.middleware.accesslog import holds_secret


def content_security_policy(
    *, connect: Sequence[str] = (), media: Sequence[str] = (), images: Sequence[str] = ()
) -> str:
    """The Content-Security-Policy: nothing but what is listed here (`default-src 'none'`).

    Scripts, styles, images (and the `data:` favicon) and requests come from this origin only;
    no inline code, no eval. `connect`, `media` and `images` add sources beyond it, such as a
    SIP server's WebSocket, a ringtone or the operator's logo.
    """
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *images],
        "connect-src": ["'self'", *connect],
        "media-src": list(media),
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    listed = [f"{name} {' '.join(sources)}" for name, sources in directives.items() if sources]
    return "; ".join(listed)


CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(
    *,
    https: bool,
    connect: Sequence[str] = (),
    images: Sequence[str] = (),
    secret: bool = False,
) -> dict[str, str]:
    """The headers every answer carries. `connect`: origins beyond 'self' that pages may open
    connections to (the SIP server); `images`: where else images may come from (the logo).
    `secret` for a path that holds one (a reset link), which
    not even this site's own pages may be told as a referrer."""
    headers = {
        "Content-Security-Policy": content_security_policy(connect=connect, images=images),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer" if secret else "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


_REFERRER = b"referrer-policy"


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, and `no-store` to every dynamic one.

    Pages carry CSRF tokens and account details, so none of them may sit in a cache; Back after
    sign-out then asks the server again and gets the login page. Under a path that holds a
    secret, every answer, an error page's too, sends no referrer. With `framed_gallery`, the
    static files (public, and only they) may be loaded across origins: the pattern gallery's
    sandboxed frames have an origin of their own, which same-origin would turn away.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        connect: Sequence[str] = (),
        images: Sequence[str] = (),
        framed_gallery: bool = False,
        static_prefix: str = "/static/",
    ) -> None:
        self.app = app
        headers = security_headers(https=https, connect=connect, images=images)
        secret_headers = security_headers(https=https, connect=connect, images=images, secret=True)
        static_headers = headers
        if framed_gallery:
            static_headers = {**headers, "Cross-Origin-Resource-Policy": "cross-origin"}
        # Encoded once, with no-store for every dynamic answer: each answer adds those its app
        # did not set itself, in one pass over what it set.
        no_store = {"Cache-Control": "no-store"}
        self.headers = _encoded({**headers, **no_store})
        self.secret_headers = _encoded({**secret_headers, **no_store})
        self.static_headers = _encoded(static_headers)
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dynamic = not scope["path"].startswith(self.static_prefix)
        secret = holds_secret(scope["path"])
        added = self.secret_headers if secret else self.headers if dynamic else self.static_headers

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if secret:  # whatever the page asked for
                    headers = [header for header in headers if header[0].lower() != _REFERRER]
                present = {name.lower() for name, _ in headers}
                headers += [header for header in added if header[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
