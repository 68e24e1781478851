"""DW901-DW906: the alerts of `dockwarden watch` (pure; the facts come from
`collect/watch.py`, the loop that gathers them is `commands/watch.py`).

Each check is `f(obs) -> Iterator[Fail]` over one observation of a live container: the
DW2xx findings of a container that just started, an exec session, a stats sample, a
size sample, the die events of a window. The observations are the frozen records of
`model/watch.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

from dockwarden import secrets
from dockwarden.checks.common import is_root_user
from dockwarden.checks.registry import Fail, Scope, check
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.watch import (
    ConfigObs,
    ExecObs,
    GrowthObs,
    MemoryObs,
    MiB,
    PidsObs,
    RestartObs,
)

W = Scope.WATCH
C = TargetKind.CONTAINER


@check(
    id="DW901", severity=Severity.HIGH, scope=W, target_kind=C,
    title="Container started with a dangerous configuration",
    rationale="A container that starts privileged, with the host's / or the Docker "
    "socket mounted, or in the host's namespaces can take over the host at once; an "
    "audit run later is too late to notice it.",
    remediation="Stop the container if it was not expected; otherwise remove the "
    "dangerous settings the evidence names (see each DW2xx check).",
    bad=("docker run -v /:/host busybox (DW207 critical at start)",),
    good=("docker run --read-only --cap-drop ALL busybox",),
)
def dangerous_start(obs: ConfigObs) -> Iterator[Fail]:
    bad = [f for f in obs.findings if f.severity in (Severity.CRITICAL, Severity.HIGH)]
    if not bad:
        return
    worst = Severity.CRITICAL if any(f.severity is Severity.CRITICAL for f in bad) \
        else Severity.HIGH
    yield Fail({"action": obs.action,
                "findings": [{"check": f.check, "severity": f.severity.value,
                              "title": f.title, "evidence": f.evidence} for f in bad[:10]]},
               severity=worst,
               message=", ".join(sorted({f.check for f in bad})))


@check(
    id="DW902", severity=Severity.MEDIUM, scope=W, target_kind=C,
    title="exec into a container",
    rationale="`docker exec` is how an operator, or an intruder holding the Engine API, "
    "runs commands inside a running container; as root or privileged it can undo the "
    "container's confinement.",
    remediation="Confirm the session was expected; prefer exec as an unprivileged user "
    "(`docker exec -u 1000`), never `--privileged`.",
    bad=("docker exec -u 0 web sh", "docker exec --privileged web sh"),
    good=("docker exec -u 1000 web ps",),
)
def exec_session(obs: ExecObs) -> Iterator[Fail]:
    effective = obs.user or obs.container_user
    root = is_root_user(effective)
    command = " ".join(secrets.redact_argv(obs.command))[:200]
    yield Fail({"exec_id": obs.exec_id, "user": effective or "root (default)",
                "privileged": obs.privileged, "command": command},
               severity=Severity.HIGH if obs.privileged or root else Severity.MEDIUM)


@check(
    id="DW903", severity=Severity.HIGH, scope=W, target_kind=C,
    title="Process count climbing towards the limit (fork bomb in progress)",
    rationale="A container whose processes reach its PIDs limit cannot start more (its "
    "service fails); without a limit, a fork bomb exhausts the host's process table and "
    "every container and host service with it.",
    remediation="Find and stop the runaway process (`docker top`); keep or set a PIDs "
    "limit (`--pids-limit 256`).",
    bad=("pids.current 62 of pids.limit 64",),
    good=("pids.current 5 of pids.limit 64",),
)
def pids_climbing(obs: PidsObs) -> Iterator[Fail]:
    if obs.limit > 0:
        if obs.current >= obs.ratio * obs.limit:
            yield Fail({"pids.current": obs.current, "pids.limit": obs.limit,
                        "share": round(obs.current / obs.limit, 2)})
        return
    if obs.previous is None or obs.seconds <= 0 or obs.current < obs.floor:
        return
    rate = (obs.current - obs.previous) / obs.seconds
    if rate >= obs.rate:
        yield Fail({"pids.current": obs.current, "pids.limit": None,
                    "growth_per_second": round(rate, 1)})


@check(
    id="DW904", severity=Severity.MEDIUM, scope=W, target_kind=C,
    title="Memory near its limit, or OOM kill",
    rationale="A container at its memory limit is about to have processes killed by "
    "the kernel; an OOM kill means it already happened (and may repeat in a loop).",
    remediation="Find what grows (`docker stats`); raise the limit if the service needs "
    "it, or fix the leak.",
    bad=("memory usage 15.2 MiB of a 16 MiB limit", "oom event"),
    good=("memory usage 20 MiB of a 256 MiB limit",),
)
def memory_pressure(obs: MemoryObs) -> Iterator[Fail]:
    if obs.oom:
        yield Fail({"event": "oom", "memory.limit": obs.limit or None},
                   message="killed by the kernel's OOM killer")
        return
    if obs.limit > 0 and obs.usage >= obs.ratio * obs.limit:
        yield Fail({"memory.usage": obs.usage, "memory.limit": obs.limit,
                    "share": round(obs.usage / obs.limit, 2)})


@check(
    id="DW905", severity=Severity.MEDIUM, scope=W, target_kind=C,
    title="Writable layer or log growing fast (disk exhaustion)",
    rationale="A container writing fast to its writable layer or its log fills the "
    "Docker data root, which stops every container on the host (no quota stops it on "
    "overlay2 without xfs project quotas, nor an unrotated json log).",
    remediation="Write data to a volume with a size limit, rotate logs "
    "(`--log-opt max-size=10m --log-opt max-file=3`), find what writes.",
    bad=("writable layer +600 MiB in 60 s",),
    good=("writable layer +1 MiB in 60 s",),
)
def growing_fast(obs: GrowthObs) -> Iterator[Fail]:
    grown = obs.after - obs.before
    if obs.seconds <= 0 or grown < obs.minimum:
        return
    per_minute = grown * 60 / obs.seconds
    if per_minute >= obs.limit_per_minute:
        yield Fail({"what": obs.what, "before_bytes": obs.before, "after_bytes": obs.after,
                    "seconds": round(obs.seconds, 1),
                    "mib_per_minute": round(per_minute / MiB, 1)})


@check(
    id="DW906", severity=Severity.LOW, scope=W, target_kind=C,
    title="Restart loop",
    rationale="A container that dies and restarts again and again is failing (a crash, "
    "an OOM kill, a bad configuration) and may hide an attack or exhaust resources.",
    remediation="Read its logs (`docker logs`), fix the cause; bound restarts "
    "(`--restart on-failure:5`).",
    bad=("4 die events in 60 s",),
    good=("1 die event in 60 s",),
)
def restart_loop(obs: RestartObs) -> Iterator[Fail]:
    if obs.deaths > obs.limit:
        evidence: dict[str, object] = {"die_events": obs.deaths, "window_seconds": obs.window}
        if obs.last_exit_code:
            evidence["last_exit_code"] = obs.last_exit_code
        yield Fail(evidence)
