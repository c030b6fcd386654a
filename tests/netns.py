"""A private network namespace for the phone tests: every packet stays on its loopback.

Left alone, browsers' ICE finds the machine's real interfaces. Inside a namespace of our own,
with only `lo` up, Kamailio, coturn, the portal and Chromium see nothing else, and nothing
outside sees them. The test process stays outside: it reaches in through sockets made inside
(`Netns.connect`), and drives Chromium over Playwright's pipe, Chromium being started inside by
a wrapper script (`Netns.chromium_executable`).

Fixtures (import them into a test module: `from tests.netns import netns, sip  # noqa: F401`):
- `netns`: the session's namespace (`Netns`); skips loudly when it cannot be made (not root, no
  `ip`), fails under CI=true.
- `sip`: a factory, `sip(ring_ms=..., turn=True, ws_origin=...)` -> a started
  `portal.phone.sipserver.SipServer` inside `netns` with a fresh secret, stopped at the end of
  the session; skips loudly without Kamailio (or coturn), fails under CI=true.
- `serve_portal(netns, env, log_path)`: `portal serve` inside the namespace until the block ends.
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
from typing import Any, NoReturn

import pytest

from portal.phone.sipserver import SipServer, SipServerError, available, netns_connect
from tests.servers import PORTAL, Running

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


@contextlib.contextmanager
def serve_portal(ns: Netns, env: dict[str, str], log_path: Path, *args: str) -> Iterator[Running]:
    """`portal serve ARGS` inside the namespace, on a port of its own, until the block ends.

    `env` is the whole environment (the database prepared beforehand, e.g. with the CLI from
    outside: a SQLite file is the same on both sides)."""
    port = ns.port()
    base = f"http://127.0.0.1:{port}"
    env = {**env, "PORTAL_BASE_URL": env.get("PORTAL_BASE_URL", base)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ns.command(PORTAL, "serve", "--host", "127.0.0.1", "--port", str(port), *args),
            env=env,
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"portal serve exited {process.returncode}:\n{log_path.read_text()}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                if ns.http_get(base + "/healthz") == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"portal serve did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Running(base, process)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
