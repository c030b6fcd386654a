"""`python -m bench`: serve the real app on this machine, measure, print one table.

python -m bench                  every case, 10 s each, embedded (SQLite, sessions in it)
python -m bench --quick          3 s each
python -m bench --production     PostgreSQL 127.0.0.1:5432/test + Redis 127.0.0.1:6379
python -m bench --soak           10 minutes at a fixed rate: errors and worker memory
python -m bench --servers        cases 1a and 2 on uvicorn and on granian (--rounds N)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import cases, load, phone
from bench.cases import PASSWORD, Row
from bench.server import bare_app, free_port, production_logging, serve, wait_healthy
from bench.transfer import FIRST_LOAD_BUDGET, PHONE_LOAD_BUDGET, TAB_SWITCH_BUDGET, measure
from portal.base import db
from portal.base.settings import Settings

POSTGRES_DSN = os.environ.get("PORTAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS", "redis://127.0.0.1:6379/0")
ACCOUNTS = 16
SESSIONS = 8  # signed-in sessions sharing the load of case 4, one account each
# The other eight sign in for cases 2, 3, 6 and 7; the storm's turn round them, so that no
# account sees concurrent sign-ins.

# The portal's address as its links and passkeys name it: a host name, as deployed (an IP
# address turns passkeys off). Requests go to 127.0.0.1 all the same.
BASE_URL = "http://localhost:8000"


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


@dataclass(frozen=True)
class Storage:
    name: str
    database_url: str
    redis_url: str | None = None
    redis_prefix: str = "portal:"


@contextmanager
def storage(production: bool, tmp: Path) -> Iterator[Storage]:
    """SQLite in `tmp`; or a fresh PostgreSQL schema and Redis prefix, removed afterwards."""
    if not production:
        url = f"sqlite:///{tmp}/bench.db"
        db.upgrade(url)
        yield Storage("embedded: SQLite, sessions in the database", url)
        return
    import psycopg
    import redis

    schema = f"portal_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"portal-bench:{uuid.uuid4().hex[:10]}:"
    with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        base = POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}?options=-csearch_path%3D{schema}"
        db.upgrade(url)
        yield Storage("production: PostgreSQL, sessions in Redis", url, REDIS_URL, prefix)
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS_URL)
        for chunk in _chunks(list(client.scan_iter(match=prefix + "*", count=5000))):
            client.delete(*chunk)


def _chunks(items: list[bytes], size: int = 5000) -> Iterator[list[bytes]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_cases(seconds: float, production: bool) -> tuple[str, str, list[Row]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with (
            storage(production, tmp) as where,
            phone.phone_system(tmp / "sip", free_port()) as (sip, sip_secret, no_sip),
        ):
            settings = Settings(
                database_url=where.database_url,
                redis_url=where.redis_url,
                redis_prefix=where.redis_prefix,
                secret_key="bench",  # noqa: S106 - a throwaway key for a throwaway database
                # A host name, as a deployment has: the Settings tab then holds Passkeys too.
                base_url=BASE_URL,
                # A phone system, so that /phone loads the softphone: Kamailio for case 7 when
                # this machine has it; else one nobody answers, enough for case 6c's bytes.
                sip_ws_url=sip.ws_url if sip else "ws://127.0.0.1:9",
                sip_domain=sip.domain if sip else "bench.invalid",
                sip_secret=sip_secret or "bench-sip-secret-0123",
            )
            capture = production_logging(tmp / "server.log")
            clock = cases.BenchClock()
            from portal.app import create_app

            portal_app, floor_app = create_app(settings, clock=clock), bare_app(settings)
            with serve(portal_app) as portal, serve(floor_app) as bare:
                wait_healthy(portal.base)
                stack = portal.stack
                users = portal.call(cases.add_accounts(portal.shared, ACCOUNTS))
                # The measured sessions' accounts sign in nowhere else: the Settings tab lists
                # where its account is signed in, and must stay the tab the floor renders.
                measured, others = users[:SESSIONS], users[SESSIONS:]
                transfer = measure(portal.base, others[0], PASSWORD)
                cookies = [cases.sign_in(portal.base, user) for user in measured]
                tab = cases.measure_tab(portal, capture, cookies[0], seconds)
                rows = [
                    cases.tab_vs_floor(portal, bare, tab, seconds, production),
                    cases.django_peer(
                        portal,
                        tab,
                        users[0],
                        cookies[0],
                        tmp,
                        POSTGRES_DSN if production else None,
                        seconds,
                    ),
                    cases.tab_during_storm(portal, capture, cookies[0], others, seconds),
                    cases.signin_vs_verify(portal, capture, others, 20 if seconds < 10 else 40),
                    cases.writes_under_load(portal, clock, cookies, seconds),
                    cases.lookup_flat(portal, cookies[0], seconds),
                    Row(
                        "6a. first load of /login, all assets, gzip",
                        f"{transfer.first_load:,} B",
                        f"≤ {FIRST_LOAD_BUDGET:,} B",
                        transfer.first_load <= FIRST_LOAD_BUDGET,
                        [f"{size:>7,} B  {url}" for url, size in transfer.first_load_parts.items()],
                    ),
                    Row(
                        "6b. one tab switch (htmx)",
                        f"{transfer.tab_switch:,} B",
                        f"≤ {TAB_SWITCH_BUDGET:,} B",
                        transfer.tab_switch <= TAB_SWITCH_BUDGET,
                    ),
                    Row(
                        "6c. first load of /phone with the softphone, all assets, gzip",
                        f"{transfer.phone_load:,} B",
                        f"≤ {PHONE_LOAD_BUDGET:,} B",
                        transfer.phone_load <= PHONE_LOAD_BUDGET,
                        [f"{size:>7,} B  {url}" for url, size in transfer.phone_load_parts.items()],
                    ),
                    ready_row(portal.base, others[0], sip is not None, no_sip, seconds),
                ]
    return where.name, stack, rows


def ready_row(base: str, username: str, have_sip: bool, no_sip: str, seconds: float) -> Row:
    """Case 7, or why it could not run here (that is no missed goal)."""
    case = "7. signed-in page load to Ready, p50 (Chromium, Kamailio, loopback)"
    goal = f"< {phone.READY_GOAL_MS:.0f} ms"
    if not have_sip:
        return Row(case, "not measured", goal, True, [f"no Kamailio: {no_sip}"])
    try:
        times = phone.ready_times(base, username, PASSWORD, 10 if seconds < 10 else 30)
    except Exception as exc:  # noqa: BLE001 - a browser that cannot run: say so, go on
        return Row(case, "not measured", goal, True, [f"{type(exc).__name__}: {exc}"])
    p50, details = phone.summary(times)
    return Row(case, f"{p50:.0f} ms", goal, p50 < phone.READY_GOAL_MS, details)


def print_table(title: str, rows: list[Row]) -> None:
    print(title)
    print()
    width = max(len(r.case) for r in rows)
    result_width = max(len(r.result) for r in rows)
    goal_width = max(len(r.goal) for r in rows)
    print(f"| {'case':<{width}} | {'result':>{result_width}} | {'goal':<{goal_width}} | ok |")
    print(f"|{'-' * (width + 2)}|{'-' * (result_width + 2)}|{'-' * (goal_width + 2)}|----|")
    for r in rows:
        mark = "✓" if r.ok else "✗"
        result, goal = f"{r.result:>{result_width}}", f"{r.goal:<{goal_width}}"
        print(f"| {r.case:<{width}} | {result} | {goal} | {mark}  |")
    print()
    for r in rows:
        for line in r.details:
            label = r.case.split(".")[0] + "." if r.case[0].isdigit() else "-"
            print(f"  {label} {line}")


def header(mode: str, generator: str = "Debian wrk", server: str | None = None) -> str:
    served = f"\nserver: {server}, one process" if server else ""
    return (
        f"portal benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {mode}\n"
        f"machine: {machine()}; python {sys.version.split()[0]}; load: {generator}, loopback"
        + served
    )


def compare_servers(seconds: float, production: bool, rounds: int) -> int:
    from bench import servers

    try:
        load.wrk_path()
    except load.LoadError as exc:
        print(exc, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name, storage(production, Path(tmp_name)) as where:
        settings = Settings(
            database_url=where.database_url,
            redis_url=where.redis_url,
            redis_prefix=where.redis_prefix,
            secret_key="bench",  # noqa: S106 - a throwaway key for a throwaway database
            base_url=BASE_URL,
        )
        env = {
            "PORTAL_DATABASE_URL": where.database_url,
            "PORTAL_SECRET_KEY": "bench",
            "PORTAL_BASE_URL": BASE_URL,
        }
        if where.redis_url:
            env |= {"PORTAL_REDIS_URL": where.redis_url, "PORTAL_REDIS_PREFIX": where.redis_prefix}
        from portal.app import create_app

        # The accounts, made through the app itself, as in a normal run.
        with serve(create_app(settings)) as setup:
            users = setup.call(cases.add_accounts(setup.shared, ACCOUNTS))
        forms = cases.login_forms(settings, len(users))
        rows = servers.compare(env, forms, users, seconds, rounds, Path(tmp_name))
    title = header(
        f"{where.name}, {seconds:g} s per case, {rounds} rounds, servers side by side",
        server="uvicorn (httptools, uvloop) against granian (ASGI, uvloop), each",
    )
    print_table(title, rows)
    return 0 if all(r.ok for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each case")
    parser.add_argument("--quick", action="store_true", help="3 s per case")
    parser.add_argument("--production", action="store_true", help="PostgreSQL + Redis")
    parser.add_argument("--soak", action="store_true", help="fixed-rate soak instead")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length")
    parser.add_argument("--rate", type=float, default=50.0, help="soak requests per second")
    parser.add_argument("--servers", action="store_true", help="uvicorn against granian")
    parser.add_argument("--rounds", type=int, default=2, help="--servers: rounds per server")
    args = parser.parse_args(argv)

    if args.servers:
        return compare_servers(3.0 if args.quick else args.seconds, args.production, args.rounds)

    if args.soak:
        from bench.soak import soak

        with tempfile.TemporaryDirectory() as tmp, storage(args.production, Path(tmp)) as where:
            env = {"PORTAL_DATABASE_URL": where.database_url}
            if where.redis_url:
                env |= {
                    "PORTAL_REDIS_URL": where.redis_url,
                    "PORTAL_REDIS_PREFIX": where.redis_prefix,
                }
            result = soak(args.minutes, args.rate, env)
        growth = result.rss_end_kib - result.rss_start_kib
        rows = [
            Row(
                "soak errors",
                f"{result.errors} of {result.requests:,}",
                "0",
                result.errors == 0,
                [result.first_error] if result.first_error else [],
            ),
            Row(
                "worker memory (RSS), start → end",
                f"{result.rss_start_kib / 1024:.0f} → {result.rss_end_kib / 1024:.0f} MiB",
                "reported",
                True,
                [f"growth {growth / 1024:+.1f} MiB over {result.minutes:g} min"],
            ),
        ]
        title = header(
            f"soak, {where.name}: {result.minutes:g} min at {result.rate:g} req/s, `portal serve`",
            "httpx2 at a fixed rate (open loop)",
        )
        print_table(title, rows)
        return 0 if result.errors == 0 else 1

    seconds = 3.0 if args.quick else args.seconds
    try:
        load.wrk_path()
    except load.LoadError as exc:
        print(exc, file=sys.stderr)
        return 2
    mode, stack, rows = run_cases(seconds, args.production)
    print_table(header(f"{mode}, {seconds:g} s per case", server=stack), rows)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
