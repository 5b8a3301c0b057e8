"""A ticket as a PDF (T2): its facts, description and public comments, newest first, drawn with fpdf2."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from servicekit import i18n
from tickets.tickets.models import Comment, Ticket

# A Unicode TrueType font when the system has one (accents, non-Latin names); else the core Helvetica, which
# only knows Latin-1, with anything else replaced.
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


# SPEC H5: the PDF is in the requester's language; checked with the other tables by tests/i18n.
LABELS: dict[str, dict[str, str | dict[str, str]]] = {
    "en": {
        "ticket": "Ticket #{number}",
        "title": "Ticket #{number}: {subject}",
        "status": "Status",
        "priority": "Priority",
        "issue_type": "Issue type",
        "contact": "Contact",
        "created": "Created",
        "updated": "Last updated",
        "closed": "Closed",
        "description": "Description",
        "comments": {"one": "Comments ({count})", "other": "Comments ({count})"},
        "no_comments": "No comments yet.",
        "support": "Support",
        "customer": "Customer",
        "status.new": "New",
        "status.open": "Open",
        "status.in_progress": "In progress",
        "status.waiting_on_customer": "Waiting on you",
        "status.scheduled": "Scheduled",
        "status.resolved": "Resolved",
        "status.closed": "Closed",
        "priority.low": "Low",
        "priority.normal": "Normal",
        "priority.high": "High",
        "priority.urgent": "Urgent",
    },
    "fr": {
        "ticket": "Ticket n°{number}",
        "title": "Ticket n°{number} : {subject}",
        "status": "Statut",
        "priority": "Priorité",
        "issue_type": "Type de demande",
        "contact": "Contact",
        "created": "Créé le",
        "updated": "Mis à jour le",
        "closed": "Fermé le",
        "description": "Description",
        "comments": {"one": "Commentaire ({count})", "other": "Commentaires ({count})"},
        "no_comments": "Aucun commentaire pour l'instant.",
        "support": "Assistance",
        "customer": "Client",
        "status.new": "Nouveau",
        "status.open": "Ouvert",
        "status.in_progress": "En cours",
        "status.waiting_on_customer": "En attente de votre réponse",
        "status.scheduled": "Planifié",
        "status.resolved": "Résolu",
        "status.closed": "Fermé",
        "priority.low": "Basse",
        "priority.normal": "Normale",
        "priority.high": "Haute",
        "priority.urgent": "Urgente",
    },
}


def render(ticket: Ticket, comments: list[Comment], *, operator_name: str = "", language: str = "en") -> bytes:
    """The PDF bytes in `language` (en or fr), times in the operator's time zone; `comments` must already be the
    public ones."""
    if any(not c.is_public for c in comments):
        raise ValueError("a ticket PDF only ever holds public comments")
    language = i18n.language(language)
    lb = LABELS[language]

    def say(key: str, **values: object) -> str:
        entry = lb[key]
        if isinstance(entry, dict):
            entry = i18n.pick_plural(entry, int(values.get("count", 0)), language)  # type: ignore[arg-type]
        return entry.format(**values)

    def when(at: datetime | None) -> str:
        return i18n.moment(at, language) if at else ""

    def word(group: str, value: str) -> str:
        found = lb.get(f"{group}.{value}")
        return found if isinstance(found, str) else value

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _font(pdf)
    text = _text_for(font)
    pdf.set_title(text(say("ticket", number=ticket.number)))
    pdf.set_creator(text(operator_name or "Customer portal"))
    pdf.add_page()

    def line(value: str, size: float = 10, *, bold: bool = False, height: float = 6) -> None:
        pdf.set_font(font, "B" if bold and font == "helvetica" else "", size)
        pdf.multi_cell(0, height, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    if operator_name:
        line(operator_name, 9)
    line(say("title", number=ticket.number, subject=ticket.subject), 16, bold=True, height=9)
    pdf.ln(2)
    colon = "\u00a0: " if language == "fr" else ": "  # French puts a space before the colon
    for label, value in (
        ("status", word("status", ticket.status)),
        ("priority", word("priority", ticket.priority)),
        ("issue_type", ticket.issue_type),
        ("contact", ticket.contact_name),
        ("created", when(ticket.created_at)),
        ("updated", when(ticket.updated_at)),
        ("closed", when(ticket.closed_at) if ticket.closed_at else ""),
    ):
        if value:
            line(f"{say(label)}{colon}{value}")
    pdf.ln(3)
    line(say("description"), 12, bold=True, height=8)
    line(ticket.description)
    pdf.ln(3)
    line(say("comments", count=len(comments)), 12, bold=True, height=8)
    if not comments:
        line(say("no_comments"))
    for c in comments:
        who = c.author_name or say("support" if c.author_kind == "staff" else "customer")
        line(f"{who} - {when(c.created_at)}", 9, bold=True)
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
