"""The portal home's sections as rows (each section's rows come from its area's views module)."""

from __future__ import annotations

from typing import NamedTuple

from gateway.areas.home import HomeSections, Section
from gateway.web.i18n import Translator
from gateway.web.views.assets import asset_row
from gateway.web.views.billing import home_invoice_row
from gateway.web.views.documents import document_row
from gateway.web.views.remote import run_row
from gateway.web.views.tickets import ticket_row


class SectionView(NamedTuple):
    available: bool
    rows: list


def _view(t: Translator, section: Section | None, row) -> SectionView | None:  # noqa: ANN001
    if section is None:
        return None
    return SectionView(section.available, [row(t, item) for item in section.items])


def home_view(t: Translator, s: HomeSections) -> dict[str, SectionView | None]:
    return {
        "tickets": _view(t, s.tickets, ticket_row),
        "invoices": _view(t, s.invoices, home_invoice_row),
        "assets": _view(t, s.assets, asset_row),
        "script_runs": _view(t, s.script_runs, run_row),
        "attachments": _view(t, s.attachments, document_row),
    }
