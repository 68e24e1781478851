"""Enumerations and the `Unknown` marker shared by every snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias, TypeVar


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
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
