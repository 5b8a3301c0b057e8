"""Contract: the gateway's asset and site limits are the assets service's own values, so neither the pages nor the
API accept a value the service would refuse, or refuse one it would accept."""

from __future__ import annotations

from assets import checks
from assets.assets import importing
from assets.assets import service as assets_service
from assets.sites import service as sites_service
from gateway.areas import assets as limits
from gateway.clients import assets as client


def test_gateway_limits_are_the_services() -> None:
    assert limits.NAME_MAX == assets_service.NAME_MAX
    assert limits.SERIAL_MAX == assets_service.SERIAL_MAX
    assert limits.TYPE_MAX == assets_service.TYPE_MAX
    assert limits.NOTES_MAX == assets_service.NOTES_MAX
    assert limits.QUERY_MAX == assets_service.QUERY_MAX
    assert limits.FIELD_NAME_MAX == assets_service.FIELD_NAME_MAX
    assert limits.FIELD_VALUE_MAX == assets_service.FIELD_VALUE_MAX
    assert limits.CUSTOM_FIELDS_MAX == assets_service.CUSTOM_FIELDS_MAX
    assert limits.SITE_NAME_MAX == sites_service.NAME_MAX
    assert limits.ADDRESS_MAX == sites_service.ADDRESS_MAX
    assert limits.CSV_MAX_BYTES == importing.CSV_MAX_BYTES
    assert client.STAFF_FIELDS == assets_service.STAFF_FIELDS
    assert checks.IDEMPOTENCY_KEY_MAX == 150  # the staff API's Idempotency-Key header limit
