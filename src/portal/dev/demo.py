"""The demo tenant that `make run` seeds into an empty database, and new passwords for it."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.domain import accounts, signouts
from portal.security.passwords import Passwords
from portal.security.sessionstore import PortalStore

TENANT = ("wickedsprockets", "Wicked Sprockets")
EXTENSIONS = [
    ("201-wickedsprockets", "Ada Lovelace", "ada@wickedsprockets.example"),
    ("202-wickedsprockets", "Grace Hopper", None),
]


def _line(code: str, name: str, email: str | None, password: str) -> str:
    return f"  {code}  password: {password}  ({name}, {email or 'no email address'})"


async def seed(db: AsyncSession, passwords: Passwords, reset_command: str) -> list[str]:
    """Create the demo tenant when there is no tenant yet; returns lines to print once.

    `reset_command` is how to get new passwords later, said when the data is there already."""
    if not await accounts.is_empty(db):
        return [
            "demo data already present; its passwords were printed when it was seeded.",
            f"To set new ones and see them: {reset_command}",
        ]
    await accounts.create_tenant(db, *TENANT)
    lines = [f"seeded demo tenant {TENANT[0]}:"]
    for code, name, email in EXTENSIONS:
        _, password = await accounts.create_extension(db, passwords, code, name, email=email)
        lines.append(_line(code, name, email, password))
    return lines


async def reset_passwords(
    db: AsyncSession, passwords: Passwords, sessions: PortalStore
) -> list[str]:
    """New random passwords for the demo's extensions (signing out their sessions); refused,
    changing nothing, when the demo tenant is not in this database."""
    for code, _, _ in EXTENSIONS:
        if await accounts.find_account(db, accounts.parse_extension_code(code)) is None:
            raise accounts.AccountError(
                f"no demo extension {code} in this database (PORTAL_DATABASE_URL): "
                "`portal demo` seeds the demo tenant into an empty one"
            )
    lines = [f"new passwords for the demo tenant {TENANT[0]} (their sessions are signed out):"]
    for code, name, email in EXTENSIONS:
        password = await signouts.set_password(db, passwords, sessions, code)
        lines.append(_line(code, name, email, password))
    return lines
