"""`python -m tickets blobs-migrate`: the files of attachments kept in a local directory (before issue 13) copied to
the S3 bucket (a real `weed`) under the same keys, every row still pointing at its bytes; a second run copies
nothing; a file missing from the old directory is named and fails the run."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

from PIL import Image

from portal.tickets.v1 import tickets_pb2
from portal_local.s3 import WeedS3
from servicekit.blobs import LocalBlobStore
from servicekit.blobs_s3 import S3BlobStore
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.attachments.migrate import migrate

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def upload(ticket_id: str, filename: str, data: bytes) -> list:
    meta = tickets_pb2.AttachmentUpload(ticket_id=ticket_id, filename=filename)
    return [tickets_pb2.AddAttachmentRequest(metadata=meta), tickets_pb2.AddAttachmentRequest(chunk=data)]


async def test_local_files_move_to_the_bucket_keeping_their_keys(
    served, principals, tmp_path: Path, s3_server: WeedS3, public_key_file: Path
) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Old files", description="d"), metadata=alice)
    ).ticket
    photo = io.BytesIO()
    Image.new("RGB", (300, 200), (5, 80, 160)).save(photo, format="JPEG")
    for name, data in (("photo.jpg", photo.getvalue()), ("notes.txt", b"kept since 2025")):
        await s.AddAttachment(upload(ticket.id, name, data), metadata=alice)

    # The `served` service keeps its files in tmp_path/blobs (conftest): the old local directory.
    local = LocalBlobStore(tmp_path / "blobs")
    old_keys = await local.keys()
    assert len(old_keys) == 3  # the photo, its thumbnail, the notes
    target_url = s3_server.store_url(f"mig-{uuid.uuid4().hex[:8]}")
    bucket = S3BlobStore.from_url(target_url, env=s3_server.env())
    env = s3_server.env()
    os.environ.update(env)
    try:
        first = await migrate(database_url=served.db.url, source_url=local.root.as_uri(), target_url=target_url)
        assert (first.copied, first.skipped, first.missing) == (3, 0, ())
        assert await bucket.keys() == old_keys
        for key in old_keys:
            assert await bucket.get(key) == await local.get(key)

        again = await migrate(database_url=served.db.url, source_url=local.root.as_uri(), target_url=target_url)
        assert (again.copied, again.skipped) == (0, 3)
    finally:
        for k in env:
            os.environ.pop(k, None)

    # The command as an operator runs it, with the service's own settings naming the target.
    await local.delete(old_keys[0])
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tickets", "blobs-migrate", "--from", local.root.as_uri()],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("TICKETS_")},
            **env,
            "TICKETS_DATABASE_URL": served.db.url,
            "TICKETS_BLOB_STORE": s3_server.store_url(f"mig-{uuid.uuid4().hex[:8]}"),
            "TICKETS_PRINCIPAL_PUBLIC_KEY_FILE": str(public_key_file),
            "TICKETS_ASSETS_ADDR": "127.0.0.1:9",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    assert "copied 2, already there 0, missing in the source 1" in out.stdout
    assert f"missing: {old_keys[0]}" in out.stdout
    assert "Traceback" not in out.stderr and s3_server.secret_key not in out.stdout + out.stderr
