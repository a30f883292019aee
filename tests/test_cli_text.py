"""The words the commands print."""

from __future__ import annotations

from seggraph.cli_text import counted


def test_counts_are_pluralised_and_their_thousands_separated() -> None:
    """An import of 20,000 values printed "20000 values set" beside the demo's "10,000"."""
    assert counted(1, "row") == "1 row"
    assert counted(0, "row") == "0 rows"
    assert counted(2, "company", "companies") == "2 companies"
    assert counted(20_000, "value") == "20,000 values"
    assert counted(1_234_567, "line") == "1,234,567 lines"
