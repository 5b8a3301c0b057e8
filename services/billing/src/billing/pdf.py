"""Invoices and estimates as PDFs (SPEC B6, B8), drawn with fpdf2: header facts, a table of lines, totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from billing.estimates.models import Estimate
from billing.invoices.models import Invoice
from billing.invoices.service import display_status, today_utc
from servicekit import i18n

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


_LABELS = {
    "en": {
        "invoice": "Invoice",
        "estimate": "Estimate",
        "bill_to": "Bill to",
        "date": "Date",
        "due": "Due",
        "status": "Status",
        "name": "Name",
        "sent": "Sent",
        "item": "Item",
        "qty": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "subtotal": "Subtotal",
        "tax": "Tax",
        "total": "Total",
        "balance_due": "Balance due",
        "status.open": "Open",
        "status.paid": "Paid",
        "status.void": "Void",
        "status.partly_paid": "Partly paid",
        "status.overdue": "Overdue",
        "status.approved": "Approved",
        "status.declined": "Declined",
        "overdue": {"one": "Overdue by {days} day", "other": "Overdue by {days} days"},
        "estimate_status.draft": "Draft",
        "estimate_status.open": "Open",
        "estimate_status.approved": "Approved",
        "estimate_status.declined": "Declined",
    },
    "fr": {
        "invoice": "Facture",
        "estimate": "Devis",
        "bill_to": "Facturé à",
        "date": "Date",
        "due": "Échéance",
        "status": "Statut",
        "name": "Nom",
        "sent": "Envoyé le",
        "item": "Article",
        "qty": "Qté",
        "unit_price": "Prix unitaire",
        "amount": "Montant",
        "subtotal": "Sous-total",
        "tax": "Taxe",
        "total": "Total",
        "balance_due": "Reste à payer",
        "status.open": "Ouverte",
        "status.paid": "Payée",
        "status.void": "Annulée",
        "status.partly_paid": "Partiellement payée",
        "status.overdue": "En retard",
        "status.approved": "Approuvé",
        "status.declined": "Refusé",
        "overdue": {"one": "En retard de {days} jour", "other": "En retard de {days} jours"},
        "estimate_status.draft": "Brouillon",
        "estimate_status.open": "Ouvert",
        "estimate_status.approved": "Approuvé",
        "estimate_status.declined": "Refusé",
    },
}


@dataclass(frozen=True)
class Party:
    """A name and the lines of an address, as printed: the provider (billing's settings) or the bill-to customer
    (identity's record, passed in by the gateway)."""

    name: str = ""
    address_lines: tuple[str, ...] = ()

    @property
    def lines(self) -> list[str]:
        return [ln for ln in (self.name, *self.address_lines) if ln.strip()]


def labels(language: str) -> dict[str, str]:
    return _LABELS.get(language, _LABELS["en"])  # type: ignore[return-value]


def money(amount_minor: int, currency: str, language: str = "en") -> str:
    """Babel's way (servicekit.i18n): "$1,234.56", "1 234,56 €". French groups thousands with a narrow no-break
    space, printed as a plain no-break space (Latin-1 too, for the fallback font)."""
    return i18n.money(amount_minor, currency, language).replace("\u202f", "\u00a0")


def day(value: date, language: str = "en") -> str:
    return i18n.day(value, language)


def _overdue(language: str, days: int) -> str:
    entry = _LABELS.get(language, _LABELS["en"])["overdue"]
    return i18n.pick_plural(entry, days, language).format(days=days)  # type: ignore[arg-type]


def invoice_pdf(
    invoice: Invoice,
    *,
    language: str = "en",
    provider: Party | None = None,
    bill_to: Party | None = None,
    today: date | None = None,
) -> bytes:
    """The invoice in `language` (en or fr): the provider and the bill-to customer, its dates and status as the
    portal shows it (Partly paid, Overdue by n days: `invoices.service.display_status`), its lines, subtotal, tax,
    total and balance due."""
    lb = labels(language)
    shown, days = display_status(
        status=invoice.status,
        total_minor=invoice.total_minor,
        balance_minor=invoice.balance_minor,
        due_on=invoice.due_on,
        today=today or today_utc(),
    )
    status = lb.get(f"status.{shown}", shown)
    if days:
        status = _overdue(language, days)
    facts = [
        (lb["date"], day(invoice.issued_on, language)),
        (lb["due"], day(invoice.due_on, language)),
        (lb["status"], status),
    ]
    totals = [(lb["subtotal"], invoice.subtotal_minor)]
    if invoice.tax_rate_bp:
        rate = f"{invoice.tax_rate_bp / 100:g}"
        totals.append((f"{lb['tax']} ({rate.replace('.', ',') if language == 'fr' else rate} %)", invoice.tax_minor))
    totals += [(lb["total"], invoice.total_minor), (lb["balance_due"], invoice.balance_minor)]
    return _document(
        f"{lb['invoice']} {invoice.number}",
        facts,
        invoice.lines,
        totals,
        invoice.currency,
        language=language,
        provider=provider,
        bill_to=bill_to,
    )


def estimate_pdf(estimate: Estimate, *, language: str = "en") -> bytes:
    """The estimate in `language` (the requester's, SPEC H5)."""
    lb = labels(language)
    facts = [
        (lb["name"], estimate.name),
        (lb["sent"], day(estimate.sent_on, language)),
        (lb["status"], lb.get(f"estimate_status.{estimate.status}", estimate.status)),
    ]
    return _document(
        f"{lb['estimate']} {estimate.number}",
        facts,
        estimate.lines,
        [(lb["total"], estimate.total_minor)],
        estimate.currency,
        language=language,
    )


def _document(  # noqa: PLR0913
    title: str,
    facts,  # noqa: ANN001
    lines,  # noqa: ANN001
    totals,  # noqa: ANN001
    currency: str,
    *,
    language: str = "en",
    provider: Party | None = None,
    bill_to: Party | None = None,
) -> bytes:
    lb = labels(language)
    colon = "\u00a0: " if language == "fr" else ": "  # French puts a space before the colon
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _font(pdf)
    text = (
        (lambda s: s.replace("\x00", ""))
        if font != "helvetica"
        else (lambda s: s.encode("latin-1", "replace").decode("latin-1"))
    )
    pdf.set_title(text(title))
    pdf.add_page()
    if provider is not None and provider.lines:
        pdf.set_font(font, "", 10)
        for ln in provider.lines:
            pdf.cell(0, 5, text(ln), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.set_font(font, "", 16)
    pdf.cell(0, 10, text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(font, "", 10)
    if bill_to is not None and bill_to.lines:
        pdf.cell(0, 6, text(f"{lb['bill_to']}{colon.rstrip()}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for ln in bill_to.lines:
            pdf.cell(0, 5, text(ln), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    for label, value in facts:
        pdf.cell(0, 6, text(f"{label}{colon}{value}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    widths = (95, 20, 35, 40)
    pdf.set_font(font, "", 9)
    # Plain headings: the Unicode font is loaded in its regular style only.
    headings = FontFace(emphasis="")
    with pdf.table(col_widths=widths, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), headings_style=headings) as table:
        table.row([lb["item"], lb["qty"], lb["unit_price"], lb["amount"]])
        for ln in lines:
            table.row(
                [
                    text(ln.description),
                    _quantity(ln.quantity, language),
                    text(money(ln.unit_price_minor, currency, language)),
                    text(money(ln.amount_minor, currency, language)),
                ]
            )
    pdf.ln(4)
    pdf.set_font(font, "", 10)
    for label, amount in totals:
        pdf.cell(150, 6, text(label), align="R")
        pdf.cell(40, 6, text(money(amount, currency, language)), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _quantity(quantity, language: str) -> str:  # noqa: ANN001
    q = format(quantity.normalize(), "f")
    return q.replace(".", ",") if language == "fr" else q


def _font(pdf: FPDF) -> str:
    for path in _FONT_CANDIDATES:
        if path.is_file():
            pdf.add_font("portal", fname=str(path))
            return "portal"
    return "helvetica"
