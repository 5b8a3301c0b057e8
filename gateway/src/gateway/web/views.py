"""Rows for the page templates, formatted in Python once: calling helpers from inside Jinja costs far more."""

from __future__ import annotations

from typing import NamedTuple

from gateway.areas.home import HomeSections, Section
from gateway.clients.schemas import Asset, Invoice, ScriptRun, Ticket
from gateway.web.i18n import Translator


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


class InvoiceRow(NamedTuple):
    number: str
    issued: str
    due: str
    total: str
    balance: str


class AssetRow(NamedTuple):
    name: str
    serial: str
    type: str


class RunRow(NamedTuple):
    script: str
    status: str
    status_class: str
    exit_code: str
    started: str
    finished: str


class SectionView(NamedTuple):
    available: bool
    rows: list


def status_class(value: str) -> str:
    return "status-" + value.lower().replace(" ", "_")


def ticket_row(t: Translator, tk: Ticket) -> TicketRow:
    return TicketRow(
        tk.id,
        tk.number,
        tk.subject,
        t.status(tk.status),
        status_class(tk.status),
        t.datetime(tk.created_at),
        t.datetime(tk.updated_at),
        t("tickets.invoiced", number=tk.invoice_number) if tk.invoice_number else "",
        tk.contact_name,
        tk.issue_type,
    )


def invoice_row(t: Translator, inv: Invoice) -> InvoiceRow:
    return InvoiceRow(
        inv.number, t.date(inv.issued_on), t.date(inv.due_on), t.money(inv.total), t.money(inv.balance_due)
    )


def asset_row(t: Translator, a: Asset) -> AssetRow:
    return AssetRow(a.name, a.serial_number, a.asset_type)


def run_row(t: Translator, r: ScriptRun) -> RunRow:
    return RunRow(
        r.script_name,
        t.status(r.status),
        status_class(r.status),
        str(r.exit_code) if r.finished_at else "",
        t.datetime(r.started_at),
        t.datetime(r.finished_at),
    )


def _view(t: Translator, section: Section | None, row) -> SectionView | None:  # noqa: ANN001
    if section is None:
        return None
    return SectionView(section.available, [row(t, item) for item in section.items])


def home_view(t: Translator, s: HomeSections) -> dict[str, SectionView | None]:
    return {
        "tickets": _view(t, s.tickets, ticket_row),
        "invoices": _view(t, s.invoices, invoice_row),
        "assets": _view(t, s.assets, asset_row),
        "script_runs": _view(t, s.script_runs, run_row),
    }
