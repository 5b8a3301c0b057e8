"""How large a request body may be, decided here and nowhere else: `max_body_bytes` (2 MB) everywhere, and on the
routes that take a file the largest file (`max_upload_bytes`, 25 MB) plus `max_body_bytes` for the form's other
fields and the multipart framing. The edge middleware enforces it as the body arrives; the 413 answer quotes it.

A route that takes files is listed in UPLOAD_ROUTES (pages and JSON alike); the body still streams to a spooled
temporary file and then to the service in chunks, so the larger allowance costs disk, not memory.
"""

from __future__ import annotations

import re

UPLOAD_ROUTES: tuple[re.Pattern[str], ...] = (
    # Tickets: a file with a new ticket, with a comment, or on its own through the API.
    re.compile(r"/tickets/new"),
    re.compile(r"/tickets/[^/]+/comments"),
    re.compile(r"/api/v1/tickets/[^/]+/attachments"),
    # Customer documents (SPEC A4): the portal's upload form and API, the staff customer page and staff API.
    re.compile(r"/documents"),
    re.compile(r"/api/v1/documents"),
    re.compile(r"/staff/customers/[^/]+/documents"),
    re.compile(r"/api/v1/staff/customers/[^/]+/documents"),
)


def is_upload_route(path: str) -> bool:
    return any(route.fullmatch(path) for route in UPLOAD_ROUTES)


def body_limit(path: str, content_type: str, *, max_body_bytes: int, max_upload_bytes: int) -> int:
    """The most bytes a request body to `path` may have: only a multipart body (the one kind that carries a file)
    to an upload route gets the file's allowance; its text fields stay capped at max_body_bytes each by the form
    readers (web/forms.py)."""
    multipart = content_type.lower().startswith("multipart/form-data")
    return max_upload_bytes + max_body_bytes if multipart and is_upload_route(path) else max_body_bytes
