"""`seggraph import billing FILE`, run as a user runs it, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from pymongo.database import Database as SyncDatabase

from tests.conftest import GraphQLClient
from tests.providers.billing.builders import customer, item, price, product, subscription
from tests.providers.billing.conftest import clear_billing


def run_import(mongo_uri: str, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command; its stderr comes back with whitespace runs (rich's wrapping) as one
    space."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(SEGGRAPH_MONGODB_URI=mongo_uri, SEGGRAPH_DATABASE=database, COLUMNS="120")
    result = subprocess.run(
        [sys.executable, "-m", "seggraph", "import", "billing", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result.stderr = " ".join(result.stderr.split())
    return result


def test_import_command(
    tmp_path: Path, mongo_uri: str, database_name: str, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    clear_billing(sync_db)
    lines = [
        orjson.dumps(obj).decode()
        for obj in [
            product("prod_basic", "Basic"),
            price("month_10", 1000),
            customer("cus_1"),
            subscription("sub_1", [item("month_10")]),
        ]
    ]
    lines.insert(2, '{"object": "customer"}')
    path = tmp_path / "billing.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 1, result.stderr
    assert "line 3:" in result.stderr and "id must be a non-empty string" in result.stderr
    assert "4 objects written" in result.stderr
    stored = sync_db["billing_subscriptions"].find_one({"_id": "sub_1"})
    assert stored is not None and stored["customer"] == "cus_1"
    assert sync_db["billing_customers"].count_documents({}) == 1

    # Running it again is harmless; a clean file exits 0.
    path.write_text("\n".join(line for i, line in enumerate(lines) if i != 2) + "\n")
    again = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert again.returncode == 0, again.stderr
    assert sync_db["billing_customers"].count_documents({}) == 1

    older = run_import(mongo_uri, database_name, str(path), "--as-of", "2025-01-01")
    assert older.returncode == 0, older.stderr
    assert "0 objects written, 4 older than what was stored" in older.stderr

    bad = run_import(mongo_uri, database_name, str(path), "--as-of", "last week")
    assert bad.returncode == 2
    assert "--as-of" in bad.stderr
    # A time to come would make every webhook event created before it stale until then.
    before = list(sync_db["billing_customers"].find())
    for ahead in ("2099-01-01T00:00:00Z", "1e99", "nan", "inf"):
        refused = run_import(mongo_uri, database_name, str(path), "--as-of", ahead)
        assert refused.returncode == 2, refused.stderr
        assert "not in the future" in " ".join(refused.stderr.split())
    assert list(sync_db["billing_customers"].find()) == before


def test_a_value_mongodb_cannot_store_is_a_bad_line_not_a_failed_import(
    tmp_path: Path, mongo_uri: str, database_name: str, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """An integer beyond 64 bits (JSON has no bound; BSON does) used to fail the write of its
    whole batch with a traceback: the good customers around it were lost and no report was
    printed. It is a bad line like any other: reported with its number, and skipped."""
    clear_billing(sync_db)
    path = tmp_path / "billing.jsonl"
    path.write_text(
        "\n".join(
            [
                orjson.dumps(customer("cus_imp1")).decode(),
                '{"object":"customer","id":"cus_imp2","balance":18446744073709551615}',
                orjson.dumps(customer("cus_imp3")).decode(),
                '{"object":"customer","id":"cus_imp4","metadata":{"k\\u0000":"v"}}',
                orjson.dumps(customer("cus_imp5")).decode(),
            ]
        )
        + "\n"
    )
    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr
    assert "5 lines read; 3 objects written" in result.stderr
    assert "line 2: cannot be stored: balance is 18446744073709551615" in result.stderr
    assert "64-bit" in result.stderr
    assert "line 4: cannot be stored:" in result.stderr and "NUL character" in result.stderr
    assert "2 bad lines skipped" in result.stderr
    stored = sorted(doc["_id"] for doc in sync_db["billing_customers"].find())
    assert stored == ["cus_imp1", "cus_imp3", "cus_imp5"]


def test_a_byte_order_mark_before_line_1_is_read_past_as_import_crm_and_custom_do(
    tmp_path: Path, mongo_uri: str, database_name: str, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """Line 1 of a file saved with a byte order mark (Excel's "CSV UTF-8", PowerShell) was
    refused as not JSON, where `import crm` and `import custom` read it."""
    clear_billing(sync_db)
    objects = [customer("cus_1"), product("prod_basic", "Basic")]
    path = tmp_path / "billing.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(orjson.dumps(obj) for obj in objects) + b"\n")
    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 0, result.stderr
    assert "2 lines read; 2 objects written" in result.stderr
    assert sync_db["billing_customers"].count_documents({"_id": "cus_1"}) == 1
    # Only before line 1: a mark inside the file is not whitespace in JSON.
    path.write_bytes(orjson.dumps(objects[0]) + b"\n\xef\xbb\xbf" + orjson.dumps(objects[1]))
    again = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert again.returncode == 1 and "line 2: not JSON" in again.stderr


def test_a_bad_line_is_said_once_with_its_number_and_counts_are_in_words(
    tmp_path: Path, mongo_uri: str, database_name: str, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """ "line 4: line 4.customer must be a customer id", and "1 bad lines skipped"."""
    clear_billing(sync_db)
    orphan = subscription("sub_1", [item("month_10")])
    del orphan["customer"]
    lines = [customer("cus_1"), {"object": "customer"}, price("month_10", 1000), orphan]
    path = tmp_path / "billing.jsonl"
    path.write_text("\n".join(orjson.dumps(obj).decode() for obj in lines) + "\n")
    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 1
    assert "line 2: id must be a non-empty string" in result.stderr
    assert "line 4: customer must be a customer id" in result.stderr
    assert "line 4." not in result.stderr and "line 2: line 2" not in result.stderr
    assert "4 lines read; 2 objects written" in result.stderr
    assert "; 1 customer, 1 price" in result.stderr
    assert "2 bad lines skipped" in result.stderr
    path.write_text("\n".join(orjson.dumps(obj).decode() for obj in lines[:2]) + "\n")
    one = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert one.returncode == 1 and "1 bad line skipped" in one.stderr
    assert "2 lines read; 1 object written, 0 older than what was stored" in one.stderr


def test_an_interrupted_import_says_which_lines_are_written_and_where_to_resume() -> None:
    """Ctrl-C or SIGTERM says the lines whose batches are written and the --start-line that
    skips them (it used to say nothing; the line a resume could start from was not known)."""
    from seggraph_billing.cli import _Written

    written = _Written(start_line=5)
    said = written.after_interrupt()
    assert said.startswith("no batch was written yet")
    assert "run the same command again to complete the import" in said
    assert said.endswith("add --start-line 5 to skip what is written")
    written.next_line = 1005  # lines 5 to 1004 read and their batches written
    said = written.after_interrupt()
    assert said.startswith("lines 5 to 1004 are written (the batch in progress may be in part)")
    assert said.endswith("add --start-line 1005 to skip what is written")


def test_a_subscription_imported_with_items_left_out_has_its_amounts_unknown_not_wrong(
    tmp_path: Path, mongo_uri: str, database_name: str, gql: GraphQLClient
) -> None:
    """An export of subscriptions as Stripe's API lists them holds the first 10 items of
    each (``has_more``, ``total_count``): the import said nothing and the MRR of those 10 was
    answered. The import says which lines, and the values are UNKNOWN with the reason; a
    line with every item (a plain list, or a list object whose ``total_count`` they make)
    gives them."""
    items = [item("month_10", kind="plan")] + [
        item("seat_5", kind="addon", id=f"si_seat_{n}") for n in range(11)
    ]
    cut = subscription("sub_1", items[:10])
    cut["items"] |= {"has_more": True, "total_count": 12}
    whole = subscription("sub_2", items, customer="cus_2")
    whole["items"] = items  # a plain list: every item
    objects = [
        product("prod_basic", "Basic"),
        price("month_10", 1000),
        price("seat_5", 500),
        customer("cus_1"),
        customer("cus_2"),
        cut,
        whole,
    ]
    path = tmp_path / "billing.jsonl"
    path.write_text("\n".join(orjson.dumps(obj).decode() for obj in objects) + "\n")
    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 0, result.stderr
    assert "7 objects written" in result.stderr
    assert "line 6: subscription 'sub_1' has 12 items and only 10 are stored" in result.stderr
    assert "its MRR and add-ons are UNKNOWN" in result.stderr
    assert "line 7" not in result.stderr

    query = (
        "query ($id: ID!) { subscriber(id: $id) { properties(keys: "
        '["subscriber.mrr", "addon.id", "plan.id"]) { key value state detail } } }'
    )

    def values(subscriber: str) -> dict[str, Any]:
        data = gql.query(query, {"id": subscriber})["subscriber"]["properties"]
        return {v["key"]: v for v in data}

    got = values("cus_1")
    assert got["subscriber.mrr"]["state"] == "UNKNOWN"
    assert "'sub_1' has 12 items and only 10 are stored" in got["subscriber.mrr"]["detail"]
    assert got["addon.id"]["state"] == "UNKNOWN"
    assert got["plan.id"]["value"] == "month_10"
    assert values("cus_2")["subscriber.mrr"]["value"] == {"amount": 65, "currency": "USD"}

    cut["items"]["data"] = items  # completed: every item, has_more as the export wrote it
    path.write_text(orjson.dumps(cut).decode() + "\n")
    again = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-02T00:00:00")
    assert again.returncode == 0 and "line 1" not in again.stderr, again.stderr
    assert values("cus_1")["subscriber.mrr"]["value"] == {"amount": 65, "currency": "USD"}
