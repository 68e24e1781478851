"""Pure checks over snapshots. Built-in check modules are listed explicitly."""

from dockwarden.checks import (  # noqa: F401  (registration)
    container,
    daemon,
    dockerfile,
    host,
    image,
    vuln,
)
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
