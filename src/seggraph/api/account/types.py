"""GraphQL types of the account's settings a frontend needs to render and edit conditions."""

from __future__ import annotations

import strawberry

from seggraph.api.segments.types import Mode


@strawberry.type(
    description="The limits a segment editor must respect before saving: a segment past one "
    "is refused (in userErrors, nothing written). Characters are counted as Unicode code "
    "points (a JavaScript string's length counts an emoji as two)."
)
class SegmentLimits:
    max_conditions: int = strawberry.field(
        description="SEGGRAPH_MAX_CONDITIONS: conditions in one segment's tree, at most, "
        "however they nest, an empty group (or one nested too deep) counting as one (else "
        "TOO_MANY_CONDITIONS, the tree refused whole)."
    )
    max_condition_depth: int = strawberry.field(
        description="SEGGRAPH_MAX_CONDITION_DEPTH: levels of nested groups, the root group "
        "being level 1 (else TOO_DEEP)."
    )
    max_list_items: int = strawberry.field(
        description="Items in a condition's list value (IN, NOT_IN, CONTAINS_ANY, "
        "CONTAINS_ALL, CONTAINS_NONE), at most (else TOO_LONG); an empty list is refused."
    )
    max_text_length: int = strawberry.field(
        description="Characters in a TEXT or LIST condition value (each item of a list), at "
        "most (else TOO_LONG)."
    )
    max_pattern_length: int = strawberry.field(
        description="Characters in a MATCHES pattern (RE2), at most (else TOO_LONG)."
    )
    max_relative_amount: int = strawberry.field(
        description="The largest amount of a relative date ({amount, unit} of IN_LAST, "
        "IN_NEXT, MORE_THAN_AGO, MORE_THAN_AHEAD), a whole number from 1 (else INVALID_VALUE)."
    )
    max_conditions_text_length: int = strawberry.field(
        description="Characters in a conditionsText, at most (else TOO_LONG)."
    )
    max_name_length: int = strawberry.field(
        description="Characters in a segment's name (trimmed, in composed form, NFC), at most "
        "(else TOO_LONG); it cannot be blank."
    )
    max_description_length: int = strawberry.field(
        description="Characters in a segment's description (trimmed, NFC), at most (else TOO_LONG)."
    )
    max_tags: int = strawberry.field(
        description="Tags on one segment, at most, counted as stored: trimmed, and repeats in "
        "any case counted once (else TOO_MANY)."
    )
    max_tag_length: int = strawberry.field(
        description="Characters in one tag (trimmed, NFC), at most (else TOO_LONG)."
    )
    max_active_segments: int = strawberry.field(
        description="Active (not archived) segments in one mode, at most: a write that would "
        "add one more is refused (TOO_MANY)."
    )


@strawberry.type(
    description="The account's settings that conditions and answers depend on, as this server "
    "runs with them, and the mode of the request. Read-only: they are set by the operator "
    "(SEGGRAPH_* environment variables) and the same for every request but mode."
)
class Account:
    currency: str = strawberry.field(
        description="SEGGRAPH_CURRENCY, the account currency (ISO 4217 code, e.g. USD): a bare "
        "amount in a MONEY condition (mrr > 100), or one with no currency, is in it, whatever "
        "currency the property declares; an amount in another currency never matches "
        "(CURRENCY_MISMATCH, no conversion)."
    )
    currency_minor_units: int = strawberry.field(
        description="The decimals of the account currency's minor unit (ISO 4217: 2 for USD, "
        "0 for JPY, 3 for KWD): a bare amount with more (12.505 USD) is refused "
        "(INVALID_MONEY); 12.500 is fine."
    )
    time_zone: str = strawberry.field(
        description="SEGGRAPH_TIMEZONE, the account time zone (IANA name, e.g. Europe/Paris): "
        "every date operator (ON, BEFORE, AFTER, BETWEEN, IN_LAST, …) compares calendar days "
        "there. A DATETIME value, the subscriber's or the condition's, is first taken to its "
        "day in this zone (one without an offset is read in it), and today is now's day here."
    )
    mode: Mode = strawberry.field(  # type: ignore[valid-type]
        description="The mode this request works in: its API key's (sg_test_ or sg_live_); "
        "with SEGGRAPH_AUTH off, the X-Seggraph-Mode header's (TEST without one). Segments "
        "read and written are this mode's."
    )
    limits: SegmentLimits = strawberry.field(
        description="The limits a segment must respect to be saved."
    )
