"""JsonLogic (panzi-json-logic): a json-logic rule applied to each subscriber's data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from json_logic import jsonLogic

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

RULE: dict[str, Any] = {
    "and": [
        {">": [{"var": "mrr"}, float(MRR_OVER)]},
        {"===": [{"var": "mrr_currency"}, CURRENCY]},
        {"in": [{"var": "plan_interval"}, list(INTERVALS)]},
        {"or": [{"===": [{"var": "status"}, SAVED]}, {"===": [{"var": "is_free_trial"}, False]}]},
        {"in": [{"var": "country"}, list(COUNTRIES)]},
        {"===": [{"substr": [{"var": "email"}, -len(EMAIL_SUFFIX)]}, EMAIL_SUFFIX]},
        {"<": [{"var": "next_billing_date"}, BILLING_BEFORE.isoformat()]},
    ]
}


class JsonLogic(Engine):
    name = "JsonLogic"
    distribution = "panzi-json-logic"
    kind = PURE_PYTHON
    expression = (
        "json_logic.jsonLogic(rule, data): `and` of `>`, `===`, `in`, an `or`, `substr` for "
        "the suffix and `<` on ISO date strings"
    )
    differences = (
        "MRR is a float and its currency a separate field the rule requires to be USD: a EUR "
        "MRR is FALSE here where seggraph says UNKNOWN (neither is a member).",
        "Strict `===` for the boolean and strings: JsonLogic's loose `==` makes a missing "
        "is_free_trial equal to false (null == false), which the spec forbids.",
        'ENDS_WITH is `substr(email, -4) === ".com"` (JsonLogic has no suffix operator).',
    )

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        return [json_attributes(s) for s in population]

    def run(self, prepared: Any) -> Sequence[Any]:
        rule = RULE
        return [jsonLogic(rule, data) for data in prepared]


ENGINE = JsonLogic
