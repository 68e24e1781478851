"""Markdown: the report (`render`, for a pull-request comment or a CI summary) and the
check catalogue (`catalogue`, the README's table is generated from it).

Written by hand: a report is a summary table (one row per check that fired, as in the
text report), the skipped checks, warnings and errors rolled up, then one `<details>`
block per check listing its targets and evidence. The whole stays under `limit`
characters (GitHub refuses a comment over 65,536); what does not fit is left out with
a line saying so, the details of the least severe checks first.

Escaping. Text from an audited system is made safe first (`report.safe`: control
characters escaped, so no newline can occur), then `escape` backslash-escapes every
character that Markdown or HTML could act on anywhere in a line - `\\` `` ` `` `*` `_`
`[` `]` `<` `>` `|` `#` `!` `~` `&` `$` `@` - and, at the start of the text, the
characters that open a block (`+`, `-`, `=`, a number followed by `.` or `)`), and
leading spaces are dropped (four would open an indented code block).
CommonMark allows a backslash before any ASCII punctuation, so each escape shows the
character itself. What stays unescaped (letters, digits, spaces, `" ' ( ) , . / : ; =
? ^ { } % +` and `-` inside the text) opens nothing: no emphasis, code span, link or
image (`[`, `!` escaped), autolink or raw HTML (`<` escaped), entity (`&` escaped),
math (`$` escaped), cell end (`|` escaped), heading, quote or list. GitHub's bare-URL
autolinks remain possible; they show the URL itself as the link's text. The only HTML
written is our own `<details>` and `<summary>` tags, whose text is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dockwarden import sanitize
from dockwarden.model.common import Severity
from dockwarden.model.finding import Report, Target
from dockwarden.report import by_message, by_reason, counts, natural_key, place, safe
from dockwarden.report.text import (
    Row,
    evidence,
    examples,
    how_many,
    short_name,
    target_key,
    target_order,
)
from dockwarden.report.text import rows as summary_rows

# GitHub's limit for an issue or pull-request comment, in characters.
LIMIT = 65_536
# Targets listed in one check's <details> block, and entries per rolled-up section.
LISTED = 100

_ANYWHERE = re.compile(r"([\\`*_\[\]<>|#!~&$@])")
_LEADING = re.compile(r"^([+\-=]|\d+(?=[.)]))")


def escape(value: object) -> str:
    """`value` as literal Markdown inline text: one line, every character that could
    open a Markdown or HTML construct backslash-escaped (see the module docstring)."""
    # leading spaces dropped: four of them would open an indented code block
    text = _ANYWHERE.sub(r"\\\1", sanitize.clean(value).lstrip(" "))
    m = _LEADING.match(text)
    if m:
        if m.group(1)[0].isdigit():  # "1." or "1)" opens an ordered list: escape the mark
            n = len(m.group(1))
            text = text[:n] + "\\" + text[n:]
        else:
            text = "\\" + text
    return text


def _html(value: object) -> str:
    return html.escape(sanitize.clean(value), quote=True)


def _names(targets: list[Target]) -> str:
    return examples([short_name(t) for t in targets], len(targets))


class _Budget:
    """Blocks of lines added in order while the whole stays under `limit` characters,
    room kept for the line that says what was left out."""

    def __init__(self, limit: int, note: str) -> None:
        self.limit = limit
        self.note = note
        self.parts: list[str] = []
        self.size = 0
        self.full = False

    def add(self, lines: Iterable[str], *, keep: bool = False) -> bool:
        """Add the block (lines joined by newlines); False once something did not fit.
        A `keep` block is added even past the limit's reserve when the whole still
        fits (the heading and the truncation line)."""
        if self.full:
            return False
        block = "\n".join(lines) + "\n"
        reserve = 0 if keep else len(self.note) + 2
        if self.size + len(block) + reserve > self.limit:
            self.full = True
            self.parts.append("\n" + self.note + "\n")
            return False
        self.parts.append(block)
        self.size += len(block)
        return True

    def text(self) -> str:
        return "".join(self.parts)


def render(report: Report, *, limit: int = LIMIT) -> str:
    """The report as GitHub-flavoured Markdown of at most `limit` characters."""
    report = safe(report)
    note = ("**Truncated** to stay under the comment size limit: see the full report in "
            "the artefact (`--format json -o FILE`).")
    out = _Budget(max(limit, 1000), note)
    c = counts(report.findings)
    totals = " · ".join(f"{s.value} {c[s]}" for s in Severity
                        if c[s] or s.value != "unknown")
    head = ["# dockwarden report", "", f"{totals} · passed {report.passed}", ""]
    targets = {target_key(f.target): f.target for f in report.findings}
    if targets:
        head[-1:] = [f"Targets with findings: {escape(how_many(targets.values()))}", ""]
    if not report.complete:
        missing = ", ".join(t.ref for t in report.targets if not t.complete)
        head += [f"**Incomplete:** the audit of {escape(missing)} did not finish; "
                 "the findings are partial.", ""]
    out.add(head, keep=True)
    summary = summary_rows(report.findings)
    if summary:
        out.add(["| severity | check | title | targets | examples |",
                 "| --- | --- | --- | --- | --- |"])
        for row in summary:
            targets_of = row.targets()
            count = how_many(targets_of)
            if len(row.findings) > len(targets_of):
                count += f", {len(row.findings)} findings"
            if not out.add([f"| {escape(row.severity.value)} | {escape(row.check)} | "
                            f"{escape(row.title)} | {escape(count)} | "
                            f"{escape(_names(targets_of))} |"]):
                break
        out.add([""])
    else:
        out.add(["No findings at the selected severities.", ""])
    for section in _sections(report):
        out.add(section)
    if summary:
        out.add(["## Details", ""])
    for row in summary:
        if not out.add(_details(row)):
            break
    return out.text()


def _details(row: Row) -> list[str]:
    targets_of = row.targets()
    count = how_many(targets_of)
    lines = ["<details>",
             f"<summary>{_html(row.severity.value)} {_html(row.check)} {_html(row.title)}: "
             f"{_html(count)}</summary>", ""]
    if row.fix:
        lines += [f"**Fix:** {escape(row.fix)}", ""]
    findings = sorted(row.findings, key=lambda f: (target_order(f.target),
                                                   f.target.line or 0))
    for f in findings[:LISTED]:
        what = evidence(f, limit=300)
        lines.append(f"- {escape(f'{f.target.kind.value} {place(f.target)}')}"
                     + (f": {escape(what)}" if what else ""))
    if len(findings) > LISTED:
        lines.append(f"- and {len(findings) - LISTED} more (see the artefact)")
    lines += ["", "</details>", ""]
    return lines


def _roll_up(heading: str, groups: Mapping[tuple[str, str], list[Target]]) -> list[str]:
    lines = [f"## {heading}", ""]
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), natural_key(kv[0][0]),
                                                     kv[0][1]))
    for (check, reason), targets in ordered[:LISTED]:
        distinct = sorted({target_key(t): t for t in targets}.values(), key=target_order)
        where = f"{how_many(distinct)} ({_names(distinct)})"
        lead = f"{check} on " if check else "on "
        lines.append(f"- {escape(lead + where + ': ' + reason)}")
    if len(ordered) > LISTED:
        lines.append(f"- and {len(ordered) - LISTED} more (see the artefact)")
    return [*lines, ""]


def _messages(heading: str, items: Iterable[Any]) -> list[str]:
    grouped = by_message(items)
    lines = [f"## {heading}", ""]
    for n, ((check, message), where) in enumerate(grouped.items()):
        if n == LISTED:
            lines.append(f"- and {len(grouped) - LISTED} more (see the artefact)")
            break
        names = sorted(set(where), key=natural_key)
        place = examples(names, len(names))
        tag = f" ({check})" if check else ""
        lines.append(f"- {escape(f'{place}: {message}{tag}')}")
    return [*lines, ""]


def _sections(report: Report) -> list[list[str]]:
    out = []
    if report.errors:
        out.append(_messages("Errors", report.errors))
    if report.warnings:
        out.append(_messages("Warnings", report.warnings))
    if report.skipped:
        out.append(_roll_up("Skipped checks",
                            by_reason((s.check, s.reason, s.target) for s in report.skipped)))
    if report.ignored:
        out.append(_roll_up("Ignored (accepted risks)",
                            by_reason((f.check, reason, f.target)
                                      for f, reason in report.ignored)))
    return out


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
