"""``seggraph import crm FILE``: contacts and companies from CSV or JSON.

Accepted files:

- **CSV** with a header row: one kind per file, given by ``--kind`` or guessed from the file
  name (``contacts…`` / ``companies…``) or, failing that, from the header (an ``email`` column
  means contacts).
- **JSON**: ``{"contacts": [...], "companies": [...]}``; or an array (or HubSpot's
  ``{"results": [...]}``) of one kind, given by ``--kind`` or the file name.
- **JSON lines** (``.jsonl`` / ``.ndjson``): one record per line, of one kind.

Every record is checked before anything is written: when any is refused, the import writes
nothing and lists what was wrong (position, id, field, why). Records are then written in chunks,
each a single bulk write.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seggraph.chunking import chunks
from seggraph_crm.records import (
    ParsedRecords,
    RecordError,
    RecordKind,
    parse_company,
    parse_contact,
)
from seggraph_crm.store import COMPANIES, CONTACTS, CrmStore

CHUNK = 1000


class ImportFileError(ValueError):
    """The file cannot be read at all (format, kind)."""


def guess_kind(path: Path, header: list[str] | None = None) -> RecordKind | None:
    name = path.name.casefold()
    if "compan" in name:
        return RecordKind.COMPANIES
    if "contact" in name:
        return RecordKind.CONTACTS
    if header is not None:
        columns = {h.strip().casefold() for h in header}
        if "email" in columns:
            return RecordKind.CONTACTS
        if columns & {"numberofemployees", "annualrevenue", "domain", "industry", "name"}:
            return RecordKind.COMPANIES
    return None


def _rows(path: Path, kind: RecordKind | None) -> Iterator[tuple[RecordKind, str, Any]]:
    """(kind, position, row) for every record of the file."""
    suffix = path.suffix.casefold()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc})") from None
    if suffix in (".jsonl", ".ndjson"):
        kind = kind or guess_kind(path)
        if kind is None:
            raise ImportFileError("say which records the file holds: --kind contacts|companies")
        # Lines end at "\n" alone (read_text made "\r\n" one): a JSON string may hold U+2028
        # and the like as they are, which str.splitlines() takes for line ends.
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    yield kind, f"line {number}", json.loads(line)
                except ValueError as exc:
                    raise ImportFileError(f"line {number}: not valid JSON ({exc})") from None
        return
    if suffix == ".json" or text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImportFileError(f"{path} is not valid JSON ({exc})") from None
        if isinstance(data, dict) and ("contacts" in data or "companies" in data):
            for key, each in (
                (RecordKind.CONTACTS, "contacts"),
                (RecordKind.COMPANIES, "companies"),
            ):
                items = data.get(each) or []
                if not isinstance(items, list):
                    raise ImportFileError(f"{each!r} must be an array")
                for index, row in enumerate(items):
                    yield key, f"{each}[{index}]", row
            return
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            data = data["results"]
        if not isinstance(data, list):
            raise ImportFileError(
                'expected {"contacts": [...], "companies": [...]} or an array of records'
            )
        kind = kind or guess_kind(path)
        if kind is None:
            raise ImportFileError("say which records the file holds: --kind contacts|companies")
        for index, row in enumerate(data):
            yield kind, f"[{index}]", row
        return
    # The csv module splits the records itself (newline=""): a quoted cell keeps its line
    # breaks, and a character str.splitlines() takes for a line end (U+2028, form feed…) stays
    # in its cell instead of starting a record of its own.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames
    if not header:
        raise ImportFileError(f"{path} has no header row")
    kind = kind or guess_kind(path, list(header))
    if kind is None:
        raise ImportFileError("say which records the file holds: --kind contacts|companies")
    for number, row in enumerate(reader, start=2):
        # Cells past the header's last column stay under the key None: read_records refuses
        # the row (a comma in an unquoted cell moves every later cell one column on).
        yield kind, f"row {number}", row


def read_records(path: Path, kind: RecordKind | None, currency: str) -> ParsedRecords:
    """Every record of the file, checked; ``errors`` lists the refused ones."""
    parsed = ParsedRecords()
    seen: dict[tuple[RecordKind, str], str] = {}
    for record_kind, position, row in _rows(path, kind):
        found = len(parsed.errors)
        extra = row.pop(None, None) if isinstance(row, dict) else None
        if record_kind is RecordKind.CONTACTS:
            record = parse_contact(row, position, parsed.errors)
            target = parsed.contacts
        else:
            record = parse_company(row, position, parsed.errors, currency)
            target = parsed.companies
        # A refused record's id counts too (its errors carry it when it reads as an id): the
        # second of two records c5 is a repeat even when the first is refused for its email.
        ident = (
            record["id"]
            if record is not None
            else next((e.record_id for e in parsed.errors[found:] if e.record_id), None)
        )
        cells = [str(cell) for cell in extra or () if str(cell).strip()]
        if cells:  # blank cells past the header (a trailing comma) are nothing to lose
            parsed.errors.append(
                RecordError(
                    position,
                    ident,
                    "row",
                    f"more cells than the header has columns ({', '.join(map(repr, cells))[:80]} "
                    "past the last one): a cell holding a comma must be quoted",
                )
            )
            record = None
        if ident is not None:
            identity = (record_kind, ident)
            if identity in seen:
                parsed.errors.append(
                    RecordError(position, ident, "id", f"the same id is also at {seen[identity]}")
                )
                continue
            seen[identity] = position
        if record is not None:
            target.append(record)
    return parsed


async def write_records(
    store: CrmStore, parsed: ParsedRecords, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write checked records in chunks; ``progress`` is told how many were written each time."""
    written = {CONTACTS: 0, COMPANIES: 0}
    for collection, records in ((COMPANIES, parsed.companies), (CONTACTS, parsed.contacts)):
        for chunk in chunks(records, CHUNK):
            written[collection] += await store.put(collection, chunk)
            if progress is not None:
                progress(len(chunk))
    return written
