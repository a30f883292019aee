"""``seggraph plugins`` lists the installed plugins, their hooks and their properties."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.plugins.conftest import BROKEN_IMPORT, write_distribution


def seggraph(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    return subprocess.run(
        [sys.executable, "-m", "seggraph", *args],
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugins_json_lists_each_plugin_with_its_hooks_and_properties(tmp_path: Path) -> None:
    result = seggraph("plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    tickets = plugins["support_tickets"]
    assert tickets["version"] == "0.1.0"
    assert tickets["status"] == "OK"
    assert tickets["error"] is None
    assert tickets["origin"] == (
        "seggraph-support-tickets: seggraph_support_tickets.plugin:SupportTicketsPlugin"
    )
    assert tickets["hooks"] == [
        "startup",
        "register_properties",
        "resolve_properties",
        "suggest_property_values",
        "register_routes",
        "condition_to_filter",
        "register_settings",
    ]
    by_key = {p["key"]: p for p in tickets["properties"]}
    assert by_key["support.open_tickets"]["type"] == "NUMBER"
    assert by_key["support.highest_open_priority"] == {
        "key": "support.highest_open_priority",
        "label": "Highest open ticket priority",
        "namespace": "support",
        "type": "ENUM",
        "description": "The most urgent priority among open tickets; missing when none is open.",
        "enum_values": ["LOW", "NORMAL", "HIGH", "URGENT"],
        "unit": None,
        "currency": None,
    }
    for plugin in plugins.values():
        assert set(plugin) >= {"name", "version", "hooks", "properties"}
        assert all({"key", "type"} <= set(p) for p in plugin["properties"])


def test_plugins_report_a_plugin_that_fails_to_import_and_honour_the_lists(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    write_distribution(
        site,
        "broken-tickets",
        "1.2.3",
        {"broken_tickets": "seggraph_test_broken_cli"},
        {"seggraph_test_broken_cli": BROKEN_IMPORT},
    )
    result = seggraph(
        "plugins",
        "--json",
        cwd=tmp_path,
        PYTHONPATH=str(site),
        SEGGRAPH_PLUGINS="broken_tickets,support_tickets",
    )
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["broken_tickets"] == {
        "name": "broken_tickets",
        "version": "1.2.3",
        "status": "FAILED",
        "origin": "broken-tickets: seggraph_test_broken_cli",
        "error": "could not be imported: RuntimeError: the ticket SDK is not configured",
        "hooks": [],
        "properties": [],
    }
    assert plugins["support_tickets"]["status"] == "OK"
    others = [p for n, p in plugins.items() if n not in ("broken_tickets", "support_tickets")]
    assert all(p["status"] == "DISABLED" for p in others)

    blocked = seggraph(
        "plugins", "--json", cwd=tmp_path, SEGGRAPH_DISABLE_PLUGINS="support_tickets"
    )
    assert {p["name"]: p["status"] for p in json.loads(blocked.stdout)}["support_tickets"] == (
        "DISABLED"
    )


def test_plugins_prints_a_table(tmp_path: Path) -> None:
    result = seggraph("plugins", cwd=tmp_path, SEGGRAPH_PLUGINS="support_tickets")
    assert result.returncode == 0, result.stderr
    assert "support_tickets" in result.stdout
    assert "support.open_tickets (NUMBER)" in result.stdout
    assert "resolve_properties" in result.stdout


def test_plugins_warn_of_a_name_in_seggraph_plugins_that_is_not_installed(
    tmp_path: Path,
) -> None:
    """The warning went only to a log the command never shows."""
    warning = "warning: SEGGRAPH_PLUGINS names 'nosuch', which is not installed"
    table = seggraph("plugins", cwd=tmp_path, SEGGRAPH_PLUGINS="support_tickets,nosuch")
    assert table.returncode == 0, table.stderr
    assert warning in table.stderr and "support_tickets" in table.stdout
    listed = seggraph("plugins", "--json", cwd=tmp_path, SEGGRAPH_PLUGINS="support_tickets,nosuch")
    assert listed.returncode == 0 and warning in listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["nosuch"] == {
        "name": "nosuch",
        "version": None,
        "status": "NOT_INSTALLED",
        "origin": None,
        "error": "SEGGRAPH_PLUGINS names 'nosuch', which is not installed",
        "hooks": [],
        "properties": [],
    }
    assert plugins["support_tickets"]["status"] == "OK"
    every = seggraph("plugins", "--json", cwd=tmp_path, SEGGRAPH_PLUGINS="support_tickets")
    assert "warning" not in every.stderr
    assert "NOT_INSTALLED" not in {p["status"] for p in json.loads(every.stdout)}


def test_plugins_warn_of_a_name_in_seggraph_disable_plugins_that_is_not_installed(
    tmp_path: Path,
) -> None:
    """A typo there (cpd for cdp) left the plugin it meant loaded, without a word."""
    listed = seggraph("plugins", "--json", cwd=tmp_path, SEGGRAPH_DISABLE_PLUGINS="cpd,crm")
    assert listed.returncode == 0, listed.stderr
    said = " ".join(listed.stderr.split())
    assert (
        "warning: SEGGRAPH_DISABLE_PLUGINS names 'cpd', which is not installed: it disables "
        "nothing" in said
    )
    assert "'crm'" not in said
    statuses = {p["name"]: p["status"] for p in json.loads(listed.stdout)}
    assert statuses["crm"] == "DISABLED" and statuses["cdp"] == "OK"


UNMARKED = """
from seggraph import hookimpl
from seggraph.domain.properties import PropertyDefinition, PropertyType


class Loyalty:
    def register_properties(self, register):
        register(PropertyDefinition("loyalty.points", "Points", PropertyType.NUMBER))

    @hookimpl
    def resolve_properties(self, contexts, keys, settings=None):
        return {}
"""


def test_plugins_warn_of_hook_mistakes_pluggy_keeps_quiet_about(tmp_path: Path) -> None:
    """A hook not marked @hookimpl or with a defaulted parameter was listed OK, with no word:
    the warnings went only to a log the command never shows."""
    site = tmp_path / "site"
    write_distribution(
        site,
        "seggraph-loyalty",
        "0.1.0",
        {"loyalty": "seggraph_test_unmarked:Loyalty"},
        {"seggraph_test_unmarked": UNMARKED},
    )
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    for args in (["plugins"], ["plugins", "--json"]):
        result = seggraph(*args, cwd=tmp_path, PYTHONPATH=path, SEGGRAPH_PLUGINS="loyalty")
        assert result.returncode == 0, result.stderr
        warned = " ".join(result.stderr.split())
        assert (
            "warning: plugin 'loyalty': register_properties is defined but not marked @hookimpl"
            in warned
        )
        assert (
            "warning: plugin 'loyalty': resolve_properties's parameter(s) settings have a "
            "default value" in warned
        )
