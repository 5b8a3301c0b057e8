"""The tickets service's settings, read from TICKETS_* environment variables."""

from __future__ import annotations

from pydantic import FilePath

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("TICKETS_")

    grpc_port: int = 50052
    # Identity's public key: every call carries a principal token signed with its private half.
    principal_public_key_file: FilePath
    # Staff user id that tickets opened by customers are assigned to; '' leaves them unassigned.
    default_assignee: str = ""
    # Printed at the top of ticket PDFs.
    operator_name: str = ""
