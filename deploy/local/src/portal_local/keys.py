"""Local secrets: identity's Ed25519 principal-signing key pair, identity's key for secrets at rest (Fernet), the
assets service's master key for masked credentials, remote's Ed25519 command-signing key (every replica shares it),
identity's VAPID key for web push and the gateway's session secret.

They are created once under <var>/keys and reused, so sessions and tokens survive a restart.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class LocalKeys:
    private_key_file: Path
    public_key_file: Path
    session_secret_file: Path
    # Fernet key that encrypts TOTP secrets and emailed links at rest (IDENTITY_SECRETS_KEY_FILE).
    secrets_key_file: Path
    # `id:base64key` master key of masked credentials (ASSETS_CREDENTIAL_KEYS, assets' credentials.crypto).
    credential_keys_file: Path
    # Ed25519 private key (PEM, PKCS8) with which every remote replica signs commands to agents
    # (REMOTE_COMMAND_KEY_FILE); agents learn its public half at enrolment.
    command_key_file: Path
    # The VAPID P-256 private key (PEM, PKCS8) identity signs web push with (IDENTITY_VAPID_PRIVATE_KEY_FILE,
    # docs/push.md); browsers subscribe with its public half.
    vapid_key_file: Path

    @property
    def session_secret(self) -> str:
        return self.session_secret_file.read_text().strip()


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite a key another run already created.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _ed25519_pem() -> bytes:
    """A new Ed25519 private key, PEM PKCS8, unencrypted (the file's mode 0600 protects it)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_keys(var_dir: Path) -> LocalKeys:
    keys_dir = Path(var_dir) / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    keys = LocalKeys(
        private_key_file=keys_dir / "principal.pem",
        public_key_file=keys_dir / "principal.pub.pem",
        session_secret_file=keys_dir / "session_secret",
        secrets_key_file=keys_dir / "identity_secrets.key",
        credential_keys_file=keys_dir / "assets_credential.keys",
        command_key_file=keys_dir / "remote_command.pem",
        vapid_key_file=keys_dir / "vapid.pem",
    )

    if not keys.private_key_file.exists():
        _write_private(keys.private_key_file, _ed25519_pem())
        keys.public_key_file.unlink(missing_ok=True)

    if not keys.command_key_file.exists():
        _write_private(keys.command_key_file, _ed25519_pem())

    if not keys.vapid_key_file.exists():
        vapid = ec.generate_private_key(ec.SECP256R1())
        _write_private(
            keys.vapid_key_file,
            vapid.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )

    if not keys.public_key_file.exists():
        # Derived from the private key, so a lost public file is simply recreated.
        private = serialization.load_pem_private_key(keys.private_key_file.read_bytes(), password=None)
        _write_private(
            keys.public_key_file,
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    if not keys.secrets_key_file.exists():
        _write_private(keys.secrets_key_file, Fernet.generate_key() + b"\n")

    if not keys.credential_keys_file.exists():
        entry = f"local-1:{base64.b64encode(secrets.token_bytes(32)).decode()}\n"
        _write_private(keys.credential_keys_file, entry.encode())

    if not keys.session_secret_file.exists():
        _write_private(keys.session_secret_file, (secrets.token_urlsafe(48) + "\n").encode())

    return keys
