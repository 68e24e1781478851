"""The JSON report, schema `dockwarden-report/1` (SPEC.md section 2).

The report is made safe first (`report.safe`): every string cleaned, lone surrogates
shown escaped and evidence plain JSON data, so `json.dumps` cannot raise on it."""

from __future__ import annotations

import json
from typing import Any

from dockwarden import __version__
from dockwarden.model.finding import Report
from dockwarden.report import counts, safe, sort_key

SCHEMA = "dockwarden-report/1"


def as_dict(report: Report) -> dict[str, Any]:
    report = safe(report)
    findings = sorted(report.findings, key=sort_key)
    return {
        "schema": SCHEMA,
        "tool": {"name": "dockwarden", "version": __version__},
        "started": report.started,
        "finished": report.finished,
        "targets": [t.as_dict() for t in report.targets],
        "findings": [f.as_dict() for f in findings],
        "errors": [e.as_dict() for e in report.errors],
        "complete": report.complete,
        "skipped": [s.as_dict() for s in report.skipped],
        "ignored": [{**f.as_dict(), "reason": reason} for f, reason in report.ignored],
        "warnings": [w.as_dict() for w in report.warnings],
        "summary": {
            "findings": {k.value: v for k, v in counts(findings).items()},
            "passed": report.passed,
            "skipped": len(report.skipped),
            "errors": len(report.errors),
            "ignored": len(report.ignored),
            "warnings": len(report.warnings),
        },
    }


def render(report: Report, *, pretty: bool = False) -> str:
    """Compact by default (indenting forces Python's slow pure encoder: 4x on large
    reports); `pretty` for a terminal."""
    data = as_dict(report)
    if pretty:
        return json.dumps(data, indent=2, default=str) + "\n"
    return json.dumps(data, separators=(",", ":"), default=str) + "\n"
