"""Reading CRM import files: HubSpot column names, formats, and refusals (no I/O but files)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from seggraph_crm.importer import ImportFileError, read_records
from seggraph_crm.records import RecordKind


def test_hubspot_csv_contacts(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Record ID,Email,lifecyclestage,hs_lead_status,hubspot_owner_id,associatedcompanyid\n"
        "101,Ann@Example.com,marketingqualifiedlead,In progress,owner-7,9\n"
        "102,,customer,,,\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [str(e) for e in parsed.errors] == [
        "row 3 (id 102): email: a contact needs an email or an external_id to be matched "
        "to a subscriber"
    ]
    assert parsed.contacts == [
        {
            "id": "101",
            "email": "ann@example.com",
            "lifecycle_stage": "MARKETING_QUALIFIED_LEAD",
            "lead_status": "IN_PROGRESS",
            "owner": "owner-7",
            "company_id": "9",
        }
    ]


def test_json_with_both_kinds_and_hubspot_api_objects(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    path.write_text(
        json.dumps(
            {
                "contacts": [
                    {
                        "id": "1",
                        "properties": {"email": "a@x.io", "lifecyclestage": "lead"},
                        "associations": {"companies": {"results": [{"id": "c1"}]}},
                    }
                ],
                "companies": [
                    {
                        "id": "c1",
                        "properties": {
                            "name": "Acme",
                            "numberofemployees": "250",
                            "annualrevenue": "1200000.50",
                            "renewal_date": "2026-09-30T00:00:00Z",
                            "health_score": 87,
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    parsed = read_records(path, None, "EUR")
    assert parsed.errors == []
    assert parsed.contacts[0]["company_id"] == "c1"
    assert parsed.companies == [
        {
            "id": "c1",
            "name": "Acme",
            "employees": 250,
            "annual_revenue": Decimal("1200000.50"),
            "renewal_date": date(2026, 9, 30),
            "health_score": 87,
        }
    ]


def test_a_renewal_date_is_the_day_it_names(tmp_path: Path) -> None:
    path = tmp_path / "companies.csv"
    path.write_text(
        "id,renewal_date\n"
        "c1,2026-12-05\n"
        "c2,2026-12-05T20:00:00-08:00\n"  # 6 December in UTC: the writer's day is the 5th
        "c3,2026-12-05T00:00:00Z\n"  # HubSpot's midnight UTC
        "c4,1796428800000\n"  # HubSpot's epoch milliseconds: 2026-12-05T00:00:00Z
        "c5,2026-12-05T23:30:00\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert parsed.errors == []
    assert {c["id"]: c["renewal_date"] for c in parsed.companies} == {
        f"c{i}": date(2026, 12, 5) for i in range(1, 6)
    }


def test_a_number_that_would_be_a_moment_of_1970_is_refused(tmp_path: Path) -> None:
    """Epoch seconds, or a short number, read as epoch milliseconds land in 1970: refused, the
    same as a number and as a string (a negative one was read as a number, refused as text)."""
    path = tmp_path / "companies.json"
    path.write_text(
        json.dumps(
            [
                {"id": "c1", "renewal_date": "1796428800"},  # epoch seconds of 2026-12-05
                {"id": "c2", "renewal_date": 1796428800},
                {"id": "c3", "renewal_date": -86400000},
                {"id": "c4", "renewal_date": "-86400000"},
                {"id": "c5", "renewal_date": "20261340"},  # no 40th day of a 13th month
                {"id": "c6", "updated_at": "1796428800"},
                {"id": "c7", "renewal_date": -1796428800000, "updated_at": "-1796428800000"},
            ]
        ),
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [(e.record_id, e.field) for e in parsed.errors] == [
        ("c1", "renewal_date"),
        ("c2", "renewal_date"),
        ("c3", "renewal_date"),
        ("c4", "renewal_date"),
        ("c5", "renewal_date"),
        ("c6", "updated_at"),
    ]
    assert "epoch milliseconds (12 digits or more" in parsed.errors[0].message
    assert "expected a date YYYYMMDD" in parsed.errors[4].message
    # 12 digits or more are epoch milliseconds, negative ones too, as a number or as text
    (c7,) = parsed.companies
    assert c7["renewal_date"] == date(1913, 1, 28)
    assert c7["updated_at"] == datetime(1913, 1, 28, tzinfo=UTC)


def test_every_bad_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "companies.csv"
    path.write_text(
        "id,name,numberofemployees,annualrevenue,currency,renewal_date,health_score\n"
        "c1,Acme,many,-5,usdollars,soon,high\n"
        ",NoId,,,,,\n"
        "c2,Dup,1,,,,\n"
        "c2,Dup again,1,,,,\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [str(e) for e in parsed.errors] == [
        "row 2 (id c1): numberofemployees: expected a number, got 'many'",
        "row 2 (id c1): annualrevenue: expected an amount of at least 0, got '-5'",
        "row 2 (id c1): currency: expected a three-letter ISO 4217 currency code, got 'USDOLLARS'",
        "row 2 (id c1): renewal_date: expected a date YYYY-MM-DD, got 'soon'",
        "row 2 (id c1): health_score: expected a number, got 'high'",
        "row 3: id: every record needs an id",
        "row 5 (id c2): id: the same id is also at row 4",
    ]


def test_a_currency_that_is_no_iso_4217_code_is_refused(tmp_path: Path) -> None:
    """A conditions' currency must be an ISO 4217 code, so a company's revenue in ``UDS`` (a
    typo) could never be compared: every condition on it would be UNKNOWN. It is refused
    when imported, as the message always said; a real code passes, in any case."""
    path = tmp_path / "companies.csv"
    path.write_text(
        "id,name,annualrevenue,currency\nc1,Acme,1000,uds\nc2,Beta,1000,xyz\nc3,Gamma,1000,eur\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [str(e) for e in parsed.errors] == [
        "row 2 (id c1): currency: 'UDS' is not an ISO 4217 currency code (such as USD, EUR, JPY)",
        "row 3 (id c2): currency: 'XYZ' is not an ISO 4217 currency code (such as USD, EUR, JPY)",
    ]
    assert [c["currency"] for c in parsed.companies] == ["EUR"]


def test_a_repeated_id_is_named_when_its_first_record_is_refused_too(tmp_path: Path) -> None:
    """Contacts c5 and c5, the first refused for its email: the repeat went unsaid, and came
    out only once the email was fixed."""
    path = tmp_path / "contacts.jsonl"
    path.write_text(
        '{"id": "c5", "email": "not-an-email"}\n'
        '{"id": "c5", "email": "ok@x.io"}\n'
        '{"id": "c6"}\n'
        '{"id": "c6", "email": "also-bad"}\n'
        '{"id": "c7", "email": "ok@x.io"}\n',
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [str(e) for e in parsed.errors] == [
        "line 1 (id c5): email: expected an email address, got 'not-an-email'",
        "line 2 (id c5): id: the same id is also at line 1",
        "line 3 (id c6): email: a contact needs an email or an external_id to be matched to a "
        "subscriber",
        "line 4 (id c6): email: expected an email address, got 'also-bad'",
        "line 4 (id c6): id: the same id is also at line 3",
    ]
    assert [c["id"] for c in parsed.contacts] == ["c7"]


def test_unknown_lifecycle_stage_lists_the_stages(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text('{"id": 1, "external_id": "cus_1", "lifecyclestage": "prospect"}\n')
    parsed = read_records(path, RecordKind.CONTACTS, "USD")
    assert "expected one of SUBSCRIBER, LEAD" in str(parsed.errors[0])


def test_kind_must_be_known(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[]")
    with pytest.raises(ImportFileError, match="--kind"):
        read_records(path, None, "USD")


def test_a_csv_cell_keeps_its_line_breaks_and_starts_no_record(tmp_path: Path) -> None:
    """Lines were split with str.splitlines() before the csv module read them: a quoted cell
    lost its line break ("Beta\\nCorp" was "BetaCorp"), and a U+2028 in a cell started a new
    record (a company "Labs" named "Software", and co1 without its industry)."""
    path = tmp_path / "companies.csv"
    path.write_text(
        "id,name,industry\r\n"
        "co1,Acme\u2028Labs,Software\r\n"
        'co2,"Beta\r\nCorp",Retail\r\n'
        "co3,Gamma\x0cInc,Media\r\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert parsed.errors == []
    assert parsed.companies == [
        {"id": "co1", "name": "Acme\u2028Labs", "industry": "Software"},
        {"id": "co2", "name": "Beta\nCorp", "industry": "Retail"},
        {"id": "co3", "name": "Gamma\x0cInc", "industry": "Media"},
    ]


def test_hubspots_country_region_column_is_the_country(tmp_path: Path) -> None:
    """HubSpot exports its ``country`` property under the label "Country/Region", for contacts
    and companies: the column was ignored, so crm.country was missing after the import."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("Record ID,Email,Country/Region\n1,a@x.io,France\n", encoding="utf-8")
    companies = tmp_path / "companies.csv"
    companies.write_text("Record ID,Company name,Country/Region\n9,Acme,Spain\n", encoding="utf-8")
    assert read_records(contacts, None, "USD").contacts == [
        {"id": "1", "email": "a@x.io", "country": "France"}
    ]
    assert read_records(companies, None, "USD").companies == [
        {"id": "9", "name": "Acme", "country": "Spain"}
    ]


def test_a_csv_row_with_more_cells_than_the_header_is_refused(tmp_path: Path) -> None:
    """An unquoted comma ("Acme, Inc") moved every later cell one column on, and the cells past
    the header's last column were dropped without a word: co1 was imported named "Acme", in
    the industry "Inc", and "Software" was lost. A trailing comma (a blank cell) is fine."""
    path = tmp_path / "companies.csv"
    path.write_text(
        "id,name,industry\nco1,Acme, Inc,Software\nco2,Beta,Retail,\nco3,Gamma\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert [str(e) for e in parsed.errors] == [
        "row 2 (id co1): row: more cells than the header has columns ('Software' past the last "
        "one): a cell holding a comma must be quoted"
    ]
    assert parsed.companies == [
        {"id": "co2", "name": "Beta", "industry": "Retail"},
        {"id": "co3", "name": "Gamma"},
    ]


def test_a_json_lines_string_may_hold_a_line_separator(tmp_path: Path) -> None:
    """JSON strings may hold U+2028 unescaped (``json.dumps(..., ensure_ascii=False)`` writes it
    so): the lines were split with str.splitlines(), which cut line 1 in two, and the whole
    file was refused as not valid JSON."""
    path = tmp_path / "contacts.jsonl"
    path.write_text(
        json.dumps({"id": "c1", "email": "a@x.io", "company": "Acme\u2028Labs"}, ensure_ascii=False)
        + "\r\n"
        + json.dumps({"id": "c2", "email": "b@x.io"})
        + "\n\n",
        encoding="utf-8",
    )
    parsed = read_records(path, None, "USD")
    assert parsed.errors == []
    assert parsed.contacts == [
        {"id": "c1", "email": "a@x.io", "company_name": "Acme\u2028Labs"},
        {"id": "c2", "email": "b@x.io"},
    ]
