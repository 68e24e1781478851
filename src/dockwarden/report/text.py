"""The terminal report: one table per target, severity colours on a TTY, then totals
and what was skipped and why.

Nothing here is ever parsed as Rich markup: the report is made safe first
(`report.safe`: control characters escaped), and every piece of text reaches Rich as a
`rich.text.Text`, which Rich prints as it is (a `[/]` or `[bold red]` in a container
name stays literal text, and no style comes from it).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockwarden import sanitize
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report
from dockwarden.report import counts, safe, sort_key

COLOURS = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _evidence(f: Finding) -> str:
    if f.message:
        head = f.message
    else:
        parts = []
        for key, value in f.evidence.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(f"{key}={text}")
        head = ", ".join(parts)
    return head if len(head) <= 160 else head[:157] + "..."


def _target_label(f: Finding) -> str:
    t = f.target
    label = f"{t.kind.value} {t.ref}"
    if t.id and t.id != t.ref:
        label += f" ({t.id[:12]})"
    if t.service:
        label += f" service {t.service}"
    return label


def _console(buf: io.StringIO, *, colour: bool, width: int) -> Console:
    # markup, emoji codes and highlighting off: only Text objects are printed, and
    # nothing in them may be turned into style
    return Console(file=buf, force_terminal=colour, no_color=not colour, width=width,
                   highlight=False, soft_wrap=False, markup=False, emoji=False)


def _cell(value: object) -> Text:
    return Text(sanitize.clean(value))


def render(report: Report, *, colour: bool = False, width: int = 120,
           quiet: bool = False) -> str:
    report = safe(report)
    buf = io.StringIO()
    console = _console(buf, colour=colour, width=width)
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted(report.findings, key=sort_key):
        groups[_target_label(f)].append(f)
    for label, items in groups.items():
        table = Table(title=Text(label, style="bold"), title_justify="left", expand=False,
                      show_lines=False, pad_edge=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("title", overflow="fold")
        table.add_column("evidence", overflow="fold")
        for f in items:
            line = f" (line {f.target.line})" if f.target.line is not None else ""
            table.add_row(Text(f.severity.value, style=COLOURS[f.severity]), Text(f.check),
                          Text(f.title + line), Text(_evidence(f)))
        console.print(table)
        if not quiet:
            fixes = {f.check: f.remediation for f in items}
            for check_id, fix in fixes.items():
                console.print(Text(f"  fix {check_id}: {fix}", style="dim"))
        console.print()
    if not report.findings:
        console.print(Text("No findings at the selected severities."))
    c = counts(report.findings)
    summary = Text("Findings: ")
    for sev in Severity:
        summary.append(f"{sev.value} {c[sev]}", style=COLOURS[sev] if c[sev] else "")
        summary.append("  ")
    summary.append(f"| passed {report.passed}")
    console.print(summary)
    if report.ignored:
        console.print(Text(f"Ignored (accepted risks): {len(report.ignored)}"))
    if report.skipped:
        by_reason: dict[str, set[str]] = defaultdict(set)
        for s in report.skipped:
            by_reason[s.reason].add(s.check)
        console.print(Text(f"Skipped {len(report.skipped)} check(s):"))
        for reason, ids in sorted(by_reason.items(), key=lambda kv: sorted(kv[1])[0]):
            console.print(Text(f"  {', '.join(sorted(ids))}: {reason}"))
    for w in report.warnings:
        where = f" [{w.check}]" if w.check else ""
        console.print(Text(f"warning{where} {w.target}: {w.message}", style="yellow"))
    for e in report.errors:
        where = f" [{e.check}]" if e.check else ""
        console.print(Text(f"error{where} {e.target}: {e.message}", style="red"))
    if not report.complete:
        missing = [t.ref for t in report.targets if not t.complete]
        console.print(Text(f"INCOMPLETE: the audit of {', '.join(missing)} did not finish; "
                           "findings above are partial.", style="bold red"))
    return buf.getvalue()


def render_catalogue(rows: list[dict[str, Any]], *, colour: bool = False) -> str:
    """The check catalogue as a table. The rows are our own text, still printed as
    cleaned `Text` like everything else."""
    buf = io.StringIO()
    console = _console(buf, colour=colour, width=140)
    table = Table(show_lines=False, pad_edge=False)
    for col in ("id", "severity", "scope", "title", "references"):
        table.add_column(col, overflow="fold")
    for r in rows:
        sev = Severity(r["severity"])
        table.add_row(_cell(r["id"]), Text(sev.value, style=COLOURS[sev]), _cell(r["scope"]),
                      _cell(r["title"]), _cell("; ".join(str(x) for x in r["references"])))
    console.print(table)
    return buf.getvalue()
