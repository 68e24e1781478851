"""Accepted risks (`--ignore FILE`): each entry names a check or a vulnerability id (or
both), optionally a target and a package, a reason (required) and an expiry date after
which it no longer applies (and the report says that it expired).

```yaml
- check: DW214          # a check id
  target: build-*       # optional: fnmatch pattern on target ref (or id)
  reason: batch jobs are bounded by the scheduler
  expires: 2027-03-31   # optional
- id: CVE-2019-12308    # a vulnerability (DW309/DW310), by any of its ids or aliases
  package: django       # optional: fnmatch pattern on the package (or source package)
  reason: the admin site is not deployed
```

`check: CVE-...` (or GHSA-, PYSEC-, ... ids) is read as `id:`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from typing import Any

import yaml

from dockwarden.errors import InputError
from dockwarden.model.finding import Finding
from dockwarden.sanitize import clean

MAX_BYTES = 1 << 20


_CHECK_ID = re.compile(r"DW\d+")
_VULN_ID = re.compile(r"[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*")


@dataclass(frozen=True, slots=True)
class Accepted:
    check: str | None
    target: str | None
    reason: str
    expires: dt.date | None
    id: str | None = None  # a vulnerability id (upper case)
    package: str | None = None  # fnmatch pattern on evidence package / source_package
    entry: int = 0  # its position in the file (1-based), for messages

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def applies(self, f: Finding) -> bool:
        """Whether the entry names this finding, whatever its expiry."""
        if self.check is not None and f.check != self.check:
            return False
        if self.id is not None and self.id not in _finding_ids(f):
            return False
        if self.package is not None:
            names = [str(f.evidence[k]) for k in ("package", "source_package")
                     if f.evidence.get(k)]
            if not any(fnmatchcase(n, self.package) for n in names):
                return False
        if self.target is None:
            return True
        return fnmatchcase(f.target.ref, self.target) or bool(
            f.target.id and fnmatchcase(f.target.id, self.target))

    def matches(self, f: Finding, today: dt.date) -> bool:
        return not self.expired(today) and self.applies(f)

    def describe(self) -> str:
        what = [f"{k} {v}" for k, v in (("check", self.check), ("id", self.id),
                                          ("package", self.package),
                                          ("target", self.target)) if v is not None]
        return f"entry {self.entry} ({', '.join(what)})"


def _finding_ids(f: Finding) -> list[str]:
    ids = [str(i).upper() for i in f.evidence.get("ids") or ()]
    if f.evidence.get("id"):
        ids.append(str(f.evidence["id"]).upper())
    return ids


_MAGIC = re.compile(r"[*?\[]")


class Index:
    """The entries of an ignore file indexed so that matching a report costs findings +
    entries, not findings x entries. An entry is filed under its check id (or, without
    one, its vulnerability id); an entry's target is an exact name (looked up in a dict)
    or a pattern. A finding is compared only with the entries that name its check or one
    of its vulnerability ids, and with the pattern entries of its check only when one
    regular expression made of all of them matches its name (in C, one pass) — so ten
    thousand patterns for other hosts cost one search per finding."""

    def __init__(self, entries: Iterable[Accepted]) -> None:
        self.entries = list(entries)
        self._any: dict[str, list[Accepted]] = {}  # check -> entries for every target
        self._exact: dict[tuple[str, str], list[Accepted]] = {}  # (check, name)
        self._patterns: dict[str, list[Accepted]] = {}  # check -> target patterns
        self._any_pattern: dict[str, re.Pattern[str]] = {}
        self._by_id: dict[str, list[Accepted]] = {}
        for a in self.entries:
            if a.check is None:
                if a.id is not None:
                    self._by_id.setdefault(a.id, []).append(a)
            elif a.target is None:
                self._any.setdefault(a.check, []).append(a)
            elif _MAGIC.search(a.target):
                self._patterns.setdefault(a.check, []).append(a)
            else:
                self._exact.setdefault((a.check, a.target), []).append(a)
        for check, entries in self._patterns.items():
            self._any_pattern[check] = re.compile(
                "|".join(translate(a.target or "") for a in entries))

    def candidates(self, f: Finding) -> Iterator[Accepted]:
        """The entries that apply to `f`, in the order of the file."""
        names = [f.target.ref] + ([f.target.id] if f.target.id else [])
        found = list(self._any.get(f.check, ()))
        for name in names:
            found.extend(self._exact.get((f.check, name), ()))
        rx = self._any_pattern.get(f.check)
        if rx is not None and any(rx.match(name) for name in names):
            found.extend(self._patterns[f.check])
        if self._by_id:
            for i in dict.fromkeys(_finding_ids(f)):
                found.extend(self._by_id.get(i, ()))
        found.sort(key=lambda a: a.entry)
        return (a for a in dict.fromkeys(found) if a.applies(f))

    def match(self, f: Finding, today: dt.date) -> Accepted | None:
        """The first entry that accepts `f` today."""
        return next((a for a in self.candidates(f) if not a.expired(today)), None)


def parse(text: str, origin: str) -> list[Accepted]:
    if len(text) > MAX_BYTES:
        raise InputError(f"{origin}: ignore file larger than 1 MiB")
    data = load_yaml(text, _loader(text), origin)
    if data is None:
        return []
    if isinstance(data, dict) and "ignore" in data:
        data = data["ignore"]
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a list of entries with check and reason")
    out = []
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            raise InputError(f"{origin}: entry {i} has no check id")
        check, vuln = entry.get("check"), entry.get("id")
        if (check is not None and not isinstance(check, str)) or \
                (vuln is not None and not isinstance(vuln, str)) or (not check and not vuln):
            raise InputError(f"{origin}: entry {i} has no check id (or vulnerability id)")
        check = check.strip().upper() if check else None
        vuln = vuln.strip().upper() if vuln else None
        if check and not _CHECK_ID.fullmatch(check) and _VULN_ID.fullmatch(check) and not vuln:
            check, vuln = None, check  # `check: CVE-...` names a vulnerability
        if vuln is not None and not _VULN_ID.fullmatch(vuln):
            raise InputError(f"{origin}: entry {i}: id {clean(vuln)!r} is not a vulnerability id")
        name = check or vuln
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"{origin}: entry {i} ({name}) needs a reason")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires.strip())
            except ValueError:
                raise InputError(f"{origin}: entry {i}: expires {clean(expires)!r} is not a "
                                 "valid YYYY-MM-DD date") from None
        elif expires is not None and not isinstance(expires, dt.date):
            raise InputError(f"{origin}: entry {i}: expires is not a YYYY-MM-DD date")
        target = entry.get("target")
        if target is not None and not isinstance(target, str | int | float):
            raise InputError(f"{origin}: entry {i}: target is not a name or pattern")
        package = entry.get("package")
        if package is not None and not isinstance(package, str | int | float):
            raise InputError(f"{origin}: entry {i}: package is not a name or pattern")
        out.append(Accepted(check, str(target) if target is not None else None,
                            reason.strip(), expires, vuln,
                            str(package) if package is not None else None, i))
    return out


# What sends a file to the pure-Python loader: an anchor (`&`: aliases need one), a flow
# collection (`[`, `{`), deep indentation, compact nesting (`- - x`, `key: - x`) or a
# complex key (`? x`). Without any of these a document is at most a few dozen levels deep.
_PLAIN_SHAPE = re.compile(r"[&\[{]|^ {17,}|-[ \t]+-(?:[ \t]|$)|:[ \t]+-(?:[ \t]|$)|^\s*\?",
                          re.MULTILINE)


def load_yaml(text: str, loader: Any, origin: str) -> Any:
    """`text` read by `loader` (one of the alias-refusing loaders here); a YAML error or
    a document nested too deeply for Python's stack is an InputError naming `origin`.
    Also the config file's reading."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or ["?"])[0]
        raise InputError(f"{origin}: not valid YAML: {clean(first)}") from None
    except RecursionError:
        raise InputError(f"{origin}: not valid YAML: nested too deeply") from None


def _loader(text: str) -> Any:
    """The loader for `text`. Aliases are refused (no YAML bombs). A plainly shaped file
    (the usual list of entries) goes to libyaml's C parser, 7x faster on a large file;
    anything else to the pure-Python loader, which stops at the first alias and whose
    depth is bounded by Python's recursion limit (libyaml's composer recurses in C, so a
    deeply nested document would overflow the C stack there)."""
    if _FastLoader is not None and not _PLAIN_SHAPE.search(text):
        return _FastLoader
    return _NoAliasLoader


_NO_TIMESTAMPS = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def no_alias_loader(what: str) -> type[yaml.SafeLoader]:
    """The safe loader without aliases (no YAML bombs; the error names `what`, e.g. "an
    ignore file"), and with dates left as text: `expires` is parsed here, so that
    `2027-02-30` is a clear error, not a ValueError out of the loader. Also the config
    file's loader."""

    class NoAliasLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = _NO_TIMESTAMPS

        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError(f"aliases are not allowed in {what}")
            return super().compose_node(parent, index)

    return NoAliasLoader


_NoAliasLoader = no_alias_loader("an ignore file")


_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        yaml_implicit_resolvers = _NO_TIMESTAMPS

    _FastLoader = _CLoader
