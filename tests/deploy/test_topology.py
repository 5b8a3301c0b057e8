"""The local runner and the Helm chart describe one platform: the same services, ports, calls between them,
principal keys, mail and blob storage. A difference fails here instead of showing up as a service that works
in `make run` and cannot reach its peer in a cluster (or the reverse)."""

from __future__ import annotations

import pytest
import yaml

from portal_local.keys import ensure_keys
from portal_local.stack import Stack
from portal_local.topology import NODES, SERVICES, TOPOLOGY
from tests.deploy.chart import CHART


@pytest.fixture(scope="module")
def chart_services() -> dict[str, dict]:
    """Each service of values.yaml with the chart's serviceDefaults under it, as the templates merge them."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    defaults = values["serviceDefaults"]
    return {name: {**defaults, **svc} for name, svc in values["services"].items()}


def test_the_same_services(chart_services: dict[str, dict]) -> None:
    assert set(NODES) == set(chart_services)
    assert set(SERVICES) == {name for name, svc in chart_services.items() if svc["kind"] == "grpc"}


@pytest.mark.parametrize("node", TOPOLOGY, ids=lambda n: n.name)
def test_each_service_is_described_alike(node, chart_services: dict[str, dict]) -> None:
    svc = chart_services[node.name]
    assert (svc["module"], svc["envPrefix"], svc["kind"], svc["port"]) == (
        node.name,
        node.env_prefix,
        node.kind,
        node.port,
    )
    assert tuple(svc["calls"]) == node.calls
    assert svc["principalKey"] == node.principal_key
    assert svc["mail"] == node.mail
    assert svc["blobs"]["enabled"] == node.blobs


def test_the_runner_gives_each_process_its_peers_from_the_table(tmp_path) -> None:
    stack = Stack(var_dir=tmp_path, free_ports=True)
    stack.keys = ensure_keys(stack.var_dir)
    for node in TOPOLOGY:
        env = stack.env_for(node.name)
        peers = {k for k in env if k.endswith("_ADDR")}
        assert peers == {f"{node.env_prefix}_{p.upper()}_ADDR" for p in node.calls}
        for p in node.calls:
            assert env[f"{node.env_prefix}_{p.upper()}_ADDR"] == stack.grpc_addr(p)
