"""Vulnerability matching: the advisory database (db), its importers (update), the matcher
(match) and VEX statements (vex). This module holds only what finding the database
needs, so that an audit without one never loads SQLite or the advisory model."""

from __future__ import annotations

import os


def default_path() -> str:
    """`$DOCKWARDEN_DB`, else `$XDG_CACHE_HOME/dockwarden/vulndb.sqlite`
    (`~/.cache/dockwarden/vulndb.sqlite`). A string: pathlib is not imported by an
    audit that finds no database."""
    env = os.environ.get("DOCKWARDEN_DB")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "dockwarden", "vulndb.sqlite")
