"""Contract: the gateway's ticket limits are the tickets service's own values, so neither the pages nor the API
accept a text the service would refuse, or refuse one it would accept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.api.schemas import NewTicket
from gateway.areas import ticket_statuses
from gateway.areas import tickets as limits
from tickets.comments import service as comments_service
from tickets.tickets import service as tickets_service
from tickets.tickets import statuses as tickets_statuses


def test_gateway_limits_are_the_services() -> None:
    assert limits.SUBJECT_MAX == tickets_service.SUBJECT_MAX
    assert limits.DESCRIPTION_MAX == tickets_service.DESCRIPTION_MAX
    assert limits.COMMENT_MAX == comments_service.BODY_MAX
    assert limits.QUERY_MAX == tickets_service.QUERY_MAX
    # The built-in statuses the gateway shows until it has asked for the list in force are the service's own.
    assert [(st.name, st.closed) for st in ticket_statuses.BUILT_IN] == [
        (st.name, st.closed) for st in tickets_statuses.BUILT_IN
    ]
    assert ticket_statuses.FIXED == {tickets_statuses.NEW, tickets_statuses.CLOSED}
    assert limits.DEFAULT_ISSUE_TYPE == tickets_service.DEFAULT_ISSUE_TYPE
    assert limits.SORTS == tuple(tickets_service.SORTS)


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "s" * (limits.SUBJECT_MAX + 1), "description": "d"},
        {"subject": "s", "description": "d" * (limits.DESCRIPTION_MAX + 1)},
    ],
)
def test_the_api_refuses_what_the_service_would(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        NewTicket(**fields)


def test_the_api_accepts_a_description_at_the_services_limit() -> None:
    ticket = NewTicket(subject="s" * limits.SUBJECT_MAX, description="d" * tickets_service.DESCRIPTION_MAX)
    assert len(ticket.description) == tickets_service.DESCRIPTION_MAX
