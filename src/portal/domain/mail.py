"""Outgoing mail: queued in the outbox table inside the caller's transaction, sent by a worker.

A message is written to the database with whatever the request changes, so it is sent if and
only if that change commits, and it survives restarts and SMTP outages. Any number of workers
(in one process or several) may run: each claims a row with a conditional UPDATE before sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

import anyio.to_thread
from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base.clock import as_utc, utcnow
from portal.base.models import OutboxMessage
from portal.base.settings import Settings

log = logging.getLogger("portal.mail")

SMTP_TIMEOUT_SECONDS = 10.0
# Longer than any one send can take, so a claim only lapses when its worker died mid-send.
CLAIM_SECONDS = 60.0
FIRST_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Email:
    recipient: str
    subject: str
    text: str
    html: str


async def enqueue(db: AsyncSession, email: Email, *, give_up_after: float) -> None:
    """Add `email` to the outbox in the caller's transaction (the caller commits)."""
    db.add(OutboxMessage(**outbox_row(email, give_up_after=give_up_after)))


def outbox_row(email: Email, *, give_up_after: float) -> dict[str, Any]:
    """The outbox row for `email`, due now: for `enqueue`, or an insert of the caller's."""
    now = utcnow()
    return {
        "recipient": email.recipient,
        "subject": email.subject,
        "body_text": email.text,
        "body_html": email.html,
        "created_at": now,
        "give_up_at": now + timedelta(seconds=give_up_after),
        "next_attempt_at": now,
    }


class PermanentFailure(Exception):
    """The message can never be sent as it is; retrying would only repeat the answer."""


class MailSender:
    """Delivers due outbox messages over SMTP, one at a time, never blocking the event loop."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # An address without a display name is shown as the portal's brand: "Phone Portal <…>".
        name, address = parseaddr(settings.mail_from)
        self.sender = settings.mail_from if name else formataddr((settings.brand.name, address))

    def wake(self) -> None:
        """Deliver soon: called after a request commits an enqueue (same process)."""
        event, loop = self._wakeup, self._loop
        if event is None or loop is None:
            return  # not running yet; its first pass will find the message anyway
        if _running_loop() is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Deliver due messages forever; the app's lifespan runs this as a task and cancels it."""
        self._loop = asyncio.get_running_loop()
        while True:
            # A fresh event before each pass: a wake() during the pass starts the next one at once.
            self._wakeup = asyncio.Event()
            try:
                await self.deliver_due()
            except Exception:
                log.exception("mail: delivery pass failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.mail_poll_seconds):
                    await self._wakeup.wait()

    async def deliver_due(self) -> int:
        """One pass: try every due message once; returns how many were sent."""
        async with self.sessionmaker() as db:
            ids = (
                await db.exec(
                    select(OutboxMessage.id)
                    .where(_due(utcnow()))
                    .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                )
            ).all()
        sent = 0
        for message_id in ids:
            assert message_id is not None
            # Shielded so that shutdown waits for a send in flight to be recorded: cancelled
            # half-way, the message would be sent again once its claim lapsed.
            attempt = asyncio.ensure_future(self._deliver(message_id))
            try:
                sent += await asyncio.shield(attempt)
            except asyncio.CancelledError:
                await attempt
                raise
        return sent

    async def _deliver(self, message_id: int) -> bool:
        message = await self._claim(message_id)
        if message is None:
            return False  # another worker has it, or it is no longer due
        now = utcnow()
        if as_utc(message.give_up_at) <= now:
            await self._give_up(message, "gave up: deadline passed before it could be sent")
            return False
        try:
            await anyio.to_thread.run_sync(self._send, self._compose(message))
        except PermanentFailure as exc:
            await self._give_up(message, str(exc))
            return False
        except (smtplib.SMTPException, OSError) as exc:
            await self._retry_later(message, _describe(exc))
            return False
        await self._finish(message.id, sent_at=now)
        log.info("mail: sent message %s to %s", message.id, message.recipient)
        return True

    async def _claim(self, message_id: int) -> OutboxMessage | None:
        now = utcnow()
        async with self.sessionmaker() as db:
            result = await db.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id, _due(now))
                .values(
                    claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
                    attempts=col(OutboxMessage.attempts) + 1,
                )
                .execution_options(synchronize_session=False)
            )
            await db.commit()
            if result.rowcount != 1:
                return None
            return await db.get(OutboxMessage, message_id)

    def _compose(self, message: OutboxMessage) -> EmailMessage:
        try:
            mime = EmailMessage()
            mime["From"] = self.sender
            mime["To"] = message.recipient
            mime["Subject"] = message.subject
            mime["Date"] = format_datetime(utcnow())
            # The same id on every attempt, so a receiver can drop a copy it already has.
            domain = parseaddr(self.settings.mail_from)[1].rpartition("@")[2] or "localhost"
            stamp = int(as_utc(message.created_at).timestamp() * 1_000_000)
            mime["Message-ID"] = f"<portal.{message.id}.{stamp}@{domain}>"
            mime.set_content(message.body_text)
            mime.add_alternative(message.body_html, subtype="html")
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header
            raise PermanentFailure(f"unsendable: {exc}"[:200]) from None
        return mime

    def _send(self, mime: EmailMessage) -> None:
        """Blocking: runs in a worker thread."""
        settings = self.settings
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            try:
                smtp.send_message(mime)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if codes and all(code >= 500 for code in codes):
                    raise PermanentFailure(_describe(exc)) from None
                raise
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code >= 500:
                    raise PermanentFailure(_describe(exc)) from None
                raise
        finally:
            # The message is handed over once send_message returns; a failing QUIT must not
            # make it look unsent.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()

    async def _retry_later(self, message: OutboxMessage, error: str) -> None:
        now = utcnow()
        delay = min(
            FIRST_RETRY_SECONDS * 2 ** max(message.attempts - 1, 0),
            self.settings.mail_retry_max_seconds,
        )
        retry_at = now + timedelta(seconds=delay)
        if retry_at > as_utc(message.give_up_at):
            await self._give_up(message, f"gave up after {message.attempts} attempts: {error}")
            return
        await self._finish(message.id, next_attempt_at=retry_at, last_error=error)
        log.warning(
            "mail: message %s to %s not sent (attempt %d), retrying in %.1fs: %s",
            message.id,
            message.recipient,
            message.attempts,
            delay,
            error,
        )

    async def _give_up(self, message: OutboxMessage, error: str) -> None:
        await self._finish(message.id, failed_at=utcnow(), last_error=error[:500])
        log.warning("mail: message %s to %s failed: %s", message.id, message.recipient, error)

    async def _finish(self, message_id: int | None, **values: Any) -> None:
        """Record an attempt's outcome and release the claim; a finished message loses its body."""
        if "sent_at" in values or "failed_at" in values:
            # A reset link must not sit in the database once it is no longer needed.
            values.update(body_text="", body_html="")
        async with self.sessionmaker() as db:
            await db.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(claimed_until=None, **values)
                .execution_options(synchronize_session=False)
            )
            await db.commit()


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.failed_at).is_(None),
        col(OutboxMessage.next_attempt_at) <= now,
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now),
    )


def _describe(exc: BaseException) -> str:
    """A short, body-free account of a failure, for last_error and the log."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, refusal = next(iter(exc.recipients.values()), (0, b""))
        detail = f"recipient refused: {code} {refusal.decode(errors='replace')}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        detail = f"{type(exc).__name__}: {exc.smtp_code} {text}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return " ".join(detail.split())[:200]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
