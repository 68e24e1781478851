"""`dockwarden dockerfile`: Dockerfiles before anything is built.

DW501 judges the user the container will run as: without a USER in the final stage it
is the base image's, looked up (by `collect.dockerfile.BaseUserResolver`) in the local
Engine, which is tried quickly and skipped silently when it does not answer
(`--no-engine` turns it off), and with `--resolve-base` in the registry (manifest and
config blob only)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dockwarden.commands import inputs, output
from dockwarden.commands import options as opts
from dockwarden.errors import InputError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget
from dockwarden.sanitize import clean


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="Dockerfiles, or folders searched for *Dockerfile* / *Containerfile*")
    opts.output_options(p)
    opts.image_user_options(p, subject="base image", check="DW501")


def _dockerfiles(root: str, passed_over: list[ReportError]) -> list[str]:
    if not os.path.isdir(root):
        return inputs.script_files(root)
    skipped: list[ReportError] = []
    found = [p for p in inputs.script_files(root, skipped) if inputs.is_dockerfile(p)]
    passed_over.extend(e for e in skipped if inputs.is_dockerfile(e.target))
    if not found and not skipped:
        raise InputError(f"{clean(root)}: no Dockerfiles found")
    return found


# Many Dockerfiles are linted in worker processes (one per CPU, up to 4): parsing RUN
# bodies is CPU-bound Python. Below this many files a pool costs more than it saves.
PARALLEL_MIN_FILES = 64


# The base-user resolver of this run; a module global so that forked workers inherit it
# (it opens its Engine connection in each process on first use).
_RESOLVER: Any = None


def _lint_dockerfile(path: str, selection: Any) -> tuple[str, Any]:
    """(path, Results) of one Dockerfile, or (path, message) when it is refused."""
    from dockwarden.checks.judge import judge_dockerfile
    from dockwarden.collect.dockerfile import parse_dockerfile

    try:
        df = parse_dockerfile(path)
    except InputError as exc:
        return path, exc.message
    if _RESOLVER is not None and _wants_user(selection):
        df = _RESOLVER.resolve(df)
    return path, judge_dockerfile(df, selection)


def _wants_user(selection: Any) -> bool:
    return selection is None or bool(selection.wants("DW501"))


def base_user_resolver(ns: argparse.Namespace) -> Any:
    """The base-user resolver of a run (also `dockwarden compose`'s and `run-command`'s,
    for DW220): the Engine unless --no-engine (the default connection is tried with a
    short time limit and skipped silently when it does not answer; one named with
    -H/--context must answer), the registry with --resolve-base."""
    from dockwarden.collect.dockerfile import BaseUserResolver
    timeout = getattr(ns, "timeout", 30.0)
    explicit = bool(getattr(ns, "host", None) or getattr(ns, "context", None))
    engine = None
    if not getattr(ns, "no_engine", False):
        engine = opts.engine_from(ns, timeout=timeout if explicit else min(timeout, 3.0))
    resolver = BaseUserResolver(engine=engine, registry=getattr(ns, "resolve_base", False),
                                timeout=timeout)
    if explicit and resolver.engine_error is not None:
        raise resolver.engine_error
    return resolver


def _worker_signals() -> None:
    """Workers end quietly when the pool terminates them (SIGTERM): the parent's handler
    (SIGTERM as Ctrl-C) would print a KeyboardInterrupt traceback from each idle one."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _lint_dockerfiles(paths: list[str], selection: Any) -> list[tuple[str, Any]]:
    """Each file's outcome, in the order given; in forked workers when there are many."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cpus or 1, 4)
    # The Go runtime of the `dockerfile` package is not fork-safe: once it is loaded in
    # this process, forked workers would hang in it. Workers load it themselves.
    if len(paths) < PARALLEL_MIN_FILES or workers < 2 or "dockerfile" in sys.modules:
        return [_lint_dockerfile(p, selection) for p in paths]
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return [_lint_dockerfile(p, selection) for p in paths]
    # Import the pure-Python parts the workers need once, before they are forked.
    import bashlex  # noqa: F401  (building its parser tables takes ~0.2 s)

    from dockwarden.checks.registry import Scope, load

    load(Scope.DOCKERFILE)
    chunk = max(1, len(paths) // (workers * 8))
    with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals) as pool:
        return pool.starmap(_lint_dockerfile, [(p, selection) for p in paths], chunk)


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.registry import Results

    started = output.now()
    selection = output.selection(ns)
    passed_over: list[ReportError] = []
    paths = [p for root in ns.paths for p in _dockerfiles(root, passed_over)]
    global _RESOLVER
    _RESOLVER = base_user_resolver(ns) if paths and _wants_user(selection) else None
    results = Results()
    targets = [ReportTarget(TargetKind.DOCKERFILE, e.target, False) for e in passed_over]
    errors: list[ReportError] = list(passed_over)
    for path, outcome in _lint_dockerfiles(paths, selection):
        if isinstance(outcome, str):
            if len(paths) == 1 and not passed_over:
                raise InputError(outcome)
            errors.append(ReportError(path, outcome))  # one bad file never stops the run
            targets.append(ReportTarget(TargetKind.DOCKERFILE, path, False))
            continue
        results.extend(outcome)
        targets.append(ReportTarget(TargetKind.DOCKERFILE, path, True))
    return output.file_report(started, targets, results, errors)


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
