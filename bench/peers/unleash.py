"""Unleash's yggdrasil engine (Rust): a feature whose strategies carry constraints, checked per
context through the Python binding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from yggdrasil_engine.engine import UnleashEngine

from ..engines import NATIVE, Engine
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

FEATURE = "high-value-offer"


def _rfc3339(day: Any) -> str:
    return midnight_utc(day).isoformat().replace("+00:00", "Z")


# A strategy's constraints are ANDed and a feature's strategies ORed, with no nesting, so the
# nested ANY is distributed over two strategies that share the other constraints.
_BASE = [
    {"contextName": "mrr", "operator": "NUM_GT", "value": str(MRR_OVER)},
    {"contextName": "mrr_currency", "operator": "IN", "values": [CURRENCY]},
    {"contextName": "plan_interval", "operator": "IN", "values": list(INTERVALS)},
    {"contextName": "country", "operator": "IN", "values": list(COUNTRIES)},
    {"contextName": "email", "operator": "STR_ENDS_WITH", "values": [EMAIL_SUFFIX]},
    {
        "contextName": "next_billing_date",
        "operator": "DATE_BEFORE",
        "value": _rfc3339(BILLING_BEFORE),
    },
]
STATE = {
    "version": 1,
    "features": [
        {
            "name": FEATURE,
            "enabled": True,
            "strategies": [
                {
                    "name": "default",
                    "parameters": {},
                    "constraints": [
                        *_BASE,
                        {"contextName": "status", "operator": "IN", "values": [SAVED]},
                    ],
                },
                {
                    "name": "default",
                    "parameters": {},
                    "constraints": [
                        *_BASE,
                        {"contextName": "is_free_trial", "operator": "IN", "values": ["false"]},
                    ],
                },
            ],
        }
    ],
}


class Unleash(Engine):
    name = "Unleash yggdrasil"
    distribution = "yggdrasil-engine"
    kind = NATIVE
    expression = (
        "yggdrasil_engine's UnleashEngine.check_enabled(feature, context): two `default` "
        "strategies with constraints (NUM_GT, IN, STR_ENDS_WITH, DATE_BEFORE)"
    )
    differences = (
        "Context properties are strings: MRR is parsed as a float by NUM_GT, with its currency "
        "a separate property constrained to USD: a EUR MRR is FALSE here where seggraph says "
        "UNKNOWN (neither is a member).",
        "Constraints cannot nest, so ALL(..., ANY(a, b), ...) is two strategies, (... a ...) "
        "OR (... b ...): the shared constraints are checked again when the first fails on a/b.",
        "The date is an RFC 3339 instant at midnight UTC (the account time zone here).",
        "The rules run in Rust, but every call serialises the context to JSON, crosses ctypes "
        "and parses the JSON answer: that, not the matching, is most of its time.",
    )

    def __init__(self) -> None:
        self.engine = UnleashEngine()
        warnings = self.engine.take_state(json.dumps(STATE))
        if warnings:
            raise RuntimeError(f"yggdrasil refused the feature: {warnings}")

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        contexts = []
        for s in population:
            properties: dict[str, str] = {}
            if s.mrr is not None:
                properties["mrr"] = str(s.mrr)
                properties["mrr_currency"] = s.currency
            for name, value in (
                ("plan_interval", s.interval),
                ("status", s.status),
                ("country", s.country),
                ("email", s.email),
            ):
                if value is not None:
                    properties[name] = value
            if s.is_free_trial is not None:
                properties["is_free_trial"] = "true" if s.is_free_trial else "false"
            if s.next_billing_date is not None:
                properties["next_billing_date"] = _rfc3339(s.next_billing_date)
            contexts.append({"userId": s.id, "properties": properties})
        return contexts

    def run(self, prepared: Any) -> Sequence[Any]:
        check = self.engine.check_enabled
        return [check(FEATURE, context).is_enabled for context in prepared]


ENGINE = Unleash
