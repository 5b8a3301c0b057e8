"""Reading a posted form: the body limits, the CSRF check, plain text fields, a safe `next`."""

from __future__ import annotations

from fastapi import Request

from gateway.edge.csrf import CSRF_COOKIE
from gateway.edge.sessions import SESSION_COOKIE, session_hash
from gateway.web.deps import CsrfRejected, csrf


def safe_next(value: str | None) -> str:
    """Only same-site paths may be a post-sign-in destination (no open redirect)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\t\\") or ":" in value.split("?", 1)[0]:
        return "/"
    return value


def check_csrf(request: Request, submitted: object, session_cookie: str = SESSION_COOKIE) -> None:
    cookie = request.cookies.get(session_cookie)
    ok = isinstance(submitted, str) and csrf(request).check(
        submitted,
        session_hash=session_hash(cookie) if cookie else None,
        nonce=request.cookies.get(CSRF_COOKIE),
    )
    if not ok:
        raise CsrfRejected()


def return_state(request: Request, purpose: str) -> str:
    """The `state` to put in a return URL given to a third party (see Csrf.for_return)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf(request).for_return(session_hash(cookie), purpose) if cookie else ""


def check_return_state(request: Request, submitted: object, purpose: str) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    ok = isinstance(submitted, str) and csrf(request).check_return(
        submitted, session_hash=session_hash(cookie) if cookie else None, purpose=purpose
    )
    if not ok:
        raise CsrfRejected()


async def read_form(request: Request, *, max_files: int = 0):  # noqa: ANN201 - starlette FormData
    # A field may be as large as the body limit: our own checks then answer "too long" next to the field.
    limit = request.app.state.settings.max_body_bytes
    return await request.form(max_files=max_files, max_fields=50, max_part_size=limit)


def field(form, name: str) -> str:  # noqa: ANN001 - starlette FormData
    """A text field's value; a missing field or a file in its place is ""."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""
