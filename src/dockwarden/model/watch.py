"""What `dockwarden watch` observed of one live container, as the DW901-DW906 checks
(checks/watch.py) judge it: the DW2xx findings of a container that just started, an exec
session, a stats sample, a size sample, the die events of a window. Small frozen records
built by `commands/watch.py` from answers `collect/watch.py` has cleaned and bounded; they
carry the thresholds they are judged by, so the command's options reach the checks
without global state.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwarden.model.finding import Finding

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class ConfigObs:
    """A container that started (or was updated) and the DW2xx findings of its inspect."""

    action: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class ExecObs:
    """An exec session as `GET /exec/ID/json` describes it."""

    exec_id: str
    user: str  # the exec's own user ("" = the container's)
    container_user: str  # the container's Config.User
    privileged: bool
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PidsObs:
    """pids.current / pids.limit of one stats sample, and the previous sample."""

    current: int
    limit: int  # 0: no limit
    previous: int | None = None
    seconds: float = 0.0  # since the previous sample
    ratio: float = 0.8  # alert at this share of the limit
    rate: float = 50.0  # without a limit: alert when growing this fast (pids/s) ...
    floor: int = 500  # ... and at least this many processes


@dataclass(frozen=True, slots=True)
class MemoryObs:
    usage: int = 0
    limit: int = 0  # 0: no limit of its own
    oom: bool = False  # the Engine's `oom` event
    ratio: float = 0.9


@dataclass(frozen=True, slots=True)
class GrowthObs:
    """Two samples of the writable layer (SizeRw) or of the json log file."""

    what: str  # "writable layer" or "log file"
    before: int
    after: int
    seconds: float
    limit_per_minute: int = 100 * MiB
    minimum: int = 16 * MiB  # growth smaller than this is never an alert


@dataclass(frozen=True, slots=True)
class RestartObs:
    deaths: int
    window: float
    limit: int = 3
    last_exit_code: str = ""
