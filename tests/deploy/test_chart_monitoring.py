"""Monitoring objects of the chart: ServiceMonitors select their Services, the PrometheusRule passes
`promtool check rules` and its alerts fire on the series they watch (`promtool test rules`), and the Grafana
dashboards are in sync with their generator, valid PromQL, and shipped as sidecar ConfigMaps."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.chart import CHART, NAMESPACE, REPO, by_kind, load_values, merge, objects_of

PRODUCTION = CHART / "ci" / "production-values.yaml"
DASHBOARDS = CHART / "dashboards"
GRPC_SERVICES = ["assets", "billing", "identity", "remote", "tickets"]


def promtool() -> str:
    """promtool from Debian's prometheus package, installed by scripts/ensure-prometheus.sh when missing."""
    found = shutil.which("promtool")
    if found:
        return found
    result = subprocess.run(
        ["sh", str(REPO / "scripts" / "ensure-prometheus.sh")], capture_output=True, text=True, timeout=600
    )
    found = shutil.which("promtool")
    if found:
        return found
    message = f"promtool is missing and could not be installed: {result.stderr.strip()[-500:]}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def prometheus_rule(values: dict) -> dict:
    (rule,) = by_kind(objects_of(values), "PrometheusRule")
    return rule


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_dashboards", CHART / "hack" / "gen_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_files() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


# --- ServiceMonitors -------------------------------------------------------------------------------------


def test_service_monitors_select_their_services_metrics_port():
    objects = objects_of(load_values(PRODUCTION))
    # remote's agents' Service has no metrics port and a component label of its own: no monitor selects it.
    services = [s for s in by_kind(objects, "Service") if not s["metadata"]["name"].endswith("-agents")]
    monitors = by_kind(objects, "ServiceMonitor")
    assert len(monitors) == len(services) == 6
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        selector = monitor["spec"]["selector"]["matchLabels"]
        (target,) = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in target["spec"]["ports"]}


def test_service_monitor_is_opt_in_per_service():
    monitors = by_kind(objects_of({"services": {"billing": {"serviceMonitor": {"enabled": True}}}}), "ServiceMonitor")
    assert [m["metadata"]["name"] for m in monitors] == ["portal-billing"]


# --- PrometheusRule ----------------------------------------------------------------------------------------


def test_alert_rules_cover_errors_latency_events_and_payments():
    rule = prometheus_rule(load_values(PRODUCTION))
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = {(r["alert"], r["labels"]["service"]) for g in rule["spec"]["groups"] for r in g["rules"]}
    for svc in GRPC_SERVICES:
        for alert in (
            "PortalGrpcHighErrorRate",
            "PortalGrpcHighLatency",
            "PortalOutboxBacklog",
            "PortalOutboxStale",
            "PortalConsumerLag",
            "PortalEventsDeadLettered",
        ):
            assert (alert, svc) in alerts
    assert ("PortalHttpHighErrorRate", "gateway") in alerts
    assert ("PortalHttpHighLatency", "gateway") in alerts
    assert ("PortalBackendDown", "gateway") in alerts
    assert ("PortalPaymentFailures", "billing") in alerts
    assert ("PortalPaymentsReconciled", "billing") in alerts
    assert ("PortalRemoteAgentsDropped", "remote") in alerts
    assert ("PortalRemoteCommandsRefused", "remote") in alerts
    assert not by_kind(objects_of(), "PrometheusRule"), "opt-in"


def test_alert_rules_pass_promtool(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(prometheus_rule(load_values(PRODUCTION))["spec"], sort_keys=False))
    result = run_promtool("check", "rules", str(rules), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_fire_on_the_series_they_watch(tmp_path):
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump(prometheus_rule(load_values(PRODUCTION))["spec"], sort_keys=False)
    )
    half = "50%"
    backend_down = "No gateway reaches a backend; the portal shows its sections as unavailable"
    cards = "check the card processor."
    reconciled_summary = "Billing's reconciler refunded a late charge or could not reach the processor"
    reconciled_description = " ".join(
        (
            "1 late charges refunded or processor lookups failed in the last hour;",
            "check billing's restarts and the processor.",
        )
    )
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'portal_billing_payments_total{outcome="failed"}', "values": "0+6x40"},
                    {"series": 'portal_billing_payments_total{outcome="succeeded"}', "values": "0+6x40"},
                    {"series": 'portal_billing_reconciled_total{action="refunded"}', "values": "0x30 1x10"},
                    {"series": 'portal_billing_reconciled_total{action="recorded"}', "values": "0+1x40"},
                    {"series": 'portal_billing_grpc_requests_total{method="Pay",code="INTERNAL"}', "values": "0+3x40"},
                    {"series": 'portal_billing_grpc_requests_total{method="Pay",code="OK"}', "values": "0+3x40"},
                    {"series": 'portal_tickets_grpc_requests_total{method="Get",code="NOT_FOUND"}', "values": "0+9x40"},
                    {"series": "portal_billing_outbox_backlog", "values": "500x40"},
                    {"series": 'portal_identity_consumer_lag{consumer="mail"}', "values": "5x40"},
                    # Two gateway replicas: billing unreachable from both, remote from one only.
                    {"series": 'portal_gateway_backend_up{backend="billing",pod="a"}', "values": "1x20 0x20"},
                    {"series": 'portal_gateway_backend_up{backend="billing",pod="b"}', "values": "1x20 0x20"},
                    {"series": 'portal_gateway_backend_up{backend="remote",pod="a"}', "values": "0x40"},
                    {"series": 'portal_gateway_backend_up{backend="remote",pod="b"}', "values": "1x40"},
                    {
                        "series": "portal_tickets_events_dead_lettered_total"
                        '{subject="portal.identity.user_created.v1"}',
                        "values": "0x30 1x10",
                    },
                    # Two remote replicas with 8 and 10 agents; the second loses all of its agents at 20m.
                    {"series": 'portal_remote_agents_online{pod="a"}', "values": "8x40"},
                    {"series": 'portal_remote_agents_online{pod="b"}', "values": "10x20 0x20"},
                    # Agents refusing commands is never normal: one refusal alerts, a quiet reason does not.
                    {"series": 'portal_remote_commands_refused_total{reason="expired"}', "values": "0x40"},
                    {"series": 'portal_remote_commands_refused_total{reason="busy"}', "values": "0+1x40"},
                    {"series": 'portal_remote_commands_refused_total{reason="bad_signature"}', "values": "0x30 0+5x10"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "40m",
                        "alertname": "PortalPaymentFailures",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "service": "billing"},
                                "exp_annotations": {
                                    "summary": "More than 0.2 of payments fail",
                                    "description": f"Failed payment ratio over 15m is {half}; {cards}",
                                },
                            }
                        ],
                    },
                    {
                        # Only billing's server errors count; tickets' NOT_FOUND answers are no failures.
                        "eval_time": "40m",
                        "alertname": "PortalGrpcHighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "service": "billing"},
                                "exp_annotations": {
                                    "summary": "billing fails more than 0.05 of its RPCs with a server error",
                                    "description": f"Server-error ratio over 5m is {half}.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "40m",
                        "alertname": "PortalOutboxBacklog",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "service": "billing"},
                                "exp_annotations": {
                                    "summary": "billing has more than 100 unpublished events in its outbox",
                                    "description": "500 events wait for the relay; is NATS reachable?",
                                },
                            }
                        ],
                    },
                    {"eval_time": "40m", "alertname": "PortalConsumerLag", "exp_alerts": []},
                    {"eval_time": "23m", "alertname": "PortalBackendDown", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "PortalBackendDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "service": "gateway", "backend": "billing"},
                                "exp_annotations": {
                                    "summary": backend_down,
                                    "description": "billing has failed the gateways' health checks for 5 minutes.",
                                },
                            }
                        ],
                    },
                    # One parked event is worth a look at once; none is silence.
                    {"eval_time": "20m", "alertname": "PortalEventsDeadLettered", "exp_alerts": []},
                    {
                        "eval_time": "35m",
                        "alertname": "PortalEventsDeadLettered",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "service": "tickets",
                                    "subject": "portal.identity.user_created.v1",
                                },
                                "exp_annotations": {
                                    "summary": "tickets parked an event that kept failing",
                                    "description": " ".join(
                                        (
                                            "1 events on portal.identity.user_created.v1 parked in PORTAL_DEADLETTER",
                                            "in the last hour; see docs/operations.md, Dead letters.",
                                        )
                                    ),
                                },
                            }
                        ],
                    },
                    {"eval_time": "20m", "alertname": "PortalRemoteAgentsDropped", "exp_alerts": []},
                    {
                        "eval_time": "30m",
                        "alertname": "PortalRemoteAgentsDropped",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "service": "remote"},
                                "exp_annotations": {
                                    "summary": "More than 0.5 of the device agents went offline within 15 minutes",
                                    "description": " ".join(
                                        (
                                            "8 agents are online; check remote's replicas, the agents' endpoint",
                                            "and its TLS certificate (docs/operations.md, Remote access).",
                                        )
                                    ),
                                },
                            }
                        ],
                    },
                    # Fifteen minutes later the drop is the new normal: no alert any more.
                    {"eval_time": "40m", "alertname": "PortalRemoteAgentsDropped", "exp_alerts": []},
                    {"eval_time": "30m", "alertname": "PortalRemoteCommandsRefused", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "PortalRemoteCommandsRefused",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "service": "remote", "reason": "bad_signature"},
                                "exp_annotations": {
                                    "summary": "Device agents refuse the broker's commands",
                                    "description": " ".join(
                                        (
                                            "45 commands refused (bad_signature) in 15 minutes;",
                                            "see docs/operations.md, Remote access.",
                                        )
                                    ),
                                },
                            }
                        ],
                    },
                    # Recorded lost answers are the reconciler doing its job; a refunded late charge is worth a look.
                    {"eval_time": "20m", "alertname": "PortalPaymentsReconciled", "exp_alerts": []},
                    {
                        "eval_time": "35m",
                        "alertname": "PortalPaymentsReconciled",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "service": "billing"},
                                "exp_annotations": {
                                    "summary": reconciled_summary,
                                    "description": reconciled_description,
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run_promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Dashboards --------------------------------------------------------------------------------------------


def test_dashboards_match_their_generator():
    generator = load_generator()
    expected = {name: generator.render(board) for name, board in generator.boards().items()}
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert committed == expected, "run: uv run python deploy/helm/portal/hack/gen_dashboards.py"


def test_there_is_an_overview_one_dashboard_per_service_and_billing_scaling():
    names = set(dashboard_files())
    assert {"overview.json", "billing-scaling.json"} <= names
    assert {f"service-{s}.json" for s in [*GRPC_SERVICES, "gateway"]} <= names


def test_dashboards_are_well_formed():
    uids = set()
    for name, board in dashboard_files().items():
        assert board["uid"] not in uids, name
        uids.add(board["uid"])
        assert board["title"].startswith("Portal / ")
        assert panels(board), name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in panels(board):
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                metrics = set(re.findall(r"\b((?:portal|kube|container)_[a-z0-9_]+)", target["expr"]))
                assert metrics, (name, panel["title"])
                if any(not m.startswith("portal_") for m in metrics):
                    assert panel["description"].startswith("Kubernetes only"), (name, panel["title"])


def test_every_panel_expression_is_valid_promql(tmp_path):
    rules = []
    for board in dashboard_files().values():
        for panel in panels(board):
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "5m")
                rules.append({"record": f"dashboard:check:{len(rules)}", "expr": expr})
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
    result = run_promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_render_as_sidecar_configmaps_when_enabled():
    assert not [c for c in by_kind(objects_of(), "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]
    maps = by_kind(objects_of(load_values(PRODUCTION)), "ConfigMap")
    files = dashboard_files()
    assert len(maps) == len(files)
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["namespace"] == "monitoring"
        ((file, text),) = cm["data"].items()
        assert json.loads(text) == files[file]


def test_a_disabled_service_has_no_dashboard():
    values = merge(
        load_values(PRODUCTION),
        {
            "services": {
                "remote": {"enabled": False},
                "gateway": {"calls": ["identity", "tickets", "billing", "assets"]},
                "identity": {"calls": ["tickets", "billing", "assets"]},
            },
            "agentIngress": {"enabled": False},
        },
    )
    files = {f for cm in by_kind(objects_of(values), "ConfigMap") for f in cm["data"]}
    assert "service-remote.json" not in files and "service-billing.json" in files
