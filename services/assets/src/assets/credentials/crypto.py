"""Envelope encryption of credential passwords (SPEC A5) with AES-256-GCM from `cryptography`.

Each credential has its own random data key and nonce; the password is encrypted with the data key, and the data
key is wrapped (encrypted) by a master key named by a key id. Master keys come from ASSETS_CREDENTIAL_KEYS as
`id:base64key` entries, the first being the one new data keys are wrapped with. Rotating master keys re-wraps the
data keys only (`rotate`); the password ciphertexts never change. The credential's id is the associated data of
both layers, so a ciphertext or a wrapped key copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_SEPARATORS = re.compile(r"[\s,]+")


class KeyringError(ValueError):
    """ASSETS_CREDENTIAL_KEYS cannot be used; the message never contains key material."""


class DecryptionError(Exception):
    """A credential cannot be decrypted: its key id is not configured, or the key or the row is wrong."""


@dataclass(frozen=True)
class Sealed:
    """What is stored for one password: the wrapped data key (nonce ‖ ciphertext) under `key_id`, and the
    password's nonce and ciphertext under the data key."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


class Keyring:
    """The master keys by id; `current` wraps new data keys, every key unwraps."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyringError("no credential key is configured")
        self._keys = dict(keys)
        if len(self._keys) != len(keys):
            raise KeyringError("a credential key id appears twice")
        self.current = keys[0][0]

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, credential_id: str, password: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, password.encode(), credential_id.encode())
        return Sealed(self.current, self._wrap(self.current, credential_id, data_key), nonce, ciphertext)

    def open(self, credential_id: str, sealed: Sealed) -> str:
        data_key = self._unwrap(sealed.key_id, credential_id, sealed.wrapped_key)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, credential_id.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("the password does not decrypt with its data key") from exc

    def rewrap(self, credential_id: str, key_id: str, wrapped_key: bytes) -> bytes:
        """The data key wrapped by `key_id`, wrapped again by the current key."""
        return self._wrap(self.current, credential_id, self._unwrap(key_id, credential_id, wrapped_key))

    def _wrap(self, key_id: str, credential_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._keys[key_id]).encrypt(nonce, data_key, _wrap_aad(credential_id, key_id))

    def _unwrap(self, key_id: str, credential_id: str, wrapped: bytes) -> bytes:
        master = self._keys.get(key_id)
        if master is None:
            raise DecryptionError(f"the credential key {key_id!r} is not configured")
        try:
            return AESGCM(master).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(credential_id, key_id)
            )
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(f"the data key does not unwrap with the credential key {key_id!r}") from exc


def _wrap_aad(credential_id: str, key_id: str) -> bytes:
    return f"{credential_id}\x00{key_id}".encode()


def parse_keys(text: str) -> Keyring:
    """`id:base64key` entries separated by whitespace or commas, the first current; keys are 32 bytes."""
    keys = []
    for entry in _SEPARATORS.split(text.strip()):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise KeyringError("each credential key is written id:base64key, the id of letters, digits, . _ -")
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"the credential key {key_id!r} is not base64") from None
        if len(raw) != KEY_BYTES:
            raise KeyringError(f"the credential key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        keys.append((key_id, raw))
    return Keyring(keys)


def load_keyring(value: str) -> Keyring:
    """ASSETS_CREDENTIAL_KEYS: the path of a file holding the entries, or the entries themselves."""
    value = value.strip()
    path = Path(value)
    if ":" not in value or (len(value) < 4096 and path.is_file()):
        try:
            value = path.read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyringError(f"cannot read the credential keys file {path}: {exc.__class__.__name__}") from None
    return parse_keys(value)


def new_key_entry(key_id: str) -> str:
    """A fresh `id:base64key` entry (what `make run` and the tests write)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"
