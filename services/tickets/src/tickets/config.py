"""The tickets service's settings, read from TICKETS_* environment variables."""

from __future__ import annotations

from pathlib import Path

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
    # Where attachment bytes are kept (a local directory; an S3-compatible bucket is the production plan).
    blob_dir: Path = Path("var/blobs/tickets")
    # Largest accepted attachment; keep it under the gateway's body limit and gRPC's 8 MiB message cap.
    max_attachment_bytes: int = Field(2 * 1024 * 1024 - 64 * 1024, gt=0, le=7 * 1024 * 1024)
