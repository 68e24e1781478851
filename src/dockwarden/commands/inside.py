"""`dockwarden inside`: run inside a container and report what it could do to its host
(DW801-DW806). The probe (`dockwarden.inside`, standard library only) runs in this
process; its facts are judged by the registered checks into a report like any other
audit. With `--facts FILE`, facts gathered elsewhere by the single-file probe
(`python3 inside.py --format json`) are judged instead."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import InputError
from dockwarden.model.common import Source, TargetKind
from dockwarden.model.finding import Report, ReportTarget, Target
from dockwarden.sanitize import clean

DESCRIPTION = (
    "Run inside a container: what could this container do to its host? Reads "
    "/proc/self/status (capabilities, seccomp, NSpid), the AppArmor/SELinux label, "
    "/proc/self/mountinfo (host directories, Engine sockets, cgroup release_agent) and "
    "the default gateway's Engine ports 2375/2376, and reports DW801-DW806. No Engine is "
    "needed and nothing is changed: writability is asked with access(2), never tried. "
    "The probe is also a single standard-library file: copy src/dockwarden/inside.py "
    "into a container and run `python3 inside.py --format json`.")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.05 <= value <= 30:
        raise argparse.ArgumentTypeError("--timeout must be within 0.05-30 seconds")
    return value


def options(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    g = p.add_argument_group("probe")
    g.add_argument("--timeout", type=_timeout, default=1.0, metavar="SECONDS",
                   help="time limit of each network connection to the gateway's Engine "
                   "ports and of each socket's GET /_ping (default 1)")
    g.add_argument("--no-network", action="store_true",
                   help="do not probe the default gateway's Engine ports (DW804 is "
                   "then skipped)")
    g.add_argument("--facts", metavar="FILE",
                   help="judge facts gathered elsewhere (the JSON of `python3 inside.py "
                   "--format json` run in a container) instead of probing here")
    opts.output_options(p)


MAX_FACTS_BYTES = 8 << 20


def _facts_from_file(path: str) -> tuple[Any, str]:
    from dockwarden import inside
    from dockwarden.safeio import read_text

    text = read_text(path, what="facts file", max_bytes=MAX_FACTS_BYTES)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{clean(path)}: not JSON: {clean(exc)}") from None
    if isinstance(data, dict) and isinstance(data.get("facts"), dict):
        data = data["facts"]
    try:
        facts = inside.Facts.from_dict(data)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InputError(f"{clean(path)}: {clean(exc)}") from None
    return facts, clean(facts.hostname or path)


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden import inside
    from dockwarden.checks.registry import Scope, checks_for, run

    started = output.now()
    selection = output.selection(ns)
    if ns.facts:
        facts, ref = _facts_from_file(ns.facts)
    else:
        facts = inside.gather(network=not ns.no_network, timeout=ns.timeout)
        ref = clean(facts.hostname or "") or "self"
    target = Target(TargetKind.SELF, ref)
    results = run(checks_for(Scope.INSIDE, selection), (facts,), target, Source.INSIDE)
    return output.file_report(started, [ReportTarget(TargetKind.SELF, ref, True)], results,
                              [])


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
