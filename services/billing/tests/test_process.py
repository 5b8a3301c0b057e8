"""`python -m billing` as a real process: it migrates, answers gRPC health, exposes /metrics, and stops
cleanly on SIGTERM; a missing principal key stops it at start with a readable message."""

from billing.config import Settings
from billing.main import NAME
from portal_testkit.service_process import check_migrates_serves_and_stops, check_refuses_without_public_key


def test_the_service_migrates_serves_and_stops_cleanly(tmp_path, nats_server):
    check_migrates_serves_and_stops(NAME, tmp_path, nats_server.url)


def test_without_the_principal_public_key_the_service_refuses_to_start(monkeypatch, tmp_path):
    check_refuses_without_public_key(Settings, monkeypatch, tmp_path)
