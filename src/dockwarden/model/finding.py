"""Findings, check outcomes and the report that carries them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dockwarden.model.common import Severity, Source, TargetKind


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    ref: str
    id: str | None = None
    line: int | None = None
    service: str | None = None
    stage: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "ref": self.ref}
        for key in ("id", "service", "stage"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    severity: Severity
    title: str
    target: Target
    source: Source
    evidence: dict[str, Any]
    remediation: str
    references: tuple[str, ...]
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "severity": self.severity.value,
            "title": self.title,
            "target": self.target.as_dict(),
            "source": self.source.value,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "references": list(self.references),
        }
        if self.message:
            out["message"] = self.message
        if self.target.line is not None:
            out["line"] = self.target.line
        return out


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A check that could not be judged for a target, and why."""

    check: str
    target: Target
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "target": self.target.as_dict(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ReportError:
    target: str
    message: str
    check: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "message": self.message}
        if self.check:
            out["check"] = self.check
        return out


@dataclass(frozen=True, slots=True)
class ReportTarget:
    kind: TargetKind
    ref: str
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "ref": self.ref, "complete": self.complete}


@dataclass(frozen=True, slots=True)
class Report:
    started: str
    finished: str
    targets: tuple[ReportTarget, ...]
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[ReportError, ...] = ()
    passed: int = 0
    ignored: tuple[tuple[Finding, str], ...] = field(default=())
    # what the reader should know but that did not stop the audit: a stale vulnerability
    # database, an expired ignore entry, versions that could not be parsed
    warnings: tuple[ReportError, ...] = ()

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.targets)
