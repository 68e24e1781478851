"""Pure checks over snapshots.

The built-in check modules are listed explicitly in `registry.BUILTIN` and imported per
scope when a command needs them (see `registry.load`), so that importing this package
is cheap. `REGISTRY` read from here holds every built-in check.
"""

from typing import Any

from dockwarden.checks.registry import (
    Check,
    CheckMeta,
    Fail,
    Results,
    Scope,
    Selection,
    Skip,
    iter_catalogue,
    load,
    require,
    run,
)

__all__ = [
    "REGISTRY", "Check", "CheckMeta", "Fail", "Results", "Scope", "Selection", "Skip",
    "iter_catalogue", "load", "require", "run",
]


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        from dockwarden.checks import registry

        registry.load()
        return registry.REGISTRY
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
