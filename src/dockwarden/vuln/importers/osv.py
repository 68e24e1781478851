"""OSV documents (https://ossf.github.io/osv-schema/) from an osv.dev `all.zip`, a folder
of JSON files or one file.

Hand-written on the standard library: OSV is plain JSON, and the work here is deciding
what to keep (ranges, explicit versions, the first fixed version, withdrawn, aliases,
severity) and refusing what is not OSV, which no library does for our model.

Ecosystems are kept as OSV spells them with the release apart: `Debian:12` becomes
Debian + `bookworm` (the tracker's code names, `DEBIAN_CODENAMES`), `Ubuntu:22.04:LTS` and
`Ubuntu:Pro:18.04:LTS` become Ubuntu + `22.04` / `18.04` (the latter noted `Ubuntu Pro`),
`Alpine:v3.19` becomes Alpine + `3.19`; language ecosystems have release "". Others
(Packagist, NuGet, Rocky Linux, ...) are skipped and counted.

`DEBIAN-CVE-*`, `UBUNTU-CVE-*` and `ALPINE-CVE-*` records name their CVE in `upstream`
rather than `aliases`; an upstream id that the record's own id ends with is added to the
aliases, so the matcher merges it with the same CVE from other sources. Other upstream
ids (a DSA fixing ten CVEs) are not aliases and are left out.

Hostile input: one document over `base.MAX_DOCUMENT` (4 MiB), of the wrong shape, not
JSON or holding a lone surrogate is skipped and counted, the others imported; a damaged
archive, a decompression bomb (a member declared far larger than it is compressed) or
a file that is not OSV at all is an InputError for the source. Files are opened through
`safeio` (regular files only; a folder's symlinks that leave it are skipped).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import (
    DEBIAN_CODENAMES,
    Advisory,
    Affected,
    Event,
    Range,
    Status,
    normalise_name,
)
from dockwarden.sanitize import clean
from dockwarden.vuln.importers import severity as sev
from dockwarden.vuln.importers.base import (
    MAX_DOCUMENT,
    MAX_MEMBERS,
    MAX_TOTAL,
    RECORD_ERRORS,
    ImportStats,
    open_file,
    parse_json,
    read_capped,
    stream_items,
    text,
    vetted,
)

ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm", "Go", "Maven", "crates.io",
              "RubyGems")
_DISTROS = ("Debian", "Ubuntu", "Alpine")
_RANGE_TYPES = ("ECOSYSTEM", "SEMVER", "GIT")
_BOMB_RATIO = 200  # a member declared this many times larger than stored: a bomb
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_UBUNTU_RELEASE = re.compile(r"\d+\.\d+")
_SUMMARY_MAX = 400


@lru_cache(maxsize=1024)
def split_ecosystem(value: str) -> tuple[str, str, str] | None:
    """(ecosystem, release, note) for an OSV ecosystem string, None when not imported."""
    base, _, rest = value.partition(":")
    if base not in ECOSYSTEMS:
        return None
    if base == "Debian":
        number = rest.split(":", 1)[0]
        return base, DEBIAN_CODENAMES.get(number, number), ""
    if base == "Ubuntu":
        m = _UBUNTU_RELEASE.search(rest)
        note = "Ubuntu Pro" if rest.startswith("Pro:") else ""
        return base, m.group(0) if m else rest, note
    if base == "Alpine":
        return base, rest.removeprefix("v"), ""
    return (base, "", "") if not rest else None


def _events(raw: Any) -> tuple[Event, ...]:
    out = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict):
            continue
        for kind in _EVENT_KINDS:
            value = item.get(kind)
            if isinstance(value, str) and value:
                out.append(Event(**{kind: value}))
                break
    return tuple(out)


def _ranges(raw: Any) -> tuple[Range, ...]:
    out = []
    for item in raw if isinstance(raw, list) else ():
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind in _RANGE_TYPES:
            out.append(Range(kind, _events(item.get("events"))))
    return tuple(out)


def _first_fixed(ranges: tuple[Range, ...]) -> str:
    for r in ranges:
        if r.type == "GIT":
            continue  # a commit, not a version anyone has installed
        for e in r.events:
            if e.fixed:
                return e.fixed
    return ""


def _word_from(*places: Any) -> str:
    """The first known severity word under `severity` in these dicts."""
    for place in places:
        if isinstance(place, dict):
            word = sev.from_word(text(place.get("severity")))
            if word:
                return word
    return ""


def _best_cvss(entries: Iterable[Any]) -> sev.Scored | None:
    scored: dict[str, sev.Scored] = {}
    for entry in entries:
        if isinstance(entry, dict):
            kind, vector = text(entry.get("type")), text(entry.get("score"))
            if kind not in scored and vector:
                got = sev.score_vector(kind, vector)
                if got is not None:
                    scored[kind] = got
    for kind in ("CVSS_V3", "CVSS_V4", "CVSS_V2"):
        if kind in scored:
            return scored[kind]
    return None


def _ubuntu_priority(entries: Any) -> str:
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("type") == "Ubuntu":
            return text(entry.get("score")).lower()
    return ""


def _summary(doc: dict[str, Any]) -> str:
    summary = text(doc.get("summary")).strip()
    if not summary:
        summary = next((line.strip() for line in text(doc.get("details")).splitlines()
                        if line.strip()), "")
    return summary if len(summary) <= _SUMMARY_MAX else summary[:_SUMMARY_MAX - 3] + "..."


def _strings(raw: Any) -> list[str]:
    return [v for v in raw if isinstance(v, str) and v] if isinstance(raw, list) else []


def parse(doc: Any, source: str, stats: ImportStats, where: str = "") -> Advisory | None:
    """One decoded OSV document as an Advisory, or None (skipped and counted): a
    document of the wrong shape or holding text that cannot be stored never raises."""
    stats.documents += 1
    try:
        adv = _parse(doc, source, stats, where)
    except RECORD_ERRORS:
        stats.skip("not an OSV document", where, "an OSV document of the wrong shape")
        return None
    return vetted(adv, stats, where)


def _parse(doc: Any, source: str, stats: ImportStats, where: str) -> Advisory | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not doc["id"]:
        stats.skip("not an OSV document", where, "not an OSV document (no `id`)")
        return None
    raw_affected = doc.get("affected")
    if not isinstance(raw_affected, list):
        raw_affected = []
    top_severity: list[Any] = doc["severity"] if isinstance(doc.get("severity"), list) else []
    affected: list[Affected] = []
    other: set[str] = set()
    per_affected_cvss: list[Any] = []
    word = sev.from_word(text((doc.get("database_specific") or {}).get("severity"))
                         if isinstance(doc.get("database_specific"), dict) else "")
    for item in raw_affected:
        if not isinstance(item, dict) or not isinstance(item.get("package"), dict):
            continue
        pkg = item["package"]
        eco_text, name = text(pkg.get("ecosystem")), text(pkg.get("name"))
        if not eco_text or not name:
            continue
        split = split_ecosystem(eco_text)
        if split is None:
            other.add(eco_text.partition(":")[0])
            continue
        ecosystem, release, note = split
        ranges = _ranges(item.get("ranges"))
        fixed = _first_fixed(ranges)
        eco_specific = item.get("ecosystem_specific")
        own = ""
        if ecosystem in _DISTROS:
            if isinstance(eco_specific, dict):
                own = text(eco_specific.get("urgency")) or text(eco_specific.get("priority"))
            own = own or _ubuntu_priority(item.get("severity")) or (
                _ubuntu_priority(top_severity) if ecosystem == "Ubuntu" else "")
        if isinstance(item.get("severity"), list):
            per_affected_cvss.extend(item["severity"])
        word = word or _word_from(eco_specific, item.get("database_specific"))
        affected.append(Affected(
            ecosystem=ecosystem, name=normalise_name(ecosystem, name), release=release,
            status=Status.FIXED if fixed else Status.AFFECTED, ranges=ranges,
            versions=tuple(_strings(item.get("versions"))), fixed=fixed, severity=own,
            note=note))
    if not affected:
        if other:
            stats.skip(f"ecosystem {', '.join(sorted(other))} not imported")
        else:
            stats.skip("no affected package", where)
        return None
    adv_id = doc["id"]
    aliases = [a for a in _strings(doc.get("aliases")) if a != adv_id]
    aliases += [u for u in _strings(doc.get("upstream"))
                if adv_id.endswith("-" + u) and u not in aliases]
    scored = _best_cvss([*top_severity, *per_affected_cvss])
    if not word and affected and affected[0].severity:
        word = sev.from_word(affected[0].severity)
    refs = [text(r.get("url")) for r in doc["references"]
            if isinstance(r, dict) and text(r.get("url"))] \
        if isinstance(doc.get("references"), list) else []
    stats.advisories += 1
    return Advisory(
        id=adv_id, source=source, aliases=tuple(dict.fromkeys(aliases)),
        summary=_summary(doc),
        severity=scored.severity if scored and scored.severity else word,
        cvss_vector=scored.vector if scored else "",
        cvss_score=scored.score if scored else None,
        published=text(doc.get("published")), modified=text(doc.get("modified")),
        references=tuple(dict.fromkeys(refs)), withdrawn=text(doc.get("withdrawn")),
        affected=tuple(affected))


def parse_bytes(data: bytes, source: str, stats: ImportStats, where: str) -> Advisory | None:
    try:
        doc = parse_json(data, where)
    except InputError as exc:
        stats.documents += 1
        reason = "too many JSON objects" if "objects and arrays" in exc.message else "not JSON"
        stats.skip(reason, where)
        return None
    return parse(doc, source, stats, where)


def documents(value: Any) -> list[Any]:
    """A file holds one OSV document, a list of them, or an API answer {"vulns": [...]}."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "id" not in value and isinstance(value.get("vulns"), list):
        return list(value["vulns"])
    return [value]


def iter_value(value: Any, source: str, stats: ImportStats, what: str) -> Iterator[Advisory]:
    """The advisories of one decoded JSON file (see `documents`)."""
    for i, doc in enumerate(documents(value)):
        adv = parse(doc, source, stats, f"{what}[{i}]")
        if adv is not None:
            yield adv


def iter_stream(path: Path, source: str, stats: ImportStats) -> Iterator[Advisory]:
    """A JSON list of OSV documents, read one document at a time (each at most
    `MAX_DOCUMENT`; a bigger one stops the import with InputError, as the list cannot
    be read on without decoding it)."""
    with open_file(path) as fh:
        for i, doc in stream_items(fh, str(path), max_item=MAX_DOCUMENT):
            adv = parse(doc, source, stats, f"{path}[{i}]")
            if adv is not None:
                yield adv


def iter_dir(path: Path, source: str, stats: ImportStats) -> Iterator[Advisory]:
    """Every `*.json` under a folder, in a stable order; one bad file is skipped (and so
    is what is not a regular file, or a symlink that leaves the folder)."""
    from dockwarden.safeio import open_input, walk_files

    total = 0
    for name, why in walk_files(str(path)):
        if not name.endswith(".json"):
            continue
        stats.documents += 1
        if why is not None:
            stats.skip("not read (not a regular file in the folder)", name, why)
            continue
        try:
            with open_input(name, what="OSV file", max_bytes=None, root=str(path)) as fh:
                data = read_capped(fh, MAX_DOCUMENT, name)
        except InputError as exc:
            reason = f"larger than {MAX_DOCUMENT >> 20} MiB" if "larger than" in exc.message \
                else "unreadable"
            stats.skip(reason, name, exc.message)
            continue
        except OSError as exc:
            stats.skip("unreadable", name, exc.strerror or str(exc))
            continue
        stats.documents -= 1  # parse_bytes counts it
        total += len(data)
        if total > MAX_TOTAL:
            raise InputError(f"{clean(str(path))}: more than {MAX_TOTAL >> 30} GiB of JSON, "
                             "refused")
        adv = parse_bytes(data, source, stats, name)
        if adv is not None:
            yield adv


def _open_zip(path: Path) -> zipfile.ZipFile:
    fh = open_file(path, None)
    try:
        return zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        fh.close()
        raise InputError(f"{clean(str(path))}: not a zip archive (damaged or truncated "
                         "download?)") from None
    except (OSError, ValueError, EOFError, OverflowError) as exc:
        fh.close()
        raise InputError(f"cannot read {clean(str(path))}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    except BaseException:
        fh.close()
        raise


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes | None:
    """The bytes of one member; None for one over `MAX_DOCUMENT` (skipped by the caller);
    InputError for a damaged archive or a bomb."""
    where = f"{clean(str(path))}: member {clean(info.filename)}"
    bomb = InputError(f"{where} decompresses to more than {MAX_DOCUMENT >> 20} MiB from "
                      f"{info.compress_size:,} bytes: refused (a decompression bomb, not an "
                      "OSV archive)")
    if info.file_size > MAX_DOCUMENT:
        if info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
            raise bomb
        return None
    try:
        with zf.open(info) as fh:
            return read_capped(fh, MAX_DOCUMENT, where)
    except InputError:
        raise bomb from None  # more than the header declared: a lie
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: damaged archive ({clean(str(exc))})") from None


def _json_members(zf: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise InputError(f"{clean(str(path))}: {len(infos)} members, more than "
                         f"{MAX_MEMBERS}: refused")
    return [i for i in infos if not i.is_dir() and i.filename.endswith(".json")]


def iter_zip(path: Path, source: str, stats: ImportStats) -> Iterator[Advisory]:
    """Every `*.json` member of an osv.dev `all.zip`. A damaged archive or a bomb stops
    the import with InputError; a member over `MAX_DOCUMENT` or that is not an OSV
    document is skipped and counted."""
    with _open_zip(path) as zf:
        total = 0
        for info in _json_members(zf, path):
            where = f"{path.name}:{info.filename}"
            data = _member(zf, info, path)
            if data is None:
                stats.documents += 1
                stats.skip(f"larger than {MAX_DOCUMENT >> 20} MiB", where,
                           f"{info.file_size:,} bytes, more than {MAX_DOCUMENT >> 20} MiB")
                continue
            total += len(data)
            if total > MAX_TOTAL:
                raise InputError(f"{clean(str(path))}: decompresses to more than "
                                 f"{MAX_TOTAL >> 30} GiB: refused (a decompression bomb?)")
            adv = parse_bytes(data, source, stats, where)
            if adv is not None:
                yield adv


def first_ecosystem(docs: Iterable[Any]) -> str | None:
    """The first imported ecosystem named by these documents (for a source name)."""
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("affected"), list):
            continue
        for item in doc["affected"]:
            pkg = item.get("package") if isinstance(item, dict) else None
            if isinstance(pkg, dict) and isinstance(pkg.get("ecosystem"), str):
                split = split_ecosystem(text(pkg.get("ecosystem")))
                if split is not None:
                    return split[0]
    return None


def zip_ecosystem(path: Path, sample: int = 50) -> str | None:
    """The ecosystem of an OSV zip, from its first `sample` readable documents."""
    with _open_zip(path) as zf:
        docs = []
        for info in _json_members(zf, path)[:sample]:
            data = _member(zf, info, path)  # a damaged member or a bomb stops here
            if data is None:
                continue
            try:
                docs.append(parse_json(data, info.filename))
            except InputError:
                continue
        return first_ecosystem(docs)


def is_osv(value: Any) -> bool:
    """Does this decoded JSON look like OSV (one document, a list, or an API answer)?"""
    docs = documents(value)[:20]  # one odd record among them does not decide
    return any(isinstance(d, dict) and isinstance(d.get("id"), str)
               and ("affected" in d or "modified" in d) for d in docs)
