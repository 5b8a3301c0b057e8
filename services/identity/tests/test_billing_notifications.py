"""Payment receipts (issue 11): billing's payment_succeeded, published on a real nats-server's JetStream and consumed
by identity's registered consumer, queues one receipt for the paying contact (else the customer) in the payer's
language, with the method as brand and last four only; a redelivery queues nothing twice, and a customer that wants
no email, or no billing email, gets none. SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from identity.customers.models import Customer
from identity.email_templates import service as email_templates
from identity.events import handlers
from identity.mail.billing_notifications import TEMPLATE_PAYMENT_RECEIPT, method_text
from identity.mail.models import OutboundEmail
from identity.main import NAME
from portal.billing.v1 import events_pb2
from portal.common.v1 import common_pb2
from servicekit import events as kit_events
from servicekit.db import Database
from servicekit.metrics import kit_metrics
from servicekit.principal import Principal

PORTAL_URL = "https://portal.example.test"
PAID_AT = datetime(2026, 12, 4, 14, 5, tzinfo=UTC)


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="USD")


def succeeded(customer_id: str, *, contact_id: str = "", language: str = "", credited: int = 0):  # noqa: ANN201
    at = Timestamp()
    at.FromDatetime(PAID_AT)
    event_id = str(uuid.uuid4())
    return events_pb2.PaymentOutcome(
        meta=common_pb2.EventMeta(event_id=event_id, occurred_at=at, customer_id=customer_id),
        payment_id=f"pay-{event_id[:8]}",
        amount=usd(123_450 + credited),
        invoice_ids=["inv-1", "inv-2"],
        contact_id=contact_id,
        method="visa 4242",
        paid_at=at,
        applied=[
            events_pb2.AppliedToInvoice(invoice_id="inv-1", number="INV-1001", amount=usd(100_000), balance_due=usd(0)),
            events_pb2.AppliedToInvoice(
                invoice_id="inv-2", number="INV-1002", amount=usd(23_450), balance_due=usd(1_550)
            ),
        ],
        credited=usd(credited),
        language=language,
    )


async def until(check: Callable, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        await asyncio.sleep(0.1)


async def receipts(db: Database) -> list[OutboundEmail]:
    async with db.unit_of_work() as s:
        stmt = sa.select(OutboundEmail).where(OutboundEmail.template == TEMPLATE_PAYMENT_RECEIPT)
        return list((await s.scalars(stmt.order_by(OutboundEmail.created_at))).all())


def consumed(name: str, outcome: str) -> float:
    return kit_metrics(NAME).events_consumed.labels(name, outcome)._value.get()


def test_identity_consumes_billings_payment_succeeded_durably() -> None:
    registered = {
        c.name: (c.subject, c.message)
        for c in handlers.consumers(db=None, metrics=kit_metrics(NAME), portal_url=PORTAL_URL)  # type: ignore[arg-type]
    }
    assert registered["identity-payment-succeeded"] == (
        "portal.billing.payment_succeeded.v1",
        events_pb2.PaymentOutcome,
    )


def test_a_method_shows_brand_and_last_four_only() -> None:
    # The brand as people write it, as the portal's pages do (servicekit.card_brands).
    assert method_text("visa 4242", "en") == "Visa 4242"
    assert method_text("visa 4242424242424242", "en") == "Visa 4242"
    assert method_text("amex 0005", "en") == "American Express 0005"
    assert method_text("Cash 1042", "en") == "Cash 1042"
    assert method_text("store credit", "fr") == "avoir"


async def test_receipts_through_nats_once_each_in_the_payers_language(
    db: Database, world, nats_server, staff: Principal
) -> None:  # noqa: ANN001
    nc = await kit_events.connect(nats_server.url, "identity-receipts-test")
    js = nc.jetstream()
    await kit_events.ensure_stream(nc)
    # A durable of its own: the stream is shared by the session's tests, and a fresh durable reads it from the start.
    name = f"identity-test-receipts-{uuid.uuid4().hex[:8]}"
    registered = next(
        c
        for c in handlers.consumers(db=db, metrics=kit_metrics(NAME), portal_url=PORTAL_URL)
        if c.name == handlers.PAYMENT_SUCCEEDED_CONSUMER
    )

    def start() -> asyncio.Task:
        consumer = kit_events.Consumer(
            name=name,
            subject=registered.subject,
            message=registered.message,
            handler=registered._handler,
            db=db,
            metrics=kit_metrics(NAME),
        )
        return asyncio.create_task(consumer.run(nc))

    async def stop(task: asyncio.Task) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def publish(event: events_pb2.PaymentOutcome, msg_id: str = "") -> None:
        subj = "portal.billing.payment_succeeded.v1"
        msg_id = msg_id or event.meta.event_id
        await js.publish(subj, event.SerializeToString(), headers={kit_events.MSG_ID: msg_id}, timeout=5)

    async with db.unit_of_work() as s:
        quiet = Customer(
            id=str(uuid.uuid4()), business_name="Quiet Ltd", email="quiet@quiet.test", email_key="quiet@quiet.test"
        )
        no_billing = Customer(
            id=str(uuid.uuid4()), business_name="Paper Ltd", email="paper@paper.test", email_key="paper@paper.test"
        )
        quiet.no_email = True
        no_billing.receive_billing_emails = False
        s.add_all([quiet, no_billing])
    async with db.unit_of_work() as s:
        # Staff customise the English receipt; the French one stays the default.
        await email_templates.update_template(
            s,
            principal=staff,
            name=TEMPLATE_PAYMENT_RECEIPT,
            language="en",
            subject="Receipt {{ amount }} from {{ operator_name }}",
            body="Dear {{ name }}, {{ amount }} by {{ method }} on {{ paid_at }}.\n{{ invoices }}\n",
        )

    french = succeeded(world.customer_a, contact_id=world.contact_a, language="fr", credited=2_500)
    english = succeeded(world.customer_a, contact_id="someone-elses-contact")
    task = start()
    try:
        await publish(french)
        await publish(english)
        # The same event again under another message id (a relay retry that JetStream did not deduplicate).
        await publish(french, msg_id=str(uuid.uuid4()))
        await publish(succeeded(quiet.id))
        await publish(succeeded(no_billing.id))
        marker = succeeded(world.customer_b)
        await publish(marker)

        async def all_handled() -> bool:
            return any(e.recipient == "bea@blue.test" for e in await receipts(db))

        await until(all_handled)
        sent = await receipts(db)
        assert [(e.recipient, e.cause_event_id) for e in sent] == [
            ("alice@acme.test", french.meta.event_id),
            ("office@acme.test", english.meta.event_id),
            ("bea@blue.test", marker.meta.event_id),
        ]
        fr, en = sent[0], sent[1]
        # A subject is one line of plain spaces.
        assert fr.subject == "Paiement reçu : 1 259,50 $US"
        for expected in (
            "Bonjour Alice Moreno,",
            "votre paiement de 1\u202f259,50\u00a0$US le 4\u00a0déc.\u00a02026 14:05\u00a0UTC",
            "Payé avec : Visa 4242",
            "- INV-1001: 1\u202f000,00\u00a0$US (rien à payer)",
            "- INV-1002: 234,50\u00a0$US (reste à payer : 15,50\u00a0$US)",
            "25,00\u00a0$US de plus que le montant dû ont été conservés en avoir.",
            f"{PORTAL_URL}/billing/payments",
        ):
            assert expected in fr.body, expected
        # The contact is not the customer's: the receipt goes to the customer, in the staff's English template.
        assert en.subject.startswith("Receipt $1,234.50 from ")
        assert en.body.startswith("Dear Acme Dental, $1,234.50 by Visa 4242 on 4\u00a0Dec\u00a02026 14:05\u00a0UTC.")
        assert "- INV-1002: $234.50 ($15.50 left to pay)" in en.body

        # A real redelivery of the whole stream to the same durable is absorbed by the inbox.
        await stop(task)
        await js.delete_consumer(kit_events.STREAM, name)
        duplicates = consumed(name, "duplicate")
        task = start()

        async def replayed() -> bool:
            return consumed(name, "duplicate") >= duplicates + 6

        await until(replayed)
        assert consumed(name, "failed") == 0
        assert [e.id for e in await receipts(db)] == [e.id for e in sent]
    finally:
        await stop(task)
        await nc.close()
