"""Static files: fingerprinted names, a year of caching, gzip, and nothing outside static/."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portal.web.assets import Assets


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_pages_link_fingerprinted_assets_cached_forever(client: TestClient) -> None:
    urls = asset_urls(client.get("/login").text)
    assert len(urls) == 4  # the stylesheet, the theme script, htmx and portal.js
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "no-store" not in response.headers["Cache-Control"]


def test_assets_are_served_gzip_compressed_when_asked(client: TestClient) -> None:
    [css] = [u for u in asset_urls(client.get("/login").text) if u.endswith(".css")]
    plain = client.get(css, headers={"Accept-Encoding": "identity"})
    packed = client.get(css, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # the client decompressed it to the same bytes
    assert int(packed.headers["Content-Length"]) < len(plain.content) / 2
    assert "Content-Encoding" not in plain.headers


def test_revalidation_answers_304(client: TestClient) -> None:
    response = client.get("/static/css/portal.css")
    assert response.headers["Cache-Control"] == "no-cache"  # a bare name is revalidated
    again = client.get(
        "/static/css/portal.css", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


def test_an_outdated_name_is_not_cached_forever(client: TestClient) -> None:
    response = client.get("/static/css/portal.000000000000.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    ["/static/../pyproject.toml", "/static/%2e%2e/pyproject.toml", "/static/nope.css", "/static/"],
)
def test_nothing_outside_static_or_missing(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_changed_file_gets_a_new_name_in_designer_mode(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("body { color: red }")
    watching = Assets(tmp_path, watch=True)
    first = watching.url("a.css")
    (tmp_path / "a.css").write_text("body { color: blue }  /* changed */")
    os.utime(tmp_path / "a.css", (1, 1))
    assert watching.url("a.css") != first
    assert (
        gzip.decompress(watching._load("a.css").gzipped or b"")
        == b"body { color: blue }  /* changed */"
    )


@pytest.mark.parametrize("relative", ["__init__.py", "__pycache__/__init__.cpython-311.pyc"])
def test_the_package_files_of_static_are_not_served(tmp_path: Path, relative: str) -> None:
    """static/ ships as the package portal.static; its own Python files are not assets."""
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / relative).write_text("# Python, not an asset")
    (tmp_path / "a.css").write_text("body { color: red }")
    with TestClient(Starlette(routes=[Mount("/static", Assets(tmp_path))])) as static:
        assert static.get("/static/a.css").status_code == 200
        assert static.get("/static/" + relative).status_code == 404
