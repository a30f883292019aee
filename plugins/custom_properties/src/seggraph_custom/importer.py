"""``seggraph import custom FILE``: custom property values in bulk.

- **CSV** with a header row ``subscriber_id,key,value`` (``subscription_id`` instead of
  ``subscriber_id`` for properties that describe subscriptions). Every cell is text, coerced by
  the property's type (so ``yes`` is true for a BOOLEAN, ``a,b`` a two-item LIST).
- **JSON lines** (``.jsonl`` / ``.ndjson``, or any file whose first character is ``{``): one
  object per line with the same fields; ``value`` is any JSON, ``null`` removes the value. A
  JSON array of such objects is read too.

Every row is checked before anything is written; when any is refused the import writes nothing
and lists each refused row with the subscriber, the key and why.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seggraph.domain.custom_properties import CustomObject, ValueAssignment
from seggraph.domain.errors import UserError

SUBJECT_COLUMNS = {
    "subscriber_id": CustomObject.SUBSCRIBER,
    "subscription_id": CustomObject.SUBSCRIPTION,
}


class ImportFileError(ValueError):
    """The file cannot be read at all."""


@dataclass
class ImportRows:
    """The rows read: the assignments (with each one's position in the file and its place
    among the rows), and the rows refused before any value was checked (with theirs)."""

    assignments: list[ValueAssignment] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    places: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)

    def refuse(self, text: str) -> None:
        self.refused.append((len(self.places) + len(self.refused), text))

    def report(self, errors: list[UserError]) -> list[str]:
        """Every refused row, the value checks' ``errors`` among them, in the file's order."""
        checked = [(self._place(e), describe(e, self)) for e in errors]
        return [text for _, text in sorted([*self.refused, *checked], key=lambda e: e[0])]

    def _place(self, error: UserError) -> int:
        index = _index(error)
        return self.places[index] if index is not None and index < len(self.places) else -1


def _assignment(row: Any, position: str, rows: ImportRows) -> None:
    if not isinstance(row, dict):
        rows.refuse(f"{position}: expected an object with subscriber_id, key and value")
        return
    lowered = {str(k).strip().casefold(): v for k, v in row.items() if k is not None}
    subject: Any = None
    object: CustomObject | None = None
    for column, kind in SUBJECT_COLUMNS.items():
        if lowered.get(column) not in (None, ""):
            subject, object = lowered[column], kind
            break
    key = lowered.get("key")
    if subject is None:
        rows.refuse(f"{position}: a subscriber_id (or subscription_id) is required")
        return
    if not isinstance(key, str) or not key.strip():
        rows.refuse(f"{position}: subscriber {subject}: a key is required")
        return
    if "value" not in lowered:
        rows.refuse(f"{position}: subscriber {subject}: custom.{key}: a value is required")
        return
    rows.places.append(len(rows.places) + len(rows.refused))
    rows.assignments.append(ValueAssignment(key, str(subject), lowered["value"], object))
    rows.positions.append(position)


def read_rows(path: Path) -> ImportRows:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc})") from None
    rows = ImportRows()
    if text.lstrip()[:1] == "[":
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ImportFileError(f"{path} is not valid JSON ({exc})") from None
        for index, row in enumerate(items):
            _assignment(row, f"[{index}]", rows)
        return rows
    if path.suffix.casefold() in (".jsonl", ".ndjson", ".json") or text.lstrip()[:1] == "{":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:  # listed with the other refused rows
                rows.refuse(f"line {number}: not valid JSON ({exc})")
                continue
            _assignment(row, f"line {number}", rows)
        return rows
    reader = csv.DictReader(text.splitlines())
    header = {h.strip().casefold() for h in reader.fieldnames or []}
    if not header & set(SUBJECT_COLUMNS) or not {"key", "value"} <= header:
        raise ImportFileError(
            f"{path}: expected a header row subscriber_id,key,value (or subscription_id,key,value)"
        )
    for number, row in enumerate(reader, start=2):
        # A short row would read its missing value as null (a removal), a long one would drop
        # its extra cells: both are a broken file, not what the row says.
        if None in row:
            rows.refuse(f"row {number}: more cells than the header has columns")
        elif any(cell is None for cell in row.values()):
            rows.refuse(f"row {number}: fewer cells than the header has columns")
        else:
            _assignment(row, f"row {number}", rows)
    return rows


def describe(error: UserError, rows: ImportRows) -> str:
    """A refused row as a line of the import's report: position, subscriber, key, why."""
    index = _index(error)
    where = rows.positions[index] if index is not None and index < len(rows.positions) else "?"
    return f"{where}: {error.message}"


def _index(error: UserError) -> int | None:
    """The assignment an error of ``check_values`` is about (``("values", index, …)``)."""
    return error.path[1] if len(error.path) > 1 and isinstance(error.path[1], int) else None
