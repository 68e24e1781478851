"""What `dockwarden probe`'s canaries measured: frozen facts, one per measurement.

Each measurement is either a result or the reason it could not be made (`Unknown`), never
a default: a probe that could not run its fork test must not read as "the limit held".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dockwarden.model.common import Fact, Unknown


@dataclass(frozen=True, slots=True)
class Limits:
    """The canary's cgroup limits as the kernel applies them (read from its cgroup
    files). None means no limit ("max", -1, or the v1 "unlimited" value)."""

    cgroup_version: int  # 1 or 2
    pids_max: int | None
    memory_max: int | None
    cpu_quota: int | None  # microseconds per period; None: no quota
    cpu_period: int | None
    cpu_weight: int | None  # v1 cpu.shares or v2 cpu.weight, as read
    cpu_weight_default: bool  # shares 1024 (v1) / weight 100 (v2): no relative limit
    files: dict[str, str] = field(default_factory=dict)  # file -> what it read


@dataclass(frozen=True, slots=True)
class ForkTest:
    cap: int
    started: int  # background processes started before the loop ended or failed
    stopped: bool  # a fork failed before the cap was reached
    error: str  # what the shell said when it could not fork ("" when it was not stopped)


class Reach(StrEnum):
    ENGINE = "engine"  # answered GET /_ping like an Engine over plain HTTP
    ENGINE_TLS = "engine-tls"  # answered as an HTTPS-only Engine does to plain HTTP
    OPEN = "open"  # connected; the answer is not an Engine's
    PEER = "peer"  # connected and read the peer canary's token
    REFUSED = "refused"  # a TCP reset: the address is reachable, nothing listens
    SILENT = "silent"  # no answer within the time (filtered, or nothing there)


@dataclass(frozen=True, slots=True)
class Attempt:
    address: str
    port: int
    reach: Reach
    answer: str = ""  # the first line of what came back (escaped when shown)


@dataclass(frozen=True, slots=True)
class WriteTest:
    path: str
    target: int  # bytes the canary tried to write
    written: int  # bytes written before it stopped
    error: str  # why it stopped ("" when the target was reached)
    quota: str | None  # --storage-opt size as given, if any


@dataclass(frozen=True, slots=True)
class LogTest:
    driver: str
    options: dict[str, str]
    written: int  # bytes the canary printed (0: not measured by writing)
    file_before: int | None  # size of the json-file log on the host, when readable
    file_after: int | None
    rotated: tuple[str, ...]  # rotated files seen beside it, as "log.1", "log.2"...
    note: str = ""  # why the file was not measured


@dataclass(frozen=True, slots=True)
class ProbeSnapshot:
    engine: str  # the Engine's URL as shown
    image: str
    run_flags: str  # "" for the Engine's defaults
    network_mode: str
    limits: Fact[Limits] = Unknown("not measured")
    fork: Fact[ForkTest] = Unknown("not measured")
    engine_reach: Fact[tuple[Attempt, ...]] = Unknown("not measured")
    peer_reach: Fact[Attempt] = Unknown("not measured")
    write: Fact[WriteTest] = Unknown("not measured")
    log: Fact[LogTest] = Unknown("not measured")
    errors: tuple[str, ...] = ()  # what kept the probe from measuring everything
    complete: bool = True
