"""A question about a subscriber's segments starts reading its values while the request's
snapshot is read (``seggraph.api.prefetch``): the two reads overlap, and the answers are the
ones the reads made one after the other would give."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph.plugins.hookspecs import hookimpl
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer, empty_collections
from tests.query_time.conftest import CountingProvider, make_providers
from tests.query_time.test_query_time import create

QUESTION = """query($id: ID!) { subscriber(id: $id) {
  segments(tags: ["t"], includeNonMembers: true) { segment { name } result }
} }"""


class CheckedLedger(CountingProvider):
    """The ledger provider, adding a freshness check to the server. While ``armed``, the check
    holds each request's start until the ledger is called (a second at most) and notes in
    ``seen`` how many calls had started by then; ``during_check`` runs after that."""

    def __init__(self, ledger: CountingProvider) -> None:
        super().__init__(ledger.name, ledger.definitions, ledger.rows)
        self.armed = False
        self.seen: list[int] = []
        self.during_check: Any = None
        self.services: Any = None

    @hookimpl
    def startup(self, services: Any) -> None:
        self.services = services
        services.freshness_checks.append(self.check)

    async def check(self) -> None:
        if not self.armed:
            return
        before = len(self.calls)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while len(self.calls) == before and loop.time() < deadline:
            await asyncio.sleep(0.005)
        self.seen.append(len(self.calls) - before)
        if self.during_check is not None:
            self.during_check(self)


@pytest.fixture
def served(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[GraphQLClient, CheckedLedger, CountingProvider]]:
    empty_collections(sync_db)
    plain_ledger, crm = make_providers()
    ledger = CheckedLedger(plain_ledger)
    isolated = settings.model_copy(
        update={"plugins": ["ledger", "people"], "subscriber_directory": "ledger"}
    )
    server = LiveServer(isolated, extra_plugins=[("ledger", ledger), ("people", crm)])
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield GraphQLClient(http), ledger, crm
    finally:
        server.stop()


def primed(q: GraphQLClient) -> None:
    """One segment over the ledger's MRR, asked about once: the keys such a question reads
    are then known."""
    create(q, "over 100", "subscriber.mrr > 100", tags=["t"])
    assert results(q, "sub_005") == {"over 100": "NOT_MEMBER"}  # mrr 50


def arm(ledger: CheckedLedger) -> None:
    """From now on the freshness check holds each request until the ledger is called."""
    ledger.calls.clear()
    ledger.armed = True


def primed_and_armed(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> tuple[GraphQLClient, CheckedLedger, CountingProvider]:
    """The served client and providers, :func:`primed`, armed (:func:`arm`), and with no
    provider call counted yet."""
    q, ledger, crm = served
    primed(q)
    arm(ledger)
    crm.calls.clear()
    return served


def results(q: GraphQLClient, subscriber: str) -> dict[str, str]:
    data = q.query(QUESTION, {"id": subscriber})
    return {r["segment"]["name"]: r["result"] for r in data["subscriber"]["segments"]}


def test_the_values_are_read_while_the_freshness_checks_run(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, _ = primed_and_armed(served)
    assert results(q, "sub_015") == {"over 100": "MEMBER"}  # mrr 150
    # The ledger was asked while the check held the request, before any resolver ran, and
    # that one call answered the question: the key the same question read before, alone.
    assert ledger.seen == [1]
    assert ledger.calls == [(1, ("subscriber.mrr",))]


def test_keys_beyond_the_ones_read_early_are_read_when_the_segments_are_known(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, crm = served
    primed(q)
    create(q, "in France", 'crm.country = "FR"', tags=["t"])  # a key of another provider
    arm(ledger)
    crm.calls.clear()
    # sub_015: mrr 150, FR (odd); sub_020: mrr 200, US.
    assert results(q, "sub_015") == {"over 100": "MEMBER", "in France": "MEMBER"}
    assert ledger.seen == [1]
    assert len(ledger.calls) == 1 and len(crm.calls) == 1
    assert results(q, "sub_020") == {"over 100": "MEMBER", "in France": "NOT_MEMBER"}
    assert len(ledger.calls) == 2 and len(crm.calls) == 2  # now both are read early


def test_values_read_before_the_catalogue_changed_are_read_again(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, _ = served
    primed(q)

    def change(provider: CheckedLedger) -> None:
        # After the early read began: the catalogue is replaced (as a provider's definitions
        # changing would), and the value changes.
        catalogue = provider.services.catalogue
        provider.services.catalogue = catalogue.replace_provider(
            "ledger", catalogue.by_provider("ledger")
        )
        provider.rows["sub_005"] = {**provider.rows["sub_005"], "subscriber.mrr": Decimal(500)}

    ledger.during_check = change
    arm(ledger)
    assert results(q, "sub_005") == {"over 100": "MEMBER"}  # read again: 500
    assert ledger.seen == [1]
    assert len(ledger.calls) == 2


def test_a_question_in_fragments_is_read_early_too(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, _ = primed_and_armed(served)
    # A frontend's query: the segments asked in a named fragment, through an inline one.
    data = q.query(
        """query($id: ID!) { subscriber(id: $id) { id ...Offers } }
        fragment Offers on Subscriber {
          ... on Subscriber { segments(tags: ["t"]) { segment { name } } }
        }""",
        {"id": "sub_015"},
    )
    assert data["subscriber"]["segments"] == [{"segment": {"name": "over 100"}}]
    assert ledger.seen == [1]  # read while the check held the request
    assert len(ledger.calls) == 1


def test_the_keys_a_properties_field_names_are_read_early_with_the_segments_keys(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, crm = primed_and_armed(served)
    data = q.query(
        """query($id: ID!, $keys: [String!]!) { subscriber(id: $id) {
          properties(keys: $keys) { key value provider }
          segments(tags: ["t"]) { segment { name } }
        } }""",
        {"id": "sub_016", "keys": ["crm.country", "plan.interval"]},
    )
    assert data["subscriber"]["properties"] == [
        {"key": "crm.country", "value": "US", "provider": "people"},
        {"key": "plan.interval", "value": "MONTH", "provider": "ledger"},
    ]
    assert data["subscriber"]["segments"] == [{"segment": {"name": "over 100"}}]  # mrr 160
    # Both fields' keys were read before any resolver ran: one call per provider in all.
    assert ledger.seen == [1]
    assert ledger.calls == [(1, ("plan.interval", "subscriber.mrr"))]
    assert crm.calls == [(1, ("crm.country",))]


def with_a_second_question(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> tuple[GraphQLClient, CheckedLedger]:
    """The served client and ledger, :func:`primed` (tags ``["t"]``: subscriber.mrr), with a
    segment of another tag (``["u"]``: subscription.is_free_trial) never asked about yet."""
    q, ledger, _ = served
    primed(q)
    create(q, "on trial", "subscription.is_free_trial IS TRUE", tags=["u"])
    return q, ledger


def test_each_question_reads_the_keys_it_read_last_time_and_a_new_one_their_read_groups(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger = with_a_second_question(served)
    arm(ledger)
    on_trial = """query($id: ID!) { subscriber(id: $id) {
      segments(tags: ["u"], includeNonMembers: true) { segment { name } result }
    } }"""
    # Never asked: it may need any key, so the last question's key is read with its whole
    # read group (the ledger's three keys), which holds the key it needs: one call.
    assert q.query(on_trial, {"id": "sub_015"})["subscriber"]["segments"] == [
        {"segment": {"name": "on trial"}, "result": "MEMBER"}  # every fifth is on trial
    ]
    every = ("plan.interval", "subscriber.mrr", "subscription.is_free_trial")
    assert ledger.calls == [(1, every)]
    # From now on each question, asked in turn, reads its own key alone, one call each.
    assert q.query(on_trial, {"id": "sub_016"})["subscriber"]["segments"][0]["result"] == (
        "NOT_MEMBER"
    )
    assert results(q, "sub_016") == {"over 100": "MEMBER"}  # mrr 160
    assert ledger.calls[1:] == [(1, ("subscription.is_free_trial",)), (1, ("subscriber.mrr",))]
    assert ledger.seen == [1, 1, 1]


def test_a_question_whose_tags_are_variables_is_told_apart_by_their_values(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger = with_a_second_question(served)
    by_tags = """query($id: ID!, $tags: [String!]) { subscriber(id: $id) {
      segments(tags: $tags, includeNonMembers: true) { segment { name } result }
    } }"""

    def ask(tags: list[str]) -> dict[str, str]:
        data = q.query(by_tags, {"id": "sub_015", "tags": tags})
        return {r["segment"]["name"]: r["result"] for r in data["subscriber"]["segments"]}

    assert ask(["t"]) == {"over 100": "MEMBER"}
    assert ask(["u"]) == {"on trial": "MEMBER"}
    arm(ledger)
    # One document, two questions: each reads the key its own tags' segments read.
    assert ask(["u"]) == {"on trial": "MEMBER"}
    assert ask(["t"]) == {"over 100": "MEMBER"}
    assert ledger.calls == [(1, ("subscription.is_free_trial",)), (1, ("subscriber.mrr",))]


def test_an_operation_that_may_read_more_reads_the_read_groups_early(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, _ = primed_and_armed(served)
    # Beside the subscriber, a root field the early read does not look into: what it may
    # read is not known, so the early read asks for the read group of the keys it knows.
    data = q.query(
        """query($id: ID!) {
          subscriber(id: $id) { segments(tags: ["t"]) { segment { name } } }
          segments(first: 1) { totalCount }
        }""",
        {"id": "sub_015"},
    )
    assert data["subscriber"]["segments"] == [{"segment": {"name": "over 100"}}]
    assert ledger.seen == [1]
    assert ledger.calls == [(1, ("plan.interval", "subscriber.mrr", "subscription.is_free_trial"))]


def test_a_field_skipped_by_a_directive_reads_nothing_early(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, _ = primed_and_armed(served)
    question = """query($id: ID!, $ask: Boolean!) { subscriber(id: $id) {
      id segments(tags: ["t"]) @include(if: $ask) { result }
    } }"""
    assert q.query(question, {"id": "sub_015", "ask": False}) == {"subscriber": {"id": "sub_015"}}
    assert ledger.seen == [0] and ledger.calls == []
    assert q.query(question, {"id": "sub_015", "ask": True})["subscriber"]["segments"] == [
        {"result": "MEMBER"}
    ]
    assert ledger.seen == [0, 1]


def test_an_id_over_the_limit_reads_nothing_early_and_is_refused(
    served: tuple[GraphQLClient, CheckedLedger, CountingProvider],
) -> None:
    q, ledger, crm = primed_and_armed(served)
    too_long = "sub_015" + "0" * MAX_SUBJECT_ID
    body = q.execute(QUESTION, {"id": too_long})
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        f"id: an id has at most {MAX_SUBJECT_ID} characters, got {len(too_long)}"
    )
    assert ledger.seen == [0] and ledger.calls == [] and crm.calls == []
