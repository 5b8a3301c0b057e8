"""A ticket as a PDF (T2): its facts, description and public comments, newest first, drawn with fpdf2."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from tickets.tickets.models import Comment, Ticket

# A Unicode TrueType font when the system has one (accents, non-Latin names); else the core Helvetica, which
# only knows Latin-1, with anything else replaced.
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def render(ticket: Ticket, comments: list[Comment], *, operator_name: str = "") -> bytes:
    """The PDF bytes; `comments` must already be the public ones."""
    if any(not c.is_public for c in comments):
        raise ValueError("a ticket PDF only ever holds public comments")
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _font(pdf)
    text = _text_for(font)
    pdf.set_title(text(f"Ticket #{ticket.number}"))
    pdf.set_creator(text(operator_name or "Customer portal"))
    pdf.add_page()

    def line(value: str, size: float = 10, *, bold: bool = False, height: float = 6) -> None:
        pdf.set_font(font, "B" if bold and font == "helvetica" else "", size)
        pdf.multi_cell(0, height, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    if operator_name:
        line(operator_name, 9)
    line(f"Ticket #{ticket.number}: {ticket.subject}", 16, bold=True, height=9)
    pdf.ln(2)
    for label, value in (
        ("Status", ticket.status),
        ("Priority", ticket.priority),
        ("Issue type", ticket.issue_type),
        ("Contact", ticket.contact_name),
        ("Created", _when(ticket.created_at)),
        ("Last updated", _when(ticket.updated_at)),
        ("Closed", _when(ticket.closed_at) if ticket.closed_at else ""),
    ):
        if value:
            line(f"{label}: {value}")
    pdf.ln(3)
    line("Description", 12, bold=True, height=8)
    line(ticket.description)
    pdf.ln(3)
    line(f"Comments ({len(comments)})", 12, bold=True, height=8)
    if not comments:
        line("No comments yet.")
    for c in comments:
        who = c.author_name or ("Support" if c.author_kind == "staff" else "Customer")
        line(f"{who} - {_when(c.created_at)}", 9, bold=True)
        line(c.body)
        pdf.ln(2)
    return bytes(pdf.output())


def _font(pdf: FPDF) -> str:
    for path in _FONT_CANDIDATES:
        if path.is_file():
            pdf.add_font("portal", fname=str(path))
            return "portal"
    return "helvetica"


def _text_for(font: str):  # noqa: ANN202
    if font != "helvetica":
        return lambda s: s.replace("\x00", "")
    return lambda s: s.encode("latin-1", "replace").decode("latin-1")


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""
