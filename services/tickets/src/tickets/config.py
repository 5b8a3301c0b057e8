"""The tickets service's settings, read from TICKETS_* environment variables."""

from __future__ import annotations

from pydantic import Field, FilePath

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("TICKETS_")

    grpc_port: int = 50052
    # Identity's public key: every call carries a principal token signed with its private half.
    principal_public_key_file: FilePath
    # The assets service (host:port): a new ticket's site and asset are checked with it (T8).
    assets_addr: str = Field(min_length=1)
    # Deadline of that check; while assets cannot answer in time, tickets naming a site or asset are refused.
    assets_timeout_seconds: float = Field(3.0, gt=0, le=30)
    # Staff user id that tickets opened by customers are assigned to; '' leaves them unassigned.
    default_assignee: str = ""
    # Printed at the top of ticket PDFs.
    operator_name: str = ""
    # Where attachment bytes are kept (servicekit.blobs.open_store): `s3://bucket/prefix` (endpoint and keys from
    # the AWS_* variables) or a local directory as `file://` URL.
    blob_store: str = Field("file://var/blobs/tickets", min_length=1)
    # Largest accepted attachment. Files stream through in chunks, so this bounds storage, not memory; keep the
    # gateway's upload body limit (GATEWAY_MAX_UPLOAD_BYTES) above it.
    max_attachment_bytes: int = Field(25 * 1024 * 1024, gt=0, le=100 * 1024 * 1024)
