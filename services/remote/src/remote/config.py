"""Remote settings: REMOTE_* environment variables."""

from __future__ import annotations

from pydantic import FilePath

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("REMOTE_")

    grpc_port: int = 50055
    # Without identity's public key no caller could be verified, so the service refuses to start.
    principal_public_key_file: FilePath
