"""`dockwarden exposure TARGET...`: probe one's own hosts for Docker Engine APIs and
registries that answer without authentication (DW701-DW703).

It probes only the targets named: a host name becomes the addresses it resolves to and
no more, a CIDR is refused when it holds more than 4,096 addresses. Use it on hosts you
run or are allowed to test."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import UsageError
from dockwarden.model.common import Source, TargetKind
from dockwarden.model.exposure import ExposureSnapshot, PortState, Service
from dockwarden.model.finding import Report, ReportError, ReportTarget, Target

DESCRIPTION = (
    "Probe your own hosts for Docker Engine APIs and registries that answer without "
    "authentication: the Engine ports (2375, 2376), registry ports (443, 5000, 5001, 5050, "
    "8443) and any --ports, plain and over TLS. An Engine API that answers /version "
    "without TLS is DW701; over TLS without asking for a client certificate, DW702 (one "
    "that refuses a client without a certificate passes); a registry whose /v2/ answers "
    "200 without credentials is DW703 (a 401 challenge passes). Only reads are sent. "
    "It probes only the targets you name (a host name: only the addresses it resolves "
    "to; a CIDR of at most 4,096 addresses): use it on hosts you run or are allowed to "
    "test. Closed and filtered ports are not findings.")


def _ports(text: str) -> tuple[int, ...]:
    from dockwarden.collect.exposure import parse_ports

    try:
        return parse_ports(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _concurrency(text: str) -> int:
    return opts.int_within(text, "--concurrency", 1, 10_000)


def options(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="a host name, an address, HOST:PORT (that port only), [IPV6]:PORT "
                   "or a CIDR of at most 4,096 addresses (e.g. 10.0.0.0/24); only "
                   "hosts you run or may test")
    g = p.add_argument_group("probe")
    g.add_argument("--ports", type=_ports, action="append", default=[], metavar="LIST",
                   help="more ports to probe on targets named without a port, e.g. "
                   "1-1024,8080 (repeatable; added to the default Engine and registry "
                   "ports)")
    g.add_argument("--no-default-ports", action="store_true",
                   help="probe only the --ports given, not the default Engine (2375, 2376) "
                   "and registry (443, 5000, 5001, 5050, 8443) ports")
    g.add_argument("--concurrency", type=_concurrency, default=256, metavar="N",
                   help="connections open at once, at most (default 256; lowered to fit "
                   "the open-files limit)")
    g.add_argument("--timeout", type=opts.timeout_seconds, default=3.0, metavar="SECONDS",
                   help="time limit of each connection: connect, TLS handshake, request "
                   "and answer (default 3); a port silent that long counts as filtered")
    opts.output_options(p)


class _Progress:
    """`probed 512/1,024, 3 open` on stderr, at most five times a second (a terminal
    only)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int, found: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        self.shown = True
        print(f"\rprobed {done:,}/{total:,} ports, {found} open", end="", file=sys.stderr,
              flush=True)

    def end(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _summary(snap: ExposureSnapshot) -> str:
    """One line per address and per service found, for the terminal."""
    lines = []
    for a in snap.addresses:
        if a.error:
            lines.append(f"{a.host}: {a.error}")
            continue
        counts = ", ".join(f"{n:,} {state.value}" for state, n in sorted(
            a.states.items(), key=lambda kv: list(PortState).index(kv[0])))
        shown = a.host if a.host == a.address else f"{a.host} ({a.address})"
        lines.append(f"{shown}: {a.ports:,} ports probed: {counts}")
    for ep in snap.endpoints:
        what = ep.service.value + (" over TLS" if ep.tls else "")
        if ep.service is Service.TLS_CLIENT_AUTH:
            what = f"TLS, client certificate required ({ep.tls_refusal})"
        elif ep.registry is not None and ep.registry.status == 401:
            what += f", authentication required ({ep.registry.challenge or '401'})"
        elif ep.engine is not None and ep.engine.version_status != 200:
            what += f", /version refused ({ep.engine.version_status})"
        lines.append(f"  {ep.ref}: {what}")
    from dockwarden.sanitize import clean

    return "\n".join(clean(line) for line in lines)


def audit(ns: argparse.Namespace, progress: Any = None) -> tuple[Report, ExposureSnapshot]:
    from dockwarden.checks.registry import Results, Scope, checks_for, run
    from dockwarden.collect.exposure import DEFAULT_PORTS, collect

    started = output.now()
    selection = output.selection(ns)
    given = tuple(p for group in ns.ports for p in group)
    ports = tuple(sorted(set(given if ns.no_default_ports else (*DEFAULT_PORTS, *given))))
    snap = collect(list(ns.targets), ports, timeout=ns.timeout,
                   concurrency=ns.concurrency, progress=progress)
    checks = checks_for(Scope.ENDPOINT, selection)
    results = Results()
    targets: list[ReportTarget] = []
    errors: list[ReportError] = []
    for a in snap.addresses:
        targets.append(ReportTarget(TargetKind.ENDPOINT, a.host or a.address, not a.error))
        if a.error:
            errors.append(ReportError(a.host, f"{a.host}: {a.error}"))
    for ep in snap.endpoints:
        targets.append(ReportTarget(TargetKind.ENDPOINT, ep.ref, True))
        results.extend(run(checks, (ep,), Target(TargetKind.ENDPOINT, ep.ref),
                           Source.NETWORK))
    return output.file_report(started, targets, results, errors), snap


def run(ns: argparse.Namespace) -> int:
    show = not (ns.no_progress or ns.quiet) and sys.stderr.isatty()
    progress = _Progress() if show else None
    try:
        report, snap = audit(ns, progress)
    finally:
        if progress is not None:
            progress.end()
    if show:
        print(_summary(snap), file=sys.stderr)
    return output.finish(report, ns)
