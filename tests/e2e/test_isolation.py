"""Issue 2: customer B never reaches customer A's ticket, through the API or straight over gRPC."""

import grpc
import pytest

from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in, principal_token


@pytest.fixture(scope="module")
def acme_ticket_id(stack) -> str:
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        r = c.post(
            "/api/v1/tickets",
            json={"subject": "Isolation probe", "description": "Only Acme may see this."},
            headers={"Idempotency-Key": "isolation-probe"},
        )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_other_customers_ticket_is_404_through_the_api(stack, acme_ticket_id):
    token = api_sign_in(stack, BLUE.login, BLUE.password)
    with api(stack, token) as c:
        r = c.get(f"/api/v1/tickets/{acme_ticket_id}")
        listed = c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert acme_ticket_id not in {t["id"] for t in listed}
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        assert c.get(f"/api/v1/tickets/{acme_ticket_id}").status_code == 200


def test_tickets_grpc_without_token_is_unauthenticated_and_with_bs_token_not_found(stack, acme_ticket_id):
    with grpc.insecure_channel(stack.grpc_addr("tickets")) as ch:
        stub = tickets_pb2_grpc.TicketsServiceStub(ch)
        request = tickets_pb2.GetTicketRequest(ticket_id=acme_ticket_id)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetTicket(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

        b_token = principal_token(stack, BLUE.login, BLUE.password)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetTicket(request, timeout=10, metadata=(("authorization", f"Bearer {b_token}"),))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        a_token = principal_token(stack, ACME.login, ACME.password)
        got = stub.GetTicket(request, timeout=10, metadata=(("authorization", f"Bearer {a_token}"),))
        assert got.ticket.id == acme_ticket_id
