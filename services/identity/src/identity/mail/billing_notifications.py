"""Payment receipts (issue 11), consumed from billing's `portal.billing.payment_succeeded.v1` and queued in the mail
outbox, like the ticket notifications:

- who receives it is `mail.recipients` (`Kind.BILLING`): the paying contact (the event's `contact_id`, when it is one
  of the customer's contacts with an email), else the customer's own email, plus the customer's invoice CC emails;
  nobody when the customer wants no billing emails (its privacy setting `receive_billing_emails`) or no email of any
  kind (SPEC C3). Each recipient gets its own email, greeted by its own name;
- the text is the staff-editable template `payment_receipt` in the payer's language (the event's `language`, the
  page or API request that paid; English when unknown), amounts and dates formatted for that language;
- the method is what billing puts in the event: a brand and the last four digits. The event carries no token or card
  number, so no receipt can.

The consumer (`events.handlers`) is durable and inbox-idempotent through servicekit, and an email is unique per
(event, template, recipient), so a redelivery queues nothing twice. A failed payment mails nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers.models import Customer
from identity.email_templates import service as email_templates
from identity.mail.recipients import Kind, recipients
from identity.mail.service import queue_email
from identity.portal_controls.service import get_controls
from portal.billing.v1 import events_pb2
from portal.common.v1 import common_pb2
from servicekit import i18n
from servicekit.card_brands import method_label
from servicekit.events import EventHandler

log = logging.getLogger(__name__)

TEMPLATE_PAYMENT_RECEIPT = email_templates.PAYMENT_RECEIPT

_WORDS = {
    "en": {
        "settled": "nothing left to pay",
        "left": "{amount} left to pay",
        "store_credit": "store credit",
    },
    "fr": {
        "settled": "rien à payer",
        "left": "reste à payer : {amount}",
        "store_credit": "avoir",
    },
}


def money(m: common_pb2.Money, language: str) -> str:
    """$1,234.56 in English, 1 234,56 $US in French (Babel, as the pages and the invoice PDF write them)."""
    return i18n.money(m.amount_minor, m.currency, language)


def when(at: datetime, language: str) -> str:
    """The date and time in the operator's time zone (PORTAL_TIMEZONE), with its abbreviation."""
    return i18n.moment(at if at.tzinfo else at.replace(tzinfo=UTC), language)


def invoice_lines(event: events_pb2.PaymentOutcome, language: str) -> str:
    words = _WORDS[language]
    out = []
    for a in event.applied:
        if a.amount.amount_minor <= 0:
            continue
        left = words["left"].format(amount=money(a.balance_due, language)) if a.balance_due.amount_minor > 0 else ""
        out.append(f"- {a.number}: {money(a.amount, language)} ({left or words['settled']})")
    if not out and event.method == "store credit":
        return ""
    return "\n".join(out)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def method_text(method: str, language: str) -> str:
    """Brand and last four as billing wrote them ("visa 4242"), the brand as people write it ("Visa 4242", as the
    portal's pages do); only the last four digits of any number survive."""
    if method == "store credit":
        return _WORDS[language]["store_credit"]
    words = []
    for word in _one_line(method).split(" "):
        digits = sum(ch.isdigit() for ch in word)
        # A brand and four digits is all a method is; anything longer that looks like a number is cut to its end.
        words.append(word[-4:] if digits > 4 else word)
    return method_label(" ".join(words))[:60]


def payment_succeeded_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.PaymentOutcome, event_id: str) -> None:
        customer_id = event.meta.customer_id
        to = await recipients(s, customer_id, Kind.BILLING, contact_id=event.contact_id)
        if not to:
            log.info("payment %s: nobody to email the receipt to", event.payment_id)
            return
        customer = await s.get(Customer, customer_id)
        assert customer is not None  # recipients answers nobody for an unknown customer
        paid_at = event.paid_at.ToDatetime() if event.paid_at.seconds else event.meta.occurred_at.ToDatetime()
        base = portal_url.rstrip("/")
        operator = (await get_controls(s)).operator_name or urlsplit(portal_url).hostname or portal_url

        def formatted(language: str) -> dict[str, str]:
            return {
                "amount": money(event.amount, language),
                "method": method_text(event.method, language),
                "paid_at": when(paid_at, language),
                "invoices": invoice_lines(event, language),
                "credited": money(event.credited, language) if event.credited.amount_minor > 0 else "",
            }

        values = {
            "payments_link": f"{base}/billing/payments",
            "customer_name": customer.display_name,
            "portal_url": base,
            "operator_name": operator,
        }
        for recipient in to:
            # SPEC H5: the recipient's own language, else the customer's default, else the payment's.
            language = email_templates.language_or_default(recipient.language or event.language)
            rendered = await email_templates.render(
                s,
                name=TEMPLATE_PAYMENT_RECEIPT,
                language=language,
                values={"name": _one_line(recipient.name), **values, **formatted(language)},
            )
            await queue_email(
                s,
                cause_event_id=event_id,
                template=TEMPLATE_PAYMENT_RECEIPT,
                recipient=recipient.email,
                subject=rendered.subject,
                body=rendered.text,
                customer_id=customer.id,
            )

    return handle
