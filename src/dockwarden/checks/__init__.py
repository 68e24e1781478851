"""Pure checks over snapshots. Built-in check modules are listed explicitly."""

from dockwarden.checks import container, daemon, host, image  # noqa: F401  (registration)
from dockwarden.checks.registry import (
    REGISTRY,
    Check,
    CheckMeta,
    Fail,
    Results,
    Scope,
    Selection,
    Skip,
    iter_catalogue,
    require,
    run,
)

__all__ = [
    "REGISTRY", "Check", "CheckMeta", "Fail", "Results", "Scope", "Selection", "Skip",
    "iter_catalogue", "require", "run",
]
