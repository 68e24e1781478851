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
