"""What the OpenAPI description says about errors, and the query shapes every list shares (one copy)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from gateway.edge.errors import PROBLEM_MEDIA_TYPE

PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
# Keyset cursors are URL-safe base64; anything else cannot be one of ours.
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]*$"


def problems(*codes: int) -> dict[int | str, dict]:
    """The problem-details answers a router or route may give, for its `responses=`."""
    return {code: PROBLEM for code in codes}


def describe_bad_requests_as_problems(app: FastAPI) -> None:
    """Make the OpenAPI description say what a bad request really gets.

    FastAPI lists a 422 `application/json` HTTPValidationError on every operation that takes input, but the edge
    answers a request that fails validation with a 400 problem+json (gateway.edge.errors). The description is
    rewritten once, when first asked for: that 422 goes, a 400 problem takes its place, and the two unused schemas
    go too. A 422 that a route lists itself (a problem) stays.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if not responses:
                    continue
                listed = responses.get("422", {}).get("content", {}).get("application/json", {})
                if "HTTPValidationError" in json.dumps(listed):
                    del responses["422"]
                    responses.setdefault("400", PROBLEM)
        schemas = doc.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            if f"#/components/schemas/{name}" not in json.dumps(doc):
                schemas.pop(name, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
