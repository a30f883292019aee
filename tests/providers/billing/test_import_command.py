"""`seggraph import billing FILE`, run as a user runs it, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from pymongo.database import Database as SyncDatabase

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
