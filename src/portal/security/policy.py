"""The one password policy (reset form, Change Password, command line) and the strength hint."""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MAX_LENGTH = 1024
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    """Royce Williams' 20,000 most common passwords, as Django ships them (see data/README.md)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def policy_error(
    password: str,
    min_length: int,
    *,
    username: str | None = None,
    tenant_code: str | None = None,
) -> str | None:
    """Why `password` is refused, or None.

    Counted in Unicode characters and checked exactly as typed: no trimming, and no rules
    about which kinds of characters it must contain.
    """
    if len(password) < min_length:
        return f"Use at least {min_length} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH:,} characters."
    if "\x00" in password:
        return "The password cannot contain a NUL character."
    lowered = password.lower()
    if lowered in common_passwords():
        return "This is one of the most common passwords, so it is easy to guess. Choose another."
    if username and username.lower() in lowered:
        return "The password cannot contain your username."
    if tenant_code and tenant_code.lower() in lowered:
        return f"The password cannot contain your company code ({tenant_code.lower()})."
    return None


@dataclass(frozen=True)
class Strength:
    level: Literal["weak", "fair", "strong"]
    reason: str


MIX = "upper- and lower-case letters, numbers and symbols"


def strength(
    password: str,
    min_length: int,
    *,
    username: str | None = None,
    tenant_code: str | None = None,
) -> Strength:
    """A hint while typing: advice on length and a mix of characters, never a demand."""
    refusal = policy_error(password, min_length, username=username, tenant_code=tenant_code)
    if refusal:
        return Strength("weak", refusal)
    kinds = sum(
        [
            any(ch.islower() for ch in password),
            any(ch.isupper() for ch in password),
            any(ch.isdigit() for ch in password),
            any(not ch.isalnum() for ch in password),
        ]
    )
    length = len(password)
    if length >= 16 or (length >= 12 and kinds >= 3):
        return Strength("strong", "Long and varied: hard to guess.")
    if length >= 12 or kinds >= 3:
        return Strength("fair", f"Good. A longer password, or a mix of {MIX}, is stronger.")
    return Strength("weak", f"Easy to guess. Make it longer, or mix {MIX}.")
