"""`dockwarden run-command`: `docker run` lines judged like live containers.

Without `--user`, DW220 judges the image's configured user, looked up as `dockwarden
compose` does for a service naming only `image:` (local Engine by default,
`--no-engine`, `--resolve-base`; one resolver per run)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from dockwarden.commands import inputs, output
from dockwarden.commands import options as opts
from dockwarden.commands.compose import user_options, user_resolver
from dockwarden.errors import InputError, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("lines", nargs="*", metavar="'docker run ...'",
                   help="docker run command lines, each quoted as one argument")
    p.add_argument("--scan-scripts", action="append", default=[], metavar="PATH",
                   help="find `docker run` lines in shell scripts, Makefiles and CI YAML "
                   "under PATH (repeatable)")
    opts.output_options(p)
    user_options(p)


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.judge import judge_containers
    from dockwarden.collect.runcmd import find_run_commands, parse_run
    from dockwarden.model.container import ContainerContext

    started = output.now()
    if not ns.lines and not ns.scan_scripts:
        raise UsageError("give a quoted `docker run ...` line or --scan-scripts PATH")
    specs = [parse_run(line) for line in ns.lines]
    errors: list[ReportError] = []
    targets = [ReportTarget(TargetKind.CONTAINER, "run-command", True)] if ns.lines else []
    from dockwarden.safeio import read_input

    for root in ns.scan_scripts:
        named = not os.path.isdir(root)  # a file named on the command line must be read
        for path in inputs.script_files(root, errors):
            try:
                data = read_input(path, what="script", max_bytes=1 << 20,
                                  root=None if named else root)
            except InputError as exc:
                if named:
                    raise
                errors.append(ReportError(path, exc.message))
                continue
            if b"\0" in data[:8192] or b"docker" not in data:
                continue
            found = find_run_commands(data.decode("utf-8", "replace"))
            for line, command in found:
                try:
                    specs.append(parse_run(command, origin=path, line=line))
                except InputError as exc:
                    errors.append(ReportError(f"{path}:{line}", exc.message))
            if found:
                targets.append(ReportTarget(TargetKind.CONTAINER, path, True))
    selection = output.selection(ns)
    users = user_resolver(ns, selection)
    if users is not None:
        specs = [_with_image_user(spec, users) for spec in specs]
    results = judge_containers(specs, ContainerContext(), selection)
    return output.file_report(started, targets, results, errors)


def _with_image_user(spec: Any, users: Any) -> Any:
    """`spec` with the image's configured user when the line gives no `--user`."""
    if spec.user or not spec.image or spec.image_user is not None:
        return spec
    from dataclasses import replace

    image_user, source = users.image_user(spec.image)
    return replace(spec, image_user=image_user, image_user_from=spec.image,
                   image_user_source=source)


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
