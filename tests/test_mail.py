"""The outbox: queued in the request's transaction, delivered to a real SMTP server, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base.db import make_engine, make_sessionmaker
from portal.base.models import OutboxMessage
from portal.base.settings import Settings
from portal.domain.mail import Email, MailSender, enqueue
from tests.smtp import TestSink

Sessionmaker = async_sessionmaker[AsyncSession]
RESET_LINK = "http://127.0.0.1:8000/reset/SECRET-TOKEN-123"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mail_settings(settings: Settings, smtp_sink: TestSink) -> Settings:
    return replace(
        settings,
        smtp_port=smtp_sink.port,
        mail_from="Portal <portal@example.net>",
        mail_poll_seconds=0.05,
        mail_retry_max_seconds=0.2,
    )


@pytest.fixture
async def sessionmaker(mail_settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = make_engine(mail_settings.database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def reset_email(recipient: str = "ada@example.com", subject: str = "Reset your password") -> Email:
    return Email(
        recipient=recipient,
        subject=subject,
        text=f"Hello,\n\nSet a new password here: {RESET_LINK}\n",
        html=f'<p>Set a new password <a href="{RESET_LINK}">here</a>.</p>',
    )


async def queue(sm: Sessionmaker, email: Email, give_up_after: float = 3600) -> None:
    async with sm() as db:
        await enqueue(db, email, give_up_after=give_up_after)
        await db.commit()


async def outbox(sm: Sessionmaker) -> list[OutboxMessage]:
    async with sm() as db:
        return list((await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def make_due(sm: Sessionmaker) -> None:
    """Skip the wait before the next try, as if the backoff had passed."""
    async with sm() as db:
        await db.exec(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
        await db.commit()


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.anyio
async def test_queued_mail_arrives_with_text_and_html_and_its_body_is_wiped(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    await queue(sessionmaker, reset_email())

    assert await MailSender(mail_settings, sessionmaker).deliver_due() == 1

    [mail] = smtp_sink.messages
    assert mail.sender == "Portal <portal@example.net>"
    assert mail.to == "ada@example.com"
    assert mail.recipients == ("ada@example.com",)
    assert mail.subject == "Reset your password"
    assert mail.date and mail.message_id.endswith("@example.net>")
    assert RESET_LINK in mail.text
    assert f'href="{RESET_LINK}"' in mail.html
    [row] = await outbox(sessionmaker)
    assert row.sent_at is not None and row.failed_at is None and row.attempts == 1
    assert (row.recipient, row.subject) == ("ada@example.com", "Reset your password")
    assert row.body_text == row.body_html == ""
    # Sent means done: the next pass sends nothing again.
    assert await MailSender(mail_settings, sessionmaker).deliver_due() == 0
    assert len(smtp_sink.messages) == 1


@pytest.mark.anyio
async def test_mail_queued_in_a_transaction_that_rolls_back_is_never_sent(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    async with sessionmaker() as db:
        await enqueue(db, reset_email(), give_up_after=3600)
        await db.rollback()

    assert await MailSender(mail_settings, sessionmaker).deliver_due() == 0
    assert smtp_sink.messages == []
    assert await outbox(sessionmaker) == []


@pytest.mark.anyio
async def test_mail_queued_during_an_outage_arrives_once_the_server_is_back(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    smtp_sink.stop()
    await queue(sessionmaker, reset_email())
    sender = MailSender(mail_settings, sessionmaker)

    assert await sender.deliver_due() == 0
    [row] = await outbox(sessionmaker)
    assert row.sent_at is None and row.failed_at is None and row.claimed_until is None
    assert row.attempts == 1
    assert row.last_error and "Connection" in row.last_error
    assert "SECRET-TOKEN" not in row.last_error
    assert row.body_text  # still needed for the next try

    smtp_sink.start()
    task = asyncio.create_task(sender.run())
    try:
        [mail] = await smtp_sink.arrival(1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert mail.subject == "Reset your password"
    [row] = await outbox(sessionmaker)
    assert row.sent_at is not None and row.attempts >= 2 and row.body_text == ""


@pytest.mark.anyio
async def test_retries_back_off_exponentially_up_to_the_cap(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    smtp_sink.stop()
    await queue(sessionmaker, reset_email())
    sender = MailSender(replace(mail_settings, mail_retry_max_seconds=3), sessionmaker)

    waits = []
    for _ in range(4):
        await make_due(sessionmaker)
        before = datetime.now(UTC)
        assert await sender.deliver_due() == 0
        [row] = await outbox(sessionmaker)
        waits.append((as_utc(row.next_attempt_at) - before).total_seconds())
        # Not due again until then: a second pass right away does not knock on the door.
        assert await sender.deliver_due() == 0

    assert [round(wait) for wait in waits] == [1, 2, 3, 3]
    [row] = await outbox(sessionmaker)
    assert row.attempts == 4 and row.failed_at is None


@pytest.mark.anyio
async def test_a_recipient_refused_for_good_is_failed_not_retried_and_wiped(
    mail_settings: Settings,
    sessionmaker: Sessionmaker,
    smtp_sink: TestSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_sink.refused.add("nobody@example.com")
    await queue(sessionmaker, reset_email("nobody@example.com"))
    await queue(sessionmaker, reset_email("ada@example.com", subject="For Ada"))
    sender = MailSender(mail_settings, sessionmaker)

    with caplog.at_level(logging.INFO, logger="portal.mail"):
        assert await sender.deliver_due() == 1

    refused, delivered = await outbox(sessionmaker)
    assert refused.failed_at is not None and refused.sent_at is None
    assert refused.last_error and "550" in refused.last_error
    assert refused.body_text == refused.body_html == ""
    assert delivered.sent_at is not None
    assert [mail.subject for mail in smtp_sink.messages] == ["For Ada"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"message {refused.id} to nobody@example.com" in w for w in warnings)
    assert not any("SECRET-TOKEN" in record.getMessage() for record in caplog.records)

    await make_due(sessionmaker)
    assert await sender.deliver_due() == 0
    [again, _] = await outbox(sessionmaker)
    assert again.attempts == 1


@pytest.mark.anyio
async def test_mail_past_its_deadline_is_given_up_unsent(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    await queue(sessionmaker, reset_email(), give_up_after=-1)

    assert await MailSender(mail_settings, sessionmaker).deliver_due() == 0

    assert smtp_sink.messages == []
    [row] = await outbox(sessionmaker)
    assert row.failed_at is not None and row.sent_at is None
    assert row.body_text == row.body_html == ""


@pytest.mark.anyio
async def test_a_retry_that_would_come_after_the_deadline_gives_up_instead(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    smtp_sink.stop()
    # The first retry waits 1 s; the link expires before then.
    await queue(sessionmaker, reset_email(), give_up_after=0.5)
    sender = MailSender(replace(mail_settings, mail_retry_max_seconds=300), sessionmaker)

    assert await sender.deliver_due() == 0

    [row] = await outbox(sessionmaker)
    assert row.failed_at is not None and row.attempts == 1
    assert row.body_text == ""
    assert row.last_error and row.last_error.startswith("gave up")


@pytest.mark.anyio
async def test_two_senders_racing_send_each_message_exactly_once(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    for number in range(12):
        await queue(sessionmaker, reset_email(subject=f"Message {number}"))
    # Each sender with its own engine, as if in its own process.
    other_engine = make_engine(mail_settings.database_url)
    first = MailSender(mail_settings, sessionmaker)
    second = MailSender(mail_settings, make_sessionmaker(other_engine))
    try:
        counts = await asyncio.gather(first.deliver_due(), second.deliver_due())
    finally:
        await other_engine.dispose()

    assert sum(counts) == 12
    subjects = sorted(mail.subject for mail in smtp_sink.messages)
    assert subjects == sorted(f"Message {number}" for number in range(12))
    rows = await outbox(sessionmaker)
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows)


class FailingOnce:
    """A sessionmaker whose first session cannot reach the database."""

    def __init__(self, real: Sessionmaker) -> None:
        self.real = real
        self.failures = 1

    def __call__(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT", {}, ConnectionRefusedError("database is down"))
        return self.real()


@pytest.mark.anyio
async def test_run_survives_a_database_error_and_keeps_delivering(
    mail_settings: Settings,
    sessionmaker: Sessionmaker,
    smtp_sink: TestSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await queue(sessionmaker, reset_email())
    sender = MailSender(mail_settings, cast(Sessionmaker, FailingOnce(sessionmaker)))
    task = asyncio.create_task(sender.run())
    try:
        [mail] = await smtp_sink.arrival(1, within=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert mail.subject == "Reset your password"
    assert any("delivery pass failed" in record.getMessage() for record in caplog.records)


@pytest.mark.anyio
async def test_wake_delivers_at_once_instead_of_at_the_next_poll(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    await queue(sessionmaker, reset_email(subject="First"))
    sender = MailSender(replace(mail_settings, mail_poll_seconds=60), sessionmaker)
    task = asyncio.create_task(sender.run())
    try:
        await smtp_sink.arrival(1, within=5)
        await queue(sessionmaker, reset_email(subject="Second"))
        sender.wake()
        messages = await smtp_sink.arrival(2, within=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [mail.subject for mail in messages] == ["Second", "First"]


@pytest.mark.anyio
async def test_shutdown_during_a_send_waits_to_record_it(
    mail_settings: Settings, sessionmaker: Sessionmaker, smtp_sink: TestSink
) -> None:
    smtp_sink.stall = 0.3
    await queue(sessionmaker, reset_email())
    task = asyncio.create_task(MailSender(mail_settings, sessionmaker).run())
    assert await asyncio.to_thread(smtp_sink.in_data.wait, 10)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(smtp_sink.messages) == 1
    [row] = await outbox(sessionmaker)
    # Recorded as sent, so no restart sends it a second time.
    assert row.sent_at is not None and row.claimed_until is None and row.body_text == ""
