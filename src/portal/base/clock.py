"""The one clock: Unix time that tests may move forward, and UTC datetimes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class Clock:
    """Wall-clock time, which tests may move forward instead of waiting."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
