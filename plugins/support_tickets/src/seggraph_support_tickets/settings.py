"""The support tickets provider's settings, read from ``SEGGRAPH_SUPPORT_TICKETS_*``
environment variables (or ``.env``, as seggraph's own)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SupportTicketsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGGRAPH_SUPPORT_TICKETS_", env_file=".env", extra="ignore", frozen=True
    )

    token: SecretStr | None = Field(
        default=None,
        description="The bearer token the ingestion route takes. Unset or blank: the route "
        "answers 503 NOT_CONFIGURED.",
    )

    @field_validator("token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value
