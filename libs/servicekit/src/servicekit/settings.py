"""Settings base shared by every service; each service subclasses it with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.i18n import TIMEZONE_ENV, zone

# The two ways a process runs; anything else is refused at start rather than taken for either.
Env = Literal["dev", "prod"]


class ServiceSettings(BaseSettings):
    """Common settings; a subclass sets `model_config = service_config("TICKETS_")`."""

    model_config = SettingsConfigDict(extra="ignore")

    env: Env = Field("dev", description="dev or prod; prod refuses placeholder secrets")
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50050
    metrics_port: int = 0
    # Loopback unless told otherwise: `make run` keeps every port on 127.0.0.1; the chart sets 0.0.0.0 so that
    # Prometheus can scrape the pod IP.
    metrics_host: str = "127.0.0.1"
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    principal_public_key_file: Path | None = None
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 5.0
    # Events (docs/operations.md, "Dead letters and retention").
    events_max_deliver: int = Field(5, ge=1, description="deliveries of a failing event before it is parked")
    inbox_retention_days: float = Field(7.0, gt=0, description="how long handled event ids are kept for dedup")
    outbox_retention_days: float = Field(1.0, gt=0, description="how long published outbox rows are kept")
    retention_interval_seconds: float = Field(3600.0, gt=0, description="how often old rows are pruned")
    retention_batch: int = Field(1000, ge=1, description="rows deleted per statement while pruning")

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def principal_public_key_pem(self) -> bytes:
        """The PEM of identity's principal-signing public key; a clear error when it is not configured."""
        if self.principal_public_key_file is None:
            prefix = self.model_config.get("env_prefix", "")
            raise SystemExit(f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE is required: the path of identity's public key")
        try:
            return self.principal_public_key_file.read_bytes()
        except OSError as exc:
            raise SystemExit(f"cannot read principal public key {self.principal_public_key_file}: {exc}") from exc

    @model_validator(mode="after")
    def _check_timezone(self) -> ServiceSettings:
        # PORTAL_TIMEZONE (servicekit.i18n) is shared by every process: a wrong name stops the start, not a page.
        name = os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"
        try:
            zone(name)
        except ValueError as exc:
            raise ValueError(f"{TIMEZONE_ENV}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _refuse_sqlite_in_prod(self) -> ServiceSettings:
        if self.env == "prod" and self.database_url.startswith("sqlite"):
            raise ValueError("database_url must point at PostgreSQL when env=prod")
        return self


def service_config(prefix: str) -> SettingsConfigDict:
    """Config for a service's settings class: env prefix, ignore unrelated variables."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore")


_S = TypeVar("_S", bound=BaseSettings)


def load_settings(cls: type[_S]) -> _S:
    """Build settings, turning a missing required value into one readable line instead of a traceback."""
    from pydantic import ValidationError

    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SystemExit(f"invalid configuration: {problems}") from None
