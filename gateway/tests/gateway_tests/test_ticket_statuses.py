"""The gateway's view of the ticket status list (areas/ticket_statuses.py): names found whatever the case, old
underscore links, a custom name with an underscore, and labels per language falling back to ''."""

from __future__ import annotations

from gateway.areas.ticket_statuses import BUILT_IN, Catalogue
from gateway.clients.schemas import TicketStatus


def test_known_names_and_labels() -> None:
    custom = TicketStatus(name="On_hold", label_en="On hold", label_fr="En pause")
    cat = Catalogue((*BUILT_IN, custom))
    assert cat.known(" waiting on customer ") == "Waiting on Customer"
    assert cat.known("waiting_on_customer") == "Waiting on Customer"
    assert cat.known("ON_HOLD") == "On_hold"
    assert cat.known("Reopened") is None and cat.known("") is None
    assert (cat.label("fr", "On_hold"), cat.label("en", "On_hold")) == ("En pause", "On hold")
    assert cat.label("fr", "New") == "" and cat.label("en", "Gone") == ""
