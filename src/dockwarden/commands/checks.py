"""`dockwarden checks`: the check catalogue."""

from __future__ import annotations

import argparse
import sys

from dockwarden.commands import output


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("-o", "--output", metavar="FILE")


def run(ns: argparse.Namespace) -> int:
    import json

    from dockwarden.checks import iter_catalogue
    rows = [{
        "id": m.id, "severity": m.severity.value, "scope": m.scope.value,
        "target": m.target_kind.value, "title": m.title, "rationale": m.rationale,
        "remediation": m.remediation, "references": list(m.references),
        "bad": list(m.bad), "good": list(m.good),
    } for m in iter_catalogue()]
    if ns.format == "json":
        output.write(ns.output, json.dumps(rows, indent=2) + "\n")
    elif ns.format == "markdown":
        from dockwarden.report.markdown import catalogue
        output.write(ns.output, catalogue(rows))
    else:
        from dockwarden.report.text import render_catalogue
        colour = not ns.output and sys.stdout.isatty()
        output.write(ns.output, render_catalogue(rows, colour=colour))
    return 0
