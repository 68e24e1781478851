"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF consumers.

The renderer is pure: a `Report` and the catalogue metadata of the checks go in, a
JSON document comes out. The rule metadata is passed in (any object with the
`RuleLike` attributes, such as `checks.registry.CheckMeta`) so that `report/` never
imports `checks/`.

The report is made safe first (`report.safe`: control characters, bidi overrides and
lone surrogates shown escaped); JSON escaping does the rest. File references are
percent-encoded as URIs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import quote

from dockwarden import __version__
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report, Skipped, Target
from dockwarden.report import place, safe, sort_key

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "dockwarden/v1"

# An unknown severity (a vulnerability no source scores) is an error: `--fail-on`
# weighs it as high by default, and a code-scanning gate should not let it through as
# a mere warning. It carries no `security-severity`: there is no score to give.
LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.UNKNOWN: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# GitHub code scanning reads `properties.security-severity` (a number as a string):
# >= 9.0 critical, >= 7.0 high, >= 4.0 medium, > 0 low.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _severity_properties(severity: Severity) -> dict[str, str]:
    """`severity` (ours, `unknown` included) and GitHub's `security-severity`, left out
    for an unknown severity rather than made up."""
    props = {"severity": severity.value}
    score = SECURITY_SEVERITY.get(severity)
    if score is not None:
        props["security-severity"] = score
    return props


class RuleLike(Protocol):
    """What the renderer needs to know about a check; `CheckMeta` satisfies it."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def rationale(self) -> str: ...

    @property
    def remediation(self) -> str: ...

    @property
    def references(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """Plain rule metadata, for callers (and tests) that have no `CheckMeta` at hand."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()


_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    """A string that can always be written as UTF-8 (lone surrogates replaced)."""
    return _SURROGATES.sub("\ufffd", value)


def _jsonable(value: Any) -> Any:
    """Evidence as plain, deterministic JSON data (sets sorted, unknown types as text)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN is not JSON
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _text(str(value))


def fingerprint(finding: Finding) -> str:
    """A stable identity for a finding across runs: the same check on the same target
    with the same evidence gives the same value (the file line is left out, so an
    edit above the finding does not make it a new alert)."""
    t = finding.target
    evidence = json.dumps(_jsonable(finding.evidence), sort_keys=True, separators=(",", ":"))
    parts = [
        finding.check,
        t.kind.value,
        t.ref,
        t.id or "",
        t.service or "",
        t.stage or "",
        evidence,
    ]
    data = "|".join(_text(p) for p in parts).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _rule_name(title: str, fallback: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name or fallback


def _uri(ref: str) -> str:
    """A file reference as a URI reference: characters not allowed in a URI are
    percent-encoded (a space becomes %20); path separators are kept."""
    return quote(_text(ref).replace("\\", "/"), safe="/:@!$&'()*+,;=-._~")


def _logical(t: Target) -> dict[str, Any]:
    return {
        "name": _text(t.ref),
        "kind": t.kind.value,
        "fullyQualifiedName": _text(f"{t.kind.value}/{t.ref}"),
    }


def _location(t: Target) -> dict[str, Any]:
    if t.line is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(t.ref)}}
        if t.line >= 1:
            physical["region"] = {"startLine": t.line}
        return {"physicalLocation": physical}
    return {"logicalLocations": [_logical(t)]}


def _rule(check: str, meta: RuleLike | None, example: Finding) -> dict[str, Any]:
    """The reportingDescriptor of one check; without catalogue metadata it is built
    from the first finding of that check."""
    title = meta.title if meta is not None else example.title
    severity = meta.severity if meta is not None else example.severity
    rationale = meta.rationale if meta is not None else ""
    remediation = meta.remediation if meta is not None else example.remediation
    references = list(meta.references if meta is not None else example.references)

    rule: dict[str, Any] = {
        "id": check,
        "name": _rule_name(title, check),
        "shortDescription": {"text": _text(title or check)},
        "fullDescription": {"text": _text(rationale or title or check)},
        "defaultConfiguration": {"level": LEVELS[severity]},
    }
    if remediation:
        markdown = f"**Remediation:** {remediation}"
        if rationale:
            markdown = f"{rationale}\n\n{markdown}"
        if references:
            markdown += "\n\n**References:**\n" + "\n".join(f"- {r}" for r in references)
        rule["help"] = {"text": _text(remediation), "markdown": _text(markdown)}
    rule["properties"] = {
        **_severity_properties(severity),
        "tags": ["security", "docker"],
        "references": [_text(r) for r in references],
    }
    return rule


def _message(f: Finding) -> str:
    text = f.title or f.check
    if f.message:
        text += f": {f.message}"
    return _text(f"{text} ({f.target.kind.value} {place(f.target)})")


def _result(f: Finding, rule_index: int, suppression: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.check,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": _message(f)},
        "locations": [_location(f.target)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f)},
        "properties": {
            **_severity_properties(f.severity),
            "source": f.source.value,
            "target": _jsonable(f.target.as_dict()),
            "evidence": _jsonable(f.evidence),
        },
    }
    if f.target.line is not None:
        result["properties"]["line"] = f.target.line
    if suppression is not None:
        result["suppressions"] = [
            {"kind": "external", "state": "accepted", "justification": _text(suppression)}
        ]
    return result


def _skip_notification(s: Skipped) -> dict[str, Any]:
    return {
        "level": "note",
        "message": {"text": _text(f"{s.check} skipped on {s.target.ref}: {s.reason}")},
        "associatedRule": {"id": s.check},
        "locations": [_location(s.target)],
        "properties": {"target": _jsonable(s.target.as_dict())},
    }


def as_dict(report: Report, rules: Iterable[RuleLike]) -> dict[str, Any]:
    report = safe(report)
    catalogue: dict[str, RuleLike] = {r.id: r for r in rules}

    shown: list[tuple[Finding, str | None]] = [
        (f, None) for f in sorted(report.findings, key=sort_key)
    ]
    shown += [(f, reason) for f, reason in sorted(report.ignored, key=lambda x: sort_key(x[0]))]

    descriptors: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for f, _ in sorted(shown, key=lambda x: x[0].check):
        if f.check not in index:
            index[f.check] = len(descriptors)
            descriptors.append(_rule(f.check, catalogue.get(f.check), f))

    notifications: list[dict[str, Any]] = []
    for level, entries in (("error", report.errors), ("warning", report.warnings)):
        for e in entries:
            note: dict[str, Any] = {
                "level": level,
                "message": {"text": _text(f"{e.target}: {e.message}")},
            }
            if e.check:
                note["associatedRule"] = {"id": e.check}
            notifications.append(note)
    notifications += [_skip_notification(s) for s in report.skipped]

    invocation: dict[str, Any] = {"executionSuccessful": report.complete}
    if report.started:
        invocation["startTimeUtc"] = report.started
    if report.finished:
        invocation["endTimeUtc"] = report.finished
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "dockwarden",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": descriptors,
            }
        },
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.check], reason) for f, reason in shown],
        "properties": {
            "complete": report.complete,
            "targets": [_jsonable(t.as_dict()) for t in report.targets],
            "passed": report.passed,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render(report: Report, rules: Iterable[RuleLike] = ()) -> str:
    """The report as a SARIF 2.1.0 log with one run. `rules` is the catalogue metadata
    (e.g. `checks.registry.iter_catalogue()`); only the checks that have findings are
    described in the log."""
    return json.dumps(as_dict(report, rules), indent=2, ensure_ascii=False) + "\n"
