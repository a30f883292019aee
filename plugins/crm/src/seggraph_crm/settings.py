"""The CRM provider's settings, read from ``SEGGRAPH_CRM_*`` environment variables (or ``.env``).

- ``SEGGRAPH_CRM_EMAIL_COLLECTION`` (default ``billing_customers``, the billing provider's
  Stripe customers) and ``SEGGRAPH_CRM_EMAIL_FIELD`` (default ``email``): where a subscriber's
  email is read, by subscriber id (``_id``), to match contacts by email. An empty collection name
  turns email matching off (contacts are then matched by ``external_id`` only).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seggraph_crm.store import EmailSource


class CrmSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGGRAPH_CRM_", env_file=".env", extra="ignore", frozen=True
    )

    email_collection: str = Field(
        default="billing_customers",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Collection holding subscribers' emails by subscriber id ('' to disable).",
    )
    email_field: str = Field(default="email", min_length=1, pattern=r"^[A-Za-z0-9_.]+$")

    @property
    def email_source(self) -> EmailSource | None:
        if not self.email_collection:
            return None
        return EmailSource(self.email_collection, self.email_field)
