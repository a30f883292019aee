"""LaunchDarkly: a segment of rules and clauses, matched by the server SDK's evaluator on
contexts through a flag that targets it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ldclient.context import Context
from ldclient.impl.evaluator import Evaluator
from ldclient.impl.events.types import EventFactory
from ldclient.impl.model import FeatureFlag, Segment

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
from . import midnight_utc

# A segment's rules are ORed and a rule's clauses ANDed, so the nested ANY is its own segment
# of two rules, which the main segment's rule references with a segmentMatch clause.
ENGAGED = {
    "key": "engaged",
    "version": 1,
    "salt": "engaged",
    "rules": [
        {"id": "saved", "clauses": [{"attribute": "status", "op": "in", "values": [SAVED]}]},
        {
            "id": "paying",
            "clauses": [{"attribute": "is_free_trial", "op": "in", "values": [False]}],
        },
    ],
}
HIGH_VALUE = {
    "key": "high-value",
    "version": 1,
    "salt": "high-value",
    "rules": [
        {
            "id": "all",
            "clauses": [
                {"attribute": "mrr", "op": "greaterThan", "values": [float(MRR_OVER)]},
                {"attribute": "mrr_currency", "op": "in", "values": [CURRENCY]},
                {"attribute": "plan_interval", "op": "in", "values": list(INTERVALS)},
                {"attribute": "", "op": "segmentMatch", "values": ["engaged"]},
                {"attribute": "country", "op": "in", "values": list(COUNTRIES)},
                {"attribute": "email", "op": "endsWith", "values": [EMAIL_SUFFIX]},
                {
                    "attribute": "next_billing_date",
                    "op": "before",
                    "values": [midnight_utc(BILLING_BEFORE).isoformat().replace("+00:00", "Z")],
                },
            ],
        }
    ],
}
FLAG = {
    "key": "high-value-offer",
    "version": 1,
    "on": True,
    "salt": "high-value-offer",
    "variations": [True, False],
    "offVariation": 1,
    "fallthrough": {"variation": 1},
    "rules": [
        {
            "id": "in-segment",
            "variation": 0,
            "clauses": [{"attribute": "", "op": "segmentMatch", "values": ["high-value"]}],
        }
    ],
}


class LaunchDarkly(Engine):
    name = "LaunchDarkly"
    distribution = "launchdarkly-server-sdk"
    kind = PURE_PYTHON
    expression = (
        "ldclient's Evaluator.evaluate(flag, context): a flag whose rule matches a segment of "
        "seven clauses, one a segmentMatch on a two-rule segment (the nested ANY)"
    )
    differences = (
        "MRR is a float attribute and its currency a separate attribute the segment requires "
        "to be USD: a EUR MRR is FALSE here where seggraph says UNKNOWN (neither is a member).",
        "The date is a timestamp (milliseconds, midnight UTC) compared with `before`; calendar "
        "days in UTC, the account time zone here, give the same order.",
        "Evaluation goes through a flag (the SDK evaluates segments for flags), which adds one "
        "rule and a variation lookup per subscriber.",
    )

    def __init__(self) -> None:
        segments = {s["key"]: Segment(s) for s in (ENGAGED, HIGH_VALUE)}
        self.flag = FeatureFlag(FLAG)
        self.evaluator = Evaluator(
            lambda key: None, segments.get, lambda key: (None, "NOT_CONFIGURED")
        )
        self.events = EventFactory(False)

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        contexts = []
        for s in population:
            builder = Context.builder(s.id)
            if s.mrr is not None:
                builder.set("mrr", float(s.mrr)).set("mrr_currency", s.currency)
            for name, value in (
                ("plan_interval", s.interval),
                ("status", s.status),
                ("is_free_trial", s.is_free_trial),
                ("country", s.country),
                ("email", s.email),
            ):
                if value is not None:
                    builder.set(name, value)
            if s.next_billing_date is not None:
                millis = int(midnight_utc(s.next_billing_date).timestamp() * 1000)
                builder.set("next_billing_date", millis)
            contexts.append(builder.build())
        return contexts

    def run(self, prepared: Any) -> Sequence[Any]:
        evaluate, flag, events = self.evaluator.evaluate, self.flag, self.events
        # The detail is always set once evaluate() returns (None only while it runs).
        return [
            evaluate(flag, context, events).detail.value  # type: ignore[union-attr]
            for context in prepared
        ]


ENGINE = LaunchDarkly
