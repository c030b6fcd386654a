"""Passkeys (WebAuthn) with py_webauthn: adding one to an extension, and signing in with one.

The relying party is the host of PORTAL_BASE_URL and the origin is the base URL's: an assertion
made for another site, or answered on another origin, is refused. User verification is
required both ways. Each challenge is single-use, bound to the visitor (its handle lives only in
the visitor's cookie) and expires after CHALLENGE_SECONDS. Sign counters must move forward, and
a use is recorded only if no other use moved the counter meanwhile, so a replayed assertion is
refused even when two copies race.

Failures count on passkey counters of their own (the address's, and the account's when the
credential names one): a password lockout never blocks a passkey sign-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal.base.clock import as_utc
from portal.base.models import Extension, Passkey
from portal.domain import accounts, audit
from portal.domain import passkeys as stored
from portal.domain.accounts import Account
from portal.domain.devices import minute
from portal.flows.signin.service import take_attempt
from portal.security.alongside import Alongside
from portal.security.sessionstore import OwnerRead
from portal.security.throttle import Refusal
from portal.web.shared import Shared

CHALLENGE_SECONDS = 300  # how long a browser has to answer a challenge
TIMEOUT_MS = 120_000  # how long the browser's own prompt waits
SIGN_IN = "sign-in"
FAILED = "That passkey could not sign you in. Try again, or sign in with your password."
EXPIRED = "The passkey request had expired. Please try again."
NOT_ADDED = "The passkey was not added. Please try again."
AT_LIMIT = f"You have {stored.MAX_PER_EXTENSION} passkeys, the most an extension may have."
NO_NAME = "Give the passkey a name."
LONG_NAME = f"Use at most {stored.NAME_MAX} characters."
ALREADY = "That passkey is already added."
NO_CURRENT = "Enter your current password."
WRONG_CURRENT = "That is not your current password."
UNKNOWN = "unknown-passkey"  # the audit trail's name for a credential that is no one's


@dataclass(frozen=True)
class SignInOutcome:
    who: Account | None = None
    error: str = ""
    locked: bool = False


def _add_purpose(extension_id: int, name: str) -> str:
    return f"add:{extension_id}:{name}"


def check_name(raw: str) -> tuple[str, str | None]:
    """The name as kept, and what is wrong with it (None: nothing)."""
    name = stored.clean_name(raw)
    if not name:
        return name, NO_NAME
    if len(name) > stored.NAME_MAX:
        return name, LONG_NAME
    return name, None


def _rp(shared: Shared) -> str:
    rp_id = shared.settings.passkey_rp_id
    assert rp_id is not None, "passkey routes answer 404 without a relying party id"
    return rp_id


async def _challenge(shared: Shared, challenge: bytes, purpose: str) -> str:
    now = shared.clock()
    async with shared.db() as db:
        return await stored.put_challenge(
            db, shared.settings.secret_key, challenge, purpose, now + CHALLENGE_SECONDS, now
        )


async def _take(shared: Shared, handle: str | None) -> stored.Challenge | None:
    async with shared.db() as db:
        return await stored.take_challenge(db, shared.settings.secret_key, handle, shared.clock())


# --- adding one (Settings) ---------------------------------------------------------------------


async def add_options(shared: Shared, account: Account, name: str) -> tuple[str, str] | str:
    """(challenge handle, options JSON) for `navigator.credentials.create`, or why not."""
    async with shared.db() as db:
        mine = await stored.of_extension(db, account.id)
    if len(mine) >= stored.MAX_PER_EXTENSION:
        return AT_LIMIT
    options = generate_registration_options(
        rp_id=_rp(shared),
        rp_name=shared.settings.brand.name,
        user_id=f"portal-extension:{account.id}".encode(),  # no personal data: an id
        user_name=account.username,
        user_display_name=account.name or account.username,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=_bytes(p.credential_id)) for p in mine
        ],
    )
    handle = await _challenge(shared, options.challenge, _add_purpose(account.id, name))
    return handle, options_to_json(options)


async def add(
    shared: Shared, account: Account, handle: str | None, credential: str, address: str
) -> tuple[str, str | None]:
    """Verify the browser's new credential against the challenge and keep it: (its name, None),
    or ("", what went wrong)."""
    taken = await _take(shared, handle)
    prefix = _add_purpose(account.id, "")
    if taken is None or not taken.purpose.startswith(prefix):
        return "", EXPIRED
    name = taken.purpose[len(prefix) :]
    try:
        verified = await anyio.to_thread.run_sync(
            lambda: verify_registration_response(
                credential=credential,
                expected_challenge=taken.challenge,
                expected_rp_id=_rp(shared),
                expected_origin=shared.settings.origin,
                require_user_verification=True,
            )
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        async with shared.db() as db:
            await audit.record(db, "passkey-add", "failure", account.username, address)
        return "", NOT_ADDED
    async with shared.db() as db:
        if await stored.count_to_add(db, account.id) >= stored.MAX_PER_EXTENSION:
            return "", AT_LIMIT
        db.add(
            Passkey(
                extension_id=account.id,
                credential_id=_text(verified.credential_id),
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                name=name,
            )
        )
        audit.add(db, "passkey-add", "success", account.username, address)
        try:
            await db.commit()
        except IntegrityError:
            return "", ALREADY
    await changed(shared, account.id)
    return name, None


# --- signing in (the login page) ---------------------------------------------------------------


async def sign_in_options(shared: Shared) -> tuple[str, str]:
    """(challenge handle, options JSON) for `navigator.credentials.get`: no credentials
    listed, so the browser offers the passkeys it holds for this site (discoverable)."""
    options = generate_authentication_options(
        rp_id=_rp(shared),
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    handle = await _challenge(shared, options.challenge, SIGN_IN)
    return handle, options_to_json(options)


async def sign_in(
    shared: Shared, handle: str | None, credential: str, address: str, alongside: list[Alongside]
) -> SignInOutcome:
    """Check a passkey's answer; the account it signs in, or what to say. Its audit row goes
    on `alongside`, stored with the session a success opens."""
    taken = await _take(shared, handle)  # used up here, whatever follows
    if taken is None or taken.purpose != SIGN_IN:
        return SignInOutcome(error=EXPIRED)
    try:
        parsed = parse_authentication_credential_json(credential)
        credential_id = _text(parsed.raw_id)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        parsed, credential_id = None, ""
    async with shared.db() as db:
        passkey = await stored.by_credential(db, credential_id) if parsed else None
    who = await accounts.load_account(shared.engine, passkey.extension_id) if passkey else None
    name = who.username if who else UNKNOWN
    attempt = await shared.throttle.passkey_attempt(address, who.username if who else None)
    if isinstance(attempt, Refusal):
        alongside.append(audit.pending("passkey-sign-in", "locked", name, address))
        return SignInOutcome(error=attempt.message, locked=True)
    async with attempt.checking():
        ok = (
            who is not None
            and passkey is not None
            and await _verify(shared, taken, passkey, credential)
        )
    if not ok:
        await attempt.failed()
        alongside.append(audit.pending("passkey-sign-in", "failure", name, address))
        return SignInOutcome(error=FAILED)
    await attempt.succeeded()
    alongside.append(audit.pending("passkey-sign-in", "success", name, address))
    return SignInOutcome(who=who)


async def _verify(
    shared: Shared, taken: stored.Challenge, passkey: Passkey, credential: str
) -> bool:
    """Whether the assertion is good for this challenge, site and passkey, and its counter
    moved on; a good one is recorded as the passkey's latest use."""
    try:
        verified = await anyio.to_thread.run_sync(
            lambda: verify_authentication_response(
                credential=credential,
                expected_challenge=taken.challenge,
                expected_rp_id=_rp(shared),
                expected_origin=shared.settings.origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    async with shared.db() as db:
        moved = await stored.used(db, passkey, passkey.sign_count, verified.new_sign_count)
        await db.commit()
    if moved:
        await changed(shared, passkey.extension_id)  # its "last used" moved
    return moved


# --- the list ----------------------------------------------------------------------------------

KEPT = "passkeys"  # the list's name among those kept with the owner's sessions


async def rows(
    shared: Shared, extension_id: int, read: OwnerRead | None = None
) -> list[dict[str, str]]:
    """The extension's passkeys as the list shows them (`row`): kept beside the owner's
    sessions where the store keeps lists (`read`, read with the session: Redis), else read from
    the database and kept there; every change of a passkey drops it (`changed`)."""
    if read is not None:
        kept = _kept_rows(read.cached.get(KEPT))
        if kept is not None:
            return kept
    found = [row(passkey) for passkey in await stored.listed(shared.engine, extension_id)]
    if read is not None and shared.store.keeps_lists:
        value = json.dumps(found, separators=(",", ":")).encode()
        await shared.store.fill_cached(extension_id, KEPT, value, read.version)
    return found


def _kept_rows(value: bytes | None) -> list[dict[str, str]] | None:
    """The kept rows, unless they are not what `row` makes (kept by an older release, say)."""
    try:
        found = json.loads(value) if value is not None else None
    except ValueError:
        return None
    good = isinstance(found, list) and all(
        isinstance(i, dict) and i.keys() == ROW_KEYS and all(isinstance(v, str) for v in i.values())
        for i in found
    )
    return found if good else None


async def changed(shared: Shared, extension_id: int) -> None:
    """After a change of the extension's passkeys committed: the kept list goes."""
    await shared.store.drop_cached(extension_id)


def section_values(
    rows: list[dict[str, str]],
    *,
    reverify: bool,
    message: str | None = None,
    error: bool = False,
    rename: str | None = None,
    remove: str | None = None,
    errors: dict[str, str] | None = None,
    name: str = "",
) -> dict[str, Any]:
    """The section's context for `rows` (`row`), where passkeys are available: what
    `routes.section_context` reads for a request, and what the gallery and the benchmark's
    floor give."""
    return {
        "passkeys_available": True,
        "passkeys": rows,
        "passkeys_message": message,
        "passkeys_error": error,
        "passkey_rename": rename,
        "passkey_remove": remove,
        "passkey_errors": errors or {},
        "passkey_name": name,
        "passkeys_reverify": reverify,
        "passkeys_max": stored.MAX_PER_EXTENSION,
    }


ROW_KEYS = frozenset({"id", "name", "added", "added_at", "last_used", "last_used_at"})


def row(passkey: stored.Listed) -> dict[str, str]:
    """A passkey as the list shows it (ROW_KEYS): its times to the minute, UTC."""
    last = passkey.last_used_at
    return {
        "id": str(passkey.id),
        "name": passkey.name,
        "added": minute(as_utc(passkey.created_at)),
        "added_at": as_utc(passkey.created_at).strftime("%Y-%m-%dT%H:%MZ"),
        "last_used": minute(as_utc(last)) if last else "Never",
        "last_used_at": as_utc(last).strftime("%Y-%m-%dT%H:%MZ") if last else "",
    }


async def rename(shared: Shared, account: Account, passkey_id: str, name: str) -> Passkey | None:
    async with shared.db() as db:
        passkey = await stored.mine(db, account.id, passkey_id)
        if passkey is None:
            return None
        passkey.name = name
        db.add(passkey)
        await db.commit()
        await db.refresh(passkey)
    await changed(shared, account.id)
    return passkey


async def remove(shared: Shared, account: Account, passkey_id: str, address: str) -> Passkey | None:
    async with shared.db() as db:
        passkey = await stored.mine(db, account.id, passkey_id)
        if passkey is None:
            return None
        await db.delete(passkey)
        audit.add(db, "passkey-remove", "success", account.username, address)
        await db.commit()
    await changed(shared, account.id)
    return passkey


def _bytes(text: str) -> bytes:
    return base64url_to_bytes(text)


def _text(raw: bytes) -> str:
    return bytes_to_base64url(raw)


async def check_password(
    shared: Shared, account: Account, password: str, address: str
) -> str | None:
    """None when `password` is the extension's, else what to say. Counted like a sign-in:
    a wrong one is a failure, and a locked account is told to wait."""
    if not password:
        return NO_CURRENT
    attempt = await take_attempt(shared, account.username, address)
    if isinstance(attempt, Refusal):
        outcome, problem = "locked", attempt.message
    else:
        async with attempt.checking():
            async with shared.db() as db:
                extension = await db.get(Extension, account.id)
            stored_hash = extension.password_hash if extension else None
            verdict = await shared.passwords.verify(stored_hash, password)
        if verdict.ok:
            await attempt.succeeded()
            return None
        await attempt.failed()
        outcome, problem = "failure", WRONG_CURRENT
    async with shared.db() as db:
        await audit.record(db, "passkey-reverify", outcome, account.username, address)
    return problem
