"""Ticket rows: the home's and the staff console's short row, and the ticket list's full row (and its CSV)."""

from __future__ import annotations

from typing import NamedTuple

from gateway.areas import ticket_statuses
from gateway.areas.tickets import status_key
from gateway.clients.schemas import Ticket
from gateway.web.i18n import Translator
from gateway.web.views import status_class


class TicketRow(NamedTuple):
    id: str
    number: int
    subject: str
    status: str
    status_class: str
    created: str
    updated: str
    # The invoiced marker (T1), e.g. "Invoiced INV-1001"; '' until billing invoices the ticket.
    invoiced: str = ""
    # The ticket's contact as named when it was opened (T1); '' when it has none (the page shows a dash).
    contact: str = ""
    issue_type: str = ""


def ticket_row(t: Translator, tk: Ticket) -> TicketRow:
    return TicketRow(
        tk.id,
        tk.number,
        tk.subject,
        status_label(t, tk.status),
        status_class(tk.status),
        t.datetime(tk.created_at),
        t.datetime(tk.updated_at),
        t("tickets.invoiced", number=tk.invoice_number) if tk.invoice_number else "",
        tk.contact_name,
        issue_type_label(t, tk.issue_type),
    )


def issue_type_label(t: Translator, value: str) -> str:
    """The form's issue types in the reader's language; any other (named through the API or by staff) as stored."""
    return t.table.get(f"issue_type.{value.lower()}") or value


def status_label(t: Translator, value: str) -> str:
    """The portal's word for a status: the operator's label, else the product's wording, else its name."""
    return ticket_statuses.current().label(t.lang, value) or t.table.get(f"status.{status_key(value)}") or value


class ListRow(NamedTuple):
    id: str
    number: int
    subject: str
    status: str
    status_class: str
    priority: str
    issue_type: str
    created: str
    updated: str
    invoiced: str
    contact: str


def list_row(t: Translator, tk: Ticket) -> ListRow:
    return ListRow(
        tk.id,
        tk.number,
        tk.subject,
        status_label(t, tk.status),
        status_class(tk.status),
        t.label("priority", tk.priority),
        issue_type_label(t, tk.issue_type),
        t.datetime(tk.created_at),
        t.datetime(tk.updated_at),
        invoiced_label(t, tk),
        tk.contact_name,
    )


def invoiced_label(t: Translator, tk: Ticket) -> str:
    """The invoiced marker (T1): "Invoiced INV-1001" once billing has invoiced the ticket, else ''."""
    return t("tickets.invoiced", number=tk.invoice_number) if tk.invoice_number else ""
