"""Ending an extension's sessions by deleting them, through the store's per-extension index:
each event ends exactly that extension's sessions at once, a request racing the ending cannot
bring its session back, listing them costs the index only, and a signed-in tab request reads
its session and nothing else. Both profiles (embedded SQLite, PostgreSQL with Redis)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from portal.base import db, lookups
from portal.base.clock import Clock
from portal.base.models import Extension
from portal.domain import signouts
from portal.security.redisstore import RedisStore
from portal.security.sessionstore import DatabaseStore, Owner
from portal.web.shared import Shared
from tests.conftest import PASSWORD, Account, Auth, run
from tests.test_reset import ask_for_link, link_from, newest, set_new_password
from tests.test_reset import settings as settings
from tests.test_sessions import change_password, pause_after_guard

OTHER = "202-wickedsprockets"
NEW = "a new and better passphrase"
Jar = dict[str, str]


def sign_in(client: TestClient, username: str = "201-wickedsprockets") -> Jar:
    """A browser of its own: signs in from empty cookies, returns its cookies."""
    client.cookies.clear()
    assert Auth(client).login(username).headers["location"] == "/phone"
    return dict(client.cookies)


def use(client: TestClient, jar: Jar) -> None:
    client.cookies.clear()
    for name, value in jar.items():
        client.cookies.set(name, value, domain="127.0.0.1")


def stored(client: TestClient, jar: Jar) -> bool:
    """Whether the store still holds this browser's session."""

    async def work(shared: Shared) -> bytes:
        return await shared.store.read(jar["portal_session"], 60)

    return bool(run(client, work))


def in_store(client: TestClient, work: Callable[[Shared], Awaitable[Any]]) -> Any:
    return run(client, work)


def change_elsewhere(client: TestClient, changer: Jar) -> Jar:
    use(client, changer)
    assert "Your password was changed." in change_password(client).text
    return dict(client.cookies)


EVENTS = ["password change", "reset link", "set-password", "disabled", "sign-out everywhere"]


@pytest.mark.parametrize("event", EVENTS)
def test_each_ending_deletes_exactly_that_extensions_sessions_at_once(
    client: TestClient, make_account: Any, event: str, smtp_sink: Any
) -> None:
    """The other sessions of the extension are deleted from the store and land on the login
    page at their next request, with no clock moved (no account read could notice anything);
    another extension's session is untouched."""
    mine = make_account()
    make_account(OTHER, email=None)
    first, second = sign_in(client), sign_in(client)
    other = sign_in(client, OTHER)

    if event == "password change":
        first = change_elsewhere(client, first)
    elif event == "reset link":
        client.cookies.clear()
        ask_for_link(client)
        # Two new-device notices (the two sign-ins of `mine`) come before the link.
        reset = newest(smtp_sink, "Reset your Phone Portal password", 3)
        set_new_password(client, link_from(reset), NEW)
    else:

        async def work(shared: Shared) -> None:
            async with shared.db() as session:
                if event == "set-password":
                    await signouts.set_password(
                        session, shared.passwords, shared.store, mine.username, NEW
                    )
                elif event == "disabled":
                    await signouts.set_disabled(session, shared.store, mine.username, True)
                else:
                    await signouts.sign_out(session, shared.store, mine.username)

        in_store(client, work)

    ended = [second] if event == "password change" else [first, second]
    for jar in ended:
        assert not stored(client, jar)
        use(client, jar)
        answer = client.get("/settings", headers={"HX-Request": "true"})
        assert answer.headers["HX-Redirect"].startswith("/login")
    if event == "password change":
        use(client, first)  # the session that changed it stays, on its new id
        assert client.get("/settings").status_code == 200
    assert stored(client, other)
    use(client, other)
    assert client.get("/phone").status_code == 200


def test_a_disabled_extension_enabled_again_signs_in(client: TestClient, account: Account) -> None:
    """Disabling leaves a mark that refuses sign-ins checked before it; enabling clears it."""

    def set_disabled(disabled: bool) -> None:
        async def work(shared: Shared) -> None:
            async with shared.db() as session:
                await signouts.set_disabled(session, shared.store, account.username, disabled)

        in_store(client, work)

    sign_in(client)
    set_disabled(True)
    assert client.get("/phone").status_code == 303
    assert "Invalid" in Auth(client).login().text
    set_disabled(False)
    sign_in(client)
    assert client.get("/phone").status_code == 200


def test_a_slide_racing_an_ending_does_not_bring_the_session_back(
    client: TestClient,
    account: Account,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request let in just before the extension's sessions end wants to slide its session
    (write it back, index included) afterwards: the write lands on nothing."""
    victim = sign_in(client)
    clock.offset += 61  # the paused request will slide (write) its session
    entered, release = pause_after_guard(monkeypatch)
    slow: dict[str, Any] = {}
    use(client, victim)
    thread = threading.Thread(target=lambda: slow.update(r=client.get("/phone")))
    thread.start()
    assert entered.wait(10)

    async def end_all(shared: Shared) -> None:
        async with shared.db() as session:
            await signouts.sign_out(session, shared.store, account.username)

    in_store(client, end_all)
    release.set()
    thread.join(10)

    assert slow["r"].status_code == 200  # let in before the ending
    assert not stored(client, victim)
    assert in_store(client, lambda shared: shared.store.owned(account.id)) == []
    use(client, victim)
    assert client.get("/phone").status_code == 303


def test_a_sign_in_checked_before_a_password_change_stores_no_session(
    client: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race a per-request stamp check used to close: a sign-in reads the old hash and
    verifies it, the password changes (ending every session), then the sign-in stores its
    session. It must not outlive the change: the store refuses it at once."""
    from portal.domain import accounts

    real = accounts.authenticate
    checked, release = threading.Event(), threading.Event()

    async def slow(*args: Any) -> Any:
        who = await real(*args)
        checked.set()
        while not release.is_set():  # noqa: ASYNC110 - set from another thread
            await anyio.sleep(0.01)
        return who

    monkeypatch.setattr(accounts, "authenticate", slow)
    late: dict[str, Any] = {}
    client.cookies.clear()
    token = Auth(client).csrf()
    jar = dict(client.cookies)
    form = {"username": account.username, "password": PASSWORD, "csrf_token": token}
    thread = threading.Thread(target=lambda: late.update(r=client.post("/login", data=form)))
    thread.start()
    assert checked.wait(10)
    monkeypatch.setattr(accounts, "authenticate", real)

    async def admin(shared: Shared) -> None:
        async with shared.db() as session:
            await signouts.set_password(session, shared.passwords, shared.store, account.username)

    in_store(client, admin)
    release.set()
    thread.join(10)

    session = late["r"].cookies.get("portal_session")
    assert session is None or not stored(client, {"portal_session": session})
    use(client, {**jar, **({"portal_session": session} if session else {})})
    assert client.get("/phone").status_code == 303
    assert in_store(client, lambda shared: shared.store.owned(account.id)) == []


def test_a_password_set_behind_the_stores_back_ends_the_session_when_it_slides(
    client: TestClient, account: Account, clock: Clock
) -> None:
    """Why the stamp is still compared once per refresh interval: a password set where the
    store cannot be reached (by hand in the database, a `set-password` run without the
    server's PORTAL_REDIS_URL, a process dying between the commit and the ending) ends the
    session at its next slide, at most a minute later."""
    sign_in(client)

    async def by_hand(shared: Shared) -> None:
        async with shared.db() as session:
            extension = await session.get(Extension, account.id)
            assert extension is not None
            extension.password_changed_at = extension.password_changed_at.replace(year=2001)
            session.add(extension)
            await session.commit()

    in_store(client, by_hand)
    assert client.get("/phone").status_code == 200  # within the interval: the session alone
    clock.offset += 61
    assert client.get("/phone").status_code == 303


@pytest.mark.parametrize("what", ["extension", "tenant"])
def test_a_deleted_extension_or_tenant_signs_its_sessions_out(
    client: TestClient, account: Account, clock: Clock, what: str
) -> None:
    """Deleted in the database: at once where sessions live there (the index's foreign key
    cascades), else at the session's next slide."""
    sign_in(client)
    statement = (
        text("DELETE FROM extension WHERE id = :id")
        if what == "extension"
        else text("DELETE FROM tenant WHERE code = 'wickedsprockets'")
    )

    async def delete(shared: Shared) -> bool:
        await db.run(
            shared.engine, lambda conn: conn.execute(statement, {"id": account.id}), write=True
        )
        return isinstance(shared.store, DatabaseStore)

    at_once = in_store(client, delete)
    if not at_once:
        assert client.get("/phone").status_code == 200
        clock.offset += 61
    assert client.get("/phone").status_code == 303


def test_the_shell_shows_the_accounts_fields_refreshed_when_the_session_slides(
    client: TestClient, account: Account, clock: Clock
) -> None:
    sign_in(client)
    assert "Ada Lovelace" in client.get("/phone").text

    async def rename(shared: Shared) -> None:
        async with shared.db() as session:
            extension = await session.get(Extension, account.id)
            assert extension is not None
            extension.name = "Ada King"
            session.add(extension)
            await session.commit()

    in_store(client, rename)
    assert "Ada Lovelace" in client.get("/phone").text  # from the session
    clock.offset += 61
    assert "Ada King" in client.get("/phone").text
    assert "Ada King" in client.get("/settings").text  # kept in the session from then on


def test_a_signed_in_tab_request_makes_one_store_read_and_nothing_else(
    client: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One store read: no account read, no other database unit, no other Redis command. The
    Settings tab also lists where the extension is signed in and its passkeys: in Redis, read
    with the session in one script (the passkeys kept there since the first visit); in the
    database, the session with its owner's sessions in one lookup, the passkeys in another."""
    sign_in(client)
    assert client.get("/settings", headers={"HX-Request": "true"}).status_code == 200
    shared: Shared = client.app.state.shared  # type: ignore[attr-defined]
    units: list[str] = []
    real_run, real_read = db.run, lookups.read

    async def counted_run(*args: Any, **kwargs: Any) -> Any:
        units.append("database")
        return await real_run(*args, **kwargs)

    async def counted_read(*args: Any, **kwargs: Any) -> Any:
        units.append("database lookup")
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(db, "run", counted_run)
    monkeypatch.setattr(lookups, "read", counted_read)
    if shared.redis is not None:
        real_command = shared.redis.execute_command

        async def counted_command(*args: Any, **kwargs: Any) -> Any:
            units.append(f"redis {args[0]}")
            return await real_command(*args, **kwargs)

        monkeypatch.setattr(shared.redis, "execute_command", counted_command)

    for _ in range(3):
        units.clear()
        answer = client.get("/phone", headers={"HX-Request": "true"})
        assert answer.status_code == 200
        assert "Phone" in answer.text
        assert units == (["redis GET"] if shared.redis is not None else ["database lookup"])
        units.clear()
        answer = client.get("/settings", headers={"HX-Request": "true"})
        assert answer.status_code == 200
        assert "Change Password" in answer.text and "This device" in answer.text
        redis = shared.redis is not None
        listed = ["redis EVALSHA"] if redis else ["database lookup"]
        if shared.settings.passkey_rp_id is not None and not redis:
            listed.append("database lookup")  # the extension's passkeys (in Redis: kept)
        assert units == listed


def test_listing_an_extensions_sessions_costs_its_index_only(
    client: TestClient, make_account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = make_account()
    other = make_account(OTHER, email=None)
    mine_jars = [sign_in(client) for _ in range(2)]
    for _ in range(5):
        sign_in(client, OTHER)
    shared: Shared = client.app.state.shared  # type: ignore[attr-defined]
    store = shared.store

    listed = in_store(client, lambda shared: shared.store.owned(mine.id))
    keys = {store.storage_key(jar["portal_session"]) for jar in mine_jars}
    assert {handle for handle, _ in listed} == keys
    assert len(in_store(client, lambda shared: shared.store.owned(other.id))) == 5
    assert not any(jar["portal_session"] in handle for jar in mine_jars for handle, _ in listed)

    if isinstance(store, RedisStore):
        commands: list[tuple[Any, ...]] = []
        real_command = store.redis.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            commands.append(args)
            return await real_command(*args, **kwargs)

        monkeypatch.setattr(store.redis, "execute_command", counted)
        in_store(client, lambda shared: shared.store.owned(mine.id))
        # One script, given one key: the extension's index (never SCAN or KEYS).
        [(command, _sha, numkeys, key, *_)] = commands
        assert (command, numkeys) == ("EVALSHA", 1)
        assert key == f"{shared.settings.redis_prefix}owner:{mine.id}"
        return
    assert isinstance(store, DatabaseStore)
    from portal.security.sessionstore import _OWNED

    def plan(conn: Any) -> str:
        compiled = _OWNED.compile(conn, compile_kwargs={"literal_binds": False})
        params = {"owner": mine.id, "now": 0.0}
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(params.values()))
            return " ".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
        return " ".join(str(row[0]) for row in rows)

    async def explain(shared: Shared) -> str:
        return await db.run(shared.engine, plan, write=True)

    assert "ix_web_session_extension_id" in in_store(client, explain)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_redis_index_never_outlives_its_sessions(
    redis_available: str, redis_prefix: str
) -> None:
    """Members are dropped once their session expires (by the app's clock) at the next write,
    and the index expires with its newest session, so it cannot grow without end."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_available)
    clock = Clock()
    store = RedisStore(client, "k", prefix=redis_prefix, clock=clock)
    owner = Owner(7, "7:stamp")
    index = f"{redis_prefix}owner:7"
    try:
        await store.create(b"{}", 100.0, owner=owner)
        clock.offset += 150  # the first one has expired by the app's clock
        second = await store.create(b"{}", 100.0, owner=owner)
        members = await client.zrange(index, 0, -1)
        assert members == [store.storage_key(second).encode()]
        assert [handle for handle, _ in await store.owned(7)] == [store.storage_key(second)]
        await store.create(b"{}", 0.3, owner=owner)  # a shorter one does not shorten the index
        assert 99_000 < await client.pttl(index) <= 100_000
        short = RedisStore(client, "k", prefix=redis_prefix + "short:", clock=clock)
        await short.create(b"{}", 0.2, owner=owner)
        assert 0 < await client.pttl(f"{redis_prefix}short:owner:7") <= 200
        await anyio.sleep(0.3)
        assert not await client.exists(f"{redis_prefix}short:owner:7")
    finally:
        await client.aclose()
