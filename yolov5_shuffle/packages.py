"""Whether an optional package is installed, and its version, without importing it (the runtimes' and hosts'
``available()`` checks)."""

from __future__ import annotations

import importlib.util


def has(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
