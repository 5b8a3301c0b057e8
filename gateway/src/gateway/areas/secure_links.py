"""The secure-link rule the staff pages and the staff API share (SPEC P6): a link to one ticket or one site must
name one of the customer's own. Even a wrong id could open nothing (the tickets service filters a link's principal
by its customer as well), but staff are told at once rather than handed a link to nothing."""

from __future__ import annotations

import grpc

from gateway.clients import Backends


class WrongScope(Exception):
    """The ticket or site is not the customer's; the message says which."""


async def check_scope(backends: Backends, token: str, customer_id: str, scope: str, scope_id: str) -> None:
    if scope == "ticket" and scope_id:
        try:
            ticket = await backends.tickets.get_ticket(token, scope_id)
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise
            ticket = None
        if ticket is None or ticket.customer_id != customer_id:
            raise WrongScope("no such ticket for this customer")
    if scope == "site" and scope_id:
        if not await backends.assets.site_is_customers(token, customer_id=customer_id, site_id=scope_id):
            raise WrongScope("no such site for this customer")
