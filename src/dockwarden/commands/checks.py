"""`dockwarden checks`: the check catalogue; `dockwarden checks ID...` explains checks: what
each reads, why it matters (the attack it prevents), the fix, its CIS and other
references, and its bad and good examples."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dockwarden.commands import output
from dockwarden.commands.options import PROFILES
from dockwarden.errors import UsageError
from dockwarden.sanitize import clean


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID",
                   help="explain these checks (ids, or prefixes such as DW21); "
                   "without one, list them all")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="text (default), json, or markdown (the README's table)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write here instead of stdout")
    p.add_argument("--profile", "--benchmark", dest="benchmark", choices=PROFILES,
                   metavar="cis", help="only the checks mapped to the CIS Docker "
                   "Benchmark 1.6.0")


# What the checks of each scope read, and where from.
READS = {
    "container": "the container's configuration: a live container's inspect data, a "
                 "compose service, or a `docker run` command line (one logic for all three)",
    "engine": "the Engine's /info and /version answers, the daemon's configuration "
              "(daemon.json, command line) and, when the Engine is local, host files",
    "image": "the image's config, history and filesystem (each layer read once), its "
             "packages and the local vulnerability database",
    "dockerfile": "the Dockerfile's instructions, before anything is built",
}
# Checks that read something else than the rest of their scope.
READS_BY_CHECK = {
    "DW311": "the image's cosign signature in its registry (the sha256-<digest>.sig tag: "
             "simple-signing payloads and their signature annotations), verified with --key",
}
WHERE = {
    "container": "dockwarden engine / containers / compose / run-command",
    "engine": "dockwarden engine / daemon",
    "image": "dockwarden image (and the images in use by `dockwarden engine`)",
    "dockerfile": "dockwarden dockerfile",
}


def _row(m: Any) -> dict[str, Any]:
    from dockwarden.commands.output import cis_controls

    return {
        "id": m.id, "severity": m.severity.value, "scope": m.scope.value,
        "target": m.target_kind.value, "title": m.title, "rationale": m.rationale,
        "remediation": m.remediation, "references": list(m.references),
        "cis": cis_controls(m.id), "bad": list(m.bad), "good": list(m.good),
    }


def _explained(row: dict[str, Any]) -> dict[str, Any]:
    reads = READS_BY_CHECK.get(row["id"]) or READS.get(row["scope"], "")
    return {**row, "reads": reads, "run_by": WHERE.get(row["scope"], "")}


def _selected(rows: list[dict[str, Any]], wanted: list[str]) -> list[dict[str, Any]]:
    """The rows named by `wanted` (ids or prefixes), in id order; an unknown one is a
    usage error naming the close matches."""
    want = [w.strip().upper() for w in wanted if w.strip()]
    output._known_ids(want, "checks")
    return [r for r in rows if any(r["id"].startswith(w) for w in want)]


def _width() -> int:
    """The terminal's width (COLUMNS, else the terminal), else 100 when piped."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.stdout.isatty():
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            columns = 0
    return max(40, columns or 100)


def render_text(rows: list[dict[str, Any]], width: int = 100) -> str:
    """Each check explained, in plain text wrapped to `width` (its strings cleaned)."""
    import textwrap

    out: list[str] = []
    indent = " " * 14

    def field(label: str, text: str) -> None:
        out.extend(textwrap.wrap(clean(text), width, initial_indent=f"  {label + ':':<12}",
                                 subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False))

    for r in rows:
        cis = f"  (CIS {', '.join(r['cis'])})" if r["cis"] else ""
        out.append(clean(f"{r['id']}  {r['severity'].upper()}  {r['title']}{cis}"))
        field("reads", r["reads"])
        field("run by", r["run_by"])
        field("why", r["rationale"])
        field("fix", r["remediation"])
        if r["references"]:
            field("references", "; ".join(r["references"]))
        for label in ("bad", "good"):
            for i, example in enumerate(r[label]):
                lines = str(example).rstrip("\n").split("\n")
                for j, line in enumerate(lines):
                    head = f"  {label + ':':<12}" if i == 0 and j == 0 else indent
                    bullet = ("- " if j == 0 else "  ") if len(r[label]) > 1 else ""
                    out.append(f"{head}{bullet}{clean(line)}".rstrip())
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md(text: str) -> str:
    return clean(text).replace("|", "\\|")


def render_markdown(rows: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for r in rows:
        cis = f" (CIS {', '.join(r['cis'])})" if r["cis"] else ""
        out += [f"### {r['id']}: {_md(r['title'])}{cis}", "",
                f"- **Severity:** {r['severity']}",
                f"- **Reads:** {_md(r['reads'])}",
                f"- **Run by:** {_md(r['run_by'])}",
                f"- **Why it matters:** {_md(r['rationale'])}",
                f"- **Fix:** {_md(r['remediation'])}"]
        if r["references"]:
            out.append(f"- **References:** {'; '.join(_md(x) for x in r['references'])}")
        for label, key in (("Bad", "bad"), ("Good", "good")):
            if r[key]:
                for x in r[key]:
                    out += ["", f"{label}:", "", "```",
                            clean(str(x).rstrip("\n"), multiline=True).replace("```", "` ` `"),
                            "```"]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def run(ns: argparse.Namespace) -> int:
    from dockwarden.checks import iter_catalogue

    rows = [_row(m) for m in iter_catalogue()]
    if getattr(ns, "benchmark", None) == "cis":
        rows = [r for r in rows if r["cis"]]
    if ns.ids:
        rows = [_explained(r) for r in _selected(rows, ns.ids)]
        if not rows:
            raise UsageError("no check of the CIS profile is named",
                             "see `dockwarden checks --profile cis`")
        if ns.format == "json":
            text = json.dumps(rows, indent=2) + "\n"
        elif ns.format == "markdown":
            text = render_markdown(rows)
        else:
            text = render_text(rows, _width())
        output.write(ns.output, text)
        return 0
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
