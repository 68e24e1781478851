"""`dockwarden engine | daemon | containers`: one Engine's daemon, host and containers."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dockwarden.commands import compose, dockerfile, inputs, output
from dockwarden.commands import options as opts
from dockwarden.errors import EngineUnreachable, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget


def options(p: argparse.ArgumentParser) -> None:
    opts.engine_options(p)
    opts.output_options(p)


def containers_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="container names or id prefixes")
    options(p)


class _Progress:
    """A progress bar on stderr, made on the first call (rich is imported then)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            self._bar = Progress(TextColumn("inspecting containers"), BarColumn(),
                                 MofNCompleteColumn(), transient=True,
                                 console=_stderr_console())
            self._bar.start()
            self._task = self._bar.add_task("inspect", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _stderr_console() -> Any:
    from rich.console import Console
    return Console(file=sys.stderr)


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.judge import judge_engine
    from dockwarden.collect.connection import EngineOptions, connect
    from dockwarden.collect.engine import EngineCollector

    started = output.now()
    selection = output.selection(ns)
    opts = EngineOptions(host=ns.host, context=ns.context, tls=ns.tls, tlsverify=ns.tlsverify,
                         tlscacert=ns.tlscacert, tlscert=ns.tlscert, tlskey=ns.tlskey,
                         timeout=ns.timeout)
    if ns.workers < 1:
        raise UsageError("--workers must be at least 1")
    conn = connect(opts, max_pool_size=max(10, ns.workers))
    progress = _Progress(enabled=not (ns.no_progress or ns.quiet) and sys.stderr.isatty())
    want_containers = ns.command in ("engine", "containers")
    names = tuple(getattr(ns, "names", ()) or ())
    collector = EngineCollector(conn, names=names, workers=ns.workers,
                                local_facts=not ns.no_local, progress=progress,
                                containers=want_containers,
                                daemon=ns.command in ("engine", "daemon"))
    try:
        snap = collector.collect()
    finally:
        progress.stop()
    results = judge_engine(snap, selection, daemon=ns.command in ("engine", "daemon"),
                           containers=want_containers)
    errors = [ReportError(t, m) for t, m in snap.errors] + results.errors
    kind = {"engine": TargetKind.ENGINE, "daemon": TargetKind.DAEMON,
            "containers": TargetKind.ENGINE}[ns.command]
    return Report(
        started=started, finished=output.now(),
        targets=(ReportTarget(kind, snap.endpoint, snap.complete),),
        findings=tuple(results.findings), skipped=tuple(results.skipped),
        errors=tuple(errors), passed=results.passed,
    )


def _unreachable_report(ns: argparse.Namespace, exc: EngineUnreachable) -> None:
    """Nothing was audited: still write a report that says so when asked for a file."""
    if ns.output and ns.format == "json":
        now = output.now()
        output.write(ns.output, output.render(Report(
            started=now, finished=now,
            targets=(ReportTarget(TargetKind.ENGINE, ns.host or os.environ.get(
                "DOCKER_HOST", "unix:///var/run/docker.sock"), False),),
            findings=(), errors=(ReportError("engine", exc.message),)), ns, False))


def _files_instead(ns: argparse.Namespace, exc: EngineUnreachable) -> Report | None:
    """A bare `dockwarden` with no reachable Engine lints the Dockerfiles and compose
    files under the current directory instead, and says so in one line."""
    from dataclasses import replace

    from dockwarden.collect.compose import find_compose_files

    dockerfiles = [p for p in inputs.script_files(".") if inputs.is_dockerfile(p)]
    composes = find_compose_files(".")
    if not dockerfiles and not composes:
        return None
    print(f"dockwarden: {exc.message}; auditing {len(dockerfiles)} Dockerfile(s) and "
          f"{len(composes)} compose file(s) under {os.getcwd()} instead", file=sys.stderr)
    parts = []
    if dockerfiles:
        parts.append(dockerfile.audit(argparse.Namespace(**{**vars(ns),
                                                              "paths": dockerfiles})))
    if composes:
        parts.append(compose.audit(argparse.Namespace(**{**vars(ns), "paths": composes,
                                                          "merge": [], "profile": []})))
    first = parts[0]
    for other in parts[1:]:
        first = replace(first, targets=first.targets + other.targets,
                        findings=first.findings + other.findings,
                        skipped=first.skipped + other.skipped,
                        errors=first.errors + other.errors, passed=first.passed + other.passed,
                        finished=other.finished)
    return first


def run(ns: argparse.Namespace) -> int:
    """`engine`, `daemon` or `containers`. A bare `dockwarden` (`ns.implicit`) with no
    Engine to reach lints the Dockerfiles and compose files here instead."""
    try:
        report = audit(ns)
    except EngineUnreachable as exc:
        fallback = _files_instead(ns, exc) if getattr(ns, "implicit", False) \
            and not ns.host else None
        if fallback is None:
            _unreachable_report(ns, exc)
            raise
        report = fallback
    return output.finish(report, ns)
