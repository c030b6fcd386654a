"""A private network namespace for the phone tests: every packet stays on its loopback.

Left alone, browsers' ICE finds the machine's real interfaces. Inside a namespace of our own,
with only `lo` up, Kamailio, coturn, the portal and Chromium see nothing else, and nothing
outside sees them. The test process stays outside: it reaches in through sockets made inside
(`Netns.connect`), and drives Chromium over Playwright's pipe, Chromium being started inside by
a wrapper script (`Netns.chromium_executable`).

Fixtures (tests/conftest.py imports them for every test):
- `netns`: the session's namespace (`Netns`); skips loudly when it cannot be made (not root, no
  `ip`), fails under CI=true.
- `sip`: a factory, `sip(ring_ms=..., turn=True, ws_origin=...)` -> a started
  `portal.phone.sipserver.SipServer` inside `netns` with a fresh secret, stopped at the end of
  the session; skips loudly without Kamailio (or coturn), fails under CI=true.
- `netns_portal`: a factory, `netns_portal(["201-wickedsprockets", "202-wickedsprockets"],
  env={"PORTAL_SIP_WS_URL": ...})` -> a `tests.browser.conftest.Server` (`portal serve` with a
  fresh database holding those extensions) inside `netns`.
- `netns_browser`: Chromium inside `netns` with the flags calls need (CALL_ARGS); tests under
  tests/browser only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from portal.phone.sipserver import SipServer, SipServerError, available, netns_connect
from tests.servers import PORTAL

if TYPE_CHECKING:
    from tests.browser.conftest import Server

IN_CI = os.environ.get("CI") == "true"
SIP_DOMAIN = "sip.portal.test"
# What Chromium needs for calls on loopback with no microphone and no one to click "Allow".
CALL_ARGS = [
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


@dataclass
class Netns:
    """A network namespace `name` with only loopback up."""

    name: str
    _ports: Iterator[int] = field(default_factory=lambda: iter(range(20_000, 30_000)))

    def command(self, *argv: str) -> list[str]:
        """`argv` to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv), capture_output=True, text=True, timeout=30, check=False
        )

    def port(self) -> int:
        """A port nobody in the namespace uses: everything there is ours, so count up."""
        return next(self._ports)

    def connect(self, port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> Any:
        """A TCP socket connected to host:port inside the namespace."""
        return netns_connect(self.name, host, port, timeout)

    def http_get(self, url: str, timeout: float = 2.0) -> int:
        """The status of a GET of an http://127.0.0.1:PORT/... URL inside the namespace."""
        rest = url.removeprefix("http://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        with self.connect(int(port or 80), host, timeout) as sock:
            sock.sendall(
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64).decode("latin-1")
        return int(head.split()[1])

    def chromium_executable(self, folder: Path, chromium: str = "/usr/bin/chromium") -> Path:
        """A script for Playwright's `executable_path` that starts Chromium inside."""
        script = folder / f"chromium-in-{self.name}"
        script.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} {chromium} "$@"\n')
        script.chmod(0o755)
        return script

    def kill_all(self) -> None:
        """End every process still inside (they are all this test run's)."""
        done = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False
        )
        for pid in done.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@contextlib.contextmanager
def private_netns() -> Iterator[Netns]:
    """A fresh namespace with loopback up, deleted (with whatever still runs in it) at the end."""
    if os.geteuid() != 0:
        unavailable("the phone tests need root for a private network namespace (ip netns)")
    if shutil.which("ip") is None:
        unavailable("the `ip` command is missing (package iproute2)")
    ns = Netns(f"portal-test-{secrets.token_hex(4)}")
    made = subprocess.run(["ip", "netns", "add", ns.name], capture_output=True, text=True)
    if made.returncode != 0:
        unavailable(f"cannot make a network namespace: {made.stderr.strip()}")
    try:
        up = ns.run("ip", "link", "set", "lo", "up")
        assert up.returncode == 0, up.stderr
        yield ns
    finally:
        ns.kill_all()
        subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def netns() -> Iterator[Netns]:
    with private_netns() as ns:
        yield ns


@pytest.fixture(scope="session")
def sip(
    netns: Netns, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., SipServer]]:
    """A factory of running SIP servers inside `netns`; keyword arguments go to SipServer."""
    started: list[SipServer] = []

    def start(*, turn: bool = False, **options: Any) -> SipServer:
        if reason := available(turn=turn):
            unavailable(reason)
        server = SipServer(
            domain=options.pop("domain", SIP_DOMAIN),
            secret=options.pop("secret", secrets.token_urlsafe(32)),
            runtime_dir=tmp_path_factory.mktemp("sip"),
            ws_port=netns.port(),
            turn_port=netns.port() if turn else None,
            netns=netns.name,
            test_mode=True,
            **options,
        )
        try:
            server.start()
        except SipServerError as exc:
            pytest.fail(str(exc))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def netns_portal(
    netns: Netns, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    """A factory: `netns_portal(["201-wickedsprockets", "202-othertenant"], env={...})` makes a
    fresh database with those extensions (and their tenants), each with the browser tests'
    PASSWORD and the name "Extension NNN", and serves it inside the namespace until the session
    ends. `env` adds settings (e.g. PORTAL_SIP_WS_URL=sip_server.ws_url)."""
    from tests.browser.conftest import PASSWORD, Server, cli

    started: list[Server] = []

    def start(extensions: list[str], *, env: dict[str, str] | None = None) -> Server:
        workdir = tmp_path_factory.mktemp("portal")
        port = netns.port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        full.update(
            PORTAL_DATABASE_URL=f"sqlite:///{workdir / 'portal.db'}",
            PORTAL_SECRET_KEY=secrets.token_urlsafe(32),
            PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
            **(env or {}),
        )
        # The database is a file: the command line prepares it from outside the namespace.
        cli(full, "db", "upgrade")
        for tenant in sorted({code.split("-", 1)[1] for code in extensions}):
            cli(full, "tenant", "add", tenant, "--name", tenant.title())
        for code in extensions:
            name = f"Extension {code.split('-', 1)[0]}"
            cli(
                full,
                "extension",
                "add",
                code,
                "--name",
                name,
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                netns.command(PORTAL, "serve", "--host", "127.0.0.1", "--port", str(port)),
                env=full,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(full["PORTAL_BASE_URL"], None, process, log_path, username=extensions[0])
        started.append(server)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"portal serve exited {process.returncode}:\n{server.log()}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                if netns.http_get(server.url("/healthz")) == 200:
                    return server
            if time.monotonic() > deadline:
                pytest.fail(f"portal serve did not become healthy:\n{server.log()}")
            time.sleep(0.1)

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def netns_browser(
    browser: Any, netns: Netns, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Chromium inside the namespace, with fake media and loopback ICE, for call tests: open
    pages with `tests.browser.conftest.Pages(netns_browser, server)`. Only for tests under
    tests/browser (it needs their `browser` fixture, whose Playwright it shares)."""
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    wrapper = netns.chromium_executable(tmp_path_factory.mktemp("chromium"), CHROMIUM)
    chromium = browser.browser_type.launch(
        executable_path=str(wrapper), headless=True, args=[*CHROMIUM_ARGS, *CALL_ARGS]
    )
    yield chromium
    chromium.close()
