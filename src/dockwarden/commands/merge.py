"""`dockwarden merge REPORT.json...`: one report from JSON reports made elsewhere (each
host of a fleet audited on its own, e.g. by the Ansible role), in any output format.

Each report is read with a size cap (safeio) and checked against the schema
`dockwarden-report/1` before anything of it is used: a file of another schema, or a
finding without its fields, is an InputError (exit 2). Every report's targets are kept;
a finding found twice (the same host audited in two reports) is kept once. A finding of
a one-Engine report is given that Engine (evidence `engine`), as a fleet run gives it, so
that merged reports and a fleet run of the same Engines hold the same findings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import InputError
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Report, ReportError, ReportTarget, Skipped, Target
from dockwarden.sanitize import clean


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", metavar="REPORT.json",
                   help="JSON reports (--format json) to merge into one")
    opts.output_options(p)


def _str(value: Any, what: str, name: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InputError(f"report {name}: {what} is not a string")
    return value


def _object(data: Any, what: str, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"report {name}: {what} is not an object")
    return data


def _target(data: Any, name: str) -> Target:
    data = _object(data, "a target", name)
    try:
        kind = TargetKind(_str(data.get("kind"), "target.kind", name))
    except ValueError:
        raise InputError(f"report {name}: unknown target kind "
                         f"{clean(str(data.get('kind')))!r}") from None
    opt = {k: data.get(k) for k in ("id", "service", "stage")
           if isinstance(data.get(k), str)}
    line = data.get("line")
    return Target(kind, _str(data.get("ref"), "target.ref", name),
                  line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                  **opt)


def _finding(data: Any, name: str) -> Finding:
    data = _object(data, "a finding", name)
    try:
        severity = Severity.parse(_str(data.get("severity"), "finding.severity", name))
        source = Source(_str(data.get("source"), "finding.source", name))
    except ValueError as exc:
        raise InputError(f"report {name}: {clean(str(exc))}") from None
    target = _target(data.get("target"), name)
    if isinstance(data.get("line"), int) and target.line is None:
        from dataclasses import replace
        target = replace(target, line=data["line"])
    evidence = data.get("evidence")
    refs = data.get("references")
    return Finding(
        check=_str(data.get("check"), "finding.check", name), severity=severity,
        title=_str(data.get("title"), "finding.title", name), target=target, source=source,
        evidence=evidence if isinstance(evidence, dict) else {},
        remediation=_str(data.get("remediation"), "finding.remediation", name, optional=True),
        references=tuple(r for r in refs if isinstance(r, str)) if isinstance(refs, list)
        else (),
        message=_str(data.get("message"), "finding.message", name, optional=True))


def _entries(data: dict[str, Any], key: str, name: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"report {name}: `{key}` is not a list")
    return value


def _error(data: Any, name: str) -> ReportError:
    data = _object(data, "an error entry", name)
    check = data.get("check")
    return ReportError(_str(data.get("target"), "error.target", name),
                       _str(data.get("message"), "error.message", name),
                       check if isinstance(check, str) else None)


def load(path: str) -> Report:
    """One JSON report as a Report, or InputError (exit 2)."""
    from dockwarden.baseline import read_report

    name = clean(path)
    data = read_report(path, f"report {name}", "report", "give reports written with --format json")
    targets = []
    for t in _entries(data, "targets", name):
        if not isinstance(t, dict) or not isinstance(t.get("complete"), bool):
            raise InputError(f"report {name}: a target lacks `complete`")
        base = _target(t, name)
        targets.append(ReportTarget(base.kind, base.ref, t["complete"]))
    engines = [t.ref for t in targets if t.kind in (TargetKind.ENGINE, TargetKind.DAEMON)]
    engine = engines[0] if len(engines) == 1 else None
    findings = [_finding(f, name) for f in _entries(data, "findings", name)]
    ignored = []
    for f in _entries(data, "ignored", name):
        reason = f.get("reason") if isinstance(f, dict) else None
        ignored.append((_finding(f, name), reason if isinstance(reason, str) else ""))
    if engine is not None:
        findings = [_with_engine(f, engine) for f in findings]
        ignored = [(_with_engine(f, engine), why) for f, why in ignored]
    skipped = []
    for entry in _entries(data, "skipped", name):
        s = _object(entry, "a skipped entry", name)
        skipped.append(Skipped(_str(s.get("check"), "skipped.check", name),
                               _target(s.get("target"), name),
                               _str(s.get("reason"), "skipped.reason", name)))
    summary = data.get("summary")
    passed = summary.get("passed") if isinstance(summary, dict) else 0
    return Report(
        started=_str(data.get("started"), "started", name, optional=True),
        finished=_str(data.get("finished"), "finished", name, optional=True),
        targets=tuple(targets), findings=tuple(findings), skipped=tuple(skipped),
        errors=tuple(_error(e, name) for e in _entries(data, "errors", name)),
        passed=passed if isinstance(passed, int) and not isinstance(passed, bool) else 0,
        ignored=tuple(ignored),
        warnings=tuple(_error(w, name) for w in _entries(data, "warnings", name)))


def _with_engine(f: Finding, engine: str) -> Finding:
    if "engine" in f.evidence:
        return f
    from dataclasses import replace
    return replace(f, evidence={**f.evidence, "engine": engine})


def _key(f: Finding) -> str:
    return json.dumps(f.as_dict(), sort_keys=True, default=str)


def merged(reports: list[Report]) -> Report:
    """The reports as one: every target (a target named by several reports once, complete
    only if complete in all), each finding, skipped entry, error and warning once."""
    targets: dict[tuple[TargetKind, str], bool] = {}
    for r in reports:
        for t in r.targets:
            targets[(t.kind, t.ref)] = targets.get((t.kind, t.ref), True) and t.complete
    findings = {_key(f): f for r in reports for f in r.findings}
    ignored = {_key(f) + why: (f, why) for r in reports for f, why in r.ignored}
    skipped = {(s.check, s.target, s.reason): s for r in reports for s in r.skipped}
    errors = dict.fromkeys(e for r in reports for e in r.errors)
    warnings = dict.fromkeys(w for r in reports for w in r.warnings)
    starts = [r.started for r in reports if r.started]
    ends = [r.finished for r in reports if r.finished]
    return Report(
        started=min(starts) if starts else output.now(),
        finished=max(ends) if ends else output.now(),
        targets=tuple(ReportTarget(k, ref, ok) for (k, ref), ok in targets.items()),
        findings=tuple(findings.values()), skipped=tuple(skipped.values()),
        errors=tuple(errors), passed=sum(r.passed for r in reports),
        ignored=tuple(ignored.values()), warnings=tuple(warnings))


def run(ns: argparse.Namespace) -> int:
    return output.finish(merged([load(path) for path in ns.reports]), ns)
