"""The peer's Django settings, read from the environment `bench.peers.django.run` sets.

PEER_DATABASE: `sqlite:///PATH`, or `postgresql://USER@HOST:PORT/NAME?schema=SCHEMA`.
PEER_TEMPLATES: the folder holding `tab.html`, generated from the portal's own rendered tab
(its lists are this folder's `passkeys.html` and `sessions.html`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": parts.path,
            # The portal's own SQLite pragmas (portal.db), so both write the same way.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 5,
            },
            "CONN_MAX_AGE": None,
        }
    schema = parse_qs(parts.query).get("schema", ["public"])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or 5432),
        "OPTIONS": {"options": f"-c search_path={schema}"},
        # Persistent connections, as Django's deployment checklist advises.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-bench-throwaway-key")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "bench.peers.django.apps.PeerConfig",  # passkeys, and where each user is signed in
]

# Django's default MIDDLEWARE, as `startproject` writes it (less messages, not installed).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.peers.django.urls"
WSGI_APPLICATION = "bench.peers.django.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The generated tab first, then this folder's (the sign-in page).
        "DIRS": [os.environ.get("PEER_TEMPLATES", str(HERE / "templates")), HERE / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    ["django.template.loaders.filesystem.Loader"],
                )
            ],
        },
    }
]

DATABASES = {"default": _database(os.environ.get("PEER_DATABASE", "sqlite:///peer.db"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions in the database, slid the Django way: saved on every request, 4 hours from the last.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_AGE = 4 * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/settings"

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
