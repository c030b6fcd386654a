"""Server-side sessions: the stores (SQLite, PostgreSQL, Redis) and the sliding middleware."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg
import pytest
import redis as redis_sync
from redis.asyncio import Redis
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, insert, text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from portal.base import db, lookups
from portal.base.clock import Clock
from portal.base.db import make_engine, make_sessionmaker
from portal.domain import accounts, audit
from portal.security import redisstore
from portal.security.alongside import store_apart
from portal.security.passwords import Passwords
from portal.security.redisstore import RedisStore
from portal.security.sessionstore import DatabaseStore, Owner, PortalStore, Slide
from portal.web import guard
from tests.conftest import PASSWORD, REDIS_URL, Account, Auth, csrf_from, truncate_postgres


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def store(
    request: pytest.FixtureRequest, sqlite_url: str, redis_prefix: str
) -> AsyncIterator[PortalStore]:
    if request.param == "redis":
        request.getfixturevalue("redis_available")
        client = Redis.from_url(REDIS_URL)
        yield RedisStore(client, "k", prefix=redis_prefix)
        await client.aclose()
        return
    if request.param == "sqlite":
        url = sqlite_url
    else:
        url = request.getfixturevalue("postgres_schema")
        truncate_postgres(url)
    engine = make_engine(url)
    yield DatabaseStore(engine, "k")
    await db.dispose(engine)


async def owners(store: PortalStore, count: int) -> list[Owner]:
    """`count` owners a store will index sessions under: in a database, real extensions (a
    session names one by foreign key, and is stored only under its current stamp)."""
    if not isinstance(store, DatabaseStore):
        return [Owner(7 + i, "s") for i in range(count)]
    passwords = Passwords(memory_kib=8, time_cost=1)  # a hash is needed, not its strength
    try:
        async with make_sessionmaker(store.engine)() as session:
            await accounts.create_tenant(session, "owners", "Owners")
            made = [
                (await accounts.create_extension(session, passwords, f"{200 + i}-owners", "O"))[0]
                for i in range(count)
            ]
    finally:
        passwords.close()
    return [Owner(e.id, accounts.credential_stamp(e)) for e in made]  # type: ignore[arg-type]


async def audit_rows(store: DatabaseStore) -> list[str]:
    query = text("SELECT username FROM audit_event")
    return await db.run(store.engine, lambda conn: list(conn.execute(query).scalars()))


@pytest.mark.anyio
async def test_work_alongside_a_new_session_is_committed_with_it(store: PortalStore) -> None:
    """The sign-in's audit row is stored in the transaction of the session it opens. Redis
    shares no transaction with the database: it refuses the work (the middleware commits it
    beside the Redis write instead)."""
    record = audit.pending("sign-in", "success", "201-wickedsprockets", "192.0.2.1")
    if not isinstance(store, DatabaseStore):
        assert not store.in_database
        with pytest.raises(ValueError, match="no transaction"):
            await store.create(b'{"a":1}', ttl=60, alongside=[record])
        return
    assert store.in_database
    assert "201-wickedsprockets" not in await audit_rows(store)
    session_id = await store.create(b'{"a":1}', ttl=60, alongside=[record])
    assert await store.read(session_id, 60) == b'{"a":1}'
    assert "201-wickedsprockets" in await audit_rows(store)


# A statement whose table is gone, as a failing alongside write.
_GONE = lookups.Write(
    insert(Table("gone", MetaData(), Column("x", Integer))).values(x=bindparam("x"))
)


class Broken:
    def write(self) -> tuple[lookups.Write, dict[str, Any]]:
        return _GONE, {"x": 1}

    def wrote(self, rows: int) -> None:
        raise AssertionError("never written")

    def stored(self) -> None:
        raise AssertionError("never stored, never told")


@pytest.mark.anyio
async def test_a_session_is_not_stored_when_its_alongside_work_fails(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    store = DatabaseStore(engine, "k")
    count = text("SELECT count(*) FROM web_session")
    try:
        before = await db.run(engine, lambda conn: conn.execute(count).scalar_one())
        with pytest.raises(DBAPIError, match="gone"):
            await store.create(b'{"a":1}', ttl=60, alongside=[Broken()])
        after = await db.run(engine, lambda conn: conn.execute(count).scalar_one())
    finally:
        await db.dispose(engine)
    assert after == before


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["sqlite", "postgres"])
async def test_work_stored_apart_is_all_or_nothing(
    where: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    """Beside a Redis session, the sign-in's audit row and notice are one transaction of their
    own (on PostgreSQL one round trip): when one statement fails, none is stored."""
    url = sqlite_url
    if where == "postgres":
        url = request.getfixturevalue("postgres_schema")
        truncate_postgres(url)
    engine = make_engine(url)
    store = DatabaseStore(engine, "k")
    first = audit.pending("sign-in", "success", "201-wickedsprockets", "192.0.2.1")
    second = audit.pending("sign-in", "success", "202-wickedsprockets", "192.0.2.1")
    try:
        with pytest.raises((DBAPIError, psycopg.Error), match="gone"):
            await store_apart(engine, [first, Broken()])
        assert await audit_rows(store) == []
        await store_apart(engine, [first, second])
        assert sorted(await audit_rows(store)) == ["201-wickedsprockets", "202-wickedsprockets"]
    finally:
        await db.dispose(engine)


@pytest.mark.anyio
async def test_create_issues_a_fresh_random_id_and_read_returns_the_data(
    store: PortalStore,
) -> None:
    first = await store.create(b'{"a":1}', ttl=60)
    second = await store.create(b'{"a":2}', ttl=60)
    assert first != second and len(first) == 43
    assert await store.read(first, 60) == b'{"a":1}'
    assert await store.read(second, 60) == b'{"a":2}'


@pytest.mark.anyio
async def test_a_session_and_its_owners_list_read_in_one_step(store: PortalStore) -> None:
    """What the Settings tab reads: the data `read` gives and, in the same step (Redis: one
    script; a database: one lookup), exactly what `owned` lists, a session signed out alone
    left out."""
    anonymous = await store.create(b'{"a":1}', ttl=60)
    assert await store.read_with_owned(anonymous, 60, "uid") == (b'{"a":1}', None)
    named = await store.create(b'{"uid":"7"}', ttl=60)  # no owner's id: no list
    assert await store.read_with_owned(named, 60, "uid") == (b'{"uid":"7"}', None)
    assert await store.read_with_owned("C" * 43, 60, "uid") == (b"", None)
    owner, other = await owners(store, 2)
    blob = b'{"uid":%d}' % owner.id
    mine = [await store.create(blob, ttl=60, owner=owner) for _ in range(3)]
    await store.create(b'{"uid":%d}' % other.id, ttl=60, owner=other)
    await store.remove(mine[2])  # in Redis, its index entry stays until the list is read

    data, listed = await store.read_with_owned(mine[0], 60, "uid")

    assert data == blob
    assert listed is not None and listed.owner == owner.id
    assert sorted(listed.sessions) == sorted((store.storage_key(s), blob) for s in mine[:2])
    assert sorted(listed.sessions) == sorted(await store.owned(owner.id))


@pytest.mark.anyio
async def test_a_list_kept_for_an_owner_is_never_one_from_before_a_change(
    store: PortalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `fill_cached` keeps comes back with the owner's sessions until `drop_cached`; a
    fill that read the version before a change is turned away. Database stores keep none."""
    if not isinstance(store, RedisStore):  # its lookups cost microseconds: nothing kept
        anonymous = await store.create(b'{"a":1}', ttl=60)
        await store.fill_cached(7, "things", b"x", "")
        assert await store.read_with_owned(anonymous, 60, "uid") == (b'{"a":1}', None)
        return
    mine = await store.create(b'{"uid":7}', ttl=60, owner=Owner(7, "s"))
    _, read = await store.read_with_owned(mine, 60, "uid")
    assert read is not None and read.cached == {}

    await store.drop_cached(7)  # a change lands between the read and the fill
    await store.fill_cached(7, "things", b"old", read.version)
    _, read = await store.read_with_owned(mine, 60, "uid")
    assert read is not None and read.cached == {}

    await store.fill_cached(7, "things", b"new", read.version)
    _, read = await store.read_with_owned(mine, 60, "uid")
    assert read is not None and read.cached == {"things": b"new"}

    await store.drop_cached(7)
    _, read = await store.read_with_owned(mine, 60, "uid")
    assert read is not None and read.cached == {}

    monkeypatch.setattr(redisstore, "CACHED_SECONDS", 0.2)  # a drop lost: it ends by itself
    await store.fill_cached(7, "things", b"new", read.version)
    await anyio.sleep(0.4)
    _, read = await store.read_with_owned(mine, 60, "uid")
    assert read is not None and read.cached == {}


@pytest.mark.anyio
async def test_create_replacing_an_id_deletes_it_in_the_same_step(store: PortalStore) -> None:
    old = await store.create(b'{"a":1}', ttl=60)
    new = await store.create(b'{"a":2}', ttl=60, replacing=old)
    assert await store.read(old, 60) == b""
    assert await store.read(new, 60) == b'{"a":2}'
    assert await store.write(old, b'{"a":3}', 60, 60) is False  # and it stays dead


@pytest.mark.anyio
async def test_a_replaced_id_is_known_as_such_for_a_minute(store: PortalStore) -> None:
    """...and is no session: the note can be neither read nor written as one."""
    store.clock = clock = Clock()
    old = await store.create(b'{"a":1}', ttl=600)
    new = await store.create(b'{"a":2}', ttl=600, replacing=old)
    assert await store.replaced(old)
    assert not await store.replaced(new)
    assert not await store.replaced("C" * 43)
    assert await store.read(old, 600) == b""
    assert await store.write(old, b'{"a":3}', 600, 600) is False
    assert await store.slide(old, _seen(clock()), clock(), 600, gap=60) is Slide.GONE
    # Two sign-ins racing over one id: both get a session, the id is noted once.
    await store.create(b'{"a":4}', ttl=600, replacing=old)
    assert await store.replaced(old)
    clock.offset += 61
    assert not await store.replaced(old)


@pytest.mark.anyio
async def test_write_never_creates_an_entry_for_an_id_the_server_did_not_issue(
    store: PortalStore,
) -> None:
    invented = "A" * 43
    assert await store.write(invented, b'{"uid":1}', 60, 60) is False
    assert await store.read(invented, 60) == b""


@pytest.mark.anyio
async def test_a_removed_session_stays_removed_when_a_late_write_arrives(
    store: PortalStore,
) -> None:
    session_id = await store.create(b'{"uid":1}', ttl=60)
    await store.remove(session_id)
    assert await store.write(session_id, b'{"uid":1,"late":true}', 60, 60) is False
    assert await store.read(session_id, 60) == b""


@pytest.mark.anyio
async def test_write_updates_a_live_session(store: PortalStore) -> None:
    session_id = await store.create(b"{}", ttl=60)
    assert await store.write(session_id, b'{"x":2}', 60, 60) is True
    assert await store.read(session_id, 60) == b'{"x":2}'


def _seen(seen: float) -> bytes:
    return f'{{"_seen":{seen},"uid":1}}'.encode()


@pytest.mark.anyio
async def test_a_slide_lands_once_per_gap(store: PortalStore) -> None:
    now = store.clock()
    session_id = await store.create(_seen(now - 100), ttl=500)
    before = store.writes

    assert await store.slide(session_id, _seen(now), now, 600, gap=60) is Slide.SLID
    assert await store.read(session_id, 600) == _seen(now)
    # A request that loaded the old data a moment ago slides again: the store says no.
    assert await store.slide(session_id, _seen(now + 5), now + 5, 600, gap=60) is Slide.FRESH
    assert await store.read(session_id, 600) == _seen(now)
    assert store.writes - before == 1


@pytest.mark.anyio
async def test_requests_sliding_together_write_once(store: PortalStore) -> None:
    now = store.clock()
    session_id = await store.create(_seen(now - 100), ttl=500)
    before = store.writes
    outcomes: list[Slide] = []

    async def slide(i: int) -> None:
        at = now + i / 1000
        outcomes.append(await store.slide(session_id, _seen(at), at, 600, gap=60))

    async with anyio.create_task_group() as tasks:
        for i in range(20):
            tasks.start_soon(slide, i)

    assert outcomes.count(Slide.SLID) == 1 and outcomes.count(Slide.FRESH) == 19
    assert store.writes - before == 1


@pytest.mark.anyio
async def test_a_slide_never_brings_an_ended_session_back(store: PortalStore) -> None:
    now = store.clock()
    session_id = await store.create(_seen(now - 100), ttl=500)
    await store.remove(session_id)
    assert await store.slide(session_id, _seen(now), now, 600, gap=60) is Slide.GONE
    assert await store.read(session_id, 600) == b""
    invented = "B" * 43
    assert await store.slide(invented, _seen(now), now, 600, gap=60) is Slide.GONE
    assert await store.read(invented, 600) == b""


@pytest.mark.anyio
async def test_entries_expire_in_the_store_itself(store: PortalStore) -> None:
    """The database keeps each row's end by the app's clock, which the test moves; Redis counts
    the key's TTL down in real time, which the test waits out."""
    if isinstance(store, DatabaseStore):
        now = store.clock()
        store.clock = lambda: now  # type: ignore[assignment, method-assign]
        session_id = await store.create(b"{}", ttl=1.0)
        assert await store.read(session_id, 60) == b"{}"
        now += 1.5
    else:
        session_id = await store.create(b"{}", ttl=1.0)
        assert await store.read(session_id, 60) == b"{}"
        await anyio.sleep(1.5)
    assert await store.read(session_id, 60) == b""
    assert await store.write(session_id, b"{}", 60, 60) is False  # expired means gone


@pytest.mark.anyio
async def test_the_store_never_holds_the_cookie_value(store: PortalStore) -> None:
    session_id = await store.create(b"{}", ttl=60)
    key = store.storage_key(session_id)
    assert session_id not in key
    if isinstance(store, RedisStore):
        keys = [k.decode() for k in redis_sync.Redis.from_url(REDIS_URL).keys("*")]
        assert any(key in k for k in keys)
        assert not any(session_id in k for k in keys)
    else:
        assert isinstance(store, DatabaseStore)
        from sqlalchemy import text

        async with store.engine.connect() as conn:
            ids = (await conn.execute(text("SELECT id FROM web_session"))).scalars().all()
        assert key in ids and session_id not in ids


@pytest.mark.anyio
async def test_purge_deletes_only_expired_rows(sqlite_url: str) -> None:
    clock = Clock()
    engine = make_engine(sqlite_url)
    store = DatabaseStore(engine, "k", clock=clock)
    live = await store.create(b"{}", ttl=100)
    await store.create(b"{}", ttl=10)
    clock.offset = 50
    assert await store.purge_expired() == 1
    assert await store.read(live, 100) == b"{}"
    await engine.dispose()


# --- the middleware, over HTTP ------------------------------------------------------------


def services(client: TestClient) -> Any:
    return client.app.state.shared  # type: ignore[attr-defined]


def test_an_invented_session_id_is_never_adopted(
    auth: Auth, account: Account, client: TestClient
) -> None:
    invented = "B" * 43
    client.cookies.set("portal_session", invented)
    dropped = client.get("/login").headers.get_list("set-cookie")
    assert "portal_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" in dropped
    client.cookies.set("portal_session", invented)
    response = auth.login()
    issued = response.cookies.get("portal_session")
    assert issued and issued != invented
    store = services(client).store
    assert client.portal.call(store.read, invented, 60) == b""


@pytest.mark.parametrize("cookie", ["", "short", "x" * 5000, "bad;chars", "%00" * 43])
def test_malformed_session_cookies_are_ignored(client: TestClient, cookie: str) -> None:
    client.cookies.set("portal_session", cookie)
    assert client.get("/login").status_code == 200
    assert client.get("/phone").status_code == 303


def test_sliding_writes_at_most_once_per_refresh_interval(
    auth: Auth, account: Account, client: TestClient, clock: Clock
) -> None:
    auth.login()
    store = services(client).store
    refresh = services(client).settings.session_refresh_seconds
    assert refresh == 60

    before = store.writes
    for _ in range(30):
        clock.offset += 1  # thirty interactions, a second apart
        assert client.get("/phone").status_code == 200
    assert store.writes - before == 0

    clock.offset += refresh  # more than a minute since the last write
    client.get("/settings")
    assert store.writes - before == 1
    for _ in range(10):
        client.get("/phone")
    assert store.writes - before == 1


def test_requests_arriving_together_slide_the_session_once(
    auth: Auth,
    account: Account,
    client: TestClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight tabs' requests load the session before any of them answers: one write between them."""
    auth.login()
    store = services(client).store
    clock.offset += 61  # every one of them wants to slide
    before, loaded, lock = store.writes, [0], threading.Lock()
    everyone_loaded = threading.Event()
    real_read = store.read

    async def read_then_wait(session_id: str, lifetime: int) -> bytes:
        data = await real_read(session_id, lifetime)
        with lock:
            loaded[0] += 1
            if loaded[0] == 8:
                everyone_loaded.set()
        while not everyone_loaded.is_set():  # noqa: ASYNC110 - set from another task's thread
            await anyio.sleep(0.01)
        return data

    monkeypatch.setattr(store, "read", read_then_wait)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(client.get("/phone").status_code))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    monkeypatch.undo()

    assert everyone_loaded.is_set() and statuses == [200] * 8
    assert store.writes - before == 1
    assert client.get("/phone").status_code == 200  # and the session lives on


def test_idle_limit_signs_out_on_the_server(
    auth: Auth, account: Account, client: TestClient, clock: Clock
) -> None:
    auth.login()
    idle = services(client).settings.session_idle_seconds
    assert idle == 4 * 3600
    clock.offset += idle - 5
    assert client.get("/phone").status_code == 200  # still in time, and this slides it
    clock.offset += idle - 5
    assert client.get("/settings").status_code == 200  # 2x idle since sign-in: slid
    clock.offset += idle + 1
    response = client.get("/phone")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    htmx = client.get("/settings", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/login?next=/settings"
    assert "<form" not in htmx.text  # never a login form inside a tab


def test_the_expiry_check_does_not_slide_the_timer(
    auth: Auth, account: Account, client: TestClient, clock: Clock
) -> None:
    auth.login()
    idle = services(client).settings.session_idle_seconds
    store = services(client).store
    before = store.writes
    first = client.get("/session").json()
    assert first == {"signed_in": True, "remaining": pytest.approx(idle, abs=2)}
    for _ in range(5):
        clock.offset += idle / 5 - 1
        status = client.get("/session").json()
        assert status["signed_in"]
    assert status["remaining"] < 10
    assert store.writes == before  # asking was not activity
    clock.offset += 10
    assert client.get("/session").json() == {"signed_in": False, "remaining": 0}
    assert client.get("/phone").status_code == 303


def test_a_request_that_loaded_the_session_before_sign_out_cannot_bring_it_back(
    auth: Auth,
    account: Account,
    client: TestClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth.login()
    token = csrf_from(client.get("/phone").text)
    signed_in_cookie = client.cookies.get("portal_session")
    clock.offset += 61  # so the slow request will want to slide (write) the session

    entered, release = pause_after_guard(monkeypatch)
    slow: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: slow.update(r=client.get("/phone")))
    thread.start()
    assert entered.wait(10)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    release.set()
    thread.join(10)

    assert slow["r"].status_code == 200  # it was allowed in before sign-out
    client.cookies.clear()
    client.cookies.set("portal_session", signed_in_cookie or "")
    assert client.get("/phone").status_code == 303  # ...but the session stayed ended


def pause_after_guard(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The next signed-in request stops once it is let in, until `release` is set."""
    entered, release = threading.Event(), threading.Event()
    real = guard.current_account

    async def slow(request: Any) -> Any:
        account = await real(request)
        monkeypatch.setattr("portal.web.guard.current_account", real)
        entered.set()
        while not release.is_set():  # noqa: ASYNC110 - set from another thread
            await anyio.sleep(0.01)
        return account

    monkeypatch.setattr("portal.web.guard.current_account", slow)
    return entered, release


def test_anonymous_pages_without_forms_start_no_session(client: TestClient) -> None:
    for path in ("/", "/healthz", "/no-such-page", "/static/css/portal.css"):
        assert "portal_session" not in client.get(path).headers.get("set-cookie", "")


def test_session_cookie_flags(auth: Auth, account: Account) -> None:
    [cookie] = [c for c in auth.login().headers.get_list("set-cookie") if "portal_session=" in c]
    assert cookie.startswith("portal_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http:// base URL; see test_app for https


# --- answers about a replaced id never sign the browser out ------------------------------------


def session_cleared(response: Any) -> bool:
    return any(
        cookie.startswith("portal_session=; ") for cookie in response.headers.get_list("set-cookie")
    )


def change_password(client: TestClient) -> Any:
    token = csrf_from(client.get("/settings").text)
    new = "a new and better passphrase"
    return client.post(
        "/settings/password",
        data={
            "current_password": PASSWORD,
            "new_password": new,
            "confirm_password": new,
            "csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )


def test_a_late_answer_after_a_password_change_keeps_the_browser_signed_in(
    auth: Auth,
    account: Account,
    client: TestClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tab request sets out with the old id; the password change answers first, with a new
    one; then the tab answers, finding its session gone. The browser keeps the new cookie."""
    auth.login()
    old = client.cookies.get("portal_session")
    clock.offset += 61  # so the late request wants to slide the old id, and finds it gone
    entered, release = pause_after_guard(monkeypatch)
    late: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: late.update(r=client.get("/phone")))
    thread.start()
    assert entered.wait(10)
    changed = change_password(client)
    assert changed.status_code == 200
    new = client.cookies.get("portal_session")
    assert new and new != old
    release.set()
    thread.join(10)

    assert late["r"].status_code == 200  # allowed in before the change: about the old id
    assert not session_cleared(late["r"])
    assert client.cookies.get("portal_session") == new
    assert client.get("/settings").status_code == 200


@pytest.mark.parametrize("path", ["/session", "/phone", "/password-strength"])
def test_requests_with_the_replaced_id_leave_the_new_cookie_alone(
    auth: Auth, account: Account, client: TestClient, clock: Clock, path: str
) -> None:
    """A second tab, or the strength hint, still on the old id: a minute later, when no
    request of before the change can still be on its way, its cookie is dropped again."""
    auth.login()
    old = client.cookies.get("portal_session") or ""
    assert change_password(client).status_code == 200

    def with_old_id() -> Any:
        request = client.build_request("POST" if path == "/password-strength" else "GET", path)
        request.headers["Cookie"] = f"portal_session={old}"
        return client.send(request)

    stale = with_old_id()
    assert stale.status_code in (200, 303, 403)
    assert not session_cleared(stale)
    assert client.get("/settings").status_code == 200
    clock.offset += 61
    assert session_cleared(with_old_id())


def test_an_ended_or_expired_session_still_has_its_cookie_cleared(
    auth: Auth, account: Account, client: TestClient, clock: Clock
) -> None:
    auth.login()
    signed_in = client.cookies.get("portal_session") or ""
    assert session_cleared(auth.logout())
    use = {"Cookie": f"portal_session={signed_in}"}
    assert session_cleared(client.get("/phone", headers=use))  # a tab left open: signed out
    auth.login()
    clock.offset += services(client).settings.session_idle_seconds + 1
    assert session_cleared(client.get("/session"))
