"""RPM packages from the SQLite rpmdb (`rpmdb.sqlite`: Fedora 33+, RHEL/UBI 9, and
`/usr/lib/sysimage/rpm/` where Fedora 36+ moved it, `/var/lib/rpm` then being a symlink).

The database is opened from the bytes read during the pass with Python's own sqlite3
(`Connection.deserialize`): nothing is written to disk. SQLite cannot open a WAL-mode
database in memory, so the copy's header is switched to the rollback journal first
(bytes 18-19 of the file header, in the private copy only). A `-wal` file beside the
database is not replayed; rpm checkpoints it when it closes the database, so in an image
it is empty or absent.

Each row of `Packages(hnum, blob)` is an RPM header in its on-disk form: a big-endian
index count and data size, that many 16-byte index entries (tag, type, offset, count),
then the data store. The parser here is hand-written because no well-kept pure-Python
library reads RPM headers out of an rpmdb (python's `rpm` bindings need librpm, which
images do not share with the auditing host; `rpmfile` reads package files, not database
blobs). Everything is bounded: index count and data size are checked against the blob
length, each offset against the data store, each string must end inside it; a header
that fails is skipped. SQLite itself is limited by a wall-clock budget (a hostile
database could hide a recursive view behind the name `Packages`, so the name must be a
table and the query runs read-only).

Berkeley DB (`/var/lib/rpm/Packages`, RHEL <= 8, CentOS 7, Amazon Linux 2) and NDB
(`Packages.db`, SUSE) databases are reported as skipped with the reason: no well-kept
Python library reads them.

Versions are `EPOCH:VERSION-RELEASE` when the epoch is set and not 0, else
`VERSION-RELEASE`. The source package is parsed out of SOURCERPM
(`libfoo-2.0-1.el9.src.rpm`); its version carries the binary's epoch, as the file name
has none. `gpg-pubkey` entries (imported signing keys, not software) are left out.
The purl carries the source rpm's file name as its `upstream` qualifier
(`upstream=openssl-3.0.7-27.el9.src.rpm`), as syft writes it; CPEs come from the shipped
table by source name. Licences are the database's LICENSE tag.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import (
    Origins,
    Unreadable,
    cpes_for,
    make_purl,
    plausible,
    skipped_entries,
    sort_packages,
)
from dockwarden.collect.image.pkg.osrelease import (
    OS_FILES,
    choose_os_release,
    distro_qualifier,
    parse_os_file,
)
from dockwarden.model.image import Package

VAR_DIR = "/var/lib/rpm/"
SYSIMAGE_DIR = "/usr/lib/sysimage/rpm/"
SQLITE_DBS = (VAR_DIR + "rpmdb.sqlite", SYSIMAGE_DIR + "rpmdb.sqlite")
BDB_DBS = (VAR_DIR + "Packages", SYSIMAGE_DIR + "Packages")
NDB_DBS = (VAR_DIR + "Packages.db", SYSIMAGE_DIR + "Packages.db")

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
_STRING_TAGS = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_LICENSE, TAG_ARCH,
                          TAG_SOURCERPM})
_TYPE_INT32, _TYPE_STRING, _TYPE_STRING_ARRAY, _TYPE_I18NSTRING = 4, 6, 8, 9
_STRING_TYPES = frozenset({_TYPE_STRING, _TYPE_STRING_ARRAY, _TYPE_I18NSTRING})

MAX_INDEX_ENTRIES = 0xFFFF  # rpm's own limit (hdrchkTags)
MAX_ROWS = 500_000
SQLITE_BUDGET_SECONDS = 20.0
PROGRESS_STEPS = 10_000  # SQLite VM instructions between two looks at the clock
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ENTRY = struct.Struct(">IIiI")


class RpmRecord(NamedTuple):
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    source_rpm: str
    license: str

    @property
    def evr(self) -> str:
        version = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{version}" if self.epoch else version


def parse_header(blob: bytes) -> RpmRecord | None:
    """One rpmdb header blob -> RpmRecord; None when malformed or not a package."""
    if len(blob) < 8:
        return None
    count, size = struct.unpack_from(">II", blob, 0)
    if count == 0 or count > MAX_INDEX_ENTRIES:
        return None
    store = 8 + 16 * count
    end = store + size
    if end > len(blob):
        return None
    strings: dict[int, str] = {}
    epoch: int | None = None
    for tag, kind, offset, _n in _ENTRY.iter_unpack(blob[8:store]):
        if offset < 0 or offset >= size:
            continue
        start = store + offset
        if tag in _STRING_TAGS and kind in _STRING_TYPES and tag not in strings:
            nul = blob.find(b"\x00", start, end)
            if nul >= 0:
                strings[tag] = blob[start:nul].decode("utf-8", errors="replace")
        elif tag == TAG_EPOCH and kind == _TYPE_INT32 and epoch is None and start + 4 <= end:
            epoch = struct.unpack_from(">I", blob, start)[0]
    name, version = strings.get(TAG_NAME, ""), strings.get(TAG_VERSION, "")
    release = strings.get(TAG_RELEASE, "")
    if not plausible(name, version) or (release and not plausible(release)):
        return None
    if name == "gpg-pubkey":
        return None
    arch = strings.get(TAG_ARCH, "")
    return RpmRecord(
        name=name,
        epoch=epoch,
        version=version,
        release=release,
        arch=arch if plausible(arch) else "",
        source_rpm=strings.get(TAG_SOURCERPM, "")[:1024],
        license=strings.get(TAG_LICENSE, "")[:1024],
    )


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """"libfoo-2.0-1.el9.src.rpm" -> ("libfoo", "2.0-1.el9"); ("", "") if not that shape."""
    base = source_rpm.removesuffix(".rpm")
    if base == source_rpm:
        return "", ""
    base, _, _arch = base.rpartition(".")  # .src or .nosrc
    parts = base.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def read_rpmdb(data: bytes) -> tuple[RpmRecord, ...] | Unreadable:
    """Every package header of an rpmdb.sqlite, read in memory."""
    if len(data) < 100 or not data.startswith(_SQLITE_MAGIC):
        return Unreadable("not a SQLite database")
    image = bytearray(data)
    if image[18] == 2 or image[19] == 2:  # WAL mode cannot be deserialized
        image[18] = image[19] = 1
    import sqlite3  # loaded when an image holds an rpmdb, not by every audit

    deadline = time.monotonic() + SQLITE_BUDGET_SECONDS
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(image)
        del image
        con.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA trusted_schema = OFF")
        kind = con.execute(
            "SELECT type FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE"
        ).fetchone()
        if kind is None or kind[0] != "table":
            return Unreadable("no Packages table: not an rpm SQLite database")
        records: list[RpmRecord] = []
        for rows, (blob,) in enumerate(con.execute("SELECT blob FROM Packages")):
            if rows >= MAX_ROWS:
                return Unreadable(f"more than {MAX_ROWS} rows in Packages")
            if isinstance(blob, bytes):
                record = parse_header(blob)
                if record is not None:
                    records.append(record)
        return tuple(records)
    except sqlite3.Error as exc:
        return Unreadable(f"SQLite could not read it: {exc}")
    except (MemoryError, OverflowError, ValueError) as exc:
        return Unreadable(f"could not load it: {exc}")
    finally:
        con.close()


def _chosen_sqlite(results: Mapping[str, FileResult], view: FinalView) -> FileResult | None:
    """The database rpm would open: /var/lib/rpm/rpmdb.sqlite (through a symlinked
    /var/lib/rpm if so), else the one in /usr/lib/sysimage/rpm."""
    for path in SQLITE_DBS:
        found = results.get(path)
        if found is None:
            target = view.resolve(path)
            found = results.get(target.path) if target is not None else None
        if found is not None:
            return found
    return None


def _legacy_skips(view: FinalView) -> tuple[tuple[str, str], ...]:
    skips: list[tuple[str, str]] = []
    for paths, what in ((BDB_DBS, "Berkeley DB"), (NDB_DBS, "NDB")):
        for path in paths:
            if view.resolve(path) is not None:
                skips.append(
                    ("rpm", f"{what} rpmdb is not read: {path} (no well-kept Python library "
                            "reads it; its packages are not listed)")
                )
                break
    return tuple(skips)


class RpmAnalyzer:
    name: str = "rpm"
    selector = Selector(frozenset((*SQLITE_DBS, *OS_FILES)))
    max_bytes: int = 128 * 1024 * 1024

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in SQLITE_DBS or path in OS_FILES

    def analyze(self, path: str, data: bytes) -> object | None:
        if path in OS_FILES:
            return parse_os_file(path, data)
        return read_rpmdb(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        found = _chosen_sqlite(results, view)
        if found is None:
            return AnalysisOutput(skipped=_legacy_skips(view))
        if not isinstance(found.value, tuple):
            return AnalysisOutput(skipped=skipped_entries("rpm", [(found.path, found.value)]))
        os_release = choose_os_release(results, view)
        namespace = os_release.id if os_release is not None else ""
        distro = distro_qualifier(os_release)
        packages = []
        origins = Origins(found, _keys)
        for rec in found.value:
            if not isinstance(rec, RpmRecord):
                continue
            source_name, source_version = split_source_rpm(rec.source_rpm)
            if source_version and rec.epoch:
                source_version = f"{rec.epoch}:{source_version}"
            packages.append(
                Package(
                    type="rpm",
                    name=rec.name,
                    version=rec.evr,
                    layer=origins.layer((rec.name, rec.evr, rec.arch)),
                    path=found.path,
                    source_name=source_name,
                    source_version=source_version,
                    arch=rec.arch,
                    licenses=(rec.license,) if rec.license else (),
                    purl=make_purl(
                        "rpm", rec.name,
                        f"{rec.version}-{rec.release}" if rec.release else rec.version,
                        namespace,
                        {"arch": rec.arch, "epoch": str(rec.epoch) if rec.epoch else "",
                         "distro": distro,
                         "upstream": rec.source_rpm if plausible(rec.source_rpm) else ""},
                    ),
                    cpes=cpes_for(source_name or rec.name, rec.version),
                )
            )
        return AnalysisOutput(packages=sort_packages(packages))


def _keys(value: object) -> set[object]:
    if not isinstance(value, tuple):
        return set()
    return {(r.name, r.evr, r.arch) for r in value if isinstance(r, RpmRecord)}
