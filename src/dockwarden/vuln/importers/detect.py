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

Every file is opened through `safeio` (regular files only: a FIFO, a device or a folder
given as a file is an InputError, exit 2, never a hang), folders are walked with
`safeio.walk_files` (symlinks that leave the folder skipped), and nothing is decoded
whole beyond `base.MAX_JSON_DOC`: the tracker's JSON and OSV lists are streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory
from dockwarden.safeio import open_input, walk_files
from dockwarden.sanitize import clean
from dockwarden.vuln.importers import alpine_secdb, debian_tracker, osv
from dockwarden.vuln.importers.base import (
    MAX_DOCUMENT,
    MAX_JSON_DOC,
    ImportStats,
    open_file,
    parse_json,
    read_capped,
    read_file,
    stream_items,
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
        raise InputError(f"{clean(what)}: OSV data, but no advisory names an ecosystem "
                         f"dockwarden imports ({', '.join(osv.ECOSYSTEMS)})")
    return f"osv-{ecosystem}{suffix}"


def _dir_sample(path: Path, limit: int = 50) -> list[Any]:
    docs: list[Any] = []
    for name, why in walk_files(str(path)):
        if len(docs) >= limit:
            break
        if why is None and name.endswith(".json"):
            try:
                with open_input(name, what="OSV file", max_bytes=None, root=str(path)) as fh:
                    docs.append(parse_json(read_capped(fh, MAX_DOCUMENT, name), name))
            except (InputError, OSError):
                continue
    return docs


def expand(path: Path) -> list[Path]:
    """What `db import PATH` imports: the folder itself when it holds OSV JSON, else
    each JSON file in it (e.g. a folder of secdb files); a file is itself."""
    if not path.is_dir():
        return [path]
    sample = _dir_sample(path, limit=5)
    if sample and any(osv.is_osv(d) for d in sample):
        return [path]
    files = sorted(Path(name) for name, why in walk_files(str(path))
                   if why is None and Path(name).parent == path
                   and Path(name).suffix in (".json", ".zip"))
    if not files:
        raise InputError(f"{clean(str(path))}: no JSON or zip files in this folder "
                         f"({_EXPECTED})")
    return files


def _first(path: Path) -> tuple[str, tuple[str | int, Any] | None]:
    """The opening character of a JSON file ("{" or "[") and its first member (None
    when it has none), read as a stream; InputError when it is not JSON."""
    with open_file(path) as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1].decode("latin-1")
        fh.seek(0)
        for pair in stream_items(fh, str(path)):
            return head, pair
    return head, None


def _whole(path: Path, what: str) -> Any:
    """A JSON file small enough to decode whole (`MAX_JSON_DOC`)."""
    try:
        data = read_file(path, MAX_JSON_DOC)
    except InputError:
        raise InputError(f"{clean(what)}: larger than {MAX_JSON_DOC >> 20} MiB, and neither "
                         "the Debian tracker's JSON nor a JSON list of OSV documents (the "
                         "formats read as a stream): refused") from None
    return parse_json(data, what)


def import_any(path: Path, source: str | None = None) -> Imported:
    """Recognise `path` and return its advisories as an iterator (nothing is read beyond
    what recognising needs until it is consumed). `source` overrides the name."""
    what = str(path)
    shown = clean(what)
    stats = ImportStats()
    if path.is_dir():
        sample = _dir_sample(path)
        if not any(osv.is_osv(d) for d in sample):
            raise InputError(f"{shown}: a folder without OSV JSON files (import its files "
                             "one by one)")
        name = source or _osv_name(osv.first_ecosystem(sample), what)
        return Imported("osv-dir", name, what, osv.iter_dir(path, name, stats), stats)
    if not path.exists():
        raise InputError(f"{shown}: no such file or directory")
    with open_file(path) as fh:  # a FIFO or a device stops here
        try:
            head = fh.read(8)
        except OSError as exc:
            raise InputError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if head[:4] in _ZIP_MAGIC:
        name = source or _osv_name(osv.zip_ecosystem(path), what)
        return Imported("osv-zip", name, what, osv.iter_zip(path, name, stats), stats)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start not in (b"{", b"["):
        raise InputError(f"{shown}: not a zip archive or JSON ({_EXPECTED})")
    if start == b"[":
        sample = []
        with open_file(path) as fh:
            for _, doc in stream_items(fh, what, max_item=MAX_DOCUMENT):
                sample.append(doc)
                if len(sample) >= 20:
                    break
        if not osv.is_osv(sample):
            raise InputError(f"{shown}: a JSON list, but not of OSV documents ({_EXPECTED})")
        name = source or _osv_name(osv.first_ecosystem(sample), what, f"-{path.stem}")
        return Imported("osv-json", name, what, osv.iter_stream(path, name, stats), stats)
    _, first = _first(path)
    if first is not None and first[0] in ("distroversion", "reponame", "archs", "urlprefix",
                                          "apkurl", "packages"):
        value = _whole(path, what)
        if not alpine_secdb.looks_like(value):
            raise InputError(f"{shown}: not an Alpine secdb file ({_EXPECTED})")
        name = source or alpine_secdb.source_name(value)
        return Imported("alpine-secdb", name, what,
                        alpine_secdb.iter_secdb(value, what, stats, name), stats)
    if first is not None and isinstance(first[0], str) \
            and debian_tracker.looks_like(first[0], first[1]):
        name = source or debian_tracker.SOURCE
        return Imported("debian-tracker", name, what, _tracker(path, stats, name), stats)
    value = _whole(path, what)
    if osv.is_osv(value):
        name = source or _osv_name(osv.first_ecosystem(osv.documents(value)), what,
                                   f"-{path.stem}")
        return Imported("osv-json", name, what, osv.iter_value(value, name, stats, what), stats)
    raise InputError(f"{shown}: JSON, but not a vulnerability data format dockwarden knows "
                     f"({_EXPECTED})")


def _tracker(path: Path, stats: ImportStats, name: str) -> Iterator[Advisory]:
    with open_file(path) as fh:
        yield from debian_tracker.iter_tracker(fh, str(path), stats, name)


def describe(imported: Imported) -> str:
    """One line for the user: `osv-PyPI (osv-zip): 2661 advisories from ...`."""
    return f"{imported.source} ({imported.kind}): {imported.stats.summary()}"
