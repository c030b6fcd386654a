"""Static files under fingerprinted names, cached for a year, served gzip-compressed.

`{{ static("css/portal.css") }}` in a template gives `/static/css/portal.3f2a9c1b7e4d.css`; a
change to the file changes the name, so browsers may keep every name forever. Files are read
once (they are small) and compressed once; in designer mode (--reload) a changed file is
picked up on the next request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

FOREVER = "public, max-age=31536000, immutable"
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
_PACKAGING = (".py", ".pyc")
_COMPRESSIBLE = (".css", ".js", ".svg", ".txt", ".json", ".html")


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    digest: str
    media_type: str
    mtime: float


class Assets:
    """An ASGI app serving `directory`, and the `static()` URL function for templates."""

    def __init__(self, directory: Path, *, watch: bool = False) -> None:
        self.directory = directory.resolve()
        self.watch = watch
        self._assets: dict[str, Asset] = {}

    def _load(self, relative: str) -> Asset | None:
        path = (self.directory / relative).resolve()
        if not path.is_relative_to(self.directory) or not path.is_file():
            return None
        if path.suffix in _PACKAGING or "__pycache__" in path.parts:
            return None  # the folder ships as a Python package: its own files are not assets
        cached = self._assets.get(relative)
        if cached is not None and (not self.watch or cached.mtime == path.stat().st_mtime):
            return cached
        body = path.read_bytes()
        asset = Asset(
            body=body,
            gzipped=gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None,
            digest=hashlib.sha256(body).hexdigest()[:12],
            media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            mtime=path.stat().st_mtime,
        )
        self._assets[relative] = asset
        return asset

    def url(self, relative: str) -> str:
        """The fingerprinted URL of a file under the static directory."""
        asset = self._load(relative)
        if asset is None:
            raise LookupError(f"no static file {relative!r}")
        stem, dot, suffix = relative.rpartition(".")
        return f"/static/{stem}.{asset.digest}{dot}{suffix}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self._respond(scope)
        await response(scope, receive, send)

    def _respond(self, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("Method not allowed", 405, headers={"Allow": "GET, HEAD"})
        relative = scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/")
        relative = relative.removeprefix("static/")
        match = _FINGERPRINTED.match(relative)
        if match:
            relative = match["stem"] + match["suffix"]
        asset = self._load(relative)
        if asset is None:
            return PlainTextResponse("Not found", 404)
        # Only the current name may be kept forever; a bare or outdated name is revalidated.
        cache = FOREVER if match and match["digest"] == asset.digest else "no-cache"
        headers = {"Cache-Control": cache, "ETag": f'"{asset.digest}"', "Vary": "Accept-Encoding"}
        request_headers = Headers(scope=scope)
        if request_headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request_headers.get("accept-encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)
