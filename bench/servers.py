"""`python -m bench --servers`: the tab (case 1a) and the storm (case 2) on each ASGI server.

Each server runs the app as `portal serve` builds it (`portal.cli:app_from_env`, the access log
and JSON logging on, into a file) in a process of its own, one worker, one after the other on
the same database; the render-only floor runs on the same server as the tab it is compared to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from bench import cases, load
from bench.cases import HX, TAB, Row, tab_headers
from bench.server import free_port

PORTAL = str(Path(sys.executable).with_name("portal"))
ROOT = Path(__file__).resolve().parents[1]


def uvicorn_command(target: str, port: int) -> list[str]:
    if target == "portal":
        return [PORTAL, "serve", "--port", str(port)]  # the real command
    # What `portal serve` passes to uvicorn (src/portal/cli.py), for the floor's app.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.server:floor_from_env",
        "--factory",
        f"--port={port}",
        "--no-proxy-headers",
        "--no-access-log",
        "--no-server-header",
        "--log-level=warning",
    ]


def granian_command(target: str, port: int) -> list[str]:
    app = "portal.cli:app_from_env" if target == "portal" else "bench.server:floor_from_env"
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface=asgi",
        "--workers=1",
        "--loop=uvloop",
        "--http=1",
        "--no-ws",
        "--log-level=warning",
        "--factory",
        f"--port={port}",
        app,
    ]


SERVERS = {"uvicorn": uvicorn_command, "granian": granian_command}


@dataclass(frozen=True)
class Process:
    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def server(name: str, target: str, env: dict[str, str], log: Path) -> Iterator[Process]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The run's base URL when it names one (a host name: the tab then holds Passkeys, as in
    # the other cases), else the server's own address.
    env = {**os.environ, "PORTAL_BASE_URL": base, **env, "PYTHONPATH": str(ROOT)}
    with log.open("a") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            SERVERS[name](target, port), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    path = "/healthz" if target == "portal" else "/bare"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise load.LoadError(f"{name} exited ({process.returncode}); see {log}")
            try:
                if httpx2.get(base + path, timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise load.LoadError(f"{name} did not answer {path}; see {log}")
            time.sleep(0.2)
        yield Process(base, process)
    finally:
        load.stop(process)


@dataclass(frozen=True)
class Measured:
    tab: load.Load
    floor: load.Load
    idle: load.Load
    storm: load.Load  # the tab during the storm
    sign_ins: load.Load  # the storm itself


def measure(
    name: str,
    env: dict[str, str],
    forms: list[tuple[str, str]],
    user: str,
    others: list[str],
    seconds: float,
    log: Path,
) -> Measured:
    """Cases 1a and 2 on one server: `user`'s tab, while `others` sign in for the storm (the
    Settings tab lists where its account is signed in: no other session of `user` may join)."""
    with server(name, "floor", env, log) as floor_server:
        floor = load.run(
            load.wrk_command(
                floor_server.base + "/render", seconds=seconds, connections=16, headers=HX
            )
        )
    with server(name, "portal", env, log) as portal:
        cookie = cases.sign_in(portal.base, user)
        headers = tab_headers(cookie)
        tab = load.run(
            load.wrk_command(portal.base + TAB, seconds=seconds, connections=16, headers=headers)
        )
        quiet = load.wrk_command(portal.base + TAB, seconds=seconds, connections=4, headers=headers)
        idle = load.run(quiet)
        with tempfile.TemporaryDirectory() as tmp:
            script = cases.storm_script(forms, others, Path(tmp))
            storm = load.start(
                load.wrk_command(
                    portal.base + "/login", seconds=seconds + 2, connections=4, script=script
                )
            )
            time.sleep(1)
            busy = load.run(quiet)
            sign_ins = load.finish(storm)
    return Measured(tab, floor, idle, busy, sign_ins)


def rows(results: dict[str, list[Measured]]) -> list[Row]:
    """One row per server and case: medians over the rounds, each round in the details."""
    out = []
    for name, runs in results.items():
        shares = [m.tab.rps / m.floor.rps for m in runs]
        storms = [m.storm.p99_ms / m.idle.p99_ms for m in runs]
        bad = sum(m.tab.bad_status + m.storm.bad_status for m in runs)
        out.append(
            Row(
                f"1a. {name}: tab / render-only floor, req/s",
                f"{_median(shares):.2f} (tab {_median([m.tab.rps for m in runs]):,.0f} req/s, "
                f"p99 {_median([m.tab.p99_ms for m in runs]):.1f} ms)",
                "reported",
                bad == 0,
                [_spread("share", shares)]
                + [cases.fmt_load(f"tab ({name})", m.tab) for m in runs]
                + [cases.fmt_load(f"floor ({name})", m.floor) for m in runs],
            )
        )
        out.append(
            Row(
                f"2. {name}: tab p99 during sign-in storm / idle",
                f"{_median(storms):.2f}x "
                f"(storm p99 {_median([m.storm.p99_ms for m in runs]):.1f} ms)",
                "reported",
                bad == 0,
                [_spread("ratio", storms)]
                + [
                    f"p99 idle {m.idle.p99_ms:.2f} ms, storm {m.storm.p99_ms:.2f} ms; "
                    f"{m.sign_ins.requests} sign-in posts, {m.sign_ins.bad_status} non-2xx/3xx"
                    for m in runs
                ],
            )
        )
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _spread(what: str, values: list[float]) -> str:
    listed = ", ".join(f"{v:.2f}" for v in values)
    return f"{what} over {len(values)} rounds: {min(values):.2f} to {max(values):.2f} ({listed})"


def compare(
    env: dict[str, str],
    forms: list[tuple[str, str]],
    users: list[str],
    seconds: float,
    rounds: int,
    tmp: Path,
) -> list[Row]:
    """Every server, `rounds` times, the order alternating so neither always goes first.

    `users` exist in the database `env` names, with the benchmark's password; `forms` are
    sign-in forms for the storm, one per user (cases.login_forms).
    """
    names = list(SERVERS)
    results: dict[str, list[Measured]] = {name: [] for name in names}
    # Each measurement signs in an account of its own (a session lives on after its server),
    # so that every tab measured lists one session, as the floor does.
    measured, others = users[: len(users) // 2], users[len(users) // 2 :]
    turn = 0
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            log = tmp / f"{name}.log"
            user = measured[turn % len(measured)]
            results[name].append(measure(name, env, forms, user, others, seconds, log))
            turn += 1
    return rows(results)
