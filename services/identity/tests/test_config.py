"""Settings: what a missing or weak value does at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from identity.config import Settings
from servicekit.settings import load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, signing_key_file: Path) -> pytest.MonkeyPatch:
    for name in (
        "ENV",
        "BOOTSTRAP_STAFF_EMAIL",
        "BOOTSTRAP_STAFF_PASSWORD",
        "PORTAL_URL",
        "SIGNING_KEY_FILE",
        "SECRETS_KEY_FILE",
    ):
        monkeypatch.delenv(f"IDENTITY_{name}", raising=False)
    monkeypatch.setenv("IDENTITY_DATABASE_URL", "sqlite+aiosqlite:///unused.db")
    monkeypatch.setenv("IDENTITY_SIGNING_KEY_FILE", str(signing_key_file))
    return monkeypatch


def refused(match: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        load_settings(Settings)
    assert match in str(exit_.value)


def test_defaults(env: pytest.MonkeyPatch) -> None:
    s = load_settings(Settings)
    assert (s.grpc_port, s.principal_token_ttl_seconds, s.session_idle_minutes, s.session_absolute_hours) == (
        50051,
        300,
        30,
        12,
    )
    assert s.smtp_port == 1025
    assert s.session_policy().idle.total_seconds() == 1800
    assert s.signing_key().public_key()


def test_the_signing_key_is_required_and_must_be_ed25519(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("IDENTITY_SIGNING_KEY_FILE")
    refused("IDENTITY_SIGNING_KEY_FILE")
    env.setenv("IDENTITY_SIGNING_KEY_FILE", str(tmp_path / "missing.pem"))
    refused("cannot read the signing key")
    (tmp_path / "junk.pem").write_text("not a key")
    env.setenv("IDENTITY_SIGNING_KEY_FILE", str(tmp_path / "junk.pem"))
    refused("not an unencrypted Ed25519 private key")


def test_a_bootstrap_email_needs_a_password(env: pytest.MonkeyPatch) -> None:
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_EMAIL", "admin@example.test")
    refused("IDENTITY_BOOTSTRAP_STAFF_PASSWORD")


@pytest.mark.parametrize("password", ["demo-admin-123", "change-me-please-now", "short", "aaaaaaaaaaaaaaaa"])
def test_prod_refuses_a_weak_or_placeholder_bootstrap_password(env: pytest.MonkeyPatch, password: str) -> None:
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_EMAIL", "admin@example.test")
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_PASSWORD", password)
    assert load_settings(Settings).bootstrap_staff_password.get_secret_value() == password  # dev accepts it
    env.setenv("IDENTITY_ENV", "prod")
    env.setenv("IDENTITY_DATABASE_URL", "postgresql+asyncpg://db/identity")
    env.setenv("IDENTITY_PORTAL_URL", "https://portal.example.com")
    refused("IDENTITY_BOOTSTRAP_STAFF_PASSWORD")


def test_prod_accepts_a_strong_password_and_needs_a_public_portal_url(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("IDENTITY_ENV", "prod")
    env.setenv("IDENTITY_DATABASE_URL", "postgresql+asyncpg://db/identity")
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_EMAIL", "admin@example.test")
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_PASSWORD", "Kq7#vW2m!pL9zR4x")
    refused("IDENTITY_SECRETS_KEY_FILE")
    key = tmp_path / "secrets.key"
    key.write_bytes(Fernet.generate_key() + b"\n")
    env.setenv("IDENTITY_SECRETS_KEY_FILE", str(key))
    refused("IDENTITY_PORTAL_URL")
    env.setenv("IDENTITY_PORTAL_URL", "https://portal.example.com/")
    assert load_settings(Settings).portal_url == "https://portal.example.com"


def test_the_secrets_do_not_show_in_the_settings_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_EMAIL", "admin@example.test")
    env.setenv("IDENTITY_BOOTSTRAP_STAFF_PASSWORD", "Kq7#vW2m!pL9zR4x")
    env.setenv("IDENTITY_SMTP_PASSWORD", "relay-secret-value")
    text = repr(load_settings(Settings))
    assert "Kq7#vW2m!pL9zR4x" not in text and "relay-secret-value" not in text
