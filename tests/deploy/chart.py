"""Helpers of the chart tests: render deploy/helm/portal with the real Helm engine (helm-python-sdk binds
Helm's Go SDK: no helm binary, no cluster) and parse what it produced."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate.utils
import pytest
import yaml

# kubernetes-validate reads and parses its (large) schema files again for every object; they never change
# within a run, so read each once.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "portal"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "portal"
NAMESPACE = "portal"

# The Kubernetes version the manifests are validated against (kubernetes-validate ships its schemas).
KUBE_VERSION = "1.35.0"

# Custom resources of the Prometheus Operator: no schema in kubernetes-validate, so they alone are
# checked otherwise (structure here, rules with promtool).
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "Job"}


def value_files() -> list[pytest.param]:
    """The default values plus every example values file in the chart's ci/ folder."""
    return [pytest.param(None, id="default")] + [pytest.param(p, id=p.stem) for p in CI_VALUES]


def load_values(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    return yaml.safe_load(path.read_text()) or {}


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render_files(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` produces it (is_install: hooks included)."""
    return _chart().render(values or {}, name=release, namespace=NAMESPACE, is_install=True)


def render(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> list[dict[str, Any]]:
    """Every rendered Kubernetes object, each tagged with the template it came from."""
    return copy.deepcopy(_render_cached(json.dumps(values or {}, sort_keys=True), release))


@functools.lru_cache(maxsize=64)
def _render_cached(values_json: str, release: str) -> list[dict[str, Any]]:
    objects = []
    for path, text in sorted(render_files(json.loads(values_json), release=release).items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.load_all(text, Loader=_Loader):
            if doc:
                objects.append({"source": path, "object": doc})
    return objects


def objects_of(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [entry["object"] for entry in render(values)]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two values documents the way Helm layers -f files (maps merge, the rest replaces)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
