"""The check registry: typed metadata, the `@check` decorator and the runner.

A check is a pure function. Container checks take `(spec, ctx)`; engine
checks take the `EngineSnapshot`. Each yields `Fail` objects; raising `Skip`
(through `require`) records that the check could not be judged. Any other
exception becomes an error in the report, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any, TypeVar

from dockwarden.model.common import Severity, Source, TargetKind, Unknown
from dockwarden.model.finding import Finding, ReportError, Skipped, Target

T = TypeVar("T")


class Scope(StrEnum):
    CONTAINER = "container"
    ENGINE = "engine"
    IMAGE = "image"
    DOCKERFILE = "dockerfile"


@dataclass(frozen=True, slots=True)
class Fail:
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


@dataclass(frozen=True, slots=True)
class CheckMeta:
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


@dataclass(frozen=True, slots=True)
class Check:
    meta: CheckMeta
    func: Callable[..., Iterable[Fail]] = field(compare=False)


REGISTRY: dict[str, Check] = {}

# Compliance mappings are data: each check's CIS references come from this table.
_CIS: dict[str, Any] = json.loads(
    resources.files("dockwarden").joinpath("data/cis-docker-1.6.0.json").read_text()
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


@dataclass(frozen=True, slots=True)
class Selection:
    """Which checks run (`--check` / `--skip`); prefixes like `DW2` select a family."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def wants(self, check_id: str) -> bool:
        if self.only and not any(check_id.startswith(p) for p in self.only):
            return False
        return not any(check_id.startswith(p) for p in self.skip)


@dataclass(slots=True)
class Results:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[ReportError] = field(default_factory=list)
    passed: int = 0

    def extend(self, other: Results) -> None:
        self.findings.extend(other.findings)
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)
        self.passed += other.passed


def checks_for(scope: Scope, selection: Selection) -> list[Check]:
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
    for c in sorted(REGISTRY.values(), key=lambda c: c.meta.id):
        yield c.meta
