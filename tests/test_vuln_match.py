"""Vulnerability matching: version ordering and OSV range semantics (tables), the matcher
on databases built here, and whole images (a real Django 2.2 wheel's metadata against
the PyPA advisories, an Alpine 3.11 image against the real secdb, a Debian 12 image
against tracker and OSV Debian records) audited through the real pipeline and the CLI."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version
from univers.debian import compare_versions

from dockwarden.collect.image.open import ImageRequest, collect_image
from dockwarden.model.image import OSRelease, Package
from dockwarden.model.vuln import (
    Advisory,
    Affected,
    Event,
    Range,
    Status,
    VulnMatch,
)
from dockwarden.vuln.db import SourceInfo, VulnDB, Writer
from dockwarden.vuln.match import Matcher, affects, distro_of
from dockwarden.vuln.versions import Verdict, debian_key, in_range, in_versions, scheme
from harness.imagebuild import Image, docker_save, f, layer_tar

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "vulnmatch"
SHARED = ROOT.parent / "shared" / "data"
PYPA_ZIP = SHARED / "osv-pypi-pypa-advisory-database.zip"
SECDB_311 = SHARED / "alpine-secdb" / "v3.11-main.json"
CACHE = Path("/var/cache/dockwarden-test")

NOW = dt.datetime.now(dt.UTC)


# --- version ordering ----------------------------------------------------------------

@pytest.mark.parametrize(("ecosystem", "lower", "higher"), [
    ("Debian", "2.36-9+deb12u3", "2.36-9+deb12u6"),
    ("Debian", "2.0-1", "1:1.0-1"),  # the epoch beats everything after it
    ("Debian", "3.0", "2:1.02.185-2"),
    ("Debian", "5.2.15-2", "5.2.15-2+b2"),  # a binNMU rebuild is newer than its source
    ("Debian", "5.2.15-2+b2", "5.2.15-3"),
    ("Debian", "3.0.11-1~deb12u1", "3.0.11-1"),  # ~ sorts before the end
    ("Debian", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
    ("Debian", "1.0~rc1", "1.0"),
    ("Debian", "1.0", "1.0a"),
    ("Debian", "1.0a", "1.0+"),  # letters before other characters
    ("Debian", "1.2.9", "1.2.10"),
    ("Ubuntu", "2.35-0ubuntu3.1", "2.35-0ubuntu3.6"),
    ("Alpine", "1.2.15-r9", "1.2.15-r11"),  # -rN numerically
    ("Alpine", "1.29.3-r9", "1.29.3-r10"),
    ("Alpine", "1.1.1d-r0", "1.1.1d-r3"),
    ("Alpine", "1.1.1d-r3", "1.1.1g-r0"),
    ("PyPI", "2.2rc1", "2.2"),  # PEP 440 pre-release
    ("PyPI", "2.2", "2.2.post1"),
    ("PyPI", "2.2.post1", "2.2.1"),
    ("PyPI", "1.0.dev0", "1.0a1"),
    ("PyPI", "2.2.9", "2.2.10"),
    ("npm", "1.2.3-beta.1", "1.2.3"),
    ("npm", "1.2.3", "1.10.0"),
    ("Go", "v0.0.0-20200101000000-abcdefabcdef", "v0.1.0"),
    ("Go", "v1.21.9", "v1.22.0"),
    ("crates.io", "0.9.9", "0.10.0"),
    ("Maven", "2.9.10.1", "2.9.10.8"),
    ("RubyGems", "1.2.3.pre", "1.2.3"),
    ("AlmaLinux", "2.28-225.el8", "2.28-225.el8_8.6"),
])
def test_version_order(ecosystem: str, lower: str, higher: str) -> None:
    sch = scheme(ecosystem)
    assert sch.lt(lower, higher) is True
    assert sch.lt(higher, lower) is False


@pytest.mark.parametrize(("ecosystem", "a", "b"), [
    ("Debian", "1.0", "0:1.0"),  # epoch 0 is no epoch
    ("Debian", "1.0", "1.0-0"),
    ("Debian", "1.01", "1.1"),
    ("PyPI", "2.2", "2.2.0"),
    ("PyPI", "2.2.0.0", "2.2"),
])
def test_version_equal(ecosystem: str, a: str, b: str) -> None:
    sch = scheme(ecosystem)
    assert sch.lt(a, b) is False and sch.lt(b, a) is False
    assert sch.key(a) == sch.key(b)


@pytest.mark.parametrize(("ecosystem", "text"), [
    ("Debian", "not a version"), ("Debian", ""), ("PyPI", "2.2-foo!bar"),
    ("Alpine", "1.0_abc-r0"), ("npm", "latest"), ("Maven", ""),
])
def test_unparseable_versions_are_none_never_an_exception(ecosystem: str, text: str) -> None:
    assert scheme(ecosystem).key(text) is None
    assert scheme(ecosystem).lt(text, "1.0") is None


_DEB = st.from_regex(r"([0-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(_DEB, _DEB)
def test_debian_key_orders_exactly_as_univers(a: str, b: str) -> None:
    ka, kb = debian_key(a), debian_key(b)
    if ka is None or kb is None:
        return
    assert ((ka > kb) - (ka < kb)) == compare_versions(a, b), (a, b)


# --- OSV range semantics -------------------------------------------------------------

def R(*events: tuple[str, str], type: str = "ECOSYSTEM") -> Range:
    return Range(type, tuple(Event(**{k: v}) for k, v in events))


I, F, L, M = "introduced", "fixed", "last_affected", "limit"  # noqa: E741

RANGE_CASES = [
    # (ecosystem, range, version, affected, fixed reported)
    ("PyPI", R((I, "0"), (F, "2.2.2")), "2.2.0", True, "2.2.2"),
    ("PyPI", R((I, "0"), (F, "2.2.2")), "2.2.2", False, ""),
    ("PyPI", R((I, "0"), (F, "2.2.2")), "2.2.2rc1", True, "2.2.2"),
    ("PyPI", R((I, "2.2"), (F, "2.2.2")), "2.1.9", False, ""),
    ("PyPI", R((I, "2.2"), (F, "2.2.2")), "2.2", True, "2.2.2"),  # introduced is inclusive
    ("PyPI", R((I, "0")), "99.0", True, ""),  # open range: no fix
    ("PyPI", R((I, "0"), (L, "2.2.4")), "2.2.4", True, ""),  # last_affected is inclusive
    ("PyPI", R((I, "0"), (L, "2.2.4")), "2.2.5", False, ""),
    ("PyPI", R((I, "0"), (L, "2.2.4")), "2.2.4.post1", False, ""),
    # two intervals in one range, events unsorted as some databases write them
    ("PyPI", R((I, "3.0"), (F, "3.0.5"), (I, "0"), (F, "2.2.10")), "2.2.9", True, "2.2.10"),
    ("PyPI", R((I, "3.0"), (F, "3.0.5"), (I, "0"), (F, "2.2.10")), "2.2.10", False, ""),
    ("PyPI", R((I, "3.0"), (F, "3.0.5"), (I, "0"), (F, "2.2.10")), "3.0.1", True, "3.0.5"),
    ("PyPI", R((I, "3.0"), (F, "3.0.5"), (I, "0"), (F, "2.2.10")), "3.1", False, ""),
    # limit: only versions below a limit are in the range
    ("PyPI", R((I, "1.0"), (M, "2.0")), "1.5", True, ""),
    ("PyPI", R((I, "1.0"), (M, "2.0")), "2.0", False, ""),
    ("PyPI", R((I, "1.0"), (M, "*")), "9.0", True, ""),
    ("PyPI", R((I, "1.0"), (F, "1.9"), (M, "2.0")), "1.9.5", False, ""),
    ("npm", R((I, "0"), (F, "4.17.21"), type="SEMVER"), "4.17.20", True, "4.17.21"),
    ("npm", R((I, "0"), (F, "4.17.21"), type="SEMVER"), "4.17.21", False, ""),
    ("Go", R((I, "0"), (F, "1.22.2"), type="SEMVER"), "v1.22.1", True, "1.22.2"),
    ("Go", R((I, "0"), (F, "1.22.2"), type="SEMVER"), "v1.22.2", False, ""),
    ("Debian", R((I, "0"), (F, "2.36-9+deb12u6")), "2.36-9+deb12u3", True, "2.36-9+deb12u6"),
    ("Debian", R((I, "0"), (F, "1:2.66-4+deb12u1")), "1:2.66-4", True, "1:2.66-4+deb12u1"),
    ("Debian", R((I, "0"), (F, "1:2.66-4+deb12u1")), "2.66-5", True, "1:2.66-4+deb12u1"),
    ("Debian", R((I, "0"), (F, "3.0.11-1")), "3.0.11-1~deb12u1", True, "3.0.11-1"),
    ("Debian", R((I, "0"), (F, "5.2.15-2")), "5.2.15-2+b2", False, ""),
    ("Alpine", R((I, "0"), (F, "1.2.15-r11")), "1.2.15-r9", True, "1.2.15-r11"),
    ("Alpine", R((I, "0"), (F, "1.2.15-r11")), "1.2.15-r11", False, ""),
    # GIT ranges cannot be judged without the repository
    ("PyPI", R((I, "0"), (F, "a" * 40), type="GIT"), "1.0", None, ""),
]


@pytest.mark.parametrize(("ecosystem", "rng", "version", "affected", "fixed"), RANGE_CASES)
def test_range_semantics(ecosystem: str, rng: Range, version: str, affected: bool | None,
                         fixed: str) -> None:
    aff = Affected(ecosystem, "pkg", ranges=(rng,))
    verdict = affects(ecosystem, version, aff, _stats())
    assert verdict.affected is bool(affected)
    assert verdict.fixed == fixed
    if rng.type != "GIT":
        sch = scheme(ecosystem, rng.type)
        assert in_range(sch.key(version), rng, sch).affected is bool(affected)


def _stats() -> Any:
    from dockwarden.vuln.match import _Stats
    return _Stats()


def test_explicit_versions_list_counts_even_outside_the_ranges() -> None:
    aff = Affected("PyPI", "pkg", ranges=(R((I, "0"), (F, "1.0")),), versions=("1.5", "2.2"))
    assert affects("PyPI", "2.2.0", aff, _stats()).affected  # 2.2 == 2.2.0
    assert not affects("PyPI", "2.3", aff, _stats()).affected
    sch = scheme("PyPI")
    assert in_versions(sch.key("1.5.0"), "1.5.0", ("1.5",), sch)


def test_a_listed_version_reports_the_records_fix_when_it_is_above() -> None:
    aff = Affected("PyPI", "pkg", ranges=(R((I, "0"), (F, "1.0")),), versions=("1.5", "2.2"),
                   fixed="2.0")
    assert affects("PyPI", "1.5", aff, _stats()) == Verdict(True, "2.0")
    assert affects("PyPI", "2.2", aff, _stats()) == Verdict(True, "")
    assert affects("PyPI", "0.5", aff, _stats()) == Verdict(True, "1.0")  # the range's


def test_unparseable_version_falls_back_to_the_versions_list_and_is_noted() -> None:
    aff = Affected("PyPI", "pkg", ranges=(R((I, "0"), (F, "1.0")),),
                   versions=("weird!version",))
    stats = _stats()
    assert affects("PyPI", "weird!version", aff, stats).affected
    assert not affects("PyPI", "other!version", aff, stats).affected
    assert stats.unparsed["PyPI"] == {"weird!version", "other!version"}
    # an event version that cannot be parsed: that range is not judged, the list still is
    aff = Affected("PyPI", "pkg", ranges=(R((I, "0"), (F, "not!a!version")),),
                   versions=("1.0",))
    stats = _stats()
    assert affects("PyPI", "1.0", aff, stats).affected
    assert not affects("PyPI", "0.9", aff, stats).affected
    assert stats.unparsed["PyPI"] == {"not!a!version"}


@pytest.mark.parametrize(("status", "fixed", "version", "affected"), [
    (Status.FIXED, "1.2-3", "1.2-2", True),
    (Status.FIXED, "1.2-3", "1.2-3", False),
    (Status.FIXED, "", "1.2-3", False),
    (Status.AFFECTED, "", "9.9-9", True),
    (Status.WONT_FIX, "", "9.9-9", True),
])
def test_records_without_ranges_are_the_distributions_word(
        status: Status, fixed: str, version: str, affected: bool) -> None:
    aff = Affected("Debian", "pkg", "bookworm", status, fixed=fixed)
    assert affects("Debian", version, aff, _stats()).affected is affected


@pytest.mark.parametrize(("osid", "version", "codename", "ptype", "expected"), [
    ("debian", "12", "bookworm", "deb", ("Debian", "bookworm", {"bookworm", "12"})),
    ("debian", "11", "", "deb", ("Debian", "bullseye", {"bullseye", "11"})),
    ("debian", "", "trixie", "deb", ("Debian", "trixie", {"trixie"})),
    ("ubuntu", "22.04", "jammy", "deb", ("Ubuntu", "22.04", {"22.04", "22.04:LTS", "jammy"})),
    ("alpine", "3.11.6", "", "apk", ("Alpine", "3.11", {"3.11", "v3.11"})),
    ("alpine", "3.19.1", "", "apk", ("Alpine", "3.19", {"3.19", "v3.19"})),
    ("rocky", "9.3", "", "rpm", ("Rocky Linux", "9", {"9", "9.3"})),
    ("fedora", "39", "", "rpm", None),
    ("debian", "12", "bookworm", "apk", None),
])
def test_os_release_picks_the_distribution_data(
        osid: str, version: str, codename: str, ptype: str,
        expected: tuple[str, str, set[str]] | None) -> None:
    d = distro_of(OSRelease(osid, version, codename), ptype)
    if expected is None:
        assert d is None
    else:
        assert d is not None
        assert (d.ecosystem, d.release, set(d.releases)) == expected


# --- the matcher on databases built here ---------------------------------------------

def build_db(path: Path, sources: dict[str, Iterable[Advisory]],
             imported: dt.datetime = NOW) -> Path:
    with Writer(path) as w:
        for name, advisories in sources.items():
            w.replace_source(SourceInfo(name, "test", imported, 0, 0), advisories)
        w.commit()
    return path


def deb(name: str, version: str, source: str = "", source_version: str = "") -> Package:
    return Package("deb", name, version, 0, "/var/lib/dpkg/status", source, source_version)


BOOKWORM = OSRelease("debian", "12", "bookworm")


def match(db: Path, packages: list[Package], os_release: OSRelease | None = BOOKWORM
          ) -> dict[tuple[str, str], VulnMatch]:
    vdb = VulnDB(db)
    try:
        result = Matcher(vdb).match(packages, os_release)
    finally:
        vdb.close()
    out = {(m.package, m.id): m for m in result.matches}
    assert len(out) == len(result.matches), "one match per (package, vulnerability)"
    return out


def test_alias_merging_across_sources(tmp_path: Path) -> None:
    """PYSEC-x (aliases GHSA-y, CVE-z) and GHSA-y (alias CVE-z) from two sources are one
    finding listing every id, preferred id the CVE; the fixed versions agree."""
    rng = (R((I, "0"), (F, "2.2.2")),)
    db = build_db(tmp_path / "db.sqlite", {
        "osv-PyPI": [Advisory("PYSEC-2019-79", "osv-PyPI", ("GHSA-6c7v-2f49-8h26",
                                                            "CVE-2019-12308"),
                              affected=(Affected("PyPI", "django", ranges=rng,
                                                 fixed="2.2.2"),))],
        "osv-GHSA": [Advisory("GHSA-6c7v-2f49-8h26", "osv-GHSA", ("CVE-2019-12308",),
                              severity="medium", cvss_score=6.1,
                              affected=(Affected("PyPI", "django", ranges=rng,
                                                 fixed="2.2.2"),))],
    })
    found = match(db, [Package("pypi", "django", "2.2", 1, "/usr/lib/python3/site-packages"
                               "/Django-2.2.dist-info/METADATA")], None)
    assert list(found) == [("django", "CVE-2019-12308")]
    m = found["django", "CVE-2019-12308"]
    assert m.ids == ("CVE-2019-12308", "GHSA-6c7v-2f49-8h26", "PYSEC-2019-79")
    assert m.sources == ("osv-GHSA", "osv-PyPI")
    assert (m.fixed, m.status, m.severity, m.cvss_score) == ("2.2.2", Status.FIXED,
                                                             "medium", 6.1)
    assert m.layer == 1 and m.path.endswith("METADATA")


def test_pypi_names_are_pep503_normalised(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [Advisory(
        "PYSEC-1", "osv-PyPI", affected=(Affected("PyPI", "zope-interface",
                                                  ranges=(R((I, "0"), (F, "5.0")),)),))]})
    assert set(match(db, [Package("pypi", "Zope.Interface", "4.7", 0, "x")], None)) == \
        {("Zope.Interface", "PYSEC-1")}


def test_withdrawn_advisories_are_ignored(tmp_path: Path) -> None:
    aff = (Affected("PyPI", "pkg", ranges=(R((I, "0")),)),)
    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [
        Advisory("PYSEC-1", "osv-PyPI", withdrawn="2024-01-01T00:00:00Z", affected=aff),
        Advisory("PYSEC-2", "osv-PyPI", affected=aff)]})
    assert set(match(db, [Package("pypi", "pkg", "1.0", 0, "x")], None)) == {("pkg", "PYSEC-2")}


def test_a_distribution_advisory_naming_several_cves_does_not_fuse_them(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"osv-Debian": [Advisory(
        "DSA-5532-1", "osv-Debian", ("CVE-2023-5363", "CVE-2023-5678"),
        affected=(Affected("Debian", "openssl", "bookworm",
                           ranges=(R((I, "0"), (F, "3.0.11-1~deb12u2")),),
                           fixed="3.0.11-1~deb12u2"),))]})
    found = match(db, [deb("libssl3", "3.0.11-1~deb12u1", "openssl")])
    assert sorted(found) == [("libssl3", "CVE-2023-5363"), ("libssl3", "CVE-2023-5678")]
    assert found["libssl3", "CVE-2023-5363"].ids == ("CVE-2023-5363", "DSA-5532-1")
    assert found["libssl3", "CVE-2023-5363"].source_package == "openssl"


def test_unparseable_installed_version_is_noted_not_fatal(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [Advisory(
        "PYSEC-1", "osv-PyPI", affected=(Affected("PyPI", "pkg", ranges=(R((I, "0"),),),
                                                  versions=("nightly!1",)),))]})
    vdb = VulnDB(db)
    result = Matcher(vdb).match([Package("pypi", "pkg", "nightly!1", 0, "x"),
                                 Package("pypi", "pkg", "nightly!2", 0, "y")], None)
    vdb.close()
    assert [m.installed for m in result.matches] == ["nightly!1"]
    assert len(result.notes) == 1 and "nightly!1" in result.notes[0]
    assert "explicit version lists" in result.notes[0]


def test_os_packages_of_an_os_without_data_are_a_gap(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"x": []})
    vdb = VulnDB(db)
    result = Matcher(vdb).match([Package("rpm", "bash", "5.2-1.fc39", 0, "rpmdb")],
                                OSRelease("fedora", "39"))
    vdb.close()
    assert result.matches == ()
    assert result.gaps == (("os", "no vulnerability data for OS packages of fedora 39 "
                                  "(1 rpm package(s) not matched)"),)


# --- the shortcuts of the matcher agree with the plain evaluation ---------------------

_POOLS = {
    "Debian": ["0", "1.0-1", "1.0-1~deb12u1", "1.0-1+deb12u1", "1.0-2", "1:0.9-1", "2.0-1",
               "1.0-1+b1", "0.9~rc1-1", "not a version"],
    "PyPI": ["0", "0.9", "1.0", "1.0.0", "1.0rc1", "1.0.post1", "1.1", "2.0", "v1.1",
             "1!0.5", "nightly!1"],
}


def _random_record(rnd: Any, ecosystem: str, name: str, n: int) -> Advisory:
    """One advisory (its own CVE, no aliases) of every shape the database holds."""
    pool = _POOLS[ecosystem]
    shape = rnd.randrange(9)
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    status, fixed = Status.FIXED, ""
    if shape == 0:  # introduced 0, fixed X: judged from the stored text
        fixed = rnd.choice(pool)
        ranges = (R((I, "0"), (F, fixed)),)
    elif shape == 1:  # an open range, a versions list or not
        ranges = (R((I, "0")),)
        versions = tuple(rnd.sample(pool, rnd.randrange(3)))
        status = Status.AFFECTED
    elif shape == 2:  # no range: the distribution's word
        status = rnd.choice(list(Status))
        fixed = rnd.choice(pool) if status is Status.FIXED else ""
    else:  # anything else
        for _ in range(rnd.randrange(1, 3)):
            kinds = [rnd.choice([I, F, L, M, I, F]) for _ in range(rnd.randrange(1, 5))]
            ranges += (R(*((k, "*" if k == M and rnd.random() < 0.5 else rnd.choice(pool))
                           for k in kinds), type=rnd.choice(["ECOSYSTEM"] * 4 + ["GIT"])),)
        versions = tuple(rnd.sample(pool, rnd.randrange(4)))
        fixed = rnd.choice(["", *pool])
    release = rnd.choice(["bookworm", "bookworm", "bullseye", ""]) if ecosystem == "Debian" \
        else ""
    return Advisory(f"CVE-2024-{n}", "src", withdrawn="2024-01-01" if rnd.random() < 0.1 else "",
                    affected=(Affected(ecosystem, name, release, status, ranges, versions,
                                       fixed),))


@pytest.mark.parametrize("seed", range(4))
def test_the_matcher_says_what_affects_says_of_every_record(tmp_path: Path, seed: int) -> None:
    """Rows judged from their stored text, rows decoded, batched queries, advisories
    fetched afterwards and withdrawn ones dropped afterwards: the matches (and the notes
    about versions not understood) are those of `affects` on every record of the
    image's release, one by one."""
    import random

    from dockwarden.vuln.match import _Stats

    rnd = random.Random(seed)
    names = {"Debian": [f"src{i}" for i in range(12)], "PyPI": [f"pkg{i}" for i in range(12)]}
    advisories = [_random_record(rnd, eco, rnd.choice(names[eco]), n)
                  for n, eco in enumerate(rnd.choice(["Debian", "PyPI"]) for _ in range(400))]
    db = build_db(tmp_path / "db.sqlite", {"src": advisories})
    packages = []
    for eco, pool in _POOLS.items():
        for name in names[eco]:
            for version in rnd.sample(pool, 3):
                if eco == "Debian":
                    packages.append(deb(f"lib{name}-{version}", version, name))
                else:
                    packages.append(Package("pypi", name, version, 0, f"/{name}/{version}"))
    vdb = VulnDB(db)
    result = Matcher(vdb).match(packages, BOOKWORM)
    expected: dict[tuple[str, str, str], tuple[str, Status]] = {}
    stats = _Stats()
    withdrawn = {a.id for a in advisories if a.withdrawn}
    for pkg in packages:
        eco = "Debian" if pkg.type == "deb" else "PyPI"
        name = pkg.source_name or pkg.name
        for hit in vdb.lookup(eco, name):
            if hit.affected.release not in ("", "bookworm") or hit.advisory.id in withdrawn:
                continue
            verdict = affects(eco, pkg.version, hit.affected, stats)
            if verdict.affected:
                status = Status.FIXED if verdict.fixed else (
                    Status.WONT_FIX if hit.affected.status is Status.WONT_FIX
                    else Status.AFFECTED)
                expected[pkg.name, pkg.version, hit.advisory.id] = (verdict.fixed, status)
    vdb.close()
    got = {(m.package, m.installed, m.id): (m.fixed, m.status) for m in result.matches}
    assert got == expected
    assert len(result.matches) == len(expected)
    for eco, text in zip(sorted(stats.unparsed), result.notes, strict=True):
        shown = ", ".join(sorted(stats.unparsed[eco])[:5])
        assert text.startswith(f"{eco}: versions not understood ({shown}")


def test_matches_are_ordered_by_package_then_id_even_for_a_package_listed_twice(
        tmp_path: Path) -> None:
    rng = (R((I, "0"), (F, "2.0")),)
    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [
        Advisory(i, "osv-PyPI", affected=(Affected("PyPI", name, ranges=rng),))
        for i in ("PYSEC-2", "CVE-1", "GHSA-3") for name in ("pkg", "another")]})
    vdb = VulnDB(db)
    result = Matcher(vdb).match([
        Package("pypi", "pkg", "1.0", 3, "/a"), Package("pypi", "another", "1.0", 0, "/b"),
        Package("pypi", "pkg", "1.0", 1, "/a"), Package("pypi", "pkg", "0.9", 2, "/a")], None)
    vdb.close()
    assert [(m.package, m.installed, m.id, m.layer) for m in result.matches] == [
        ("another", "1.0", "CVE-1", 0), ("another", "1.0", "GHSA-3", 0),
        ("another", "1.0", "PYSEC-2", 0),
        ("pkg", "0.9", "CVE-1", 2), ("pkg", "0.9", "GHSA-3", 2), ("pkg", "0.9", "PYSEC-2", 2),
        ("pkg", "1.0", "CVE-1", 3), ("pkg", "1.0", "CVE-1", 1),  # the same package twice:
        ("pkg", "1.0", "GHSA-3", 3), ("pkg", "1.0", "GHSA-3", 1),  # by id, then as listed
        ("pkg", "1.0", "PYSEC-2", 3), ("pkg", "1.0", "PYSEC-2", 1)]


def test_rows_of_many_packages_come_in_batches_in_the_order_of_the_index(
        tmp_path: Path) -> None:
    names = [f"pkg{i:04d}" for i in range(1200)]  # more than one batch of names
    advisories = [Advisory(f"CVE-2024-{i}-{j}", "src", affected=(
        Affected("Debian", name, rel, ranges=(R((I, "0"), (F, f"{j}.0-1")),)),))
        for j, rel in enumerate(["bookworm", "bullseye", "", "bookworm"])
        for i, name in enumerate(names)]
    vdb = VulnDB(build_db(tmp_path / "db.sqlite", {"src": advisories}))
    got = vdb.affected_rows("Debian", [*names[::-1], "absent"], {"bookworm", "12"})
    assert sorted(got) == sorted(names)
    for name in names:
        assert [(r[1], r[2]) for r in got[name]] == [
            (h.advisory.source, h.advisory.id) for h in vdb.lookup("Debian", name)
            if h.affected.release in ("", "bookworm")]
    assert len(vdb.affected_rows("Debian", names, None)["pkg0007"]) == 4
    vdb.close()


def test_a_row_without_its_advisory_is_still_reported_by_its_id(tmp_path: Path) -> None:
    import sqlite3

    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [
        Advisory(f"PYSEC-{i}", "osv-PyPI", ("CVE-1",) if i == 1 else (), summary=f"s{i}",
                 affected=(Affected("PyPI", "pkg", ranges=(R((I, "0"),),)),))
        for i in range(1, 3)]})
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM advisory WHERE id='PYSEC-2'")
    con.close()
    found = match(db, [Package("pypi", "pkg", "1.0", 0, "x")], None)
    assert {k: (m.ids, m.summary) for k, m in found.items()} == {
        ("pkg", "CVE-1"): (("CVE-1", "PYSEC-1"), "s1"),
        ("pkg", "PYSEC-2"): (("PYSEC-2",), ""),
    }


def test_withdrawn_advisories_leave_no_notes(tmp_path: Path) -> None:
    """A version that cannot be parsed in a withdrawn advisory is not worth a note."""
    aff = (Affected("PyPI", "pkg", ranges=(R((I, "0"), (F, "not!a!version")),)),)
    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [
        Advisory("PYSEC-1", "osv-PyPI", withdrawn="2024-01-01T00:00:00Z", affected=aff)]})
    vdb = VulnDB(db)
    result = Matcher(vdb).match([Package("pypi", "pkg", "1.0", 0, "x")], None)
    assert result.matches == () and result.notes == ()
    vdb.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_matching_leaves_the_garbage_collector_as_it_found_it(
        tmp_path: Path, enabled: bool) -> None:
    import gc

    db = build_db(tmp_path / "db.sqlite", {"osv-PyPI": [Advisory(
        "PYSEC-1", "osv-PyPI", affected=(Affected("PyPI", "pkg", ranges=(R((I, "0"),),)),))]})
    vdb = VulnDB(db)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert Matcher(vdb).match([Package("pypi", "pkg", "1.0", 0, "x")], None).matches
        assert gc.isenabled() is enabled
        with pytest.raises(AttributeError):
            Matcher(vdb).match([object()], None)  # type: ignore[list-item]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
        vdb.close()


# --- Debian: tracker and OSV Debian records, dpkg status of our own -------------------

def imported(path: Path) -> tuple[str, list[Advisory]]:
    """(source name, advisories) of a data file, through the importers (`db import`)."""
    from dockwarden.vuln.importers.detect import import_any

    got = import_any(path)
    return got.source, list(got.advisories)


def tracker_advisories() -> list[Advisory]:
    source, advisories = imported(DATA / "debian-tracker.json")
    assert source == "debian-tracker"
    return advisories


def debian_db(path: Path) -> Path:
    source, osv_debian = imported(DATA / "osv-debian")
    assert source == "osv-Debian" and len(osv_debian) == 2
    return build_db(path, {"debian-tracker": tracker_advisories(), source: osv_debian})


def debian_image(tmp: Path) -> str:
    base = layer_tar([f("etc/os-release", (DATA / "os-release-debian").read_bytes()),
                      f("var/lib/dpkg/status", (DATA / "dpkg-status").read_bytes())])
    app = layer_tar([f("app/README", "hello")])
    return docker_save(Image([base, app], history=[{"created_by": "ADD rootfs.tar.xz /"},
                                                   {"created_by": "COPY README /app/"}]),
                       str(tmp / "debian.tar"))


# (binary package, preferred id) -> (status, fixed, severity)
DEBIAN_EXPECTED = {
    # source glibc: libc6 and libc-bin both reported; the DSA and the tracker merged
    ("libc6", "CVE-2024-2961"): ("fixed", "2.36-9+deb12u6", ""),
    ("libc-bin", "CVE-2024-2961"): ("fixed", "2.36-9+deb12u6", ""),
    ("libc6", "CVE-2010-4756"): ("affected", "", "low"),  # <unfixed>, unimportant
    ("libc-bin", "CVE-2010-4756"): ("affected", "", "low"),
    # epoch in the source version
    ("libcap2", "CVE-2023-2603"): ("fixed", "1:2.66-4+deb12u1", ""),
    # the binary version (2:1.02.185-2) is not the source version (2.03.16-2)
    ("libdevmapper1.02.1", "CVE-2020-8991"): ("fixed", "2.03.16-3", "low"),
    # ~deb12u1 < ~deb12u2; CVE-2023-5678: DSA says ~deb12u2, the tracker 3.0.13: the later
    ("libssl3", "CVE-2023-5363"): ("fixed", "3.0.11-1~deb12u2", "medium"),
    ("openssl", "CVE-2023-5363"): ("fixed", "3.0.11-1~deb12u2", "medium"),
    ("libssl3", "CVE-2023-5678"): ("fixed", "3.0.13-1~deb12u1", ""),
    ("openssl", "CVE-2023-5678"): ("fixed", "3.0.13-1~deb12u1", ""),
    # will not fix: ignored, no-dsa, postponed
    ("zlib1g", "CVE-2023-45853"): ("wont_fix", "", "low"),
    ("libtiff6", "CVE-2023-3164"): ("wont_fix", "", "low"),
    ("libtiff6", "CVE-2023-52356"): ("wont_fix", "", ""),
}


def test_debian_image_against_tracker_and_osv_debian(tmp_path: Path) -> None:
    db = debian_db(tmp_path / "db.sqlite")
    snap = collect_image(ImageRequest(tar=debian_image(tmp_path)), None)
    assert isinstance(snap.packages, tuple) and isinstance(snap.os_release, OSRelease)
    found = match(db, list(snap.packages), snap.os_release)
    got = {k: (m.status.value, m.fixed, m.severity) for k, m in found.items()}
    assert got == DEBIAN_EXPECTED
    glibc = found["libc6", "CVE-2024-2961"]
    assert glibc.ids == ("CVE-2024-2961", "DSA-5655-1")
    assert glibc.sources == ("debian-tracker", "osv-Debian")
    assert (glibc.installed, glibc.source_package) == ("2.36-9+deb12u3", "glibc")
    assert (glibc.layer, glibc.path) == (0, "/var/lib/dpkg/status")
    assert found["libdevmapper1.02.1", "CVE-2020-8991"].installed == "2:1.02.185-2"
    assert found["libdevmapper1.02.1", "CVE-2020-8991"].source_package == "lvm2"
    # bash 5.2.15-2+b2 is a rebuild of source 5.2.15-2, which is the fixed version; the
    # bullseye-only CVE-2021-3999 and the config-files-only gnutls28 are not reported
    assert not any(p in ("bash", "libgnutls30") for p, _ in found)
    assert ("libc6", "CVE-2021-3999") not in found


def test_debian_records_of_other_releases_are_ignored(tmp_path: Path) -> None:
    db = debian_db(tmp_path / "db.sqlite")
    pkgs = [deb("libc6", "2.31-13+deb11u5", "glibc")]
    bullseye = match(db, pkgs, OSRelease("debian", "11", "bullseye"))
    # bullseye: CVE-2024-2961 (fixed deb11u9) and the no-dsa CVE-2021-3999
    assert {k: (m.status.value, m.fixed) for k, m in bullseye.items()} == {
        ("libc6", "CVE-2024-2961"): ("fixed", "2.31-13+deb11u9"),
        ("libc6", "CVE-2021-3999"): ("wont_fix", ""),
    }
    assert match(db, pkgs, OSRelease("debian", "10", "buster")) == {}


# --- Alpine 3.11 against the real secdb ----------------------------------------------

def _apk_lt(a: str, b: str) -> bool:
    """apk version order for the versions in this test (digits.dots + letter + -rN),
    written here independently of the matcher."""
    def key(v: str) -> tuple[Any, ...]:
        main, _, rel = v.rpartition("-r")
        nums, letter = [], ""
        for part in main.split("."):
            digits = "".join(c for c in part if c.isdigit())
            letter = part[len(digits):]
            nums.append(int(digits))
        return (nums, letter, int(rel))
    return key(a) < key(b)


def alpine_image(tmp: Path) -> str:
    base = layer_tar([f("etc/os-release", (DATA / "os-release-alpine").read_bytes()),
                      f("etc/alpine-release", "3.11.6\n"),
                      f("lib/apk/db/installed", (DATA / "apk-installed").read_bytes())])
    return docker_save(Image([base]), str(tmp / "alpine.tar"))


@pytest.mark.skipif(not SECDB_311.is_file(),
                    reason=f"{SECDB_311} absent (../shared/data is not in a fresh clone)")
def test_alpine_image_against_the_real_311_secdb(tmp_path: Path) -> None:
    snap = collect_image(ImageRequest(tar=alpine_image(tmp_path)), None)
    assert isinstance(snap.packages, tuple)
    db = tmp_path / "db.sqlite"
    source, advisories = imported(SECDB_311)
    assert source == "alpine-secdb-3.11-main"
    build_db(db, {source: advisories})
    found = match(db, list(snap.packages), snap.os_release
                  if isinstance(snap.os_release, OSRelease) else None)
    # expected: computed from the secdb JSON, by origin, independently of the matcher
    doc = json.loads(SECDB_311.read_text())
    fixes = {p["pkg"]["name"]: p["pkg"]["secfixes"] for p in doc["packages"]}
    expected = {}
    for pkg in snap.packages:
        for fixed, cves in fixes.get(pkg.source_name or pkg.name, {}).items():
            for cve in cves:
                if fixed == "0" or _apk_lt(pkg.version, fixed):
                    expected[pkg.name, cve.split()[0]] = "" if fixed == "0" else fixed
    assert {k: m.fixed for k, m in found.items()} == expected
    assert ("sdl", "CVE-2019-13616") in expected  # -r9 < -r12: numeric, not text order
    assert ("libssl1.1", "CVE-2019-1551") in expected  # by origin: openssl
    assert found["libssl1.1", "CVE-2019-1551"].source_package == "openssl"
    assert not any(p == "busybox" for p, _ in found)  # 1.31.1-r9 has every fix


# --- Django 2.2 (the real wheel's metadata) against the PyPA advisories --------------

def django_dist_info() -> dict[str, bytes]:
    """The `.dist-info` files of the real Django 2.2 wheel (downloaded once with pip
    into the test cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel = CACHE / "Django-2.2-py3-none-any.whl"
    if not wheel.is_file():
        with open(CACHE / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not wheel.is_file():
                proc = subprocess.run(
                    [sys.executable, "-m", "pip", "download", "django==2.2.0", "--no-deps",
                     "--only-binary", ":all:", "-d", str(CACHE), "-q"],
                    capture_output=True, text=True, timeout=300)
                if proc.returncode != 0 or not wheel.is_file():
                    pytest.skip("cannot download django==2.2.0 with pip: "
                                f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(n) for n in zf.namelist() if ".dist-info/" in n}


def django_image(tmp: Path) -> str:
    files = django_dist_info()
    site = "usr/local/lib/python3.7/site-packages/"
    base = layer_tar([f("etc/os-release", (DATA / "os-release-debian").read_bytes())])
    app = layer_tar([f(site + name, data) for name, data in sorted(files.items())]
                    + [f(site + "django/__init__.py", "VERSION = (2, 2, 0, 'final', 0)\n")])
    return docker_save(Image([base, app], history=[
        {"created_by": "ADD rootfs.tar.xz /"},
        {"created_by": "RUN pip install django==2.2.0"}]), str(tmp / "django.tar"))


def pypa_expected(version: str, name: str = "django") -> dict[str, set[str]]:
    """Advisory id -> its ids, for every PyPA advisory whose ranges or version lists
    include `version`: a plain PEP 440 walk with `packaging`, independent of the
    matcher."""
    v = Version(version)
    out: dict[str, set[str]] = {}
    with zipfile.ZipFile(PYPA_ZIP) as zf:
        for member in zf.namelist():
            doc = json.loads(zf.read(member))
            if doc.get("withdrawn"):
                continue
            hit = False
            for aff in doc.get("affected", []):
                pkg = aff.get("package", {})
                norm = pkg.get("name", "").lower().replace("_", "-").replace(".", "-")
                if pkg.get("ecosystem") != "PyPI" or norm != name:
                    continue
                for listed in aff.get("versions", []):
                    try:
                        hit = hit or Version(listed) == v
                    except InvalidVersion:
                        hit = hit or listed == version
                for rng in aff.get("ranges", []):
                    if rng["type"] not in ("ECOSYSTEM", "SEMVER"):
                        continue
                    events = sorted(
                        ((Version("0") if e.get("introduced") == "0" else
                          Version(next(iter(e.values())))), next(iter(e)))
                        for e in rng["events"])
                    inside = False
                    for at, kind in events:
                        if kind == "introduced" and v >= at:
                            inside = True
                        elif (kind == "fixed" and v >= at) or (kind == "last_affected" and v > at):
                            inside = False
                    hit = hit or inside
            if hit:
                out[doc["id"]] = {doc["id"], *doc.get("aliases", [])}
    return out


def pypa_db(path: Path) -> Path:
    from dockwarden.vuln.importers.detect import import_any

    got = import_any(PYPA_ZIP)
    assert got.source == "osv-PyPI"
    return build_db(path, {got.source: got.advisories})


needs_pypa = pytest.mark.skipif(
    not PYPA_ZIP.is_file(), reason=f"{PYPA_ZIP} absent (../shared/data is not in a fresh "
    "clone): the PyPA advisory test needs it")


@needs_pypa
def test_django_22_image_findings_equal_the_pypa_advisories(tmp_path: Path) -> None:
    image = django_image(tmp_path)
    db = pypa_db(tmp_path / "db.sqlite")
    snap = collect_image(ImageRequest(tar=image), None)
    assert isinstance(snap.packages, tuple)
    assert [(p.type, p.name, p.version) for p in snap.packages] == [("pypi", "django", "2.2")]
    found = match(db, list(snap.packages), None)
    expected = pypa_expected("2.2")
    assert len(expected) > 20  # Django 2.2.0 has many published advisories
    # id for id: every PYSEC advisory that includes 2.2 is in exactly one finding...
    reported = [i for m in found.values() for i in m.ids if i.startswith("PYSEC-")]
    assert sorted(reported) == sorted(expected)
    # ... with all of its aliases, and a finding is named by its CVE when it has one
    for m in found.values():
        ids = set(m.ids)
        for adv, names in expected.items():
            if adv in ids:
                assert names <= ids
        cves = sorted(i for i in ids if i.startswith("CVE-"))
        assert m.id == (cves[0] if cves else m.ids[0])
        assert (m.package, m.installed, m.layer, m.package_type) == ("django", "2.2", 1,
                                                                     "pypi")
        assert m.status is Status.FIXED and m.fixed.startswith(("2.2.", "1.11.", "3."))
        assert scheme("PyPI").lt("2.2", m.fixed)


# --- the CLI, live ---------------------------------------------------------------------

def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "dockwarden", "image", *args, "--format", "json",
         "--fail-on", "none", "--no-progress"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, report, proc.stderr


def by_check(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [x for x in report["findings"] if x["check"] == check]


@needs_pypa
def test_cli_reports_dw310_with_fixed_versions(tmp_path: Path) -> None:
    image = django_image(tmp_path)
    db = pypa_db(tmp_path / "db.sqlite")
    code, report, err = cli("--tar", image, "--db", str(db))
    assert code == 0, err
    found = by_check(report, "DW310")
    reported = sorted(i for x in found for i in x["evidence"]["ids"] if i.startswith("PYSEC-"))
    assert reported == sorted(pypa_expected("2.2"))
    cve = next(x for x in found if x["evidence"]["id"] == "CVE-2019-12308")
    ev = cve["evidence"]
    assert (ev["package"], ev["installed"], ev["fixed"], ev["status"]) == \
        ("django", "2.2", "2.2.2", "fixed")
    assert ev["path"].endswith("Django-2.2.dist-info/METADATA") and ev["layer"] == 1
    assert ev["created_by"] == "RUN pip install django==2.2.0"
    assert "PYSEC-2019-79" in ev["ids"]
    assert cve["severity"] == "unknown"  # PyPA advisories carry no severity
    assert cve["message"] == "django 2.2: CVE-2019-12308 (fixed in 2.2.2)"
    assert report["warnings"] == [] and report["errors"] == []
    assert not any(s["check"] in ("DW309", "DW310") for s in report["skipped"])
    # DOCKWARDEN_DB is the default for --db
    code, same, _ = cli("--tar", image, env={"DOCKWARDEN_DB": str(db)})
    assert len(by_check(same, "DW310")) == len(found)


def test_cli_without_a_database_says_how_to_get_one_and_runs_the_rest(tmp_path: Path) -> None:
    """No database asked for and none at the default path: DW309/DW310 are skipped with
    how to get one, every other check runs, exit 0."""
    image = debian_image(tmp_path)
    default = tmp_path / "cache" / "dockwarden" / "vulndb.sqlite"
    code, report, err = cli("--tar", image, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert code == 0, err
    skipped = {s["check"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"DW309", "DW310", "DW311"}  # DW311: no registry, no signature
    assert "dockwarden db update" in skipped["DW309"]
    assert "dockwarden db import" in skipped["DW309"]
    assert str(default) in skipped["DW309"]
    assert report["summary"]["passed"] > 10  # every other image check ran
    assert report["errors"] == []


def test_cli_with_a_missing_database_fails_closed_and_runs_the_rest(tmp_path: Path) -> None:
    """A database that was asked for (--db) but is missing: DW309/DW310 are errors, the
    report is incomplete and the exit code 3, never a pass; the other checks still ran."""
    image = debian_image(tmp_path)
    code, report, err = cli("--tar", image, "--db", str(tmp_path / "missing.sqlite"))
    assert code == 3, err
    assert report["complete"] is False
    assert not any(s["check"] in ("DW309", "DW310") for s in report["skipped"])
    message = " ".join(e["message"] for e in report["errors"])
    assert "DW309/DW310 not judged" in message and "dockwarden db update" in message
    assert str(tmp_path / "missing.sqlite") in message
    assert report["summary"]["passed"] > 10


def test_cli_warns_about_a_stale_database(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"debian-tracker": tracker_advisories()},
                  imported=NOW - dt.timedelta(days=30))
    image = debian_image(tmp_path)
    code, report, err = cli("--tar", image, "--db", str(db))
    assert code == 0, err
    assert len(report["warnings"]) == 1
    w = report["warnings"][0]["message"]
    assert "30 days old" in w and "--max-db-age 7" in w and "dockwarden db update" in w
    assert by_check(report, "DW309")  # a stale database is still used
    _, fresh_enough, _ = cli("--tar", image, "--db", str(db), "--max-db-age", "45")
    assert fresh_enough["warnings"] == []
    _, never, _ = cli("--tar", image, "--db", str(db), "--max-db-age", "0")
    assert never["warnings"] == []


def test_cli_vex_and_ignore_suppress_and_count(tmp_path: Path) -> None:
    db = debian_db(tmp_path / "db.sqlite")
    image = debian_image(tmp_path)
    code, full, err = cli("--tar", image, "--db", str(db))
    assert code == 0, err
    total = len(by_check(full, "DW309"))
    assert total == len(DEBIAN_EXPECTED)
    vex = tmp_path / "image.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1",
        "author": "ops", "timestamp": "2024-05-01T00:00:00Z", "version": 1,
        "statements": [
            {"vulnerability": {"name": "DSA-5655-1"},  # an alias of CVE-2024-2961
             "products": [{"@id": "pkg:deb/debian/libc6@2.36-9+deb12u3?arch=amd64"}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": "CVE-2023-5363"},
             "products": [{"@id": "debian.tar",
                           "subcomponents": [{"@id": "pkg:deb/debian/libssl3"},
                                             {"@id": "pkg:deb/debian/openssl"}]}],
             "status": "fixed"},
            {"vulnerability": {"name": "CVE-2023-5678"}, "products": [
                {"@id": "pkg:deb/debian/libssl3"}], "status": "under_investigation"},
        ]}))
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "- id: CVE-2010-4756\n  package: libc*\n  reason: glob DoS needs local input\n"
        "- check: CVE-2023-45853\n  reason: minizip is not built\n  expires: 2020-01-01\n")
    code, report, err = cli("--tar", image, "--db", str(db), "--vex", str(vex),
                            "--ignore", str(ignore))
    assert code == 0, err
    kept = {(x["evidence"]["package"], x["evidence"]["id"]) for x in by_check(report, "DW309")}
    ignored = {(x["evidence"]["package"], x["evidence"]["id"]): x["reason"]
               for x in report["ignored"]}
    assert ignored == {
        ("libc6", "CVE-2024-2961"): "VEX " + str(vex) + ": not_affected: "
                                    "vulnerable_code_not_in_execute_path",
        ("libssl3", "CVE-2023-5363"): f"VEX {vex}: fixed",
        ("openssl", "CVE-2023-5363"): f"VEX {vex}: fixed",
        ("libc6", "CVE-2010-4756"): "glob DoS needs local input",
        ("libc-bin", "CVE-2010-4756"): "glob DoS needs local input",
    }
    assert len(kept) + len(ignored) == total and not kept & set(ignored)
    assert ("libc-bin", "CVE-2024-2961") in kept  # the VEX statement named libc6 only
    assert ("zlib1g", "CVE-2023-45853") in kept  # the ignore entry expired ...
    assert report["summary"]["ignored"] == 5
    assert [w["message"] for w in report["warnings"]] == [  # ... and the report says so
        "ignore entry 2 (id CVE-2023-45853) expired on 2020-01-01: it no longer suppresses "
        "1 finding(s)"]


@pytest.mark.parametrize("content", [
    b"{not json", b"[]", b'{"@context": "https://openvex.dev/ns", "statements": 3}',
    b'{"@context": "https://openvex.dev/ns", "statements": [{"vulnerability": "CVE-1", '
    b'"status": "pwned"}]}',
    b"[" * 100_000 + b"]" * 100_000,
    b"\xff\xfe\x00",
], ids=["not-json", "a-list", "statements-not-a-list", "unknown-status", "deep", "not-utf8"])
def test_cli_hostile_vex_is_a_one_line_error(tmp_path: Path, content: bytes) -> None:
    vex = tmp_path / "bad.json"
    vex.write_bytes(content)
    code, report, err = cli("--tar", debian_image(tmp_path), "--vex", str(vex))
    assert code == 2 and report == {}
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"dockwarden: error: {vex}: not a usable OpenVEX document")
    assert "Traceback" not in err and len(lines) <= 2


@pytest.mark.parametrize(("status", "severity", "shown", "said"), [
    (Status.FIXED, "high", "high", "(fixed in 1.3)"),
    (Status.AFFECTED, "high", "high", "(no fix yet)"),
    (Status.WONT_FIX, "high", "medium", "(will not be fixed in this release)"),
    (Status.WONT_FIX, "", "low", "(will not be fixed in this release)"),
])
def test_each_status_reads_and_weighs_as_it_should(status: Status, severity: str,
                                                    shown: str, said: str) -> None:
    from dockwarden.checks.vuln import _message, severity_of
    from dockwarden.model.vuln import VulnMatch

    m = VulnMatch(id="CVE-1", ids=("CVE-1",), package_type="deb", package="p",
                  installed="1.2", source_package="", fixed="1.3" if status is Status.FIXED
                  else "", status=status, severity=severity, cvss_score=None, summary="",
                  layer=0, path="/var/lib/dpkg/status", sources=("x",))
    assert severity_of(m).value == shown
    assert _message(m) == f"p 1.2: CVE-1 {said}"
