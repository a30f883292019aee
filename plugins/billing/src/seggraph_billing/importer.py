"""The bulk import: a file of Stripe objects, one JSON object per line.

Each line is a Stripe-shaped object whose ``object`` field says its type (``customer``,
``subscription``, ``price``, ``product``, ``coupon``, ``invoice``, or ``discount`` for a
customer's or subscription's discount). Objects are upserted by id, so importing a file again
changes nothing, and an interrupted import is resumed by running it again (or, to save time,
from ``--start-line``).

Imported objects count as of ``as_of`` (by default the file's modification time, when it was
exported): a webhook event created later wins over them, an older one does not. Bad lines are
reported with their line number and skipped; the rest of the file is imported.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from seggraph_billing.derive import items_cut_short, ref_id
from seggraph_billing.ingest import IngestError, check_object
from seggraph_billing.store import COLLECTION_OF, BillingStore, WriteReport

IMPORTABLE = (*COLLECTION_OF, "discount")
DEFAULT_BATCH = 500


@dataclass(slots=True)
class ImportReport:
    lines: int = 0
    applied: int = 0
    stale: int = 0
    blank: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: Lines written whose values will be UNKNOWN (a subscription with items left out).
    warnings: list[tuple[int, str]] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, report: WriteReport) -> None:
        self.applied += report.applied
        self.stale += report.stale


def parse_line(text: str | bytes, line_number: int) -> tuple[str, dict[str, Any]]:
    """The type and object of one line, or :class:`IngestError` saying what is wrong."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, "MALFORMED_JSON", f"line {line_number}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise IngestError(400, "MALFORMED_OBJECT", f"line {line_number}: not a JSON object")
    kind = obj.get("object")
    if kind not in IMPORTABLE:
        raise IngestError(
            400,
            "UNSUPPORTED_OBJECT",
            f"line {line_number}: object must be one of {', '.join(IMPORTABLE)}, got {kind!r}",
        )
    check_object(kind, obj, where=f"line {line_number}")
    return kind, obj


def read_lines(path: Path, start_line: int = 1) -> Iterator[tuple[int, bytes, int]]:
    """``(line number, line, bytes read so far)`` from ``start_line`` on. A UTF-8 byte order
    mark before line 1 (Excel's "CSV UTF-8", PowerShell) is read past, as ``import crm`` and
    ``import custom`` read it; one anywhere else is the line's, and no JSON."""
    with path.open("rb") as handle:
        offset = 0
        for number, raw in enumerate(handle, start=1):
            offset += len(raw)
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if number >= start_line:
                yield number, raw, offset


def default_as_of(path: Path) -> float:
    return os.stat(path).st_mtime


async def import_file(
    store: BillingStore,
    path: Path,
    *,
    as_of: float | None = None,
    start_line: int = 1,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import ``path``; ``progress(bytes_done, lines_done)`` is called after each batch."""
    version = default_as_of(path) if as_of is None else as_of
    report = ImportReport()
    pending: dict[str, list[tuple[Mapping[str, Any], float]]] = {}
    discounts: list[Mapping[str, Any]] = []
    in_batch = 0
    done_bytes = 0

    async def flush() -> None:
        nonlocal in_batch
        for kind, entries in pending.items():
            report.add(await store.put_objects(kind, entries, source="import"))
        for discount in discounts:
            report.add(await _put_discount(store, discount, version))
        pending.clear()
        discounts.clear()
        in_batch = 0
        if progress is not None:
            progress(done_bytes, report.lines)

    for number, raw, offset in read_lines(path, start_line):
        report.lines += 1
        done_bytes = offset
        if not raw.strip():
            report.blank += 1
            continue
        try:
            kind, obj = parse_line(raw, number)
        except IngestError as exc:
            report.errors.append((number, exc.message))
            continue
        report.by_type[kind] = report.by_type.get(kind, 0) + 1
        if kind == "subscription" and (cut := items_cut_short(obj)) is not None:
            report.warnings.append((number, f"{cut}: its MRR and add-ons are UNKNOWN"))
        if kind == "discount":
            discounts.append(obj)
        else:
            pending.setdefault(kind, []).append((obj, version))
        in_batch += 1
        if in_batch >= batch_size:
            await flush()
    await flush()
    return report


async def _put_discount(
    store: BillingStore, discount: Mapping[str, Any], version: float
) -> WriteReport:
    subscription = ref_id(discount.get("subscription"))
    if subscription is not None:
        return await store.put_discount("subscription", subscription, discount, version)
    customer = ref_id(discount.get("customer")) or ""
    return await store.put_discount("customer", customer, discount, version)
