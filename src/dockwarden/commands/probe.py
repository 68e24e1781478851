"""`dockwarden probe`: canary containers that measure what the Engine's defaults (or a
team's `docker run` flags) really allow, instead of reading them from the configuration.

The findings carry the ids of the checks they verify (DW103, DW104, DW214-DW218) with
`source: probe` and `evidence.probe` = `verified` (the canary showed the risk: a fork
test that ran to its cap raises DW214 to high) or `disproved` (a limit held: severity
info, reported so the reader sees the proof). They are built here from the measurements,
with each check's registered title, remediation and references."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.model.common import Severity, Source, TargetKind, Unknown
from dockwarden.model.finding import Finding, Report, ReportError, ReportTarget, Skipped, Target
from dockwarden.model.probe import Attempt, ProbeSnapshot, Reach

DESCRIPTION = (
    "Start short-lived canary containers under the Engine's defaults (or under the "
    "`docker run` flags given with --run-flags) and measure from inside what they "
    "allow: the cgroup limits the kernel applies (DW214-DW216), a fork test bounded by "
    "--fork-cap, whether the Engine API answers on the bridge gateway and the host's "
    "addresses (2375/2376, DW103), whether two canaries on the default bridge reach each "
    "other (DW104), whether the writable layer has a quota (DW217) and whether the log "
    "is rotated (DW218). Each finding says `verified` (the canary showed the risk) or "
    "`disproved` (a limit held; severity info). Canaries are labelled "
    "dockwarden.probe=1, removed at the end, on Ctrl-C and on errors, and remove "
    "themselves when the time limit has passed; nothing else on the Engine changes.")

VERIFIED = "verified"
DISPROVED = "disproved"


def _fork_cap(text: str) -> int:
    from dockwarden.collect.probe import MAX_FORK_CAP

    return opts.int_within(text, "--fork-cap", 1, MAX_FORK_CAP)


def _write_size(text: str) -> int:
    from dockwarden.collect.probe import MAX_WRITE

    value = opts.size(text)
    if not 1 << 20 <= value <= MAX_WRITE:
        raise argparse.ArgumentTypeError(
            f"--write-size must be within 1MiB-{MAX_WRITE >> 20}MiB")
    return value


def _label(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    if not key or key == "dockwarden.probe" or key.startswith("dockwarden.probe."):
        raise argparse.ArgumentTypeError(
            f"not a KEY=VALUE label of your own: {text!r}")
    return key, value


def options(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    g = p.add_argument_group("probe")
    g.add_argument("--run-flags", default="", metavar="FLAGS",
                   help="`docker run` flags to verify instead of the Engine's defaults, "
                   "quoted as one argument, e.g. '--pids-limit 64 --memory 64m' "
                   "(limits, log, user, network, security and namespace flags; no "
                   "volumes, ports or devices)")
    g.add_argument("--image", metavar="REF",
                   help="local image of the canaries; it needs /bin/sh (default: a small "
                   "local image that has one, busybox first; probe never pulls)")
    g.add_argument("--fork-cap", type=_fork_cap, default=512, metavar="N",
                   help="most processes the fork test starts (default 512, at most 4096): "
                   "it stops there whatever the limits, to keep the host safe")
    g.add_argument("--write-size", type=_write_size, default=64 << 20, metavar="SIZE",
                   help="how much the write test writes to the writable layer, beyond "
                   "--storage-opt size when the flags set one (default 64MiB)")
    g.add_argument("--label", action="append", type=_label, default=[], metavar="KEY=VALUE",
                   help="one more label on every canary (repeatable), e.g. to find them "
                   "from a script")
    opts.engine_options(p, containers=False)
    for action in p._actions:
        if action.dest == "timeout":  # the whole probe, not each request
            action.default = 120.0
            action.help = ("time limit of the whole probe, in seconds (default 120); the "
                           "canaries remove themselves 30 s after it")
    opts.output_options(p)


def _meta(check_id: str) -> Any:
    from dockwarden.checks.registry import REGISTRY, Scope, load

    load(Scope.ENGINE, Scope.CONTAINER)
    return REGISTRY[check_id].meta


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


class _Builder:
    """The findings of one snapshot, as the selection (--check/--skip) asks."""

    def __init__(self, snap: ProbeSnapshot, selection: Any) -> None:
        self.snap = snap
        self.selection = selection
        self.findings: list[Finding] = []
        self.skipped: list[Skipped] = []
        self.engine = Target(TargetKind.ENGINE, snap.engine)
        self.canary = Target(TargetKind.CONTAINER, "canary: " + (
            f"docker run {snap.run_flags}" if snap.run_flags else "Engine defaults"))

    def add(self, check_id: str, verdict: str, measured: str,
            evidence: dict[str, Any] | None = None, severity: Severity | None = None) -> None:
        if not self.selection.wants(check_id):
            return
        meta = _meta(check_id)
        target = self.engine if check_id.startswith("DW1") else self.canary
        if verdict == DISPROVED:
            severity = Severity.INFO
        self.findings.append(Finding(
            check=check_id, severity=severity or meta.severity, title=meta.title,
            target=target, source=Source.PROBE,
            evidence={"probe": verdict, "measured": measured, "image": self.snap.image,
                      **(evidence or {})},
            remediation=meta.remediation, references=meta.references,
            message=f"{verdict}: {measured}"))

    def skip(self, check_id: str, reason: str) -> None:
        if self.selection.wants(check_id):
            target = self.engine if check_id.startswith("DW1") else self.canary
            self.skipped.append(Skipped(check_id, target, reason))

    def build(self) -> None:
        self.pids()
        self.memory_and_cpu()
        self.engine_api()
        self.peer()
        self.write()
        self.log()

    def pids(self) -> None:
        limits, fork = self.snap.limits, self.snap.fork
        pids_max = None if isinstance(limits, Unknown) else limits.pids_max
        read = "unknown" if isinstance(limits, Unknown) else (
            "max" if pids_max is None else str(pids_max))
        if isinstance(fork, Unknown):
            if isinstance(limits, Unknown):
                self.skip("DW214", f"{limits.reason}; {fork.reason}")
            elif pids_max is None:
                self.add("DW214", VERIFIED, f"the canary's pids.max read max (fork test not "
                         f"run: {fork.reason})", {"pids_max": "max"})
            else:
                self.add("DW214", DISPROVED, f"the canary's pids.max read {pids_max}",
                         {"pids_max": pids_max})
            return
        evidence: dict[str, Any] = {"pids_max": read, "fork_cap": fork.cap,
                                    "processes_started": fork.started}
        if not fork.stopped:
            if pids_max is not None:
                self.add("DW214", DISPROVED, f"the canary's pids.max read {pids_max}; the fork "
                         f"test reached its cap of {fork.cap} below it", evidence)
            else:
                self.add("DW214", VERIFIED, f"the canary's pids.max read {read}; the fork test "
                         f"started {fork.started} of {fork.cap} processes and nothing stopped "
                         "it", evidence, Severity.HIGH)
            return
        by = "its pids limit" if pids_max is not None else "another limit"
        self.add("DW214", DISPROVED, f"the fork test was stopped by {by} after "
                 f"{fork.started} of {fork.cap} processes ({fork.error}); pids.max read "
                 f"{read}", {**evidence, "fork_error": fork.error})

    def memory_and_cpu(self) -> None:
        limits = self.snap.limits
        if isinstance(limits, Unknown):
            self.skip("DW215", limits.reason)
            self.skip("DW216", limits.reason)
            return
        v = limits.cgroup_version
        mem_file = "memory.max" if v == 2 else "memory.limit_in_bytes"
        if limits.memory_max is None:
            self.add("DW215", VERIFIED, f"the canary's {mem_file} read unlimited (cgroup v{v})",
                     {"memory_limit": "max"})
        else:
            self.add("DW215", DISPROVED, f"the canary's {mem_file} read "
                     f"{limits.memory_max} ({_mib(limits.memory_max)})",
                     {"memory_limit": limits.memory_max})
        quota_file = "cpu.max" if v == 2 else "cpu.cfs_quota_us"
        weight_file = "cpu.weight" if v == 2 else "cpu.shares"
        evidence: dict[str, Any] = {
            "cpu_quota": limits.cpu_quota if limits.cpu_quota is not None else "max",
            "cpu_period": limits.cpu_period, weight_file.replace(".", "_"): limits.cpu_weight}
        if limits.cpu_quota is None and limits.cpu_weight_default:
            self.add("DW216", VERIFIED, f"the canary's {quota_file} read no quota and its "
                     f"{weight_file} the default {limits.cpu_weight}", evidence)
        elif limits.cpu_quota is not None:
            self.add("DW216", DISPROVED, f"the canary's CPU quota is {limits.cpu_quota} us per "
                     f"{limits.cpu_period} us", evidence)
        else:
            self.add("DW216", DISPROVED, f"the canary's {weight_file} read "
                     f"{limits.cpu_weight} (relative share set)", evidence)

    def engine_api(self) -> None:
        reach = self.snap.engine_reach
        if isinstance(reach, Unknown):
            self.skip("DW103", reach.reason)
            return
        tried = [_attempt(a) for a in reach]
        hits = [a for a in reach if a.reach in (Reach.ENGINE, Reach.ENGINE_TLS)]
        if hits:
            plain = any(a.reach is Reach.ENGINE for a in hits)
            where = ", ".join(f"{a.address}:{a.port}" + (" (TLS)" if a.reach is
                                                         Reach.ENGINE_TLS else "")
                              for a in hits)
            self.add("DW103", VERIFIED, f"the canary reached the Engine API at {where}",
                     {"reached": [_attempt(a) for a in hits], "tried": tried},
                     None if plain else Severity.HIGH)
        else:
            self.add("DW103", DISPROVED, f"no Engine API answered the canary on "
                     f"{len(reach)} address:port pairs", {"tried": tried})

    def peer(self) -> None:
        peer = self.snap.peer_reach
        if isinstance(peer, Unknown):
            self.skip("DW104", peer.reason)
            return
        how = {Reach.PEER: "and read its answer", Reach.REFUSED: "(a TCP reset: reachable, "
               "nothing listening)", Reach.OPEN: "(connected)"}
        if peer.reach in how:
            self.add("DW104", VERIFIED, f"canary A reached canary B at {peer.address}:"
                     f"{peer.port} on the default bridge {how[peer.reach]}",
                     {"peer": _attempt(peer)})
        else:
            self.add("DW104", DISPROVED, f"canary A got no answer from canary B at "
                     f"{peer.address}:{peer.port} on the default bridge",
                     {"peer": _attempt(peer)})

    def write(self) -> None:
        w = self.snap.write
        if isinstance(w, Unknown):
            self.skip("DW217", w.reason)
            return
        evidence: dict[str, Any] = {"path": w.path, "bytes_written": w.written,
                                    "bytes_tried": w.target, "storage_opt_size": w.quota}
        beyond = f" (--storage-opt size={w.quota} plus {_mib(w.target)})" if w.quota else ""
        if w.written >= w.target:
            self.add("DW217", VERIFIED, f"the canary wrote {_mib(w.written)} to {w.path}"
                     f"{beyond} and no quota stopped it", evidence)
        elif not w.path:
            self.add("DW217", DISPROVED, f"the canary could not write to its root "
                     f"filesystem ({w.error})", evidence)
        else:
            self.add("DW217", DISPROVED, f"the write to {w.path} stopped after "
                     f"{_mib(w.written)} of {_mib(w.target)}: {w.error}",
                     {**evidence, "error": w.error})

    def log(self) -> None:
        log = self.snap.log
        if isinstance(log, Unknown):
            self.skip("DW218", log.reason)
            return
        evidence: dict[str, Any] = {"log_driver": log.driver, "log_options": log.options}
        if log.written:
            evidence.update(bytes_printed=log.written, file_before=log.file_before,
                            file_after=log.file_after, rotated_files=list(log.rotated))
        if log.driver == "none":
            self.add("DW218", DISPROVED, "the log driver is none: nothing is kept", evidence)
            return
        if log.driver == "local":
            self.add("DW218", DISPROVED, "the local log driver rotates its files (max-size "
                     f"{log.options.get('max-size', '20m')})", evidence)
            return
        if log.driver != "json-file":
            self.skip("DW218", f"the canary's logs go to the {log.driver or 'unknown'} driver: "
                      "its rotation is not the Engine's to measure")
            return
        from dockwarden.collect.probe import parse_size

        max_size = parse_size(log.options.get("max-size", "")) or 0
        grew = (log.file_after - log.file_before
                if log.file_after is not None and log.file_before is not None else None)
        if max_size <= 0:
            measured = "the json-file LogConfig has no max-size"
            if grew is not None:
                measured += (f"; the log file grew by {_mib(grew)} after the canary printed "
                             f"{_mib(log.written)}, with no rotation")
            self.add("DW218", VERIFIED, measured, evidence)
            return
        if grew is None:
            self.add("DW218", DISPROVED, f"the json-file LogConfig has max-size "
                     f"{log.options['max-size']} (not measured by writing: {log.note})",
                     evidence)
            return
        if log.rotated or (log.file_after or 0) <= max_size + (64 << 10):
            rotated = f" (rotated: {', '.join(log.rotated)})" if log.rotated else ""
            self.add("DW218", DISPROVED, f"after printing {_mib(log.written)} the log file "
                     f"holds {_mib(log.file_after or 0)}, within max-size "
                     f"{log.options['max-size']}{rotated}", evidence)
        else:
            self.add("DW218", VERIFIED, f"after printing {_mib(log.written)} the log file "
                     f"holds {_mib(log.file_after or 0)}, beyond max-size "
                     f"{log.options['max-size']}, and was not rotated", evidence)


def _attempt(a: Attempt) -> str:
    text = f"{a.address}:{a.port} {a.reach.value}"
    return f"{text} ({a.answer})" if a.answer and a.reach is not Reach.SILENT else text


def build_report(snap: ProbeSnapshot, selection: Any, started: str,
                 extra_errors: list[str]) -> Report:
    builder = _Builder(snap, selection)
    builder.build()
    errors = [ReportError(snap.engine, e) for e in (*snap.errors, *extra_errors)]
    return Report(
        started=started, finished=output.now(),
        targets=(ReportTarget(TargetKind.ENGINE, snap.engine,
                              snap.complete and not extra_errors),),
        findings=tuple(builder.findings), skipped=tuple(builder.skipped),
        errors=tuple(errors))


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.collect.connection import connect
    from dockwarden.collect.probe import Prober, ProbeSettings, canary_options

    started = output.now()
    selection = output.selection(ns)
    canary = canary_options(ns.run_flags)  # a bad flag fails before the Engine is reached
    show = not (ns.no_progress or ns.quiet)

    def progress(message: str) -> None:
        if show:
            from dockwarden.sanitize import clean

            print(f"probe: {clean(message)}", file=sys.stderr, flush=True)

    conn = connect(opts.engine_from(ns, timeout=min(30.0, ns.timeout)), sdk=True)
    settings = ProbeSettings(options=canary, image=ns.image, fork_cap=ns.fork_cap,
                             write_extra=ns.write_size, timeout=ns.timeout,
                             labels=dict(ns.label))
    prober = Prober(conn.api, conn.url, conn.scheme, settings, progress)
    try:
        snap = prober.run()
    finally:
        progress("removing the canaries")
        left = prober.cleanup()
        if left:
            progress(f"could not remove {len(left)} canaries")
    extra = [f"could not remove canaries {', '.join(c[:12] for c in left)} (they remove "
             f"themselves within {prober.lifetime} s)"] if left else []
    return build_report(snap, selection, started, extra)


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
