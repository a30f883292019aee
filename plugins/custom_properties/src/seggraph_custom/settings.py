"""The custom properties provider's settings (``SEGGRAPH_CUSTOM_*`` environment variables).

- ``SEGGRAPH_CUSTOM_SUBSCRIPTIONS_COLLECTION`` (default ``billing_subscriptions``, the billing
  provider's Stripe subscriptions): where a subscriber's primary subscription is found when a
  subscription property is asked for without naming a subscription. Empty: such values are
  missing unless the subscription is named.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CustomSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGGRAPH_CUSTOM_", env_file=".env", extra="ignore", frozen=True
    )

    subscriptions_collection: str = Field(
        default="billing_subscriptions",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Collection of Stripe-shaped subscriptions (customer, status, created).",
    )
