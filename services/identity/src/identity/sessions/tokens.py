"""Session tokens (opaque, stored only as a hash) and principal tokens (signed, short-lived)."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.principal import Principal, TokenSigner, TokenVerifier

MAX_SESSION_TOKEN = 128


def new_session_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PrincipalTokens:
    """Signs principal tokens with identity's key; a token never outlives the session it came from."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        self._key = private_key
        self.ttl_seconds = ttl_seconds

    def sign(self, principal: Principal, *, not_after: datetime, now: float | None = None) -> tuple[str, int]:
        """The token and its expiry in unix seconds."""
        issued = time.time() if now is None else now
        ttl = max(1, min(self.ttl_seconds, int(not_after.timestamp() - issued)))
        return TokenSigner(self._key, ttl).sign(principal, now=issued)

    def verifier(self) -> TokenVerifier:
        """Identity verifies the tokens it signed with the matching public key."""
        return TokenVerifier([self._key.public_key()])
