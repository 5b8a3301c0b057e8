"""The events assets publishes (messages in portal/assets/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from assets.documents.models import Document
from portal.assets.v1 import events_pb2
from servicekit.events import add_event, subject

ASSET_CREATED = subject("assets", "asset_created")
DOCUMENT_ADDED = subject("assets", "document_added")


async def document_added(session: AsyncSession, doc: Document) -> str:
    """Record portal.assets.document_added.v1 (names and sizes, never bytes or blob keys); returns the event id."""
    message = events_pb2.DocumentAdded(
        document_id=doc.id,
        customer_id=doc.customer_id,
        filename=doc.filename,
        content_type=doc.content_type,
        size_bytes=doc.size_bytes,
        is_public=doc.is_public,
        uploaded_by=doc.uploaded_by,
    )
    return await add_event(session, DOCUMENT_ADDED, message, customer_id=doc.customer_id)
