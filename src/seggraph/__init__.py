"""seggraph: segments of subscribers, answered at query time over GraphQL."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seggraph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from seggraph.plugins.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
