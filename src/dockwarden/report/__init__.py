"""Pure renderers: a `Report` in, text out. No I/O, no Engine access."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report


def shown(report: Report, severities: Iterable[Severity] | None) -> Report:
    """The report with only the findings whose severity is in `severities` (`--severity`)."""
    if severities is None:
        return report
    keep = set(severities)
    return replace(report, findings=tuple(f for f in report.findings if f.severity in keep))


def sort_key(f: Finding) -> tuple[str, str, int, str]:
    return (f.target.kind.value, f.target.ref, -f.severity.rank, f.check)


def counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    out = {s: 0 for s in Severity}
    for f in findings:
        out[f.severity] += 1
    return out
