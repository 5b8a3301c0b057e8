"""Assets settings: ASSETS_* environment variables."""

from __future__ import annotations

from pydantic import FilePath

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("ASSETS_")

    grpc_port: int = 50054
    # Without identity's public key no caller could be verified, so the service refuses to start.
    principal_public_key_file: FilePath
