"""The chart lints and renders with the real Helm engine for the default values and every ci/ values file,
and every rendered object is valid Kubernetes (kubernetes-validate, strict) for a current version."""

from __future__ import annotations

from collections import Counter

import helm_python as helm
import kubernetes_validate
import pytest

from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    CRD_KINDS,
    KUBE_VERSION,
    NAMESPACE,
    by_kind,
    key,
    load_values,
    objects_of,
    render,
    value_files,
)

SERVICES = ["assets", "billing", "gateway", "identity", "remote", "tickets"]
WITH_DATABASE = ["assets", "billing", "identity", "remote", "tickets"]


def test_there_are_example_values_files_including_billing_autoscaling():
    names = {p.name for p in CI_VALUES}
    assert "billing-autoscaling-values.yaml" in names
    assert len(names) >= 3


@pytest.mark.parametrize("values_file", value_files())
def test_helm_lint_is_clean(values_file):
    report = helm.lint(
        CHART, load_values(values_file), strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("values_file", value_files())
def test_every_object_is_valid_kubernetes(values_file):
    objects = objects_of(load_values(values_file))
    assert objects
    skipped = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            # Prometheus Operator custom resources: kubernetes-validate has no schema for them. They are
            # the only kinds skipped, and test_chart_monitoring checks them instead.
            assert obj["apiVersion"] == "monitoring.coreos.com/v1", obj["apiVersion"]
            skipped.append(obj["kind"])
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid at {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"no schema for {obj['kind']} {obj['apiVersion']}: {exc.message}")
    assert set(skipped) <= CRD_KINDS


def test_oldest_supported_kubernetes_accepts_the_full_release():
    """Chart.yaml says kubeVersion >=1.29: the production example is valid there too."""
    for obj in objects_of(load_values(CHART / "ci" / "production-values.yaml")):
        if obj["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(obj, "1.29.0", strict=True)


@pytest.mark.parametrize("values_file", value_files())
def test_names_are_unique_and_every_object_is_labelled(values_file):
    objects = objects_of(load_values(values_file))
    duplicates = [k for k, n in Counter(key(o) for o in objects).items() if n > 1]
    assert duplicates == []
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == "portal", key(obj)
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", key(obj)
        assert len(obj["metadata"]["name"]) <= 63, key(obj)


def test_default_values_render_each_service_with_its_objects():
    objects = objects_of()
    for kind in ("Deployment", "Service", "ServiceAccount"):
        names = sorted(o["metadata"]["name"] for o in by_kind(objects, kind))
        # remote also has the agents' endpoint's own Service.
        expected = sorted(SERVICES + ["remote-agents"]) if kind == "Service" else SERVICES
        assert names == [f"portal-{s}" for s in expected], kind
    jobs = sorted(o["metadata"]["name"] for o in by_kind(objects, "Job"))
    assert jobs == [f"portal-{s}-migrate" for s in WITH_DATABASE]
    # Opt-in objects are off by default.
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"):
        assert by_kind(objects, kind) == [], kind
    assert not [o for o in by_kind(objects, "ConfigMap") if "grafana_dashboard" in o["metadata"]["labels"]]
    # Secrets are never created by the chart.
    assert by_kind(objects, "Secret") == []


def test_per_service_objects_come_from_one_loop_template():
    per_service = {"Deployment", "Service", "ServiceAccount", "Job", "HorizontalPodAutoscaler",
                   "PodDisruptionBudget", "ServiceMonitor"}  # fmt: skip
    sources = {
        entry["source"]
        for entry in render(load_values(CHART / "ci" / "production-values.yaml"))
        if entry["object"]["kind"] in per_service
    }
    assert sources == {"portal/templates/services.yaml"}
    template_names = {p.stem for p in (CHART / "templates").iterdir()}
    assert not template_names & set(SERVICES), "no per-service template files"


def test_a_new_service_is_data_only():
    """Adding a service is a values entry: it gets the same objects as the others."""
    values = {
        "services": {
            "reports": {
                "enabled": True, "kind": "grpc", "module": "reports", "envPrefix": "REPORTS", "port": 50056,
                "replicas": 1, "database": {"enabled": True, "secretName": "portal-reports-db"},
            }
        }
    }  # fmt: skip
    names = {key(o) for o in objects_of(values)}
    for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy"):
        assert (kind, "portal-reports") in names
    assert ("Job", "portal-reports-migrate") in names


def test_release_name_prefixes_objects():
    objects = [e["object"] for e in render(release="acme")]
    assert {o["metadata"]["name"] for o in by_kind(objects, "Deployment")} == {f"acme-portal-{s}" for s in SERVICES}
    gateway = next(o for o in by_kind(objects, "Deployment") if o["metadata"]["name"] == "acme-portal-gateway")
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GATEWAY_BILLING_ADDR"] == "acme-portal-billing:50053"
