"""Every hook is documented (in its spec and in the guide) and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import seggraph
from seggraph.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    name: function
    for name, function in vars(hookspecs).items()
    if inspect.isfunction(function) and hasattr(function, "seggraph_spec")
}


def test_the_hook_list_matches_the_specifications() -> None:
    assert set(hookspecs.HOOK_NAMES) == set(SPECS)
    assert seggraph.hookimpl is hookspecs.hookimpl


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_each_hook_says_if_it_may_be_async_and_what_happens_when_it_fails(name: str) -> None:
    doc = inspect.getdoc(SPECS[name]) or ""
    assert "May be async" in doc or "Synchronous" in doc, name
    assert "raises" in doc, name
    if "May be async" in doc:
        assert "late" in doc, name


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_each_hook_is_in_the_guide(name: str) -> None:
    guide = (ROOT / "docs" / "writing-a-provider.md").read_text(encoding="utf-8")
    assert f"`{name}(" in guide


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_each_hook_is_exercised_by_a_test_or_the_example(name: str) -> None:
    sources = [
        *(ROOT / "tests" / "plugins").glob("*.py"),
        *(ROOT / "plugins" / "support_tickets").rglob("*.py"),
    ]
    assert any(f"def {name}(" in path.read_text(encoding="utf-8") for path in sources), (
        f"no plugin in the tests implements {name}"
    )
