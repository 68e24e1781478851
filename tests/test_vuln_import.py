"""Importers: OSV (zip, folder, file), Debian security tracker JSON, Alpine secdb, and the
detector, on the real data in ../shared/data and on small fixtures of our own."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Status
from dockwarden.vuln.importers import (
    ImportStats,
    alpine_secdb,
    debian_tracker,
    describe,
    expand,
    import_any,
    osv,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PYPA_ZIP = SHARED / "osv-pypi-pypa-advisory-database.zip"
SECDB = SHARED / "alpine-secdb"
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


# --- Debian security tracker JSON -------------------------------------------------------

@pytest.fixture(scope="module")
def tracker() -> tuple[dict[str, Advisory], ImportStats]:
    stats = ImportStats()
    data = (FIXTURES / "debian-tracker.json").read_bytes()
    return by_id(list(debian_tracker.iter_tracker(data, "tracker", stats))), stats


def rows(adv: Advisory) -> set[tuple[str, str, Status, str, str, str]]:
    return {(a.name, a.release, a.status, a.fixed, a.severity, a.note) for a in adv.affected}


def test_tracker_resolved_is_fixed_and_version_0_is_not_affected(
        tracker: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = tracker[0]["CVE-2023-4911"]
    assert adv.source == "debian-tracker"
    assert rows(adv) == {
        ("glibc", "bookworm", Status.FIXED, "2.36-9+deb12u3", "not yet assigned", ""),
        ("glibc", "bullseye", Status.FIXED, "2.31-13+deb11u7", "not yet assigned", ""),
        ("glibc", "sid", Status.FIXED, "2.37-12", "not yet assigned", ""),
        ("glibc", "trixie", Status.FIXED, "2.37-12", "not yet assigned", "")}
    assert adv.references == ("https://security-tracker.debian.org/tracker/CVE-2023-4911",)
    assert adv.summary.startswith("A buffer overflow was discovered")
    fixed = next(a for a in adv.affected if a.release == "bookworm")
    assert [(e.introduced, e.fixed) for e in fixed.ranges[0].events] == [
        ("0", ""), ("", "2.36-9+deb12u3")]
    assert tracker[1].skipped["not affected"] == 1  # buster, fixed_version "0"


def test_tracker_open_unimportant_is_affected(
        tracker: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = tracker[0]["CVE-2010-4756"]
    assert rows(adv) == {("glibc", "bookworm", Status.AFFECTED, "", "unimportant", ""),
                         ("glibc", "trixie", Status.AFFECTED, "", "unimportant", "")}
    assert [len(a.ranges[0].events) for a in adv.affected] == [1, 1]  # introduced 0 only


def test_tracker_ignored_postponed_and_no_dsa_are_wont_fix(
        tracker: tuple[dict[str, Advisory], ImportStats]) -> None:
    advs = tracker[0]
    assert rows(advs["CVE-2023-45853"]) == {
        ("zlib", "bookworm", Status.WONT_FIX, "", "not yet assigned",
         "ignored: contrib/minizip not built and src:zlib not producing binary packages"),
        ("zlib", "trixie", Status.FIXED, "1:1.3.dfsg-2", "not yet assigned", "")}
    assert rows(advs["CVE-2023-5678"]) == {
        ("openssl", "bookworm", Status.WONT_FIX, "", "not yet assigned",
         "postponed: Minor issue"),
        ("openssl", "bullseye", Status.WONT_FIX, "", "not yet assigned", "no-dsa: Minor issue"),
        ("openssl", "trixie", Status.FIXED, "3.1.4-1", "not yet assigned", "")}


def test_tracker_one_advisory_across_source_packages(
        tracker: tuple[dict[str, Advisory], ImportStats]) -> None:
    adv = tracker[0]["CVE-2024-26581"]
    assert rows(adv) == {
        ("linux", "bookworm", Status.FIXED, "6.1.82-1", "high", ""),
        ("linux", "bullseye", Status.AFFECTED, "", "high", ""),  # "high**": marks dropped
        ("linux", "buster", Status.WONT_FIX, "", "end-of-life", "end-of-life"),
        ("linux-signed-amd64", "bookworm", Status.FIXED, "6.1.82+1", "high", "")}
    assert adv.summary == "In the Linux kernel, the following vulnerability has been resolved:"


def test_tracker_undetermined_temp_ids_and_counts(
        tracker: tuple[dict[str, Advisory], ImportStats]) -> None:
    advs, stats = tracker
    assert rows(advs["CVE-2024-2398"]) == {
        ("curl", "bookworm", Status.AFFECTED, "", "not yet assigned", "undetermined")}
    assert rows(advs["TEMP-0000000-A1B2C3"]) == {
        ("curl", "bookworm", Status.AFFECTED, "", "low", "")}
    assert rows(advs["CVE-2023-28879"]) == {
        ("ghostscript", "bookworm", Status.FIXED, "10.0.0~dfsg-11", "not yet assigned", ""),
        ("ghostscript", "bullseye", Status.FIXED, "9.53.3~dfsg-7+deb11u5",
         "not yet assigned", "")}
    assert len(advs) == stats.advisories == 8
    assert stats.documents == 9  # (package, issue) pairs
    assert all(a.ecosystem == "Debian" for adv in advs.values() for a in adv.affected)


@pytest.mark.parametrize("data, message", [
    (b"[1, 2]", "not a JSON object"),
    (b'{"glibc": {"CVE-1": {"releases": {}}}, ', "not valid JSON"),
    (b'{"a": 1, "b": {"c": 2}}', "not the Debian security tracker"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_tracker_refuses_what_it_is_not(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        list(debian_tracker.iter_tracker(data, "t.json", ImportStats()))


# --- Alpine secdb -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_secdb() -> dict[str, tuple[list[Advisory], ImportStats, dict[str, Any]]]:
    if not SECDB.is_dir():
        pytest.skip(f"real Alpine secdb data not found at {SECDB} (../shared/data is absent "
                    "in a fresh clone)")
    out = {}
    for path in sorted(SECDB.glob("v3.1[01]-*.json")):
        doc = json.loads(path.read_bytes())
        stats = ImportStats()
        out[path.stem] = (list(alpine_secdb.iter_secdb(doc, str(path), stats)), stats, doc)
    assert len(out) == 4
    return out


@pytest.mark.parametrize("stem, release, repo", [
    ("v3.10-main", "3.10", "main"), ("v3.10-community", "3.10", "community"),
    ("v3.11-main", "3.11", "main"), ("v3.11-community", "3.11", "community")])
def test_real_secdb_every_cve_imported(
        real_secdb: dict[str, tuple[list[Advisory], ImportStats, dict[str, Any]]],
        stem: str, release: str, repo: str) -> None:
    advisories, stats, doc = real_secdb[stem]
    assert {a.source for a in advisories} == {f"alpine-secdb-{release}-{repo}"}
    assert all((af.ecosystem, af.release) == ("Alpine", release)
               for a in advisories for af in a.affected)
    # Independently: every (package, CVE) pair the file mentions is imported, fixed at
    # the highest version listing it.
    want: dict[tuple[str, str], set[str]] = {}
    for item in doc["packages"]:
        for version, entries in (item["pkg"].get("secfixes") or {}).items():
            for entry in entries or ():
                for year, num in re.findall(r"CVE[-_](\d{4})-(\d{4,})", entry):
                    want.setdefault((item["pkg"]["name"].lower(), f"CVE-{year}-{num}"),
                                    set()).add(version)
    got = {(af.name, a.id): af for a in advisories for af in a.affected
           if a.id.startswith("CVE-")}
    assert set(got) == set(want)
    for key, versions in want.items():
        assert got[key].fixed in versions and got[key].status == Status.FIXED
    assert stats.advisories == len(advisories)


def test_real_secdb_311_main_examples(
        real_secdb: dict[str, tuple[list[Advisory], ImportStats, dict[str, Any]]]) -> None:
    advisories, stats, _ = real_secdb["v3.11-main"]
    advs = by_id(advisories)
    assert len(advisories) == 1123
    assert advs["CVE-2017-12122"].aliases == ("TALOS-2017-0488",)
    [aff] = advs["CVE-2017-12122"].affected
    assert (aff.name, aff.fixed) == ("sdl2_image", "2.0.3-r0")
    assert advs["CVE-2018-10103"].summary == "SMB - partially fixed, but SMB printing disabled"
    assert "XSA-207" in advs  # a Xen advisory without a CVE is its own advisory
    assert stats.skipped == {}  # every entry of the real file names an id


@pytest.fixture(scope="module")
def own_secdb() -> tuple[dict[str, Advisory], ImportStats]:
    path = FIXTURES / "alpine-secdb-v3.19-main.json"
    stats = ImportStats()
    advs = alpine_secdb.iter_secdb(json.loads(path.read_bytes()), str(path), stats)
    return by_id(list(advs)), stats


def test_secdb_version_0_means_not_affected(
        own_secdb: tuple[dict[str, Advisory], ImportStats]) -> None:
    # "0" is where Alpine records CVEs that never applied to its package
    assert "CVE-2021-42373" not in own_secdb[0]
    assert own_secdb[1].skipped["not affected (secfixes version 0)"] == 1


def test_secdb_free_text_entries(own_secdb: tuple[dict[str, Advisory], ImportStats]) -> None:
    advs, stats = own_secdb
    assert advs["CVE-2023-6129"].affected[0].fixed == "3.1.4-r5"  # two CVEs in one entry:
    assert advs["CVE-2023-6237"].affected[0].fixed == "3.1.4-r5"  # two advisories
    assert advs["CVE-2023-6129"].aliases == ()
    assert advs["CVE-2023-5363"].affected[0].fixed == "3.1.4-r0"  # highest of -1 suffix
    assert advs["CVE-2023-46837"].aliases == ("XSA-447",)
    assert advs["XSA-448"].affected[0].fixed == "4.18.0-r2"
    assert advs["XSA-999"].affected[0].fixed == "4.17.2-r0"  # CVE-????-????? placeholder
    assert advs["CVE-2023-46695"].affected[0].name == "py3-django"  # CVE_ typo, name lower
    assert advs["CVE-2023-42364"].source == "alpine-secdb-3.19-main"
    assert stats.skipped == {"entry without an advisory id": 1,
                             "not a secdb package entry": 1,
                             "not affected (secfixes version 0)": 1}
    assert len(advs) == 11


def test_secdb_refuses_other_json() -> None:
    with pytest.raises(InputError, match="not an Alpine secdb file"):
        list(alpine_secdb.iter_secdb({"packages": "x"}, "f.json", ImportStats()))


# --- detection ----------------------------------------------------------------------------

def test_detect_osv_zip(tmp_path: Path) -> None:
    path = tmp_path / "all.zip"
    path.write_bytes(zip_bytes({"a.json": json.dumps(osv_doc("GO-1", "Go", "x/y"))}))
    imported = import_any(path)
    assert (imported.kind, imported.source) == ("osv-zip", "osv-Go")
    assert [a.id for a in imported.advisories] == ["GO-1"]
    assert describe(imported) == "osv-Go (osv-zip): 1 advisories from 1 documents"



def test_detect_real_pypa_zip() -> None:
    if not PYPA_ZIP.is_file():
        pytest.skip(f"real PyPA OSV data not found at {PYPA_ZIP}")
    imported = import_any(PYPA_ZIP)
    assert (imported.kind, imported.source) == ("osv-zip", "osv-PyPI")


def test_detect_osv_dir_and_file() -> None:
    imported = import_any(FIXTURES / "osv")
    assert (imported.kind, imported.source) == ("osv-dir", "osv-Alpine")  # first file's
    assert len(list(imported.advisories)) == 9
    one = import_any(FIXTURES / "osv" / "GO-2022-0969.json")
    assert (one.kind, one.source) == ("osv-json", "osv-Go-GO-2022-0969")
    assert [a.id for a in one.advisories] == ["GO-2022-0969"]
    named = import_any(FIXTURES / "osv" / "GO-2022-0969.json", source="mine")
    assert named.source == "mine" and next(named.advisories).source == "mine"


def test_detect_tracker_and_secdb() -> None:
    imported = import_any(FIXTURES / "debian-tracker.json")
    assert (imported.kind, imported.source) == ("debian-tracker", "debian-tracker")
    assert len(list(imported.advisories)) == 8
    imported = import_any(FIXTURES / "alpine-secdb-v3.19-main.json")
    assert (imported.kind, imported.source) == ("alpine-secdb", "alpine-secdb-3.19-main")
    if SECDB.is_dir():
        assert import_any(SECDB / "v3.10-community.json").source == \
            "alpine-secdb-3.10-community"
        assert expand(SECDB) == sorted(SECDB.glob("*.json"))
    assert expand(FIXTURES / "osv") == [FIXTURES / "osv"]


@pytest.mark.parametrize("content, message", [
    (b"", "not a zip archive or JSON"),
    (b"<html><body>Not Found</body></html>", "not a zip archive or JSON"),
    (b"{garbage", "not valid JSON"),
    (b'{"hello": "world"}', "not a vulnerability data format"),
    (b"[1, 2, 3]", "not of OSV documents"),
    (b'{"affected": [{"package": {"ecosystem": "Hex", "name": "x"}}], "id": "X-1", '
     b'"modified": "2024-01-01T00:00:00Z"}', "no advisory names an ecosystem"),
    (b"PK\x03\x04 truncated", "not a zip archive"),
])
def test_detect_refuses(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        imported = import_any(path)
        list(imported.advisories)


def test_detect_folder_without_osv(tmp_path: Path) -> None:
    (tmp_path / "main.json").write_bytes((FIXTURES / "alpine-secdb-v3.19-main.json").read_bytes())
    with pytest.raises(InputError, match="a folder without OSV JSON files"):
        import_any(tmp_path)
    assert expand(tmp_path) == [tmp_path / "main.json"]


def test_detect_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_any(tmp_path / "absent.json")


# --- the benchmark's synthetic Debian set -------------------------------------------------

def test_synthetic_debian_set_is_deterministic_and_imports(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from _vulndata import installed, synthetic_debian_osv_zip
    finally:
        sys.path.pop(0)
    a = synthetic_debian_osv_zip(tmp_path / "a.zip", n=300, seed=7)
    b = synthetic_debian_osv_zip(tmp_path / "b.zip", n=300, seed=7)
    assert a.read_bytes() == b.read_bytes()
    imported = import_any(a)
    assert (imported.kind, imported.source) == ("osv-zip", "osv-Debian")
    advisories = list(imported.advisories)
    assert len(advisories) == 300 and not imported.stats.skipped
    affected = [af for adv in advisories for af in adv.affected]
    assert {af.release for af in affected} == {"bullseye", "bookworm", "trixie"}
    assert any(":" in af.fixed for af in affected)  # epochs
    assert any(v.endswith("+b1") for af in affected for v in af.versions)
    assert {af.status for af in affected} == {Status.FIXED, Status.AFFECTED}
    assert all(adv.aliases == (adv.id.removeprefix("DEBIAN-"),) for adv in advisories)
    pairs = installed(50, seed=7)
    assert len(pairs) == 50 and pairs == installed(50, seed=7)
