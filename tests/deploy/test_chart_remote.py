"""The remote service in the chart (issue 14): two replicas by default, the agents' endpoint on its own port and
Service (behind agentIngress, or a LoadBalancer with TLS in the pod), the command-signing key and the agents' TLS
certificate mounted from Secrets, REMOTE_ASSETS_ADDRESS and one replica id per pod."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.chart import CHART, by_kind, objects_of, pod_spec


def remote(values: dict[str, Any] | None = None) -> tuple[dict, dict, dict[str, dict]]:
    objects = objects_of(values)
    (deployment,) = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "portal-remote"]
    (container,) = pod_spec(deployment)["containers"]
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    return deployment, container, services


def env_of(container: dict) -> dict[str, dict | str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def mounted_path(deployment: dict, container: dict, volume_name: str) -> tuple[str, dict]:
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume_name]
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == volume_name]
    assert mount["readOnly"] is True
    return mount["mountPath"], volume


def test_remote_runs_two_replicas_with_an_agents_port_and_its_settings_by_default() -> None:
    deployment, container, services = remote()
    assert deployment["spec"]["replicas"] == 2
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 50055, "metrics": 9090, "agents": 50065}
    env = env_of(container)
    # Listening on the pod's address, as the principal-checked gRPC server does.
    assert (env["REMOTE_AGENT_HOST"], env["REMOTE_AGENT_PORT"]) == ("0.0.0.0", "50065")
    assert env["REMOTE_ASSETS_ADDRESS"] == env["REMOTE_ASSETS_ADDR"] == "portal-assets:50054"
    # One id per pod; Kubernetes expands $(POD_NAME), defined before it.
    names = [e["name"] for e in container["env"]]
    assert env["REMOTE_REPLICA_ID"] == "$(POD_NAME)" and names.index("POD_NAME") < names.index("REMOTE_REPLICA_ID")
    # No TLS in the pod unless asked: agentIngress ends it.
    assert "REMOTE_AGENT_TLS_CERT_FILE" not in env and "REMOTE_AGENT_TLS_KEY_FILE" not in env

    # The command key: a file from a Secret, the same in every replica, never a plain value.
    path, volume = mounted_path(deployment, container, "file-remote-command-key-file")
    assert env["REMOTE_COMMAND_KEY_FILE"] == f"{path}/command-key.pem"
    assert volume["secret"]["secretName"] == "portal-remote-command-key"
    assert volume["secret"]["items"] == [{"key": "command-key.pem", "path": "command-key.pem"}]
    assert volume["secret"]["defaultMode"] == 0o440

    agents = services["portal-remote-agents"]["spec"]
    assert agents["type"] == "ClusterIP"
    assert agents["ports"] == [
        {"name": "agents", "port": 50065, "targetPort": "agents", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}
    ]
    assert agents["selector"] == services["portal-remote"]["spec"]["selector"]
    # Other services get none of it.
    for dep in by_kind(objects_of(), "Deployment"):
        if dep["metadata"]["name"] != "portal-remote":
            (other,) = pod_spec(dep)["containers"]
            assert "agents" not in {p["name"] for p in other["ports"]}
            assert not any(e["name"].endswith(("_AGENT_PORT", "_COMMAND_KEY_FILE")) for e in other["env"])


def test_agents_can_connect_straight_to_a_load_balancer_with_tls_in_the_pod() -> None:
    values = {
        "services": {
            "remote": {
                "replicas": 3,
                "agents": {
                    "tlsSecretName": "portal-agents-tls",
                    "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]},
                },
                "secretFiles": {"REMOTE_COMMAND_KEY_FILE": {"secretName": "my-command-key", "key": "key.pem"}},
            }
        }
    }
    deployment, container, services = remote(values)
    assert deployment["spec"]["replicas"] == 3
    env = env_of(container)
    path, volume = mounted_path(deployment, container, "agent-tls")
    assert (env["REMOTE_AGENT_TLS_CERT_FILE"], env["REMOTE_AGENT_TLS_KEY_FILE"]) == (
        f"{path}/tls.crt",
        f"{path}/tls.key",
    )
    assert volume["secret"]["secretName"] == "portal-agents-tls"
    path, volume = mounted_path(deployment, container, "file-remote-command-key-file")
    assert env["REMOTE_COMMAND_KEY_FILE"] == f"{path}/key.pem" and volume["secret"]["secretName"] == "my-command-key"

    agents = services["portal-remote-agents"]["spec"]
    assert agents["type"] == "LoadBalancer" and agents["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert agents["ports"][0]["appProtocol"] == "https"
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects_of(values), "NetworkPolicy")}
    direct = [r for r in policies["portal-remote"]["ingress"] if r["ports"] == [{"port": "agents", "protocol": "TCP"}]]
    assert direct == [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "agents", "protocol": "TCP"}]}]


def test_behind_the_agent_ingress_only_the_controller_reaches_the_agents_port() -> None:
    values = {"agentIngress": {"enabled": True, "tlsSecretName": "agents-tls"}}
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects_of(values), "NetworkPolicy")}
    to_agents = [r for r in policies["portal-remote"]["ingress"] if {"port": "agents", "protocol": "TCP"} in r["ports"]]
    (rule,) = to_agents
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
    # Not the principal-checked gRPC port: agents reach AgentService only.
    from_controller = [r for r in policies["portal-remote"]["ingress"] if r["from"] == rule["from"]]
    assert from_controller == [rule] and rule["ports"] == [{"port": "agents", "protocol": "TCP"}]


def test_without_agents_remote_has_no_agents_port_or_service() -> None:
    _, container, services = remote({"services": {"remote": {"agents": {"enabled": False}}}})
    assert "agents" not in {p["name"] for p in container["ports"]}
    assert "REMOTE_AGENT_PORT" not in env_of(container) and "portal-remote-agents" not in services


def test_remotes_dashboard_shows_agents_sessions_runs_and_refusals() -> None:
    board = json.loads((CHART / "dashboards" / "service-remote.json").read_text())
    exprs = {p["title"]: p["targets"][0]["expr"] for p in board["panels"] if p["type"] != "row"}
    # The names remote exports (services/remote/src/remote/metrics.py), summed over the replicas.
    assert exprs["Agents online"] == "sum(portal_remote_agents_online)"
    assert exprs["Remote sessions open"] == "sum(portal_remote_sessions_open)"
    assert exprs["Script runs by outcome"].startswith("sum by (outcome) (rate(portal_remote_script_runs_total[")
    assert exprs["Commands refused by reason"].startswith("sum by (reason) (rate(portal_remote_commands_refused_total[")
    assert "max by (consumer) (portal_remote_consumer_lag)" in exprs["Consumer lag"]
