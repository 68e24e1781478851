"""The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json).

Layout: `{source_package: {issue_id: {description, scope?, debianbug?, releases:
{codename: {status, repositories, urgency, fixed_version?, nodsa?, nodsa_reason?}}}}}`.
Names are *source* package names and releases are code names (`bookworm`), which is how
the matcher looks Debian up. Hand-written: no library reads this format.

Per source package and release:

* `resolved` with a `fixed_version` -> FIXED at that version (range: introduced 0, fixed);
  `fixed_version` "0" means the release was never affected: skipped and counted;
* `open` -> AFFECTED (range: introduced 0, no fix), unless the tracker decided not to fix
  it in that release: `nodsa_reason` `ignored` / `postponed`, a plain `nodsa`, or urgency
  `end-of-life` -> WONT_FIX with that word as `note` (followed by ": " and the tracker's
  text when it gives one);
* `undetermined` -> AFFECTED with note `undetermined` (nobody has checked yet).

The urgency (`unimportant`, `low`, `medium`, `high`, `not yet assigned`, ...) is kept in
`Affected.severity`, without the tracker's `*` marks. The tracker has no CVSS. The text
markers of the tracker's own list files (`<unfixed>`, `<not-affected>`, `<no-dsa>`,
`<ignored>`, `<postponed>`, `<removed>`) are understood where a `fixed_version` holds them.

One advisory per issue id (CVE-..., TEMP-..., DSA-...), naming every source package and
release it affects, with the tracker's page as its reference.

Read as a stream (`base.stream_items`): one source package at a time from the file, each
at most `base.MAX_ITEM` characters and `base.MAX_NODES` objects and arrays (the biggest,
`linux`, is some 15 MiB). What is kept until the end is one compact row per (issue,
package, release), at most `MAX_ROWS` of them (the real file's 70 MiB hold about 0.7 million), so
memory stays bounded whatever the file holds. A package entry of the wrong shape is
skipped and counted; a file that is not the tracker's JSON at all is an InputError.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Affected, Event, Range, Status, normalise_name
from dockwarden.sanitize import clean
from dockwarden.vuln.importers.base import (
    RECORD_ERRORS,
    ImportStats,
    stream_items,
    stream_text,
    text,
    vetted,
)

SOURCE = "debian-tracker"
_PAGE = "https://security-tracker.debian.org/tracker/"
_SUMMARY_MAX = 400
_WONT_FIX = ("ignored", "postponed", "no-dsa")
MAX_ROWS = 2_000_000  # (issue, package, release) rows of one file (with MAX_ISSUES:
# some 500 MiB at most; the real file has about a third of that)
MAX_ISSUES = 1_000_000  # distinct issue ids of one file

# (package, release, status, fixed, urgency, note): kept compact until the issue is
# complete, because one issue spans many packages and the file is read package by package.
_Row = tuple[str, str, Status, str, str, str]


def _entry(release: dict[str, Any]) -> tuple[Status, str, str] | str:
    """(status, fixed, note) for one release, or the reason it is skipped."""
    status = text(release.get("status"))
    fixed = text(release.get("fixed_version")).strip()
    urgency = text(release.get("urgency")).strip().strip("*").strip()
    nodsa = text(release.get("nodsa")).strip()
    reason = text(release.get("nodsa_reason")).strip()
    marker = fixed.strip("<>") if fixed.startswith("<") else ""
    if marker in ("not-affected",) or (status == "resolved" and fixed == "0"):
        return "not affected"
    if marker == "removed":
        return "removed from the release"
    if status == "resolved" and not marker:
        return (Status.FIXED, fixed, "") if fixed else "resolved without a version"
    if status not in ("open", "undetermined", "resolved"):
        return f"status {status or 'missing'}"
    word = ""
    if reason in _WONT_FIX or marker in _WONT_FIX:
        word = reason if reason in _WONT_FIX else marker
    elif nodsa or urgency in _WONT_FIX:
        word = "no-dsa" if nodsa else urgency
    elif urgency == "end-of-life":
        word = "end-of-life"
    if word:
        return Status.WONT_FIX, "", f"{word}: {nodsa}" if nodsa else word
    if status == "undetermined":
        return Status.AFFECTED, "", "undetermined"
    return Status.AFFECTED, "", ""


def _affected(row: _Row) -> Affected:
    package, release, status, fixed, urgency, note = row
    events = (Event(introduced="0"), Event(fixed=fixed)) if fixed else (Event(introduced="0"),)
    return Affected(ecosystem="Debian", name=package, release=release, status=status,
                    ranges=(Range("ECOSYSTEM", events),), fixed=fixed, severity=urgency,
                    note=note)


def _summary(description: str) -> str:
    line = next((x.strip() for x in description.splitlines() if x.strip()), "")
    return line if len(line) <= _SUMMARY_MAX else line[:_SUMMARY_MAX - 3] + "..."


def _short(value: str, limit: int = 200) -> str:
    """A small string kept per row, shared (interned) when it repeats: code names,
    urgencies and notes are a handful of words across the whole file."""
    return sys.intern(value[:limit]) if len(value) <= 64 else value[:limit]


def _package(package: str, issues: Any, what: str, stats: ImportStats,
             rows: dict[str, list[_Row]], summaries: dict[str, str]) -> int:
    """Add the rows of one source package; the number of rows added."""
    if not isinstance(issues, dict):
        stats.documents += 1
        stats.skip("not a tracker package entry", f"{what}: {package}")
        return 0
    name = _short(normalise_name("Debian", package))
    added = 0
    for issue_id, issue in issues.items():
        stats.documents += 1
        if not isinstance(issue, dict) or not isinstance(issue.get("releases"), dict) \
                or not issue_id.strip():
            stats.skip("not a tracker issue", f"{what}: {package} {issue_id}")
            continue
        if issue_id not in summaries:
            if len(summaries) >= MAX_ISSUES:
                raise InputError(f"{clean(what)}: more than {MAX_ISSUES:,} issues, refused")
            summaries[issue_id] = _summary(text(issue.get("description")))
        for codename, release in issue["releases"].items():
            if not isinstance(release, dict):
                stats.skip("not a tracker release entry")
                continue
            got = _entry(release)
            if isinstance(got, str):
                stats.skip(got)
                continue
            status, fixed, note = got
            urgency = text(release.get("urgency")).strip().strip("*").strip()
            rows.setdefault(issue_id, []).append(
                (name, _short(codename), status, fixed[:200], _short(urgency),
                 _short(note, 400)))
            added += 1
    return added


def iter_tracker(data: bytes | str | IO[bytes], what: str, stats: ImportStats,
                 source: str = SOURCE) -> Iterator[Advisory]:
    """Advisories of the tracker JSON in `data` (bytes, text or a binary file, read as a
    stream); InputError when it is not that JSON. A package entry of the wrong shape is
    skipped and counted."""
    fh = stream_text(data) if isinstance(data, (bytes, str)) else data
    rows: dict[str, list[_Row]] = {}
    summaries: dict[str, str] = {}
    packages = total = 0
    for package, issues in stream_items(fh, what, expect="{"):
        assert isinstance(package, str)  # an object's keys
        packages += 1
        try:
            total += _package(package, issues, what, stats, rows, summaries)
        except RECORD_ERRORS:
            stats.skip("not a tracker package entry", f"{what}: {package}")
        if total > MAX_ROWS:
            raise InputError(f"{clean(what)}: more than {MAX_ROWS:,} (issue, package, "
                             "release) entries, refused")
    if packages and not summaries:
        raise InputError(f"{clean(what)}: a JSON object, but not the Debian security "
                         "tracker's (no package has issues with `releases`)")
    for issue_id, issue_rows in rows.items():
        stats.advisories += 1
        adv = vetted(Advisory(id=issue_id, source=source, summary=summaries.get(issue_id, ""),
                              references=(_PAGE + issue_id,),
                              affected=tuple(_affected(r) for r in issue_rows)),
                     stats, f"{what}: {issue_id}")
        if adv is not None:
            yield adv


def looks_like(first_key: str, first_value: Any) -> bool:
    """Is this the first (package, issues) pair of a tracker file?"""
    if not isinstance(first_value, dict):
        return False
    return any(isinstance(v, dict) and isinstance(v.get("releases"), dict)
               for _, v in zip(range(5), first_value.values(), strict=False))
