"""The terminal report, made for a person with many targets to act on.

Order: totals per severity; one row per check that fired (severity, id, title, how
many targets, a few example names in natural order, the fix once), most severe first
and then most widespread, every critical finding named with its evidence; the daemon
and host findings; per-target details only when asked (`details=True`) or when there
are few targets; then what was skipped (rolled up by check and reason), ignored,
warned about, failed, and whether the audit is incomplete.

Written by hand, as plain strings with our own word wrapping, rather than a Rich table
per target: a table per target made 500 containers take seconds to render, and plain
lines make the layout rules easy to keep (no line wider than `width` terminal cells,
no trailing spaces, text broken only at spaces unless one word is wider than a line,
continuation lines indented). Colour is a few ANSI SGR codes of our own, emitted only
with `colour=True` and only around our own words (severity labels, headings).

Nothing from an audited system is ever interpreted: the report is made safe first
(`report.safe`: control characters, ESC, C1 and bidi shown escaped), and no markup
language is involved, so `[bold red]` or `[/]` in a container name is printed as it is.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.cells import get_character_cell_size
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockwarden import sanitize
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.finding import Finding, Report, Target
from dockwarden.report import (
    VULN_CHECKS,
    by_message,
    by_reason,
    counts,
    safe,
    vulns_by_package,
)
from dockwarden.report import natural_key as natural_key  # the commands import it from here

# Rich styles for the catalogue table (still a Rich table: it is small and our own text).
COLOURS: dict[str, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    "unknown": "magenta",  # a vulnerability no source scores (keyed by value)
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}

# The same styles as ANSI SGR parameters, for the report itself.
_SGR: dict[str, str] = {
    Severity.CRITICAL: "1;37;41",
    Severity.HIGH: "1;31",
    "unknown": "35",
    Severity.MEDIUM: "33",
    Severity.LOW: "36",
    Severity.INFO: "2",
}
_BOLD, _DIM, _RED, _BOLD_RED, _YELLOW = "1", "2", "31", "1;31", "33"

# Up to this many targets with findings (daemon and host aside), every target's
# findings are listed in full even without `details=True`.
FEW_TARGETS = 10
# Names given as examples in a summary row.
EXAMPLES = 5
# Critical findings listed one by one per check before "and N more".
CRITICAL_LISTED = 20
# Evidence longer than this is cut (at a space when one is near).
EVIDENCE_LIMIT = 200
MIN_WIDTH = 20
DEFAULT_WIDTH = 100

_HOST_KINDS = (TargetKind.ENGINE, TargetKind.DAEMON, TargetKind.HOST)
_KIND_ORDER = {kind: i for i, kind in enumerate(TargetKind)}
_PLURAL = {
    TargetKind.REGISTRY: ("registry", "registries"),
    TargetKind.DOCKERFILE: ("Dockerfile", "Dockerfiles"),
    TargetKind.COMPOSE: ("compose file", "compose files"),
    TargetKind.SELF: ("self", "self"),
}


def default_width(stream: TextIO | None = None) -> int:
    """The width to render at: $COLUMNS when it holds a positive number, else the
    terminal's width when `stream` (default stdout) is a terminal, else 100 (piped).
    Never below 20."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isascii() and columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, min(int(columns), 10_000))
    stream = sys.stdout if stream is None else stream
    try:
        if stream is not None and stream.isatty():
            return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        pass
    return DEFAULT_WIDTH


# --- widths and wrapping ---------------------------------------------------------------


def cells(text: str) -> int:
    """Terminal cells `text` takes, counting a zero-width character as one (never less
    than `len`, so a line that fits in cells also fits in characters)."""
    if text.isascii():
        return len(text)
    return sum(max(1, get_character_cell_size(ch)) for ch in text)


def _chop(word: str, room: int) -> tuple[str, str]:
    """The longest head of `word` fitting `room` cells (at least one character), and
    the rest."""
    if word.isascii():
        n = max(1, room)
        return word[:n], word[n:]
    used = 0
    for i, ch in enumerate(word):
        size = max(1, get_character_cell_size(ch))
        if used + size > room and i:
            return word[:i], word[i:]
        used += size
    return word, ""


def wrap(text: str, width: int, first: int = 0, indent: int = 0, *,
         pairs: bool = False) -> list[str]:
    """`text` in lines of at most `width` cells: the first line has `first` cells
    already used (a prefix the caller adds), the others start with `indent` spaces
    (included here). Text that fits is returned unchanged. Lines break at spaces, with
    `pairs` after ", " where they can (an evidence `key=value` pair stays whole); only
    a word wider than a whole line is cut."""
    room = width - first
    if cells(text) <= room:
        return [text.rstrip()]
    full = width - indent
    lines: list[str] = []
    current = ""
    used = 0

    def flush() -> None:
        nonlocal current, used, room
        lines.append(current)
        current, used, room = "", 0, full

    pieces = text.split(", ") if pairs else [text]
    for n, piece in enumerate(pieces):
        chunk = piece if n == len(pieces) - 1 else piece + ","
        size = cells(chunk)
        if current and used + 1 + size <= room:
            current += " " + chunk
            used += 1 + size
            continue
        if current and size <= full:
            flush()
        if not current and size <= room:
            current, used = chunk, size
            continue
        # a chunk wider than a line: by words, from where the line stands
        for word in chunk.split(" "):
            size = cells(word)
            if current and used + 1 + size <= room:
                current += " " + word
                used += 1 + size
                continue
            if current:
                flush()
            while size > room:
                head, word = _chop(word, room)
                lines.append(head)
                room = full
                size = cells(word)
            current, used = word, size
    if current or not lines:
        lines.append(current)
    pad = " " * indent
    return [lines[0].rstrip()] + [(pad + line).rstrip() for line in lines[1:]]


# --- building blocks -------------------------------------------------------------------


@dataclass
class _Out:
    width: int
    colour: bool
    lines: list[str] = field(default_factory=list)

    def paint(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.colour and text else text

    def add(self, text: str = "", *, prefix: str = "", prefix_cells: int = 0,
            indent: int = 0, lead: int = 0, pairs: bool = False) -> None:
        """`prefix` (painted already, `prefix_cells` wide) then `text` wrapped; the
        whole block starts `lead` spaces in and continues `indent` spaces in."""
        indent = min(indent, max(0, self.width // 3))
        lead = min(lead, max(0, self.width // 3))
        parts = wrap(text, self.width, lead + prefix_cells, indent, pairs=pairs)
        head = (" " * lead + prefix + parts[0]).rstrip()
        self.lines.append(head)
        self.lines.extend(parts[1:])

    def heading(self, text: str, sgr: str = _BOLD) -> None:
        """Our own heading (or a target's label), wrapped, each line painted."""
        start = len(self.lines)
        self.add(text, indent=2)
        for i in range(start, len(self.lines)):
            self.lines[i] = self.paint(self.lines[i], sgr)

    def blank(self) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def sev(self, severity: Severity) -> tuple[str, int]:
        label = f"{severity.value.upper():<8}"
        word = severity.value.upper()
        return self.paint(word, _SGR.get(severity, _BOLD)) + label[len(word):] + " ", len(label) + 1


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str,
                                                           ensure_ascii=False)


def evidence(f: Finding, limit: int = EVIDENCE_LIMIT) -> str:
    """The message, or the evidence as `key=value` pairs, cut at `limit` characters
    (at a space when one is near the cut)."""
    text = f.message or ", ".join(f"{key}={_value(value)}" for key, value in f.evidence.items())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space > limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,") + "..."


def label(t: Target) -> str:
    """A target as the heading of its details (its line aside: one block per file)."""
    label = f"{t.kind.value} {t.ref}"
    if t.id and t.id != t.ref:
        label += f" ({t.id[:12]})"
    if t.service:
        label += f" service {t.service}"
    return label


def short_name(t: Target) -> str:
    """A target as an example in a summary row (its kind is said by the count)."""
    return f"{t.ref} service {t.service}" if t.service else t.ref


def target_key(t: Target) -> tuple[TargetKind, str, str | None, str | None]:
    return (t.kind, t.ref, t.id, t.service)


def target_order(t: Target) -> tuple[Any, ...]:
    return (_KIND_ORDER[t.kind], natural_key(t.ref), natural_key(t.service or ""),
            t.id or "")


def how_many(targets: Iterable[Target]) -> str:
    by_kind: Counter[TargetKind] = Counter()
    seen = set()
    for t in targets:
        if target_key(t) not in seen:
            seen.add(target_key(t))
            by_kind[t.kind] += 1
    parts = []
    for kind in sorted(by_kind, key=_KIND_ORDER.__getitem__):
        n = by_kind[kind]
        one, many = _PLURAL.get(kind, (kind.value, kind.value + "s"))
        parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def examples(names: Sequence[str], total: int) -> str:
    shown = names if total <= EXAMPLES + 1 else names[:EXAMPLES]
    text = ", ".join(shown)
    if total > len(shown):
        text += f" and {total - len(shown)} more"
    return text


@dataclass
class Row:
    check: str
    severity: Severity
    title: str
    fix: str
    findings: list[Finding] = field(default_factory=list)

    def targets(self) -> list[Target]:
        seen: dict[tuple[Any, ...], Target] = {}
        for f in self.findings:
            seen.setdefault(target_key(f.target), f.target)
        return sorted(seen.values(), key=target_order)


def rows(findings: Iterable[Finding]) -> list[Row]:
    rows: dict[tuple[str, Severity], Row] = {}
    for f in findings:
        row = rows.get((f.check, f.severity))
        if row is None:
            row = rows[(f.check, f.severity)] = Row(f.check, f.severity, f.title,
                                                     f.remediation)
        row.findings.append(f)
    out = list(rows.values())
    out.sort(key=lambda r: (-r.severity.rank, -len(r.targets()), -len(r.findings), r.check))
    return out


def _finding_line(out: _Out, f: Finding, *, lead: int) -> None:
    prefix, width = out.sev(f.severity)
    line = f" (line {f.target.line})" if f.target.line is not None else ""
    stage = f" (stage {f.target.stage})" if f.target.stage else ""
    what = evidence(f)
    text = f"{f.check} {f.title}{line}{stage}" + (f": {what}" if what else "")
    out.add(text, prefix=prefix, prefix_cells=width, lead=lead, indent=lead + width,
            pairs=not f.message)


# --- the report ------------------------------------------------------------------------


def render(report: Report, *, colour: bool = False, width: int = DEFAULT_WIDTH,
           quiet: bool = False, details: bool = False) -> str:
    """The report as text lines of at most `width` cells. `quiet`: findings only, no
    fixes. `details`: every target's findings in full, whatever their number (they are
    also shown when there are at most `FEW_TARGETS` targets besides the daemon and
    host)."""
    report = safe(report)
    out = _Out(width=max(MIN_WIDTH, width), colour=colour)
    findings = report.findings
    hosts = [f for f in findings if f.target.kind in _HOST_KINDS]
    others = [f for f in findings if f.target.kind not in _HOST_KINDS]
    other_targets = {target_key(f.target) for f in others}
    full = details or len(other_targets) <= FEW_TARGETS

    _head(out, report)
    _engines(out, report)
    _summary(out, report, full=full, quiet=quiet)
    if hosts:
        out.blank()
        out.heading("Daemon and host")
        _details(out, hosts)
    if full and others:
        out.blank()
        out.heading("Details per target")
        _details(out, others)
    elif others:
        out.blank()
        out.add(f"Details of the {len(other_targets)} targets: run again with --details "
                "(or write --format json).")
    _tail(out, report)
    out.blank()
    if out.lines and not out.lines[-1]:
        out.lines.pop()
    return "\n".join(line.rstrip() for line in out.lines) + "\n"


def _head(out: _Out, report: Report) -> None:
    c = counts(report.findings)
    text = "Findings: "
    line = out.paint("Findings:", _BOLD) + " "
    for sev in Severity:
        if sev.value == "unknown" and not c[sev]:
            continue  # told only when some vulnerability has no severity
        part = f"{sev.value} {c[sev]}"
        line += (out.paint(part, _SGR.get(sev, _BOLD)) if c[sev] else part) + "  "
        text += part + "  "
    text += f"| passed {report.passed}"
    line += f"| passed {report.passed}"
    if cells(text) <= out.width:
        out.lines.append(line)
    else:  # too narrow for one line: the same words, wrapped, without colour
        out.add(text, indent=2)
    targets = {target_key(f.target): f.target for f in report.findings}
    if targets:
        out.add(f"Targets with findings: {how_many(targets.values())}", indent=2)
    if not report.complete:
        missing = ", ".join(t.ref for t in report.targets if not t.complete)
        out.add(f"the audit of {missing} did not finish; the findings are partial.",
                prefix=out.paint("INCOMPLETE:", _BOLD_RED) + " ", prefix_cells=12, indent=2)


def _engines(out: _Out, report: Report) -> None:
    """A run over many Engines (findings carry evidence `engine`): one line per Engine,
    the worst first (by its most severe finding, then by its counts), incomplete ones
    marked."""
    engines = [t for t in report.targets if t.kind in (TargetKind.ENGINE, TargetKind.DAEMON)]
    if len({t.ref for t in engines}) < 2:
        return
    per: dict[str, Counter[Severity]] = {t.ref: Counter() for t in engines}
    for f in report.findings:
        engine = f.evidence.get("engine")
        if isinstance(engine, str):
            per.setdefault(engine, Counter())[f.severity] += 1
    done = {t.ref: t.complete for t in engines}

    def order(ref: str) -> tuple[Any, ...]:
        c = per[ref]
        return (tuple(-c[sev] for sev in Severity), natural_key(ref))

    out.blank()
    out.heading("Engines, worst first")
    for ref in sorted(per, key=order):
        c = per[ref]
        parts = [f"{sev.value} {c[sev]}" for sev in Severity if c[sev]] or ["no findings"]
        tail = "" if done.get(ref, True) else "  (INCOMPLETE)"
        out.add(f"{ref}: {'  '.join(parts)}{tail}", indent=4, lead=2)


def _summary(out: _Out, report: Report, *, full: bool, quiet: bool) -> None:
    if not report.findings:
        out.blank()
        out.add("No findings at the selected severities.")
        return
    out.blank()
    for row in rows(report.findings):
        targets = row.targets()
        prefix, width = out.sev(row.severity)
        count = how_many(targets)
        if len(row.findings) > len(targets):
            count += f", {len(row.findings)} findings"
        alone = len(targets) == 1 and (full or row.severity is not Severity.CRITICAL)
        if alone:  # one target: named on the row itself
            count = label(targets[0])
        out.add(f"{row.check} {row.title}: {count}", prefix=prefix, prefix_cells=width,
                indent=width)
        if row.severity is Severity.CRITICAL and not full:
            # every critical finding named, with what was seen
            ordered = sorted(row.findings, key=lambda f: target_order(f.target))
            for f in ordered[:CRITICAL_LISTED]:
                line = f":{f.target.line}" if f.target.line is not None else ""
                what = evidence(f)
                out.add(f"{label(f.target)}{line}" + (f": {what}" if what else ""),
                        lead=2, indent=6, pairs=not f.message)
            if len(ordered) > CRITICAL_LISTED:
                out.add(f"and {len(ordered) - CRITICAL_LISTED} more (--details lists them)",
                        lead=2, indent=6)
        elif not alone:
            names = [short_name(t) for t in targets[: EXAMPLES + 1]]
            out.add(examples(names, len(targets)), lead=2, indent=4)
        if not quiet and row.fix:
            out.add(f"fix: {row.fix}", prefix="", lead=2, indent=7)


def _details(out: _Out, findings: Iterable[Finding]) -> None:
    groups: dict[tuple[Any, ...], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[target_key(f.target)].append(f)
    order = sorted(groups.values(), key=lambda items: target_order(items[0].target))
    for items in order:
        out.heading(label(items[0].target))
        items.sort(key=lambda f: (-f.severity.rank, f.target.line or 0, natural_key(f.check)))
        for f in items:
            if f.check not in VULN_CHECKS:
                _finding_line(out, f, lead=2)
        _vulns(out, [f for f in items if f.check in VULN_CHECKS])


def _vulns(out: _Out, findings: list[Finding]) -> None:
    """A target's vulnerabilities grouped per package: the upgrade that fixes them and
    how many of each severity, then their ids."""
    for group in vulns_by_package(findings):
        prefix, width = out.sev(group.worst)
        checks = "/".join(sorted({f.check for f in group.findings}))
        out.add(f"{checks} {group.headline()}", prefix=prefix, prefix_cells=width, lead=2,
                indent=2 + width)
        out.add(", ".join(i for i in group.ids if i), lead=2 + width, indent=2 + width,
                pairs=True)


def _roll_up(out: _Out, heading: str, groups: dict[tuple[str, str], list[Target]],
             sgr: str = "") -> None:
    if not groups:
        return
    out.blank()
    total = sum(len(v) for v in groups.values())
    out.heading(f"{heading} ({total}):", sgr or _BOLD)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), natural_key(kv[0][0]),
                                                     kv[0][1]))
    for (check, reason), targets in ordered:
        targets = sorted({target_key(t): t for t in targets}.values(), key=target_order)
        names = [short_name(t) for t in targets[: EXAMPLES + 1]]
        where = how_many(targets)
        if len(targets) <= 3:
            where += " (" + ", ".join(names) + ")"
        lead = f"{check} on " if check else "on "
        out.add(f"{lead}{where}: {reason}", lead=2, indent=6)


def _tail(out: _Out, report: Report) -> None:
    if report.ignored:
        out.blank()
        ids = Counter(f.check for f, _ in report.ignored)
        listed = ", ".join(f"{check} x{n}" if n > 1 else check
                           for check, n in sorted(ids.items(),
                                                  key=lambda kv: natural_key(kv[0])))
        out.add(f"Ignored (accepted risks): {len(report.ignored)}: {listed}", indent=2)
    _roll_up(out, "Skipped checks",
             by_reason((s.check, s.reason, s.target) for s in report.skipped))
    for kind, items, sgr in (("warning", report.warnings, _YELLOW),
                             ("error", report.errors, _RED)):
        if not items:
            continue
        out.blank()
        for (check, message), where in by_message(items).items():
            word = out.paint(kind, sgr) + " "
            tag = f"[{check}] " if check else ""
            names = sorted(set(where), key=natural_key)
            place = examples(names[: EXAMPLES + 1], len(names))
            out.add(f"{tag}{place}: {message}", prefix=word, prefix_cells=len(kind) + 1,
                    indent=2)
    if not report.complete:
        missing = ", ".join(t.ref for t in report.targets if not t.complete)
        out.blank()
        out.add(f"the audit of {missing} did not finish; findings above are partial.",
                prefix=out.paint("INCOMPLETE:", _BOLD_RED) + " ", prefix_cells=12, indent=2)


# --- the check catalogue ---------------------------------------------------------------


def _console(buf: io.StringIO, *, colour: bool, width: int) -> Console:
    # markup, emoji codes and highlighting off: only Text objects are printed, and
    # nothing in them may be turned into style
    return Console(file=buf, force_terminal=colour, no_color=not colour, width=width,
                   highlight=False, soft_wrap=False, markup=False, emoji=False)


def _cell(value: object) -> Text:
    return Text(sanitize.clean(value))


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
        refs = "; ".join(str(x) for x in r["references"])
        table.add_row(_cell(r["id"]), Text(sev.value, style=COLOURS.get(sev, "bold")),
                      _cell(r["scope"]), _cell(r["title"]), _cell(refs))
    console.print(table)
    return buf.getvalue()
