"""The CRM's properties, and how each is read from a subscriber's contact and its company.

A subscriber's contact is the one whose ``external_id`` is the subscriber id, else one whose
email is the subscriber's email (the most recently modified when several match). Contact
fields: lifecycle stage, lead status. Company fields: name, industry, size, annual revenue,
renewal date, health score. Company name, country and account owner are the company's, falling
back to the contact's own ``company`` / ``country`` / owner when the company has none (or the
contact has no company). A subscriber without a contact has every CRM property missing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from seggraph.domain.conditions import Money
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph_crm.records import LEAD_STATUSES, LIFECYCLE_STAGES

PROVIDER = "crm"


def definitions(currency: str) -> list[PropertyDefinition]:
    def prop(key: str, label: str, kind: PropertyType, description: str, **extra: Any) -> Any:
        return PropertyDefinition(
            key=f"crm.{key}",
            label=label,
            type=kind,
            description=description,
            provider=PROVIDER,
            **extra,
        )

    return [
        prop(
            "lifecycle_stage",
            "Lifecycle stage",
            PropertyType.ENUM,
            "The contact's lifecycle stage (HubSpot's lifecyclestage).",
            enum_values=tuple(LIFECYCLE_STAGES),
        ),
        prop(
            "lead_status",
            "Lead status",
            PropertyType.ENUM,
            "The contact's lead status (HubSpot's hs_lead_status).",
            enum_values=LEAD_STATUSES,
        ),
        prop(
            "company_name", "Company name", PropertyType.TEXT, "The name of the contact's company."
        ),
        prop("industry", "Industry", PropertyType.TEXT, "The company's industry."),
        prop(
            "company_size",
            "Company size",
            PropertyType.NUMBER,
            "The company's number of employees (numberofemployees).",
            unit="employees",
        ),
        prop(
            "annual_revenue",
            "Annual revenue",
            PropertyType.MONEY,
            "The company's annual revenue, in its currency (the account currency by default).",
            currency=currency,
        ),
        prop(
            "country", "Country", PropertyType.TEXT, "The company's country (else the contact's)."
        ),
        prop(
            "account_owner",
            "Account owner",
            PropertyType.TEXT,
            "The owner of the company in the CRM (else the contact's owner).",
        ),
        prop("renewal_date", "Renewal date", PropertyType.DATE, "The company's renewal date."),
        prop("health_score", "Health score", PropertyType.NUMBER, "The company's health score."),
    ]


KEYS = tuple(d.key for d in definitions("USD"))
COMPANY_KEYS = frozenset(
    f"crm.{k}"
    for k in (
        "company_name",
        "industry",
        "company_size",
        "annual_revenue",
        "country",
        "account_owner",
        "renewal_date",
        "health_score",
    )
)


def values(
    keys: list[str],
    contact: dict[str, Any] | None,
    company: dict[str, Any] | None,
    currency: str,
) -> dict[str, Any]:
    """Each asked key: its value, or ``None`` when missing."""
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = None if contact is None else _value(key, contact, company or {}, currency)
    return out


def _value(key: str, contact: dict[str, Any], company: dict[str, Any], currency: str) -> Any:
    name = key.removeprefix("crm.")
    if name == "lifecycle_stage":
        return contact.get("lifecycle_stage")
    if name == "lead_status":
        return contact.get("lead_status")
    if name == "company_name":
        return company.get("name") or contact.get("company_name")
    if name == "industry":
        return company.get("industry")
    if name == "company_size":
        return company.get("employees")
    if name == "annual_revenue":
        amount = company.get("annual_revenue")
        if amount is None:
            return None
        return Money(Decimal(amount), company.get("currency") or currency)
    if name == "country":
        return company.get("country") or contact.get("country")
    if name == "account_owner":
        return company.get("owner") or contact.get("owner")
    if name == "renewal_date":
        raw = company.get("renewal_date")
        return date.fromisoformat(raw) if isinstance(raw, str) else raw
    if name == "health_score":
        score = company.get("health_score")
        return score
    return None
