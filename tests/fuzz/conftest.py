"""Property-based fuzzing of every parser of untrusted input (Hypothesis).

Profiles: `ci` (default; a fixed seed and a budget that fits CI) and `long` (many more
examples, random seeds; `scripts/fuzz`). Pick one with DOCKWARDEN_FUZZ=long. Cases a
campaign found are kept as `@example(...)` on the test that found them, or as files under
tests/fuzz/corpus/<target>/ that the target's test replays, so they run on every CI.
Each example must end in a result or a dockwarden error (DockwardenError) within the
profile's deadline; the CI campaign runs under an address-space limit (scripts/test).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

CORPUS = Path(__file__).parent / "corpus"

settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=3000, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.register_profile(
    "long", max_examples=20_000, derandomize=False, deadline=10_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("DOCKWARDEN_FUZZ", "ci"))


def corpus(target: str) -> list[bytes]:
    """The saved cases of one target (files under tests/fuzz/corpus/TARGET/)."""
    folder = CORPUS / target
    return [p.read_bytes() for p in sorted(folder.iterdir())] if folder.is_dir() else []


def json_paths(doc: Any, prefix: tuple[Any, ...] = (), *,
               max_items: int | None = None) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (the root too); of each list only the first
    `max_items` items if given."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, (*prefix, k), max_items=max_items)
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:max_items]):
            out += json_paths(v, (*prefix, i), max_items=max_items)
    return out


def json_replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `doc` with the value at `path` (from json_paths) replaced by `value`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: json_replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = json_replace(copy[head], rest, value)
    return copy
