"""Tenants and extensions: naming rules, creation and sign-in checks (`signouts` sets passwords)."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, update
from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base import db, lookups
from portal.base.clock import as_utc, utcnow
from portal.base.models import Extension, Tenant
from portal.base.models import credential_stamp as _stamp
from portal.domain import audit
from portal.security.passwords import Passwords, generate_password
from portal.security.policy import policy_error

TENANT_CODE = re.compile(r"[a-z][a-z0-9-]{1,31}")
EXTENSION_NUMBER = re.compile(r"[0-9]{1,16}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_USERNAME = 64


class AccountError(ValueError):
    """A mistake in what was asked for; the message is fit to show as is."""


@dataclass(frozen=True)
class Username:
    number: str
    tenant_code: str

    def __str__(self) -> str:
        return f"{self.number}-{self.tenant_code}"


@dataclass(frozen=True)
class Account:
    """A signed-in extension, as pages show it, and the credential stamp it signed in with."""

    id: int
    number: str
    name: str
    tenant_code: str
    tenant_name: str
    stamp: str

    @property
    def username(self) -> str:
        return f"{self.number}-{self.tenant_code}"


def parse_username(raw: str) -> Username | None:
    """`201-WickedSprockets ` → Username("201", "wickedsprockets"); None when malformed."""
    text = raw.strip()
    if len(text) > MAX_USERNAME:
        return None
    number, _, code = text.partition("-")
    code = code.lower()
    if not EXTENSION_NUMBER.fullmatch(number) or not TENANT_CODE.fullmatch(code):
        return None
    return Username(number, code)


def credential_stamp(extension: Extension) -> str:
    """Changes whenever the password is set; a sign-in that checked an older one stores no
    session (`portal.security.sessionstore.StaleCredentials`)."""
    assert extension.id is not None
    return _stamp(extension.id, extension.password_changed_at)


def _clean_name(value: str, what: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise AccountError(f"{what} cannot be empty")
    if len(name) > 200:
        raise AccountError(f"{what} is longer than 200 characters")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise AccountError(f"{what} contains control characters")
    return name


def _clean_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise AccountError(f"not an email address: {email!r}")
    return email


async def create_tenant(db: AsyncSession, code: str, name: str) -> Tenant:
    """Add a tenant; its code is lowercase letters, digits and '-', 2-32, from a letter."""
    if not TENANT_CODE.fullmatch(code):
        raise AccountError(
            f"malformed tenant code {code!r}: use 2-32 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    tenant = Tenant(code=code, name=_clean_name(name, "tenant name"))
    db.add(tenant)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise AccountError(f"tenant {code!r} already exists") from None
    await db.refresh(tenant)
    return tenant


def parse_extension_code(code: str) -> Username:
    """Parse `EXT-CODE` as the command line takes it (same rules as the sign-in username)."""
    username = parse_username(code)
    if username is None or code != code.strip():
        raise AccountError(
            f"malformed extension {code!r}: expected EXTENSION-TENANTCODE, e.g. 201-wickedsprockets"
        )
    return username


async def find_tenant(db: AsyncSession, code: str) -> Tenant:
    tenant = (await db.exec(select(Tenant).where(Tenant.code == code))).first()
    if tenant is None:
        raise AccountError(f"unknown tenant {code!r}")
    return tenant


async def find_extension(db: AsyncSession, username: Username) -> Extension | None:
    found = await find_account(db, username)
    return found[0] if found else None


async def create_extension(
    db: AsyncSession,
    passwords: Passwords,
    code: str,
    name: str,
    *,
    email: str | None = None,
    password: str | None = None,
    min_length: int = 8,
) -> tuple[Extension, str]:
    """Add an extension; returns it with its password (generated when none is given)."""
    username = parse_extension_code(code)
    clean_name = _clean_name(name, "extension name")
    clean_email = _clean_email(email)
    if password is None:
        password = generate_password()
    else:
        check_policy(password, min_length, username)
    tenant = await find_tenant(db, username.tenant_code)
    if await find_extension(db, username) is not None:
        raise AccountError(f"extension {username} already exists")
    extension = Extension(
        tenant_id=tenant.id,  # type: ignore[arg-type]
        number=username.number,
        name=clean_name,
        email=clean_email,
        password_hash=await passwords.hash(password),
    )
    db.add(extension)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise AccountError(f"extension {username} already exists") from None
    await db.refresh(extension)
    return extension, password


def check_policy(password: str, min_length: int, username: Username) -> None:
    reason = policy_error(
        password, min_length, username=str(username), tenant_code=username.tenant_code
    )
    if reason:
        raise AccountError(f"password refused: {reason}")


async def find_account(db: AsyncSession, username: Username) -> tuple[Extension, Tenant] | None:
    """The extension and its tenant, or None."""
    statement = (
        select(Extension, Tenant)
        .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
        .where(_NAMED)
        .params(code=username.tenant_code, number=username.number)
    )
    row = (await db.exec(statement)).first()
    return (row[0], row[1]) if row else None


def read_early(engine: AsyncEngine, raw_username: str) -> asyncio.Future[Any] | None:
    """Start reading the row a sign-in checks, to overlap with the throttle's round trip: for a
    server database (an embedded one reads in the hashing thread instead), and only the row,
    never the hash check, which waits for the throttle."""
    username = parse_username(raw_username)
    if username is None or db.local_reader(engine) is not None:
        return None
    params = {"code": username.tenant_code, "number": username.number}
    return asyncio.ensure_future(_first(lookups.read(engine, _SIGN_IN_NOW, params)))


async def _first(rows: Awaitable[list[Any]]) -> Any:
    found = await rows
    return found[0] if found else None


async def authenticate(
    engine: AsyncEngine,
    passwords: Passwords,
    raw_username: str,
    password: str,
    early: asyncio.Future[Any] | None = None,
) -> Account | None:
    """The extension these credentials open, or None; every failure costs one verify.

    No connection is held through the hash (a sign-in burst would queue there). `early` is
    the row as `read_early` started reading it.
    """
    username = parse_username(raw_username)
    row: Any = None
    if username is None:  # nothing to look up; the verify still costs what a real one does
        verdict = await passwords.verify(None, password)
    else:
        params = {"code": username.tenant_code, "number": username.number}

        def read(conn: Connection) -> Any:
            return conn.execute(_SIGN_IN, params).first()

        local = db.local_reader(engine)
        if early is not None:
            row = await early
            verdict = await passwords.verify(_usable_hash(row), password)
        elif local is not None:
            # Embedded SQLite: read the row in the hashing thread, just before the hash, so
            # the sign-in waits on one thread hand-off instead of two.
            def load() -> str | None:
                nonlocal row
                row = local(read)
                return _usable_hash(row)

            verdict = await passwords.verify_loaded(load, password)
        else:
            row = await db.run(engine, read)
            verdict = await passwords.verify(_usable_hash(row), password)
    if not verdict.ok or row is None:
        return None
    if verdict.new_hash:
        # Parameters changed since this hash was made: upgrade it, without touching the stamp.
        upgrade = {"extension_id": row.id, "new_hash": verdict.new_hash}
        await db.run(engine, lambda conn: conn.execute(_REHASH, upgrade), write=True)
    return _account(row.id, row)


def _usable_hash(row: Row[Any] | None) -> str | None:
    return row.password_hash if row is not None and not row.disabled else None


_EXTENSION, _TENANT = Extension.__table__, Tenant.__table__  # type: ignore[attr-defined]
# Built once: every session reads its account again once per refresh interval.
_ACCOUNT = (
    sql_select(
        _EXTENSION.c.number,
        _EXTENSION.c.name,
        _EXTENSION.c.disabled,
        _EXTENSION.c.password_changed_at,
        _TENANT.c.code,
        _TENANT.c.name.label("tenant_name"),
    )
    .join_from(_EXTENSION, _TENANT, _TENANT.c.id == _EXTENSION.c.tenant_id)
    .where(_EXTENSION.c.id == bindparam("id"))
)


# The extension a username names: its tenant's code and its number (bound as code, number).
_NAMED = (_TENANT.c.code == bindparam("code")) & (_EXTENSION.c.number == bindparam("number"))
_SIGN_IN = (
    sql_select(
        _EXTENSION.c.id,
        _EXTENSION.c.password_hash,
        _EXTENSION.c.disabled,
        _EXTENSION.c.password_changed_at,
        _EXTENSION.c.number,
        _EXTENSION.c.name,
        _TENANT.c.code,
        _TENANT.c.name.label("tenant_name"),
    )
    .join_from(_EXTENSION, _TENANT, _TENANT.c.id == _EXTENSION.c.tenant_id)
    .where(_NAMED)
)
_SIGN_IN_NOW = lookups.Lookup(_SIGN_IN)
_REHASH = (
    update(_EXTENSION)
    .where(_EXTENSION.c.id == bindparam("extension_id"))
    .values(password_hash=bindparam("new_hash"))
)


async def load_account(engine: AsyncEngine, extension_id: int) -> Account | None:
    """The account for a session, or None when it is gone or disabled."""
    params = {"id": extension_id}
    row = await db.run(engine, lambda conn: conn.execute(_ACCOUNT, params).first())
    if row is None or row.disabled:
        return None
    return _account(extension_id, row)


def _account(extension_id: int, row: Any) -> Account:
    return Account(
        id=extension_id,
        number=row.number,
        name=row.name,
        tenant_code=row.code,
        tenant_name=row.tenant_name,
        stamp=_stamp(extension_id, row.password_changed_at),
    )


async def is_empty(db: AsyncSession) -> bool:
    """Whether no tenant exists yet (the demo seeds one then)."""
    return not (await db.exec(select(func.count()).select_from(Tenant))).one()


async def unlock(db: AsyncSession, code: str) -> None:
    """Record that `code`'s sign-in lockout is lifted; servers apply it at the next attempt."""
    username = parse_extension_code(code)
    await find_tenant(db, username.tenant_code)
    extension = await find_extension(db, username)
    if extension is None:
        raise AccountError(f"unknown extension {username}")
    extension.unlocked_at = utcnow()
    db.add(extension)
    audit.add(db, "unlock", "success", str(username), audit.COMMAND_LINE)
    await db.commit()


async def unlocked_at(db: AsyncSession, username: Username) -> float | None:
    """When `username`'s lockout was last lifted, as a Unix time."""
    extension = await find_extension(db, username)
    if extension is None or extension.unlocked_at is None:
        return None
    return as_utc(extension.unlocked_at).timestamp()
