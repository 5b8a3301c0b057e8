"""The ticket-created consumer and the mailer: one email per event, sent over real SMTP exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from identity.db import utcnow
from identity.events.handlers import TICKET_CREATED_CONSUMER, consumers, ticket_created_handler
from identity.events.publish import EMAIL_SENT
from identity.mail.mailer import Mailer, SmtpConfig, SmtpTransport
from identity.mail.models import OutboundEmail
from identity.mail.service import queue_email
from portal.common.v1 import common_pb2
from portal.identity.v1 import events_pb2
from portal.tickets.v1 import events_pb2 as ticket_events
from servicekit.db import Database
from servicekit.events import MSG_ID
from servicekit.metrics import kit_metrics
from servicekit.outbox_tables import inbox, outbox

PORTAL_URL = "https://portal.example.test"


def ticket_created(world, *, contact: bool = True, event_id: str | None = None, subject: str = "Printer jams"):  # noqa: ANN001, ANN201
    return ticket_events.TicketCreated(
        meta=common_pb2.EventMeta(event_id=event_id or str(uuid.uuid4()), customer_id=world.customer_a),
        ticket_id="t-123",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a if contact else "",
        subject=subject,
        created_by=world.alice,
    )


async def emails(db: Database) -> list[OutboundEmail]:
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.created_at))).all())


async def handle(db: Database, event) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        await ticket_created_handler(portal_url=PORTAL_URL)(s, event, event.meta.event_id)


def ticket_created_consumer(db: Database):  # noqa: ANN201
    all_consumers = consumers(db=db, metrics=kit_metrics("identity"), portal_url=PORTAL_URL)
    [consumer] = [c for c in all_consumers if c.name == TICKET_CREATED_CONSUMER]
    return consumer


class Msg:
    """What the kit reads from a JetStream message."""

    subject = "portal.tickets.ticket_created.v1"

    def __init__(self, data: bytes, message_id: str) -> None:
        self.data = data
        self.headers = {MSG_ID: message_id}
        self.acked = 0

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float = 0) -> None:
        raise AssertionError("the handler failed")


async def test_the_handler_queues_one_email_for_the_same_event_twice(db: Database, world) -> None:
    event = ticket_created(world)
    await handle(db, event)
    await handle(db, event)  # a redelivery that got past the inbox (e.g. under another message id)
    [email] = await emails(db)
    assert (email.recipient, email.template, email.cause_event_id) == (
        "alice@acme.test",
        "ticket_created",
        event.meta.event_id,
    )
    assert email.subject == "Ticket #1042 received: Printer jams"
    assert f"{PORTAL_URL}/tickets/t-123" in email.body
    assert email.sent_at is None and email.customer_id == world.customer_a


async def test_without_a_contact_the_customer_is_emailed(db: Database, world) -> None:
    await handle(db, ticket_created(world, contact=False, subject="Line one\r\nBcc: victim@example.test"))
    [email] = await emails(db)
    assert email.recipient == "office@acme.test"
    assert "\n" not in email.subject and "\r" not in email.subject


async def test_unknown_customers_and_unreadable_messages_queue_nothing(db: Database, world) -> None:
    other = ticket_created(world)
    other.customer_id = "no-such-customer"
    await handle(db, other)
    unreadable = Msg(b"\xff\xff not protobuf", "x")
    await ticket_created_consumer(db)._handle(unreadable)
    assert unreadable.acked == 1  # handled: it would fail the same way on every redelivery
    assert await emails(db) == []


async def test_through_the_kit_consumer_a_redelivery_is_absorbed_by_the_inbox(db: Database, world) -> None:
    consumer = ticket_created_consumer(db)
    event = ticket_created(world)
    msg = Msg(event.SerializeToString(), event.meta.event_id)
    await consumer._handle(msg)
    await consumer._handle(msg)
    assert msg.acked == 2
    assert len(await emails(db)) == 1
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(inbox)) == 1


async def test_an_event_published_again_under_another_message_id_queues_nothing_twice(db: Database, world) -> None:
    consumer = ticket_created_consumer(db)
    event = ticket_created(world)
    for message_id in (event.meta.event_id, "published-again"):
        await consumer._handle(Msg(event.SerializeToString(), message_id))
    [email] = await emails(db)
    assert email.cause_event_id == event.meta.event_id


def mailer(db: Database, port: int) -> Mailer:
    config = SmtpConfig(host="127.0.0.1", port=port, mail_from="portal@example.test", timeout=5)
    return Mailer(db, SmtpTransport(config))


async def test_the_mailer_sends_over_smtp_once_and_publishes_email_sent(db: Database, world, smtp_server) -> None:
    event = ticket_created(world)
    await handle(db, event)
    m = mailer(db, smtp_server.port)
    assert await m.send_pending() == 1
    assert await m.send_pending() == 0

    [envelope] = smtp_server.inbox.envelopes
    assert envelope.rcpt_tos == ["alice@acme.test"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Ticket #1042 received: Printer jams"
    assert message["From"] == "portal@example.test"
    assert f"{PORTAL_URL}/tickets/t-123" in message.get_content()

    [email] = await emails(db)
    assert email.sent_at is not None and email.attempts == 1 and message["Message-ID"] == f"<{email.id}@example.test>"
    async with db.unit_of_work() as s:
        [row] = (await s.execute(sa.select(outbox.c.payload).where(outbox.c.subject == EMAIL_SENT))).all()
    sent = events_pb2.EmailSent.FromString(row.payload)
    assert (sent.template, sent.recipient, sent.cause_event_id) == (
        "ticket_created",
        "alice@acme.test",
        event.meta.event_id,
    )


async def test_the_mailer_retries_with_backoff_when_smtp_is_down(db: Database, world, smtp_server) -> None:
    await handle(db, ticket_created(world))
    down = mailer(db, smtp_server.port + 1 if smtp_server.port < 65535 else 1)
    assert await down.send_pending() == 1
    [email] = await emails(db)
    assert email.sent_at is None and email.attempts == 1 and email.last_error
    assert email.next_attempt_at - utcnow() > timedelta(seconds=3)
    up = mailer(db, smtp_server.port)
    assert await up.send_pending() == 0  # not due yet
    assert await up.send_pending(now=utcnow() + timedelta(seconds=6)) == 1
    assert len(smtp_server.inbox.envelopes) == 1
    assert (await emails(db))[0].attempts == 2


async def test_a_refused_recipient_is_not_retried(db: Database, world, smtp_server) -> None:
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, N802
            return "550 no such user"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await handle(db, ticket_created(world))
        assert await mailer(db, port).send_pending() == 1
    finally:
        controller.stop()
    [email] = await emails(db)
    assert email.failed_at is not None and email.sent_at is None
    assert await mailer(db, smtp_server.port).send_pending(now=utcnow() + timedelta(days=1)) == 0


async def test_two_mailers_never_send_the_same_email(db: Database, world, smtp_server) -> None:
    for i in range(6):
        async with db.unit_of_work() as s:
            await queue_email(
                s, cause_event_id=f"e{i}", template="t", recipient=f"r{i}@example.test", subject="s", body="b"
            )
    a, b = mailer(db, smtp_server.port), mailer(db, smtp_server.port)
    await asyncio.gather(a.send_pending(), b.send_pending(), a.send_pending(), b.send_pending())
    assert sorted(e.rcpt_tos[0] for e in smtp_server.inbox.envelopes) == [f"r{i}@example.test" for i in range(6)]
    assert all(e.sent_at is not None and e.attempts == 1 for e in await emails(db))


async def test_the_running_mailer_wakes_when_an_email_is_queued(db: Database, world, smtp_server) -> None:
    config = SmtpConfig(host="127.0.0.1", port=smtp_server.port, mail_from="portal@example.test", timeout=5)
    running = asyncio.create_task(Mailer(db, SmtpTransport(config), poll_seconds=60).run())
    try:
        await asyncio.sleep(0.05)
        await handle(db, ticket_created(world))
        for _ in range(100):
            if smtp_server.inbox.envelopes:
                break
            await asyncio.sleep(0.05)
        assert len(smtp_server.inbox.envelopes) == 1  # well before the 60 s poll
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_non_ascii_subjects_and_bodies_arrive_intact(db: Database, world, smtp_server) -> None:
    await handle(db, ticket_created(world, subject="Imprimante bloquée à l'accueil"))
    assert await mailer(db, smtp_server.port).send_pending() == 1
    [envelope] = smtp_server.inbox.envelopes
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Ticket #1042 received: Imprimante bloquée à l'accueil"
    assert "Imprimante bloquée à l'accueil" in message.get_content()
    assert f"{PORTAL_URL}/tickets/t-123" in message.get_content()


class Catcher:
    """An SMTP catcher that notes each message's connection (the client's address and port) and each QUIT, refuses
    the recipients in `refuse` (550) and drops the connection at the MAIL of the senders' `drop_at`-th message."""

    def __init__(self, *, refuse: tuple[str, ...] = (), drop_at: int = 0) -> None:
        self.refuse, self.drop_at = refuse, drop_at
        self.received: list[tuple[tuple, str, bytes]] = []  # (peer, recipient, content)
        self.mails = 0
        self.quits = 0

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        self.mails += 1
        if self.mails == self.drop_at:
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.received.extend((session.peer, rcpt, envelope.content) for rcpt in envelope.rcpt_tos)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.quits += 1
        return "221 Bye"

    def connections(self) -> int:
        return len({peer for peer, _, _ in self.received})


@contextlib.contextmanager
def catcher(handler: Catcher) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def queue(db: Database, *recipients: str) -> None:
    """Queue a plain email to each recipient, due in that order."""
    async with db.unit_of_work() as s:
        for i, recipient in enumerate(recipients):
            await queue_email(
                s,
                cause_event_id=f"pass-{i}",
                template="t",
                recipient=recipient,
                subject=f"Ticket #{1000 + i} received",
                body=f"Hello {i},\n\nhttps://portal.example.test/tickets/{i}\n",
            )
            await s.execute(
                sa.update(OutboundEmail)
                .where(OutboundEmail.recipient == recipient)
                .values(next_attempt_at=utcnow() - timedelta(seconds=len(recipients) - i))
            )


async def by_recipient(db: Database) -> dict[str, OutboundEmail]:
    return {e.recipient: e for e in await emails(db)}


async def test_a_pass_sends_its_emails_over_one_connection_and_quits(db: Database, world) -> None:
    handler = Catcher()
    with catcher(handler) as port:
        await queue(db, *(f"r{i}@example.test" for i in range(5)))
        assert await mailer(db, port).send_pending() == 5
        assert sorted(rcpt for _, rcpt, _ in handler.received) == [f"r{i}@example.test" for i in range(5)]
        assert handler.connections() == 1 and handler.quits == 1
        assert all(e.sent_at is not None and e.attempts == 1 for e in await emails(db))
        # The next pass has a connection of its own; a pass with nothing to send opens none.
        await queue(db, "later@example.test")
        assert await mailer(db, port).send_pending() == 1
        assert await mailer(db, port).send_pending() == 0
        assert handler.connections() == 2 and handler.quits == 2


async def test_a_refused_recipient_mid_pass_fails_only_its_own_email(db: Database, world) -> None:
    handler = Catcher(refuse=("nobody@example.test",))
    with catcher(handler) as port:
        await queue(db, "first@example.test", "nobody@example.test", "third@example.test")
        assert await mailer(db, port).send_pending() == 3
    assert [rcpt for _, rcpt, _ in handler.received] == ["first@example.test", "third@example.test"]
    assert handler.connections() == 1  # smtplib's RSET after the refusal kept it usable
    rows = await by_recipient(db)
    assert rows["nobody@example.test"].failed_at is not None and rows["nobody@example.test"].sent_at is None
    assert rows["nobody@example.test"].last_error == "SMTPRecipientsRefused"
    assert all(
        rows[r].sent_at is not None and rows[r].failed_at is None for r in ("first@example.test", "third@example.test")
    )


async def test_a_connection_dropped_mid_pass_fails_one_email_for_a_retry_and_the_rest_go_on_a_new_one(
    db: Database, world
) -> None:
    handler = Catcher(drop_at=2)  # b's
    everyone = ["a@example.test", "b@example.test", "c@example.test"]
    with catcher(handler) as port:
        await queue(db, *everyone)
        m = mailer(db, port)
        assert await m.send_pending() == 3
        assert len(handler.received) == 2 and handler.connections() == 2
        [dropped] = [e for e in await emails(db) if e.sent_at is None]
        assert dropped.recipient == "b@example.test"
        assert dropped.failed_at is None and dropped.attempts == 1 and dropped.last_error == "SMTPServerDisconnected"
        assert dropped.next_attempt_at - utcnow() > timedelta(seconds=3)
        assert await m.send_pending() == 0  # backing off
        assert await m.send_pending(now=utcnow() + timedelta(seconds=6)) == 1
    assert handler.received[-1][1] == dropped.recipient
    assert sorted(rcpt for _, rcpt, _ in handler.received) == everyone
    rows = await by_recipient(db)
    assert rows[dropped.recipient].sent_at is not None and rows[dropped.recipient].attempts == 2
    assert all(e.attempts == 1 for r, e in rows.items() if r != dropped.recipient)


async def test_smtp_down_for_a_whole_pass_retries_every_email(db: Database, world) -> None:
    await queue(db, "a@example.test", "b@example.test")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert await mailer(db, closed).send_pending() == 2
    assert all(e.sent_at is None and e.failed_at is None and e.attempts == 1 and e.last_error for e in await emails(db))
