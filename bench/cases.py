"""The measured cases, each side by side with its reference in the same run."""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from argon2 import PasswordHasher, Type
from sqlalchemy import delete, func, insert, select

from bench import load
from bench.peers.django import run as peer
from bench.server import AccessCapture, Served, free_port
from bench.transfer import form_token
from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.domain import accounts
from portal.security.redisstore import RedisStore
from portal.security.sessionstore import SESSIONS, DatabaseStore, Slide, new_session_id
from portal.web import csrf
from portal.web.shared import Shared

PASSWORD = "measured passphrase 42"  # noqa: S105 - the benchmark's own throwaway accounts
TENANT = "bench"
COOKIE = "portal_session"
TAB = "/settings"
HX = {"HX-Request": "true"}


@dataclass
class Row:
    case: str
    result: str
    goal: str
    ok: bool
    details: list[str] = field(default_factory=list)


@dataclass
class BenchClock(Clock):
    """The app's clock; case 4 runs it faster so a short run spans minutes of session time.

    Sliding is driven by this clock only (the middleware and the store), so a faster clock
    shows the write rate per session-minute without waiting minutes of wall time.
    """

    speed: float = 1.0
    since: float = 0.0

    def __call__(self) -> float:
        now = time.time()
        return now + self.offset + (now - self.since) * (self.speed - 1)

    def set_speed(self, speed: float) -> None:
        current = self()
        self.since = time.time()
        self.offset = current - self.since
        self.speed = speed


# --- setup ------------------------------------------------------------------------------------


def username(number: int) -> str:
    return f"{number}-{TENANT}"


async def add_accounts(portal: Shared, count: int) -> list[str]:
    """The tenant and `count` extensions, hashed at the configured argon2 parameters."""
    async with portal.db() as db:
        await accounts.create_tenant(db, TENANT, "Bench")
        for number in range(1, count + 1):
            await accounts.create_extension(
                db, portal.passwords, f"{number}-{TENANT}", f"Bench {number}", password=PASSWORD
            )
    return [username(n) for n in range(1, count + 1)]


def login_forms(settings: Settings, count: int) -> list[tuple[str, str]]:
    """`count` sign-in forms as GET /login hands them out: (Cookie header, CSRF token).

    The token is bound to a cookie, not to anything stored, so making them costs the server
    nothing, as the page itself does not; the HTML is left out.
    """
    forms = []
    for _ in range(count):
        nonce = secrets.token_urlsafe(32)
        token = csrf.cookie_token(settings.secret_key, nonce)
        forms.append((f"{csrf.cookie_name(https=settings.https)}={nonce}", token))
    return forms


def sign_in(base: str, user: str) -> str:
    """A real sign-in over HTTP; returns the signed-in session cookie."""
    with httpx2.Client(base_url=base) as browser:
        token = form_token(browser.get("/login"))
        done = browser.post(
            "/login", data={"username": user, "password": PASSWORD, "csrf_token": token}
        )
        assert done.status_code == 303, f"sign-in as {user} failed: {done.status_code}"
        return str(browser.cookies[COOKIE])


def tab_headers(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}", **HX}


def fmt_load(name: str, result: load.Load) -> str:
    bad = f", {result.bad_status} non-2xx/3xx" if result.bad_status else ""
    errors = f", {result.socket_errors} socket errors" if result.socket_errors else ""
    return (
        f"{name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms ({result.requests:,} requests{bad}{errors})"
    )


# --- 1a. the tab partial against the render-only floor ----------------------------------------

FLOOR_SHARE = 0.5  # of the floor's requests per second, embedded profile
FLOOR_SHARE_PRODUCTION = 0.4  # with PostgreSQL and Redis: a network round trip for the session
FLOOR_P99 = 2.0  # at most this many times the floor's p99


def measure_tab(portal: Served, capture: AccessCapture, cookie: str, seconds: float) -> load.Load:
    """The tab under 16 connections; every answer must have been the tab itself (a 200), not a
    redirect to sign-in, which wrk would count as a success."""
    mark = len(capture.records)
    # One wrk thread: the other core is left to the server (one process, one event loop).
    tab = load.run(
        load.wrk_command(
            portal.base + TAB, seconds=seconds, connections=16, headers=tab_headers(cookie)
        )
    )
    statuses = Counter(r.status for r in capture.since(mark, "GET", TAB))
    if set(statuses) != {200}:
        raise load.LoadError(f"the tab answered other than 200 under load: {dict(statuses)}")
    return tab


def tab_vs_floor(
    portal: Served, bare: Served, tab: load.Load, seconds: float, production: bool
) -> Row:
    """The whole signed-in tab against its fragment rendered by a bare endpoint, same server."""
    floor = load.run(
        load.wrk_command(bare.base + "/render", seconds=seconds, connections=16, headers=HX)
    )
    empty = load.run(load.wrk_command(bare.base + "/bare", seconds=seconds, connections=16))
    share = FLOOR_SHARE_PRODUCTION if production else FLOOR_SHARE
    ratio, p99 = tab.rps / floor.rps, tab.p99_ms / floor.p99_ms
    return Row(
        "1a. tab partial / render-only floor, req/s",
        f"{ratio:.2f} (p99 {p99:.1f}x)",
        f"≥ {share:.2f}, p99 ≤ {FLOOR_P99:g}x",
        ratio >= share and p99 <= FLOOR_P99 and tab.bad_status == 0,
        [
            fmt_load("tab partial", tab),
            fmt_load("render-only floor", floor)
            + ": the tab's fragment rendered by a bare endpoint, nothing else",
            fmt_load("empty endpoint", empty)
            + f": a bare Starlette 'ok' (the tab is {tab.rps / empty.rps:.2f} of it)",
        ],
    )


# --- 1b. the tab partial against a Django peer ------------------------------------------------

PEER_RPS = 6.0  # at least this many times the peer's requests per second
PEER_P99 = 5.0  # and at most this fraction (1/PEER_P99) of its p99


PEER_GOAL = f"≥ {PEER_RPS:g}x, p99 ≤ 1/{PEER_P99:g}"


def tab_vs_peer(tab: load.Load, django: load.Load, django_statuses: Counter[int]) -> Row:
    """The portal's tab against the same tab built the obvious Django way (bench.peers.django),
    loaded by the same wrk command in the same run."""
    rps, p99 = tab.rps / django.rps, django.p99_ms / tab.p99_ms
    peer_ok = set(django_statuses) == {200}
    return Row(
        "1b. tab partial / Django peer, req/s",
        f"{rps:.1f}x (p99 1/{p99:.1f})",
        PEER_GOAL,
        rps >= PEER_RPS and p99 >= PEER_P99 and peer_ok and django.bad_status == 0,
        [
            fmt_load("tab partial", tab),
            fmt_load("Django peer", django)
            + ": Django 5.2, sessions in the database saved every request, gunicorn, 1 sync worker",
            *([] if peer_ok else [f"the peer answered other than 200: {dict(django_statuses)}"]),
        ],
    )


def django_peer(
    portal: Served,
    tab: load.Load,
    user: str,
    cookie: str,
    tmp: Path,
    postgres_dsn: str | None,
    seconds: float,
) -> Row:
    """Case 1b: the peer on the run's kind of database, with the portal's own tab markup."""
    fragment = httpx2.get(portal.base + TAB, headers=tab_headers(cookie)).text
    try:
        with (
            peer.database(tmp, postgres_dsn) as url,
            peer.peer_server(tmp, url, fragment, user, PASSWORD, free_port()) as server,
        ):
            answer = httpx2.get(server.base + TAB, headers={"Cookie": server.cookie_header, **HX})
            if answer.status_code != 200 or not peer.same_markup(answer.text, fragment):
                raise peer.PeerError("the peer's tab is not the portal's markup")
            mark = len(server.access_log.read_text().splitlines())
            result = load.run(
                load.wrk_command(
                    server.base + TAB,
                    seconds=seconds,
                    connections=16,
                    headers={"Cookie": server.cookie_header, **HX},
                )
            )
            statuses = peer.statuses(server.access_log, mark, "GET", TAB)
    except peer.PeerError as exc:
        case = "1b. tab partial / Django peer, req/s"
        return Row(case, "not measured", PEER_GOAL, False, [str(exc)])
    return tab_vs_peer(tab, result, statuses)


# --- 2. tab switches during a sign-in storm ---------------------------------------------------


def storm_script(forms: list[tuple[str, str]], users: list[str], directory: Path) -> Path:
    requests = []
    for i, (cookie, token) in enumerate(forms):
        body = f"username={users[i % len(users)]}&password={PASSWORD.replace(' ', '+')}"
        requests.append(
            (
                "POST",
                "/login",
                {
                    "Cookie": cookie,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                f"{body}&csrf_token={token}",
            )
        )
    return load.rotating_script(directory / "storm.lua", requests)


def tab_during_storm(
    portal: Served, capture: AccessCapture, cookie: str, users: list[str], seconds: float
) -> Row:
    tab = load.wrk_command(
        portal.base + TAB, seconds=seconds, connections=4, headers=tab_headers(cookie)
    )
    idle = load.run(tab)
    # A form is not used up by signing in (its token is bound to a cookie): one per account.
    forms = login_forms(portal.shared.settings, len(users))
    with tempfile.TemporaryDirectory() as tmp:
        script = storm_script(forms, users, Path(tmp))
        mark = len(capture.records)
        storm = load.start(
            load.wrk_command(
                portal.base + "/login", seconds=seconds + 2, connections=4, script=script
            )
        )
        time.sleep(1)  # let the storm reach its pace before measuring beside it
        busy = load.run(tab)
        load.finish(storm)
    posts = capture.since(mark, "POST", "/login")
    succeeded = sum(1 for r in posts if r.status == 303)
    ratio = busy.p99_ms / idle.p99_ms
    return Row(
        "2. tab p99 during sign-in storm / idle",
        f"{ratio:.2f}x",
        "≤ 2x",
        ratio <= 2 and busy.bad_status == 0,
        [
            fmt_load("idle", idle),
            fmt_load("during storm", busy),
            f"storm: {succeeded} sign-ins succeeded of {len(posts)} posts "
            f"({succeeded / (seconds + 2):.1f}/s, 4 connections, {len(users)} accounts)",
        ],
    )


# --- 3. sign-in server time against one argon2 verify -----------------------------------------


def settle(
    portal: Served, capture: AccessCapture, through_hashing: Callable[[], Awaitable[float]]
) -> None:
    """Let the sign-ins of a case before finish: the hashes queued (a call through the queue
    comes back once they ran), then their answers, until none is logged for half a second.
    Left running, they would queue before this case's sign-ins and count as theirs."""
    portal.call(through_hashing())
    seen = -1
    while seen != len(capture.records):
        seen = len(capture.records)
        time.sleep(0.5)


def signin_vs_verify(portal: Served, capture: AccessCapture, users: list[str], count: int) -> Row:
    settings = portal.shared.settings
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    passwords = portal.shared.passwords

    def timed_verify() -> float:
        started = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        return (time.perf_counter() - started) * 1000

    async def verify_in_hashing_thread() -> float:
        return await passwords.in_hashing_thread(timed_verify)

    # The reference verifies run in the thread that verifies sign-ins (the same core and memory
    # arena), one beside each sign-in, so that the shared machine's speed, which drifts within
    # seconds, is the same on both sides.
    forms = login_forms(portal.shared.settings, count)
    settle(portal, capture, verify_in_hashing_thread)
    mark = len(capture.records)
    verify = []
    with httpx2.Client(base_url=portal.base) as client:
        for i, (cookie, token) in enumerate(forms):
            verify.append(portal.call(verify_in_hashing_thread()))
            # One at a time, so neither waits on the other's hashing.
            response = client.post(
                "/login",
                data={"username": users[i % len(users)], "password": PASSWORD, "csrf_token": token},
                headers={"Cookie": cookie},
            )
            client.cookies.clear()  # the next form brings its own session
            assert response.status_code == 303, f"sign-in failed: {response.status_code}"
    # The app's own access log times each request from its first middleware to the last byte.
    server = [r.ms for r in capture.since(mark, "POST", "/login")]
    signin_ms, verify_ms = statistics.median(server), statistics.median(verify)
    overhead = signin_ms / verify_ms - 1
    return Row(
        "3. sign-in server time over argon2 verify",
        f"{overhead:+.0%}",
        "≤ +15%",
        overhead <= 0.15,
        [
            f"sign-in (server, median of {len(server)}): {signin_ms:.1f} ms; one verify "
            f"(m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
            f"p={settings.argon2_parallelism}, median of {count}): {verify_ms:.1f} ms"
        ],
    )


# --- 4. store writes per authenticated request ------------------------------------------------

SPEED = 30  # case 4's clock: 10 s of wall time is 5 minutes of session time


def writes_under_load(portal: Served, clock: BenchClock, cookies: list[str], seconds: float) -> Row:
    store = portal.shared.store
    writes: list[tuple[str, float]] = []  # (session id, app time) of each write that landed
    write, slide = store.write, store.slide

    # Each write is stamped with the app time it was decided at (a slide's own SEEN), not when
    # it finished: at x30 a 30 ms write would move the stamp by a second of session time.
    async def recorded_write(
        session_id: str, data: bytes, lifetime: int, ttl: float, owner: int | None = None
    ) -> bool:
        at = store.clock()
        done = await write(session_id, data, lifetime, ttl, owner)
        if done:
            writes.append((session_id, at))
        return done

    async def recorded_slide(
        session_id: str, data: bytes, seen: float, ttl: float, gap: float, owner: int | None = None
    ) -> Slide:
        done = await slide(session_id, data, seen, ttl, gap, owner)
        if done is Slide.SLID:
            writes.append((session_id, seen))
        return done

    requests = [("GET", TAB, tab_headers(c), "") for c in cookies]
    with tempfile.TemporaryDirectory() as tmp:
        script = load.rotating_script(Path(tmp) / "tabs.lua", requests)
        store.write = recorded_write  # type: ignore[method-assign]
        store.slide = recorded_slide  # type: ignore[method-assign]
        before, started = store.writes, clock()
        clock.set_speed(SPEED)
        try:
            result = load.run(
                load.wrk_command(portal.base + TAB, seconds=seconds, connections=16, script=script)
            )
        finally:
            clock.set_speed(1.0)
            del store.write, store.slide  # back to the class's methods
    minutes = (clock() - started) / 60
    total = store.writes - before
    # The goal per session: within any 60 s of session time, at most one write.
    worst = 0
    for cookie in {sid for sid, _ in writes}:
        times = sorted(t for sid, t in writes if sid == cookie)
        for i, t in enumerate(times):
            worst = max(worst, sum(1 for u in times[i:] if u - t < 60))
    per_session_minute = total / len(cookies) / minutes
    return Row(
        "4. store writes per session-minute",
        f"{per_session_minute:.2f} (max {worst})",
        "≤ 1 in any minute",
        worst <= 1 and result.bad_status == 0,
        [
            f"{total} writes for {result.requests:,} authenticated requests "
            f"({total / max(1, result.requests):.5f} per request), {len(cookies)} sessions, "
            f"{minutes:.1f} min of session time (clock x{SPEED} for {seconds:.0f} s); "
            f"most writes by one session within 60 s: {worst}"
        ],
    )


# --- 5. session lookup with 100,000 sessions stored -------------------------------------------


async def keep_only(portal: Shared, cookie: str) -> None:
    """Remove every session but `cookie`'s, so the counts below are exact."""
    store = portal.store
    if isinstance(store, DatabaseStore):
        async with store.engine.begin() as conn:
            await conn.execute(delete(SESSIONS).where(SESSIONS.c.id != store.storage_key(cookie)))
    elif isinstance(store, RedisStore):
        keep = session_key(portal, cookie)
        pattern = portal.settings.redis_prefix + "session:*"
        async for key in store.redis.scan_iter(match=pattern, count=1000):
            if key.decode() != keep:
                await store.redis.delete(key)


def session_key(portal: Shared, cookie: str) -> str:
    return f"{portal.settings.redis_prefix}session:{portal.store.storage_key(cookie)}"


async def stored_sessions(portal: Shared) -> int:
    store = portal.store
    if isinstance(store, DatabaseStore):
        async with store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(SESSIONS)) or 0)
    assert isinstance(store, RedisStore)
    pattern = portal.settings.redis_prefix + "session:*"
    return len([k async for k in store.redis.scan_iter(match=pattern, count=5000)])


async def fill_sessions(portal: Shared, cookie: str, total: int) -> None:
    """Add live sessions (copies of `cookie`'s data under fresh ids) until `total` are stored."""
    store = portal.store
    data = await store.read(cookie, portal.settings.session_idle_seconds)
    assert data, "the measured session is gone"
    expires = portal.clock() + portal.settings.session_idle_seconds
    missing = total - await stored_sessions(portal)
    while missing > 0:
        ids = [store.storage_key(new_session_id()) for _ in range(min(missing, 5000))]
        if isinstance(store, DatabaseStore):
            async with store.engine.begin() as conn:
                await conn.execute(
                    insert(SESSIONS), [{"id": i, "data": data, "expires_at": expires} for i in ids]
                )
        else:
            assert isinstance(store, RedisStore)
            ttl = int(portal.settings.session_idle_seconds * 1000)
            async with store.redis.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.set(f"{portal.settings.redis_prefix}session:{i}", data, px=ttl)
                await pipe.execute()
        missing -= len(ids)


def lookup_flat(portal: Served, cookie: str, seconds: float) -> Row:
    runs: dict[int, load.Load] = {}
    portal.call(keep_only(portal.shared, cookie))
    for total in (1_000, 100_000):
        portal.call(fill_sessions(portal.shared, cookie, total))
        stored = portal.call(stored_sessions(portal.shared))
        assert stored == total, f"{stored} sessions stored, wanted {total}"
        runs[total] = load.run(
            load.wrk_command(
                portal.base + TAB, seconds=seconds, connections=16, headers=tab_headers(cookie)
            )
        )
    small, large = runs[1_000], runs[100_000]
    p50, p99, rps = (
        large.p50_ms / small.p50_ms,
        large.p99_ms / small.p99_ms,
        large.rps / small.rps,
    )
    ok = p50 <= 1.25 and rps >= 0.8 and large.bad_status == 0
    return Row(
        "5. lookup, 100,000 / 1,000 sessions, p50",
        f"{p50:.2f}x",
        "flat (≤ 1.25x)",
        ok,
        [
            f"ratios at 100,000 / 1,000: p50 {p50:.2f}x, p99 {p99:.2f}x, req/s {rps:.2f}x",
            fmt_load("1,000 sessions", small),
            fmt_load("100,000 sessions", large),
        ],
    )
