"""Identity's settings (env prefix IDENTITY_). A missing or unreadable signing key stops the service at start."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from identity.mail.mailer import SmtpConfig
from identity.push.sender import VapidKey
from identity.secrets import SecretBox, derived_key, read_keys
from identity.sessions.service import SessionPolicy
from identity.validation import is_placeholder_password, looks_like_email
from servicekit.principal import load_private_key
from servicekit.settings import ServiceSettings, service_config

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key (PKCS8 PEM) identity signs principal tokens with."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    try:
        return load_private_key(pem)
    except (ValueError, TypeError, SystemExit) as exc:
        raise ValueError(f"{path} is not an unencrypted Ed25519 private key in PKCS8 PEM ({exc})") from None


class Settings(ServiceSettings):
    model_config = service_config("IDENTITY_")

    grpc_port: int = 50051
    signing_key_file: Path = Field(description="Ed25519 private key (PKCS8 PEM) that signs principal tokens")
    # Fernet keys that encrypt TOTP secrets and queued reset/invitation emails at rest (identity.secrets).
    # Required when env=prod; in dev a key derived from the signing key is used when it is not set.
    secrets_key_file: Path | None = Field(
        None, description="Fernet keys, one per line, newest first", validate_default=True
    )
    principal_token_ttl_seconds: int = Field(300, ge=10, le=3600)
    session_idle_minutes: int = Field(30, ge=1)
    session_absolute_hours: int = Field(12, ge=1)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "portal@localhost"
    portal_url: str = "http://127.0.0.1:8000"
    # The name authenticator apps show next to the account (SPEC P4).
    mfa_issuer: str = Field("Customer portal", min_length=1, max_length=60)

    # The services identity asks before deleting a customer (SPEC C5). One left empty makes delete refuse
    # (never delete blindly) but does not stop the service: a deployment may run without remote, say.
    tickets_addr: str = ""
    billing_addr: str = ""
    assets_addr: str = ""
    remote_addr: str = ""
    peer_timeout_seconds: float = Field(5.0, gt=0, le=60)

    # Password hashing (users.hashing, docs/identity.md): threads that hash (0 = one per core) and how many hashes
    # may wait for one before a sign-in is answered "busy, retry" at once. The gateway's
    # GATEWAY_SIGNIN_TIMEOUT_SECONDS must cover a full queue: queue × 40 ms / workers here, with room for load.
    hashing_workers: int = Field(0, ge=0, le=64)
    hashing_queue: int = Field(200, ge=0, le=10_000)

    bootstrap_staff_email: str = ""
    bootstrap_staff_password: SecretStr = SecretStr("")
    # SPEC S1: an admin without MFA is sent to enrol at sign-in. Unset means on when env=prod and off otherwise,
    # so `make run`'s bootstrap admin signs in with its password alone.
    require_staff_admin_mfa: bool | None = Field(None, validate_default=True)
    # Every staff member, technicians too, enrols an authenticator at its first sign-in (off by default).
    require_staff_mfa: bool = False

    # Web push (X7, docs/push.md): the VAPID P-256 private key (PEM); unset, push is off. The subject is the contact
    # push services may write to (a mailto: or https: URL). Insecure hosts: push endpoints allowed over http or on a
    # local address, for tests only (comma-separated host names; refused when env=prod).
    vapid_private_key_file: Path | None = None
    vapid_subject: str = "mailto:portal@localhost"
    push_insecure_hosts: str = ""

    @field_validator("signing_key_file")
    @classmethod
    def _signing_key_loads(cls, value: Path) -> Path:
        read_signing_key(value)
        return value

    @field_validator("secrets_key_file")
    @classmethod
    def _secrets_key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            if info.data.get("env") == "prod":
                raise ValueError("is required when env=prod (TOTP secrets and emailed links are encrypted with it)")
            return None
        read_keys(value)
        return value

    @field_validator("portal_url")
    @classmethod
    def _portal_url(cls, value: str, info: ValidationInfo) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an absolute http(s) URL, e.g. https://portal.example.com")
        if info.data.get("env") == "prod" and parsed.hostname in ("127.0.0.1", "localhost"):
            raise ValueError("must be the portal's public URL when env=prod (links in emails use it)")
        return value.rstrip("/")

    @field_validator("tickets_addr", "billing_addr", "assets_addr", "remote_addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        if value and not _ADDRESS.match(value):
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("bootstrap_staff_email")
    @classmethod
    def _bootstrap_email(cls, value: str) -> str:
        value = value.strip()
        if value and not looks_like_email(value):
            raise ValueError("must be an email address")
        return value

    @field_validator("bootstrap_staff_password")
    @classmethod
    def _bootstrap_password(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        password = value.get_secret_value()
        if info.data.get("bootstrap_staff_email") and not password:
            raise ValueError("is required when IDENTITY_BOOTSTRAP_STAFF_EMAIL is set")
        if password and info.data.get("env") == "prod" and is_placeholder_password(password):
            raise ValueError(
                "is a weak or placeholder password; choose at least 12 characters that are not a demo value"
            )
        return value

    @field_validator("require_staff_admin_mfa")
    @classmethod
    def _admin_mfa(cls, value: bool | None, info: ValidationInfo) -> bool:
        return value if value is not None else info.data.get("env") == "prod"

    @field_validator("vapid_private_key_file")
    @classmethod
    def _vapid_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            VapidKey.from_file(value, "mailto:check@localhost")
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, value: str) -> str:
        value = value.strip()
        if not (value.startswith("mailto:") or value.startswith("https://")):
            raise ValueError("must be a mailto: or https: URL (RFC 8292)")
        return value

    @field_validator("push_insecure_hosts")
    @classmethod
    def _insecure_hosts(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value and info.data.get("env") == "prod":
            raise ValueError("must be empty when env=prod (push endpoints are https on the internet)")
        return value

    def vapid_key(self) -> VapidKey | None:
        if self.vapid_private_key_file is None:
            return None
        return VapidKey.from_file(self.vapid_private_key_file, self.vapid_subject)

    def insecure_push_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.push_insecure_hosts.split(",") if h.strip())

    def signing_key(self) -> Ed25519PrivateKey:
        return read_signing_key(self.signing_key_file)

    def secret_box(self) -> SecretBox:
        if self.secrets_key_file is None:
            return SecretBox([derived_key(self.signing_key())])
        return SecretBox(read_keys(self.secrets_key_file))

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(minutes=self.session_idle_minutes),
            absolute=timedelta(hours=self.session_absolute_hours),
            require_staff_admin_mfa=bool(self.require_staff_admin_mfa),
            require_staff_mfa=self.require_staff_mfa,
        )

    def peer_addresses(self) -> dict[str, str]:
        return {
            "tickets": self.tickets_addr,
            "billing": self.billing_addr,
            "assets": self.assets_addr,
            "remote": self.remote_addr,
        }

    def smtp_config(self) -> SmtpConfig:
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            mail_from=self.mail_from,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value(),
            starttls=self.smtp_starttls,
            timeout=self.smtp_timeout_seconds,
        )
