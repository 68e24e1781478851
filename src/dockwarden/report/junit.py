"""JUnit XML output, for CI systems that show test results.

One `<testsuite>` per target (kind + ref) that has findings or skipped checks; one
failing `<testcase>` per finding (`<failure type=SEVERITY>`), one skipped testcase per
check that could not be judged. Errors, and targets whose audit did not complete, go
into a last `dockwarden.errors` suite as `<error>` testcases so that CI sees them.

The report is made safe first (`report.safe`: control characters, bidi overrides and
lone surrogates shown as visible escapes), then every string also passes this module's
`clean()`, which drops what XML 1.0 cannot carry at all (not even escaped); ElementTree
escapes `&`, `<`, `>` (so `]]>` never ends anything) and quotes in attributes.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report, Skipped, Target
from dockwarden.report import safe, sort_key
from dockwarden.report.sarif import RuleLike

# C0 controls other than tab/newline/carriage return, DEL and C1 controls, lone
# surrogates and the two non-characters: none may (or should) appear in XML 1.0.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def _suite_key(t: Target) -> tuple[str, str]:
    return (t.kind.value, t.ref)


def _case_name(f: Finding) -> str:
    name = f"{f.check} {f.title}"
    if f.message:
        name += f": {f.message}"
    t = f.target
    if t.service:
        name += f" [service {t.service}]"
    if t.stage:
        name += f" [stage {t.stage}]"
    if t.line is not None:
        name += f" [line {t.line}]"
    return name


def _classname(kind: str, ref: str) -> str:
    return f"dockwarden.{kind}.{ref}"


def _failure_text(f: Finding, meta: RuleLike | None) -> str:
    t = f.target
    lines = [f"{f.check} ({f.severity.value}): {f.title}"]
    if f.severity is Severity.UNKNOWN:
        lines.append("severity: unknown (no source scores this vulnerability)")
    if f.message:
        lines.append(f.message)
    where = f"target: {t.kind.value} {t.ref}"
    if t.id and t.id != t.ref:
        where += f" (id {t.id})"
    if t.line is not None:
        where += f", line {t.line}"
    if t.service:
        where += f", service {t.service}"
    if t.stage:
        where += f", stage {t.stage}"
    lines.append(where)
    lines.append(f"source: {f.source.value}")
    evidence = json.dumps(f.evidence, indent=2, sort_keys=True, default=str,
                          ensure_ascii=False)
    lines.append(f"evidence: {evidence}")
    if meta is not None and meta.rationale:
        lines.append(f"why: {meta.rationale}")
    if f.remediation:
        lines.append(f"fix: {f.remediation}")
    if f.references:
        lines.append("references: " + "; ".join(f.references))
    return "\n".join(lines)


def _set(el: ET.Element, **attrs: Any) -> ET.Element:
    for key, value in attrs.items():
        el.set(key, clean(value))
    return el


def _finding_case(suite: ET.Element, f: Finding, meta: RuleLike | None) -> None:
    case = _set(
        ET.SubElement(suite, "testcase"),
        classname=_classname(f.target.kind.value, f.target.ref),
        name=_case_name(f),
    )
    if f.target.line is not None:
        _set(case, file=f.target.ref, line=f.target.line)
    failure = _set(
        ET.SubElement(case, "failure"),
        message=f"{f.title}: {f.message}" if f.message else f.title,
        type=f.severity.value,
    )
    failure.text = clean(_failure_text(f, meta))


def _skipped_case(suite: ET.Element, s: Skipped, meta: RuleLike | None) -> None:
    name = s.check if meta is None else f"{s.check} {meta.title}"
    case = _set(
        ET.SubElement(suite, "testcase"),
        classname=_classname(s.target.kind.value, s.target.ref),
        name=name,
    )
    _set(ET.SubElement(case, "skipped"), message=s.reason)


def render(report: Report, rules: Iterable[RuleLike] = ()) -> str:
    """The report as JUnit XML (a `<testsuites>` document, UTF-8)."""
    report = safe(report)
    catalogue: dict[str, RuleLike] = {r.id: r for r in rules}

    findings: dict[tuple[str, str], list[Finding]] = {}
    for f in sorted(report.findings, key=sort_key):
        findings.setdefault(_suite_key(f.target), []).append(f)
    skipped: dict[tuple[str, str], list[Skipped]] = {}
    for s in sorted(report.skipped, key=lambda s: (_suite_key(s.target), s.check)):
        skipped.setdefault(_suite_key(s.target), []).append(s)

    root = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    for key in sorted(set(findings) | set(skipped)):
        kind, ref = key
        fs, ss = findings.get(key, []), skipped.get(key, [])
        suite = _set(
            ET.SubElement(root, "testsuite"),
            name=f"{kind} {ref}",
            tests=len(fs) + len(ss),
            failures=len(fs),
            errors=0,
            skipped=len(ss),
            timestamp=report.started,
        )
        props = ET.SubElement(suite, "properties")
        _set(ET.SubElement(props, "property"), name="target.kind", value=kind)
        _set(ET.SubElement(props, "property"), name="target.ref", value=ref)
        for f in fs:
            _finding_case(suite, f, catalogue.get(f.check))
        for s in ss:
            _skipped_case(suite, s, catalogue.get(s.check))
        totals["tests"] += len(fs) + len(ss)
        totals["failures"] += len(fs)
        totals["skipped"] += len(ss)

    incomplete = [t for t in report.targets if not t.complete]
    if report.errors or incomplete:
        count = len(report.errors) + len(incomplete)
        suite = _set(
            ET.SubElement(root, "testsuite"),
            name="dockwarden.errors",
            tests=count,
            failures=0,
            errors=count,
            skipped=0,
            timestamp=report.started,
        )
        for e in report.errors:
            name = f"{e.check} on {e.target}" if e.check else f"audit of {e.target}"
            case = _set(ET.SubElement(suite, "testcase"), classname="dockwarden.errors",
                        name=name)
            _set(ET.SubElement(case, "error"), message=e.message, type="error")
        for t in incomplete:
            case = _set(ET.SubElement(suite, "testcase"), classname="dockwarden.errors",
                        name=f"{t.kind.value} {t.ref} complete")
            _set(ET.SubElement(case, "error"), type="incomplete",
                 message=f"the audit of {t.kind.value} {t.ref} did not complete")
        totals["tests"] += count
        totals["errors"] += count

    _set(root, name="dockwarden", **totals)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
