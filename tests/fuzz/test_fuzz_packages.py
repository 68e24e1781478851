"""Fuzzing the parsers of package databases found inside images (dpkg status, apk
installed, rpmdb.sqlite and its header blobs, Python METADATA, npm package.json, Go build
info, os-release): every analyzer's `analyze` and `finish`, on random bytes and on
mutations of real files, ends in a result (or a skipped entry) or a DockwardenError."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dockwarden.collect.image.analyzer import Analyzer
from dockwarden.collect.image.pkg import (
    ApkAnalyzer,
    DpkgAnalyzer,
    GoBinaryAnalyzer,
    NpmAnalyzer,
    OSReleaseAnalyzer,
    PythonAnalyzer,
    RpmAnalyzer,
)
from dockwarden.collect.image.pkg.golang import parse_modinfo
from dockwarden.collect.image.pkg.rpm import parse_header
from dockwarden.errors import DockwardenError
from test_image_packages import (
    DATA,
    DEBIAN_OS_RELEASE,
    Exe,
    go_binary_inline,
    go_binary_pointers,
    scan,
)

METADATA = (b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nLicense: Apache-2.0\n"
            b"Classifier: License :: OSI Approved :: Apache Software License\n\nbody\n")
PACKAGE_JSON = json.dumps({"name": "@scope/left-pad", "version": "1.3.0",
                           "license": {"type": "MIT"}, "licenses": ["ISC"]}).encode()
MODINFO = ("path\texample.com/app\nmod\texample.com/app\tv1.4.0\th1:x=\n"
           "dep\tgithub.com/pkg/errors\tv0.9.1\th1:y=\n=>\tgithub.com/fork/e\tv0.2.0\th1:z=\n")

# (analyzer factory, path of the file it reads, real samples of that file)
TARGETS: dict[str, tuple[Callable[[], Analyzer], str, list[bytes]]] = {
    "dpkg": (DpkgAnalyzer, "/var/lib/dpkg/status", [(DATA / "status").read_bytes()]),
    "dpkg-status.d": (DpkgAnalyzer, "/var/lib/dpkg/status.d/libssl3",
                      [(DATA / "status.d" / "libssl3").read_bytes()]),
    "apk": (ApkAnalyzer, "/lib/apk/db/installed", [(DATA / "installed").read_bytes()]),
    "pypi": (PythonAnalyzer, "/usr/lib/python3/site-packages/requests-2.31.0.dist-info/"
             "METADATA", [METADATA]),
    "npm": (NpmAnalyzer, "/app/node_modules/@scope/left-pad/package.json", [PACKAGE_JSON]),
    "os-release": (OSReleaseAnalyzer, "/etc/os-release", [DEBIAN_OS_RELEASE]),
    "alpine-release": (OSReleaseAnalyzer, "/etc/alpine-release", [b"3.19.1\n"]),
}


def _ends_well(analyzer: Analyzer, path: str, data: bytes) -> None:
    """The analyzer reads `data` at `path` (beside a Debian os-release, which the OS
    package analyzers look at), then finishes: a result or a DockwardenError."""
    layer: dict[str, Any] = {"/usr/lib/os-release": DEBIAN_OS_RELEASE}
    layer[path] = Exe(data) if isinstance(analyzer, GoBinaryAnalyzer) else data
    with contextlib.suppress(DockwardenError):
        scan(analyzer, layer)


@st.composite
def mutation(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real file with a few splices: bytes replaced, inserted or cut, lines repeated,
    or the file cut short."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["replace", "insert", "cut", "repeat"]))
        chunk = draw(st.one_of(
            st.binary(min_size=1, max_size=16),
            st.sampled_from([b"\n", b"\n\n", b":", b"=", b"\"", b"\\", b"\xff\xfe", b"\x00",
                             b"\r\n", b" ", b"\t", b"{", b"[", b"\n " * 50, b"\xed\xa0\x80"]),
        ))
        if how == "replace":
            data[at:at + len(chunk)] = chunk
        elif how == "insert":
            data[at:at] = chunk
        elif how == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        else:
            end = data.find(b"\n", at)
            line = bytes(data[at:end + 1 if end >= 0 else len(data)])
            data[at:at] = line * draw(st.integers(1, 20))
    return bytes(data)


@given(st.sampled_from(sorted(TARGETS)), st.binary(max_size=2048))
@example("npm", b'{"name": {"a": 1}, "version": [1]}')
@example("npm", b'{"name": "x", "version": "1", "license": 5, "licenses": [{"type": 5}]}')
@example("npm", b"[" * 100_000)
@example("pypi", b"Name: \xed\xb2\x80\nVersion: \xff\n")
@example("dpkg", b"Package: a\nStatus: install ok installed\nVersion: 1\n" * 1000)
def test_random_bytes(target: str, data: bytes) -> None:
    factory, path, _ = TARGETS[target]
    _ends_well(factory(), path, data)


@given(st.data())
def test_mutated_files(data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(sorted(TARGETS)))
    factory, path, seeds = TARGETS[target]
    _ends_well(factory(), path, data.draw(mutation(seeds)))


def _rpmdb(blobs: list[Any]) -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    con.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    con.commit()
    out = con.serialize()
    con.close()
    return bytes(out)


RPMDB = gzip.decompress((DATA / "rpm" / "rpmdb.sqlite.gz").read_bytes())


def _real_headers() -> list[bytes]:
    image = bytearray(RPMDB)
    image[18] = image[19] = 1  # WAL mode, as the rpm analyzer does, cannot be deserialized
    con = sqlite3.connect(":memory:")
    con.deserialize(image)
    rows = [bytes(b) for (b,) in con.execute("SELECT blob FROM Packages LIMIT 8")]
    con.close()
    return rows


HEADERS = _real_headers()


@given(st.lists(st.one_of(st.binary(max_size=256), mutation(HEADERS),
                          st.integers(-2**63, 2**63 - 1), st.text(max_size=8)), max_size=4))
def test_rpmdb_of_hostile_headers(blobs: list[Any]) -> None:
    for blob in blobs:
        if isinstance(blob, bytes):
            parse_header(blob)  # None or a record, nothing else
    _ends_well(RpmAnalyzer(), "/var/lib/rpm/rpmdb.sqlite", _rpmdb(blobs))


@settings(max_examples=max(20, settings.default.max_examples // 3))  # 20 MB of SQLite each
@given(mutation([RPMDB[:4096]]), st.integers(0, 3))
def test_rpmdb_file_mutated(head: bytes, which: int) -> None:
    """The first page of a real rpmdb (its SQLite header and schema) mutated, the rest
    as it was; or the whole file cut short."""
    data = head + RPMDB[4096:] if which else head
    _ends_well(RpmAnalyzer(), "/usr/lib/sysimage/rpm/rpmdb.sqlite", data)


GO_SEEDS = [go_binary_inline("go1.21.3", MODINFO),
            go_binary_inline("go1.22.0", MODINFO, section=True),
            go_binary_pointers("go1.16.15", MODINFO, bits=64, big=False),
            go_binary_pointers("go1.16.15", MODINFO, bits=32, big=True)]


@given(st.one_of(mutation(GO_SEEDS), st.binary(max_size=1024).map(
    lambda b: b"\x7fELF\x02\x01\x01" + b + b"\xff Go buildinf:" + b)))
def test_go_buildinfo(data: bytes) -> None:
    _ends_well(GoBinaryAnalyzer(), "/usr/local/bin/app", data.ljust(64 << 10, b"\0"))


@given(st.text(max_size=400))
def test_go_modinfo_text(text: str) -> None:
    parse_modinfo(text)
