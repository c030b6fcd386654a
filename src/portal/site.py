"""What the site says about itself: `/robots.txt` and the operator's accent, `/brand.css`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from portal.web.shared import shared_of

# Search engines may find the sign-in page (and `/`, which leads there) and the files it needs
# to render; everything else is behind it. The longest matching rule wins, so /login is allowed.
ROBOTS_TXT = """\
User-agent: *
Allow: /$
Allow: /login
Allow: /static/
Allow: /brand.css
Disallow: /
"""
DAY = "public, max-age=86400"
FOREVER = "public, max-age=31536000, immutable"


async def robots_txt(request: Request) -> Response:
    return PlainTextResponse(ROBOTS_TXT, headers={"Cache-Control": DAY})


async def brand_css(request: Request) -> Response:
    """The accent's custom properties; kept for good under the name the pages use (`?v=` is a
    digest of the content), revalidated under any other."""
    brand = shared_of(request).settings.brand
    current = brand.stylesheet_url or "/brand.css"
    etag = '"' + current.rpartition("=")[2] + '"'
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = {"Cache-Control": FOREVER if asked == current else "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(brand.stylesheet, media_type="text/css", headers=headers)


routes = [Route("/robots.txt", robots_txt), Route("/brand.css", brand_css)]
