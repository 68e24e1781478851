"""`dockwarden compose`: compose files before anything runs.

DW220 judges the user a service runs as: its `user:`, else the image's. For a service
built from a local Dockerfile that is the Dockerfile's USER; for one naming only
`image:` it is the image's configured user, looked up (by
`collect.dockerfile.BaseUserResolver`, one per run, as `dockwarden dockerfile` does) in
the local Engine, which is tried quickly and skipped silently when it does not answer
(`--no-engine` turns it off), and with `--resolve-base` in the registry (manifest and
config blob only)."""

from __future__ import annotations

import argparse
import os
from typing import Any

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
    user_options(p)


def user_options(p: argparse.ArgumentParser) -> None:
    """The Engine connection and the look-ups of an image's configured user (DW220), as
    `dockwarden dockerfile` takes them for DW501."""
    opts.image_user_options(p, subject="image", check="DW220")


class _Users:
    """The one `BaseUserResolver` of a run, built (the same construction as `dockwarden
    dockerfile`'s, Engine probe included) only when a first image is looked up."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.resolver: Any = None

    def image_user(self, image: str) -> Any:
        if self.resolver is None:
            from dockwarden.commands.dockerfile import base_user_resolver

            self.resolver = base_user_resolver(self.ns)
        return self.resolver.image_user(image)


def user_resolver(ns: argparse.Namespace, selection: Any) -> Any:
    """What looks up images' configured users for this run (None when DW220 is not
    selected: nothing is looked up)."""
    return _Users(ns) if selection.wants("DW220") else None


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
    selection = output.selection(ns)
    users = user_resolver(ns, selection)
    specs: list[ContainerSpec] = []
    env_specs: list[ContainerSpec] = []  # one per env_file read: judged for secrets only
    targets = []
    errors: list[ReportError] = []
    warnings: list[ReportError] = []
    for files in projects:
        try:
            project = load_project(files, profiles=ns.profile, users=users)
            specs.extend(project)
            env_specs.extend(project.env_specs)
            warnings.extend(_warning(files, note) for note in project.warnings)
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], True))
        except InputError as exc:
            if len(projects) == 1:
                raise
            errors.append(ReportError(files[-1], exc.message))  # one bad file never stops
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], False))
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
