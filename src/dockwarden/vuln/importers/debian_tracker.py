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
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Affected, Event, Range, Status, normalise_name
from dockwarden.vuln.importers.base import ImportStats, decode_text, iter_object, text

SOURCE = "debian-tracker"
_PAGE = "https://security-tracker.debian.org/tracker/"
_SUMMARY_MAX = 400
_WONT_FIX = ("ignored", "postponed", "no-dsa")

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


def iter_tracker(data: bytes | str, what: str, stats: ImportStats,
                 source: str = SOURCE) -> Iterator[Advisory]:
    """Advisories of the tracker JSON in `data` (InputError when it is not that JSON)."""
    doc = decode_text(data, what) if isinstance(data, bytes) else data
    del data
    rows: dict[str, list[_Row]] = {}
    summaries: dict[str, str] = {}
    packages = 0
    for package, issues in iter_object(doc, what):
        packages += 1
        if not isinstance(issues, dict):
            stats.documents += 1
            stats.skip("not a tracker package entry", f"{what}: {package}")
            continue
        name = normalise_name("Debian", package)
        for issue_id, issue in issues.items():
            stats.documents += 1
            if not isinstance(issue, dict) or not isinstance(issue.get("releases"), dict):
                stats.skip("not a tracker issue", f"{what}: {package} {issue_id}")
                continue
            if issue_id not in summaries:
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
                    (name, codename, status, fixed, urgency, note))
    del doc
    if packages and not summaries:
        raise InputError(f"{what}: a JSON object, but not the Debian security tracker's "
                         "(no package has issues with `releases`)")
    for issue_id, issue_rows in rows.items():
        stats.advisories += 1
        yield Advisory(id=issue_id, source=source, summary=summaries.get(issue_id, ""),
                       references=(_PAGE + issue_id,),
                       affected=tuple(_affected(r) for r in issue_rows))


def looks_like(first_key: str, first_value: Any) -> bool:
    """Is this the first (package, issues) pair of a tracker file?"""
    if not isinstance(first_value, dict):
        return False
    return any(isinstance(v, dict) and isinstance(v.get("releases"), dict)
               for v in list(first_value.values())[:5])
