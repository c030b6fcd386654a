"""The vendored browser bundles are the ones recorded: JsSIP's rebuild is pinned and checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

VENDOR = PROJECT_ROOT / "static" / "vendor"
BUILD = PROJECT_ROOT / "vendor-build"


def test_jssip_bundle_is_the_one_recorded() -> None:
    bundle = (VENDOR / "jssip.min.js").read_bytes()
    digest = hashlib.sha256(bundle).hexdigest()
    recorded, name = (BUILD / "SHA256SUMS").read_text().split()

    assert (digest, name) == (recorded, "jssip.min.js")
    assert f"`{digest}`" in (VENDOR / "README.md").read_text()
    assert b"sourceMappingURL" not in bundle  # no request for a .map that is not there


def test_jssip_version_is_pinned_where_it_is_built_and_recorded() -> None:
    lock = json.loads((BUILD / "package-lock.json").read_text())
    wanted = json.loads((BUILD / "package.json").read_text())["devDependencies"]
    jssip = lock["packages"]["node_modules/jssip"]
    readme = (VENDOR / "README.md").read_text()
    bundle = (VENDOR / "jssip.min.js").read_text()

    assert wanted["jssip"] == jssip["version"]  # an exact version, not a range
    assert wanted["esbuild"] == lock["packages"]["node_modules/esbuild"]["version"]
    assert f"`jssip@{jssip['version']}`" in readme and jssip["integrity"] in readme
    assert bundle.startswith(f"/*! JsSIP {jssip['version']}, MIT")
    assert f'version:"{jssip["version"]}"' in bundle
