"""Typed helpers for htmx requests and responses (htmx 4)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response


def is_htmx(request: HTTPConnection) -> bool:
    """A request made by htmx that expects a fragment, not a whole page."""
    return request.headers.get("hx-request") == "true"


def is_history_restore(request: HTTPConnection) -> bool:
    """htmx 4 re-fetches the page on Back/Forward; it wants a whole page, but no 30x."""
    return request.headers.get("hx-history-restore-request") == "true"


_URL_SAFE = ":/%#?=@[]!$&'()*+,;"  # what RedirectResponse leaves as it is


def redirect(request: HTTPConnection, url: str) -> Response:
    """Send the browser to `url`: 303 for a plain request, `HX-Redirect` for htmx.

    fetch() follows a 303 silently and htmx would swap the target page into a fragment slot,
    so htmx gets a header that makes it load the whole page instead. Either header carries
    `url` percent-encoded as Starlette's RedirectResponse does: a header holds Latin-1 only.
    """
    if is_htmx(request) or is_history_restore(request):
        return Response(status_code=200, headers={"HX-Redirect": quote(url, safe=_URL_SAFE)})
    return RedirectResponse(url, status_code=303)


def retarget(response: Response, selector: str, swap: str = "innerHTML") -> Response:
    """Swap this response somewhere else than where the request asked."""
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response
