"""Tickets' own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once."""

from __future__ import annotations

from prometheus_client import Counter

OPENED = Counter("portal_tickets_opened", "Tickets opened (an idempotent replay of a create opens none)")

# Raised by create_ticket's unit of work for a new ticket; main.py counts it once that transaction commits, so
# a create that rolls back is not counted.
OPENED_SIGNAL = "tickets.opened"
