"""What every auditing command does with its report: accepted risks applied, rendered in the
format asked for (the one place a renderer is chosen), written safely, exit code per SPEC."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from dockwarden.errors import InputError, UsageError
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.finding import Finding, Report, ReportError, ReportTarget
from dockwarden.safeio import write_output
from dockwarden.sanitize import clean


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selection(ns: argparse.Namespace) -> Any:
    from dockwarden.checks import Selection

    checks = tuple(i for group in ns.check for i in group)
    skips = tuple(i for group in ns.skip for i in group)
    if checks or skips:
        _known_ids(checks, "--check")
        _known_ids(skips, "--skip")
    if getattr(ns, "benchmark", None) == "cis":
        checks = _cis_selection(checks)
    # a config file's `disable:` list: never run, whatever --check says
    return Selection(checks, skips + tuple(getattr(ns, "disable", ()) or ()))


def _cis_selection(checks: tuple[str, ...]) -> tuple[str, ...]:
    """`--profile cis`: the checks mapped to a CIS Docker Benchmark control (the data
    file), narrowed by --check when it is given."""
    from dockwarden.checks.registry import CIS_CONTROLS

    mapped = sorted({i for ids in CIS_CONTROLS.values() for i in ids})
    chosen = tuple(i for i in mapped if not checks or any(i.startswith(c) for c in checks))
    if not chosen:
        raise UsageError(f"--check {clean(','.join(checks))} selects no check of the CIS "
                         "profile", "see `dockwarden checks --profile cis`")
    return chosen


def cis_controls(check_id: str) -> list[str]:
    """The CIS Docker Benchmark controls a check is mapped to (the data file)."""
    from dockwarden.checks.registry import CIS_CONTROLS

    return [control for control, ids in CIS_CONTROLS.items() if check_id in ids]


def apply_profile(report: Report, ns: argparse.Namespace) -> Report:
    """`--profile cis`: each finding's title ends with its CIS ids, e.g. "No PIDs limit
    (CIS 5.29)", so that every format shows them next to ours (its references already
    name the controls in full)."""
    if getattr(ns, "benchmark", None) != "cis":
        return report
    from dataclasses import replace

    def titled(f: Finding) -> Finding:
        controls = cis_controls(f.check)
        if not controls:
            return f
        return replace(f, title=f"{f.title} (CIS {', '.join(controls)})")

    return replace(report, findings=tuple(titled(f) for f in report.findings),
                   ignored=tuple((titled(f), why) for f, why in report.ignored))


def apply_overrides(report: Report, overrides: dict[str, Severity] | None) -> Report:
    """A config file's `severity-overrides`: each named check's findings get that
    severity (before ignores, --severity and --fail-on see them)."""
    if not overrides:
        return report
    from dataclasses import replace

    return replace(report, findings=tuple(
        replace(f, severity=overrides[f.check]) if f.check in overrides else f
        for f in report.findings))


def _known_ids(given: Sequence[str], option: str) -> None:
    """Each id or prefix given must name at least one check: an unknown one is a usage
    error that names the close matches (a typo must not run everything, or nothing)."""
    if not given:
        return
    import difflib

    from dockwarden.checks import iter_catalogue

    ids = [m.id for m in iter_catalogue()]
    for wanted in given:
        if not any(i.startswith(wanted) for i in ids):
            close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
            raise UsageError(f"{option} {clean(wanted)}: no such check id or prefix",
                             f"did you mean {', '.join(close)}? see `dockwarden checks`"
                             if close else "see `dockwarden checks` for the ids")


def file_report(started: str, targets: list[ReportTarget], results: Any,
                 errors: list[ReportError]) -> Report:
    """The report of a file audit (Dockerfiles, compose files, command lines)."""
    return Report(started=started, finished=now(), targets=tuple(targets),
                  findings=tuple(results.findings), skipped=tuple(results.skipped),
                  errors=tuple(errors + results.errors), passed=results.passed)


def apply_ignore(report: Report, path: str | None) -> Report:
    if not path:
        return report
    from dataclasses import replace

    from dockwarden import ignore
    from dockwarden.safeio import read_text

    text = read_text(path, what="ignore file", max_bytes=ignore.MAX_BYTES)
    accepted = ignore.parse(text, clean(path))
    index = ignore.Index(accepted)
    today = dt.date.today()
    kept: list[Finding] = []
    ignored = list(report.ignored)
    expired: dict[int, int] = {}  # entry -> findings it would have suppressed
    for f in report.findings:
        match = index.match(f, today)
        if match is None:
            kept.append(f)
            for a in index.candidates(f):
                if a.expired(today):
                    expired[a.entry] = expired.get(a.entry, 0) + 1
        else:
            ignored.append((f, match.reason))
    warnings = list(report.warnings)
    for a in accepted:
        if a.entry in expired:
            warnings.append(ReportError(clean(path), (
                f"ignore {a.describe()} expired on {a.expires}: it no longer suppresses "
                f"{expired[a.entry]} finding(s)")))
    return replace(report, findings=tuple(kept), ignored=tuple(ignored),
                   warnings=tuple(warnings))


_INLINE = re.compile(r"#\s*dockwarden:\s*ignore=([A-Za-z0-9,]+)\s*(.*)")


def apply_inline_ignores(report: Report) -> Report:
    """`# dockwarden: ignore=DW501 reason` on the finding's line or the line above it, in
    Dockerfiles and compose files, accepts that risk (a reason is required)."""
    from dataclasses import replace

    cache: dict[str, list[str]] = {}
    kept: list[Finding] = []
    ignored = list(report.ignored)
    for f in report.findings:
        line = f.target.line
        if f.target.kind not in (TargetKind.DOCKERFILE, TargetKind.COMPOSE) or not line:
            kept.append(f)
            continue
        if f.target.ref not in cache:
            from dockwarden.safeio import read_input

            try:
                data = read_input(f.target.ref, max_bytes=4 << 20)
                cache[f.target.ref] = data.decode("utf-8", "replace").splitlines()
            except InputError:
                cache[f.target.ref] = []
        lines = cache[f.target.ref]
        reason = None
        for text in lines[max(0, line - 2): line]:
            m = _INLINE.search(text)
            if m and f.check in {i.strip().upper() for i in m.group(1).split(",")} \
                    and m.group(2).strip():
                reason = m.group(2).strip()
        if reason is None:
            kept.append(f)
        else:
            ignored.append((f, f"inline: {reason}"))
    return replace(report, findings=tuple(kept), ignored=tuple(ignored))


def render(report: Report, ns: argparse.Namespace, colour: bool) -> str:
    from dockwarden.report import shown

    visible = shown(report, ns.severity)
    if ns.format == "json":
        from dockwarden.report import json as json_report
        return json_report.render(visible, pretty=not ns.output and sys.stdout.isatty())
    if ns.format in ("sarif", "junit"):
        from dockwarden.checks import iter_catalogue
        rules = list(iter_catalogue())
        if ns.format == "sarif":
            from dockwarden.report import sarif
            return sarif.render(visible, rules)
        from dockwarden.report import junit
        return junit.render(visible, rules)
    if ns.format == "html":
        from dockwarden.report import html
        return html.render(visible)
    if ns.format == "markdown":
        from dockwarden.report import markdown
        return markdown.render(visible)
    from dockwarden.report import text
    return text.render(visible, colour=colour, width=text.default_width(), quiet=ns.quiet,
                       details=getattr(ns, "details", False))


write = write_output


def exit_code(report: Report, fail_on: Severity | None,
              unknown_as: Severity | None = None) -> int:
    """3 when the audit is incomplete, 1 when a finding is at or above `fail_on` (an
    unscored vulnerability weighed as `unknown_as`, default high), else 0."""
    if not report.complete:
        return 3
    if any(f.severity.fails(fail_on, unknown_as) for f in report.findings):
        return 1
    return 0


def finish(report: Report, ns: argparse.Namespace) -> int:
    """The end of every auditing command: the config file's severity overrides, accepted
    risks and the baseline applied, the report rendered and written (only now, once the
    audit has ended), what kept it from completing told on stderr, and the exit code."""
    report = apply_overrides(report, getattr(ns, "severity_overrides", None))
    report = apply_ignore(apply_inline_ignores(report), ns.ignore)
    old = getattr(ns, "baseline_keys", None)  # read by the CLI before the audit
    if old is not None or getattr(ns, "baseline", None):
        from dockwarden import baseline

        report = baseline.apply(report, baseline.load(ns.baseline) if old is None else old)
    report = apply_profile(report, ns)
    colour = (ns.format == "text" and not ns.output and sys.stdout.isatty()
              and "NO_COLOR" not in os.environ)
    write(ns.output, render(report, ns, colour))
    if not report.complete:
        for e in report.errors:
            where = "" if e.message.startswith(e.target) else f"{e.target}: "
            print(f"dockwarden: {clean(where)}{clean(e.message)}", file=sys.stderr)
    return exit_code(report, ns.fail_on, getattr(ns, "unknown_severity", None))
