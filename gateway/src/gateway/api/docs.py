"""What the OpenAPI description says about errors, and the query shapes every list shares (one copy)."""

from __future__ import annotations

from gateway.edge.errors import PROBLEM_MEDIA_TYPE

PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
# Keyset cursors are URL-safe base64; anything else cannot be one of ours.
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]*$"


def problems(*codes: int) -> dict[int | str, dict]:
    """The problem-details answers a router or route may give, for its `responses=`."""
    return {code: PROBLEM for code in codes}
