"""Alpine secdb JSON (https://secdb.alpinelinux.org/<version>/<repo>.json).

Layout: `{"distroversion": "v3.11", "reponame": "main", "packages": [{"pkg": {"name",
"secfixes": {"1.2.3-r0": ["CVE-...", ...], "0": [...]}}}]}`. Each id becomes an advisory
(source `alpine-secdb-<release>-<repo>`) naming every package that lists it: ecosystem
Alpine, release `3.11`, FIXED at the secfixes version (range: introduced 0, fixed).
Entries under the key "0" are NOT imported: Alpine's maintainers record there the CVEs
that never applied to their package ("not built in Alpine", rejected for Alpine), and
other consumers of secdb (osv.dev's converter, Clair) drop them for that reason; reading
them as "not fixed yet" would report packages that are not vulnerable. They are counted
as skipped ("not affected (secfixes version 0)"). Issue 4 worded key 0 as "not fixed";
this is the deliberate difference.

Entries are free text in practice: `CVE-2017-12122 TALOS-2017-0488` (two ids: the CVE is
the advisory, the other its alias), `CVE-2019-1234 CVE-2019-5678` (two advisories),
`CVE-2018-14468 (FrameRelay)` (a comment, kept as the summary),
`CVE-2017-17434-1` (a suffix), `CVE_2019-2426` (a typo), `XSA-207` (no CVE at all),
`CVE-????-????? XSA-295` (a placeholder). The ids are picked out of the text; an entry
without any is skipped and counted. When a package lists one id under several versions
the highest version (univers' Alpine ordering) is the fix. Hand-written: no library
reads secdb.

Hostile input: a package entry of the wrong shape, an entry over `MAX_ENTRY` characters or
a fixed version over `MAX_VERSION`, or an advisory holding a lone surrogate is skipped and
counted; a document that is not secdb at all is an InputError. The id patterns are linear
in the entry's length (no nested quantifiers), and the comment is found with `find`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Affected, Event, Range, Status, normalise_name
from dockwarden.sanitize import clean
from dockwarden.vuln.importers.base import RECORD_ERRORS, ImportStats, text, vetted

_CVE = re.compile(r"CVE[-_](\d{4})-(\d{4,})")
_OTHER_ID = re.compile(r"\b(?!CVE)[A-Z][A-Z0-9]+-\d+(?:-\d+)?\b")
_PAGE = "https://security.alpinelinux.org/vuln/"
MAX_ENTRY = 4096  # characters of one secfixes entry
MAX_VERSION = 256  # characters of one fixed version


def ids_in(entry: str) -> list[tuple[str, tuple[str, ...]]]:
    """The advisories one secfixes entry names, each with its aliases: one CVE with other
    ids beside it (`CVE-2023-46837 XSA-447`) is one advisory and its alias; several CVEs
    in one entry are several advisories, and so is every id when there is no CVE."""
    cves = list(dict.fromkeys(f"CVE-{y}-{n}" for y, n in _CVE.findall(entry)))
    others = list(dict.fromkeys(_OTHER_ID.findall(entry)))
    if len(cves) == 1:
        return [(cves[0], tuple(others))]
    return [(i, ()) for i in cves + others]


def _comment(entry: str) -> str:
    """The text between the first "(" and the last ")" (what `\\((.+)\\)` finds, in
    linear time)."""
    start, end = entry.find("("), entry.rfind(")")
    return entry[start + 1:end].strip() if start != -1 and end > start + 1 else ""


def _higher(a: str, b: str) -> str:
    """The higher of two Alpine versions (either may fail to parse)."""
    from univers.versions import AlpineLinuxVersion, InvalidVersion

    try:
        return a if AlpineLinuxVersion(a) >= AlpineLinuxVersion(b) else b
    except (InvalidVersion, ValueError, TypeError):
        return max(a, b)


def source_name(doc: dict[str, Any]) -> str:
    release = text(doc.get("distroversion")).removeprefix("v") or "unknown"
    repo = text(doc.get("reponame")) or "main"
    return f"alpine-secdb-{release}-{repo}"


def looks_like(doc: Any) -> bool:
    return isinstance(doc, dict) and "packages" in doc and (
        "distroversion" in doc or "reponame" in doc)


def iter_secdb(doc: Any, what: str, stats: ImportStats,
               source: str | None = None) -> Iterator[Advisory]:
    """Advisories of one decoded secdb document (InputError when it is not one)."""
    if not looks_like(doc) or not isinstance(doc["packages"], list):
        raise InputError(f"{clean(what)}: not an Alpine secdb file (no `distroversion` and "
                         "`packages` list)")
    release = text(doc.get("distroversion")).removeprefix("v")
    source = source or source_name(doc)
    # id -> {package: (fixed version, aliases, comment)}
    found: dict[str, dict[str, tuple[str, tuple[str, ...], str]]] = {}
    for item in doc["packages"]:
        stats.documents += 1
        try:
            _package(item, what, stats, found)
        except RECORD_ERRORS:
            stats.skip("not a secdb package entry", what)
    for adv_id, packages in found.items():
        affected = []
        all_aliases: tuple[str, ...] = ()
        summary = ""
        for name, (fixed, more, comment) in packages.items():
            events = (Event(introduced="0"), Event(fixed=fixed))
            affected.append(Affected(
                ecosystem="Alpine", name=name, release=release,
                status=Status.FIXED,
                ranges=(Range("ECOSYSTEM", events),), fixed=fixed,
                note=""))
            all_aliases = tuple(dict.fromkeys(all_aliases + more))
            summary = summary or comment
        stats.advisories += 1
        adv = vetted(Advisory(id=adv_id, source=source, aliases=all_aliases,
                              summary=summary[:400],
                              references=(_PAGE + adv_id,) if adv_id.startswith("CVE-")
                              else (), affected=tuple(affected)), stats, f"{what}: {adv_id}")
        if adv is not None:
            yield adv


def _package(item: Any, what: str, stats: ImportStats,
             found: dict[str, dict[str, tuple[str, tuple[str, ...], str]]]) -> None:
    """Add the fixes one `packages` entry lists to `found` (id -> package -> fix)."""
    pkg = item.get("pkg") if isinstance(item, dict) else None
    if not isinstance(pkg, dict) or not text(pkg.get("name")):
        stats.skip("not a secdb package entry", what)
        return
    name = normalise_name("Alpine", pkg["name"])
    secfixes = pkg.get("secfixes")
    if not isinstance(secfixes, dict):
        return  # a package with no fixes recorded
    for version, entries in secfixes.items():
        fixed = version.strip()
        listed = entries if isinstance(entries, list) else ()
        if fixed == "0" or not fixed:
            why = "not affected (secfixes version 0)" if fixed else "no fixed version"
            for _ in listed:
                stats.skip(why, f"{what}: {name}")
            continue
        if len(fixed) > MAX_VERSION:
            stats.skip("fixed version too long", f"{what}: {name}")
            continue
        for entry in listed:
            if isinstance(entry, str) and len(entry) > MAX_ENTRY:
                stats.skip("entry too long", f"{what}: {name}")
                continue
            named = ids_in(entry) if isinstance(entry, str) else []
            if not named:
                stats.skip("entry without an advisory id", f"{what}: {name}",
                           f"entry {clean(repr(entry)[:80])} names no advisory id")
                continue
            for adv_id, aliases in named:
                per_package = found.setdefault(adv_id, {})
                before = per_package.get(name)
                best, comment = fixed, _comment(entry)
                if before is not None:
                    best = _higher(before[0], fixed)
                    aliases = tuple(dict.fromkeys(before[1] + aliases))
                    comment = before[2] or comment
                per_package[name] = (best, aliases, comment)
