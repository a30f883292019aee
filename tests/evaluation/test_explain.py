"""Explanations and the causes of UNKNOWN results."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from seggraph.api.properties.types import PropertyValue
from seggraph.domain.conditions import (
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Money,
    Operator,
)
from seggraph.evaluation import (
    MISSING,
    ConditionExplanation,
    GroupExplanation,
    ResolvedValue,
    Truth,
    Unknown,
    UnknownCause,
    UnknownReason,
    ValueState,
)
from tests.evaluation.helpers import CATALOGUE, compile_one, evaluate_all_ways, options

TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
O = Operator  # noqa: E741

TREE = Group(
    Combinator.ALL,
    (
        Condition("n", O.GT, Decimal(100)),  # 0
        Group(  # 1
            Combinator.ANY,
            (
                Condition("s", O.EQ, "gold", case_insensitive=True),  # 1.0
                Condition("m", O.GTE, Money(Decimal(50))),  # 1.1
                Group(Combinator.NONE, (Condition("b", O.IS_TRUE),)),  # 1.2
            ),
        ),
        Condition("e", O.IN, ("ACTIVE", "SAVED")),  # 2
        Condition(SEGMENT_PROPERTY, O.IN_SEGMENT, "vip"),  # 3
    ),
)


def _conditions(node: GroupExplanation | ConditionExplanation) -> list[ConditionExplanation]:
    if isinstance(node, ConditionExplanation):
        return [node]
    return [c for child in node.children for c in _conditions(child)]


def test_explanation_shows_paths_values_results_and_providers() -> None:
    values = {
        "n": ResolvedValue(150, "billing", 12.5),
        "s": ResolvedValue("GOLD", "crm", 3.0),
        "m": Money(Decimal(10), "EUR"),
        "b": MISSING,
        "e": "saved",
    }
    truth, result = evaluate_all_ways(TREE, values, segment_results={"vip": Truth.TRUE})
    assert truth is TR
    root = result.explanation
    assert root is not None
    assert (root.path, root.combinator, root.result) == (("conditions",), Combinator.ALL, TR)
    inner = root.children[1]
    assert isinstance(inner, GroupExplanation)
    assert (inner.path, inner.combinator, inner.result) == (
        ("conditions", "children", 1),
        Combinator.ANY,
        TR,
    )
    by_path = {c.path: c for c in _conditions(root)}
    assert list(by_path) == [
        ("conditions", "children", 0),
        ("conditions", "children", 1, "children", 0),
        ("conditions", "children", 1, "children", 1),
        ("conditions", "children", 1, "children", 2, "children", 0),
        ("conditions", "children", 2),
        ("conditions", "children", 3),
    ]
    n = by_path["conditions", "children", 0]
    assert (n.property, n.operator, n.expected, n.actual, n.state, n.result) == (
        "n",
        O.GT,
        Decimal(100),
        150,
        ValueState.PRESENT,
        TR,
    )
    assert (n.provider, n.latency_ms, n.unknown) == ("billing", 12.5, None)
    s = by_path["conditions", "children", 1, "children", 0]
    assert (s.actual, s.result, s.case_insensitive, s.provider, s.latency_ms) == (
        "GOLD",
        TR,
        True,
        "crm",
        3.0,
    )
    # Evaluated although ANY was already TRUE: an explanation shows every condition.
    m = by_path["conditions", "children", 1, "children", 1]
    assert (m.state, m.result) == (ValueState.PRESENT, UN)
    assert m.unknown is not None and m.unknown.reason is UnknownReason.CURRENCY_MISMATCH
    assert "EUR" in m.unknown.detail and "USD" in m.unknown.detail
    b = by_path["conditions", "children", 1, "children", 2, "children", 0]
    assert (b.actual, b.state, b.result, b.provider) == (MISSING, ValueState.MISSING, FA, None)
    e = by_path["conditions", "children", 2]
    assert (e.expected, e.actual, e.result) == (("ACTIVE", "SAVED"), "SAVED", TR)  # as read
    vip = by_path["conditions", "children", 3]
    assert (vip.property, vip.expected, vip.actual, vip.result) == (
        SEGMENT_PROPERTY,
        "vip",
        TR,
        TR,
    )
    # TRUE despite an UNKNOWN condition: no causes to report.
    assert result.unknown_reasons == ()


def test_unknown_result_names_its_causes() -> None:
    timeout = Unknown(UnknownReason.TIMEOUT, "crm did not answer in 2s")
    values = {
        "n": ResolvedValue(timeout, "crm", 2000.0),
        "s": "silver",
        "m": Money(Decimal(10), "EUR"),
        "b": True,
        "e": "ACTIVE",
    }
    compiled = compile_one(TREE)
    plain = compiled.evaluate(values, subscriber_id="sub", segment_results={"vip": Truth.TRUE})
    explained = compiled.evaluate(
        values, subscriber_id="sub", segment_results={"vip": Truth.TRUE}, explain=True
    )
    assert plain.truth is explained.truth is UN
    assert not plain.is_member
    assert plain.explanation is None
    expected = (
        UnknownCause(
            ("conditions", "children", 0),
            "n",
            UnknownReason.TIMEOUT,
            "crm did not answer in 2s",
            "crm",
        ),
        UnknownCause(
            ("conditions", "children", 1, "children", 1),
            "m",
            UnknownReason.CURRENCY_MISMATCH,
            "the value is in EUR, the condition in USD",
            None,
        ),
    )
    assert plain.unknown_reasons == explained.unknown_reasons == expected
    assert explained.explanation is not None
    n = _conditions(explained.explanation)[0]
    assert (n.actual, n.state, n.unknown, n.provider, n.latency_ms) == (
        timeout,
        ValueState.UNKNOWN,
        timeout,
        "crm",
        2000.0,
    )


def test_type_error_is_explained() -> None:
    _, result = evaluate_all_ways(Condition("n", O.EQ, Decimal(1)), {"n": "1"})
    assert result.truth is UN
    (cause,) = result.unknown_reasons
    assert cause.reason is UnknownReason.TYPE_ERROR
    assert "number" in cause.detail
    assert result.explanation is not None
    (condition,) = result.explanation.children
    assert isinstance(condition, ConditionExplanation)
    assert (condition.actual, condition.state) == ("1", ValueState.PRESENT)


def test_false_result_reports_no_causes_even_with_unknown_conditions() -> None:
    tree = Group(Combinator.ALL, (Condition("n", O.GT, 1), Condition("s", O.EQ, "x")))
    values = {"n": Unknown(UnknownReason.PROVIDER_ERROR, "500"), "s": "y"}
    truth, explained = evaluate_all_ways(tree, values)
    assert truth is FA
    assert explained.unknown_reasons == ()
    assert [c.result for c in _conditions(explained.explanation)] == [UN, FA]


def test_explain_evaluates_past_the_short_circuit_with_the_same_truth() -> None:
    tree = Group(
        Combinator.ANY,
        (Condition("b", O.IS_TRUE), Condition("n", O.GT, 1), Condition("s", O.IS_SET)),
    )
    values = {"b": True, "n": 0, "s": Unknown(UnknownReason.TIMEOUT, "")}
    truth, explained = evaluate_all_ways(tree, values)
    assert truth is TR
    assert [c.result for c in _conditions(explained.explanation)] == [TR, FA, UN]


def test_a_bare_amount_of_a_property_declaring_a_currency_is_shown_in_that_currency() -> None:
    """``me`` declares EUR (the account is USD): the explanation shows the bare 7 the provider
    sent as 7 EUR, the amount the condition compared, and says why ``> 1`` (1 USD) is
    UNKNOWN. A value that carries its currency is shown as it came."""
    tree = Group(
        Combinator.ALL,
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), Condition("me", O.GT, Decimal(1))),
    )
    truth, result = evaluate_all_ways(tree, {"me": ResolvedValue(7, "ledger", 1.0)})
    assert truth is UN
    in_eur, in_usd = _conditions(result.explanation)
    assert in_eur.actual == in_usd.actual == Money(Decimal(7), "EUR")
    assert (in_eur.result, in_usd.result) == (TR, UN)
    assert in_usd.unknown == Unknown(
        UnknownReason.CURRENCY_MISMATCH, "the value is in EUR, the condition in USD"
    )
    _, result = evaluate_all_ways(tree, {"me": Money(Decimal(7), "USD")})
    assert _conditions(result.explanation)[0].actual == Money(Decimal(7), "USD")


def test_an_enum_value_in_another_case_is_shown_as_the_identifier_it_names() -> None:
    """``"saved"`` is the declared ``SAVED`` to a condition: the explanation shows ``SAVED``,
    what a client finds among the catalogue's ``enumValues``; a value that names none is
    shown as it came, beside why it is UNKNOWN."""
    tree = Group(Combinator.ALL, (Condition("e", O.IN, ("SAVED",)),))
    truth, result = evaluate_all_ways(tree, {"e": ResolvedValue("saved", "ledger", 1.0)})
    assert truth is TR
    assert _conditions(result.explanation)[0].actual == "SAVED"
    truth, result = evaluate_all_ways(tree, {"e": "paused"})
    assert truth is UN
    assert _conditions(result.explanation)[0].actual == "paused"


def test_a_date_time_is_shown_in_the_account_time_zone() -> None:
    """In Paris, 23:30 UTC on March 31 is April 1, the day ``ON 2024-04-01`` compares: the
    explanation shows that moment in Paris, whose date is the one compared (it showed
    ``2024-03-31T23:30:00+00:00``, a day the condition's TRUE seemed to contradict). A
    date-time without an offset is already in the account zone and is shown as it came, as
    is an unreadable one; ``properties`` shows the values the same way."""
    tree = Group(Combinator.ALL, (Condition("dt", O.ON, "2024-04-01"),))
    for sent in (datetime(2024, 3, 31, 23, 30, tzinfo=UTC), "2024-03-31T23:30:00Z"):
        truth, result = evaluate_all_ways(
            tree, {"dt": ResolvedValue(sent, "cdp", 1.0)}, tz="Europe/Paris"
        )
        assert truth is TR
        (shown,) = _conditions(result.explanation)
        assert shown.actual == datetime(2024, 4, 1, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))
        assert shown.actual.isoformat() == "2024-04-01T01:30:00+02:00"
        answered = PropertyValue.of(
            "dt", ResolvedValue(sent), CATALOGUE["dt"], options(tz="Europe/Paris")
        )
        assert answered.value == "2024-04-01T01:30:00+02:00"
    for sent in ("2024-04-01T01:30:00", datetime(2024, 4, 1, 1, 30), "2024-04-01", "garbage"):
        _, result = evaluate_all_ways(tree, {"dt": sent}, tz="Europe/Paris")
        assert _conditions(result.explanation)[0].actual == sent


def test_a_date_time_with_no_day_in_the_account_zone_says_so() -> None:
    """``9999-12-31T23:59:59Z`` is a date-time, but in Kathmandu (+05:45) it falls in year
    10000, which no calendar day holds: the condition is UNKNOWN (a type error), and the
    explanation said "expected an ISO-8601 date-time, got datetime datetime.datetime(9999, ...",
    as if the value were not one. It says why the value cannot be read: no calendar day in the
    account time zone."""
    tree = Group(Combinator.ALL, (Condition("dt", O.BEFORE, "2024-04-01"),))
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for sent, shown_as in ((late, late.isoformat()), ("9999-12-31T23:59:59Z", None)):
        truth, result = evaluate_all_ways(tree, {"dt": sent}, tz="Asia/Kathmandu")
        assert truth is UN
        (cause,) = _conditions(result.explanation)
        assert cause.unknown is not None
        assert cause.unknown.reason is UnknownReason.TYPE_ERROR
        written = shown_as or str(sent)
        assert cause.unknown.detail == (
            f"{written} has no calendar day in the account time zone Asia/Kathmandu "
            "(years 1 to 9999)"
        )
    # In UTC the same moment is a day, and an unreadable text is still named as such.
    truth, _ = evaluate_all_ways(tree, {"dt": late}, tz="UTC")
    assert truth is FA
    _, result = evaluate_all_ways(tree, {"dt": "2024-02-30T10:00:00Z"}, tz="Asia/Kathmandu")
    (cause,) = _conditions(result.explanation)
    assert cause.unknown is not None
    assert cause.unknown.detail.startswith("expected an ISO-8601 date-time")
