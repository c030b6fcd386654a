"""The wheel carries everything the portal needs to run from any directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("src", "static", "alembic", "pyproject.toml", "README.md")
LEFT_OUT = shutil.ignore_patterns("*.egg-info", "__pycache__")


def test_the_wheel_holds_code_templates_static_files_and_migrations(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=LEFT_OUT)
        else:
            shutil.copy(source, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("portal-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected = {
        "portal/static/css/portal.css",
        "portal/static/js/portal.js",
        "portal/static/vendor/htmx.min.js",
        "portal/migrations/env.py",
        "portal/migrations/script.py.mako",
        "portal/templates/layout.html",
        "portal/templates/components/_ui.html",
        "portal/templates/email/reset.txt",
        "portal/security/data/common-passwords.txt.gz",
        "portal/py.typed",
    }
    expected |= {
        "portal/" + str(path.relative_to(ROOT / "src" / "portal"))
        for path in (ROOT / "src" / "portal").rglob("*")
        if path.suffix in (".py", ".html") and "__pycache__" not in path.parts
    }
    expected |= {
        "portal/migrations/versions/" + path.name
        for path in (ROOT / "alembic" / "versions").glob("*.py")
    }
    assert expected - names == set()
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
