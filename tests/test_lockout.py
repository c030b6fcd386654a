"""Sign-in lockouts: the full wait from the failure that locks, and limits that hold in a burst.

The first tests drive the portal (both profiles); the last ones the counters themselves, in
memory and in Redis, at times the test chooses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from redis.asyncio import Redis
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.security.lockout import (
    HOLD_SECONDS,
    Counters,
    Full,
    Limit,
    Locked,
    MemoryCounters,
    RedisCounters,
    Taken,
)
from tests.conftest import PASSWORD, REDIS_URL, Account, Auth, csrf_from
from tests.test_throttle import LOCKED, fail, new_client

WINDOW = 3  # seconds: the policy shrunk so a test can outwait it
CEILING = 20  # failures per address: shrunk so a burst can pass it


@pytest.fixture
def window() -> int:
    return WINDOW


@pytest.fixture
def settings(settings: Settings, window: int) -> Settings:
    return replace(settings, login_lockout_seconds=window, login_ip_max_failures=CEILING)


def test_the_wait_runs_in_full_from_the_failure_that_locked(auth: Auth, account: Account) -> None:
    """Failures spread over the window: the lock does not lift when the first one ages out."""
    fail(auth, 1)
    first = time.monotonic()
    time.sleep(WINDOW * 0.4)  # the next four must land before the first ages out
    fail(auth, 4)
    locked_at = time.monotonic()
    assert auth.login().status_code == 429
    time.sleep(max(0.0, first + WINDOW + 0.3 - time.monotonic()))  # the first failure is out
    assert auth.login().status_code == 429  # still the full wait
    time.sleep(max(0.0, locked_at + WINDOW + 0.2 - time.monotonic()))
    assert auth.login().headers["location"] == "/phone"


def test_the_wait_counts_down_on_the_portals_clock(settings: Settings, account: Account) -> None:
    clock = Clock()
    app = create_app(replace(settings, login_lockout_seconds=900), clock=clock)
    with new_client(app) as client:
        auth = Auth(client)
        fail(auth, 1)
        clock.offset += 600  # ten minutes later, four more
        fail(auth, 4)
        assert _wait_minutes(auth) == 15
        clock.offset += 301  # the first failure is now over 15 minutes old: still locked
        assert _wait_minutes(auth) == 10
        clock.offset += 600
        assert auth.login().headers["location"] == "/phone"


def _wait_minutes(auth: Auth) -> int:
    response = auth.login()
    assert response.status_code == 429
    match = LOCKED.search(response.text)
    assert match, response.text
    return int(match.group(1))


def _together(client: TestClient, forms: list[dict[str, str]]) -> list[int]:
    """POST every form to /login at once, each as a fresh browser that has the login page."""
    page = client.get("/login")
    cookie = f"portal_csrf={client.cookies['portal_csrf']}"
    token = csrf_from(page.text)
    client.cookies.clear()

    def post(form: dict[str, str]) -> int:
        data = {**form, "csrf_token": token}
        return client.post("/login", data=data, headers={"Cookie": cookie}).status_code

    with ThreadPoolExecutor(max_workers=len(forms)) as pool:
        return list(pool.map(post, forms))


def test_simultaneous_right_passwords_are_all_let_in(client: TestClient, account: Account) -> None:
    form = {"username": account.username, "password": PASSWORD}
    assert _together(client, [form] * 8) == [303] * 8


# A full-length window: a burst that outlasts a shrunk one (a loaded machine) would rightly
# let the failures that aged out be followed by more.
@pytest.mark.parametrize("window", [900])
def test_the_address_ceiling_holds_in_a_burst(
    client: TestClient, verifies: list[str | None]
) -> None:
    """Wrong sign-ins at once from one address, 5 for each name: the ceiling's worth are checked."""
    names = [f"{200 + n}-wickedsprockets" for n in range(12)]
    statuses = _together(client, [{"username": n, "password": "wrong"} for n in names * 5])
    assert len(verifies) == CEILING
    assert statuses.count(200) == CEILING
    assert statuses.count(429) == len(statuses) - CEILING


# --- the counters themselves ----------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters(window=900)
        return
    request.getfixturevalue("redis_available")
    prefix = f"portal-test:{uuid.uuid4().hex[:12]}:"
    client = Redis.from_url(REDIS_URL)
    try:
        yield RedisCounters(client, prefix, window=900)
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


ACCOUNT = (Limit("account", 5),)
T0 = 1_800_000_000.0


async def _fail_at(counters: Counters, now: float, times: int = 1) -> None:
    for _ in range(times):
        token = uuid.uuid4().hex
        assert await counters.take(ACCOUNT, token, now) == Taken()
        await counters.fail(ACCOUNT, token, now)


@pytest.mark.anyio
async def test_the_fifth_failure_locks_for_the_whole_window(counters: Counters) -> None:
    await _fail_at(counters, T0)
    await _fail_at(counters, T0 + 600, times=4)
    locked = await counters.take(ACCOUNT, "t", T0 + 1499)
    assert locked == Locked(0, until=T0 + 1500, since=T0)
    assert await counters.take(ACCOUNT, "t", T0 + 1500.5) == Taken()


@pytest.mark.anyio
async def test_a_failure_says_how_many_each_counter_still_allows(counters: Counters) -> None:
    both = (Limit("address", 20), Limit("account", 3))
    answers = []
    for n in range(3):
        assert await counters.take(both, f"t{n}", T0) == Taken()
        answers.append(await counters.fail(both, f"t{n}", T0))
    assert answers == [[19, 2], [18, 1], [17, 0]]  # the third locked the account's counter
    # A repeat (a retried script) counts nowhere, and still says where things stand.
    assert await counters.fail(both, "t2", T0) == [17, 0]


@pytest.mark.anyio
async def test_failures_older_than_the_window_no_longer_count(counters: Counters) -> None:
    await _fail_at(counters, T0, times=4)
    await _fail_at(counters, T0 + 901)
    await _fail_at(counters, T0 + 902, times=3)
    assert isinstance(await counters.take(ACCOUNT, "t", T0 + 903), Taken)


@pytest.mark.anyio
async def test_checks_in_flight_hold_the_places_until_they_end(counters: Counters) -> None:
    for n in range(5):
        assert await counters.take(ACCOUNT, f"t{n}", T0) == Taken()
    assert await counters.take(ACCOUNT, "sixth", T0) == Full(0)
    await counters.release(["account"], "t0", T0, forget=["account"])  # a right password
    assert await counters.take(ACCOUNT, "sixth", T0) == Taken()
    for n in range(1, 5):
        await counters.fail(ACCOUNT, f"t{n}", T0)
    await counters.fail(ACCOUNT, "sixth", T0)
    assert isinstance(await counters.take(ACCOUNT, "seventh", T0), Locked)


@pytest.mark.anyio
async def test_a_hold_whose_check_never_ended_lapses(counters: Counters) -> None:
    for n in range(5):
        await counters.take(ACCOUNT, f"t{n}", T0)
    assert await counters.take(ACCOUNT, "later", T0 + HOLD_SECONDS - 1) == Full(0)
    assert await counters.take(ACCOUNT, "later", T0 + HOLD_SECONDS + 1) == Taken()


@pytest.mark.anyio
async def test_a_failure_counted_twice_counts_once(counters: Counters) -> None:
    """Redis commands are retried once after a broken connection: a repeat must not count."""
    for n in range(4):
        await counters.take(ACCOUNT, f"t{n}", T0)
        await counters.fail(ACCOUNT, f"t{n}", T0)
        await counters.fail(ACCOUNT, f"t{n}", T0)
    assert await counters.take(ACCOUNT, "other", T0) == Taken()


@pytest.mark.anyio
async def test_both_counters_or_neither(counters: Counters) -> None:
    both = (Limit("address", 1), Limit("account", 5))
    assert await counters.take(both, "first", T0) == Taken()
    assert await counters.take(both, "second", T0) == Full(0)
    assert await counters.take(ACCOUNT, "alone", T0) == Taken()  # "second" held nothing
    await counters.fail(both, "first", T0)
    assert await counters.take(both, "third", T0) == Locked(0, until=T0 + 900, since=T0)


@pytest.mark.anyio
async def test_an_unlock_lifts_only_a_lock_of_older_failures(counters: Counters) -> None:
    await _fail_at(counters, T0, times=5)
    assert not await counters.lift("account", unlocked_at=T0 - 1, now=T0 + 1)
    assert await counters.lift("account", unlocked_at=T0 + 0.5, now=T0 + 1)
    assert await counters.take(ACCOUNT, "t", T0 + 1) == Taken()
    await counters.release(["account"], "t", T0 + 1)
    await _fail_at(counters, T0 + 2, times=5)
    assert not await counters.lift("account", unlocked_at=T0 + 0.5, now=T0 + 3)


@pytest.mark.anyio
async def test_redis_keeps_a_counter_only_while_it_matters(
    redis_available: str, redis_prefix: str
) -> None:
    client = Redis.from_url(redis_available)
    try:
        counters = RedisCounters(client, redis_prefix, window=900)
        now = time.time()
        await _fail_at(counters, now, times=5)
        assert 899_000 < await client.pttl(redis_prefix + "account") <= 900_000
        await counters.release([], "", now, forget=["account"])
        assert await client.exists(redis_prefix + "account") == 0
    finally:
        await client.aclose()
