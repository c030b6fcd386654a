"""Where the packaged files are: templates, static files and migrations.

Found through importlib.resources, so the portal runs the same from a checkout (an editable
install maps `portal.static` to the top-level `static/`, and `portal/migrations` links to the
top-level `alembic/`, where developers edit them) and from an installed wheel, from any
directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _folder(package: str, *parts: str) -> Path:
    return Path(str(files(package).joinpath(*parts)))


def templates_dir() -> Path:
    """The Jinja templates (`src/portal/templates/`)."""
    return _folder("portal", "templates")


def static_dir() -> Path:
    """CSS, JS and the vendored htmx (`static/`)."""
    return _folder("portal.static")


def migrations_dir() -> Path:
    """Alembic's scripts (`alembic/`)."""
    return _folder("portal", "migrations")
