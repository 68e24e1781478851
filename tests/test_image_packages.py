"""Package inventory analyzers, driven as the layer walker drives them: `wants` on every
regular file, `analyze` on the bytes (cut at `max_bytes`), then `finish` on the visible
files' results with a small dict-based final view.

Ground truth comes from the real tools where the machine has them: dpkg-query over this
machine's dpkg database, importlib.metadata over this interpreter's site-packages, `rpm`
(Debian's package) for the rpmdb fixture, and `go version -m` for Go binaries."""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import platform
import shutil
import site
import sqlite3
import stat
import struct
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwarden.collect.image.analyzer import AnalysisOutput, Analyzer, FileResult
from dockwarden.collect.image.pkg import (
    ApkAnalyzer,
    DpkgAnalyzer,
    GoBinaryAnalyzer,
    NpmAnalyzer,
    OSReleaseAnalyzer,
    PythonAnalyzer,
    RpmAnalyzer,
    apk,
    dpkg,
    golang,
    npm,
    osrelease,
    package_analyzers,
    pypi,
    rpm,
)
from dockwarden.collect.image.pkg._common import (
    Unreadable,
    cpes_for,
    make_purl,
    plausible,
    upstream_qualifier,
    upstream_version,
)
from dockwarden.model.image import ImageFile, OSRelease, Package

DATA = Path(__file__).parent / "data" / "image" / "pkg"
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

DEBIAN_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
ALPINE_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
"""
FEDORA_OS_RELEASE = b"""NAME="Fedora Linux"
VERSION="39 (Container Image)"
ID=fedora
VERSION_ID=39
PRETTY_NAME="Fedora Linux 39 (Container Image)"
"""


# --- a tiny walker and final view -------------------------------------------------


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Exe:
    data: bytes


@dataclass(frozen=True)
class Gone:
    """A whiteout: the path is deleted in this layer."""


Entry = bytes | Link | Exe | Gone
DEBIAN_LINKED: dict[str, Entry] = {  # Debian's layout: /etc/os-release is a symlink
    "/usr/lib/os-release": DEBIAN_OS_RELEASE,
    "/etc/os-release": Link("../usr/lib/os-release"),
}


class FakeView:
    """The final filesystem as a dict; directories exist implicitly."""

    def __init__(self, files: Mapping[str, ImageFile]) -> None:
        self.files = dict(files)

    def get(self, path: str) -> ImageFile | None:
        return self.files.get(path)

    def resolve(self, path: str) -> ImageFile | None:
        pending = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            entry = self.files.get("/" + "/".join([*done, part]))
            if entry is not None and entry.kind == "symlink":
                hops += 1
                if hops > 40:
                    return None
                if entry.linkname.startswith("/"):
                    done = []
                pending = [p for p in entry.linkname.split("/") if p] + pending
                continue
            done.append(part)
        return self.files.get("/" + "/".join(done))

    def layer_of(self, path: str) -> int | None:
        entry = self.files.get(path)
        return entry.layer if entry is not None else None


def scan(analyzer: Analyzer, *layers: Mapping[str, Entry]) -> AnalysisOutput:
    """Walk the layers in order as the walker would (upper layers replace lower files)
    and finish with the visible files' results."""
    files: dict[str, ImageFile] = {}
    results: dict[str, FileResult] = {}
    for index, layer in enumerate(layers):
        for path, entry in layer.items():
            results.pop(path, None)
            if isinstance(entry, Gone):
                files.pop(path, None)
                continue
            if isinstance(entry, Link):
                files[path] = ImageFile(path, "symlink", 0o777, 0, 0, 0, index, entry.target)
                continue
            data, mode = (entry.data, 0o755) if isinstance(entry, Exe) else (entry, 0o644)
            files[path] = ImageFile(path, "file", mode, 0, 0, len(data), index)
            if analyzer.wants(path, len(data), stat.S_IFREG | mode):
                value = analyzer.analyze(path, data[: analyzer.max_bytes])
                if value is not None:
                    results[path] = FileResult(path, index, value)
    return analyzer.finish(results, FakeView(files))


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- registry -----------------------------------------------------------------------


def test_package_analyzers_are_fresh_and_uniquely_named() -> None:
    first, second = package_analyzers(), package_analyzers()
    names = [a.name for a in first]
    assert names == ["os-release", "dpkg", "apk", "rpm", "python", "npm", "golang", "binary"]
    assert all(a is not b for a, b in zip(first, second, strict=True))
    # the bytes path's read bounds, the largest golang.MAX_READ (the walker streams
    # executables to the Go analyzer: that bound serves only a caller holding bytes)
    assert all(0 < a.max_bytes <= golang.MAX_READ for a in first)


# --- os-release -----------------------------------------------------------------------


def test_os_release_follows_debian_symlink() -> None:
    out = scan(
        OSReleaseAnalyzer(),
        DEBIAN_LINKED,
    )
    assert out.os_release == OSRelease(
        id="debian",
        version_id="12",
        version_codename="bookworm",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
    )


def test_os_release_regular_etc_file_wins_over_usr_lib() -> None:
    out = scan(
        OSReleaseAnalyzer(),
        {"/usr/lib/os-release": DEBIAN_OS_RELEASE, "/etc/os-release": ALPINE_OS_RELEASE},
    )
    assert out.os_release is not None and out.os_release.id == "alpine"


def test_os_release_symlink_to_elsewhere_falls_back_to_usr_lib() -> None:
    out = scan(
        OSReleaseAnalyzer(),
        {"/usr/lib/os-release": DEBIAN_OS_RELEASE, "/etc/os-release": Link("/nowhere")},
    )
    assert out.os_release is not None and out.os_release.id == "debian"


def test_os_release_upper_layer_replaces_lower() -> None:
    out = scan(
        OSReleaseAnalyzer(),
        {"/etc/os-release": DEBIAN_OS_RELEASE},
        {"/etc/os-release": Link("../usr/lib/os-release"),
         "/usr/lib/os-release": FEDORA_OS_RELEASE},
    )
    assert out.os_release is not None and out.os_release.id == "fedora"


def test_alpine_release_is_the_last_resort() -> None:
    out = scan(OSReleaseAnalyzer(), {"/etc/alpine-release": b"3.19.1\n"})
    assert out.os_release == OSRelease("alpine", "3.19.1", pretty_name="Alpine Linux v3.19.1")
    assert scan(OSReleaseAnalyzer(), {"/etc/alpine-release": b"\x00garbage"}).os_release is None


def test_os_release_quoting_comments_and_id_like() -> None:
    parsed = osrelease.parse_os_release(
        b"# comment\nID=ubuntu\nID_LIKE='debian  Fedora'\nVERSION_ID=\"22.04\"\n"
        b"PRETTY_NAME=\"Ubuntu \\\"Jammy\\\" 22.04\"\nBROKEN=\"unterminated\nnot a line\n"
    )
    assert parsed == OSRelease(
        "ubuntu", "22.04", pretty_name='Ubuntu "Jammy" 22.04', id_like=("debian", "fedora")
    )


def test_os_release_without_id_or_version_is_none() -> None:
    assert osrelease.parse_os_release(b"NAME=Thing\n") is None
    assert osrelease.parse_os_release(b"VERSION_ID=1\n") == OSRelease("linux", "1")


def test_os_release_of_this_machine_matches_platform() -> None:
    path = Path("/etc/os-release")
    if not path.exists():
        pytest.skip("no /etc/os-release here")
    truth = platform.freedesktop_os_release()
    parsed = osrelease.parse_os_release(path.read_bytes())
    assert parsed is not None
    assert parsed.id == truth["ID"]
    assert parsed.version_id == truth.get("VERSION_ID", "")
    assert parsed.version_codename == truth.get("VERSION_CODENAME", "")
    assert parsed.pretty_name == truth.get("PRETTY_NAME", "")
    assert parsed.id_like == tuple(truth.get("ID_LIKE", "").split())


@FUZZ
@given(st.binary(max_size=2048))
def test_os_release_never_raises(data: bytes) -> None:
    osrelease.parse_os_release(data)
    osrelease.parse_alpine_release(data)


# --- dpkg -----------------------------------------------------------------------------


def _deb(name: str, version: str, arch: str, src: str, src_version: str) -> Package:
    qualifiers = {"arch": arch, "distro": "debian-12",
                  "upstream": upstream_qualifier(name, version, src, src_version)}
    return Package(
        type="deb", name=name, version=version, layer=1, path="/var/lib/dpkg/status",
        source_name=src, source_version=src_version, arch=arch,
        purl=make_purl("deb", name, version, "debian", qualifiers),
        cpes=cpes_for(src, upstream_version(src_version)),
    )


def test_dpkg_status_fixture() -> None:
    out = scan(
        DpkgAnalyzer(),
        DEBIAN_LINKED,
        {"/var/lib/dpkg/status": fixture("status")},
    )
    # dependency edges are tests/test_sbom_identifiers.py's subject
    assert tuple(replace(p, depends=()) for p in out.packages) == (
        _deb("bsdutils", "1:2.38.1-5+deb12u3", "amd64", "util-linux", "2.38.1-5+deb12u3"),
        _deb("libc6", "2.36-9+deb12u14", "amd64", "glibc", "2.36-9+deb12u14"),
        _deb("libgcc-s1", "12.2.0-14+deb12u1", "amd64", "gcc-12", "12.2.0-14+deb12u1"),
        _deb("tzdata", "2025b-0+deb12u2", "all", "tzdata", "2025b-0+deb12u2"),
    )
    assert out.packages[1].purl == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc"
    )


def test_dpkg_config_files_half_installed_and_continuations_are_not_packages() -> None:
    names = {r.name for r in dpkg.parse_status(fixture("status"))}
    assert names.isdisjoint({"oldconf", "broken", "purged", "no-version", "not-a-package"})


def test_dpkg_distroless_status_d() -> None:
    out = scan(
        DpkgAnalyzer(),
        {"/etc/os-release": DEBIAN_OS_RELEASE,
         "/var/lib/dpkg/status.d/base-files": fixture("status.d/base-files")},
        {"/var/lib/dpkg/status.d/libssl3": fixture("status.d/libssl3"),
         "/var/lib/dpkg/status.d/libssl3.md5sums": fixture("status.d/libssl3.md5sums")},
    )
    assert [(p.name, p.version, p.source_name, p.layer, p.path) for p in out.packages] == [
        ("base-files", "12.4+deb12u11", "base-files", 0, "/var/lib/dpkg/status.d/base-files"),
        ("libssl3", "3.0.15-1~deb12u1", "openssl", 1, "/var/lib/dpkg/status.d/libssl3"),
        ("openssl", "3.0.15-1~deb12u1", "openssl", 1, "/var/lib/dpkg/status.d/libssl3"),
    ]
    assert not DpkgAnalyzer().wants("/var/lib/dpkg/status.d/libssl3.md5sums", 10, 0o644)


def test_dpkg_purl_namespace_from_os_release_and_default() -> None:
    ubuntu = b'ID=ubuntu\nVERSION_ID="22.04"\nID_LIKE=debian\n'
    status = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1\n"
    out = scan(DpkgAnalyzer(), {"/etc/os-release": ubuntu, "/var/lib/dpkg/status": status})
    assert out.packages[0].purl == "pkg:deb/ubuntu/bash@5.1?arch=amd64&distro=ubuntu-22.04"
    out = scan(DpkgAnalyzer(), {"/var/lib/dpkg/status": status})
    assert out.packages[0].purl == "pkg:deb/debian/bash@5.1?arch=amd64"


def test_dpkg_status_deleted_in_upper_layer_lists_nothing() -> None:
    out = scan(
        DpkgAnalyzer(),
        {"/var/lib/dpkg/status": fixture("status")},
        {"/var/lib/dpkg/status": Gone()},
    )
    assert out.packages == ()


def test_dpkg_package_layer_is_the_visible_status_files_layer() -> None:
    status = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1\n"
    out = scan(
        DpkgAnalyzer(),
        {"/var/lib/dpkg/status": fixture("status")},
        {},
        {"/var/lib/dpkg/status": status},
    )
    assert [(p.name, p.layer) for p in out.packages] == [("bash", 2)]


@pytest.mark.skipif(
    shutil.which("dpkg-query") is None or not Path("/var/lib/dpkg/status").is_file(),
    reason="not a dpkg system",
)
def test_dpkg_live_status_equals_dpkg_query() -> None:
    fmt = (
        "${db:Status-Status}\t${Package}\t${Architecture}\t${Version}\t"
        "${source:Package}\t${source:Version}\n"
    )
    shown = subprocess.run(
        ["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True
    ).stdout
    on_disk = {"installed", "unpacked", "half-configured", "triggers-awaiting", "triggers-pending"}
    expected = sorted(
        tuple(line.split("\t")[1:])
        for line in shown.splitlines()
        if line.split("\t")[0] in on_disk
    )
    out = scan(DpkgAnalyzer(), {"/var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()})
    got = sorted(
        (p.name, p.arch, p.version, p.source_name, p.source_version) for p in out.packages
    )
    assert len(got) > 50
    assert got == expected


@FUZZ
@given(st.binary(max_size=4096))
def test_dpkg_never_raises(data: bytes) -> None:
    dpkg.parse_status(data)
    dpkg.parse_status(data, status_required=False)


@FUZZ
@given(st.data())
def test_dpkg_truncated_status_never_raises(data: st.DataObject) -> None:
    blob = fixture("status")
    cut = data.draw(st.integers(0, len(blob)))
    for rec in dpkg.parse_status(blob[:cut]):
        assert rec.name and rec.version


# --- apk ------------------------------------------------------------------------------


def test_apk_installed_fixture() -> None:
    out = scan(
        ApkAnalyzer(),
        {"/etc/os-release": ALPINE_OS_RELEASE},
        {"/lib/apk/db/installed": fixture("installed")},
    )
    got = [(p.name, p.version, p.arch, p.source_name, p.licenses, p.layer) for p in out.packages]
    assert got == [
        ("busybox", "1.36.1-r15", "x86_64", "busybox", ("GPL-2.0-only",), 1),
        ("musl", "1.2.4_git20230717-r4", "x86_64", "musl", ("MIT",), 1),
        ("ssl_client", "1.36.1-r15", "x86_64", "busybox", ("GPL-2.0-only",), 1),
    ]
    assert all(p.type == "apk" and p.path == "/lib/apk/db/installed" for p in out.packages)
    assert out.packages[1].purl == (
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    )


def test_apk_without_database_lists_nothing() -> None:
    assert scan(ApkAnalyzer(), {"/etc/os-release": ALPINE_OS_RELEASE}).packages == ()


@FUZZ
@given(st.binary(max_size=4096))
def test_apk_never_raises(data: bytes) -> None:
    apk.parse_installed(data)


@FUZZ
@given(st.data())
def test_apk_truncated_never_raises(data: st.DataObject) -> None:
    blob = fixture("installed")
    apk.parse_installed(blob[: data.draw(st.integers(0, len(blob)))])


# --- rpm ------------------------------------------------------------------------------


def rpm_fixture() -> bytes:
    return gzip.decompress(fixture("rpm/rpmdb.sqlite.gz"))


def expected_rpm(tsv: str) -> list[tuple[str, ...]]:
    rows = []
    for line in tsv.splitlines():
        name, epoch, version, release, arch, source, license_ = line.split("\t")
        evr = f"{version}-{release}" if epoch == "(none)" else f"{epoch}:{version}-{release}"
        rows.append((name, evr, arch, source, license_))
    return sorted(rows)


def test_rpm_fixture_made_by_rpm_matches_rpm_qa() -> None:
    data = rpm_fixture()
    assert data[18] == 2  # rpm leaves the database in WAL mode
    out = scan(
        RpmAnalyzer(),
        {"/etc/os-release": FEDORA_OS_RELEASE, "/var/lib/rpm/rpmdb.sqlite": data},
    )
    expected = expected_rpm((DATA / "rpm" / "expected.tsv").read_text())
    got = sorted(
        (p.name, p.version, p.arch, f"{p.source_name}-{p.source_version.split(':')[-1]}.src.rpm",
         p.licenses[0])
        for p in out.packages
    )
    assert got == expected
    libfoo = next(p for p in out.packages if p.name == "libfoo-devel")
    assert libfoo == Package(
        type="rpm", name="libfoo-devel", version="2:2.0-1.el9", layer=0,
        path="/var/lib/rpm/rpmdb.sqlite", source_name="libfoo", source_version="2:2.0-1.el9",
        arch="noarch", licenses=("MIT AND BSD-3-Clause",),
        purl="pkg:rpm/fedora/libfoo-devel@2.0-1.el9?arch=noarch&distro=fedora-39&epoch=2"
             "&upstream=libfoo-2.0-1.el9.src.rpm",
    )
    assert out.skipped == ()


def test_rpm_sysimage_behind_symlinked_var_lib_rpm() -> None:
    out = scan(
        RpmAnalyzer(),
        {"/var/lib/rpm": Link("../../usr/lib/sysimage/rpm"),
         "/usr/lib/sysimage/rpm/rpmdb.sqlite": rpm_fixture()},
    )
    assert {p.path for p in out.packages} == {"/usr/lib/sysimage/rpm/rpmdb.sqlite"}
    assert len(out.packages) == 3
    assert out.packages[0].purl.startswith("pkg:rpm/hello@1.2.3-4.fc39?")  # no os-release


@pytest.mark.skipif(
    shutil.which("rpmbuild") is None or shutil.which("rpm") is None, reason="needs Debian's rpm"
)
def test_rpm_freshly_built_database_matches_rpm_qa(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(DATA / "rpm" / "make-rpmdb.sh"), str(tmp_path)], check=True, timeout=300
    )
    data = (tmp_path / "rpmdb.sqlite").read_bytes()
    out = scan(RpmAnalyzer(), {"/var/lib/rpm/rpmdb.sqlite": data})
    expected = expected_rpm((tmp_path / "expected.tsv").read_text())
    assert sorted((p.name, p.version, p.arch) for p in out.packages) == [e[:3] for e in expected]


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/var/lib/rpm/Packages", "Berkeley DB"),
        ("/usr/lib/sysimage/rpm/Packages.db", "NDB"),
    ],
)
def test_rpm_legacy_databases_are_skipped_with_a_reason(path: str, what: str) -> None:
    out = scan(RpmAnalyzer(), {path: b"\x00" * 64})
    assert out.packages == ()
    assert len(out.skipped) == 1
    assert out.skipped[0][0] == "rpm" and out.skipped[0][1].startswith(f"{what} rpmdb is not read")


def test_rpm_unreadable_database_is_skipped() -> None:
    out = scan(RpmAnalyzer(), {"/var/lib/rpm/rpmdb.sqlite": b"not sqlite at all"})
    assert out.skipped == (("rpm", "/var/lib/rpm/rpmdb.sqlite: not a SQLite database"),)


def _sqlite_bytes(*statements: str) -> bytes:
    con = sqlite3.connect(":memory:")
    for statement in statements:
        con.execute(statement)
    data = con.serialize()
    con.close()
    return data


def test_rpm_packages_view_is_refused() -> None:
    data = _sqlite_bytes(
        "CREATE VIEW Packages AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n)"
        " SELECT x AS hnum, zeroblob(10) AS blob FROM n"
    )
    result = rpm.read_rpmdb(data)
    assert isinstance(result, Unreadable) and "no Packages table" in result.reason


def test_rpm_sqlite_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpm, "SQLITE_BUDGET_SECONDS", -1.0)
    monkeypatch.setattr(rpm, "PROGRESS_STEPS", 1)
    result = rpm.read_rpmdb(rpm_fixture())
    assert isinstance(result, Unreadable) and "interrupted" in result.reason


def rpm_header(entries: list[tuple[int, int, bytes]]) -> bytes:
    index, store = b"", b""
    for tag, kind, payload in entries:
        if kind == 4:
            store += b"\x00" * (-len(store) % 4)
        index += struct.pack(">IIiI", tag, kind, len(store), 1)
        store += payload
    return struct.pack(">II", len(entries), len(store)) + index + store


def test_rpm_hand_built_headers() -> None:
    good = rpm_header([
        (1000, 6, b"bash\x00"), (1001, 6, b"5.2.15\x00"), (1002, 6, b"2.el9\x00"),
        (1003, 4, struct.pack(">I", 0)), (1022, 6, b"x86_64\x00"),
        (1044, 6, b"bash-5.2.15-2.el9.src.rpm\x00"), (1014, 6, b"GPLv3+\x00"),
    ])
    rec = rpm.parse_header(good)
    assert rec is not None and rec.evr == "5.2.15-2.el9"  # epoch 0 is not shown
    assert rpm.split_source_rpm(rec.source_rpm) == ("bash", "5.2.15-2.el9")
    key = rpm_header([(1000, 6, b"gpg-pubkey\x00"), (1001, 6, b"fd431d51\x00")])
    assert rpm.parse_header(key) is None
    unterminated = rpm_header([(1000, 6, b"bash"), (1001, 6, b"1")])
    assert rpm.parse_header(unterminated) is None
    assert rpm.parse_header(struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF)) is None
    assert rpm.parse_header(good[:-3]) is None  # data store cut short
    bad_offset = bytearray(good)
    struct.pack_into(">i", bad_offset, 8 + 8, 10_000)  # NAME's offset past the store
    assert rpm.parse_header(bytes(bad_offset)) is None
    assert rpm.split_source_rpm("weird") == ("", "")


@FUZZ
@given(st.binary(max_size=2048))
def test_rpm_header_never_raises(data: bytes) -> None:
    rpm.parse_header(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=12))
def test_rpm_header_mutations_never_raise(flips: list[tuple[int, int]]) -> None:
    blob = bytearray(rpm_header([(1000, 6, b"a\x00"), (1001, 6, b"1\x00"), (1003, 4, b"\0\0\0\1")]))
    for pos, value in flips:
        if pos < len(blob):
            blob[pos] = value
    rpm.parse_header(bytes(blob))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 217087), st.integers(0, 255)), min_size=1, max_size=40))
def test_rpmdb_corrupted_pages_never_raise(flips: list[tuple[int, int]]) -> None:
    data = bytearray(rpm_fixture())
    for pos, value in flips:
        data[pos % len(data)] = value
    result = rpm.read_rpmdb(bytes(data))
    assert isinstance(result, (tuple, Unreadable))


# --- Python ---------------------------------------------------------------------------

METADATA = b"""Metadata-Version: 2.4
Name: Foo_Bar.baz
Version: 1.0.post1
Summary: x
License-Expression: MIT OR Apache-2.0
Classifier: License :: OSI Approved :: MIT License

Name: not-this
"""
PKG_INFO = b"""Metadata-Version: 1.1
Name: Django
Version: 2.2.0
License: BSD
"""
CLASSIFIED = b"""Metadata-Version: 2.1
Name: six
Version: 1.16.0
License: UNKNOWN
Classifier: License :: OSI Approved
Classifier: License :: OSI Approved :: MIT License
Classifier: Programming Language :: Python
"""
LONG_LICENSE = b"""Metadata-Version: 2.1
Name: withtext
Version: 3
License: Copyright (c) someone
        Permission is hereby granted, free of charge, to any person obtaining a copy
Classifier: License :: OSI Approved :: BSD License
"""


def test_python_metadata_files_in_site_directories() -> None:
    sp = "/usr/local/lib/python3.11/site-packages"
    dp = "/usr/lib/python3/dist-packages"
    out = scan(
        PythonAnalyzer(),
        {f"{sp}/Foo_Bar.baz-1.0.post1.dist-info/METADATA": METADATA,
         f"{dp}/Django-2.2.0.egg-info/PKG-INFO": PKG_INFO},
        {f"{dp}/six-1.16.0.egg-info": CLASSIFIED,
         f"{sp}/withtext-3.egg/EGG-INFO/PKG-INFO": LONG_LICENSE,
         f"{sp}/pip/_vendor/x-1.dist-info/METADATA": PKG_INFO,
         "/src/tests/data/y-1.dist-info/METADATA": PKG_INFO},
    )
    assert [(p.name, p.version, p.licenses, p.layer, p.purl) for p in out.packages] == [
        ("django", "2.2.0", ("BSD",), 0, "pkg:pypi/django@2.2.0"),
        ("foo-bar-baz", "1.0.post1", ("MIT OR Apache-2.0",), 0,
         "pkg:pypi/foo-bar-baz@1.0.post1"),
        ("six", "1.16.0", ("MIT License",), 1, "pkg:pypi/six@1.16.0"),
        ("withtext", "3", ("BSD License",), 1, "pkg:pypi/withtext@3"),
    ]
    assert out.packages[1].path == f"{sp}/Foo_Bar.baz-1.0.post1.dist-info/METADATA"


def test_python_metadata_without_name_or_version_is_ignored() -> None:
    assert pypi.parse_metadata(b"Name: x\n") is None
    assert pypi.parse_metadata(b"Name: -bad-\nVersion: 1\n") is None
    assert pypi.parse_metadata(b"\n\nName: x\nVersion: 1\n") is None


def _site_dirs() -> list[str]:
    dirs = [*site.getsitepackages(), "/usr/lib/python3/dist-packages"]
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


@pytest.mark.parametrize("site_dir", _site_dirs())
def test_python_live_site_packages_equal_importlib_metadata(site_dir: str) -> None:
    expected = sorted(
        (pypi.normalize(dist.metadata["Name"]), dist.version)
        for dist in importlib.metadata.distributions(path=[site_dir])
        if dist.metadata["Name"]
    )
    layer: dict[str, Entry] = {}
    for entry in os.scandir(site_dir):
        candidates = [entry.path]
        if entry.is_dir():
            candidates += [
                os.path.join(entry.path, "METADATA"),
                os.path.join(entry.path, "PKG-INFO"),
                os.path.join(entry.path, "EGG-INFO", "PKG-INFO"),
            ]
        for path in candidates:
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    layer[path] = handle.read()
    out = scan(PythonAnalyzer(), layer)
    got = sorted((p.name, p.version) for p in out.packages)
    assert len(got) > 0
    assert got == expected


@FUZZ
@given(st.binary(max_size=4096))
def test_python_never_raises(data: bytes) -> None:
    pypi.parse_metadata(data)


# --- npm ------------------------------------------------------------------------------


def test_npm_packages_in_node_modules() -> None:
    nm = "/app/node_modules"
    out = scan(
        NpmAnalyzer(),
        {f"{nm}/express/package.json": b'{"name":"express","version":"4.18.2","license":"MIT"}',
         f"{nm}/@babel/core/package.json":
             b'{"name":"@babel/core","version":"7.23.0","license":{"type":"MIT"}}',
         f"{nm}/a/node_modules/b/package.json":
             b'{"name":"b","version":"1.0.0","licenses":[{"type":"ISC"},"BSD-2-Clause",3]}',
         f"{nm}/a/test/fixtures/package.json": b'{"name":"fixture","version":"0.0.0"}',
         f"{nm}/.bin/package.json": b'{"name":"bin","version":"0.0.0"}',
         "/app/package.json": b'{"name":"app","version":"1.0.0"}'},
    )
    assert [(p.name, p.version, p.licenses, p.purl) for p in out.packages] == [
        ("@babel/core", "7.23.0", ("MIT",), "pkg:npm/%40babel/core@7.23.0"),
        ("b", "1.0.0", ("ISC", "BSD-2-Clause"), "pkg:npm/b@1.0.0"),
        ("express", "4.18.2", ("MIT",), "pkg:npm/express@4.18.2"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"[1, 2]",
        b'"just a string"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "x", "version": 1}',
        b'{"name": "x y", "version": "1"}',
        b'{"name": "x", "version": "1", "n": ' + b"9" * 10_000 + b"}",
        b"\xff\xfe\x00garbage",
        b'{"name": "x", "version": "1"',
    ],
)
def test_npm_hostile_json_is_ignored(data: bytes) -> None:
    assert npm.parse_package_json(data) is None


@FUZZ
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["name", "version", "license", "licenses", "type"]),
                      children, max_size=5),
    max_leaves=20,
))
def test_npm_never_raises_on_any_json(doc: object) -> None:
    import json

    npm.parse_package_json(json.dumps(doc).encode())


@FUZZ
@given(st.binary(max_size=1024))
def test_npm_never_raises_on_bytes(data: bytes) -> None:
    npm.parse_package_json(data)


# --- Go -------------------------------------------------------------------------------

START = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
END = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
MODINFO = (
    "path\texample.com/app\n"
    "mod\texample.com/app\tv1.4.0\th1:abc=\n"
    "dep\tgithub.com/pkg/errors\tv0.9.1\th1:def=\n"
    "dep\tgolang.org/x/net\tv0.1.0\th1:ghi=\n"
    "=>\tgithub.com/fork/net\tv0.2.0\th1:jkl=\n"
    "dep\texample.com/local\tv0.0.0\n"
    "=>\t../local\t\n"
    "build\t-compiler=gc\n"
)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _inline_blob(version: str, modinfo: str) -> bytes:
    mod = START + modinfo.encode() + END
    return (golang.MAGIC + bytes([8, 2]) + b"\x00" * 16 + uvarint(len(version))
            + version.encode() + uvarint(len(mod)) + mod)


def go_binary_inline(version: str, modinfo: str, decoy: bool = False,
                     embedded: bytes = b"", section: bool = False) -> bytes:
    """A little-endian ELF64 file laid out as the Go linker does: a read-only, executable
    segment (holding, if asked, the magic quoted as data, as in a binary that links
    debug/buildinfo, and `embedded` bytes), then the writable data segment, which starts
    with the Go 1.18+ build info blob. With `section`, the blob is found through a
    `.go.buildinfo` section header instead (its segment then not marked writable)."""
    base, ehsize, phsize = 0x400000, 64, 56
    text = bytearray(1000)
    if decoy:
        text += golang.MAGIC + b"\x00" * 50
    text += embedded
    data_at = ehsize + 2 * phsize + len(text)
    data_at += -data_at % 16
    blob = _inline_blob(version, modinfo) + b"\x00" * 100
    out = bytearray(data_at) + blob
    out[ehsize + 2 * phsize:ehsize + 2 * phsize + len(text)] = text
    out[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<Q", out, 32, ehsize)
    struct.pack_into("<HH", out, 54, phsize, 2)
    struct.pack_into("<IIQQQQQQ", out, ehsize, 1, 5, 0, base, base, data_at, data_at, 0x1000)
    struct.pack_into("<IIQQQQQQ", out, ehsize + phsize, 1, 4 if section else 6, data_at,
                     base + data_at, base + data_at, len(blob), len(blob), 0x1000)
    if section:
        names = b"\x00.go.buildinfo\x00.shstrtab\x00"
        names_at = len(out)
        out += names
        out += b"\x00" * (-len(out) % 8)
        shoff = len(out)
        out += bytes(64)  # the null section
        out += struct.pack("<IIQQQQIIQQ", 1, 1, 3, base + data_at, data_at, len(blob),
                           0, 0, 16, 0)
        out += struct.pack("<IIQQQQIIQQ", 15, 3, 0, 0, names_at, len(names), 0, 0, 1, 0)
        struct.pack_into("<Q", out, 40, shoff)
        struct.pack_into("<HHH", out, 58, 64, 3, 2)
    return bytes(out)


def go_binary_pointers(version: str, modinfo: str, *, bits: int, big: bool) -> bytes:
    """A minimal ELF with one writable PT_LOAD segment holding a pre-1.18 build info blob
    whose version and module strings are reached through Go string headers (pointers)."""
    bo = ">" if big else "<"
    word = "Q" if bits == 64 else "I"
    ptr = 8 if bits == 64 else 4
    base = 0x400000
    ehsize, phsize = (64, 56) if bits == 64 else (52, 32)
    blob_at = 0x100
    vers_hdr = blob_at + 32
    mod_hdr = vers_hdr + 2 * ptr
    vers_data = mod_hdr + 2 * ptr
    mod = START + modinfo.encode() + END
    mod_data = vers_data + len(version)
    size = mod_data + len(mod) + 16
    data = bytearray(size)
    data[:4] = b"\x7fELF"
    data[4] = 2 if bits == 64 else 1
    data[5] = 2 if big else 1
    data[6] = 1
    if bits == 64:
        struct.pack_into(bo + "Q", data, 32, ehsize)
        struct.pack_into(bo + "HH", data, 54, phsize, 1)
        struct.pack_into(bo + "IIQQQQQQ", data, ehsize, 1, 6, 0, base, base, size, size, 0x1000)
    else:
        struct.pack_into(bo + "I", data, 28, ehsize)
        struct.pack_into(bo + "HH", data, 42, phsize, 1)
        struct.pack_into(bo + "IIIIIIII", data, ehsize, 1, 0, base, base, size, size, 6, 0x1000)
    data[blob_at:blob_at + 14] = golang.MAGIC
    data[blob_at + 14] = ptr
    data[blob_at + 15] = 1 if big else 0
    struct.pack_into(bo + word * 2, data, blob_at + 16, base + vers_hdr, base + mod_hdr)
    struct.pack_into(bo + word * 2, data, vers_hdr, base + vers_data, len(version))
    struct.pack_into(bo + word * 2, data, mod_hdr, base + mod_data, len(mod))
    data[vers_data:vers_data + len(version)] = version.encode()
    data[mod_data:mod_data + len(mod)] = mod
    return bytes(data)


EXPECTED_GO = [
    ("example.com/app", "v1.4.0", "pkg:golang/example.com/app@v1.4.0"),
    ("example.com/local", "v0.0.0", "pkg:golang/example.com/local@v0.0.0"),
    ("github.com/fork/net", "v0.2.0", "pkg:golang/github.com/fork/net@v0.2.0"),
    ("github.com/pkg/errors", "v0.9.1", "pkg:golang/github.com/pkg/errors@v0.9.1"),
    ("stdlib", "v1.21.3", "pkg:golang/stdlib@1.21.3"),
]


def test_go_inline_build_info() -> None:
    binary = go_binary_inline("go1.21.3", MODINFO, decoy=True)
    out = scan(GoBinaryAnalyzer(), {"/usr/local/bin/app": Exe(binary + b"\x00" * 70_000)})
    assert [(p.name, p.version, p.purl) for p in out.packages] == EXPECTED_GO
    assert all(p.type == "golang" and p.path == "/usr/local/bin/app" for p in out.packages)


def test_go_build_info_of_an_embedded_program_is_not_this_ones() -> None:
    """A Go program carrying another one as data (go:embed): the other's build info
    lies in the read-only segment, before this one's; only the data segment (or the
    `.go.buildinfo` section) is searched, as Go's own reader does."""
    other = "mod\texample.com/embedded\tv9.9.9\th1:zzz=\n"
    embedded = b"\x00" * (-1000 % 16) + _inline_blob("go1.16.1", other)
    binary = go_binary_inline("go1.21.3", MODINFO, embedded=embedded)
    assert binary.find(golang.MAGIC) < binary.rfind(golang.MAGIC)  # the embedded one first
    info = golang.parse_buildinfo(binary)
    assert info is not None and info.go_version == "go1.21.3"
    assert info.main == golang.GoModule("example.com/app", "v1.4.0")


def test_go_build_info_found_through_its_section() -> None:
    binary = go_binary_inline("go1.21.3", MODINFO, decoy=True, section=True)
    info = golang.parse_buildinfo(binary)
    assert info is not None and info.main == golang.GoModule("example.com/app", "v1.4.0")
    # without the section table, no writable segment: not searched, not found
    assert golang.parse_buildinfo(binary[:40] + bytes(8) + binary[48:]) is None


def test_go_section_table_past_any_size_is_no_section() -> None:
    """A section table offset beyond what an index can hold (found by the fuzz test)."""
    binary = bytearray(go_binary_inline("go1.21.3", MODINFO, section=True))
    for shoff in (1 << 63, (1 << 64) - 1, len(binary) - 10):
        struct.pack_into("<Q", binary, 40, shoff)
        info = golang.parse_buildinfo(bytes(binary))  # the writable segment is not there
        assert info is None


@pytest.mark.parametrize("cut", [60, 300, 1200])
def test_go_truncated_elf_headers_are_no_build_info(cut: int) -> None:
    for section in (False, True):
        binary = go_binary_inline("go1.21.3", MODINFO, section=section)
        assert golang.parse_buildinfo(binary[:cut]) is None


@pytest.mark.parametrize(("bits", "big"), [(64, False), (32, True), (32, False), (64, True)])
def test_go_pointer_build_info_before_go_1_18(bits: int, big: bool) -> None:
    info = golang.parse_buildinfo(go_binary_pointers("go1.16.15", MODINFO, bits=bits, big=big))
    assert info is not None and info.go_version == "go1.16.15"
    assert info.main == golang.GoModule("example.com/app", "v1.4.0")
    assert [d.path for d in info.deps] == [
        "github.com/pkg/errors", "github.com/fork/net", "example.com/local"
    ]


def test_go_devel_main_and_command_line_arguments() -> None:
    info = golang.parse_buildinfo(go_binary_inline(
        "go1.22rc1", "path\tx\nmod\texample.com/hello\t(devel)\t\n"
    ))
    assert info is not None
    assert golang.modules_of(info) == [
        golang.GoModule("stdlib", "v1.22.0-rc.1"), golang.GoModule("example.com/hello", "")
    ]
    info = golang.parse_buildinfo(go_binary_inline(
        "go1.20", "path\tcommand-line-arguments\nmod\tcommand-line-arguments\t(devel)\t\n"
    ))
    assert info is not None and golang.modules_of(info) == [golang.GoModule("stdlib", "v1.20.0")]


def test_go_not_a_go_binary() -> None:
    analyzer = GoBinaryAnalyzer()
    assert analyzer.analyze("/bin/sh", b"#!/bin/sh\n" + golang.MAGIC) is None
    assert analyzer.analyze("/bin/x", b"\x7fELF" + b"\x00" * 5000) is None
    assert not analyzer.wants("/etc/passwd", 200_000, stat.S_IFREG | 0o644)
    assert analyzer.wants("/bin/huge", 65 * 1024 * 1024, stat.S_IFREG | 0o755)  # any size
    assert analyzer.wants("/opt/tool", 2_000_000, stat.S_IFREG | 0o700)
    # a quoted magic with no valid blob after it
    assert golang.parse_buildinfo(b"\x7fELF" + golang.MAGIC + b"\x08\x02" + b"\xff" * 40) is None


def _go_version_m(output: str) -> dict[str, golang.GoBuildInfo]:
    """Parse `go version -m` output into what parse_buildinfo should return."""
    found: dict[str, golang.GoBuildInfo] = {}
    current: str | None = None
    version = ""
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            text = "\n".join(lines)
            main, deps = golang.parse_modinfo(text)
            path, settings = golang.parse_extras(text)
            found[current] = golang.GoBuildInfo(version, main, deps, path, settings)

    for line in output.splitlines():
        if not line.startswith("\t"):
            flush()
            path, _, version = line.rpartition(": ")
            current, lines = path, []
        else:
            lines.append(line[1:])
    flush()
    return found


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")
def test_go_real_binary_equals_go_version_m(tmp_path: Path) -> None:
    (tmp_path / "greet").mkdir()
    (tmp_path / "hello").mkdir()
    (tmp_path / "greet" / "go.mod").write_text("module example.com/greet\n\ngo 1.18\n")
    (tmp_path / "greet" / "greet.go").write_text(
        'package greet\n\nfunc Hello() string { return "hello" }\n'
    )
    (tmp_path / "hello" / "go.mod").write_text(
        "module example.com/hello\n\ngo 1.18\n\nrequire example.com/greet v0.1.0\n\n"
        "replace example.com/greet v0.1.0 => ../greet\n"
    )
    (tmp_path / "hello" / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
        "func main() { fmt.Println(greet.Hello()) }\n"
    )
    binary = tmp_path / "hello.bin"
    subprocess.run(
        ["go", "build", "-trimpath", "-o", str(binary), "."],
        cwd=tmp_path / "hello", env=_go_env(), check=True, timeout=300, capture_output=True,
    )
    shown = subprocess.run(
        ["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    truth = _go_version_m(shown)[str(binary)]
    info = golang.parse_buildinfo(binary.read_bytes())
    assert info is not None and info._replace(version="") == truth
    out = scan(GoBinaryAnalyzer(), {"/app/hello": Exe(binary.read_bytes())})
    go_version = truth.go_version
    assert [(p.name, p.version) for p in out.packages] == [
        ("example.com/greet", "v0.1.0"),
        ("example.com/hello", ""),
        ("stdlib", golang.stdlib_version(go_version)),
    ]


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")
def test_go_system_executables_equal_go_version_m() -> None:
    dirs = [d for d in ("/usr/bin", "/usr/sbin", "/usr/local/bin") if os.path.isdir(d)]
    shown = subprocess.run(
        ["go", "version", "-m", *dirs], capture_output=True, text=True, timeout=300
    ).stdout
    truth = {
        os.path.realpath(path): info
        for path, info in _go_version_m(shown).items()
        if os.path.getsize(path) <= golang.MAX_READ
    }
    got: dict[str, golang.GoBuildInfo] = {}
    for directory in dirs:
        for entry in os.scandir(directory):
            if not entry.is_file() or not os.access(entry.path, os.X_OK):
                continue
            if entry.stat().st_size > golang.MAX_READ:
                continue
            with open(entry.path, "rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
                handle.seek(0)
                info = golang.parse_buildinfo(handle.read())
            if info is not None:  # `version` is recovered here: `go version -m` has none
                got[os.path.realpath(entry.path)] = info._replace(version="")
    assert got == truth


@FUZZ
@given(st.binary(max_size=512), st.binary(max_size=512))
def test_go_never_raises(before: bytes, after: bytes) -> None:
    golang.parse_buildinfo(b"\x7fELF" + before + golang.MAGIC + after)
    golang.parse_buildinfo(b"\x7fELF\x02\x01" + before + golang.MAGIC + b"\x08\x00" + after)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 700), st.integers(0, 255)), max_size=10),
       st.sampled_from([(64, False), (32, True)]))
def test_go_mutated_binaries_never_raise(
    flips: list[tuple[int, int]], layout: tuple[int, bool]
) -> None:
    data = bytearray(go_binary_pointers("go1.16.15", MODINFO, bits=layout[0], big=layout[1]))
    for pos, value in flips:
        data[pos % len(data)] = value
    golang.parse_buildinfo(bytes(data))
    for section in (False, True):
        inline = bytearray(go_binary_inline("go1.21.3", MODINFO, section=section))
        for pos, value in flips:
            inline[pos % len(inline)] = value
        golang.parse_buildinfo(bytes(inline))
        # the headers alone (section table offset, counts, string index) mutated
        for pos, value in flips:
            inline[pos % 64] = value
        golang.parse_buildinfo(bytes(inline))


@FUZZ
@given(st.text(max_size=500))
def test_go_modinfo_never_raises(text: str) -> None:
    golang.parse_modinfo(text)


# --- every analyzer on every file: no crash, no cross-talk ----------------------------


def test_whole_image_through_every_analyzer() -> None:
    layer0: dict[str, Entry] = {
        "/usr/lib/os-release": DEBIAN_OS_RELEASE,
        "/etc/os-release": Link("../usr/lib/os-release"),
        "/var/lib/dpkg/status": fixture("status"),
    }
    layer1: dict[str, Entry] = {
        "/usr/local/lib/python3.11/site-packages/django-2.2.0.dist-info/METADATA": PKG_INFO,
        "/srv/node_modules/express/package.json": b'{"name":"express","version":"4.18.2"}',
        "/usr/local/bin/app": Exe(go_binary_inline("go1.21.3", MODINFO) + b"\0" * 70_000),
        "/usr/bin/script": Exe(b"#!/bin/sh\n" * 10_000),
    }
    outputs = {a.name: scan(a, layer0, layer1) for a in package_analyzers()}
    types = {name: {p.type for p in out.packages} for name, out in outputs.items()}
    assert types == {
        "os-release": set(), "dpkg": {"deb"}, "apk": set(), "rpm": set(),
        "python": {"pypi"}, "npm": {"npm"}, "golang": {"golang"}, "binary": set(),
    }
    assert outputs["os-release"].os_release is not None
    assert {p.layer for p in outputs["dpkg"].packages} == {0}
    assert {p.layer for p in outputs["golang"].packages} == {1}
    assert all(out.skipped == () for out in outputs.values())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_field_with_whitespace_or_a_control_character_is_not_plausible() -> None:
    for cp in range(0x110000):
        c = chr(cp)
        assert plausible(f"a{c}b") is not (c.isspace() or cp < 0x20 or cp == 0x7F), hex(cp)
    assert plausible("bash", "5.2.15-2+b2") and not plausible("") and not plausible("x" * 513)
