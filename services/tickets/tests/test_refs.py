"""A ticket's site and asset must be its customer's (T3, T8), checked with the real assets service over gRPC
before anything is written; when assets cannot answer, the ticket is refused clearly and nothing is half-made."""

from __future__ import annotations

import grpc
import pytest

from portal.tickets.v1 import tickets_pb2
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def new(**fields: str) -> tickets_pb2.CreateTicketRequest:
    return tickets_pb2.CreateTicketRequest(subject="Printer jam", description="Paper stuck", **fields)


async def refused(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def count(served, md) -> int:  # noqa: ANN001
    return len((await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=md)).tickets)


async def test_the_customers_own_site_and_asset_are_accepted(served, principals) -> None:  # noqa: ANN001
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    site = await served.assets.site("cust-a")
    asset = await served.assets.asset("cust-a", site_id=site)
    ticket = (await served.stub.CreateTicket(new(site_id=site, asset_id=asset), metadata=alice)).ticket
    assert (ticket.site_id, ticket.asset_id) == (site, asset)
    staff = served.keys.metadata(principals.staff())
    by_staff = (await served.stub.CreateTicket(new(customer_id="cust-a", asset_id=asset), metadata=staff)).ticket
    assert (by_staff.customer_id, by_staff.asset_id) == ("cust-a", asset)


async def test_another_customers_site_or_asset_is_refused_and_nothing_is_written(served, principals) -> None:  # noqa: ANN001
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    staff = served.keys.metadata(principals.staff())
    b_site = await served.assets.site("cust-b")
    b_asset = await served.assets.asset("cust-b", site_id=b_site)
    a_site = await served.assets.site("cust-a")

    err = await refused(served.stub.CreateTicket(new(asset_id=b_asset), metadata=alice))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "asset_id: no such asset for this customer"
    err = await refused(served.stub.CreateTicket(new(site_id=b_site, asset_id=b_asset), metadata=alice))
    assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "site_id: no such site for this customer")
    err = await refused(served.stub.CreateTicket(new(site_id=a_site, asset_id="no-such-asset"), metadata=alice))
    assert (err.code(), err.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "asset_id: no such asset for this customer",
    )
    # Staff opening a ticket for A cannot tie it to B's equipment either.
    err = await refused(served.stub.CreateTicket(new(customer_id="cust-a", asset_id=b_asset), metadata=staff))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The same ids are fine on B's own ticket.
    await served.stub.CreateTicket(new(customer_id="cust-b", site_id=b_site, asset_id=b_asset), metadata=staff)

    assert await count(served, alice) == 0
    assert await count(served, staff) == 1


async def test_while_assets_is_down_a_ticket_naming_equipment_is_unavailable_and_others_still_open(
    served,
    principals,  # noqa: ANN001
) -> None:
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    asset = await served.assets.asset("cust-a")
    await served.assets.server.stop(0)

    err = await refused(served.stub.CreateTicket(new(asset_id=asset, idempotency_key="k1"), metadata=alice))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "assets service is unavailable" in err.details() and "nothing was saved" in err.details()
    assert await count(served, alice) == 0
    # Tickets that name no site or asset do not depend on assets at all.
    plain = (await served.stub.CreateTicket(new(), metadata=alice)).ticket
    assert plain.number and await count(served, alice) == 1
