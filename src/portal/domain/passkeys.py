"""Passkeys in the database: each extension's credentials, and the challenges on their way.

A challenge is stored under a keyed hash of a random handle that only the visitor's cookie
carries, and is deleted by the same statement that reads it: single-use even when two requests
race with it, in both profiles and on every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, delete, func, update
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base import lookups
from portal.base.clock import utcnow
from portal.base.models import Extension, Passkey, PasskeyChallenge

PASSKEYS: Table = Passkey.__table__  # type: ignore[attr-defined]
# What the Settings tab lists, oldest first: built once, as every visit to the tab runs it.
_LISTED = lookups.Lookup(
    select_columns(PASSKEYS.c.id, PASSKEYS.c.name, PASSKEYS.c.created_at, PASSKEYS.c.last_used_at)
    .where(PASSKEYS.c.extension_id == bindparam("owner"))
    .order_by(PASSKEYS.c.created_at, PASSKEYS.c.id)
)

MAX_PER_EXTENSION = 10
NAME_MAX = 64


class Listed(Protocol):
    """A passkey as the Settings list reads it (a `Passkey` is one too)."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def last_used_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Challenge:
    """A challenge taken from the store: its bytes and what it was made for."""

    challenge: bytes
    purpose: str


def _handle_key(secret_key: str, handle: str) -> str:
    key = hashlib.sha256(b"portal-passkey-challenge:" + secret_key.encode()).digest()
    return hmac.new(key, handle.encode(), hashlib.sha256).hexdigest()


async def put_challenge(
    db: AsyncSession, secret_key: str, challenge: bytes, purpose: str, expires_at: float, now: float
) -> str:
    """Store a challenge; answers the handle for the visitor's cookie. Expired ones go first,
    so the table holds only the few minutes' worth that may still be answered."""
    await db.exec(delete(PasskeyChallenge).where(col(PasskeyChallenge.expires_at) <= now))
    handle = secrets.token_urlsafe(32)
    db.add(
        PasskeyChallenge(
            id=_handle_key(secret_key, handle),
            challenge=challenge,
            purpose=purpose,
            expires_at=expires_at,
        )
    )
    await db.commit()
    return handle


async def take_challenge(
    db: AsyncSession, secret_key: str, handle: str | None, now: float
) -> Challenge | None:
    """The challenge under `handle`, deleted as it is read; None when there is none (never
    made, already used, or expired)."""
    if not handle or len(handle) > 64:
        return None
    statement = (
        delete(PasskeyChallenge)
        .where(col(PasskeyChallenge.id) == _handle_key(secret_key, handle))
        .returning(
            col(PasskeyChallenge.challenge),
            col(PasskeyChallenge.purpose),
            col(PasskeyChallenge.expires_at),
        )
    )
    row = (await db.exec(statement)).first()
    await db.commit()
    if row is None or row[2] <= now:
        return None
    return Challenge(bytes(row[0]), row[1])


async def of_extension(db: AsyncSession, extension_id: int) -> list[Passkey]:
    """The extension's passkeys, oldest first."""
    statement = (
        select(Passkey)
        .where(Passkey.extension_id == extension_id)
        .order_by(col(Passkey.created_at), col(Passkey.id))
    )
    return list((await db.exec(statement)).all())


async def listed(engine: AsyncEngine, extension_id: int) -> list[Listed]:
    """The extension's passkeys as the list shows them (id, name, created_at, last_used_at),
    oldest first: one indexed read, answered at once."""
    rows: list[Any] = await lookups.read(engine, _LISTED, {"owner": extension_id})
    return rows


async def count(db: AsyncSession, extension_id: int) -> int:
    statement = (
        select(func.count()).select_from(Passkey).where(Passkey.extension_id == extension_id)
    )
    return int((await db.exec(statement)).one())


async def count_to_add(db: AsyncSession, extension_id: int) -> int:
    """`count`, first taking the extension's row until the caller's transaction ends, so that
    adds finishing at once count one after the other and never pass the limit together.

    An update that changes nothing takes it on both databases: on PostgreSQL the row's lock
    (under READ COMMITTED two counts would each see the other's add missing), on SQLite the
    write lock, before anything is read."""
    hold = update(Extension).where(col(Extension.id) == extension_id).values(id=col(Extension.id))
    await db.exec(hold)
    return await count(db, extension_id)


async def by_credential(db: AsyncSession, credential_id: str) -> Passkey | None:
    if not credential_id or len(credential_id) > 1400:
        return None
    found = await db.exec(select(Passkey).where(Passkey.credential_id == credential_id))
    return found.first()


async def mine(db: AsyncSession, extension_id: int, passkey_id: str) -> Passkey | None:
    """The extension's passkey with this id (as a form sends it); None for anyone else's."""
    if not passkey_id.isdigit() or len(passkey_id) > 18:
        return None
    passkey = await db.get(Passkey, int(passkey_id))
    return passkey if passkey is not None and passkey.extension_id == extension_id else None


async def used(db: AsyncSession, passkey: Passkey, old_count: int, new_count: int) -> bool:
    """Record a use, only if no other use moved the counter meanwhile; whether it did."""
    statement = (
        update(Passkey)
        .where(col(Passkey.id) == passkey.id, col(Passkey.sign_count) == old_count)
        .values(sign_count=new_count, last_used_at=utcnow())
    )
    result = await db.exec(statement)
    return bool(result.rowcount == 1)


def clean_name(raw: str) -> str:
    """A name as kept: spaces trimmed and runs of them made one, control characters dropped."""
    text = "".join(ch for ch in raw if ch.isprintable())
    return " ".join(text.split())


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "Never"
