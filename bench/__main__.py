"""`python -m bench`: start a real server on this machine, measure, print one table."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.servers import portal_command, portal_server

from bench.transfer import FIRST_LOAD_BUDGET, TAB_SWITCH_BUDGET, measure

PASSWORD = "measured passphrase 42"  # noqa: S105 - the benchmark's own throwaway account


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, {cpu}"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "PORTAL_SECRET_KEY": "bench",
        }
        portal_command(env, "db", "upgrade")
        portal_command(env, "tenant", "add", "bench", "--name", "Bench")
        portal_command(
            env, "extension", "add", "1-bench", "--name", "B", "--password-stdin", stdin=PASSWORD
        )
        with portal_server(env, Path(tmp) / "server.log") as server:
            transfer = measure(server.base, "1-bench", PASSWORD)
    rows = [
        ("first load of /login, all assets, gzip", transfer.first_load, FIRST_LOAD_BUDGET),
        ("one tab switch (htmx)", transfer.tab_switch, TAB_SWITCH_BUDGET),
    ]
    print(f"portal benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {machine()}")
    print(f"python {sys.version.split()[0]}, {platform.machine()}")
    print()
    print(f"| {'case':<42} | {'result':>10} | {'goal':>10} | ok |")
    print(f"|{'-' * 44}|{'-' * 12}|{'-' * 12}|----|")
    failed = False
    for name, value, goal in rows:
        ok = value <= goal
        failed |= not ok
        print(f"| {name:<42} | {value:>8} B | ≤{goal:>8} B | {'✓' if ok else '✗'}  |")
    print()
    for url, size in transfer.first_load_parts.items():
        print(f"    {size:>7} B  {url}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
