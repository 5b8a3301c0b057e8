"""Where the services keep files: an S3-compatible bucket named in `blobStore`, never a volume. The services with
blobs.enabled (tickets, assets) get <PREFIX>_BLOB_STORE=s3://<bucket>/<service>, the region and endpoint as plain
variables and the key pair only as references to the existing Secret; no pod mounts a blob volume and no claim is
made; the NetworkPolicy lets exactly those pods reach the endpoint's port."""

from __future__ import annotations

from tests.deploy.chart import by_kind, objects_of, pod_spec

FILE_KEEPERS = {"tickets": "TICKETS", "assets": "ASSETS"}


def deployment(objs: list[dict], name: str) -> dict:
    return next(o for o in by_kind(objs, "Deployment") if o["metadata"]["name"].endswith(f"-{name}"))


def env_of(obj: dict) -> tuple[dict[str, str], dict[str, dict]]:
    (container,) = pod_spec(obj)["containers"]
    plain = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    refs = {e["name"]: e["valueFrom"] for e in container.get("env", []) if "valueFrom" in e}
    return plain, refs


def test_services_that_keep_files_get_the_bucket_and_a_secret_reference():
    objs = objects_of()
    for name, prefix in FILE_KEEPERS.items():
        plain, refs = env_of(deployment(objs, name))
        assert plain[f"{prefix}_BLOB_STORE"] == f"s3://portal-files/{name}"
        assert plain["AWS_REGION"] == "us-east-1"
        assert "AWS_ENDPOINT_URL" not in plain  # AWS itself by default
        assert refs["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "portal-blob-store", "key": "AWS_ACCESS_KEY_ID"}}
        assert refs["AWS_SECRET_ACCESS_KEY"] == {
            "secretKeyRef": {"name": "portal-blob-store", "key": "AWS_SECRET_ACCESS_KEY"}
        }
        assert "AWS_SECRET_ACCESS_KEY" not in plain and "AWS_ACCESS_KEY_ID" not in plain


def test_no_blob_volume_and_no_claim_anywhere():
    objs = objects_of()
    assert by_kind(objs, "PersistentVolumeClaim") == []
    for obj in by_kind(objs, "Deployment") + by_kind(objs, "Job"):
        names = {v["name"] for v in pod_spec(obj).get("volumes", [])}
        assert "blobs" not in names, obj["metadata"]["name"]


def test_bucket_endpoint_and_secret_come_from_values():
    values = {
        "blobStore": {
            "bucket": "acme-portal",
            "endpoint": "http://seaweedfs-s3.storage:8333",
            "region": "eu-west-3",
            "existingSecret": "acme-s3",
            "accessKeyIdKey": "id",
            "secretAccessKeyKey": "secret",
            "networkPolicy": {"port": 8333, "to": [{"namespaceSelector": {"matchLabels": {"name": "storage"}}}]},
        }
    }
    objs = objects_of(values)
    plain, refs = env_of(deployment(objs, "tickets"))
    assert plain["TICKETS_BLOB_STORE"] == "s3://acme-portal/tickets"
    assert plain["AWS_ENDPOINT_URL"] == "http://seaweedfs-s3.storage:8333"
    assert plain["AWS_REGION"] == "eu-west-3"
    assert refs["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"] == {"name": "acme-s3", "key": "secret"}
    policy = next(o for o in by_kind(objs, "NetworkPolicy") if o["metadata"]["name"].endswith("-tickets"))
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"name": "storage"}}}],
        "ports": [{"port": 8333, "protocol": "TCP"}],
    } in policy["spec"]["egress"]


def test_without_a_secret_the_pod_identity_is_used():
    objs = objects_of({"blobStore": {"existingSecret": ""}})
    plain, refs = env_of(deployment(objs, "tickets"))
    assert plain["TICKETS_BLOB_STORE"] == "s3://portal-files/tickets"
    assert "AWS_ACCESS_KEY_ID" not in refs and "AWS_SECRET_ACCESS_KEY" not in refs


def test_other_services_get_no_blob_store():
    objs = objects_of()
    for obj in by_kind(objs, "Deployment"):
        name = obj["metadata"]["name"].rsplit("-", 1)[-1]
        if name in FILE_KEEPERS:
            continue
        plain, refs = env_of(obj)
        assert not any(k.endswith("_BLOB_STORE") or k.startswith("AWS_") for k in [*plain, *refs]), name
        policy = next(o for o in by_kind(objs, "NetworkPolicy") if o["metadata"]["name"].endswith(f"-{name}"))
        assert all(
            rule.get("ports") != [{"port": 443, "protocol": "TCP"}]
            or rule.get("to") != [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
            for rule in policy["spec"]["egress"]
        ), name
