"""Billing scales on its own: changing its replicas or its autoscaler's bounds changes billing's objects and
nothing else (two renders, compared object by object)."""

from __future__ import annotations

from tests.deploy.chart import CHART, canonical, key, load_values, merge, objects_of

BILLING_COMPONENTS = {"billing", "billing-migrate"}


def diff(before_values: dict, after_values: dict) -> dict[tuple[str, str], dict | None]:
    """Objects added, removed or changed between two renders: key -> the object (after, else before)."""
    before = {key(o): o for o in objects_of(before_values)}
    after = {key(o): o for o in objects_of(after_values)}
    changed = {}
    for k in before.keys() | after.keys():
        old, new = before.get(k), after.get(k)
        if old is None or new is None or canonical(old) != canonical(new):
            changed[k] = new or old
    return changed


def owners(changed: dict) -> set[str]:
    return {o["metadata"]["labels"].get("app.kubernetes.io/component", "<release-wide>") for o in changed.values()}


def test_billing_replicas_change_only_billing():
    changed = diff({}, {"services": {"billing": {"replicas": 7}}})
    assert set(changed) == {("Deployment", "portal-billing")}
    assert changed["Deployment", "portal-billing"]["spec"]["replicas"] == 7
    assert owners(changed) <= BILLING_COMPONENTS


def test_switching_on_billing_autoscaling_changes_only_billing():
    example = load_values(CHART / "ci" / "billing-autoscaling-values.yaml")
    changed = diff({}, example)
    assert ("HorizontalPodAutoscaler", "portal-billing") in changed
    assert ("Deployment", "portal-billing") in changed  # its replicas now belong to the HPA
    assert owners(changed) <= BILLING_COMPONENTS, sorted(changed)


def test_autoscaler_bounds_change_only_billings_hpa():
    example = load_values(CHART / "ci" / "billing-autoscaling-values.yaml")
    wider = merge(example, {"services": {"billing": {"autoscaling": {"minReplicas": 5, "maxReplicas": 40}}}})
    changed = diff(example, wider)
    assert set(changed) == {("HorizontalPodAutoscaler", "portal-billing")}
    spec = changed["HorizontalPodAutoscaler", "portal-billing"]["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (5, 40)


def test_billing_scaling_in_a_full_release_changes_only_billing():
    """The same holds with every optional object on (monitors, rules, dashboards, budgets)."""
    production = load_values(CHART / "ci" / "production-values.yaml")
    scaled = merge(production, {"services": {"billing": {"autoscaling": {"maxReplicas": 50}, "replicas": 9}}})
    changed = diff(production, scaled)
    assert set(changed) == {("HorizontalPodAutoscaler", "portal-billing")}
    resources = merge(production, {"services": {"billing": {"resources": {"requests": {"cpu": "1"}}}}})
    assert owners(diff(production, resources)) <= BILLING_COMPONENTS
