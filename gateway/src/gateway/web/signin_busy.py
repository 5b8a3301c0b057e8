"""The sign-in pages' "busy, retrying" path (docs/identity.md, "Password hashing under load").

When identity's password-hashing queue is over its bound it refuses a sign-in at once, before checking anything.
The page then answers 503 with Retry-After and a short "Signing you in…" page that comes back by itself (a meta
refresh, no script) to `<sign-in path>/pending`. The attempt waits in a cookie sealed with a key derived from
GATEWAY_SESSION_SECRET (Fernet: encrypted and authenticated, two minutes at most), sent only to that path, so any
gateway replica can retry it and nothing about it is kept server-side. It carries the attempt's id: however often
it is retried, a wrong password counts once towards the lock-out.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from fastapi.responses import Response

from gateway.web.deps import pages

PENDING_COOKIE = "portal_signin_pending"
PENDING_SECONDS = 120
_KEY_PURPOSE = b"portal sign-in pending attempt\x00"


def pending_path(action: str) -> str:
    return f"{action}/pending"


def _fernet(request: Request) -> Fernet:
    secret = request.app.state.settings.session_secret.get_secret_value().encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_KEY_PURPOSE + secret).digest()))


def seal(request: Request, *, login: str, password: str, attempt_id: str, next_path: str) -> str:
    payload = json.dumps({"l": login, "p": password, "a": attempt_id, "n": next_path}).encode()
    return _fernet(request).encrypt(payload).decode()


def unseal(request: Request, value: str | None) -> dict[str, str] | None:
    """The pending attempt, or None when there is none, it is older than two minutes, or it was not ours."""
    if not value or len(value) > 4096:
        return None
    try:
        data = json.loads(_fernet(request).decrypt(value.encode(), ttl=PENDING_SECONDS))
    except (InvalidToken, ValueError):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "lpan"):
        return None
    return data


def busy_page(request: Request, *, sealed: str, retry_after: int, action: str, heading: str) -> Response:
    """503 "Signing you in…": the page retries by itself in `retry_after` seconds."""
    t = pages(request).translator(request)
    url = pending_path(action)
    response = pages(request).render(
        request,
        "session/signing_in.html",
        {"heading": heading, "retry_after": retry_after, "retry_url": url, "message": t("signin.busy")},
        status_code=503,
    )
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        PENDING_COOKIE, sealed, max_age=PENDING_SECONDS, path=url, secure=True, httponly=True, samesite="lax"
    )
    return response


def forget(response: Response, action: str) -> Response:
    response.delete_cookie(PENDING_COOKIE, path=pending_path(action), secure=True, httponly=True, samesite="lax")
    return response
