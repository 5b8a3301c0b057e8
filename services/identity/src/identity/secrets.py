"""Secrets at rest: TOTP secrets and the queued emails that carry a reset or invitation link are encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key from IDENTITY_SECRETS_KEY_FILE.

In dev without that file the key is derived (HKDF) from the principal signing key, so a local run needs nothing
more; env=prod refuses to start without the file. Rotating: MultiFernet reads with every key given (newest
first in the file, one per line) and writes with the first."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# What a sealed value starts with; a TOTP secret (base32) or a plain body never does.
PREFIX = "fernet:"


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, value: str) -> str:
        """The plaintext of a sealed value; a value sealed under an unknown key raises ValueError."""
        if not is_sealed(value):
            raise ValueError("not a sealed value")
        try:
            return self._fernet.decrypt(value.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise ValueError("sealed with a key this service does not have") from None


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def read_keys(path: Path) -> list[bytes]:
    """Fernet keys (urlsafe base64 of 32 bytes), one per line, newest first."""
    try:
        lines = [line.strip() for line in path.read_text("ascii").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the secrets key {path}: {exc}") from None
    keys = []
    for line in lines:
        try:
            Fernet(line.encode())
        except ValueError:
            raise ValueError(
                f"{path} must hold Fernet keys, one per line "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from None
        keys.append(line.encode())
    if not keys:
        raise ValueError(f"{path} holds no key")
    return keys


def derived_key(signing_key: Ed25519PrivateKey) -> bytes:
    """A dev-only key derived from the principal signing key."""
    raw = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"identity secrets at rest v1").derive(raw)
    return base64.urlsafe_b64encode(okm)
