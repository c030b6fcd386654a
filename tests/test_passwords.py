"""argon2id hashing off the event loop, rehashing, and the length policy."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.base.models import Extension
from portal.domain import accounts
from portal.security.passwords import Passwords, Verdict, generate_password
from portal.security.policy import policy_error
from tests.conftest import Account, Auth, LoopProbe, run


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords()


@pytest.mark.anyio
async def test_hash_is_argon2id_at_owasp_minimum(passwords: Passwords) -> None:
    hashed = await passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await passwords.verify(hashed, "correct horse")).ok
    assert not (await passwords.verify(hashed, "correct horsE")).ok


@pytest.mark.anyio
async def test_hashing_runs_in_worker_threads_and_the_loop_keeps_ticking(
    passwords: Passwords,
) -> None:
    loop_thread = threading.get_ident()
    seen: set[int] = set()
    answered: list[bool] = []
    probe = LoopProbe()
    real = passwords._verify_sync

    def spy(stored: str | None, password: str) -> Verdict:
        seen.add(threading.get_ident())
        # Inline hashing would hold the loop here, so it could not answer.
        answered.append(probe.loop_answers())
        return real(stored, password)

    passwords._verify_sync = spy  # type: ignore[method-assign]
    try:
        async with anyio.create_task_group() as verifies:
            for _ in range(6):
                verifies.start_soon(passwords.verify, None, "x")
    finally:
        del passwords._verify_sync
    assert loop_thread not in seen
    assert answered == [True] * 6


@pytest.mark.anyio
@pytest.mark.parametrize("concurrency", [1, 2])
async def test_no_more_hashes_than_the_limit_run_at_once(concurrency: int) -> None:
    passwords = Passwords(concurrency=concurrency)
    running = peak = 0
    lock = threading.Lock()
    real = passwords._verify_sync

    def counting(stored: str | None, password: str) -> Verdict:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    passwords._verify_sync = counting  # type: ignore[method-assign]
    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(passwords.verify, None, "x")
    assert peak == concurrency


@pytest.mark.parametrize(("cores", "limit"), [(None, 1), (1, 1), (2, 1), (3, 2), (64, 2)])
def test_hashing_leaves_a_core_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, limit: int
) -> None:
    monkeypatch.setattr("portal.security.passwords.os.cpu_count", lambda: cores)
    assert Passwords().concurrency == limit


@pytest.mark.anyio
async def test_unknown_user_is_verified_against_a_dummy_hash(passwords: Passwords) -> None:
    assert await passwords.verify(None, "anything") == Verdict(ok=False)
    assert passwords._dummy_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_unknown_and_known_users_cost_one_verify_each(
    auth: Auth, account: Account, verifies: list[str | None]
) -> None:
    for username in ("201-wickedsprockets", "999-wickedsprockets", "1-nosuchtenant", "junk"):
        auth.login(username=username, password="wrong")
    assert len(verifies) == 4
    assert verifies[0] is not None
    assert verifies[1:] == [None, None, None]


def test_old_parameters_are_rehashed_at_sign_in_without_signing_anyone_out(
    auth: Auth, client: TestClient, make_account: Any
) -> None:
    weak = Passwords(memory_kib=8192, time_cost=1)
    account = make_account()

    async def weaken(shared: Any) -> str:
        async with shared.db() as session:
            ext = (await session.exec(select(Extension))).one()
            ext.password_hash = await weak.hash(account.password)
            session.add(ext)
            await session.commit()
            return accounts.credential_stamp(ext)

    stamp_before = run(client, weaken)
    other = TestClient(client.app, base_url="http://127.0.0.1:8000", follow_redirects=False)
    with other:
        Auth(other).login()
        assert other.get("/phone").status_code == 200
        auth.login()  # this sign-in upgrades the hash

        async def read(shared: Any) -> tuple[str, str]:
            async with shared.db() as session:
                ext = (await session.exec(select(Extension))).one()
                return ext.password_hash, accounts.credential_stamp(ext)

        new_hash, stamp_after = run(client, read)
        assert new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert stamp_after == stamp_before
        assert other.get("/phone").status_code == 200  # the other session survives


def test_generated_passwords_are_long_and_random() -> None:
    made = {generate_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        assert len(password) == 23
        assert policy_error(password, 8) is None
