"""`dockwarden registry URL`: a registry's transport and access control (DW401-DW406)."""

from __future__ import annotations

import argparse
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import DockwardenError
from dockwarden.model.common import Source, TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget, Target


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL",
                   help="the registry: https://HOST[:PORT], http://HOST[:PORT] or HOST[:PORT] "
                   "(https is tried first, then plain HTTP)")
    g = p.add_argument_group("registry")
    g.add_argument("--repository", metavar="NAME",
                   help="repository to try pulling and pushing (default: the first the "
                   "catalog lists)")
    g.add_argument("--ca-cert", metavar="FILE",
                   help="also trust this CA (PEM), besides the system store and "
                   "/etc/docker/certs.d/HOST:PORT/*.crt")
    opts.login_options(g)
    g.add_argument("--no-write-test", action="store_true",
                   help="do not test pushing (by default an upload is opened and cancelled, "
                   "or a blob the repository holds is mounted onto itself: nothing is stored)")
    g.add_argument("--timeout", type=opts.timeout_seconds, default=30.0,
                   help="time limit of each connection, handshake and request, in seconds "
                   "(default 30)")
    opts.output_options(p)


def _notes(snap: Any) -> list[str]:
    """What the reader should know beside the findings: the notes of the collector and
    what the credentials allowed (reported as facts, never as anonymous findings)."""
    from dockwarden.model.common import Unknown

    notes = list(snap.notes)
    login = snap.login
    if login is not None and not isinstance(login.accepted, Unknown):
        if login.accepted is False:
            notes.append(f"credentials from {login.origin}: refused by the registry")
        else:
            def said(name: str, fact: Any, yes: str) -> str:
                if isinstance(fact, Unknown):
                    return f"{name} unknown ({fact.reason})"
                return f"{name} {yes}" if fact.allowed else f"{name} refused (HTTP {fact.status})"
            parts = [said("catalog", login.catalog, "listed"),
                     said("pull", login.pull, "allowed"),
                     said("push", login.push, "allowed")]
            notes.append(f"with the credentials from {login.origin}: accepted; "
                         + "; ".join(parts))
    return notes


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.collect.registry_audit import collect_registry, parse_registry_url

    started = output.now()
    selection = output.selection(ns)
    url = parse_registry_url(ns.url)  # a bad URL: InputError, exit 2, nothing written
    username, password = opts.registry_login(ns)
    try:
        snap = collect_registry(url, repository=ns.repository, ca_file=ns.ca_cert,
                                username=username, password=password,
                                timeout=ns.timeout, write_test=not ns.no_write_test)
    except DockwardenError as exc:
        if exc.exit_code != 3:
            raise
        ref = url.ref()
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return Report(started=started, finished=output.now(),
                      targets=(ReportTarget(TargetKind.REGISTRY, ref, False),), findings=(),
                      errors=(ReportError(ref, message),))
    from dockwarden.checks.registry import Scope, checks_for, run

    target = Target(TargetKind.REGISTRY, snap.ref)
    results = run(checks_for(Scope.REGISTRY, selection), (snap,), target, Source.REGISTRY)
    errors = [ReportError(snap.ref, e) for e in snap.errors]
    return Report(started=started, finished=output.now(),
                  targets=(ReportTarget(TargetKind.REGISTRY, snap.ref, not snap.errors),),
                  findings=tuple(results.findings), skipped=tuple(results.skipped),
                  errors=tuple(errors + results.errors), passed=results.passed,
                  warnings=tuple(ReportError(snap.ref, n) for n in _notes(snap)))


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
