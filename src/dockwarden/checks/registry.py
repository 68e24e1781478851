"""The check registry: typed metadata, the `@check` decorator and the runner.

A check is a pure function. Container checks take `(spec, ctx)`; engine
checks take the `EngineSnapshot`. Each yields `Fail` objects; raising `Skip`
(through `require`) records that the check could not be judged. Any other
exception becomes an error in the report, never a pass.

The built-in check modules are listed explicitly in `BUILTIN`, by the scope of the checks
each one registers. They are imported on demand: `checks_for(scope)` loads that scope's
modules only (a Dockerfile lint never imports the engine, image or container checks and
their models), and `iter_catalogue()` loads them all. `REGISTRY` holds the checks of the
modules loaded so far; a duplicate id fails when its module is imported, and the
catalogue (`dockwarden checks`, and its tests) imports every module.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from dockwarden import read_data
from dockwarden.model.common import Severity, Source, TargetKind, Unknown
from dockwarden.model.finding import Finding, ReportError, Skipped, Target

T = TypeVar("T")


class Scope(StrEnum):
    CONTAINER = "container"
    ENGINE = "engine"
    IMAGE = "image"
    DOCKERFILE = "dockerfile"
    INSIDE = "inside"
    WATCH = "watch"
    ENDPOINT = "endpoint"
    REGISTRY = "registry"


class Fail(NamedTuple):
    evidence: dict[str, Any]
    severity: Severity | None = None  # raise or lower the default by evidence
    message: str = ""
    field: str | None = None  # which ContainerSpec field: selects the file line


class Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require(fact: T | Unknown) -> T:
    """Return a gathered fact, or skip the check with the reason it is unknown."""
    if isinstance(fact, Unknown):
        raise Skip(fact.reason)
    return fact


class CheckMeta(NamedTuple):
    id: str
    title: str
    severity: Severity
    scope: Scope
    rationale: str
    remediation: str
    references: tuple[str, ...]
    target_kind: TargetKind
    bad: tuple[str, ...] = ()
    good: tuple[str, ...] = ()


class Check(NamedTuple):
    meta: CheckMeta
    func: Callable[..., Iterable[Fail]]


REGISTRY: dict[str, Check] = {}

# The built-in check modules, by the scope of the checks they register (no discovery).
BUILTIN: dict[Scope, tuple[str, ...]] = {
    Scope.ENGINE: ("dockwarden.checks.daemon", "dockwarden.checks.host"),
    Scope.CONTAINER: ("dockwarden.checks.container",),
    Scope.IMAGE: ("dockwarden.checks.image", "dockwarden.checks.vuln",
                  "dockwarden.checks.signature"),
    Scope.DOCKERFILE: ("dockwarden.checks.dockerfile",),
    Scope.INSIDE: ("dockwarden.checks.inside",),
    Scope.WATCH: ("dockwarden.checks.watch",),
    Scope.ENDPOINT: ("dockwarden.checks.exposure",),
    Scope.REGISTRY: ("dockwarden.checks.registry_checks",),
}
_LOADED: set[str] = set()


def load(*scopes: Scope) -> None:
    """Import the built-in check modules of `scopes` (all scopes when none is given).

    A module that registers a check of a scope it is not listed under would be missed by
    a run that loads only that scope: that is a programming error and fails here."""
    for scope in scopes or tuple(Scope):
        for name in BUILTIN[scope]:
            if name in _LOADED:
                continue
            importlib.import_module(name)
            _LOADED.add(name)
            for chk in REGISTRY.values():
                if chk.func.__module__ == name and name not in BUILTIN[chk.meta.scope]:
                    raise RuntimeError(f"{chk.meta.id} ({chk.meta.scope} scope) is registered "
                                       f"by {name}, which BUILTIN does not list for that scope")

# Compliance mappings are data: each check's CIS references come from this table.
_CIS: dict[str, Any] = json.loads(
    read_data("cis-docker-1.6.0.json")
)
CIS_BENCHMARK: str = _CIS["benchmark"]
CIS_CONTROLS: dict[str, tuple[str, ...]] = {
    control: tuple(ids) for control, ids in _CIS["controls"].items()
}


def cis_references(check_id: str) -> tuple[str, ...]:
    return tuple(f"{CIS_BENCHMARK} {control}" for control, ids in CIS_CONTROLS.items()
                 if check_id in ids)


def check(
    *,
    id: str,
    title: str,
    severity: Severity,
    scope: Scope,
    rationale: str,
    remediation: str,
    references: Iterable[str] = (),
    target_kind: TargetKind | None = None,
    bad: Iterable[str] = (),
    good: Iterable[str] = (),
) -> Callable[[Callable[..., Iterable[Fail]]], Callable[..., Iterable[Fail]]]:
    """Register a check. A duplicate id is a programming error and fails at import."""

    def register(func: Callable[..., Iterable[Fail]]) -> Callable[..., Iterable[Fail]]:
        if id in REGISTRY:
            raise RuntimeError(f"duplicate check id {id}")
        kind = target_kind or (
            TargetKind.CONTAINER if scope is Scope.CONTAINER else TargetKind.DAEMON
        )
        REGISTRY[id] = Check(
            CheckMeta(
                id=id,
                title=title,
                severity=severity,
                scope=scope,
                rationale=rationale,
                remediation=remediation,
                references=(*cis_references(id), *references),
                target_kind=kind,
                bad=tuple(bad),
                good=tuple(good),
            ),
            func,
        )
        return func

    return register


class Selection(NamedTuple):
    """Which checks run (`--check` / `--skip`); prefixes like `DW2` select a family."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def wants(self, check_id: str) -> bool:
        if self.only and not any(check_id.startswith(p) for p in self.only):
            return False
        return not any(check_id.startswith(p) for p in self.skip)


class Results:
    """What running checks gave, gathered across scopes and targets."""

    __slots__ = ("errors", "findings", "passed", "skipped")

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.skipped: list[Skipped] = []
        self.errors: list[ReportError] = []
        self.passed = 0

    def extend(self, other: Results) -> None:
        self.findings.extend(other.findings)
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)
        self.passed += other.passed


def checks_for(scope: Scope, selection: Selection) -> list[Check]:
    """The selected checks of one scope, in id order (their modules are loaded first)."""
    load(scope)
    return [
        c for c in sorted(REGISTRY.values(), key=lambda c: c.meta.id)
        if c.meta.scope is scope and selection.wants(c.meta.id)
    ]


def run(
    checks: Iterable[Check],
    args: tuple[Any, ...],
    target: Target,
    source: Source,
    lines: dict[str, int] | None = None,
) -> Results:
    """Run `checks` on one subject; every outcome is recorded."""
    results = Results()
    for chk in checks:
        meta = chk.meta
        try:
            fails = list(chk.func(*args))
        except Skip as skip:
            results.skipped.append(Skipped(meta.id, target, skip.reason))
            continue
        except Exception as exc:  # a crashing check is an error, never a pass
            results.errors.append(
                ReportError(target.ref, f"check crashed: {type(exc).__name__}: {exc}", meta.id)
            )
            continue
        if not fails:
            results.passed += 1
        for f in fails:
            tgt = target
            line = lines.get(f.field) if f.field and lines else None
            stage = f.evidence.get("stage")
            if line is not None or stage is not None:
                tgt = Target(target.kind, target.ref, target.id,
                             line if line is not None else target.line, target.service,
                             str(stage) if stage is not None else target.stage)
            results.findings.append(
                Finding(
                    check=meta.id,
                    severity=f.severity or meta.severity,
                    title=meta.title,
                    target=tgt,
                    source=source,
                    evidence=f.evidence,
                    remediation=meta.remediation,
                    references=meta.references,
                    message=f.message,
                )
            )
    return results


def iter_catalogue() -> Iterator[CheckMeta]:
    """Every built-in check's metadata, in id order."""
    load()
    for c in sorted(REGISTRY.values(), key=lambda c: c.meta.id):
        yield c.meta
