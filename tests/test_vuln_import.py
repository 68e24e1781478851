"""Importers: OSV (zip, folder, file), Debian security tracker JSON, Alpine secdb, and the
detector, on the real data in ../shared/data and on small fixtures of our own."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Status
from dockwarden.vuln.importers import ImportStats, osv

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PYPA_ZIP = SHARED / "osv-pypi-pypa-advisory-database.zip"
FIXTURES = Path(__file__).parent / "data" / "vuln"

def by_id(advisories: list[Advisory]) -> dict[str, Advisory]:
    return {a.id: a for a in advisories}


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def osv_doc(id: str, ecosystem: str, name: str, **extra: Any) -> dict[str, Any]:
    affected = {"package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]}
    return {"id": id, "modified": "2024-01-01T00:00:00Z", "affected": [affected], **extra}


# --- OSV: the real PyPA advisory database ---------------------------------------------

@pytest.fixture(scope="module")
def pypa() -> tuple[list[Advisory], ImportStats]:
    if not PYPA_ZIP.is_file():
        pytest.skip(f"real PyPA OSV data not found at {PYPA_ZIP} (../shared/data is absent "
                    "in a fresh clone)")
    stats = ImportStats()
    return list(osv.iter_zip(PYPA_ZIP, "osv-PyPI", stats)), stats


def test_pypa_zip_imports_every_advisory(pypa: tuple[list[Advisory], ImportStats]) -> None:
    advisories, stats = pypa
    assert len(advisories) == 2661
    assert stats.documents == 2661 and not stats.skipped
    assert len({a.id for a in advisories}) == 2661
    assert all(af.ecosystem == "PyPI" and af.release == "" for a in advisories
               for af in a.affected)


def test_pypa_advisory_fields(pypa: tuple[list[Advisory], ImportStats]) -> None:
    adv = by_id(pypa[0])["PYSEC-2021-76"]
    assert adv.source == "osv-PyPI"
    assert set(adv.aliases) == {"CVE-2021-21330", "GHSA-v6wp-4m6f-gcjg"}
    assert adv.summary.startswith("aiohttp is an asynchronous HTTP client/server framework")
    [aff] = adv.affected
    assert (aff.name, aff.fixed, aff.status) == ("aiohttp", "3.7.4", Status.FIXED)
    assert [r.type for r in aff.ranges] == ["GIT", "ECOSYSTEM"]  # GIT kept, never matched
    assert "3.7.3" in aff.versions and "3.7.4" not in aff.versions
    assert adv.references


def test_pypa_cvss_scored_and_withdrawn_kept(pypa: tuple[list[Advisory], ImportStats]) -> None:
    advisories = pypa[0]
    scored = [a for a in advisories if a.cvss_vector]
    assert len(scored) == 202  # every CVSS_V3 vector of the data parses
    for a in scored:
        assert a.cvss_score is not None and a.severity in ("critical", "high", "medium", "low")
    adv = by_id(advisories)["PYSEC-2022-43059"]
    assert adv.cvss_vector == "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"
    assert (adv.cvss_score, adv.severity) == (5.5, "medium")
    assert adv.withdrawn == "2023-11-08T00:54:24Z"
    assert adv.affected[0].status == Status.AFFECTED and adv.affected[0].fixed == ""
    assert sum(1 for a in advisories if a.withdrawn) == 10


def test_pypa_names_are_pep503_normalised(pypa: tuple[list[Advisory], ImportStats]) -> None:
    advisories = pypa[0]
    names = {af.name for a in advisories for af in a.affected}
    assert all(n == n.lower() and "_" not in n and "." not in n for n in names)
    assert "pyyaml" in names and "django" in names


# --- OSV: our own fixtures for the other ecosystems -------------------------------------

@pytest.fixture(scope="module")
def own_osv() -> tuple[dict[str, Advisory], ImportStats]:
    stats = ImportStats()
    return by_id(list(osv.iter_dir(FIXTURES / "osv", "osv-test", stats))), stats


def test_osv_debian_release_by_codename_and_upstream_alias(
        own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = own_osv[0]["DEBIAN-CVE-2023-4911"]
    assert adv.aliases == ("CVE-2023-4911",)
    got = {(a.ecosystem, a.name, a.release, a.fixed, a.severity) for a in adv.affected}
    assert got == {("Debian", "glibc", "bookworm", "2.36-9+deb12u3", "high"),
                   ("Debian", "glibc", "bullseye", "2.31-13+deb11u7", "high"),
                   ("Debian", "glibc", "trixie", "2.37-12", "")}
    assert (adv.cvss_score, adv.severity) == (7.8, "high")


def test_osv_debian_unfixed_keeps_versions(
        own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = own_osv[0]["DEBIAN-CVE-2024-0001"]
    [aff] = adv.affected
    assert (aff.status, aff.fixed, aff.severity) == (Status.AFFECTED, "", "unimportant")
    assert aff.versions == ("4.5.0-6", "4.5.0-6+deb12u1")
    assert adv.summary == "Out-of-bounds read in the TIFF directory parser."
    assert adv.severity == "low"  # no CVSS: the distribution's urgency


def test_osv_ubuntu_release_and_pro(own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = own_osv[0]["UBUNTU-CVE-2024-6387"]
    got = {(a.release, a.status, a.fixed, a.severity, a.note) for a in adv.affected}
    assert got == {("22.04", Status.FIXED, "1:8.9p1-3ubuntu0.10", "high", ""),
                   ("18.04", Status.AFFECTED, "", "high", "Ubuntu Pro")}
    assert adv.summary == "Signal handler race condition in OpenSSH's server (sshd)"
    assert (adv.cvss_score, adv.severity) == (8.1, "high")


def test_osv_alpine_release(own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = own_osv[0]["ALPINE-CVE-2023-5363"]
    assert {(a.ecosystem, a.release, a.fixed) for a in adv.affected} == {
        ("Alpine", "3.18", "3.1.4-r0"), ("Alpine", "3.19", "3.1.4-r0")}


def test_osv_language_ecosystems(own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    advs = own_osv[0]
    npm = advs["GHSA-35jh-r3h4-6jhm"]
    assert {(a.ecosystem, a.name, a.status) for a in npm.affected} == {
        ("npm", "lodash", Status.FIXED), ("npm", "lodash.template", Status.AFFECTED)}
    assert npm.severity == "high" and npm.cvss_score is None  # database_specific.severity
    go = advs["GO-2022-0969"]
    assert {(a.name, a.fixed) for a in go.affected} == {
        ("golang.org/x/net", "0.0.0-20220906165146-f3363e06e74c"), ("stdlib", "1.18.6")}
    assert [r.type for r in go.affected[1].ranges] == ["SEMVER"]
    assert len(go.affected[1].ranges[0].events) == 4
    maven = advs["GHSA-jfh8-c2jp-5v3q"]
    [aff] = maven.affected
    assert (aff.ecosystem, aff.name, aff.fixed) == (
        "Maven", "org.apache.logging.log4j:log4j-core", "2.15.0")
    assert (maven.cvss_score, maven.severity) == (10.0, "critical")
    crate = advs["RUSTSEC-2023-0044"]
    assert crate.affected[0].ecosystem == "crates.io"
    assert crate.cvss_vector.startswith("CVSS:4.0/") and crate.severity == "medium"
    gem = advs["GHSA-hrqr-hxpp-chr3"]
    assert (gem.affected[0].ecosystem, gem.affected[0].name) == ("RubyGems", "actionpack")
    assert gem.severity == "medium"  # "moderate"


def test_osv_other_ecosystems_skipped_and_counted(
        own_osv: tuple[dict[str, Advisory], ImportStats]) -> None:
    advs, stats = own_osv
    assert "GHSA-7rv4-23f6-9vx5" not in advs
    assert stats.skipped == {"ecosystem Packagist not imported": 1}
    assert stats.documents == 10 and stats.advisories == 9
    assert "skipped 1 (1 ecosystem Packagist not imported)" in stats.summary()


# --- OSV: hostile input -------------------------------------------------------------------

def test_osv_zip_skips_garbage_members(tmp_path: Path) -> None:
    good = json.dumps(osv_doc("GHSA-aaaa-bbbb-cccc", "PyPI", "Django"))
    path = tmp_path / "all.zip"
    path.write_bytes(zip_bytes({
        "good.json": good, "garbage.json": b"{not json", "binary.json": b"\xff\xfe\x00",
        "list.json": "[1, 2]", "noid.json": '{"affected": []}', "README.txt": "ignored"}))
    stats = ImportStats()
    [adv] = list(osv.iter_zip(path, "osv-PyPI", stats))
    assert adv.affected[0].name == "django"
    assert stats.skipped == {"not JSON": 2, "not an OSV document": 2}
    assert stats.documents == 5
    assert any("garbage.json" in p for p in stats.problems)


def test_osv_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "all.zip"
    path.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(InputError, match="not a zip archive"):
        list(osv.iter_zip(path, "osv-PyPI", ImportStats()))


def test_osv_truncated_zip(tmp_path: Path) -> None:
    data = zip_bytes({f"GHSA-{i}.json": json.dumps(osv_doc(f"GHSA-{i}", "npm", "x"))
                      for i in range(50)})
    path = tmp_path / "all.zip"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a zip archive"):
        list(osv.iter_zip(path, "osv-npm", ImportStats()))


def test_osv_corrupt_member(tmp_path: Path) -> None:
    doc = json.dumps(osv_doc("GHSA-1", "npm", "x", details="y" * 5000)).encode()
    data = bytearray(zip_bytes({"GHSA-1.json": doc}))
    start = data.index(b"GHSA-1.json") + len("GHSA-1.json")
    for i in range(start + 10, start + 60):  # flip bytes inside the deflated data
        data[i] ^= 0x5A
    path = tmp_path / "all.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged archive"):
        list(osv.iter_zip(path, "osv-npm", ImportStats()))


def test_osv_zip_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("GHSA-bomb.json", "w", force_zip64=True) as fh:
        for _ in range(40):  # 40 MiB of spaces, about 40 KiB compressed
            fh.write(b" " * (1 << 20))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InputError, match="decompression bomb"):
        list(osv.iter_zip(path, "osv-npm", ImportStats()))
