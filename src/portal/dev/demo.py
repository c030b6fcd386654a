"""The demo tenant that `make run` seeds into an empty database."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.domain import accounts
from portal.security.passwords import Passwords

TENANT = ("wickedsprockets", "Wicked Sprockets")
EXTENSIONS = [
    ("201-wickedsprockets", "Ada Lovelace", "ada@wickedsprockets.example"),
    ("202-wickedsprockets", "Grace Hopper", None),
]


async def seed(db: AsyncSession, passwords: Passwords) -> list[str]:
    """Create the demo tenant when there is no tenant yet; returns lines to print once."""
    if not await accounts.is_empty(db):
        return ["demo data already present (passwords were printed when it was seeded)"]
    await accounts.create_tenant(db, *TENANT)
    lines = [f"seeded demo tenant {TENANT[0]}:"]
    for code, name, email in EXTENSIONS:
        _, password = await accounts.create_extension(db, passwords, code, name, email=email)
        mail = email or "no email address"
        lines.append(f"  {code}  password: {password}  ({name}, {mail})")
    return lines
