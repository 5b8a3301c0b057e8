"""Trusted proxies: X-Forwarded-For is believed only from GATEWAY_TRUSTED_PROXIES, and then only its right-most
untrusted hop; the address identity receives for its per-address sign-in limit is what these tests check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import parse_networks
from gateway.edge.proxies import ClientAddress
from gateway_tests.conftest import make_settings, running_gateway

INGRESS = "10.42.0.0/16"  # the ingress controller's pod range


def test_the_client_is_the_right_most_untrusted_hop_and_only_behind_a_trusted_peer() -> None:
    r = ClientAddress(parse_networks(f"{INGRESS}, 192.0.2.10"))
    # No trusted proxy configured, or an untrusted peer: the header is ignored.
    assert ClientAddress(()).client("10.42.0.5", ["198.51.100.1"]) == "10.42.0.5"
    assert r.client("203.0.113.9", ["198.51.100.1"]) == "203.0.113.9"
    # Behind the ingress: what the ingress appended; what the client wrote further left proves nothing.
    assert r.client("10.42.0.5", ["6.6.6.6, 198.51.100.1"]) == "198.51.100.1"
    assert r.client("10.42.0.5", ["6.6.6.6", "198.51.100.1, 192.0.2.10"]) == "198.51.100.1"  # two proxies
    assert r.client("10.42.0.5", ["198.51.100.1:51000"]) == "198.51.100.1"
    assert r.client("10.42.0.5", ["[2001:db8::7]:443"]) == "2001:db8::7"
    # No header, or garbage where a proxy's entry should be: the peer.
    assert r.client("10.42.0.5", []) == "10.42.0.5"
    assert r.client("10.42.0.5", ["198.51.100.1, not-an-ip"]) == "10.42.0.5"
    # Only proxies in the chain: the left-most.
    assert r.client("10.42.0.5", ["10.42.3.3, 192.0.2.10"]) == "10.42.3.3"
    assert r.client("::ffff:10.42.0.5", ["198.51.100.1"]) == "198.51.100.1"


def test_a_setting_that_is_not_an_address_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="'ingress' is neither an IP address nor a CIDR"):
        make_settings("127.0.0.1:1", trusted_proxies="10.0.0.0/8, ingress")
    assert make_settings("127.0.0.1:1").trusted_networks == ()


@pytest.mark.asyncio
async def test_without_trusted_proxies_a_rotating_forwarded_for_is_still_the_peer(backends) -> None:
    async with running_gateway(backends, peer=("10.42.0.5", 40000)) as g:
        for fake in ("198.51.100.1", "198.51.100.2"):
            await g.sign_in(password="wrong", headers={"X-Forwarded-For": fake})
            assert g.world.last_client_address == "10.42.0.5"
    # Trusted proxies configured, but this peer is not one of them.
    async with running_gateway(backends, peer=("203.0.113.7", 40000), trusted_proxies=INGRESS) as g:
        await g.sign_in(password="wrong", headers={"X-Forwarded-For": "198.51.100.1"})
        assert g.world.last_client_address == "203.0.113.7"


@pytest.mark.asyncio
async def test_behind_a_trusted_proxy_each_client_is_its_own_address(backends) -> None:
    async with running_gateway(backends, peer=("10.42.0.5", 40000), trusted_proxies=INGRESS) as g:
        await g.sign_in(password="wrong", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"})
        assert g.world.last_client_address == "198.51.100.1"
        await g.sign_in(password="wrong", headers={"X-Forwarded-For": "198.51.100.2"})
        assert g.world.last_client_address == "198.51.100.2"
