"""Start the Django peer under gunicorn, signed in for real, with the portal's own tab markup.

Imports no Django: the peer runs in processes of its own (its setup, then gunicorn).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2

from bench import load

ROOT = Path(__file__).resolve().parents[3]  # where `bench` is importable from
SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"

_CSRF_INPUT = re.compile(r'(<input type="hidden" name="csrf_token" value=")[^"]*(")')
_USERNAME_INPUT = re.compile(r'(<input type="text" name="username" value=")[^"]*(")')
_TEMPLATE_SYNTAX = re.compile(r"\{[{%#]|[}%#]\}")
# The tab's two lists, which the peer builds from its own data with templates of its own.
_SECTIONS = {
    name: re.compile(rf'<section class="panel {name}" id="{name}".*?</section>', re.DOTALL)
    for name in ("passkeys", "sessions")
}
_TIME = re.compile(r'<time datetime="[^"]*">[^<]*</time>')
_BETWEEN_TAGS = re.compile(r">\s+<")


class PeerError(RuntimeError):
    """The peer could not be set up or started; the message says why."""


def template_from(fragment: str) -> str:
    """A Django template of the portal's rendered tab: its markup, with the user's values
    (the CSRF token and the username) as Django fills them in, and its lists of passkeys and
    sessions built by the peer's own templates (`templates/`) from its own data."""
    if _TEMPLATE_SYNTAX.search(fragment):
        raise PeerError("the portal's tab has markup Django would read as template syntax")
    if not _SECTIONS["sessions"].search(fragment):
        raise PeerError("the portal's tab has no Where You're Signed In section")
    for name, section in _SECTIONS.items():
        fragment = section.sub(f'{{% include "{name}.html" %}}', fragment)
    template, csrf_found = _CSRF_INPUT.subn(r"\1{{ csrf_token }}\2", fragment)
    template, user_found = _USERNAME_INPUT.subn(r"\1{{ user.get_username }}\2", template)
    # Every form of the tab carries the same token; Change Password carries the username.
    if not csrf_found or not user_found:
        raise PeerError("the portal's tab has no CSRF field or username field to map")
    return template


def same_markup(a: str, b: str) -> bool:
    """Whether two renderings of the tab are the same but for the CSRF token, the username, the
    times shown (each sign-in has its own) and the white space between tags."""
    return normalized(a) == normalized(b)


def normalized(fragment: str) -> str:
    fragment = _CSRF_INPUT.sub(r"\1TOKEN\2", fragment)
    fragment = _USERNAME_INPUT.sub(r"\1USER\2", fragment)
    fragment = _TIME.sub("<time>TIME</time>", fragment)
    return _BETWEEN_TAGS.sub("><", fragment).strip()


_ACCESS = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) ')


def statuses(access_log: Path, start: int, method: str, path: str) -> Counter[int]:
    """The statuses of gunicorn's access log lines from line `start` on, for one route."""
    found: Counter[int] = Counter()
    for line in access_log.read_text().splitlines()[start:]:
        match = _ACCESS.search(line)
        if match and match.group(1) == method and match.group(2) == path:
            found[int(match.group(3))] += 1
    return found


@dataclass(frozen=True)
class Peer:
    base: str
    cookies: dict[str, str]  # what a browser holds after signing in: session and CSRF cookies
    access_log: Path

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


def _postgres_database(dsn: str) -> Iterator[str]:
    import psycopg

    schema = f"peer_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{dsn}?schema={schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def database(tmp: Path, postgres_dsn: str | None) -> Iterator[str]:
    """The peer's own database: a SQLite file in `tmp`, or a fresh PostgreSQL schema."""
    if postgres_dsn is None:
        yield f"sqlite:///{tmp}/peer.db"
        return
    parts = urlsplit(postgres_dsn)
    yield from _postgres_database(parts._replace(query="").geturl())


@contextmanager
def peer_server(
    tmp: Path, database_url: str, fragment: str, username: str, password: str, port: int
) -> Iterator[Peer]:
    """The peer on 127.0.0.1:`port` (gunicorn, one sync worker), `username` signed in."""
    templates = tmp / "peer-templates"
    templates.mkdir(exist_ok=True)
    (templates / "tab.html").write_text(template_from(fragment))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.peers.django.settings",
        "PEER_DATABASE": database_url,
        "PEER_TEMPLATES": str(templates),
        "PYTHONPATH": str(ROOT),
    }
    setup = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.peers.django", username],
        input=password + "\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if setup.returncode != 0:
        raise PeerError(f"the Django peer's setup failed:\n{setup.stderr}")
    access_log, error_log = tmp / "peer-access.log", tmp / "peer-error.log"
    # gunicorn as Django's deployment docs run it: the default one sync worker.
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.peers.django.wsgi",
        "--workers=1",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        f"--access-logfile={access_log}",
        f"--error-logfile={error_log}",
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server, error_log)
        yield Peer(base, sign_in(base, username, password), access_log)
    finally:
        load.stop(server)


def _wait_up(base: str, server: subprocess.Popen[bytes], error_log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            log = error_log.read_text() if error_log.exists() else ""
            raise PeerError(f"gunicorn exited ({server.returncode}):\n{log}")
        try:
            if httpx2.get(base + "/login/", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise PeerError(f"the Django peer at {base} did not start")
        time.sleep(0.2)


def sign_in(base: str, username: str, password: str) -> dict[str, str]:
    """A real sign-in through Django's LoginView; the cookies a browser then holds."""
    with httpx2.Client(base_url=base) as browser:
        page = browser.get("/login/")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if found is None:
            raise PeerError("the peer's sign-in page has no CSRF field")
        done = browser.post(
            "/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": html.unescape(found.group(1)),
            },
        )
        if done.status_code != 302 or SESSION_COOKIE not in browser.cookies:
            raise PeerError(f"signing in to the peer failed: {done.status_code}")
        return {name: str(browser.cookies[name]) for name in (SESSION_COOKIE, CSRF_COOKIE)}
