"""The local runner and the Helm chart describe one platform: the same services, ports, calls between them,
principal keys, mail and blob storage. A difference fails here instead of showing up as a service that works
in `make run` and cannot reach its peer in a cluster (or the reverse)."""

from __future__ import annotations

import pytest
import yaml

from portal_local.keys import ensure_keys
from portal_local.stack import Stack
from portal_local.topology import ALLOCATOR_ENV, NODES, SERVICES, TOPOLOGY
from tests.deploy.chart import CHART, WORKLOAD_KINDS, by_kind, load_values, objects_of, pod_spec, value_files


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


def test_the_runner_gives_every_process_the_allocator_settings(tmp_path) -> None:
    """The glibc malloc settings that keep each process under issue 16's memory bound (ALLOCATOR_ENV says why)."""
    stack = Stack(var_dir=tmp_path, free_ports=True)
    stack.keys = ensure_keys(stack.var_dir)
    for node in TOPOLOGY:
        env = stack.env_for(node.name)
        assert {k: env.get(k) for k in ALLOCATOR_ENV} == ALLOCATOR_ENV, node.name


@pytest.mark.parametrize("values_file", value_files())
def test_the_chart_gives_every_container_the_same_allocator_settings(values_file) -> None:
    """Every Deployment of the chart, and every migration Job, runs with the runner's allocator settings."""
    workloads = [o for o in objects_of(load_values(values_file)) if o["kind"] in WORKLOAD_KINDS]
    assert {o["metadata"]["name"].removeprefix("portal-") for o in by_kind(workloads, "Deployment")} == set(NODES)
    for obj in workloads:
        for c in pod_spec(obj)["containers"]:
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert {k: env.get(k) for k in ALLOCATOR_ENV} == ALLOCATOR_ENV, (obj["metadata"]["name"], c["name"])
