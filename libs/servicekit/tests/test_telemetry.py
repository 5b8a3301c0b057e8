"""Tracing follows the standard OTEL_* variables."""

import pytest

from servicekit.telemetry import traces_exported


def test_tracing_follows_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    assert not traces_exported()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert traces_exported()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not traces_exported()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert traces_exported()
