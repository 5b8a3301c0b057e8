"""The credential forms' and JSON API's limits are the assets service's own (services/assets credentials.service), so
a value the gateway lets through is never refused for length by the service, and the reverse."""

from __future__ import annotations

from assets.credentials import service
from gateway.areas import credentials as rules


def test_the_gateway_limits_are_the_service_limits() -> None:
    pairs = [
        (rules.NAME_MAX, service.NAME_MAX),
        (rules.USERNAME_MAX, service.USERNAME_MAX),
        (rules.URL_MAX, service.URL_MAX),
        (rules.NOTES_MAX, service.NOTES_MAX),
        (rules.PASSWORD_MAX, service.PASSWORD_MAX),
        (rules.PERSON_MAX, service.PERSON_MAX),
    ]
    assert [g for g, _ in pairs] == [s for _, s in pairs]


def test_only_http_urls_become_links() -> None:
    assert rules.link_of("https://router.example/admin") == "https://router.example/admin"
    assert rules.link_of("javascript:alert(1)") == ""
    assert rules.link_of("192.168.1.1") == ""
