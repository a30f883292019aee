"""Flagsmith: segment rules evaluated by flag_engine's segment evaluator on identities with
traits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flag_engine.context.types import SegmentContext
from flag_engine.segments.evaluator import is_context_in_segment

from ..engines import PURE_PYTHON, Engine
from ..workload import (
    BILLING_BEFORE,
    COUNTRIES,
    CURRENCY,
    EMAIL_SUFFIX,
    INTERVALS,
    MRR_OVER,
    SAVED,
    Subscriber,
)
from . import json_attributes

ENVIRONMENT = {"key": "bench-env", "name": "bench"}

#: Top-level rules must all match; each is ALL or ANY over its conditions (Flagsmith's segment
#: editor makes exactly this shape). Condition values are strings, cast to the trait's type.
SEGMENT: SegmentContext[Any, Any] = {
    "key": "high-value",
    "name": "High value",
    "rules": [
        {
            "type": "ALL",
            "conditions": [
                {"property": "mrr", "operator": "GREATER_THAN", "value": str(MRR_OVER)},
                {"property": "mrr_currency", "operator": "EQUAL", "value": CURRENCY},
                {"property": "plan_interval", "operator": "IN", "value": list(INTERVALS)},
            ],
        },
        {
            "type": "ANY",
            "conditions": [
                {"property": "status", "operator": "EQUAL", "value": SAVED},
                {"property": "is_free_trial", "operator": "EQUAL", "value": "false"},
            ],
        },
        {
            "type": "ALL",
            "conditions": [
                {"property": "country", "operator": "IN", "value": list(COUNTRIES)},
                {
                    "property": "email",
                    "operator": "REGEX",
                    "value": ".*" + re.escape(EMAIL_SUFFIX) + "$",
                },
                {
                    "property": "next_billing_date",
                    "operator": "LESS_THAN",
                    "value": BILLING_BEFORE.isoformat(),
                },
            ],
        },
    ],
}


class Flagsmith(Engine):
    name = "Flagsmith"
    distribution = "flagsmith-flag-engine"
    kind = PURE_PYTHON
    expression = (
        "flag_engine.segments.evaluator.is_context_in_segment(context, segment): three "
        "top-level rules (ALL, ANY, ALL) on identity traits"
    )
    differences = (
        "MRR is a float trait and its currency a separate trait the segment requires to be "
        "USD: a EUR MRR is FALSE here where seggraph says UNKNOWN (neither is a member).",
        "ENDS_WITH is the REGEX `.*\\.com$`; the date comparison is LESS_THAN on ISO date "
        "strings (Flagsmith has no suffix or date operators).",
    )

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        return [
            {
                "environment": ENVIRONMENT,
                "identity": {
                    "identifier": s.id,
                    "key": f"{ENVIRONMENT['key']}_{s.id}",
                    "traits": json_attributes(s),
                },
            }
            for s in population
        ]

    def run(self, prepared: Any) -> Sequence[Any]:
        segment = SEGMENT
        return [is_context_in_segment(context, segment) for context in prepared]


ENGINE = Flagsmith
