"""``account``: the account's settings a frontend needs (currency, time zone, mode, limits)."""

from __future__ import annotations

import strawberry

from seggraph.api.account.types import Account, SegmentLimits
from seggraph.api.context import Info
from seggraph.api.evaluation.inputs import MAX_CONDITIONS_TEXT
from seggraph.domain.currencies import minor_units
from seggraph.services import segments
from seggraph.validation.values import MAX_RELATIVE_AMOUNT


@strawberry.type
class AccountQueries:
    @strawberry.field(
        description="The account's settings that conditions depend on (currency, time zone, "
        "limits) and the request's mode: what a frontend reads instead of hard-coding them."
    )
    def account(self, info: Info) -> Account:
        services = info.context.services
        settings = services.settings
        tree = services.segments.limits
        return Account(
            currency=settings.currency,
            currency_minor_units=minor_units(settings.currency),
            time_zone=settings.timezone,
            mode=info.context.mode,
            limits=SegmentLimits(
                max_conditions=tree.max_conditions,
                max_condition_depth=tree.max_depth,
                max_list_items=tree.max_list_items,
                max_text_length=tree.max_text_length,
                max_pattern_length=tree.max_regex_length,
                max_relative_amount=MAX_RELATIVE_AMOUNT,
                max_conditions_text_length=MAX_CONDITIONS_TEXT,
                max_name_length=segments.MAX_NAME,
                max_description_length=segments.MAX_DESCRIPTION,
                max_tags=segments.MAX_TAGS,
                max_tag_length=segments.MAX_TAG,
                max_active_segments=segments.MAX_EVALUATED_SEGMENTS,
            ),
        )
