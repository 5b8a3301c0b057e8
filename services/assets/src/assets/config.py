"""Assets settings: ASSETS_* environment variables."""

from __future__ import annotations

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator

from assets.credentials.crypto import Keyring, KeyringError, load_keyring
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
    # The master keys of masked credentials (credentials.crypto): a file path, or the entries themselves,
    # `id:base64key` separated by newlines, spaces or commas, the first wrapping new data keys. Required when
    # env=prod; in dev the credential RPCs answer FAILED_PRECONDITION without it.
    credential_keys: SecretStr | None = Field(
        None, description="credential master keys, id:base64key, current first", validate_default=True
    )

    @field_validator("credential_keys")
    @classmethod
    def _credential_keys_load(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            if info.data.get("env") == "prod":
                raise ValueError("is required when env=prod (masked credentials are encrypted with it)")
            return None
        try:
            load_keyring(value.get_secret_value())
        except KeyringError as exc:
            raise ValueError(str(exc)) from None
        return value

    def credential_keyring(self) -> Keyring | None:
        if self.credential_keys is None:
            return None
        return load_keyring(self.credential_keys.get_secret_value())
