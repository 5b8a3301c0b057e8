"""`python -m billing` as a real process: it migrates, answers gRPC health, exposes /metrics, and stops
cleanly on SIGTERM; a missing principal key stops it at start with a readable message."""

import pytest

from billing.config import Settings
from billing.main import NAME
from portal_testkit.service_process import check_migrates_serves_and_stops, check_refuses_without_public_key
from servicekit.settings import load_settings


def test_the_service_migrates_serves_and_stops_cleanly(tmp_path, nats_server):
    check_migrates_serves_and_stops(NAME, tmp_path, nats_server.url)


def test_without_the_principal_public_key_the_service_refuses_to_start(monkeypatch, tmp_path):
    check_refuses_without_public_key(Settings, monkeypatch, tmp_path)


def test_overpayment_is_refuse_by_default_and_a_wrong_value_stops_the_start(monkeypatch, tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("not read here")
    monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("BILLING_PRINCIPAL_PUBLIC_KEY_FILE", str(key))
    assert load_settings(Settings).overpayment == "refuse"
    monkeypatch.setenv("BILLING_OVERPAYMENT", "store_credit")
    assert load_settings(Settings).overpayment == "store_credit"
    monkeypatch.setenv("BILLING_OVERPAYMENT", "keep")
    with pytest.raises(SystemExit, match="BILLING_OVERPAYMENT"):
        load_settings(Settings)


def test_stripe_settings_are_checked_at_start(monkeypatch, tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("not read here")
    monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("BILLING_PRINCIPAL_PUBLIC_KEY_FILE", str(key))
    monkeypatch.setenv("BILLING_PAYMENT_PROCESSOR", "stripe")
    with pytest.raises(SystemExit, match="BILLING_STRIPE_API_KEY"):
        load_settings(Settings)
    monkeypatch.setenv("BILLING_STRIPE_API_KEY", "sk_test_x")
    dev = load_settings(Settings)
    assert dev.stripe_checkout and dev.stripe_api_url == "https://api.stripe.com" and dev.stripe_webhook_secret is None
    # In prod a Stripe deployment must verify webhooks, use Checkout and reach Stripe over https.
    monkeypatch.setenv("BILLING_ENV", "prod")
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql+asyncpg://billing@db/billing")
    with pytest.raises(SystemExit, match="BILLING_STRIPE_WEBHOOK_SECRET") as refused:
        load_settings(Settings)
    assert "sk_test_x" not in str(refused.value)
    monkeypatch.setenv("BILLING_STRIPE_WEBHOOK_SECRET", "whsec_x")
    assert load_settings(Settings).stripe_webhook_secret.get_secret_value() == "whsec_x"
    assert "whsec_x" not in repr(load_settings(Settings))
    monkeypatch.setenv("BILLING_STRIPE_CHECKOUT", "false")
    with pytest.raises(SystemExit, match="BILLING_STRIPE_CHECKOUT"):
        load_settings(Settings)
    monkeypatch.setenv("BILLING_STRIPE_CHECKOUT", "true")
    monkeypatch.setenv("BILLING_STRIPE_API_URL", "http://127.0.0.1:8420")
    with pytest.raises(SystemExit, match="BILLING_STRIPE_API_URL"):
        load_settings(Settings)
