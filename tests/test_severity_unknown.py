"""Vulnerability severity told honestly (issue 13, item 5).

A vulnerability that no source scores is `unknown` in every format (never silently
medium), sorts between high and medium, and fails `--fail-on high` unless
`--unknown-severity` weighs it lower; a CVE that another imported source scores takes
that score; DW309/DW310 are skipped, naming what to import, when the database holds no
data for the image's OS release or language ecosystem. Real data: the Django 2.2 wheel's
metadata against the PyPA advisories (which carry no severity), the Debian image of
tests/test_vuln_match.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Report, ReportTarget, Target
from dockwarden.model.image import OSRelease, Package
from dockwarden.model.vuln import Advisory, Affected, Event, Range, Status, VulnMatch
from dockwarden.vuln.db import VulnDB
from dockwarden.vuln.match import Matcher
from test_vuln_match import (
    BOOKWORM,
    PYPA_ZIP,
    ROOT,
    build_db,
    deb,
    debian_db,
    debian_image,
    django_image,
    imported,
    pypa_db,
)

needs_pypa = pytest.mark.skipif(
    not PYPA_ZIP.is_file(), reason=f"{PYPA_ZIP} absent (../shared/data is not in a fresh "
    "clone): these tests need the real PyPA advisories")

DJANGO = Package("pypi", "django", "2.2", 1, "/usr/local/lib/python3.7/site-packages/"
                 "Django-2.2.dist-info/METADATA")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "dockwarden", "image", *args, "--no-progress"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def json_report(*args: str) -> tuple[int, dict[str, Any]]:
    proc = run(*args, "--format", "json")
    return proc.returncode, json.loads(proc.stdout)


def match_all(db: Path, packages: list[Package], os_release: OSRelease | None
              ) -> Any:
    vdb = VulnDB(db)
    try:
        return Matcher(vdb).match(packages, os_release)
    finally:
        vdb.close()


# --- the enumeration --------------------------------------------------------------------

def test_unknown_sorts_between_high_and_medium() -> None:
    assert list(Severity) == [Severity.CRITICAL, Severity.HIGH, Severity.UNKNOWN,
                              Severity.MEDIUM, Severity.LOW, Severity.INFO]
    ranks = [s.rank for s in Severity]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == len(ranks)
    assert Severity.parse(" Unknown ") is Severity.UNKNOWN
    with pytest.raises(ValueError, match="not allowed here"):
        Severity.parse("unknown", allow_unknown=False)
    with pytest.raises(ValueError, match="choose from critical, high, medium, low, info"):
        Severity.parse("severe", allow_unknown=False)


@pytest.mark.parametrize(("severity", "fail_on", "unknown_as", "fails"), [
    (Severity.UNKNOWN, Severity.HIGH, None, True),  # default: weighed as high
    (Severity.UNKNOWN, Severity.CRITICAL, None, False),
    (Severity.UNKNOWN, Severity.MEDIUM, None, True),
    (Severity.UNKNOWN, Severity.HIGH, Severity.MEDIUM, False),  # --unknown-severity medium
    (Severity.UNKNOWN, Severity.CRITICAL, Severity.CRITICAL, True),
    (Severity.UNKNOWN, None, None, False),  # --fail-on none
    (Severity.UNKNOWN, Severity.UNKNOWN, Severity.LOW, True),  # --fail-on unknown
    (Severity.HIGH, Severity.UNKNOWN, None, True),
    (Severity.MEDIUM, Severity.UNKNOWN, None, False),
    (Severity.MEDIUM, Severity.HIGH, None, False),
    (Severity.HIGH, Severity.HIGH, Severity.LOW, True),  # only unknown is re-weighed
    (Severity.CRITICAL, Severity.HIGH, None, True),
])
def test_fail_on_weighs_unknown_as_high_by_default(
        severity: Severity, fail_on: Severity | None, unknown_as: Severity | None,
        fails: bool) -> None:
    assert severity.fails(fail_on, unknown_as) is fails


def test_an_unscored_match_is_unknown_never_medium() -> None:
    from dockwarden.checks.vuln import severity_of

    def m(severity: str, status: Status = Status.FIXED) -> VulnMatch:
        return VulnMatch("CVE-1", ("CVE-1",), "pypi", "p", "1.0", "", "1.1", status,
                         severity, None, "", 0, "x", ("osv-PyPI",))

    assert severity_of(m("")) is Severity.UNKNOWN
    assert severity_of(m("not-a-severity")) is Severity.UNKNOWN
    assert severity_of(m("medium")) is Severity.MEDIUM
    # the distribution's "will not fix" (no-dsa: a minor issue) is its only rating
    assert severity_of(m("", Status.WONT_FIX)) is Severity.LOW


# --- every format, on the real PyPA advisories -----------------------------------------

@needs_pypa
def test_pypa_advisory_without_severity_is_unknown_in_every_format(tmp_path: Path) -> None:
    image = django_image(tmp_path)
    db = str(pypa_db(tmp_path / "db.sqlite"))
    common = ("--tar", image, "--db", db, "--check", "DW310", "--fail-on", "none")

    code, report = json_report(*common)
    assert code == 0
    found = [f for f in report["findings"] if f["check"] == "DW310"]
    assert len(found) > 20
    cve = next(f for f in found if f["evidence"]["id"] == "CVE-2019-12308")
    assert cve["severity"] == "unknown" and cve["evidence"]["severity"] == "unknown"
    assert "cvss_score" not in cve["evidence"]
    unknown = [f for f in found if f["severity"] == "unknown"]
    assert report["summary"]["findings"]["unknown"] == len(unknown) > 20
    # every finding said medium is scored by its advisory: none is medium by default
    for f in found:
        if f["severity"] != "unknown":
            assert f["evidence"]["severity"] == f["severity"]

    proc = run(*common, "--format", "sarif")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["runs"][0]["results"]
    sarif = next(r for r in results if r["properties"]["evidence"]["id"] == "CVE-2019-12308")
    assert sarif["level"] == "error"  # weighed as high, as --fail-on does
    assert sarif["properties"]["severity"] == "unknown"
    assert "security-severity" not in sarif["properties"]  # no score is made up
    assert sum(r["properties"]["severity"] == "unknown" for r in results) == len(unknown)

    proc = run(*common, "--format", "junit")
    assert proc.returncode == 0, proc.stderr
    failures = ET.fromstring(proc.stdout).findall(".//failure")
    junit = [x for x in failures if "CVE-2019-12308" in (x.get("message") or "")]
    assert len(junit) == 1 and junit[0].get("type") == "unknown"
    assert "severity: unknown" in (junit[0].text or "")
    assert sum(x.get("type") == "unknown" for x in failures) == len(unknown)

    proc = run(*common, "--format", "text")  # the text renderer's own tests say more
    assert proc.returncode == 0 and "CVE-2019-12308" in proc.stdout, proc.stderr
    assert "unknown" in proc.stdout.lower()


@needs_pypa
def test_fail_on_high_fails_on_unknown_unless_unknown_severity_says_otherwise(
        tmp_path: Path) -> None:
    image = django_image(tmp_path)
    db = str(pypa_db(tmp_path / "db.sqlite"))
    common = ("--tar", image, "--db", db, "--check", "DW310")
    code, report = json_report(*common, "--fail-on", "high")
    worst = {f["severity"] for f in report["findings"]}
    assert "unknown" in worst and not worst & {"critical", "high"}
    assert code == 1
    code, _ = json_report(*common, "--fail-on", "high", "--unknown-severity", "medium")
    assert code == 0
    code, _ = json_report(*common, "--fail-on", "critical", "--unknown-severity", "critical")
    assert code == 1
    proc = run(*common, "--unknown-severity", "unknown")
    assert proc.returncode == 2 and "unknown" in proc.stderr


def test_json_summary_and_sort_order_place_unknown_between_high_and_medium() -> None:
    from dockwarden.report import json as json_report_module

    target = Target(TargetKind.IMAGE, "img")

    def f(sev: Severity, check: str) -> Finding:
        return Finding(check, sev, "t", target, Source.IMAGE, {}, "", ())

    report = Report(started="", finished="", targets=(ReportTarget(TargetKind.IMAGE, "img",
                                                                   True),),
                    findings=(f(Severity.MEDIUM, "DW1"), f(Severity.UNKNOWN, "DW2"),
                              f(Severity.HIGH, "DW3")), errors=())
    data = json_report_module.as_dict(report)
    assert [x["severity"] for x in data["findings"]] == ["high", "unknown", "medium"]
    assert list(data["summary"]["findings"]) == ["critical", "high", "unknown", "medium",
                                                 "low", "info"]
    assert data["summary"]["findings"]["unknown"] == 1


# --- a score from another source -------------------------------------------------------

def _scored_elsewhere() -> list[Advisory]:
    """A Debian record of Django's CVE-2019-12308 (another source, another ecosystem) with
    the CVSS 3.1 score NVD gives it, and a withdrawn one that must not count."""
    rng = (Range("ECOSYSTEM", (Event(introduced="0"), Event(fixed="1:1.10.7-2+deb9u5"))),)
    return [
        Advisory("DLA-1814-1", "osv-Debian", ("CVE-2019-12308",), severity="medium",
                 cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", cvss_score=6.1,
                 affected=(Affected("Debian", "python-django", "stretch", ranges=rng,
                                    fixed="1:1.10.7-2+deb9u5"),)),
        Advisory("DLA-0000-1", "osv-Debian", ("CVE-2019-12308",), cvss_score=9.8,
                 withdrawn="2020-01-01T00:00:00Z",
                 affected=(Affected("Debian", "python-django", "stretch", ranges=rng),)),
    ]


@needs_pypa
def test_a_cve_scored_by_another_imported_source_takes_that_score(tmp_path: Path) -> None:
    source, pypa = imported(PYPA_ZIP)
    db = build_db(tmp_path / "db.sqlite", {source: pypa, "osv-Debian": _scored_elsewhere()})
    result = match_all(db, [DJANGO], None)
    found = {m.id: m for m in result.matches}
    cve = found["CVE-2019-12308"]
    assert (cve.severity, cve.cvss_score) == ("medium", 6.1)
    assert cve.sources == ("osv-PyPI",)  # the Debian record does not affect PyPI django
    # the others keep no severity (unknown): nothing borrowed or made up
    assert sum(not m.severity and m.cvss_score is None for m in result.matches) > 20

    # through the CLI: the finding says medium with the score
    image = django_image(tmp_path)
    code, report = json_report("--tar", image, "--db", str(db), "--check", "DW310",
                               "--fail-on", "none")
    assert code == 0
    finding = next(f for f in report["findings"] if f["evidence"]["id"] == "CVE-2019-12308")
    assert finding["severity"] == "medium" and finding["evidence"]["cvss_score"] == 6.1


def test_cve_scores_prefers_the_highest_score_then_the_worst_word(tmp_path: Path) -> None:
    aff = (Affected("npm", "x", ranges=(Range("ECOSYSTEM", (Event(introduced="0"),)),)),)
    db = build_db(tmp_path / "db.sqlite", {
        "a": [Advisory("GHSA-1", "a", ("CVE-1",), severity="high", cvss_score=7.5,
                       affected=aff),
              Advisory("GHSA-2", "a", ("CVE-1", "CVE-2"), severity="critical",
                       cvss_score=9.1, affected=aff),
              Advisory("GHSA-3", "a", ("CVE-3",), severity="low", affected=aff),
              Advisory("GHSA-4", "a", ("CVE-3",), severity="high", affected=aff)],
        "b": [Advisory("CVE-4", "b", severity="medium", cvss_score=5.0, affected=aff),
              Advisory("CVE-5", "b", affected=aff)],  # unrated
    })
    vdb = VulnDB(db)
    try:
        got = vdb.cve_scores(["CVE-1", "CVE-2", "CVE-3", "CVE-4", "CVE-5", "CVE-6"])
    finally:
        vdb.close()
    assert got["CVE-1"] is not None and got["CVE-1"][:3] == (9.1, "critical", "a GHSA-2")
    assert got["CVE-2"] is not None and got["CVE-2"].score == 9.1
    assert got["CVE-3"] is not None and got["CVE-3"][:2] == (None, "high")
    assert got["CVE-4"] is not None and got["CVE-4"].source == "b CVE-4"  # by its own id
    assert got["CVE-5"] is None and got["CVE-6"] is None


def test_an_advisory_with_its_own_rating_keeps_it(tmp_path: Path) -> None:
    rng = (Range("ECOSYSTEM", (Event(introduced="0"), Event(fixed="2.0"))),)
    db = build_db(tmp_path / "db.sqlite", {
        "osv-PyPI": [Advisory("PYSEC-1", "osv-PyPI", ("CVE-7",), severity="low",
                              affected=(Affected("PyPI", "pkg", ranges=rng),))],
        "other": [Advisory("GHSA-9", "other", ("CVE-7",), severity="critical",
                           cvss_score=9.8)],
    })
    (m,) = match_all(db, [Package("pypi", "pkg", "1.0", 0, "x")], None).matches
    assert (m.severity, m.cvss_score) == ("low", None)


# --- no data for the OS release or the ecosystem: skipped, not passed --------------------

@needs_pypa
def test_dw309_is_skipped_when_the_database_has_no_debian_data(tmp_path: Path) -> None:
    image = debian_image(tmp_path)
    db = str(pypa_db(tmp_path / "db.sqlite"))
    code, report = json_report("--tar", image, "--db", db, "--check", "DW309,DW310",
                               "--fail-on", "none")
    assert code == 0
    assert not [f for f in report["findings"] if f["check"] == "DW309"]
    skipped = [s for s in report["skipped"] if s["check"] == "DW309"]
    assert len(skipped) == 1
    reason = skipped[0]["reason"]
    assert reason.startswith("the database holds no advisories for debian 12 (bookworm): ")
    assert "dockwarden db update" in reason and "db import" in reason
    assert "Debian security tracker" in reason and "OSV's Debian data" in reason
    assert report["summary"]["passed"] == 1  # DW310 only: the image has no language package
    # ... and with the Debian data imported, DW309 is judged
    debian = str(debian_db(tmp_path / "debian.sqlite"))
    code, report = json_report("--tar", image, "--db", debian, "--check", "DW309",
                               "--fail-on", "none")
    assert not report["skipped"] and any(f["check"] == "DW309" for f in report["findings"])


def test_debian_data_of_another_release_only_is_a_gap(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"osv-Debian": [Advisory(
        "DSA-1", "osv-Debian", ("CVE-1",), affected=(Affected(
            "Debian", "glibc", "bullseye",
            ranges=(Range("ECOSYSTEM", (Event(introduced="0"),)),)),))]})
    result = match_all(db, [deb("libc6", "2.36-9", "glibc")], BOOKWORM)
    assert result.matches == ()
    assert [g[0] for g in result.gaps] == ["os"]
    assert result.gaps[0][1].startswith("the database holds no advisories for debian 12 "
                                        "(bookworm)")
    bullseye = match_all(db, [deb("libc6", "2.31-13", "glibc")],
                         OSRelease("debian", "11", "bullseye"))
    assert bullseye.gaps == () and len(bullseye.matches) == 1


def test_alpine_release_without_secdb_names_the_secdb_to_import(tmp_path: Path) -> None:
    db = build_db(tmp_path / "db.sqlite", {"x": [Advisory("PYSEC-1", "x", affected=(
        Affected("PyPI", "pkg"),))]})
    pkg = Package("apk", "musl", "1.1.24-r2", 0, "/lib/apk/db/installed")
    result = match_all(db, [pkg], OSRelease("alpine", "3.11.6"))
    (gap,) = result.gaps
    assert gap[0] == "os"
    assert gap[1].startswith("the database holds no advisories for alpine 3.11.6 (3.11): ")
    assert "https://secdb.alpinelinux.org/v3.11/main.json" in gap[1]


def test_language_ecosystems_without_data(tmp_path: Path) -> None:
    """No data for any ecosystem of the image's language packages: a gap (DW310
    skipped); for some of them only: a note, the others judged."""
    rng = (Range("ECOSYSTEM", (Event(introduced="0"), Event(fixed="2.0"))),)
    db = build_db(tmp_path / "db.sqlite", {"osv-npm": [Advisory(
        "GHSA-1", "osv-npm", affected=(Affected("npm", "left-pad", ranges=rng),))]})
    none = match_all(db, [DJANGO], None)
    assert none.gaps == (("language", "the database holds no advisories for PyPI (1 "
                          "package(s) not judged): run `dockwarden db update`, or "
                          "`dockwarden db import` OSV's PyPI data (https://osv-"
                          "vulnerabilities.storage.googleapis.com/PyPI/all.zip)"),)
    some = match_all(db, [DJANGO, Package("npm", "left-pad", "1.0", 0, "y")], None)
    assert some.gaps == () and [m.id for m in some.matches] == ["GHSA-1"]
    assert len(some.notes) == 1 and some.notes[0].startswith(
        "the database holds no advisories for PyPI (1 package(s) not judged)")


def test_dw310_is_skipped_when_the_database_has_no_pypi_data(tmp_path: Path) -> None:
    image = django_image(tmp_path)
    db = str(debian_db(tmp_path / "debian.sqlite"))
    code, report = json_report("--tar", image, "--db", db, "--check", "DW310",
                               "--fail-on", "none")
    assert code == 0 and report["findings"] == []
    (skipped,) = report["skipped"]
    assert skipped["check"] == "DW310"
    assert skipped["reason"].startswith("the database holds no advisories for PyPI (1 "
                                        "package(s) not judged): run `dockwarden db update`")


# --- grouped per package, for the text summary -----------------------------------------

@needs_pypa
def test_vulns_by_package_tells_the_upgrade_that_fixes_them(tmp_path: Path) -> None:
    from dockwarden.report import vulns_by_package
    from dockwarden.vuln.versions import scheme

    image = django_image(tmp_path)
    db = str(pypa_db(tmp_path / "db.sqlite"))
    _code, report = json_report("--tar", image, "--db", db, "--fail-on", "none")
    findings = [Finding(f["check"], Severity(f["severity"]), f["title"],
                        Target(TargetKind(f["target"]["kind"]), f["target"]["ref"]),
                        Source(f["source"]), f["evidence"], f["remediation"],
                        tuple(f["references"]), f.get("message", ""))
                for f in report["findings"]]
    dw310 = [f for f in findings if f.check == "DW310"]
    (group,) = vulns_by_package(findings)  # other checks' findings are left out
    assert (group.package, group.installed, group.package_type) == ("django", "2.2", "pypi")
    assert len(group.findings) == len(dw310) and not group.unfixed
    fixes = {str(f.evidence["fixed"]) for f in dw310}
    assert group.fix in fixes and not any(scheme("PyPI").lt(group.fix, v) for v in fixes)
    assert sorted(group.ids) == sorted(str(f.evidence["id"]) for f in dw310)
    ranks = [f.severity.rank for f in group.findings]
    assert ranks == sorted(ranks, reverse=True)  # worst first
    n_unknown = sum(f.severity is Severity.UNKNOWN for f in dw310)
    assert group.headline().startswith(f"django 2.2 -> {group.fix} fixes {len(dw310)} (")
    assert f"{n_unknown} unknown" in group.headline()


def test_vulns_by_package_orders_groups_and_counts_unfixed() -> None:
    from dockwarden.report import vulns_by_package

    target = Target(TargetKind.IMAGE, "img")

    def f(package: str, vid: str, sev: Severity, fixed: str = "") -> Finding:
        return Finding("DW309", sev, "Vulnerable OS package", target, Source.IMAGE,
                       {"id": vid, "package": package, "package_type": "deb",
                        "installed": "1.0-1", "fixed": fixed,
                        "status": "fixed" if fixed else "affected"}, "", ())

    groups = vulns_by_package([
        f("zlib1g", "CVE-3", Severity.LOW, "1.0-3"),
        f("libssl3", "CVE-1", Severity.UNKNOWN, "1.0-10"),
        f("libssl3", "CVE-2", Severity.HIGH, "1.0-9"),
        f("libssl3", "CVE-4", Severity.MEDIUM),
        f("bash", "CVE-5", Severity.UNKNOWN),
    ])
    assert [g.package for g in groups] == ["libssl3", "bash", "zlib1g"]
    ssl = groups[0]
    assert ssl.fix == "1.0-10"  # Debian order: -10 after -9
    assert ssl.ids == ("CVE-2", "CVE-1", "CVE-4")
    assert ssl.headline() == ("libssl3 1.0-1 -> 1.0-10 fixes 2 (1 high, 1 unknown); "
                              "1 without a fix (1 medium)")
    assert groups[1].headline() == "bash 1.0-1: 1 without a fix (1 unknown)"
