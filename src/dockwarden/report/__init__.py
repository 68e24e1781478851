"""Pure renderers: a `Report` in, text out. No I/O, no Engine access.

Every renderer starts with `safe(report)`: the one place where each string of a report
(target refs and ids, services, stages, titles, messages, evidence keys and values,
errors, warnings, skipped and ignored reasons, anything a field may hold) goes through
`sanitize.clean`, so no renderer can be reached with raw text from an audited system.
Formats add their own escaping on top (Rich `Text` objects, XML, Markdown).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from dockwarden import sanitize
from dockwarden.model.common import Severity
from dockwarden.model.finding import Finding, Report

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
    `MAX_DEPTH` (or a cycle) replaced by "..."."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str | bytes | bytearray):
        return sanitize.clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return plain(value.value, depth)
    if depth >= MAX_DEPTH:
        return CUT
    if isinstance(value, Mapping):
        return {_key(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [plain(v, depth + 1) for v in value]
        return sorted(items, key=_order)
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
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
    """A dataclass instance with each field made safe (`_field`)."""
    changes = {f.name: _field(f.name, getattr(value, f.name))
               for f in dataclasses.fields(value)  # type: ignore[arg-type]
               if f.init}
    return dataclasses.replace(value, **changes)  # type: ignore[type-var]


def _field(name: str, value: Any) -> Any:
    if isinstance(value, Enum) or value is None or isinstance(value, bool | int | float):
        return value  # our own enumerations (StrEnum is a str: tested first)
    if isinstance(value, str):
        return sanitize.clean(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _record(value)
    if isinstance(value, tuple):
        return tuple(_field(name, v) for v in value)
    if isinstance(value, list):
        return [_field(name, v) for v in value]
    # evidence (a dict), or anything else a field may come to hold
    return plain(value)


def shown(report: Report, severities: Iterable[Severity] | None) -> Report:
    """The report with only the findings whose severity is in `severities` (`--severity`)."""
    if severities is None:
        return report
    keep = set(severities)
    return dataclasses.replace(report,
                               findings=tuple(f for f in report.findings if f.severity in keep))


def sort_key(f: Finding) -> tuple[str, str, int, str]:
    return (f.target.kind.value, f.target.ref, -f.severity.rank, f.check)


def counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    out = {s: 0 for s in Severity}
    for f in findings:
        out[f.severity] += 1
    return out
