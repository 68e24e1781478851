"""Pure renderers: a `Report` in, text out. No I/O, no Engine access.

Every renderer starts with `safe(report)`: the one place where each string of a report
(target refs and ids, services, stages, titles, messages, evidence keys and values,
errors, warnings, skipped and ignored reasons, anything a field may hold) goes through
`sanitize.clean`, so no renderer can be reached with raw text from an audited system.
Formats add their own escaping on top (Rich `Text` objects, XML, Markdown).
"""

from __future__ import annotations

import dataclasses
import json as _json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from dockwarden import sanitize
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report, ReportError, Target

# Evidence nested deeper than this (or cyclic) is cut: a renderer must never recurse
# without bound on what an audited system sent.
MAX_DEPTH = 64
CUT = "..."

_T = TypeVar("_T")


def safe(report: Report) -> Report:
    """The report with every string cleaned (`sanitize.clean`) and its evidence made
    plain JSON data. Idempotent: a safe report passes through unchanged in content."""
    return _record(report)


def plain(value: Any, depth: int = 0) -> Any:
    """Evidence as plain JSON data that `json.dumps` can always write: strings (keys
    included) cleaned, enums as their value, sets as sorted lists, tuples as lists,
    NaN and infinities as text, any other object as its cleaned `str`; nesting past
    `MAX_DEPTH` (or a cycle) replaced by "...". Evidence that is already plain and
    clean (nearly all of it) is returned as it is, after one check at C speed."""
    if depth == 0 and isinstance(value, dict) and _already_plain(value):
        return value
    return _plain(value, depth)


# In `json.dumps` output (ensure_ascii): a run of backslashes and the escape it may end
# in, of a character that `sanitize.clean` would change (C0, DEL, C1, bidi, separators,
# surrogates). An odd run is an escape; an even one is escaped backslashes.
_ESCAPE_RUN = re.compile(
    r"(\\+)(?:[nrtbf]|u00[01]|u007f|u00[89]|u200[ef]|u202[89a-e]|u206[6-9]|ud[89a-f])")


def _has_unsafe_escape(encoded: str) -> bool:
    if "\\" not in encoded:
        return False
    return any(len(m.group(1)) % 2 for m in _ESCAPE_RUN.finditer(encoded))


def _already_plain(value: dict[Any, Any]) -> bool:
    """True when `value` is JSON data (str keys or none to sort, no NaN, no cycle, not
    deeper than the encoder allows) and no string in it needs cleaning."""
    if not value:
        return True
    try:
        encoded = _json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return False
    if not all(isinstance(k, str) for k in value):
        return False
    return not _has_unsafe_escape(encoded) and _depth_ok(encoded)


def _depth_ok(encoded: str) -> bool:
    """Nesting of the encoded document within MAX_DEPTH (brackets inside strings only
    make this stricter, which sends the value to the slow path, never the wrong way)."""
    if encoded.count("[") + encoded.count("{") <= MAX_DEPTH:
        return True
    depth = 0
    for ch in _BRACKETS.findall(encoded):
        depth += 1 if ch in "[{" else -1
        if depth > MAX_DEPTH:
            return False
    return True


_BRACKETS = re.compile(r"[\[\]{}]")


def _plain(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str | bytes | bytearray):
        return sanitize.clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return _plain(value.value, depth)
    if depth >= MAX_DEPTH:
        return CUT
    if isinstance(value, Mapping):
        return {_key(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_plain(v, depth + 1) for v in value]
        return sorted(items, key=_order)
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return _text_of(value)


def _key(key: object) -> str:
    if isinstance(key, Enum):
        key = key.value
    if isinstance(key, str):
        return sanitize.clean(key)
    if key is None or isinstance(key, bool | int | float):
        return sanitize.clean(str(key).lower() if isinstance(key, bool) or key is None
                              else str(key))
    return _text_of(key)


def _text_of(value: object) -> str:
    try:
        return sanitize.clean(str(value))
    except Exception:  # a hostile object's __str__ (or a deep repr) may raise anything
        return sanitize.clean(f"<{type(value).__name__}>")


def _order(value: Any) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


def _record(value: _T) -> _T:
    """A dataclass instance with each field made safe (`_field`): the very instance
    when nothing needed a change."""
    cls = type(value)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                                     if f.init)
    changes = {}
    for name in names:
        old = getattr(value, name)
        new = _field(old)
        if new is not old:
            changes[name] = new
    return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field(value: Any) -> Any:
    if type(value) is str:  # the common case first
        cleaned = sanitize.clean(value)
        return value if cleaned == value else cleaned
    if isinstance(value, Enum) or value is None or isinstance(value, bool | int | float):
        return value  # our own enumerations (StrEnum is a str: tested first)
    if isinstance(value, str):
        cleaned = sanitize.clean(value)
        return value if cleaned == value else cleaned
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _record(value)
    if isinstance(value, tuple | list):
        items = [_field(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return tuple(items) if isinstance(value, tuple) else items
    # evidence (a dict), or anything else a field may come to hold
    return plain(value)


def shown(report: Report, severities: Iterable[Severity] | None) -> Report:
    """The report with only the findings whose severity is in `severities` (`--severity`)."""
    if severities is None:
        return report
    keep = set(severities)
    return dataclasses.replace(report,
                               findings=tuple(f for f in report.findings if f.severity in keep))


def place(t: Target) -> str:
    """A target's ref with its line, service and stage (`deploy/compose.yml:12 service
    web`), the kind left to the caller: the one spelling of the HTML, Markdown and SARIF
    reports."""
    out = t.ref
    if t.line is not None:
        out += f":{t.line}"
    if t.service:
        out += f" service {t.service}"
    if t.stage:
        out += f" stage {t.stage}"
    return out


def sort_key(f: Finding) -> tuple[str, str, int, str]:
    return (f.target.kind.value, f.target.ref, -f.severity.rank, f.check)


def counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    out = {s: 0 for s in Severity}
    for f in findings:
        out[f.severity] += 1
    return out


# --- vulnerabilities grouped per package (DW309/DW310), for the text summary ----------

VULN_CHECKS = frozenset({"DW309", "DW310"})

# OS package type (evidence `package_type`) -> the ecosystem whose version order applies
# (language package types: vuln.match.LANGUAGE_ECOSYSTEMS)
_OS_VERSION_ORDER = {"deb": "Debian", "apk": "Alpine", "rpm": "Red Hat"}


@dataclasses.dataclass(frozen=True, slots=True)
class PackageVulns:
    """The DW309/DW310 findings of one installed package on one target."""

    target_ref: str
    package_type: str
    package: str
    installed: str
    fix: str  # the version that fixes every fixable one ("" when none has a fix)
    fixed: tuple[Finding, ...]  # removed by upgrading to `fix`, worst first
    unfixed: tuple[Finding, ...]  # no fix yet or will not be fixed, worst first

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.fixed + self.unfixed

    @property
    def ids(self) -> tuple[str, ...]:
        """The vulnerability ids (the preferred id of each), worst first."""
        return tuple(str(f.evidence.get("id", "")) for f in self.findings)

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def headline(self) -> str:
        """`django 2.2 -> 2.2.28 fixes 25 (3 critical, 5 high, 17 unknown)`, then
        `; 2 without a fix (1 high, 1 unknown)` when some have none."""
        parts = []
        if self.fixed:
            parts.append(f"{self.package} {self.installed} -> {self.fix} fixes "
                         f"{len(self.fixed)} ({_tally(self.fixed)})")
        if self.unfixed:
            lead = "" if self.fixed else f"{self.package} {self.installed}: "
            parts.append(f"{lead}{len(self.unfixed)} without a fix "
                         f"({_tally(self.unfixed)})")
        return "; ".join(parts)


def _tally(findings: Iterable[Finding]) -> str:
    c = counts(findings)
    return ", ".join(f"{n} {s.value}" for s, n in c.items() if n)


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[Any, ...], ...]:
    """Sort key reading runs of digits as numbers: dw-scale-2 before dw-scale-10.
    Digit runs are compared by length and then text (no `int()`: a hostile name may
    hold thousands of digits), other runs case-insensitively; the text itself breaks
    ties so the order is total."""
    parts = _DIGITS.split(text)
    key: list[tuple[Any, ...]] = []
    for i, part in enumerate(parts):
        if i % 2:
            digits = part.lstrip("0") or "0"
            key.append((len(digits), digits))
        else:
            key.append((part.casefold(),))
    key.append((text,))
    return tuple(key)


def by_reason(items: Iterable[tuple[str, str, Target]]) -> dict[tuple[str, str], list[Target]]:
    """(check, reason) -> the targets it was said of, in first-seen order: the roll-up of
    skipped checks and accepted risks."""
    out: dict[tuple[str, str], list[Target]] = defaultdict(list)
    for check, reason, target in items:
        out[(check, reason)].append(target)
    return out


def by_message(items: Iterable[ReportError]) -> dict[tuple[str, str], list[str]]:
    """(check or "", message) -> the target names of the errors (or warnings) saying it,
    in first-seen order."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in items:
        out[(e.check or "", e.message)].append(e.target)
    return out


def _highest(package_type: str, versions: Iterable[str]) -> str:
    """The highest of these fixed versions in the package's version order (the first
    given where the order cannot tell)."""
    distinct = list(dict.fromkeys(v for v in versions if v))
    if len(distinct) <= 1:
        return distinct[0] if distinct else ""
    # univers: only when it is needed
    from dockwarden.vuln.match import LANGUAGE_ECOSYSTEMS
    from dockwarden.vuln.versions import scheme

    ecosystem = _OS_VERSION_ORDER.get(package_type) or LANGUAGE_ECOSYSTEMS.get(package_type, "")
    sch = scheme(ecosystem)
    best = distinct[0]
    for v in distinct[1:]:
        if sch.lt(best, v):
            best = v
    return best


def vulns_by_package(findings: Iterable[Finding]) -> list[PackageVulns]:
    """DW309/DW310 findings grouped per (target, package type, package, installed
    version); other findings are left out. Groups come worst first, then the one with
    more findings, then by target and package in natural order."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        if f.check not in VULN_CHECKS:
            continue
        ev = f.evidence
        key = (f.target.ref, str(ev.get("package_type", "")), str(ev.get("package", "")),
               str(ev.get("installed", "")))
        groups.setdefault(key, []).append(f)

    def order(f: Finding) -> tuple[int, str]:
        return (-f.severity.rank, str(f.evidence.get("id", "")))

    out = []
    for (ref, ptype, package, installed), fs in groups.items():
        fixed = sorted((f for f in fs if f.evidence.get("status") == "fixed"
                        and f.evidence.get("fixed")), key=order)
        unfixed = sorted((f for f in fs if not (f.evidence.get("status") == "fixed"
                                                and f.evidence.get("fixed"))), key=order)
        fix = _highest(ptype, (str(f.evidence["fixed"]) for f in fixed))
        out.append(PackageVulns(ref, ptype, package, installed, fix, tuple(fixed),
                                tuple(unfixed)))
    out.sort(key=lambda g: (-g.worst.rank, -len(g.findings), natural_key(g.target_ref),
                            natural_key(g.package), g.installed))
    return out
