"""The tickets service's blob directory (attachments, thumbnails): an emptyDir by default, a PersistentVolumeClaim
when persistence is on (the chart's own or an existing one), mounted only by the Deployment, and its path given to
the service as TICKETS_BLOB_DIR; tickets is also told where assets is (TICKETS_ASSETS_ADDR)."""

from __future__ import annotations

from tests.deploy.chart import by_kind, objects_of, pod_spec

MOUNT = "/var/lib/portal/blobs"


def tickets_objects(values: dict | None = None) -> dict[str, dict]:
    objs = objects_of(values)
    deployment = next(o for o in by_kind(objs, "Deployment") if o["metadata"]["name"].endswith("-tickets"))
    job = next(o for o in by_kind(objs, "Job") if o["metadata"]["name"].endswith("-tickets-migrate"))
    return {"deployment": deployment, "job": job, "claims": by_kind(objs, "PersistentVolumeClaim")}


def volumes(obj: dict) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec(obj).get("volumes", [])}


def mounts_and_env(obj: dict) -> tuple[dict[str, str], dict[str, str]]:
    (container,) = pod_spec(obj)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    return mounts, env


def test_by_default_the_blobs_are_an_emptydir_mounted_where_tickets_writes_them():
    found = tickets_objects()
    blobs = volumes(found["deployment"])["blobs"]
    assert "emptyDir" in blobs and blobs["emptyDir"]["sizeLimit"]
    mounts, env = mounts_and_env(found["deployment"])
    assert mounts["blobs"] == MOUNT and env["TICKETS_BLOB_DIR"] == MOUNT
    assert env["TICKETS_ASSETS_ADDR"].endswith("-assets:50054")
    assert found["claims"] == []
    # The pre-install migration Job runs before any claim exists and needs no files.
    assert "blobs" not in volumes(found["job"])
    assert "blobs" not in mounts_and_env(found["job"])[0]


def test_with_persistence_the_chart_makes_a_kept_claim_and_mounts_it():
    values = {
        "services": {
            "tickets": {"blobs": {"persistence": {"enabled": True, "size": "50Gi", "storageClassName": "nfs"}}}
        }
    }
    found = tickets_objects(values)
    (claim,) = found["claims"]
    assert claim["metadata"]["name"].endswith("-tickets-blobs")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "nfs"
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert volumes(found["deployment"])["blobs"] == {
        "name": "blobs",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }


def test_an_existing_claim_is_mounted_and_none_is_made():
    values = {"services": {"tickets": {"blobs": {"persistence": {"enabled": True, "existingClaim": "my-files"}}}}}
    found = tickets_objects(values)
    assert found["claims"] == []
    assert volumes(found["deployment"])["blobs"]["persistentVolumeClaim"] == {"claimName": "my-files"}


def test_other_services_get_no_blob_directory():
    for obj in by_kind(objects_of(), "Deployment"):
        if not obj["metadata"]["name"].endswith("-tickets"):
            assert "blobs" not in volumes(obj), obj["metadata"]["name"]
