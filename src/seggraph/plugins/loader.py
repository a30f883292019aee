"""Finding plugins: the ``seggraph`` entry-point group, one entry point at a time."""

from __future__ import annotations

import importlib.metadata
import inspect
from dataclasses import dataclass

from seggraph.plugins.hookspecs import PROJECT


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin comes from, before it is imported."""

    name: str
    version: str | None
    origin: str
    """``distribution-name: module:attr`` for an entry point, ``registered`` for an object."""
    entry_point: importlib.metadata.EntryPoint | None = None


def discover(group: str = PROJECT) -> list[PluginSource]:
    """Every installed entry point of ``group``, by name (nothing is imported yet)."""
    found = []
    for entry_point in importlib.metadata.entry_points(group=group):
        dist = entry_point.dist
        version = dist.version if dist is not None else None
        package = dist.metadata["Name"] if dist is not None else "?"
        found.append(
            PluginSource(
                name=entry_point.name,
                version=version,
                origin=f"{package}: {entry_point.value}",
                entry_point=entry_point,
            )
        )
    return sorted(found, key=lambda source: source.name)


def load(source: PluginSource) -> object:
    """Import one entry point's object: a module as it is, a class instantiated."""
    if source.entry_point is None:
        raise ValueError(f"plugin {source.name!r} has no entry point to load")
    loaded = source.entry_point.load()
    if inspect.isclass(loaded):
        return loaded()
    return loaded


def plugin_name(plugin: object) -> str:
    """A name for a plugin object registered directly (tests, embedding applications)."""
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    if inspect.ismodule(plugin):
        return plugin.__name__
    return type(plugin).__name__


def plugin_version(plugin: object) -> str | None:
    version = getattr(plugin, "version", None) or getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None
