"""CRM contacts and companies (HubSpot-shaped), read from import rows and checked.

A row is a flat mapping of column → value (a CSV row, a JSON object, or a HubSpot API object
``{"id": ..., "properties": {...}, "associations": ...}``, flattened first). Columns are matched
case-insensitively, by HubSpot's internal property names or seggraph's own (see
:data:`CONTACT_COLUMNS` and :data:`COMPANY_COLUMNS`); other columns are ignored. A blank cell or
a JSON null leaves a field unset. Every problem is reported with the record's position, id and
field, and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from seggraph.domain.currencies import is_currency_code, is_iso_currency
from seggraph.domain.numbers import BOUNDS, INT64_MAX, fits_int64, within_bounds


class RecordKind(StrEnum):
    CONTACTS = "contacts"
    COMPANIES = "companies"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


#: HubSpot's default lifecycle stages: seggraph identifier → HubSpot internal value.
LIFECYCLE_STAGES: dict[str, str] = {
    "SUBSCRIBER": "subscriber",
    "LEAD": "lead",
    "MARKETING_QUALIFIED_LEAD": "marketingqualifiedlead",
    "SALES_QUALIFIED_LEAD": "salesqualifiedlead",
    "OPPORTUNITY": "opportunity",
    "CUSTOMER": "customer",
    "EVANGELIST": "evangelist",
    "OTHER": "other",
}
#: HubSpot's default lead statuses (``hs_lead_status``).
LEAD_STATUSES: tuple[str, ...] = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
_STAGE_LOOKUP = {
    **{_norm(k): k for k in LIFECYCLE_STAGES},
    **{_norm(v): k for k, v in LIFECYCLE_STAGES.items()},
    "mql": "MARKETING_QUALIFIED_LEAD",
    "sql": "SALES_QUALIFIED_LEAD",
}
_STATUS_LOOKUP = {_norm(s): s for s in LEAD_STATUSES}

#: Field → the column names it is read from (first present wins).
CONTACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "hs_object_id", "contact_id", "vid", "record_id"),
    "email": ("email",),
    "external_id": ("external_id", "subscriber_id"),
    "lifecycle_stage": ("lifecyclestage", "lifecycle_stage"),
    "lead_status": ("hs_lead_status", "lead_status"),
    "owner": ("account_owner", "hubspot_owner_id", "owner", "contact_owner"),
    "company_id": ("associatedcompanyid", "associated_company_id", "company_id"),
    "company_name": ("company", "company_name"),
    "country": ("country", "country/region"),  # HubSpot's label: "Country/Region"
    "updated_at": ("lastmodifieddate", "last_modified_date", "updated_at"),
}
COMPANY_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "hs_object_id", "company_id", "record_id"),
    "name": ("name", "company_name"),
    "industry": ("industry",),
    "employees": ("numberofemployees", "number_of_employees", "company_size", "employees"),
    "annual_revenue": ("annualrevenue", "annual_revenue"),
    "currency": ("annual_revenue_currency", "currency", "hs_currency"),
    "country": ("country", "country/region"),  # HubSpot's label: "Country/Region"
    "owner": ("account_owner", "hubspot_owner_id", "company_owner", "owner"),
    "renewal_date": ("renewal_date",),
    "health_score": ("health_score",),
    "updated_at": ("hs_lastmodifieddate", "last_modified_date", "updated_at"),
}
MAX_TEXT = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True)
class RecordError:
    """One refused field of one record."""

    position: str
    record_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        who = f" (id {self.record_id})" if self.record_id else ""
        return f"{self.position}{who}: {self.field}: {self.message}"


@dataclass
class ParsedRecords:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    companies: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


class _Refused(ValueError):
    pass


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A HubSpot API object's ``properties`` and first associated company, merged flat."""
    flat: dict[str, Any] = {k: v for k, v in row.items() if k not in ("properties", "associations")}
    props = row.get("properties")
    if isinstance(props, Mapping):
        for key, value in props.items():
            flat.setdefault(key, value)
    associations = row.get("associations")
    if isinstance(associations, Mapping):
        companies = associations.get("companies")
        results = companies.get("results") if isinstance(companies, Mapping) else companies
        if isinstance(results, list) and results and isinstance(results[0], Mapping):
            flat.setdefault("associatedcompanyid", results[0].get("id"))
    return flat


def column_name(raw: Any) -> str:
    """A column as matched: case-folded, spaces and dashes as underscores ("Record ID" →
    ``record_id``), so both HubSpot's internal names and its export labels are read."""
    return re.sub(r"[\s\-]+", "_", str(raw).strip().casefold())


def _pick(lowered: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    """The first of ``names`` with a value in ``lowered`` (a row keyed by :func:`column_name`)."""
    for name in names:
        if name in lowered:
            value = lowered[name]
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            if value is None:
                continue
            return name, value
    return names[0], None


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise _Refused(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise _Refused(f"at most {MAX_TEXT} characters")
    return text


def _identifier(value: Any) -> str:
    text = _text(value)
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    return text


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Refused(f"expected a number, got {value!r}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _Refused(f"expected a number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise _Refused(f"expected a finite number, got {value!r}")
    if not within_bounds(number):  # what seggraph keeps exactly, as for every number
        raise _Refused(f"{BOUNDS}, got {str(value)[:40]!r}")
    return number


def _whole(number: Decimal) -> int | Decimal:
    """An int when the number is whole and the database keeps it as one (64 bits)."""
    if number == number.to_integral_value() and fits_int64(number):
        return int(number)
    return number


def _count(value: Any) -> int:
    number = _number(value)
    if number != number.to_integral_value() or number < 0:
        raise _Refused(f"expected a whole number of employees, got {value!r}")
    if number > INT64_MAX:
        raise _Refused(f"expected at most {INT64_MAX} employees, got {str(value)[:40]!r}")
    return int(number)


#: Epoch milliseconds are read from 12 digits on (from 1973-03-03, or before 1966-10-31): a
#: smaller number read as milliseconds is a moment of 1970 that no CRM record means (epoch
#: seconds, or a date written in another form), so it is refused rather than guessed.
_MIN_MILLISECONDS = 10**11
_WHOLE = re.compile(r"-?[0-9]+")


def _from_number(value: int | str) -> datetime:
    """A whole number, or a string of its digits: eight digits are ISO 8601's basic date
    ``YYYYMMDD`` (``20261205`` is 5 December 2026, at midnight UTC); twelve or more are epoch
    milliseconds (HubSpot's form); any other is refused, never read as a moment of 1970."""
    text = str(value)
    if len(text) == 8 and text.isdigit():
        try:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        except ValueError:
            raise _Refused(f"expected a date YYYYMMDD, got {text!r}") from None
    number = int(text)
    if abs(number) < _MIN_MILLISECONDS:
        raise _Refused(
            f"expected a date YYYY-MM-DD or YYYYMMDD, or epoch milliseconds (12 digits or more: "
            f"a smaller number would be a moment of 1970, epoch seconds are not read), "
            f"got {text[:40]!r}"
        )
    try:
        return datetime.fromtimestamp(number / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Refused(f"epoch milliseconds out of range: {text[:40]!r}") from None


def _whole_number(value: Any) -> int | str | None:
    """``value`` as :func:`_from_number` reads it, or None when it is no whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return value.strip()
    return None


def _date(value: Any) -> date:
    """``YYYY-MM-DD``, an ISO date-time, ``YYYYMMDD`` or epoch milliseconds (HubSpot's dates are
    midnight UTC). A date-time is the date it names where it was written:
    ``2026-12-05T20:00:00-08:00`` is 5 December (it is 6 December in UTC), and HubSpot's
    ``2026-12-05T00:00:00Z`` too."""
    number = _whole_number(value)
    if number is not None:
        return _from_number(number).date()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
            return moment.date()
        except ValueError:
            pass
    raise _Refused(f"expected a date YYYY-MM-DD, got {str(value)[:40]!r}")


def _datetime(value: Any) -> datetime:
    number = _whole_number(value)
    if number is not None:
        return _from_number(number)
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            pass
        else:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            try:
                return moment.astimezone(UTC)  # as the database keeps it
            except OverflowError:
                raise _Refused(f"a date-time out of range: {text[:40]!r}") from None
    raise _Refused(f"expected an ISO-8601 date-time or epoch milliseconds, got {value!r}")


def _enum(value: Any, lookup: dict[str, str], allowed: list[str]) -> str:
    if isinstance(value, str):
        found = lookup.get(_norm(value))
        if found:
            return found
    raise _Refused(f"expected one of {', '.join(allowed)}, got {str(value)[:40]!r}")


def _email(value: Any) -> str:
    text = _text(value).casefold()
    if not _EMAIL.fullmatch(text):
        raise _Refused(f"expected an email address, got {text[:60]!r}")
    return text


def parse_contact(
    row: Mapping[str, Any], position: str, errors: list[RecordError]
) -> dict[str, Any] | None:
    return _parse(row, position, errors, CONTACT_COLUMNS, _contact_field)


def parse_company(
    row: Mapping[str, Any], position: str, errors: list[RecordError], currency: str
) -> dict[str, Any] | None:
    return _parse(
        row, position, errors, COMPANY_COLUMNS, lambda f, v: _company_field(f, v, currency)
    )


def _contact_field(name: str, value: Any) -> Any:
    if name == "id":
        return _identifier(value)
    if name == "external_id":
        return _identifier(value)
    if name == "email":
        return _email(value)
    if name == "lifecycle_stage":
        return _enum(value, _STAGE_LOOKUP, list(LIFECYCLE_STAGES))
    if name == "lead_status":
        return _enum(value, _STATUS_LOOKUP, list(LEAD_STATUSES))
    if name == "company_id":
        return _identifier(value)
    if name == "updated_at":
        return _datetime(value)
    return _text(value)


def _company_field(name: str, value: Any, currency: str) -> Any:
    if name == "id":
        return _identifier(value)
    if name == "employees":
        return _count(value)
    if name == "annual_revenue":
        number = _number(value)
        if number < 0:
            raise _Refused(f"expected an amount of at least 0, got {value!r}")
        return number
    if name == "currency":
        code = _text(value).upper()
        if not is_currency_code(code):
            raise _Refused(f"expected a three-letter ISO 4217 currency code, got {code!r}")
        if not is_iso_currency(code):
            # No condition can name it (conditions take ISO 4217 codes only): every one on
            # this company's revenue would be UNKNOWN, a currency mismatch, for a typo.
            raise _Refused(f"{code!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
        return code
    if name == "renewal_date":
        return _date(value)
    if name == "health_score":
        return _whole(_number(value))
    if name == "updated_at":
        return _datetime(value)
    return _text(value)


def _parse(
    row: Mapping[str, Any],
    position: str,
    errors: list[RecordError],
    columns: dict[str, tuple[str, ...]],
    read: Any,
) -> dict[str, Any] | None:
    if not isinstance(row, Mapping):
        errors.append(RecordError(position, None, "record", "expected an object"))
        return None
    flat = {column_name(k): v for k, v in flatten(row).items()}
    record: dict[str, Any] = {}
    failed = False
    record_id: str | None = None
    _, raw_id = _pick(flat, columns["id"])
    if raw_id is not None:
        try:
            record_id = _identifier(raw_id)
        except _Refused:
            record_id = None
    for name, names in columns.items():
        column, raw = _pick(flat, names)
        if raw is None:
            continue
        try:
            record[name] = read(name, raw)
        except _Refused as exc:
            errors.append(RecordError(position, record_id, column, str(exc)))
            failed = True
    if not record.get("id"):
        errors.append(RecordError(position, None, columns["id"][0], "every record needs an id"))
        failed = True
    if (
        columns is CONTACT_COLUMNS
        and not failed
        and not (record.get("email") or record.get("external_id"))
    ):
        errors.append(
            RecordError(
                position,
                record_id,
                "email",
                "a contact needs an email or an external_id to be matched to a subscriber",
            )
        )
        failed = True
    return None if failed else record
