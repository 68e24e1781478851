"""Enumerations and the `Unknown` marker shared by every snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias, TypeVar


class Severity(StrEnum):
    """Finding severities, declared in display order (worst first).

    `UNKNOWN` is a vulnerability that no source scores (SPEC.md section 2). It is shown
    and sorted between high and medium (`rank`), and counts as `HIGH` for `--fail-on`
    unless `--unknown-severity` names another severity (`effective`, `fails`): an
    unscored vulnerability is never silently a medium one.
    """

    CRITICAL = "critical"
    HIGH = "high"
    UNKNOWN = "unknown"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Display and sort order: critical 5, high 4, unknown 3, medium 2, low 1,
        info 0. Not the weight for `--fail-on`: use `fails` (or `effective_rank`)."""
        return _RANK[self]

    def effective(self, unknown_as: Severity | None = None) -> Severity:
        """The severity `--fail-on` weighs: `unknown_as` (default high) for UNKNOWN,
        itself otherwise."""
        if self is Severity.UNKNOWN:
            return Severity.HIGH if unknown_as is None else unknown_as
        return self

    def effective_rank(self, unknown_as: Severity | None = None) -> int:
        return _RANK[self.effective(unknown_as)]

    def fails(self, fail_on: Severity | None, unknown_as: Severity | None = None) -> bool:
        """Whether a finding of this severity makes `--fail-on fail_on` exit 1, an
        unknown severity weighed as `unknown_as` (`--unknown-severity`, default high).
        `fail_on` None (`--fail-on none`) never fails; `--fail-on unknown` fails on
        critical, high and every unknown finding."""
        if fail_on is None:
            return False
        if fail_on is Severity.UNKNOWN:
            return self is Severity.UNKNOWN or self.rank > _RANK[Severity.UNKNOWN]
        return self.effective_rank(unknown_as) >= fail_on.rank

    @classmethod
    def parse(cls, text: str, *, allow_unknown: bool = True) -> Severity:
        """A severity from its name (any case); ValueError naming the choices otherwise.
        `allow_unknown=False` for options that need a real severity
        (`--unknown-severity`)."""
        choices = ", ".join(s.value for s in cls if allow_unknown or s is not cls.UNKNOWN)
        try:
            sev = cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None
        if sev is cls.UNKNOWN and not allow_unknown:
            raise ValueError(f"{text!r} is not allowed here (choose from {choices})")
        return sev


_RANK = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.UNKNOWN: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class TargetKind(StrEnum):
    ENGINE = "engine"
    DAEMON = "daemon"
    HOST = "host"
    CONTAINER = "container"
    IMAGE = "image"
    REGISTRY = "registry"
    DOCKERFILE = "dockerfile"
    COMPOSE = "compose"
    ENDPOINT = "endpoint"
    SELF = "self"


class Source(StrEnum):
    ENGINE = "engine"
    IMAGE = "image"
    COMPOSE = "compose"
    DOCKERFILE = "dockerfile"
    RUN_COMMAND = "run-command"
    REGISTRY = "registry"
    NETWORK = "network"
    PROBE = "probe"
    INSIDE = "inside"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class Unknown:
    """A fact that could not be gathered, with the reason why.

    Snapshots hold `Unknown` instead of a default so that a check needing the
    fact is reported as skipped rather than silently passing.
    """

    reason: str

    def __bool__(self) -> bool:  # an unknown fact must never read as "false, so pass"
        raise TypeError("Unknown fact used as a boolean; call checks.require() first")


T = TypeVar("T")

Fact: TypeAlias = T | Unknown
