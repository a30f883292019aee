"""The billing provider's settings, from ``SEGGRAPH_BILLING_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGGRAPH_BILLING_", env_file=".env", extra="ignore", frozen=True
    )

    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The signing secret of the webhook endpoint (Stripe's `whsec_…`). Unset: "
        "the webhook refuses every event with 503.",
    )
    webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="How far a signature's timestamp may be from now, in seconds.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest webhook body accepted, in bytes."
    )

    def secrets(self) -> list[str]:
        """The signing secrets: several, comma-separated, while one is being rolled."""
        if self.webhook_secret is None:
            return []
        return [s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip()]
