"""Recognise what a file or folder is and import it with the right importer.

A zip archive is OSV (osv.dev's `all.zip`); a folder is a folder of OSV JSON files (or,
when its JSON files are not OSV, each file on its own: `expand`); a JSON file is an OSV
document (or a list of them), the Debian tracker's JSON or an Alpine secdb file, told
apart by their first key. Anything else is refused with one line saying what was
expected.

Source names (`source` table rows, replaced as a whole on the next import): `osv-<Ecosystem>`
for an archive or folder (the whole set of an ecosystem, as osv.dev publishes it),
`osv-<Ecosystem>-<file stem>` for a single OSV file (so importing one extra advisory does
not drop the rest), `debian-tracker`, `alpine-secdb-<release>-<repo>`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory
from dockwarden.vuln.importers import alpine_secdb, debian_tracker, osv
from dockwarden.vuln.importers.base import (
    MAX_DOCUMENT,
    ImportStats,
    decode_text,
    iter_object,
    parse_json,
    read_capped,
    read_file,
)

KINDS = ("osv-zip", "osv-dir", "osv-json", "debian-tracker", "alpine-secdb")
_EXPECTED = ("expected an OSV zip or JSON, a folder of OSV JSON, the Debian security "
             "tracker's JSON or an Alpine secdb JSON file")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True, slots=True)
class Imported:
    """One source ready to be written: consume `advisories` once (it fills `stats`)."""

    kind: str  # one of KINDS
    source: str  # the source name it is stored under
    origin: str  # the path (or URL, set by the caller) it came from
    advisories: Iterator[Advisory]
    stats: ImportStats


def _osv_name(ecosystem: str | None, what: str, suffix: str = "") -> str:
    if ecosystem is None:
        raise InputError(f"{what}: OSV data, but no advisory names an ecosystem dockwarden "
                         f"imports ({', '.join(osv.ECOSYSTEMS)})")
    return f"osv-{ecosystem}{suffix}"


def _dir_sample(path: Path, limit: int = 50) -> list[Any]:
    docs: list[Any] = []
    for base, dirs, files in os.walk(path):
        dirs.sort()
        for fname in sorted(files):
            if fname.endswith(".json") and len(docs) < limit:
                try:
                    with open(os.path.join(base, fname), "rb") as fh:
                        docs.append(parse_json(read_capped(fh, MAX_DOCUMENT, fname), fname))
                except (InputError, OSError):
                    continue
        if len(docs) >= limit:
            break
    return docs


def expand(path: Path) -> list[Path]:
    """What `db import PATH` imports: the folder itself when it holds OSV JSON, else
    each JSON file in it (e.g. a folder of secdb files); a file is itself."""
    if not path.is_dir():
        return [path]
    sample = _dir_sample(path, limit=5)
    if sample and any(osv.is_osv(d) for d in sample):
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".zip"))
    if not files:
        raise InputError(f"{path}: no JSON or zip files in this folder ({_EXPECTED})")
    return files


def _first_pair(doc: str, what: str) -> tuple[str, Any] | None:
    for pair in iter_object(doc, what):
        return pair
    return None


def import_any(path: Path, source: str | None = None) -> Imported:
    """Recognise `path` and return its advisories as an iterator (nothing is read beyond
    what recognising needs until it is consumed). `source` overrides the name."""
    what = str(path)
    stats = ImportStats()
    if path.is_dir():
        sample = _dir_sample(path)
        if not any(osv.is_osv(d) for d in sample):
            raise InputError(f"{path}: a folder without OSV JSON files (import its files "
                             "one by one)")
        name = source or _osv_name(osv.first_ecosystem(sample), what)
        return Imported("osv-dir", name, what, osv.iter_dir(path, name, stats), stats)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:4] in _ZIP_MAGIC:
        name = source or _osv_name(osv.zip_ecosystem(path), what)
        return Imported("osv-zip", name, what, osv.iter_zip(path, name, stats), stats)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start not in (b"{", b"["):
        raise InputError(f"{path}: not a zip archive or JSON ({_EXPECTED})")
    data = read_file(path)
    if start == b"[":
        value = parse_json(data, what)
        if not osv.is_osv(value):
            raise InputError(f"{path}: a JSON list, but not of OSV documents ({_EXPECTED})")
        name = source or _osv_name(osv.first_ecosystem(value), what, f"-{path.stem}")
        return Imported("osv-json", name, what, osv.iter_value(value, name, stats, what), stats)
    doc = decode_text(data, what)
    del data  # the text alone from here on (the tracker's is some 70 MiB)
    first = _first_pair(doc, what)
    if first is not None and first[0] in ("distroversion", "reponame", "archs", "urlprefix",
                                          "apkurl", "packages"):
        value = parse_json(doc, what)
        if not alpine_secdb.looks_like(value):
            raise InputError(f"{path}: not an Alpine secdb file ({_EXPECTED})")
        name = source or alpine_secdb.source_name(value)
        return Imported("alpine-secdb", name, what,
                        alpine_secdb.iter_secdb(value, what, stats, name), stats)
    if first is not None and debian_tracker.looks_like(*first):
        name = source or debian_tracker.SOURCE
        return Imported("debian-tracker", name, what,
                        debian_tracker.iter_tracker(doc, what, stats, name), stats)
    value = parse_json(doc, what)
    if osv.is_osv(value):
        name = source or _osv_name(osv.first_ecosystem(osv.documents(value)), what,
                                      f"-{path.stem}")
        return Imported("osv-json", name, what, osv.iter_value(value, name, stats, what), stats)
    raise InputError(f"{path}: JSON, but not a vulnerability data format dockwarden knows "
                     f"({_EXPECTED})")


def describe(imported: Imported) -> str:
    """One line for the user: `osv-PyPI (osv-zip): 2661 advisories from ...`."""
    return f"{imported.source} ({imported.kind}): {imported.stats.summary()}"
