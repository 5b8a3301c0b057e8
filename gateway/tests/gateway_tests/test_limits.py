"""The body limit is decided in one place (edge/limits.py): wide only for a multipart body to an upload route."""

from __future__ import annotations

from gateway.edge.limits import body_limit

SMALL, FILE = 2 * 1024 * 1024, 25 * 1024 * 1024
MULTIPART = "multipart/form-data; boundary=x"


def limit(path: str, content_type: str = MULTIPART) -> int:
    return body_limit(path, content_type, max_body_bytes=SMALL, max_upload_bytes=FILE)


def test_upload_routes_take_a_file_and_the_form_around_it() -> None:
    for path in (
        "/tickets/new",
        "/tickets/abc/comments",
        "/api/v1/tickets/abc/attachments",
        "/documents",
        "/api/v1/documents",
        "/staff/customers/abc/documents",
        "/api/v1/staff/customers/abc/documents",
    ):
        assert limit(path) == FILE + SMALL, path
        assert limit(path, "Multipart/Form-Data; boundary=y") == FILE + SMALL, path


def test_everything_else_keeps_the_small_limit() -> None:
    assert limit("/tickets/new", "application/x-www-form-urlencoded") == SMALL
    assert limit("/api/v1/tickets/abc/attachments", "application/json") == SMALL
    for path in (
        "/api/v1/tickets",
        "/tickets/abc/comments/extra",
        "/tickets/a/b/comments",
        "/api/v1/tickets/abc",
        "/x/tickets/new",
        "/tickets/newer",
        "/documents/abc/download",
        "/staff/customers/abc/documents/x",
    ):
        assert limit(path) == SMALL, path
