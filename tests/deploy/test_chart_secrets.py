"""No secret value ever reaches a rendered manifest: secrets come only from existing Secrets, by reference
(secretKeyRef or a Secret volume), and every place where someone might paste one is refused."""

from __future__ import annotations

import re
import uuid

import helm_python as helm
import pytest

from tests.deploy.chart import (
    CHART,
    WORKLOAD_KINDS,
    load_values,
    merge,
    objects_of,
    pod_spec,
    render_files,
    value_files,
)

MARKER = f"planted-secret-{uuid.uuid4().hex}"
SECRET_LOOKING = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|API_KEY|PRIVATE_KEY|DATABASE_URL|DSN)")

# Places someone might put a secret. Each must be refused (values schema) or, failing that, never rendered.
TEMPTING = {
    "gateway session secret in env": {"services": {"gateway": {"env": {"GATEWAY_SESSION_SECRET": MARKER}}}},
    "password in every service's env": {"serviceDefaults": {"env": {"SMTP_PASSWORD": MARKER}}},
    "database URL in env": {"services": {"billing": {"env": {"BILLING_DATABASE_URL": MARKER}}}},
    "inline session secret": {"sessionSecret": {"value": MARKER}},
    "database url beside its reference": {"services": {"billing": {"database": {"url": MARKER}}}},
    "database password": {"services": {"billing": {"database": {"password": MARKER}}}},
    "postgresql password": {"postgresql": {"auth": {"password": MARKER}}},
    "credentials in the NATS URL": {"nats": {"url": f"nats://portal:{MARKER}@nats.nats:4222"}},
    "token in the NATS URL": {"nats": {"url": f"nats://{MARKER}@nats.nats:4222"}},
    "signing key PEM": {"principalKeys": {"signingKey": {"pem": MARKER}}},
    "public key PEM": {"principalKeys": {"publicKey": {"data": MARKER}}},
    "SMTP password": {"smtp": {"password": MARKER}},
    "literal in secretEnv": {"services": {"billing": {"secretEnv": {"BILLING_STRIPE_API_KEY": MARKER}}}},
    "value in secretEnv": {
        "services": {
            "billing": {"secretEnv": {"BILLING_STRIPE_API_KEY": {"secretName": "s", "key": "k", "value": MARKER}}}
        }
    },
    "credentials in the OTLP endpoint": {"telemetry": {"otlpEndpoint": f"https://u:{MARKER}@otel:4318"}},
    "credentials in the portal URL": {"portalUrl": f"https://u:{MARKER}@portal.example.com"},
    "a service-level secret key": {"services": {"identity": {"signingKey": MARKER}}},
    "top-level secrets map": {"secrets": {"GATEWAY_SESSION_SECRET": MARKER}},
}


@pytest.mark.parametrize("where", sorted(TEMPTING))
def test_a_secret_pasted_into_values_is_refused_and_never_rendered(where):
    for base in (None, CHART / "ci" / "production-values.yaml"):
        values = merge(load_values(base), TEMPTING[where])
        try:
            rendered = render_files(values)
        except helm.HelmValuesError:
            continue  # refused by values.schema.json
        text = "\n".join(rendered.values())
        assert MARKER not in text, f"{where}: the planted secret reached the manifests"
        pytest.fail(f"{where}: accepted by the values schema (it was not rendered, but should be refused)")


def test_planted_reference_names_render_but_only_as_references():
    """The right way in: Secret names and keys appear, as references, and no Secret object is made."""
    name, key_ = f"sec-{uuid.uuid4().hex[:12]}", f"key-{uuid.uuid4().hex[:8]}"
    values = {
        "services": {"billing": {"secretEnv": {"BILLING_STRIPE_API_KEY": {"secretName": name, "key": key_}}}},
        "nats": {"existingSecret": {"name": name, "key": key_}},
    }
    objects = objects_of(values)
    assert not [o for o in objects if o["kind"] == "Secret"]
    billing = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "portal-billing")
    env = {e["name"]: e for e in pod_spec(billing)["containers"][0]["env"]}
    assert env["BILLING_STRIPE_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": key_}
    assert env["BILLING_NATS_URL"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": key_}


@pytest.mark.parametrize("values_file", value_files())
def test_secrets_arrive_only_by_reference(values_file):
    objects = objects_of(load_values(values_file))
    assert not [o for o in objects if o["kind"] == "Secret"], "the chart never creates Secrets"
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            assert obj["metadata"]["labels"].get("grafana_dashboard") == "1", "only dashboards go in ConfigMaps"
    for obj in (o for o in objects if o["kind"] in WORKLOAD_KINDS):
        spec = pod_spec(obj)
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            for var in container.get("env", []):
                if SECRET_LOOKING.search(var["name"]) and not var["name"].endswith("_FILE"):
                    assert "value" not in var, f"{obj['metadata']['name']}: {var['name']} is inline"
                    assert var["valueFrom"]["secretKeyRef"]["name"], var
                if "value" in var:
                    assert "://" not in var["value"] or "@" not in var["value"], f"credentials in {var['name']}"
            env = {e["name"]: e for e in container.get("env", [])}
            for var, volume in (
                ("IDENTITY_SIGNING_KEY_FILE", "signing-key"),
                ("IDENTITY_SECRETS_KEY_FILE", "secrets-key"),
                ("IDENTITY_VAPID_PRIVATE_KEY_FILE", "file-identity-vapid-private-key-file"),
                *[(f"{p}_PRINCIPAL_PUBLIC_KEY_FILE", "principal-public-key") for p in ("TICKETS", "BILLING")],
            ):
                if var in env:
                    source = volumes[volume]
                    assert "secret" in source or ("configMap" in source and volume == "principal-public-key")
                    mount = next(m for m in container["volumeMounts"] if m["name"] == volume)
                    assert env[var]["value"].startswith(mount["mountPath"] + "/")
                    assert mount["readOnly"] is True


def test_signing_key_is_only_mounted_into_identity():
    for obj in objects_of():
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        secrets = {v["secret"]["secretName"] for v in pod_spec(obj)["volumes"] if "secret" in v}
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if secrets & {"portal-identity-signing-key", "portal-identity-secrets-key", "portal-identity-vapid-key"}:
            assert component in {"identity", "identity-migrate"}


def test_identity_gets_the_vapid_key_from_its_secret():
    identity = next(
        o
        for o in objects_of()
        if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "identity"
    )
    spec = pod_spec(identity)
    env = {e["name"]: e for e in spec["containers"][0].get("env", [])}
    volume = next(v for v in spec["volumes"] if v["name"] == "file-identity-vapid-private-key-file")
    assert volume["secret"]["secretName"] == "portal-identity-vapid-key"
    assert env["IDENTITY_VAPID_PRIVATE_KEY_FILE"]["value"].endswith("/vapid.pem")
