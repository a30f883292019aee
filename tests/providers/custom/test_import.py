"""``seggraph import custom FILE``: CSV and JSON lines, all rows checked before any is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database as SyncDatabase
from seggraph_custom import cli
from seggraph_custom.importer import read_rows
from seggraph_custom.service import CustomPropertiesService

from seggraph.settings import Settings
from tests.conftest import GraphQLClient
from tests.providers.custom.conftest import create, delete, properties, update
from tests.providers.servers import run_cli

Db = SyncDatabase[dict[str, Any]]


def define(gql: GraphQLClient) -> None:
    create(gql, key="vip", type="BOOLEAN")
    create(gql, key="seats", type="NUMBER")
    create(gql, key="tags", type="LIST")
    create(gql, key="seat_cap", type="NUMBER", object="SUBSCRIPTION")


def test_a_csv_import_sets_coerced_values(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    define(gql)
    path = tmp_path / "values.csv"
    path.write_text(
        "subscriber_id,key,value\n"
        "cus_1,vip,yes\n"
        "cus_1,seats,12\n"
        'cus_1,tags,"beta, eu"\n'
        "cus_2,custom.vip,\n",
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 values set, 0 removed" in done.stderr
    one = properties(gql, "cus_1", ["custom.vip", "custom.seats", "custom.tags"])
    assert {k: v["value"] for k, v in one.items()} == {
        "custom.vip": True,
        "custom.seats": 12,
        "custom.tags": ["beta", "eu"],
    }
    assert properties(gql, "cus_2", ["custom.vip"])["custom.vip"]["value"] is False


def test_a_json_lines_import_sets_and_removes(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    define(gql)
    path = tmp_path / "values.jsonl"
    rows = [
        {"subscriber_id": "cus_1", "key": "seats", "value": 3},
        {"subscription_id": "sub_1", "key": "seat_cap", "value": "40"},
        {"subscriber_id": "cus_1", "key": "vip", "value": True},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert run_cli(settings, "import", "custom", str(path), cwd=tmp_path).returncode == 0
    path.write_text(json.dumps({"subscriber_id": "cus_1", "key": "vip", "value": None}) + "\n")
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert "0 values set, 1 removed" in done.stderr
    one = properties(gql, "cus_1", ["custom.vip", "custom.seats"])
    assert one["custom.vip"]["state"] == "MISSING" and one["custom.seats"]["value"] == 3
    found = properties(gql, "cus_1", ["custom.seat_cap"], subscription="sub_1")
    assert found["custom.seat_cap"]["value"] == 40


def test_a_refused_row_stops_the_whole_import(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    define(gql)
    path = tmp_path / "values.csv"
    path.write_text(
        "subscriber_id,key,value\n"
        "cus_1,vip,yes\n"
        "cus_2,vip,perhaps\n"
        "cus_3,ghost,1\n"
        ",seats,1\n"
        "cus_4,seats,lots\n",
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    # Listed in the file's order, whichever check refused each row.
    listed = [
        "row 3: subscriber cus_2: custom.vip: expected a boolean",
        "row 4: subscriber cus_3: there is no custom property custom.ghost",
        "row 5: a subscriber_id (or subscription_id) is required",
        "row 6: subscriber cus_4: custom.seats: expected a number, got 'lots'",
    ]
    places = [out.find(line) for line in listed]
    assert -1 not in places and places == sorted(places), out
    assert "4 rows refused; nothing was written" in out
    assert sync_db["custom_values"].count_documents({}) == 0


def test_refusals_are_worded_alike_and_counted_in_words(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    """ "subscriber cus_qa3: custom.vip: …" beside "cus_qa4: there is no custom property …", and
    "1 rows refused"."""
    define(gql)
    path = tmp_path / "values.csv"
    path.write_text("subscription_id,key,value\nsub_1,ghost,1\n", encoding="utf-8")
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    assert "row 2: subscription sub_1: there is no custom property custom.ghost" in out
    assert "1 row refused; nothing was written" in out
    path.write_text(
        "subscriber_id,key,value\ncus_qa3,vip,perhaps\ncus_qa4,ghost,1\n", encoding="utf-8"
    )
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    out = " ".join(done.stderr.split())
    assert "row 2: subscriber cus_qa3: custom.vip: expected a boolean" in out
    assert "row 3: subscriber cus_qa4: there is no custom property custom.ghost" in out
    assert "2 rows refused; nothing was written" in out
    assert sync_db["custom_values"].count_documents({}) == 0


def test_a_broken_row_is_refused_not_read_as_a_removal(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    """A CSV row short of its value cell read as null, which removed the stored value; a
    long one dropped its extra cells; a JSON line that is no JSON stopped the listing."""
    define(gql)
    path = tmp_path / "values.csv"
    path.write_text("subscriber_id,key,value\ncus_1,seats,10\n", encoding="utf-8")
    assert run_cli(settings, "import", "custom", str(path), cwd=tmp_path).returncode == 0
    before = list(sync_db["custom_values"].find())
    path.write_text(
        "subscriber_id,key,value\ncus_1,seats\ncus_1,seats,11,extra\n", encoding="utf-8"
    )
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    assert "row 2: fewer cells than the header has columns" in out
    assert "row 3: more cells than the header has columns" in out
    lines = tmp_path / "values.jsonl"
    lines.write_text(
        '{"subscriber_id": "cus_1", "key": "seats", "value": 12}\n{not json\n'
        '{"subscriber_id": "cus_1", "key": "ghost", "value": 1}\n',
        encoding="utf-8",
    )
    done = run_cli(settings, "import", "custom", str(lines), cwd=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    assert (
        "line 2: not valid JSON" in out
        and "line 3: subscriber cus_1: there is no custom property" in out
    )
    assert list(sync_db["custom_values"].find()) == before


def test_dry_run_checks_only(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    define(gql)
    path = tmp_path / "values.csv"
    path.write_text("subscriber_id,key,value\ncus_1,vip,yes\n", encoding="utf-8")
    done = run_cli(settings, "import", "custom", str(path), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0 and "1 value checked" in done.stderr
    assert sync_db["custom_values"].count_documents({}) == 0


def test_a_dry_run_creates_nothing_in_the_database(
    gql: GraphQLClient, sync_db: Db, settings: Settings, tmp_path: Path
) -> None:
    """A dry run (or an import whose rows are refused) created the values collection and its
    indexes, a write: it failed outright for a user allowed to read only."""
    define(gql)
    fresh = sync_db.client[f"{settings.database}_dry"]
    fresh["custom_definitions"].insert_many(list(sync_db["custom_definitions"].find()))
    path = tmp_path / "values.csv"
    path.write_text("subscriber_id,key,value\ncus_1,vip,yes\n", encoding="utf-8")
    elsewhere = settings.model_copy(update={"database": fresh.name})
    try:
        done = run_cli(elsewhere, "import", "custom", str(path), "--dry-run", cwd=tmp_path)
        assert done.returncode == 0 and "1 value checked" in done.stderr, done.stderr
        path.write_text("subscriber_id,key,value\ncus_1,nope,yes\n", encoding="utf-8")
        done = run_cli(elsewhere, "import", "custom", str(path), cwd=tmp_path)
        assert done.returncode == 1 and "nothing was written" in done.stderr, done.stderr
        assert fresh.list_collection_names() == ["custom_definitions"]
    finally:
        sync_db.client.drop_database(fresh.name)


def test_a_file_without_the_header_is_refused(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "values.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    done = run_cli(settings, "import", "custom", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "subscriber_id,key,value" in done.stderr


def import_with_a_change(
    settings: Settings,
    path: Path,
    change: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """``seggraph import custom PATH`` (its command's body, in this process), with another
    client's ``change`` made once, after the rows were checked and before they are written."""
    check = CustomPropertiesService.check_values
    changed: list[bool] = []

    async def checked_then_changed(self: CustomPropertiesService, *args: Any, **kw: Any) -> Any:
        found = await check(self, *args, **kw)
        if not changed:
            changed.append(True)
            await asyncio.to_thread(change)
        return found

    monkeypatch.setattr(CustomPropertiesService, "check_values", checked_then_changed)
    code = asyncio.run(
        cli._run(settings.mongodb_uri or "", settings.database, path, read_rows(path), False)
    )
    monkeypatch.undo()
    assert changed
    return code, " ".join(capsys.readouterr().err.split())


def test_a_property_deleted_and_made_again_during_an_import_gets_no_old_value(
    gql: GraphQLClient,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The rows were checked against a NUMBER, then written after the property was deleted
    and made again as TEXT: the number came back under TEXT (TYPE_ERROR)."""
    create(gql, key="seats", type="NUMBER")
    path = tmp_path / "values.jsonl"
    path.write_text(json.dumps({"subscriber_id": "cus_1", "key": "seats", "value": 12}) + "\n")

    def made_again_as_text() -> None:
        assert delete(gql, "seats")["userErrors"] == []
        assert create(gql, key="seats", type="TEXT")["userErrors"] == []

    code, out = import_with_a_change(settings, path, made_again_as_text, monkeypatch, capsys)
    assert code == 1, out
    assert "line 1: subscriber cus_1: custom.seats: expected text, got 12" in out
    assert "a custom property changed while the import ran" in out
    assert properties(gql, "cus_1", ["custom.seats"])["custom.seats"]["state"] == "MISSING"


def test_a_type_change_during_an_import_checks_the_rows_again(
    gql: GraphQLClient,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A value the new type refuses is not written in the type the property left; one it
    accepts is written in the new type."""
    create(gql, key="tier", type="TEXT")
    path = tmp_path / "values.csv"
    path.write_text("subscriber_id,key,value\ncus_1,tier,gold\n", encoding="utf-8")

    def to_enum() -> None:
        assert update(gql, key="tier", type="ENUM", enumValues=["SILVER"])["userErrors"] == []

    code, out = import_with_a_change(settings, path, to_enum, monkeypatch, capsys)
    assert code == 1, out
    assert "row 2: subscriber cus_1: custom.tier: expected one of SILVER, got 'gold'" in out
    assert properties(gql, "cus_1", ["custom.tier"])["custom.tier"]["state"] == "MISSING"

    path.write_text("subscriber_id,key,value\ncus_1,tier,silver\n", encoding="utf-8")

    def to_text() -> None:
        assert update(gql, key="tier", type="TEXT")["userErrors"] == []

    code, out = import_with_a_change(settings, path, to_text, monkeypatch, capsys)
    assert code == 0, out
    found = properties(gql, "cus_1", ["custom.tier"])["custom.tier"]
    assert (found["state"], found["value"]) == ("PRESENT", "silver")
