"""The portal home's live updates (SPEC X9): every signed-in portal user, shaped by its group (the sections it does
not see are never rendered or streamed; tests/e2e/test_home.py checks what shows). The home page itself ("/") is
listed in routes_tickets.py."""

from __future__ import annotations

from tests.authz.harness import SIGNED_IN, Route

ROUTES = [
    Route("GET", "/home/sections", SIGNED_IN),
    # Only an EventSource (Accept: text/event-stream) gets the stream; any other client is told 406 after the
    # session check, which is what a permitted probe sees.
    Route("GET", "/home/events", SIGNED_IN, ok_statuses=(406,)),
]
