"""The demo customers' tickets, opened by each demo portal user as a customer would."""

from __future__ import annotations

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from portal_local.seed.identity import DEMO_CUSTOMERS
from portal_local.seed.rpc import call, sign_in, sign_out


def seed_tickets(identity: identity_pb2_grpc.IdentityServiceStub, tickets: tickets_pb2_grpc.TicketsServiceStub) -> int:
    """Each demo customer's tickets; the number created."""
    created = 0
    for demo in DEMO_CUSTOMERS:
        session, token = sign_in(identity, demo.login, demo.password, identity_pb2.AUDIENCE_PORTAL)
        for i, (subject, description) in enumerate(demo.tickets, start=1):
            call(
                tickets.CreateTicket,
                tickets_pb2.CreateTicketRequest(
                    subject=subject, description=description, idempotency_key=f"seed-ticket-{demo.slug}-{i}"
                ),
                f"CreateTicket({subject})",
                token,
            )
            created += 1
        sign_out(identity, session)
    return created
