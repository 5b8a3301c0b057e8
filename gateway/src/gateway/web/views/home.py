"""The portal home's sections as rows (each section's rows come from its area's views module)."""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.areas.home import HomeSections, Section
from gateway.web.i18n import Translator
from gateway.web.views.assets import asset_row
from gateway.web.views.billing import invoice_row
from gateway.web.views.credentials import credential_row
from gateway.web.views.documents import document_row
from gateway.web.views.remote import agent_view, run_row
from gateway.web.views.tickets import ticket_row


class SectionView(NamedTuple):
    available: bool
    rows: list


def _view(t: Translator, section: Section | None, row) -> SectionView | None:  # noqa: ANN001
    if section is None:
        return None
    return SectionView(section.available, [row(t, item) for item in section.items])


def _asset(t: Translator, s: HomeSections):  # noqa: ANN202
    def row(t: Translator, a) -> dict[str, Any]:  # noqa: ANN001
        # The Remote column: the agent as the asset page shows it; None when remote did not answer.
        agent = agent_view(t, s.agents.get(a.id)) if s.agents is not None else None
        return {**asset_row(t, a)._asdict(), "agent": agent}

    return row


def _invoice(s: HomeSections, locked: bool):  # noqa: ANN202
    def row(t: Translator, inv) -> dict[str, Any]:  # noqa: ANN001
        return {
            **invoice_row(t, inv),
            "customer": s.customer_names.get(inv.customer_id, ""),
            "customer_id": inv.customer_id,
            "locked": locked,
        }

    return row


def _article(t: Translator, a) -> dict[str, str]:  # noqa: ANN001
    return {"id": a.id, "title": a.title, "when": t.date(a.published_at or a.updated_at)}


def home_view(t: Translator, s: HomeSections) -> dict[str, SectionView | None]:
    invoices = _view(t, s.invoices, _invoice(s, False))
    if invoices is not None and invoices.available and s.locked_invoices:
        invoices = SectionView(True, invoices.rows + [_invoice(s, True)(t, i) for i in s.locked_invoices])
    return {
        "tickets": _view(t, s.tickets, ticket_row),
        "invoices": invoices,
        "assets": _view(t, s.assets, _asset(t, s)),
        "script_runs": _view(t, s.script_runs, run_row),
        "attachments": _view(t, s.attachments, document_row),
        "credentials": _view(t, s.credentials, lambda t, c: credential_row(t, c, href=f"/credentials/{c.id}")),
        "recent_tickets": _view(t, s.recent_tickets, ticket_row),
        "recent_documents": _view(t, s.recent_documents, document_row),
        "recent_faq": _view(t, s.recent_faq, _article),
    }
