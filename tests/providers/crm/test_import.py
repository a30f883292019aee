"""``seggraph import crm FILE`` and the CRM properties it provides, read through GraphQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pymongo.database import Database as SyncDatabase

from seggraph.settings import Settings
from tests.conftest import GraphQLClient
from tests.providers.servers import run_cli

Db = SyncDatabase[dict[str, Any]]
KEYS = [
    "crm.lifecycle_stage",
    "crm.lead_status",
    "crm.company_name",
    "crm.industry",
    "crm.company_size",
    "crm.annual_revenue",
    "crm.country",
    "crm.account_owner",
    "crm.renewal_date",
    "crm.health_score",
]


def crm_values(gql: GraphQLClient, subscriber: str) -> dict[str, Any]:
    data = gql.query(
        "query($id: ID!, $keys: [String!]!) { subscriber(id: $id) { properties(keys: $keys) "
        "{ key value state provider } } }",
        {"id": subscriber, "keys": KEYS},
    )
    rows = data["subscriber"]["properties"]
    assert {row["provider"] for row in rows} == {"crm"}
    return {row["key"]: row["value"] if row["state"] == "PRESENT" else row["state"] for row in rows}


def write_files(tmp_path: Path) -> tuple[Path, Path]:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Record ID,Email,external_id,Lifecycle Stage,Lead Status,Contact owner,"
        "Associated Company ID,Country,Last Modified Date\n"
        "c1,ann@acme.io,cus_ann,customer,OPEN_DEAL,owner-ann,co1,France,2026-01-01T00:00:00Z\n"
        "c2,Bob@Example.com,,Marketing Qualified Lead,New,owner-bob,,Spain,\n"
        "c3,stale@acme.io,cus_ann,lead,,,,,2020-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    companies = tmp_path / "companies.json"
    companies.write_text(
        json.dumps(
            {
                "results": [
                    {
                        "id": "co1",
                        "properties": {
                            "name": "Acme",
                            "industry": "COMPUTER_SOFTWARE",
                            "numberofemployees": "250",
                            "annualrevenue": "1200000.50",
                            "annual_revenue_currency": "eur",
                            "hubspot_owner_id": "owner-acme",
                            "renewal_date": "2026-09-30",
                            "health_score": "87.5",
                        },
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return contacts, companies


def test_contacts_and_companies_provide_the_crm_properties(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    contacts, companies = write_files(tmp_path)
    sync_db["billing_customers"].insert_one({"_id": "cus_bob", "email": "bob@example.com"})
    done = run_cli(settings, "import", "crm", str(companies), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 contacts, 1 company imported" in done.stderr
    done = run_cli(settings, "import", "crm", str(contacts), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert crm_values(gql, "cus_ann") == {
        "crm.lifecycle_stage": "CUSTOMER",
        "crm.lead_status": "OPEN_DEAL",
        "crm.company_name": "Acme",
        "crm.industry": "COMPUTER_SOFTWARE",
        "crm.company_size": 250,
        "crm.annual_revenue": {"amount": 1200000.5, "currency": "EUR"},
        "crm.country": "France",
        "crm.account_owner": "owner-acme",
        "crm.renewal_date": "2026-09-30",
        "crm.health_score": 87.5,
    }
    # matched by the billing customer's email, case-insensitively; no company
    assert crm_values(gql, "cus_bob") == {
        "crm.lifecycle_stage": "MARKETING_QUALIFIED_LEAD",
        "crm.lead_status": "NEW",
        "crm.company_name": "MISSING",
        "crm.industry": "MISSING",
        "crm.company_size": "MISSING",
        "crm.annual_revenue": "MISSING",
        "crm.country": "Spain",
        "crm.account_owner": "owner-bob",
        "crm.renewal_date": "MISSING",
        "crm.health_score": "MISSING",
    }
    assert set(crm_values(gql, "cus_nobody").values()) == {"MISSING"}


def test_segments_use_crm_properties(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    contacts, companies = write_files(tmp_path)
    run_cli(settings, "import", "crm", str(companies), cwd=tmp_path)
    run_cli(settings, "import", "crm", str(contacts), cwd=tmp_path)
    created = gql.query(
        'mutation { createSegment(input: {name: "Big customers", conditions: {conditions: ['
        '{property: "crm.lifecycle_stage", operator: EQ, value: "customer"}, '
        '{property: "crm.company_size", operator: GTE, value: 100}, '
        '{property: "crm.renewal_date", operator: BEFORE, value: "2027-01-01"}]}}) '
        "{ segment { id } userErrors { message } } }"
    )["createSegment"]
    assert created["userErrors"] == []
    result = gql.query(
        'query($s: [ID!]!) { subscriber(id: "cus_ann") { membership(segmentIds: $s) { result } } }',
        {"s": [created["segment"]["id"]]},
    )["subscriber"]["membership"][0]["result"]
    assert result == "MEMBER"


def test_a_basic_iso_date_is_the_day_it_names(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    """``20261205`` (ISO 8601's basic form, as many exports write a date) is 5 December 2026:
    it was read as epoch milliseconds, 1970-01-01, so "renews after 2026-12-01" was false."""
    companies = tmp_path / "companies.csv"
    companies.write_text("id,name,renewal_date\nco1,Acme,20261205\n", encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,email,external_id,company_id\nc1,a@acme.io,cus_ann,co1\n")
    for path in (companies, contacts):
        done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert crm_values(gql, "cus_ann")["crm.renewal_date"] == "2026-12-05"


def test_a_refused_record_stops_the_whole_import(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "crm.json"
    path.write_text(
        json.dumps(
            {
                "contacts": [
                    {"id": "c1", "email": "ok@x.io", "lifecyclestage": "lead"},
                    {"id": "c2", "email": "not-an-email"},
                    {"id": "c3"},
                ],
                "companies": [{"id": "co1", "numberofemployees": "a few"}],
            }
        ),
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    assert "contacts[1] (id c2): email: expected an email address, got 'not-an-email'" in out
    assert "contacts[2] (id c3): email: a contact needs an email or an external_id" in out
    assert "companies[0] (id co1): numberofemployees: expected a number, got 'a few'" in out
    assert "3 problems; nothing was written" in out
    assert sync_db["crm_contacts"].count_documents({}) == 0
    assert sync_db["crm_companies"].count_documents({}) == 0


def test_one_problem_is_one_problem_and_a_repeated_id_is_named(
    sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    """ "1 problems"; and contacts c5, c5, the first refused for its email: the repeat went
    unsaid."""
    path = tmp_path / "crm.json"
    path.write_text(json.dumps({"contacts": [{"id": "c5", "email": "nope"}]}), encoding="utf-8")
    done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert "1 problem; nothing was written" in " ".join(done.stderr.split())
    path.write_text(
        json.dumps({"contacts": [{"id": "c5", "email": "nope"}, {"id": "c5", "email": "a@x.io"}]}),
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
    out = " ".join(done.stderr.split())
    assert "contacts[0] (id c5): email: expected an email address, got 'nope'" in out
    assert "contacts[1] (id c5): id: the same id is also at contacts[0]" in out
    assert "2 problems; nothing was written" in out
    assert sync_db["crm_contacts"].count_documents({}) == 0


def test_values_the_database_cannot_keep_are_refused_before_anything_is_written(
    sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "crm.json"
    path.write_text(
        json.dumps(
            {
                "companies": [
                    {"id": "co1", "name": "Fine Inc", "numberofemployees": 5},
                    {"id": "co2", "numberofemployees": "99999999999999999999999"},
                    {"id": "co3", "annualrevenue": "12345678901234567890123456789012345678"},
                    {"id": "co4", "renewal_date": "99999999999999999"},
                ],
                "contacts": [
                    {
                        "id": "c1",
                        "email": "a@x.io",
                        "lastmodifieddate": "0001-01-01T00:00:00+01:00",
                    },
                    {"id": "c2", "email": "b@x.io", "lastmodifieddate": "99999999999999999999"},
                ],
            }
        ),
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
    out = " ".join(done.stderr.split())
    assert done.returncode == 1, out
    assert "Traceback" not in out
    for expected in [
        "companies[1] (id co2): numberofemployees: expected at most 9223372036854775807 employees",
        "companies[2] (id co3): annualrevenue: a number has at most 34 digits",
        "companies[3] (id co4): renewal_date: epoch milliseconds out of range",
        "contacts[0] (id c1): lastmodifieddate: a date-time out of range",
        "contacts[1] (id c2): lastmodifieddate: epoch milliseconds out of range",
        "5 problems; nothing was written",
    ]:
        assert expected in out, out
    assert sync_db["crm_contacts"].count_documents({}) == 0
    assert sync_db["crm_companies"].count_documents({}) == 0


def test_reimporting_replaces_records_and_dry_run_writes_nothing(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.jsonl"
    path.write_text('{"id": "c1", "external_id": "cus_1", "lifecyclestage": "lead"}\n')
    assert run_cli(settings, "import", "crm", str(path), cwd=tmp_path).returncode == 0
    path.write_text('{"id": "c1", "external_id": "cus_1", "lifecyclestage": "customer"}\n')
    done = run_cli(settings, "import", "crm", str(path), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0 and "nothing written" in done.stderr
    assert crm_values(gql, "cus_1")["crm.lifecycle_stage"] == "LEAD"
    assert run_cli(settings, "import", "crm", str(path), cwd=tmp_path).returncode == 0
    assert crm_values(gql, "cus_1")["crm.lifecycle_stage"] == "CUSTOMER"
    assert sync_db["crm_contacts"].count_documents({}) == 1


def test_the_kind_of_an_ambiguous_file_must_be_given(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[]")
    done = run_cli(settings, "import", "crm", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "--kind" in done.stderr
