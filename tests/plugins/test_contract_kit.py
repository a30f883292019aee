"""The contract kit passes the example provider and fails deliberately broken ones, each for
the rule it breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pymongo.database import Database as SyncDatabase
from seggraph_support_tickets.plugin import SupportTicketsPlugin
from seggraph_support_tickets.store import COLLECTION

from seggraph.db import Database
from seggraph.domain.conditions import Money
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import MISSING
from seggraph.plugins.hookspecs import hookimpl
from seggraph.plugins.results import SubscriberFilter
from seggraph.testing import CHECKS, ContractReport, check_provider
from tests.plugins import broken
from tests.plugins.conftest import CommandLog
from tests.plugins.fakes import FakeProvider

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL = (
    EvaluationContext("kit_alice"),
    EvaluationContext("kit_bob", "sub_bob_1"),
    EvaluationContext("kit_carol"),
)


def ticket(n: int, who: str, status: str, priority: str, days_ago: int, **more: Any) -> dict:
    return {
        "_id": f"T-{n}",
        "subscriber_id": who,
        "status": status,
        "priority": priority,
        "tags": more.get("tags", []),
        "created_at": NOW - timedelta(days=days_ago),
        "satisfaction": more.get("satisfaction"),
    }


@pytest.fixture
def tickets(sync_db: SyncDatabase[dict[str, Any]]) -> None:
    sync_db[COLLECTION].delete_many({})
    sync_db[COLLECTION].insert_many(
        [
            ticket(1, "kit_alice", "open", "HIGH", 2, tags=["billing", "refund"]),
            ticket(2, "kit_alice", "pending", "URGENT", 40, tags=["Bug"], satisfaction=4),
            ticket(3, "kit_alice", "solved", "LOW", 5, satisfaction=5),
            ticket(4, "kit_bob", "closed", "NORMAL", 90, tags=["billing"]),
        ]
    )


async def test_the_example_provider_keeps_the_contract(
    tickets: None, database: tuple[Database, CommandLog]
) -> None:
    db, _ = database
    report = await check_provider(
        SupportTicketsPlugin(clock=lambda: NOW),
        [ALICE, BOB, CAROL],
        name="support_tickets",
        database=db,
        expected={
            ALICE: {
                "support.open_tickets": 2,
                "support.tickets_last_30_days": 2,
                "support.highest_open_priority": "URGENT",
                "support.tags": ["Bug", "billing", "refund"],
                "support.satisfaction": Decimal("4.50"),
                "support.last_ticket_at": NOW - timedelta(days=2),
            },
            BOB: {
                "support.open_tickets": 0,
                "support.highest_open_priority": MISSING,
                "support.satisfaction": MISSING,
            },
            CAROL: {
                "support.open_tickets": 0,
                "support.tags": [],
                "support.last_ticket_at": MISSING,
            },
        },
        prefixes=("", "b", "RE"),
        # Its translations select whom the evaluation finds TRUE: tags in any case.
        conditions=[
            'support.tags CONTAINS ANY ("BUG", "nothing")',
            'support.tags CONTAINS ALL ("billing", "Refund")',
            "support.tags IS NOT EMPTY",
        ],
    )
    report.assert_ok()
    # Every check but "directory": the example provider is not a subscriber directory.
    assert report.checks_run == [check for check in CHECKS if check != "directory"]


async def test_the_example_provider_reads_a_whole_batch_in_one_query(
    tickets: None, database: tuple[Database, CommandLog]
) -> None:
    db, log = database
    plugin = SupportTicketsPlugin(clock=lambda: NOW)
    await plugin.startup(db)
    contexts = [EvaluationContext(f"kit_{i}") for i in range(300)] + [ALICE, BOB]
    log.commands.clear()
    values = await plugin.resolve_properties(contexts, ["support.open_tickets", "support.tags"])
    assert log.finds(COLLECTION) == 1
    assert values[ALICE]["support.open_tickets"] == 2
    assert values[contexts[0]] == {"support.open_tickets": 0, "support.tags": []}


@pytest.mark.parametrize(
    ("provider", "check", "message"),
    [
        (broken.InvalidDefinitions(), "definitions", "'broken.plan': an ENUM must declare"),
        (broken.ForeignKeys(), "own_keys", "answered 'subscriber.mrr' for cus_1, a key it did not"),
        (broken.WrongTypes(), "value_types", "broken.count for cus_1: '1' is not a valid NUMBER"),
        (broken.ErrorsForStrangers(), "missing_vs_errors", "no data is not an error"),
        (broken.Placeholders(), "missing_vs_errors", "answered 'N/A', which looks like a place"),
        (broken.BatchDependent(), "batch_consistency", "broken.count for cus_1: 3 in a batch, 1"),
        (broken.SortedRows(), "batch_consistency", "in reverse order"),
        (broken.Raising(), "resolve_shape", "raised ConnectionError: no route to the ledger"),
        (broken.KeyedById(), "resolve_shape", "keyed by str 'cus_1': key it by the Evaluation"),
        (broken.BadSuggestions(), "suggestions", "'ENTERPRISE' is not a valid ENUM"),
        (broken.BadSuggestions(), "suggestions", "'pro' is not spelled as declared"),
        (broken.BadSuggestions(), "suggestions", "6 values, more than the 5 asked"),
        (broken.BadSuggestions(), "suggestions", "'Ada' does not start with the prefix"),
        (broken.Misspelled(), "registration", "unknown hook(s) resolve_properties_batch"),
        (broken.Unmarked(), "registration", "suggest_property_values is defined but not marked"),
        (broken.DefaultedParameter(), "registration", "parameter(s) settings have a default"),
    ],
)
async def test_the_kit_fails_a_broken_provider_for_the_rule_it_breaks(
    provider: object, check: str, message: str
) -> None:
    report = await check_provider(
        provider,
        [EvaluationContext("cus_1"), EvaluationContext("cus_2")],
        name="broken",
        prefixes=("", "z"),
    )
    assert not report.ok
    found = [str(p) for p in report.failed(check)]
    assert any(message in p for p in found), report.problems


async def test_the_kit_passes_the_correct_twin_of_the_broken_providers() -> None:
    report = await check_provider(
        broken.Correct(), [EvaluationContext("cus_1"), EvaluationContext("cus_2")]
    )
    report.assert_ok()


async def test_a_provider_breaking_many_rules_gets_every_one_reported() -> None:
    report = await check_provider(broken.Everything(), [EvaluationContext("cus_1")], name="mess")
    assert {p.check for p in report.problems} >= {
        "own_keys",
        "value_types",
        "missing_vs_errors",
        "suggestions",
    }
    with pytest.raises(AssertionError) as failure:
        report.assert_ok()
    text = str(failure.value)
    assert text.startswith("provider 'mess' breaks the seggraph plugin contract:\n  - [")
    assert text.count("\n  - ") == len(report.problems)


async def test_the_kit_is_also_a_pytest_fixture(provider_contract: Any) -> None:
    report: ContractReport = await provider_contract(broken.Correct(), [EvaluationContext("c")])
    assert report.ok


async def test_the_kit_checks_that_a_directory_describes_exactly_what_it_lists(
    sync_db: SyncDatabase[dict[str, Any]], database: tuple[Database, CommandLog]
) -> None:
    db, _ = database
    sync_db[broken.KeptDirectory.collection].delete_many({})
    sync_db[broken.KeptDirectory.collection].insert_many(
        [{"_id": f"cus_{i}", "open": i % 3 != 0} for i in range(1, 10)]
    )
    right = await check_provider(broken.KeptDirectory({"open": True}), [], database=db)
    right.assert_ok()
    assert "directory" in right.checks_run
    wrong = await check_provider(broken.KeptDirectory({}), [], database=db)
    assert [str(p) for p in wrong.problems] == [
        "[directory] directory_filter selects ids subscriber_ids does not list: "
        "['cus_3', 'cus_6', 'cus_9']"
    ]


async def test_expected_values_are_compared_as_the_server_reads_them() -> None:
    """An ENUM answered in lower case is its declared identifier, and a bare amount of a MONEY
    property declaring EUR is in EUR, for the kit as for the server; an amount in another
    currency is still a different value."""
    tier = PropertyDefinition(
        "loyalty.tier", "Tier", PropertyType.ENUM, enum_values=("SILVER", "GOLD")
    )
    balance = PropertyDefinition("loyalty.balance", "Balance", PropertyType.MONEY, currency="EUR")
    provider = FakeProvider(
        [tier, balance],
        {
            "cus_1": {"loyalty.tier": "gold", "loyalty.balance": 7},
            "cus_2": {"loyalty.tier": "SILVER", "loyalty.balance": Money(Decimal(7), "USD")},
        },
    )
    one, two = EvaluationContext("cus_1"), EvaluationContext("cus_2")
    report = await check_provider(
        provider,
        [one, two],
        expected={
            one: {"loyalty.tier": "GOLD", "loyalty.balance": Money(Decimal(7), "EUR")},
            two: {"loyalty.tier": "silver", "loyalty.balance": Money(Decimal(7), "USD")},
        },
    )
    report.assert_ok()
    wrong = await check_provider(
        provider,
        [two],
        expected={two: {"loyalty.balance": Decimal(7)}},  # 7 EUR
    )
    assert [str(p) for p in wrong.problems] == [
        "[expected_values] loyalty.balance for cus_2: expected Decimal('7'), "
        "got Money(amount=Decimal('7'), currency='USD')"
    ]


async def test_a_problem_met_on_every_call_is_listed_once() -> None:
    """The kit asks the provider many times (in a batch, each context alone, each key alone,
    in reverse order); a foreign key answered every time is one problem per context."""
    report = await check_provider(
        broken.ForeignKeys(), [EvaluationContext("cus_1"), EvaluationContext("cus_2")]
    )
    messages = [str(p) for p in report.failed("own_keys")]
    assert messages[:2] == [
        "[own_keys] answered 'subscriber.mrr' for cus_1, a key it did not declare",
        "[own_keys] answered 'subscriber.mrr' for cus_2, a key it did not declare",
    ]
    assert len(messages) == 3  # and once for the subscriber nobody knows


class Loyalty:
    """Tiers and points in a collection of its own, translated three ways: ``exact``; with the
    tier matched only as written (a stored ``"gold"`` is GOLD to the evaluation); with the
    condition's ``Decimal`` points sent as they are (no BSON type)."""

    collection = "kit_loyalty"

    def __init__(self, translation: str) -> None:
        self.translation = translation
        self.db: Any = None

    @hookimpl
    def startup(self, database: Database) -> None:
        self.db = database.db

    @hookimpl
    def register_properties(self, register: Any) -> None:
        register(
            PropertyDefinition(
                "loyalty.tier", "Tier", PropertyType.ENUM, enum_values=("SILVER", "GOLD")
            )
        )
        register(PropertyDefinition("loyalty.points", "Points", PropertyType.NUMBER))

    @hookimpl
    async def resolve_properties(self, contexts: Any, keys: Any) -> dict[Any, dict[str, Any]]:
        found = {
            d["_id"]: d
            async for d in self.db[self.collection].find(
                {"_id": {"$in": [c.subscriber_id for c in contexts]}}
            )
        }
        fields = {"loyalty.tier": "tier", "loyalty.points": "points"}
        return {
            c: {k: found.get(c.subscriber_id, {}).get(fields[k], MISSING) for k in keys}
            for c in contexts
        }

    @hookimpl
    def condition_to_filter(self, condition: Any) -> SubscriberFilter | None:
        if condition.operator.value not in ("EQ", "GTE"):
            return None
        if condition.property == "loyalty.tier":
            written = (
                [condition.value]
                if self.translation == "case_sensitive"
                else [
                    condition.value,
                    condition.value.lower(),
                ]
            )
            return SubscriberFilter(self.collection, {"tier": {"$in": written}})
        value = condition.value if self.translation == "decimal" else int(condition.value)
        return SubscriberFilter(self.collection, {"points": {"$gte": value}})


async def test_the_kit_checks_that_a_translation_selects_whom_the_evaluation_finds_true(
    sync_db: SyncDatabase[dict[str, Any]], database: tuple[Database, CommandLog]
) -> None:
    db, _ = database
    sync_db[Loyalty.collection].delete_many({})
    sync_db[Loyalty.collection].insert_many(
        [
            {"_id": "cus_1", "tier": "GOLD", "points": 900},
            {"_id": "cus_2", "tier": "gold", "points": 120},  # an enum stored in lower case
            {"_id": "cus_3", "tier": "SILVER", "points": 500},
        ]
    )
    people = [EvaluationContext(f"cus_{i}") for i in range(1, 5)]  # cus_4: nothing stored
    conditions = ['loyalty.tier = "GOLD"', "loyalty.points >= 500"]
    exact = await check_provider(Loyalty("exact"), people, database=db, conditions=conditions)
    exact.assert_ok()
    assert "translations" in exact.checks_run
    case = await check_provider(
        Loyalty("case_sensitive"), people, database=db, conditions=conditions
    )
    assert [str(p) for p in case.problems] == [
        "[translations] 'loyalty.tier = \"GOLD\"': the translation leaves out cus_2, whom the "
        "evaluation finds TRUE"
    ]
    decimal = await check_provider(Loyalty("decimal"), people, database=db, conditions=conditions)
    [problem] = [str(p) for p in decimal.problems]
    assert problem.startswith("[translations] 'loyalty.points >= 500': provider ")
    assert "its filter cannot be sent to the database" in problem
    refused = await check_provider(
        Loyalty("exact"), people, database=db, conditions=["loyalty.tier = GOLD AND"]
    )
    assert "does not parse" in str(refused.problems[0])
