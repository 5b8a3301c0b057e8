"""Every workload container is locked down, probed and sized; env is a map that merges; autoscaling,
disruption budgets, ingress and network policies render as declared."""

from __future__ import annotations

import pytest

from tests.deploy.chart import CHART as CHART_DIR
from tests.deploy.chart import (
    WORKLOAD_KINDS,
    by_kind,
    load_values,
    objects_of,
    pod_spec,
    value_files,
)

# The only writable path in the containers: an emptyDir per pod. Files go to the S3 bucket (test_chart_blobs.py).
TMP = "/tmp"  # noqa: S108


def workloads(values):
    return [o for o in objects_of(values) if o["kind"] in WORKLOAD_KINDS]


def env_of(container) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("values_file", value_files())
def test_every_workload_runs_locked_down(values_file):
    found = workloads(load_values(values_file))
    assert found
    for obj in found:
        spec = pod_spec(obj)
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] > 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp, where
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["privileged"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"name": "tmp", "mountPath": TMP} in container["volumeMounts"], where
            for mount in container["volumeMounts"]:
                writable = (mount["name"], mount["mountPath"]) == ("tmp", TMP)
                assert writable or mount.get("readOnly") is True, (where, mount)


@pytest.mark.parametrize("values_file", value_files())
def test_every_workload_has_resources(values_file):
    for obj in workloads(load_values(values_file)):
        for container in pod_spec(obj)["containers"]:
            res = container["resources"]
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            assert res["requests"]["cpu"] and res["requests"]["memory"], where
            assert res["limits"]["memory"], where


@pytest.mark.parametrize("values_file", value_files())
def test_every_deployment_has_native_probes(values_file):
    deployments = by_kind(objects_of(load_values(values_file)), "Deployment")
    assert deployments
    for dep in deployments:
        (container,) = pod_spec(dep)["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert "metrics" in ports
        if "grpc" in ports:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["grpc"]["port"] == ports["grpc"], (dep["metadata"]["name"], probe)
        else:
            assert dep["metadata"]["name"].endswith("gateway")
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_commands_pick_the_service_from_one_image():
    objects = objects_of()
    images = {c["image"] for o in objects if o["kind"] in WORKLOAD_KINDS for c in pod_spec(o)["containers"]}
    assert images == {"registry.example.com/portal/portal:0.1.0"}
    for dep in by_kind(objects, "Deployment"):
        name = dep["metadata"]["name"].removeprefix("portal-")
        assert pod_spec(dep)["containers"][0]["command"] == ["python", "-m", name]
    for job in by_kind(objects, "Job"):
        name = job["metadata"]["name"].removeprefix("portal-").removesuffix("-migrate")
        assert pod_spec(job)["containers"][0]["command"] == ["python", "-m", name, "migrate"]
        hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
        assert set(hooks) == {"pre-install", "pre-upgrade"}
        assert env_of(pod_spec(job)["containers"][0])[f"{name.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]


def test_image_digest_pins_the_image():
    objects = objects_of(load_values(CHART_DIR / "ci" / "production-values.yaml"))
    images = {c["image"] for o in objects if o["kind"] in WORKLOAD_KINDS for c in pod_spec(o)["containers"]}
    assert len(images) == 1 and "@sha256:" in images.pop()


def test_contract_env_of_services_and_gateway():
    objects = objects_of()
    deps = {d["metadata"]["name"].removeprefix("portal-"): d for d in by_kind(objects, "Deployment")}
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    for name, dep in deps.items():
        env = env_of(pod_spec(dep)["containers"][0])
        p = name.upper()
        assert env[f"{p}_ENV"]["value"] == "prod"
        assert env[f"{p}_METRICS_PORT"]["value"] == "9090"
        assert env[f"{p}_METRICS_HOST"]["value"] == "0.0.0.0"  # scraped on the pod IP; loopback in `make run`
        assert env[f"{p}_NATS_URL"]["value"].startswith("nats://")
        assert env["OTEL_SERVICE_NAME"]["value"] == name
        if name == "gateway":
            assert env["GATEWAY_HTTP_PORT"]["value"] == "8000"
            assert env["GATEWAY_SESSION_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "portal-gateway-session"
            for backend in ("identity", "tickets", "billing", "assets", "remote"):
                host, port = env[f"GATEWAY_{backend.upper()}_ADDR"]["value"].split(":")
                svc = services[host]
                assert int(port) in {p["port"] for p in svc["spec"]["ports"]}
        else:
            assert env[f"{p}_GRPC_HOST"]["value"] == "0.0.0.0"
            assert env[f"{p}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"portal-{name}-db"
        if name == "assets":
            # The master keys of masked credentials; required when env=prod.
            ref = env["ASSETS_CREDENTIAL_KEYS"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "portal-assets-credential-keys"
        if name == "identity":
            assert env["IDENTITY_SIGNING_KEY_FILE"]["value"] == "/etc/portal/signing/signing-key.pem"
            # Encrypts TOTP secrets and emailed links at rest; required when env=prod.
            assert env["IDENTITY_SECRETS_KEY_FILE"]["value"] == "/etc/portal/secrets/secrets.key"
            for var in ("IDENTITY_SMTP_HOST", "IDENTITY_SMTP_PORT", "IDENTITY_MAIL_FROM", "IDENTITY_PORTAL_URL"):
                assert env[var]["value"], var
            assert "IDENTITY_PRINCIPAL_PUBLIC_KEY_FILE" not in env
            for peer in ("tickets", "billing", "assets", "remote"):
                host, port = env[f"IDENTITY_{peer.upper()}_ADDR"]["value"].split(":")
                assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
        elif name != "gateway":
            assert env[f"{p}_PRINCIPAL_PUBLIC_KEY_FILE"]["value"] == "/etc/portal/principal/public-key.pem"


def test_env_is_a_map_so_overrides_merge():
    values = {
        "serviceDefaults": {"env": {"COMMON_FLAG": "on"}},
        "services": {"billing": {"env": {"BILLING_LOG_LEVEL": "DEBUG", "BILLING_ENV": "staging", "COMMON_FLAG": ""}}},
    }
    deps = {d["metadata"]["name"]: d for d in by_kind(objects_of(values), "Deployment")}
    billing = pod_spec(deps["portal-billing"])["containers"][0]["env"]
    names = [e["name"] for e in billing]
    assert len(names) == len(set(names)), "no duplicate variables"
    env = env_of({"env": billing})
    assert env["BILLING_LOG_LEVEL"]["value"] == "DEBUG"
    assert env["BILLING_ENV"]["value"] == "staging"  # a service's env wins over the computed setting
    assert env["COMMON_FLAG"]["value"] == ""  # and over serviceDefaults.env, even with an empty value
    assert env["BILLING_GRPC_PORT"]["value"] == "50053"  # the rest of the computed env stays
    tickets = env_of(pod_spec(deps["portal-tickets"])["containers"][0])
    assert tickets["COMMON_FLAG"]["value"] == "on"
    assert "BILLING_LOG_LEVEL" not in tickets


def test_billing_autoscaling_example_renders_an_hpa_and_leaves_replicas_to_it():
    objects = objects_of(load_values(CHART_DIR / "ci" / "billing-autoscaling-values.yaml"))
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == "portal-billing"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "portal-billing"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    deps = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    assert "replicas" not in deps["portal-billing"]["spec"]
    assert deps["portal-tickets"]["spec"]["replicas"] == 2
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "billing"


def test_network_policies_deny_all_then_allow_the_declared_paths():
    values = {"agentIngress": {"enabled": True}, "telemetry": {"otlpEndpoint": "http://otel:4318"}}
    objects = objects_of(values)
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    deny = policies.pop("portal-deny-all")
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    # Every pod of the release (services and migration Jobs) is under the deny-all and one allow policy.
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in deny["podSelector"]["matchLabels"].items())
        component = labels["app.kubernetes.io/component"]
        matching = [n for n, p in policies.items() if component in p["podSelector"]["matchExpressions"][0]["values"]]
        assert len(matching) == 1, component
    gateway = policies["portal-gateway"]
    for backend in ("identity", "tickets", "billing", "assets", "remote"):
        spec = policies[f"portal-{backend}"]
        callers = [r for r in spec["ingress"] if r["from"][0].get("podSelector")]
        # The gateway calls every backend; tickets also asks assets about sites and assets (T8), and remote whether
        # the caller may see an asset (issue 14); identity asks the others whether they hold data for a customer it
        # would delete (C5).
        expected = {"identity": ["gateway"], "assets": ["gateway", "identity", "remote", "tickets"]}.get(
            backend, ["gateway", "identity"]
        )
        assert callers and callers[0]["from"][0]["podSelector"]["matchExpressions"][0]["values"] == expected
        egress_to = [r for r in gateway["egress"] if r.get("to") and "podSelector" in r["to"][0]]
        assert any(
            r["to"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == backend for r in egress_to
        )
        ports = [r["ports"][0]["port"] for r in spec["egress"]]
        assert 5432 in ports and 4222 in ports and 53 in ports and 4318 in ports, backend
        assert {"port": "metrics", "protocol": "TCP"} in spec["ingress"][0]["ports"]
    # Agents reach remote (only remote) through the ingress controller; browsers reach the gateway.
    from_controller = [n for n, p in policies.items() for r in p["ingress"] if "namespaceSelector" in r["from"][0]
                       and r["from"][0]["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name")
                       == "ingress-nginx"]  # fmt: skip
    assert sorted(from_controller) == ["portal-gateway", "portal-remote"]
    assert 5432 not in [r["ports"][0]["port"] for r in gateway["egress"]], "the gateway has no database"


def test_ingresses_route_to_gateway_and_agents_to_remote():
    values = {"agentIngress": {"enabled": True, "tlsSecretName": "agents-tls"}}
    ingresses = {i["metadata"]["name"]: i for i in by_kind(objects_of(values), "Ingress")}
    web = ingresses["portal-gateway"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert web == {"name": "portal-gateway", "port": {"name": "http"}}
    agents = ingresses["portal-remote-agents"]
    assert agents["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    # To the agents' endpoint (a gRPC server serving only AgentService), not remote's principal-checked API.
    assert agents["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {
        "name": "portal-remote-agents",
        "port": {"name": "agents"},
    }
    assert agents["spec"]["tls"][0]["secretName"] == "agents-tls"
    # The staff console prints the address agents enrol with.
    (gateway,) = [d for d in by_kind(objects_of(values), "Deployment") if d["metadata"]["name"] == "portal-gateway"]
    env = {e["name"]: e.get("value") for e in pod_spec(gateway)["containers"][0]["env"]}
    assert env["GATEWAY_AGENT_PUBLIC_ADDRESS"] == "agents.portal.example.com:443"


def test_grpc_services_are_headless_so_clients_see_every_replica():
    services = {s["metadata"]["name"]: s["spec"] for s in by_kind(objects_of(), "Service")}
    # Each agent holds one long stream to one pod: its endpoint is a plain ClusterIP (or a LoadBalancer).
    assert services.pop("portal-remote-agents")["type"] == "ClusterIP"
    for name, spec in services.items():
        if name == "portal-gateway":
            assert "clusterIP" not in spec
        else:
            assert spec["clusterIP"] == "None", name
            assert spec["ports"][0]["appProtocol"] == "kubernetes.io/h2c"


def test_public_key_can_come_from_a_configmap():
    objects = objects_of(load_values(CHART_DIR / "ci" / "minimal-values.yaml"))
    for dep in by_kind(objects, "Deployment"):
        volumes = {v["name"]: v for v in pod_spec(dep)["volumes"]}
        if "principal-public-key" in volumes:
            assert volumes["principal-public-key"]["configMap"]["name"] == "portal-principal-public-key"
    assert by_kind(objects, "NetworkPolicy") == [] and by_kind(objects, "Job") == []


def test_trusted_proxies_reach_the_gateway_only():
    def gateway_env(values: dict | None = None) -> dict:
        deps = {d["metadata"]["name"]: d for d in by_kind(objects_of(values), "Deployment")}
        return {n: env_of(pod_spec(d)["containers"][0]) for n, d in deps.items()}

    envs = gateway_env()
    assert (
        envs["portal-gateway"]["GATEWAY_TRUSTED_PROXIES"]["value"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    )
    assert not any(k.endswith("_TRUSTED_PROXIES") for n, env in envs.items() if n != "portal-gateway" for k in env)
    narrowed = gateway_env({"ingress": {"trustedProxies": ["10.42.0.0/16"]}})
    assert narrowed["portal-gateway"]["GATEWAY_TRUSTED_PROXIES"]["value"] == "10.42.0.0/16"
    # None: the variable is absent and the gateway believes no X-Forwarded-For.
    assert "GATEWAY_TRUSTED_PROXIES" not in gateway_env({"ingress": {"trustedProxies": []}})["portal-gateway"]


def test_gateway_server_settings_are_the_gateways_own():
    """The chart's production server settings (uvloop, workers, keep-alive, session cache) are variables the
    gateway reads, with values its settings accept: a renamed or mistyped setting fails here, not in a pod."""
    from gateway.config import Settings

    deps = {d["metadata"]["name"]: d for d in by_kind(objects_of(None), "Deployment")}
    env = {k: v["value"] for k, v in env_of(pod_spec(deps["portal-gateway"])["containers"][0]).items() if "value" in v}
    wanted = {
        "GATEWAY_LOOP": "uvloop",
        "GATEWAY_WORKERS": "1",
        "GATEWAY_KEEP_ALIVE_SECONDS": "75",
        "GATEWAY_GC_FREEZE": "true",
        "GATEWAY_SESSION_CACHE_SECONDS": "300",
        "GATEWAY_SESSION_CACHE_ENTRIES": "10000",
        "GATEWAY_PRINCIPAL_CACHE_SECONDS": "5",
    }
    assert {k: env.get(k) for k in wanted} == wanted
    fields = {k.removeprefix("GATEWAY_").lower(): v for k, v in wanted.items()}
    settings = Settings(
        session_secret="x",  # noqa: S106 - a placeholder for the settings check
        identity_addr="a:1",
        tickets_addr="a:1",
        billing_addr="a:1",
        assets_addr="a:1",
        remote_addr="a:1",
        **fields,
    )
    assert (settings.loop, settings.workers, settings.keep_alive_seconds) == ("uvloop", 1, 75.0)
    assert settings.gc_freeze is True
    assert (settings.session_cache_seconds, settings.session_cache_entries) == (300.0, 10_000)
