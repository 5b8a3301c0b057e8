"""Demo knowledge base and announcement (SPEC T9, T10), created by the staff user while seeding."""

from __future__ import annotations

import grpc

from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc
from portal_local.seed.rpc import DEADLINE_SECONDS

DEMO_ARTICLES: tuple[tuple[str, str], ...] = (
    (
        "Resetting a forgotten portal password",
        "On the sign-in page, choose \u201cForgot your password?\u201d and enter your email address.\n\n"
        "We email you a link that works for one hour. Open it, choose a new password and sign in again.",
    ),
    (
        "Connecting a laptop to the office Wi-Fi",
        "Pick the network named after your office, then enter the Wi-Fi password printed on the router label.\n\n"
        "If the laptop connects but has no internet, restart it once; if that does not help, open a ticket with "
        "the laptop's name.",
    ),
)
DEMO_ANNOUNCEMENT = (
    "Scheduled maintenance on Saturday",
    "The portal and the remote-support service will be unavailable on Saturday from 08:00 to 10:00 UTC.",
)


def seed_knowledge(channel: grpc.Channel, staff_token: str) -> None:
    """Two published articles and one announcement."""
    stub = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
    md = (("authorization", f"Bearer {staff_token}"),)
    for title, body in DEMO_ARTICLES:
        request = knowledge_pb2.CreateArticleRequest(title=title, body=body, published=True)
        stub.CreateArticle(request, timeout=DEADLINE_SECONDS, metadata=md)
    title, body = DEMO_ANNOUNCEMENT
    fields = knowledge_pb2.AnnouncementFields(title=title, body=body, active=True)
    stub.CreateAnnouncement(
        knowledge_pb2.CreateAnnouncementRequest(fields=fields), timeout=DEADLINE_SECONDS, metadata=md
    )
