"""CSRF tokens for form posts.

A signed-in form carries HMAC(key, hash of the session token); before sign-in it carries HMAC(key, nonce)
where the nonce sits in an HttpOnly `portal_csrf` cookie. A cross-site page can neither read the cookies
nor compute the HMAC, so it cannot forge the hidden field. Nothing is stored server-side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CSRF_COOKIE = "portal_csrf"
CSRF_FIELD = "csrf_token"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Csrf:
    def __init__(self, session_secret: bytes) -> None:
        # A key of its own, so the session secret is never used raw for two purposes.
        self._key = hmac.new(session_secret, b"portal-gateway/csrf/v1", hashlib.sha256).digest()

    def _mac(self, label: bytes, value: str) -> str:
        return _b64(hmac.new(self._key, label + value.encode(), hashlib.sha256).digest())

    def for_session(self, session_hash: str) -> str:
        return self._mac(b"session:", session_hash)

    def for_nonce(self, nonce: str) -> str:
        return self._mac(b"nonce:", nonce)

    def for_return(self, session_hash: str, purpose: str) -> str:
        """The `state` a third party (the card processor) hands back on its return URL. It ties the return to
        this session like a CSRF token, but it is a value of its own per purpose: the session's form token never
        leaves our pages, so a processor's logs or referrers cannot be used to forge the portal's forms."""
        return self._mac(b"return:" + purpose.encode() + b":", session_hash)

    def check_return(self, submitted: str | None, *, session_hash: str | None, purpose: str) -> bool:
        if not submitted or not session_hash:
            return False
        return hmac.compare_digest(submitted, self.for_return(session_hash, purpose))

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def check(self, submitted: str | None, *, session_hash: str | None, nonce: str | None) -> bool:
        """True when `submitted` matches the token of the browser's session or of its pre-sign-in nonce."""
        if not submitted:
            return False
        ok = False
        if session_hash:
            ok |= hmac.compare_digest(submitted, self.for_session(session_hash))
        if nonce:
            ok |= hmac.compare_digest(submitted, self.for_nonce(nonce))
        return ok
