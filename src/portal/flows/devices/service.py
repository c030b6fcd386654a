"""Where you're signed in: an extension's live sessions, as rows its owner (or an
administrator) can read, and ending one of them by its row's handle.

A row is addressed by a handle, an HMAC of the session's storage key under the secret key:
it is never a session id, nor the storage key, so neither the page nor a leak of it gives a
cookie. A handle is honoured only when it matches one of the extension's own live sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.domain import accounts
from portal.domain.devices import UNKNOWN_BROWSER, Browser, from_timestamp, minute
from portal.security.sessionstore import SEEN, PortalStore

DEVICE_KEY = "device"  # in the session: browser, system, address, since (set at sign-in)


@dataclass(frozen=True)
class SignedIn:
    """One live session of an extension, as the list shows it."""

    handle: str
    browser: Browser
    address: str
    since: datetime | None  # None: signed in before sessions kept it
    last_active: datetime | None
    current: bool = False

    @property
    def label(self) -> str:
        return self.browser.label

    @property
    def since_text(self) -> str:
        return minute(self.since) if self.since else "unknown"

    @property
    def last_active_text(self) -> str:
        return minute(self.last_active) if self.last_active else "unknown"


def device_record(browser: Browser, address: str, since: float) -> dict[str, object]:
    """What a session keeps of where it signed in: never the raw User-Agent."""
    return {
        "browser": browser.browser,
        "system": browser.system,
        "address": address,
        "since": since,
    }


def handle_of(secret_key: str, storage_key: str) -> str:
    key = hashlib.sha256(b"portal-session-handle:" + secret_key.encode()).digest()
    return hmac.new(key, storage_key.encode(), hashlib.sha256).hexdigest()[:32]


def _row(secret_key: str, storage_key: str, blob: bytes, current: str | None) -> SignedIn:
    try:
        data = json.loads(blob)
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    kept = data.get(DEVICE_KEY)
    kept = kept if isinstance(kept, dict) else {}

    def text(name: str, default: str) -> str:
        value = kept.get(name)
        return value if isinstance(value, str) and value else default

    def moment(value: object) -> datetime | None:
        return from_timestamp(float(value)) if isinstance(value, int | float) else None

    return SignedIn(
        handle=handle_of(secret_key, storage_key),
        browser=Browser(text("browser", UNKNOWN_BROWSER), text("system", "")),
        address=text("address", "unknown"),
        since=moment(kept.get("since")),
        last_active=moment(data.get(SEEN)),
        current=storage_key == current,
    )


async def signed_in(
    store: PortalStore,
    secret_key: str,
    owner: int,
    current_id: str | None = None,
    owned: list[tuple[str, bytes]] | None = None,
) -> list[SignedIn]:
    """The extension's live sessions: this one (`current_id`) first, then the most recently
    active. `owned`: the store's `owned(owner)` when already read."""
    current = store.storage_key(current_id) if current_id else None
    if owned is None:
        owned = await store.owned(owner)
    rows = [_row(secret_key, key, blob, current) for key, blob in owned]
    epoch = from_timestamp(0)
    rows.sort(key=lambda row: (not row.current, -(row.last_active or epoch).timestamp()))
    return rows


async def end_by_handle(
    store: PortalStore, secret_key: str, owner: int, handle: str, keep: str | None = None
) -> SignedIn | None:
    """End the extension's session whose row has `handle` (never `keep`, this session), and
    return its row; None when there is none, as for another extension's handle or a session
    already ended."""
    if not handle or len(handle) > 64:
        return None
    kept = store.storage_key(keep) if keep else None
    for key, blob in await store.owned(owner):
        mine = hmac.compare_digest(handle_of(secret_key, key).encode(), handle.encode())
        if mine and key != kept and await store.end_one(owner, key):
            return _row(secret_key, key, blob, None)
    return None


async def of_extension(
    db: AsyncSession, store: PortalStore, secret_key: str, code: str
) -> list[SignedIn]:
    """`portal extension sessions EXT-CODE`: its live sessions, most recently active first."""
    username = accounts.parse_extension_code(code)
    await accounts.find_tenant(db, username.tenant_code)
    extension = await accounts.find_extension(db, username)
    if extension is None or extension.id is None:
        raise accounts.AccountError(f"unknown extension {username}")
    return await signed_in(store, secret_key, extension.id)
