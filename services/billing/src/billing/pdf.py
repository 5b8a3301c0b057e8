"""Invoices and estimates as PDFs (SPEC B6, B8), drawn with fpdf2: header facts, a table of lines, totals."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from billing.estimates.models import Estimate
from billing.invoices.models import Invoice

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def money(amount_minor: int, currency: str) -> str:
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 100)
    return f"{sign}{major:,}.{minor:02d} {currency}"


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice with its lines, subtotal, tax, total and balance due."""
    facts = [
        ("Date", invoice.issued_on.isoformat()),
        ("Due", invoice.due_on.isoformat()),
        ("Status", invoice.status),
    ]
    totals = [("Subtotal", invoice.subtotal_minor)]
    if invoice.tax_rate_bp:
        totals.append((f"Tax ({invoice.tax_rate_bp / 100:g} %)", invoice.tax_minor))
    totals += [("Total", invoice.total_minor), ("Balance due", invoice.balance_minor)]
    return _document(f"Invoice {invoice.number}", facts, invoice.lines, totals, invoice.currency)


def estimate_pdf(estimate: Estimate) -> bytes:
    facts = [("Name", estimate.name), ("Sent", estimate.sent_on.isoformat()), ("Status", estimate.status)]
    return _document(
        f"Estimate {estimate.number}", facts, estimate.lines, [("Total", estimate.total_minor)], estimate.currency
    )


def _document(title: str, facts, lines, totals, currency: str) -> bytes:  # noqa: ANN001
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
    pdf.set_font(font, "", 16)
    pdf.cell(0, 10, text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(font, "", 10)
    for label, value in facts:
        pdf.cell(0, 6, text(f"{label}: {value}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    widths = (95, 20, 35, 40)
    pdf.set_font(font, "", 9)
    # Plain headings: the Unicode font is loaded in its regular style only.
    headings = FontFace(emphasis="")
    with pdf.table(col_widths=widths, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), headings_style=headings) as table:
        table.row(["Item", "Qty", "Unit price", "Amount"])
        for ln in lines:
            table.row(
                [
                    text(ln.description),
                    format(ln.quantity.normalize(), "f"),
                    money(ln.unit_price_minor, currency),
                    money(ln.amount_minor, currency),
                ]
            )
    pdf.ln(4)
    pdf.set_font(font, "", 10)
    for label, amount in totals:
        pdf.cell(150, 6, text(label), align="R")
        pdf.cell(40, 6, money(amount, currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _font(pdf: FPDF) -> str:
    for path in _FONT_CANDIDATES:
        if path.is_file():
            pdf.add_font("portal", fname=str(path))
            return "portal"
    return "helvetica"
