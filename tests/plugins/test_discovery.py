"""Plugins are found through the ``seggraph`` entry-point group, one at a time, under the allow-
and block-lists; a plugin that fails to import is reported by name and the others load."""

from __future__ import annotations

from typing import Any

import pytest
from seggraph_support_tickets.plugin import SupportTicketsPlugin

from seggraph import hookimpl
from seggraph.plugins import ProviderStatus
from seggraph.plugins.hookspecs import HOOK_NAMES
from seggraph.plugins.loader import discover
from seggraph.plugins.manager import PluginManager
from seggraph.settings import Settings, load_settings
from tests.plugins.conftest import BROKEN_IMPORT, FakeDistribution
from tests.plugins.fakes import FakeProvider, Misspelled, number


def only(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def status(manager: PluginManager, name: str) -> ProviderStatus:
    info = manager.info(name)
    assert info is not None, f"{name} is not listed: {manager.names}"
    return info.status


def test_the_example_plugin_is_found_through_its_entry_point() -> None:
    source = next(s for s in discover() if s.name == "support_tickets")
    assert source.version == "0.1.0"
    assert source.origin.startswith("seggraph-support-tickets: seggraph_support_tickets.plugin")

    manager = PluginManager.load(only(plugins=["support_tickets"]))
    info = manager.info("support_tickets")
    assert info is not None and info.status is ProviderStatus.OK
    assert info.version == "0.1.0"
    assert set(info.hooks) == {
        "startup",
        "register_properties",
        "resolve_properties",
        "suggest_property_values",
        "register_routes",
        "condition_to_filter",
        "register_settings",
    }
    # The entry point names a class: each application gets an instance of its own.
    plugin = manager.plugin("support_tickets")
    assert isinstance(plugin, SupportTicketsPlugin)
    assert PluginManager.load(only(plugins=["support_tickets"])).plugin("support_tickets") is not (
        plugin
    )


def test_every_bundled_plugin_registers_through_the_same_entry_point_group() -> None:
    names = {source.name for source in discover()}
    assert "support_tickets" in names
    for source in discover():
        assert source.entry_point is not None and source.entry_point.group == "seggraph"


def test_the_allow_list_loads_only_the_plugins_it_names(
    fake_distribution: FakeDistribution,
) -> None:
    fake_distribution(
        "broken-tickets",
        "1.2.3",
        {"broken_tickets": "seggraph_test_broken"},
        {"seggraph_test_broken": BROKEN_IMPORT},
    )
    manager = PluginManager.load(only(plugins=["support_tickets"]))
    assert status(manager, "support_tickets") is ProviderStatus.OK
    # Left out, so never imported: DISABLED, not FAILED.
    assert status(manager, "broken_tickets") is ProviderStatus.DISABLED
    assert manager.info("broken_tickets").last_error == "not in SEGGRAPH_PLUGINS"  # type: ignore[union-attr]
    assert all(
        i.status is ProviderStatus.DISABLED
        for i in manager.describe()
        if i.name != "support_tickets"
    )


def test_an_empty_allow_list_loads_nothing() -> None:
    manager = PluginManager.load(only(plugins=[]))
    assert {i.status for i in manager.describe()} == {ProviderStatus.DISABLED}


def test_the_block_list_leaves_out_the_plugins_it_names(
    fake_distribution: FakeDistribution,
) -> None:
    fake_distribution(
        "broken-tickets",
        "1.2.3",
        {"broken_tickets": "seggraph_test_broken"},
        {"seggraph_test_broken": BROKEN_IMPORT},
    )
    manager = PluginManager.load(only(disable_plugins=["broken_tickets", "support_tickets"]))
    for name in ("broken_tickets", "support_tickets"):
        info = manager.info(name)
        assert info is not None and info.status is ProviderStatus.DISABLED
        assert info.last_error == "in SEGGRAPH_DISABLE_PLUGINS"
        assert manager.plugin(name) is None


def test_the_lists_are_read_from_comma_separated_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGGRAPH_PLUGINS", " support_tickets, billing ,")
    monkeypatch.setenv("SEGGRAPH_DISABLE_PLUGINS", "cdp")
    settings = load_settings(_env_file=None)
    assert settings.plugins == ["support_tickets", "billing"]
    assert settings.disable_plugins == ["cdp"]
    monkeypatch.setenv("SEGGRAPH_PLUGINS", "")
    assert load_settings(_env_file=None).plugins == []
    monkeypatch.delenv("SEGGRAPH_PLUGINS")
    assert load_settings(_env_file=None).plugins is None


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_the_others_load(
    fake_distribution: FakeDistribution,
) -> None:
    fake_distribution(
        "broken-tickets",
        "1.2.3",
        {"broken_tickets": "seggraph_test_broken"},
        {"seggraph_test_broken": BROKEN_IMPORT},
    )
    manager = PluginManager.load(only(plugins=["broken_tickets", "support_tickets"]))
    broken = manager.info("broken_tickets")
    assert broken is not None
    assert broken.status is ProviderStatus.FAILED
    assert broken.version == "1.2.3"
    assert broken.origin == "broken-tickets: seggraph_test_broken"
    assert broken.last_error == (
        "could not be imported: RuntimeError: the ticket SDK is not configured"
    )
    assert status(manager, "support_tickets") is ProviderStatus.OK
    catalogue = manager.build_catalogue()
    assert {d.provider for d in catalogue} == {"support_tickets"}


def test_an_entry_point_naming_a_missing_module_is_reported(
    fake_distribution: FakeDistribution,
) -> None:
    fake_distribution("ghost", "0.0.1", {"ghost": "seggraph_test_no_such_module"}, {})
    manager = PluginManager.load(only(plugins=["ghost"]))
    info = manager.info("ghost")
    assert info is not None and info.status is ProviderStatus.FAILED
    assert "ModuleNotFoundError" in (info.last_error or "")


def test_a_plugin_implementing_an_unknown_hook_is_refused_naming_the_hook() -> None:
    manager = PluginManager.load(only(plugins=[]), [("typo", Misspelled())])
    info = manager.info("typo")
    assert info is not None and info.status is ProviderStatus.FAILED
    assert "unknown hook(s) resolve_property" in (info.last_error or "")
    assert all(hook in (info.last_error or "") for hook in HOOK_NAMES)


def test_a_second_plugin_with_a_taken_name_is_not_loaded() -> None:
    first = FakeProvider([number("alpha.one")])
    second = FakeProvider([number("beta.one")])
    manager = PluginManager.load(only(plugins=[]), [("alpha", first), ("alpha", second)])
    assert manager.plugin("alpha") is first
    assert "a second plugin named 'alpha'" in (manager.info("alpha").last_error or "")  # type: ignore[union-attr]


class WrongArgument:
    """``database`` is no argument of resolve_properties (a plugin binds its database in
    ``startup``)."""

    @hookimpl
    def resolve_properties(self, contexts: Any, keys: Any, database: Any) -> Any:
        return {}


def test_a_hook_taking_an_argument_it_is_not_given_is_refused_naming_the_ones_it_may_take() -> None:
    """pluggy's refusal names the unknown argument only; the author had to read hookspecs.py
    to find what the hook gives."""
    manager = PluginManager.load(only(plugins=[]), [("ledger", WrongArgument())])
    info = manager.info("ledger")
    assert info is not None and info.status is ProviderStatus.FAILED
    said = info.last_error or ""
    assert "Argument(s) {'database'}" in said
    assert said.endswith(
        "; resolve_properties may take any of (contexts, keys, settings), by those names"
    )
