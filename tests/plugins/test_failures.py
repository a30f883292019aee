"""A provider that raises, hangs, fails to start or declares nonsense is reported by name; its
keys are UNKNOWN with the reason, and the other providers keep answering."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from seggraph import hookimpl
from seggraph.catalogue import DuplicatePropertyError
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import MISSING, ProviderError, ProviderStatus, Unknown, UnknownReason
from seggraph.plugins.manager import PluginManager
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.plugins import fakes
from tests.plugins.conftest import BROKEN_IMPORT, FakeDistribution
from tests.plugins.fakes import FailingStartup, FakeProvider, StubbornProvider, number, text

A, B = EvaluationContext("sub_a"), EvaluationContext("sub_b")


def manager_with(*plugins: tuple[str, object], **settings: Any) -> PluginManager:
    """Short provider timeouts, so the hanging providers below cost little."""
    return fakes.manager_with(*plugins, **{"provider_timeout_seconds": 0.3, **settings})


def healthy() -> FakeProvider:
    return FakeProvider([number("alpha.count")], {"sub_a": {"alpha.count": 3}})


async def test_a_provider_that_raises_yields_unknown_for_its_keys_only() -> None:
    broken = FakeProvider([text("beta.name")], fail=RuntimeError("ledger offline"))
    manager = manager_with(("alpha", healthy()), ("beta", broken))
    values = await manager.resolve(manager.build_catalogue(), [A, B], ["alpha.count", "beta.name"])
    assert values[A]["alpha.count"].value == 3
    assert values[B]["alpha.count"].value is MISSING
    for context in (A, B):
        unknown = values[context]["beta.name"]
        assert unknown.provider == "beta"
        assert unknown.value == Unknown(
            UnknownReason.PROVIDER_ERROR, "provider 'beta' failed: RuntimeError: ledger offline"
        )
    info = manager.info("beta")
    assert info is not None and info.failures_in_row == 1
    assert info.last_error == "provider 'beta' failed: RuntimeError: ledger offline"
    assert info.status is ProviderStatus.OK  # one failure is not yet a pattern


async def test_a_provider_that_hangs_times_out_without_holding_up_the_others() -> None:
    slow = FakeProvider([text("beta.name")], delay=3600)
    stubborn = StubbornProvider([text("gamma.name")])
    manager = manager_with(("alpha", healthy()), ("beta", slow), ("gamma", stubborn))
    started = time.monotonic()
    values = await manager.resolve(
        manager.build_catalogue(), [A], ["alpha.count", "beta.name", "gamma.name"]
    )
    assert time.monotonic() - started < 0.9  # 0.3 s timeout; the stubborn one is not awaited
    assert values[A]["alpha.count"].value == 3
    for key, name in (("beta.name", "beta"), ("gamma.name", "gamma")):
        assert values[A][key].value == Unknown(
            UnknownReason.TIMEOUT, f"provider {name!r} did not answer within 0.3s"
        )


async def test_failures_in_a_row_put_a_provider_in_a_cool_down_shown_as_degraded() -> None:
    now = [1000.0]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        plugins=[],
        provider_failure_threshold=2,
        provider_cooldown_seconds=30,
    )
    manager = PluginManager(settings, clock=lambda: now[0])
    flaky = FakeProvider([number("beta.count")], {"sub_a": {"beta.count": 7}}, fail=OSError("down"))
    manager.add_plugin(flaky, name="beta")
    catalogue = manager.build_catalogue()

    for _ in range(2):
        await manager.resolve(catalogue, [A], ["beta.count"])
    assert len(flaky.calls) == 2
    info = manager.info("beta")
    assert info is not None and info.status is ProviderStatus.DEGRADED
    assert info.failures_in_row == 2 and info.degraded_until is not None

    skipped = await manager.resolve(catalogue, [A], ["beta.count"])
    assert len(flaky.calls) == 2  # not called during the cool-down
    unknown = skipped[A]["beta.count"].value
    assert isinstance(unknown, Unknown) and unknown.reason is UnknownReason.PROVIDER_ERROR
    assert "is skipped until" in unknown.detail and "OSError: down" in unknown.detail

    now[0] += 31
    flaky.fail = None
    recovered = await manager.resolve(catalogue, [A], ["beta.count"])
    assert recovered[A]["beta.count"].value == 7
    info = manager.info("beta")
    assert info is not None and info.status is ProviderStatus.OK and info.failures_in_row == 0


async def test_a_failure_is_logged_naming_its_provider_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, plugins=[], provider_failure_threshold=2, provider_cooldown_seconds=30
    )
    manager = PluginManager(settings, clock=lambda: 1000.0)
    manager.add_plugin(FakeProvider([number("beta.count")], fail=OSError("down")), name="beta")
    catalogue = manager.build_catalogue()
    with caplog.at_level(logging.WARNING, logger="seggraph.plugins.manager"):
        for _ in range(2):
            await manager.resolve(catalogue, [A], ["beta.count"])
    assert [r.getMessage() for r in caplog.records] == [
        "provider 'beta' failed: OSError: down",
        "provider 'beta' failed: OSError: down (2 failed calls in a row: skipped for 30s)",
    ]


async def test_the_first_failure_in_a_row_logs_where_in_the_plugin_it_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ "provider 'beta' failed: KeyError: 'points'" alone does not say which line of the
    plugin raised: the first failure of a run logs the traceback, the next ones do not."""

    class Buggy(FakeProvider):
        @hookimpl
        async def resolve_properties(self, contexts: Any, keys: Any) -> Any:  # type: ignore[override]
            return {c: {"beta.count": {}["points"]} for c in contexts}

    manager = manager_with(("beta", Buggy([number("beta.count")])))
    catalogue = manager.build_catalogue()
    with caplog.at_level(logging.WARNING, logger="seggraph.plugins.manager"):
        for _ in range(2):
            await manager.resolve(catalogue, [A], ["beta.count"])
    first, second = caplog.records
    assert first.getMessage() == "provider 'beta' failed: KeyError: 'points'"
    assert first.exc_info is not None
    assert 'return {c: {"beta.count": {}["points"]}' in caplog.text  # the plugin's own line
    assert second.exc_info is None


async def test_answers_per_value_keep_missing_apart_from_errors() -> None:
    class Mixed(FakeProvider):
        @hookimpl
        async def resolve_properties(self, contexts: Any, keys: Any) -> Any:  # type: ignore[override]
            return [
                {"beta.a": 1, "beta.b": None, "beta.c": ProviderError("row is corrupt")},
                {"beta.a": ValueError("bad number")},
            ]

    provider = Mixed([number("beta.a"), number("beta.b"), number("beta.c")])
    manager = manager_with(("beta", provider))
    values = await manager.resolve(
        manager.build_catalogue(), [A, B], ["beta.a", "beta.b", "beta.c"]
    )
    assert values[A]["beta.a"].value == 1
    assert values[A]["beta.b"].value is MISSING
    assert values[A]["beta.c"].value == Unknown(UnknownReason.PROVIDER_ERROR, "row is corrupt")
    assert values[B]["beta.a"].value == Unknown(
        UnknownReason.PROVIDER_ERROR, "ValueError: bad number"
    )
    assert values[B]["beta.b"].value is MISSING  # left out: missing
    assert manager.info("beta").failures_in_row == 0  # type: ignore[union-attr]


async def test_an_answer_of_the_wrong_shape_is_a_provider_error() -> None:
    class Wrong(FakeProvider):
        @hookimpl
        async def resolve_properties(self, contexts: Any, keys: Any) -> Any:  # type: ignore[override]
            return [{"beta.a": 1}]  # one row for two contexts

    manager = manager_with(("beta", Wrong([number("beta.a")])))
    values = await manager.resolve(manager.build_catalogue(), [A, B], ["beta.a"])
    unknown = values[A]["beta.a"].value
    assert isinstance(unknown, Unknown)
    assert "answered 1 rows for 2 contexts" in unknown.detail


async def test_an_answer_keyed_by_subscriber_id_is_a_provider_error_not_missing() -> None:
    class ById(FakeProvider):
        @hookimpl
        async def resolve_properties(self, contexts: Any, keys: Any) -> Any:  # type: ignore[override]
            return {context.subscriber_id: {"beta.a": 1} for context in contexts}

    manager = manager_with(("beta", ById([number("beta.a")])))
    values = await manager.resolve(manager.build_catalogue(), [A, B], ["beta.a"])
    for context in (A, B):
        unknown = values[context]["beta.a"].value
        assert isinstance(unknown, Unknown)
        assert unknown.reason is UnknownReason.PROVIDER_ERROR
        assert "keyed by str 'sub_a'" in unknown.detail
        assert "EvaluationContext" in unknown.detail


async def test_a_provider_that_fails_to_start_is_failed_and_its_keys_unknown(
    settings: Settings, mongo_uri: str
) -> None:
    from seggraph.db import Database
    from seggraph.services.container import Services

    manager = manager_with(
        ("alpha", healthy()), ("tickets", FailingStartup([number("tickets.open")]))
    )
    database = Database(mongo_uri, settings.database)
    try:
        await manager.startup(database, Services.build(settings, database))
    finally:
        await database.close()
    info = manager.info("tickets")
    assert info is not None and info.status is ProviderStatus.FAILED
    assert info.last_error == "failed to start: ConnectionError: cannot reach the ticket system"
    catalogue = manager.build_catalogue()
    assert "tickets.open" in catalogue  # still declared, so segments using it stay valid
    values = await manager.resolve(catalogue, [A], ["tickets.open", "alpha.count"])
    assert values[A]["tickets.open"].value == Unknown(
        UnknownReason.PROVIDER_ERROR,
        "provider 'tickets' failed to start: ConnectionError: cannot reach the ticket system",
    )
    assert values[A]["alpha.count"].value == 3


def test_invalid_definitions_fail_their_provider_only() -> None:
    nonsense = FakeProvider(
        [
            PropertyDefinition("Beta Plan", "", PropertyType.TEXT),
            PropertyDefinition("beta.tier", "Tier", PropertyType.ENUM),
            PropertyDefinition("beta.mrr", "MRR", PropertyType.NUMBER, currency="usd"),
            PropertyDefinition("beta.fee", "Fee", PropertyType.MONEY, currency="XYZ"),
            PropertyDefinition("beta.seats", "Seats", PropertyType.NUMBER, read_group=3),  # type: ignore[arg-type]
        ]
    )
    manager = manager_with(("alpha", healthy()), ("beta", nonsense))
    catalogue = manager.build_catalogue()
    assert [d.key for d in catalogue] == ["alpha.count"]
    error = manager.info("beta").last_error or ""  # type: ignore[union-attr]
    assert manager.info("beta").status is ProviderStatus.FAILED  # type: ignore[union-attr]
    assert "'Beta Plan': the key must be lower-case dotted words" in error
    assert "'Beta Plan': the label must not be blank" in error
    assert "'beta.tier': an ENUM must declare at least one value" in error
    assert "'beta.mrr': currency must be an ISO 4217 code, and only on a MONEY property" in error
    assert "'beta.fee': currency must be an ISO 4217 code" in error  # the shape of one only
    assert "'beta.seats': read_group must be a string" in error


def test_two_providers_declaring_one_key_refuse_the_catalogue_naming_both() -> None:
    manager = manager_with(("alpha", healthy()), ("copycat", FakeProvider([number("alpha.count")])))
    try:
        manager.build_catalogue()
    except DuplicatePropertyError as exc:
        assert str(exc) == (
            "property 'alpha.count' is declared by both 'alpha' and 'copycat'; "
            "each key must belong to exactly one provider"
        )
    else:
        raise AssertionError("the duplicate key was accepted")


async def test_the_server_refuses_to_start_when_two_providers_declare_one_key(
    settings: Settings,
) -> None:
    from seggraph.app import StartupRefused, create_app

    app = create_app(
        settings.model_copy(update={"plugins": []}),
        extra_plugins=[("alpha", healthy()), ("copycat", FakeProvider([number("alpha.count")]))],
    )
    # The ASGI lifespan as uvicorn drives it: it logs the failure's message, which was
    # Starlette's traceback and now is the reason alone.
    received = [{"type": "lifespan.startup"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return received.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(StartupRefused):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "seggraph did not start: property 'alpha.count' is declared by both "
            "'alpha' and 'copycat'; each key must belong to exactly one provider",
        }
    ]


def test_over_http_broken_plugins_are_reported_and_the_others_keep_answering(
    settings: Settings, start_live_server: Any, fake_distribution: FakeDistribution
) -> None:
    fake_distribution(
        "broken-tickets",
        "1.2.3",
        {"broken_tickets": "seggraph_test_broken"},
        {"seggraph_test_broken": BROKEN_IMPORT},
    )
    server: LiveServer = start_live_server(
        settings.model_copy(
            update={"plugins": ["broken_tickets"], "provider_timeout_seconds": 0.3}
        ),
        extra_plugins=[
            ("alpha", healthy()),
            ("raising", FakeProvider([text("raising.name")], fail=KeyError("customer"))),
            ("hanging", FakeProvider([text("hanging.name")], delay=3600)),
        ],
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        gql = GraphQLClient(http)
        providers = gql.query("{ providers { name version status lastError failuresInRow } }")
        by_name = {p["name"]: p for p in providers["providers"]}
        assert by_name["broken_tickets"] == {
            "name": "broken_tickets",
            "version": "1.2.3",
            "status": "FAILED",
            "lastError": "could not be imported: RuntimeError: the ticket SDK is not configured",
            "failuresInRow": 0,
        }
        query = """{ propertyValues(subscriberIds: ["sub_a"],
                     keys: ["alpha.count", "raising.name", "hanging.name"]) {
                       subscriberId values { key state value unknownReason detail provider } } }"""
        for _ in range(2):  # and again: still answering
            row = gql.query(query)["propertyValues"][0]
            values = {v["key"]: v for v in row["values"]}
            assert values["alpha.count"]["state"] == "PRESENT"
            assert values["alpha.count"]["value"] == 3
            assert values["raising.name"] == {
                "key": "raising.name",
                "state": "UNKNOWN",
                "value": None,
                "unknownReason": "PROVIDER_ERROR",
                "detail": "provider 'raising' failed: KeyError: 'customer'",
                "provider": "raising",
            }
            assert values["hanging.name"]["unknownReason"] == "TIMEOUT"
            assert values["hanging.name"]["detail"] == (
                "provider 'hanging' did not answer within 0.3s"
            )
        # A request waits for a shared provider call for at most its timeout, counted from
        # when it asked; the call's own timeout starts a few event-loop turns later, when the
        # call starts, and only then is the hanging provider's failure counted: a moment after
        # the request has answered TIMEOUT. So the second failure may still be on its way.
        deadline = time.monotonic() + 5
        while True:
            providers = gql.query("{ providers { name status lastError failuresInRow } }")
            by_name = {p["name"]: p for p in providers["providers"]}
            if by_name["hanging"]["failuresInRow"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert by_name["raising"]["failuresInRow"] == 2
        assert by_name["raising"]["lastError"] == "provider 'raising' failed: KeyError: 'customer'"
        assert by_name["hanging"]["failuresInRow"] == 2
        assert by_name["alpha"]["status"] == "OK" and by_name["alpha"]["lastError"] is None


def test_segments_on_a_provider_that_is_gone_are_unknown_and_the_others_still_answer(
    gql: GraphQLClient, settings: Settings, start_live_server: Any
) -> None:
    """A saved segment outlives its provider (disabled here; uninstalled, failed to import or
    no longer declaring the key alike): its conditions are UNKNOWN, naming why, and every other
    segment of the same question still answers. It failed the whole question before."""
    create = (
        "mutation($text: String!, $name: String!) { createSegment(input: {name: $name, "
        'conditionsText: $text, tags: ["gone"]}) { segment { id } userErrors { message } } }'
    )
    ids = {}
    for name, conditions in (
        ("on crm", 'crm.country = "US" OR subscriber.mrr > 1'),
        ("on billing only", "subscriber.mrr IS NOT SET"),
    ):
        payload = gql.query(create, {"text": conditions, "name": name})["createSegment"]
        assert payload["userErrors"] == []
        ids[name] = payload["segment"]["id"]
    server: LiveServer = start_live_server(settings.model_copy(update={"disable_plugins": ["crm"]}))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        without_crm = GraphQLClient(http)
        answer = without_crm.query(
            """{ subscriber(id: "cus_1") { segments(tags: ["gone"], includeNonMembers: true) {
                   segment { name } result unknownReasons { path property reason detail } } } }"""
        )
        results = {m["segment"]["name"]: m for m in answer["subscriber"]["segments"]}
        assert results["on billing only"]["result"] == "MEMBER"
        assert results["on crm"]["result"] == "UNKNOWN"
        [reason] = results["on crm"]["unknownReasons"]
        assert reason["property"] == "crm.country" and reason["reason"] == "PROVIDER_ERROR"
        assert "no property 'crm.country' in the catalogue" in reason["detail"]
        evaluation = without_crm.query(
            'query($id: ID!) { segment(id: $id) { evaluate(subscriberId: "cus_1", explain: true)'
            " { result explanation { conditions { property result unknownDetail } } } } }",
            {"id": ids["on crm"]},
        )["segment"]["evaluate"]
        assert evaluation["result"] == "UNKNOWN"
        assert [c["result"] for c in evaluation["explanation"]["conditions"]] == [
            "UNKNOWN",
            "FALSE",
        ]
        count = without_crm.query(
            "query($id: ID!) { segment(id: $id) { memberCount { members } } }",
            {"id": ids["on crm"]},
        )
        assert count["segment"]["memberCount"]["members"] == 0
    # The server with every provider answers as before.
    answer = gql.query('{ subscriber(id: "cus_1") { segments(tags: ["gone"]) { result } } }')
    assert answer["subscriber"]["segments"] == [{"result": "MEMBER"}]


def test_a_value_evaluation_cannot_read_is_shown_present_with_type_error(
    settings: Settings, start_live_server: Any
) -> None:
    """What a provider sent that is not of its property's type (a numeric string for a
    NUMBER, an undeclared ENUM value) is present, and a condition on it is UNKNOWN: the values
    answer says so too, where it said PRESENT alone."""
    tier = PropertyDefinition("odd.tier", "Tier", PropertyType.ENUM, enum_values=("GOLD",))
    provider = FakeProvider(
        [number("odd.seats"), tier, number("odd.fine")],
        {"sub_a": {"odd.seats": "12", "odd.tier": "PLATINUM", "odd.fine": 3}},
    )
    server: LiveServer = start_live_server(
        settings.model_copy(update={"plugins": []}), extra_plugins=[("odd", provider)]
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        gql = GraphQLClient(http)
        keys = ["odd.seats", "odd.tier", "odd.fine"]
        answers = [
            gql.query(
                'query($keys: [String!]!) { subscriber(id: "sub_a") { properties(keys: $keys)'
                " { key state value unknownReason detail } } }",
                {"keys": keys},
            )["subscriber"]["properties"],
            gql.query(
                'query($keys: [String!]!) { propertyValues(subscriberIds: ["sub_a"], '
                "keys: $keys) { values { key state value unknownReason detail } } }",
                {"keys": keys},
            )["propertyValues"][0]["values"],
        ]
        for answer in answers:
            by_key = {row["key"]: row for row in answer}
            assert by_key["odd.seats"]["state"] == "PRESENT"
            assert by_key["odd.seats"]["value"] == "12"
            assert by_key["odd.seats"]["unknownReason"] == "TYPE_ERROR"
            assert by_key["odd.tier"]["unknownReason"] == "TYPE_ERROR"
            assert "PLATINUM" in by_key["odd.tier"]["detail"]
            assert by_key["odd.fine"] == {
                "key": "odd.fine",
                "state": "PRESENT",
                "value": 3,
                "unknownReason": None,
                "detail": None,
            }


class Suggesting(FakeProvider):
    """Suggests ``suggested``, or raises ``fail`` / sleeps ``delay`` first (as its values)."""

    def __init__(
        self, definitions: list[PropertyDefinition], suggested: list[str], **failing: Any
    ) -> None:
        super().__init__(definitions, **failing)
        self.suggested = suggested

    @hookimpl
    async def suggest_property_values(self, prefix: str) -> list[str]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return [value for value in self.suggested if value.startswith(prefix)]


def test_value_suggestions_of_a_failing_provider_are_an_error_naming_it_not_an_empty_list(
    settings: Settings, start_live_server: Any
) -> None:
    """A provider whose suggestions raised or ran late (the support tickets' tags while the
    database hung) answered [], which a condition editor shows as "no values". It is an error
    at the field (PROVIDER_ERROR or TIMEOUT, naming the provider), as memberCount's is; an
    ENUM still gets its declared values, and a provider that answers none answers []."""
    tier = PropertyDefinition("raising.tier", "Tier", PropertyType.ENUM, enum_values=("GOLD",))
    server: LiveServer = start_live_server(
        settings.model_copy(
            update={
                "plugins": [],
                "provider_timeout_seconds": 0.3,
                "provider_failure_threshold": 3,
                "provider_cooldown_seconds": 3600,
            }
        ),
        extra_plugins=[
            ("alpha", Suggesting([text("alpha.tags")], ["billing", "bug"])),
            ("raising", Suggesting([text("raising.tags"), tier], [], fail=OSError("db down"))),
            ("hanging", Suggesting([text("hanging.tags")], ["x"], delay=3600)),
        ],
    )
    query = (
        "query($key: String!, $prefix: String!) { "
        "propertyValueSuggestions(key: $key, prefix: $prefix) { value } }"
    )

    def suggested(http: httpx.Client, key: str, prefix: str = "") -> dict[str, Any]:
        variables = {"key": key, "prefix": prefix}
        answer = http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = answer.json()
        return body

    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert suggested(http, "alpha.tags", "b")["data"] == {
            "propertyValueSuggestions": [{"value": "billing"}, {"value": "bug"}]
        }
        assert suggested(http, "alpha.tags", "z") == {"data": {"propertyValueSuggestions": []}}

        raised = suggested(http, "raising.tags")
        assert raised["data"] is None
        [error] = raised["errors"]
        assert error["path"] == ["propertyValueSuggestions"]
        assert error["extensions"]["code"] == "PROVIDER_ERROR"
        assert error["message"] == "provider 'raising': could not suggest values: OSError: db down"

        late = suggested(http, "hanging.tags")
        assert late["data"] is None
        [error] = late["errors"]
        assert error["extensions"]["code"] == "TIMEOUT"
        assert error["message"] == (
            "provider 'hanging': could not suggest values: did not answer within 0.3s"
        )

        # An ENUM's declared values are what seggraph offers on its own: still offered.
        assert suggested(http, "raising.tier")["data"] == {
            "propertyValueSuggestions": [{"value": "GOLD"}]
        }
        # Its third failure in a row (the ENUM's call was the second) put it in its cool-down:
        # skipped, and still said so.
        suggested(http, "raising.tags")
        skipped = suggested(http, "raising.tags")
        [error] = skipped["errors"]
        assert error["extensions"]["code"] == "PROVIDER_ERROR"
        assert "is skipped until" in error["message"]
        assert "OSError: db down" in error["message"]
        providers = GraphQLClient(http).query("{ providers { name status lastError } }")
        by_name = {p["name"]: p for p in providers["providers"]}
        assert by_name["raising"]["status"] == "DEGRADED"
        assert by_name["hanging"]["lastError"] == (
            "provider 'hanging' could not suggest values: did not answer within 0.3s"
        )
