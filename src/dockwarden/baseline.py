"""`--baseline OLD.json`: report and fail only on findings that a previous JSON report
(schema `dockwarden-report/1`) did not hold.

How a finding is matched (the same for the old report and the current audit, computed
from the fields of the JSON report only, so any earlier report works; nothing is added to
the report itself):

- `check`, `target.kind`, `target.ref`, `target.service` and `target.stage` must be equal.
  The ref of a Dockerfile or compose file is compared as `os.path.normpath` gives it
  (`./Dockerfile` is `Dockerfile`); an absolute and a relative path still differ.
  `target.id` (a container or image id: new after every re-creation or rebuild) and the
  line number (moves whenever the file above it is edited) are left out.
- and the *evidence fingerprint* must be equal: SHA-256 of the evidence as canonical JSON
  (keys sorted, compact separators, ASCII escapes), after leaving out the top-level
  evidence keys that change without the risk changing:
  - for every check: `line`, `layer`, `layer_digest`, `history`, `exec_id`;
  - DW307 `files` and DW308 `bytes` (the image's file count and size, which every rebuild
    changes), DW132 `rules` (how many audit rules exist);
  - DW309/DW310 (vulnerabilities) keep only `id`, `package`, `package_type`,
    `source_package`, `installed` and `path`: severity, CVSS score, fix, aliases,
    sources, summary and references change with each database update; a new installed
    version, or a new advisory id, is a new finding.

Anything else that changes in the evidence (a new capability added, another port
published, a different secret) makes a new finding. Matching counts: when the old report
held a fingerprint twice and the audit finds it three times, one finding is new.

Only the old report's `findings` count, not its `ignored` entries (an accepted risk whose
expiry passes comes back), and a report written with `--severity` holds only what it
showed. The old findings that match go to the report's `ignored` list with the reason
"in baseline", so they show as ignored and leave the exit code alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.finding import Finding, Report
from dockwarden.sanitize import clean

SCHEMA = "dockwarden-report/1"
REASON = "in baseline"
MAX_BYTES = 256 << 20  # a report of ~500 containers with their images is tens of MB

VOLATILE = frozenset({"line", "layer", "layer_digest", "history", "exec_id"})
VOLATILE_BY_CHECK: dict[str, frozenset[str]] = {
    "DW132": frozenset({"rules"}),
    "DW307": frozenset({"files"}),
    "DW308": frozenset({"bytes"}),
}
VULN_IDENTITY = frozenset({"id", "package", "package_type", "source_package", "installed",
                           "path"})
VULN_CHECKS = frozenset({"DW309", "DW310"})
_FILE_KINDS = frozenset({"dockerfile", "compose"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str)


def stable_evidence(check: str, evidence: Any) -> Any:
    """The evidence with its volatile top-level keys left out (see the module docstring)."""
    if not isinstance(evidence, Mapping):
        return evidence
    if check in VULN_CHECKS:
        return {k: v for k, v in evidence.items() if k in VULN_IDENTITY}
    drop = VOLATILE | VOLATILE_BY_CHECK.get(check, frozenset())
    return {k: v for k, v in evidence.items() if k not in drop}


def key(finding: Mapping[str, Any]) -> str:
    """The matching key of one finding in its JSON report form: check, target (kind, ref,
    service, stage) and the SHA-256 of its stable evidence, as one string."""
    check = str(finding.get("check", ""))
    target = finding.get("target")
    target = target if isinstance(target, Mapping) else {}
    kind = str(target.get("kind", ""))
    ref = str(target.get("ref", ""))
    if kind in _FILE_KINDS and ref:
        ref = os.path.normpath(ref)
    digest = hashlib.sha256(
        _canonical(stable_evidence(check, finding.get("evidence"))).encode()).hexdigest()
    return _canonical([check, kind, ref, target.get("service"), target.get("stage"), digest])


def fingerprint(finding: Mapping[str, Any]) -> str:
    """A short stable name of the matching key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(key(finding).encode()).hexdigest()[:16]


def _as_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The findings as the JSON report writes them: every string cleaned and the evidence
    plain JSON data (`report.safe`), then through the JSON encoder and back, so that a
    finding of this audit and the same one read from an old report compare equal."""
    from dockwarden.report import safe

    report = safe(Report(started="", finished="", targets=(), findings=tuple(findings)))
    data: list[dict[str, Any]] = json.loads(
        json.dumps([f.as_dict() for f in report.findings], default=str))
    return data


def read_report(path: str, label: str, what: str, hint: str) -> dict[str, Any]:
    """The top-level object of the JSON report at `path` (read as `what`, at most MAX_BYTES),
    after checking that it is JSON of schema SCHEMA; else an InputError starting with
    `label` (and `hint` where a JSON report would do). Shared with `dockwarden merge`."""
    from dockwarden.safeio import read_text

    text = read_text(path, what=what, max_bytes=MAX_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: not JSON ({exc.msg} at line {exc.lineno})", hint) from None
    except RecursionError:
        raise InputError(f"{label}: nested too deeply to be a report") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{label}: not a dockwarden JSON report (schema {SCHEMA})", hint)
    return data


def load(path: str) -> Counter[str]:
    """The matching keys of an old JSON report's findings, counted. A file that is not a
    dockwarden JSON report is an InputError (exit 2)."""
    name = clean(path)
    data = read_report(path, f"baseline {name}", "baseline report",
                       "give a report written with --format json")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise InputError(f"baseline {name}: `findings` is not a list")
    keys: Counter[str] = Counter()
    for i, f in enumerate(findings, 1):
        target = f.get("target") if isinstance(f, dict) else None
        if not isinstance(f, dict) or not isinstance(f.get("check"), str) \
                or not isinstance(target, dict) or not isinstance(target.get("kind"), str) \
                or not isinstance(target.get("ref"), str) \
                or any(target.get(k) is not None and not isinstance(target.get(k), str)
                       for k in ("service", "stage")):
            raise InputError(f"baseline {name}: finding {i} is not a finding "
                             "(check, target.kind and target.ref expected)")
        keys[key(f)] += 1
    return keys


def apply(report: Report, old: Counter[str] | None) -> Report:
    """The report with every finding that the baseline (`load`) holds moved to `ignored`
    (reason "in baseline")."""
    if old is None:
        return report
    old = Counter(old)
    kept: list[Finding] = []
    ignored = list(report.ignored)
    for f, data in zip(report.findings, _as_json(report.findings), strict=True):
        k = key(data)
        if old[k] > 0:
            old[k] -= 1
            ignored.append((f, REASON))
        else:
            kept.append(f)
    return replace(report, findings=tuple(kept), ignored=tuple(ignored))
