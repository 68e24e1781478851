"""Markdown: the report (`render`, for a pull-request comment or a CI summary) and the
check catalogue (`catalogue`, the README's table is generated from it).

Written by hand: a report is a few headings and GitHub-flavoured tables. Text from an
audited system is made safe first (`report.safe`: control characters escaped), then
every cell has each ASCII punctuation character backslash-escaped (CommonMark allows
that for all of them), so no pipe ends a cell, no backtick opens code, no `[x](url)`
becomes a link, no `<tag>` becomes HTML and no `#`, `*` or `_` becomes structure; a
newline can no longer occur (clean shows it as `\\n`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dockwarden import sanitize
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report, Target
from dockwarden.report import counts, safe, sort_key

_PUNCT = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


def escape(value: object) -> str:
    """`value` as literal Markdown inline text (one line, every punctuation escaped)."""
    return _PUNCT.sub(r"\\\1", sanitize.clean(value))


def _evidence(f: Finding) -> str:
    if f.message:
        return f.message
    parts = [f"{k}={v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)}"
             for k, v in f.evidence.items()]
    text = ", ".join(parts)
    return text if len(text) <= 300 else text[:297] + "..."


def _where(t: Target) -> str:
    out = f"{t.kind.value} {t.ref}"
    if t.line is not None:
        out += f":{t.line}"
    if t.service:
        out += f" service {t.service}"
    if t.stage:
        out += f" stage {t.stage}"
    return out


def render(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    report = safe(report)
    lines = ["# dockwarden report", ""]
    c = counts(report.findings)
    lines.append(" · ".join(f"{escape(s.value)} {c[s]}" for s in Severity)
                 + f" · passed {report.passed}")
    lines.append("")
    if not report.complete:
        missing = ", ".join(t.ref for t in report.targets if not t.complete)
        lines += [f"**Incomplete:** the audit of {escape(missing)} did not finish; "
                  "the findings are partial.", ""]
    if report.findings:
        lines += ["| severity | check | target | title | evidence |",
                  "| --- | --- | --- | --- | --- |"]
        for f in sorted(report.findings, key=sort_key):
            lines.append(f"| {escape(f.severity.value)} | {escape(f.check)} | "
                         f"{escape(_where(f.target))} | {escape(f.title)} | "
                         f"{escape(_evidence(f))} |")
        lines.append("")
    else:
        lines += ["No findings at the selected severities.", ""]
    sections: list[tuple[str, list[str]]] = [
        ("Ignored (accepted risks)",
         [f"{f.check} on {_where(f.target)}: {reason}" for f, reason in report.ignored]),
        ("Skipped", [f"{s.check} on {_where(s.target)}: {s.reason}" for s in report.skipped]),
        ("Warnings", [f"{w.target}: {w.message}" + (f" ({w.check})" if w.check else "")
                      for w in report.warnings]),
        ("Errors", [f"{e.target}: {e.message}" + (f" ({e.check})" if e.check else "")
                    for e in report.errors]),
    ]
    for heading, items in sections:
        if items:
            lines += [f"## {heading}", ""]
            lines += [f"- {escape(item)}" for item in items]
            lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return sanitize.clean(text).replace("|", "\\|")


def catalogue(rows: Iterable[Mapping[str, Any]]) -> str:
    """The catalogue table. Our own text, with its Markdown (backticks) kept: only
    cleaned and its pipes escaped."""
    lines = ["| id | severity | title | references |", "| --- | --- | --- | --- |"]
    for r in rows:
        refs = "; ".join(r["references"])
        lines.append(f"| {_cell(r['id'])} | {_cell(r['severity'])} | {_cell(r['title'])} | "
                     f"{_cell(refs)} |")
    return "\n".join(lines) + "\n"
