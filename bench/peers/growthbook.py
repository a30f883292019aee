"""GrowthBook: a MongoDB-style targeting condition, evaluated by ``evalCondition``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from growthbook.core import evalCondition

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

CONDITION: dict[str, Any] = {
    "mrr": {"$gt": float(MRR_OVER)},
    "mrr_currency": CURRENCY,
    "plan_interval": {"$in": list(INTERVALS)},
    "$or": [{"status": SAVED}, {"is_free_trial": False}],
    "country": {"$in": list(COUNTRIES)},
    "email": {"$regex": re.escape(EMAIL_SUFFIX) + "$"},
    "next_billing_date": {"$lt": BILLING_BEFORE.isoformat()},
}


class GrowthBook(Engine):
    name = "GrowthBook"
    distribution = "growthbook"
    kind = PURE_PYTHON
    expression = (
        "growthbook.core.evalCondition(attributes, condition), a MongoDB-style condition "
        "(`$gt`, `$in`, `$or`, `$regex`, `$lt` on ISO date strings)"
    )
    differences = (
        "MRR is a float and its currency a separate attribute the condition requires to be USD: "
        "a EUR MRR is FALSE here where seggraph says UNKNOWN (neither is a member).",
        "ENDS_WITH is the regular expression `\\.com$` (GrowthBook has no suffix operator).",
    )

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        return [json_attributes(s) for s in population]

    def run(self, prepared: Any) -> Sequence[Any]:
        condition = CONDITION
        return [evalCondition(attributes, condition) for attributes in prepared]


ENGINE = GrowthBook
