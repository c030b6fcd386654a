"""Soak: a real `portal serve` under a fixed request rate for minutes; errors and memory."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
from tests.servers import portal_command, portal_server

from bench import cases
from bench.cases import COOKIE, HX, PASSWORD, TAB, TENANT

SESSIONS = 8


@dataclass(frozen=True)
class Soak:
    minutes: float
    rate: float
    requests: int
    errors: int
    rss_start_kib: int
    rss_end_kib: int
    first_error: str


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


async def sign_in(base: str, user: str) -> str:
    """The benchmark's real sign-in over HTTP (a browser of its own), off this event loop."""
    return await asyncio.to_thread(cases.sign_in, base, user)


async def drive(base: str, pid: int, minutes: float, rate: float) -> Soak:
    """Tab switches over SESSIONS sessions at `rate` per second, plus a sign-in every 10 s.

    Requests are started on a fixed schedule whatever the server's pace (open loop), so a
    slow server shows up as errors and growing memory, not as a quietly lower rate.
    """
    errors, sent, first_error = 0, 0, ""
    async with httpx2.AsyncClient(base_url=base, timeout=10) as client:
        cookies = [await sign_in(base, f"{n}-{TENANT}") for n in range(1, SESSIONS + 1)]
        start_rss = rss_kib(pid)

        async def one(i: int) -> None:
            nonlocal errors, first_error
            try:
                if i % int(rate * 10) == 0:
                    await sign_in(base, f"{i % SESSIONS + 1}-{TENANT}")
                    return
                cookie = f"{COOKIE}={cookies[i % len(cookies)]}"
                response = await client.get(TAB, headers={**HX, "Cookie": cookie})
                if response.status_code != 200:
                    raise RuntimeError(f"GET {TAB}: {response.status_code}")
            except Exception as exc:  # noqa: BLE001 - every failure counts as an error
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"

        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < minutes * 60:
            due = int(elapsed * rate)
            while sent <= due:
                task = asyncio.create_task(one(sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(max(0.0, (sent / rate) - (time.monotonic() - started)))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    return Soak(minutes, rate, sent, errors, start_rss, rss_kib(pid), first_error)


def soak(minutes: float, rate: float, env_extra: dict[str, str]) -> Soak:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp}/soak.db",
            "PORTAL_SECRET_KEY": "bench",
            **env_extra,  # the caller's storage (a PostgreSQL schema and Redis prefix) wins
        }
        portal_command(env, "db", "upgrade")
        portal_command(env, "tenant", "add", TENANT, "--name", "Bench")
        for n in range(1, SESSIONS + 1):
            portal_command(
                env,
                *("extension", "add", f"{n}-{TENANT}", "--name", f"B{n}", "--password-stdin"),
                stdin=PASSWORD,
            )
        with portal_server(env, Path(tmp) / "server.log") as server:
            return asyncio.run(drive(server.base, server.process.pid, minutes, rate))
