"""The billing sections' rows, formatted once in Python for the templates; the portal home and /billing share
them (gateway/web/billing.py holds the billing pages themselves)."""

from __future__ import annotations

from typing import NamedTuple

from gateway.clients.schemas import Invoice, Money
from gateway.edge.sessions import Session
from gateway.web.i18n import Translator
from servicekit import permissions as perm
from servicekit.card_brands import method_label


def perms(session: Session) -> dict[str, bool]:
    p = session.principal
    return {
        "overview": p.has(perm.ACCOUNT_OVERVIEW_VIEW),
        "invoices": p.has(perm.INVOICES_VIEW_ALL) or p.has(perm.INVOICES_VIEW_MINE),
        "pay": p.has(perm.INVOICES_PAY_ONLINE),
        "payments": p.has(perm.PAYMENTS_VIEW_ALL) or p.has(perm.PAYMENTS_VIEW_MINE),
        "estimates": p.has(perm.ESTIMATES_VIEW_ALL) or p.has(perm.ESTIMATES_VIEW_MINE),
        "options": p.has(perm.PAYMENT_OPTIONS_MANAGE),
    }


def money(t: Translator, m) -> str:  # noqa: ANN001 - portal.common.v1.Money
    return t.money(Money.from_proto(m))


def invoice_status(t: Translator, inv) -> str:  # noqa: ANN001 - portal.billing.v1.Invoice
    """Billing's display status in words: Partly paid, Overdue · 12 days, Paid … (the rule is billing's
    `invoices.service.display_status`, which fills `display_status` and `days_overdue`)."""
    shown = inv.display_status or inv.status
    if shown == "overdue" and inv.days_overdue:
        return t.plural("language.plural.overdue", inv.days_overdue)
    return t.label("billing.status", shown)


def invoice_row(t: Translator, inv) -> dict:  # noqa: ANN001
    shown = inv.display_status or inv.status
    return {
        "id": inv.id,
        "number": inv.number,
        "issued": t.date(inv.issued_on),
        "due": t.date(inv.due_on),
        "status": invoice_status(t, inv),
        "status_class": f"status-{shown}",
        "overdue": shown == "overdue",
        # Partly paid says what is left beside the word, where a narrow screen shows it without scrolling the table.
        "due_note": t("billing.status.amount_due", amount=money(t, inv.balance_due)) if shown == "partly_paid" else "",
        "summary": inv.items_summary,
        "total": money(t, inv.total),
        "balance": money(t, inv.balance_due),
        "open": inv.status == "open" and inv.balance_due.amount_minor > 0,
        "held": False,  # set where pending payments are known (summary_context)
    }


def payment_row(t: Translator, p) -> dict:  # noqa: ANN001
    return {
        "id": p.id,
        "date": t.date(p.created_at[:10]),
        "amount": money(t, p.amount),
        "credited": t("billing.payments.credited", amount=money(t, p.credited)) if p.credited.amount_minor else "",
        # A refund leaves the invoices paid (staff refund a payment, not an invoice): the payment says what came back.
        "refunded": t("billing.payments.refunded", amount=money(t, p.refunded)) if p.refunded.amount_minor else "",
        "method": method_label(p.method),
        "invoices": ", ".join(n for n in p.invoice_numbers if n),
    }


def pending_row(t: Translator, p) -> dict:  # noqa: ANN001 - a pending portal.billing.v1.Payment
    return {
        "id": p.id,
        "text": t(
            "billing.pending.text",
            amount=money(t, p.amount),
            method=method_label(p.method),
            invoices=", ".join(n for n in p.invoice_numbers if n),
            date=t.date(p.created_at[:10]),
        ),
    }


def estimate_row(t: Translator, e) -> dict:  # noqa: ANN001
    return {
        "id": e.id,
        "number": e.number,
        "name": e.name,
        "status": e.status,
        "status_label": t.label("billing.estimate", e.status),
        "sent": t.date(e.sent_on),
        "total": money(t, e.total),
    }


def summary_context(t: Translator, summary, perms: dict[str, bool]) -> dict:  # noqa: ANN001 - GetPortalSummaryResponse
    """The billing sections (account overview, open invoices, recent payments, estimates) for
    `billing/_sections.html`, from one GetPortalSummary answer; a section the group hides is None."""
    ctx: dict = {"p": perms, "overview": None, "invoices": None, "payments": None, "estimates": None}
    # Payments still at the processor, whatever sections the group shows: whoever paid must see it is on its way.
    ctx["pending"] = [pending_row(t, x) for x in summary.pending_payments]
    if summary.overview_shown:
        ctx["overview"] = {
            "invoice_balance": money(t, summary.invoice_balance),
            "credit_balance": money(t, summary.credit_balance),
            "open_invoices": summary.open_invoice_count,
        }
    if summary.invoices_shown:
        # An invoice a pending payment holds offers no Pay now: billing would refuse it as already in progress.
        held = {a.invoice_id for x in summary.pending_payments for a in x.allocations}
        ctx["invoices"] = [{**invoice_row(t, i), "held": i.id in held} for i in summary.open_invoices]
    if summary.payments_shown:
        ctx["payments"] = [payment_row(t, x) for x in summary.recent_payments]
    if summary.estimates_shown:
        ctx["estimates"] = [estimate_row(t, e) for e in summary.estimates]
    return ctx


def home_sections(t: Translator, session: Session, billing) -> dict | None:  # noqa: ANN001 - home.BillingSummary
    """The portal home's billing sections (None when the group shows none, `unavailable` when billing is down)."""
    if billing is None:
        return None
    if not billing.available:
        return {"unavailable": True}
    return {"unavailable": False, **summary_context(t, billing.summary, perms(session))}


def shows_billing(session: Session) -> bool:
    """Whether the group shows any of the billing sections of the portal's top page."""
    p = perms(session)
    return any(p[k] for k in ("overview", "invoices", "payments", "estimates"))


class InvoiceRow(NamedTuple):
    number: str
    issued: str
    due: str
    total: str
    balance: str


def home_invoice_row(t: Translator, inv: Invoice) -> InvoiceRow:
    return InvoiceRow(
        inv.number, t.date(inv.issued_on), t.date(inv.due_on), t.money(inv.total), t.money(inv.balance_due)
    )
