"""values.schema.json accepts the chart's values files and rejects bad ones, through `helm lint` and
rendering alike."""

from __future__ import annotations

import helm_python as helm
import pytest
import yaml

from tests.deploy.chart import CHART, NAMESPACE, load_values, merge, render_files, value_files

BAD_VALUES = {
    "replicas as a word": "services:\n  billing:\n    replicas: two\n",
    "negative replicas": "services:\n  billing:\n    replicas: -1\n",
    "unknown service kind": "services:\n  billing:\n    kind: tcp\n",
    "port out of range": "services:\n  tickets:\n    port: 70000\n",
    "root user": "securityContext:\n  runAsUser: 0\n",
    "typo at the top": "servics:\n  billing:\n    replicas: 3\n",
    "typo in a service": "services:\n  billing:\n    replica: 3\n",
    "autoscaling bound as text": "services:\n  billing:\n    autoscaling:\n      maxReplicas: lots\n",
    "cpu target above 100%": "services:\n  billing:\n    autoscaling:\n      targetCPUUtilizationPercentage: 150\n",
    "service missing its module": "services:\n  reports:\n    enabled: true\n    kind: grpc\n",
    "lowercase env name": "services:\n  billing:\n    env:\n      billing_flag: 'on'\n",
    "database without its secret": "services:\n  billing:\n    database:\n      secretName: ''\n",
    "bad image digest": "image:\n  digest: latest\n",
    "no public key source": "principalKeys:\n  publicKey:\n    secretName: ''\n    configMapName: ''\n",
}


@pytest.mark.parametrize("values_file", value_files())
def test_example_values_pass_the_schema(values_file):
    chart = helm.Chart.load(CHART)
    chart.validate_schema(chart.merge_values(load_values(values_file)))


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_a_bad_values_file(case, tmp_path):
    path = tmp_path / "bad-values.yaml"
    path.write_text(BAD_VALUES[case])
    values = yaml.safe_load(path.read_text())
    with pytest.raises(helm.HelmValuesError):
        render_files(values)
    report = helm.lint(CHART, values, namespace=NAMESPACE)
    assert report["errors"], f"helm lint accepted {case}"


def test_template_checks_what_the_schema_cannot():
    with pytest.raises(helm.HelmRenderError, match="maxReplicas is below minReplicas"):
        render_files({"services": {"billing": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}})
    with pytest.raises(helm.HelmRenderError, match="not an enabled service"):
        render_files({"services": {"remote": {"enabled": False}}})
    # With remote off, the gateway and identity no longer call it, and the release renders without remote.
    values = merge({"services": {"remote": {"enabled": False}}}, {})
    values["services"]["gateway"] = {"calls": ["identity", "tickets", "billing", "assets"]}
    values["services"]["identity"] = {"calls": ["tickets", "billing", "assets"]}
    assert not [p for p, text in render_files(values).items() if "portal-remote" in text and "NOTES" not in p]
