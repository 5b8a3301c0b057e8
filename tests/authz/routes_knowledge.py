"""Knowledge base (T9), announcements (T10) and ticket charts (T11) in the authorisation matrix.

Articles are operator-wide content, not a customer's records: one published article is the same for every
customer, so the "other customer gets 404" case does not apply to /kb/{id}. `SharedRoute` still makes a real
article (as staff) for the probes, but without `id_param`, so the matrix checks allowed / lacking / anonymous
only. The staff routes (/api/v1/staff/kb/…, /api/v1/staff/announcements…) fall under routes_account's
STAFF_PREFIXES, so test_coverage checks that no portal user opens them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc

from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc, tickets_pb2, tickets_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import SIGNED_IN, Route

KB = (perm.KNOWLEDGE_BASE_VIEW,)
# The charts cover the tickets the user may see, so they open with either ticket view.
TICKET_VIEW = (perm.TICKETS_VIEW_ALL, perm.TICKETS_VIEW_MINE)


@dataclass(frozen=True)
class SharedRoute(Route):
    """A route about an operator-wide record: made once by `make_id`, put into the path, no other-customer case."""

    def url(self, record_id: str = "") -> str:
        return self.path.replace("{article_id}", record_id) if record_id else self.path


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("tickets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, knowledge_pb2_grpc.KnowledgeServiceStub(channel), (("authorization", f"Bearer {token}"),)


def make_article(world, customer) -> str:  # noqa: ANN001 - any customer sees it
    with grpc.insecure_channel(world.grpc_addr("tickets"), options=[("grpc.enable_http_proxy", 0)]) as channel:
        resp = knowledge_pb2_grpc.KnowledgeServiceStub(channel).CreateArticle(
            knowledge_pb2.CreateArticleRequest(
                title=f"Authorisation probe {uuid.uuid4().hex[:8]}", body="Made by tests/authz.", published=True
            ),
            timeout=10,
            metadata=world.staff_metadata(),
        )
    return resp.article.id


def grpc_list_articles(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListArticles(knowledge_pb2.ListArticlesRequest(query="probe"), timeout=10, metadata=md)


def grpc_get_article(addr, token: str, article_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetArticle(knowledge_pb2.GetArticleRequest(article_id=article_id), timeout=10, metadata=md)


def grpc_ticket_charts(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, _stub_kb, md = _stub(addr, token)
    with channel:
        # The charts are the TicketsService's, on the same server as the knowledge base.
        tickets_pb2_grpc.TicketsServiceStub(channel).GetTicketCharts(
            tickets_pb2.GetTicketChartsRequest(), timeout=10, metadata=md
        )


def grpc_current_announcements(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListCurrentAnnouncements(knowledge_pb2.ListCurrentAnnouncementsRequest(), timeout=10, metadata=md)


ROUTES = [
    Route("GET", "/kb", KB, grpc=grpc_list_articles),
    SharedRoute("GET", "/kb/{article_id}", KB, make_id=make_article, grpc=grpc_get_article),
    Route("GET", "/api/v1/kb/articles", KB, grpc=grpc_list_articles),
    SharedRoute("GET", "/api/v1/kb/articles/{article_id}", KB, make_id=make_article, grpc=grpc_get_article),
    Route("GET", "/tickets/charts", TICKET_VIEW, grpc=grpc_ticket_charts),
    Route("GET", "/api/v1/tickets/charts", TICKET_VIEW, grpc=grpc_ticket_charts),
    Route("GET", "/api/v1/announcements", SIGNED_IN, grpc=grpc_current_announcements),
]
