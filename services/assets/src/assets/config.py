"""Assets settings: ASSETS_* environment variables."""

from __future__ import annotations

from pydantic import Field, FilePath

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("ASSETS_")

    grpc_port: int = 50054
    # Without identity's public key no caller could be verified, so the service refuses to start.
    principal_public_key_file: FilePath
    # Where customer documents' bytes are kept: a URL for servicekit.blobs.open_store (a directory path or
    # file:///dir for a local store, s3://bucket/prefix for an S3-compatible one).
    blob_store: str = Field("var/blobs/assets", min_length=1)
    # Largest accepted document (SPEC A4); the gateway's body limit for the upload routes matches it.
    max_document_bytes: int = Field(25 * 1024 * 1024, gt=0, le=1024 * 1024 * 1024)
