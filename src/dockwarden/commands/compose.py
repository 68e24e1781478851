"""`dockwarden compose`: compose files before anything runs."""

from __future__ import annotations

import argparse
import os

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import InputError, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="FILE|DIR",
                   help="compose files, or folders searched for them; each is its own project")
    p.add_argument("-f", "--file", action="append", default=[], dest="merge", metavar="FILE",
                   help="merge these files into one project, in order (as docker compose -f)")
    p.add_argument("--profile", action="append", default=[], metavar="NAME",
                   help="activate services of this profile (repeatable)")
    opts.output_options(p)


def audit(ns: argparse.Namespace) -> Report:
    from dataclasses import replace

    from dockwarden.checks.judge import judge_containers
    from dockwarden.checks.registry import Selection
    from dockwarden.collect.compose import find_compose_files, load_project
    from dockwarden.model.container import ContainerContext, ContainerSpec

    started = output.now()
    projects: list[list[str]] = [list(ns.merge)] if ns.merge else []
    for path in ns.paths:
        if os.path.isdir(path):
            found = find_compose_files(path)
            if not found:
                raise InputError(f"{path}: no compose files found")
            projects.extend([f] for f in found)
        else:
            projects.append([path])
    if not projects:
        raise UsageError("name compose files (or a directory), or -f FILE")
    specs: list[ContainerSpec] = []
    env_specs: list[ContainerSpec] = []  # one per env_file read: judged for secrets only
    targets = []
    errors: list[ReportError] = []
    warnings: list[ReportError] = []
    for files in projects:
        try:
            project = load_project(files, profiles=ns.profile)
            specs.extend(project)
            env_specs.extend(project.env_specs)
            warnings.extend(_warning(files, note) for note in project.warnings)
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], True))
        except InputError as exc:
            if len(projects) == 1:
                raise
            errors.append(ReportError(files[-1], exc.message))  # one bad file never stops
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], False))
    selection = output.selection(ns)
    results = judge_containers(specs, ContainerContext(), selection)
    if env_specs and selection.wants("DW233"):
        env_results = judge_containers(env_specs, ContainerContext(), Selection(only=("DW233",)))
        results.findings.extend(env_results.findings)
        results.errors.extend(env_results.errors)
    report = output.file_report(started, targets, results, errors)
    return replace(report, warnings=tuple(warnings))


def _warning(files: list[str], note: str) -> ReportError:
    """A loader note as a report warning, its target the file it names (else the project's
    last file)."""
    head, sep, rest = note.partition(": ")
    if sep and head in files:
        return ReportError(head, rest)
    return ReportError(files[-1], note)


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
