"""A real `portal serve` in a subprocess, for tests that need real sockets and processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

PORTAL = str(Path(sys.executable).with_name("portal"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def portal_command(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run the `portal` command line; returns its stdout, fails the test on a non-zero exit."""
    done = subprocess.run(
        [PORTAL, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Running:
    base: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]


@contextmanager
def portal_server(env: dict[str, str], log_path: Path, *args: str) -> Iterator[Running]:
    """`portal serve ARGS` on a free port until the block ends."""
    port = free_port()
    env = {**os.environ, **env, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [PORTAL, "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"portal serve exited:\n{log_path.read_text()}"
            try:
                if httpx2.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"portal serve did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Running(base, server)
    finally:
        server.terminate()
        server.wait(15)
