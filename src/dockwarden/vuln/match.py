"""Match an image's package inventory against the vulnerability database.

One matcher per ecosystem, as Trivy's drivers are: the package type (and, for OS
packages, the image's OS release) picks the OSV ecosystem, the name that advisories use
and the version that is compared:

- `deb`: `Debian` or `Ubuntu`, by SOURCE package and source version (dpkg `Source:`),
  reported under the binary package; only records of the image's release (Debian 12 ->
  `bookworm`/`12`, Ubuntu 22.04 -> `22.04`/`jammy`) or of no release count;
- `apk`: `Alpine` by origin, release `3.11` for 3.11.6;
- `rpm`: AlmaLinux, Rocky Linux, Red Hat, openSUSE/SUSE by source RPM, major release;
- language packages: `PyPI` (PEP 503 names), `npm`, `Go` (module path, `stdlib`),
  `crates.io`, `RubyGems`, `Maven`, `NuGet`, `Packagist`.

Each distinct (ecosystem, name) is one database query. Versions are parsed once per
string and scheme (`versions.Scheme`). A record is affected as the OSV evaluation says
(`versions.in_range`, explicit `versions`); a record without ranges or versions is the
distribution's word: status `fixed` with a fixed version means "before that version",
`affected` / `wont_fix` mean every version. Withdrawn advisories are ignored.

Advisories that name the same vulnerability are merged into one match per package: ids
and aliases are linked (an advisory naming two or more CVEs links only to each CVE, so a
DSA fixing five CVEs does not fuse them into one finding); the preferred id is the CVE.

A version that cannot be parsed is still matched by the explicit `versions` lists, and
the result says so in `notes`; nothing here raises on bad data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dockwarden.model.image import OSRelease, Package
from dockwarden.model.vuln import (
    DEBIAN_CODENAMES,
    Advisory,
    Affected,
    Status,
    VulnMatch,
    normalise_name,
)
from dockwarden.vuln.db import VulnDB
from dockwarden.vuln.importers.severity import from_word
from dockwarden.vuln.versions import Scheme, Verdict, in_range, in_versions, scheme

OS_TYPES = frozenset({"deb", "apk", "rpm"})

LANGUAGE_ECOSYSTEMS = {
    "pypi": "PyPI", "npm": "npm", "golang": "Go", "cargo": "crates.io", "gem": "RubyGems",
    "maven": "Maven", "nuget": "NuGet", "composer": "Packagist",
}

_UBUNTU_CODENAMES = {
    "14.04": "trusty", "16.04": "xenial", "18.04": "bionic", "20.04": "focal",
    "22.04": "jammy", "23.04": "lunar", "23.10": "mantic", "24.04": "noble",
    "24.10": "oracular", "25.04": "plucky",
}
_RPM_DISTROS = {
    "almalinux": "AlmaLinux", "rocky": "Rocky Linux", "rhel": "Red Hat",
    "opensuse-leap": "openSUSE", "sles": "SUSE",
}

_SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Distro:
    ecosystem: str  # OSV ecosystem
    release: str  # the release as our records name it ("bookworm", "3.11", "22.04")
    releases: frozenset[str]  # every spelling of it found in records
    label: str  # for messages: "debian 12"


def distro_of(os_release: OSRelease | None, package_type: str) -> Distro | None:
    """The advisory data that applies to OS packages of this type on this OS release."""
    if os_release is None:
        return None
    osid, version = os_release.id, os_release.version_id
    label = f"{osid} {version or os_release.version_codename}".strip()
    if package_type == "deb" and osid == "debian":
        major = version.split(".")[0]
        code = DEBIAN_CODENAMES.get(major) or os_release.version_codename
        if not code and not major:
            return None
        names = {n for n in (code, major) if n}
        return Distro("Debian", code or major, frozenset(names), label)
    if package_type == "deb" and osid == "ubuntu":
        if not version:
            return None
        code = _UBUNTU_CODENAMES.get(version, os_release.version_codename)
        names = {version, f"{version}:LTS", *([code] if code else [])}
        return Distro("Ubuntu", version, frozenset(names), label)
    if package_type == "apk" and osid == "alpine":
        parts = re.findall(r"\d+", version)
        if len(parts) < 2:
            return None
        rel = f"{parts[0]}.{parts[1]}"
        return Distro("Alpine", rel, frozenset({rel, f"v{rel}"}), label)
    if package_type == "rpm":
        eco = _RPM_DISTROS.get(osid)
        if eco is None or not version:
            return None
        major = version.split(".")[0]
        rel = version if osid.startswith("opensuse") or osid == "sles" else major
        return Distro(eco, rel, frozenset({rel, version, major}), label)
    return None


@dataclass(frozen=True, slots=True)
class MatchResult:
    matches: tuple[VulnMatch, ...]
    notes: tuple[str, ...] = ()  # what could only be partly judged, for the report
    gaps: tuple[tuple[str, str], ...] = ()  # ("os" | "language", why nothing was matched)
    packages: int = 0  # packages looked up
    lookups: int = 0  # distinct (ecosystem, name) queries


@dataclass(slots=True)
class _Found:
    """One advisory record that affects one installed package."""

    adv: Advisory
    status: Status  # the record's status (`Affected.status`)
    rating: str  # the record's own severity word (`Affected.severity`)
    verdict: Verdict
    link: frozenset[str]  # ids that join it to other records of the same vulnerability
    ids: tuple[str, ...]  # ids shown


@dataclass(slots=True)
class _Stats:
    notes: list[str] = field(default_factory=list)
    unparsed: dict[str, set[str]] = field(default_factory=dict)  # ecosystem -> versions


def _is_cve(i: str) -> bool:
    return i.startswith("CVE-")


def _id_rank(i: str) -> tuple[int, str]:
    if _is_cve(i):
        return (0, i)
    if i.startswith("GHSA-"):
        return (1, i)
    return (2, i)


def _links(adv: Advisory) -> list[tuple[frozenset[str], tuple[str, ...]]]:
    """How an advisory joins others: by all its ids, or by each CVE when it names
    several (a distribution advisory fixing many CVEs)."""
    all_ids = tuple(dict.fromkeys((adv.id, *adv.aliases)))
    cves = [i for i in all_ids if _is_cve(i)]
    if len(cves) <= 1:
        return [(frozenset(all_ids), all_ids)]
    others = tuple(i for i in all_ids if not _is_cve(i))
    return [(frozenset({c}), (c, *others)) for c in cves]


_NOT_AFFECTED = Verdict(False)
_OPEN = Verdict(True)
_OPEN_RANGE = json.dumps([["ECOSYSTEM", [["i", "0"]]]], separators=(",", ":"))


def _common_range(fixed: str) -> str:
    """How the database stores the range `introduced 0, fixed <fixed>` (`db._ranges_json`)."""
    return '[["ECOSYSTEM",[["i","0"],["f",' + json.dumps(fixed) + ']]]]'


class Matcher:
    """Matches packages against one open database. Reuse it for several images: parsed
    versions and lookups are cached."""

    def __init__(self, db: VulnDB) -> None:
        self.db = db
        # (ecosystem, name, version, releases) -> the matches of that source package at
        # that version, package fields left blank: binaries of one source share them
        self._judged: dict[tuple[str, str, str, frozenset[str] | None], list[VulnMatch]] = {}

    def match(self, packages: Iterable[Package], os_release: OSRelease | None) -> MatchResult:
        stats = _Stats()
        out: list[VulnMatch] = []
        gaps: dict[str, str] = {}
        os_without_data: dict[str, int] = {}
        n_packages = 0
        keys: set[tuple[str, str]] = set()
        for pkg in packages:
            target = self._target(pkg, os_release)
            if target is None:
                if pkg.type in OS_TYPES:
                    os_without_data[pkg.type] = os_without_data.get(pkg.type, 0) + 1
                continue
            ecosystem, name, version, releases = target
            if not version:
                continue
            n_packages += 1
            keys.add((ecosystem, name))
            key = (ecosystem, name, version, releases)
            judged = self._judged.get(key)
            if judged is None:
                rows = self.db.rows(ecosystem, name, releases)
                judged = self._judge(ecosystem, name, version, rows, stats) if rows else []
                if len(self._judged) < 100_000:
                    self._judged[key] = judged
            if judged:
                source_package = ""
                if pkg.type in OS_TYPES and pkg.source_name and pkg.source_name != pkg.name:
                    source_package = pkg.source_name
                out.extend(VulnMatch(
                    m.id, m.ids, pkg.type, pkg.name, pkg.version, source_package, m.fixed,
                    m.status, m.severity, m.cvss_score, m.summary, pkg.layer, pkg.path,
                    m.sources, m.references) for m in judged)
        if os_without_data:
            what = ", ".join(f"{n} {t}" for t, n in sorted(os_without_data.items()))
            osname = (f"{os_release.id} {os_release.version_id}".strip()
                      if os_release is not None else "an unknown OS")
            gaps["os"] = (f"no vulnerability data for OS packages of {osname} ({what} "
                          "package(s) not matched)")
        for eco, versions in sorted(stats.unparsed.items()):
            shown = ", ".join(sorted(versions)[:5])
            more = f" and {len(versions) - 5} more" if len(versions) > 5 else ""
            stats.notes.append(f"{eco}: versions not understood ({shown}{more}): matched by "
                               "the advisories' explicit version lists only")
        out.sort(key=lambda m: (m.package_type, m.package, m.installed, m.path, m.id))
        return MatchResult(tuple(out), tuple(stats.notes), tuple(sorted(gaps.items())),
                           n_packages, len(keys))

    @staticmethod
    def _target(pkg: Package, os_release: OSRelease | None
                ) -> tuple[str, str, str, frozenset[str] | None] | None:
        if pkg.type in OS_TYPES:
            distro = distro_of(os_release, pkg.type)
            if distro is None:
                return None
            name = pkg.source_name or pkg.name
            version = pkg.source_version or pkg.version
            return (distro.ecosystem, normalise_name(distro.ecosystem, name), version,
                    distro.releases)
        ecosystem = LANGUAGE_ECOSYSTEMS.get(pkg.type)
        if ecosystem is None:
            return None
        return ecosystem, normalise_name(ecosystem, pkg.name), pkg.version, None

    def _judge(self, ecosystem: str, name: str, version: str, rows: list[tuple[Any, ...]],
               stats: _Stats) -> list[VulnMatch]:
        """The vulnerabilities of one (source) package at one version. Rows of the
        common shape (introduced 0, one fix, no versions list) are judged from the row
        itself; only rows that apply, or of another shape, become `Hit` objects."""
        found: list[_Found] = []
        sch = scheme(ecosystem)
        v = sch.key(version)
        for row in rows:
            if row[17]:  # withdrawn
                continue
            verdict: Verdict | None = None
            if v is not None and row[5] == "[]":
                fixed = row[6]
                if fixed and row[4] == _common_range(fixed):
                    k = sch.key(fixed)
                    if k is not None:
                        verdict = Verdict(True, fixed) if v < k else _NOT_AFFECTED
                elif row[4] == _OPEN_RANGE:
                    verdict = _OPEN
            if verdict is None:
                verdict = affects(ecosystem, version, self.db.hit(ecosystem, name, row).affected,
                                  stats)
            if not verdict.affected:
                continue
            adv = self.db.row_advisory(row)
            status = Status(row[3])
            for link, ids in _links(adv):
                found.append(_Found(adv, status, row[7], verdict, link, ids))
        if not found:
            return []
        return [self._merge(group, ecosystem) for group in _groups(found)]

    @staticmethod
    def _merge(group: list[_Found], ecosystem: str) -> VulnMatch:
        """One match from the records of one vulnerability (package fields blank)."""
        if len(group) == 1:  # the usual case, in short
            f = group[0]
            adv = f.adv
            ids = sorted(f.ids, key=_id_rank) if len(f.ids) > 1 else list(f.ids)
            if f.verdict.fixed:
                status, fixed = Status.FIXED, f.verdict.fixed
            else:
                status = Status.WONT_FIX if f.status is Status.WONT_FIX else Status.AFFECTED
                fixed = ""
            rating = from_word(f.rating) if f.rating else ""
            if not rating:
                rating = adv.severity.lower() if adv.severity.lower() in _SEVERITIES else ""
            if not rating and adv.cvss_score is not None:
                rating = _from_score(adv.cvss_score)
            return VulnMatch(ids[0], tuple(ids), "", "", "", "", fixed, status, rating,
                             adv.cvss_score, adv.summary, 0, "", (adv.source,),
                             adv.references[:10])
        ids = sorted({i for f in group for i in f.ids}, key=_id_rank)
        # status: a known fix beats "no fix yet"; the distribution's "will not fix" beats
        # an open range of another source
        statuses = [f.status if f.status is Status.WONT_FIX else
                    (Status.FIXED if f.verdict.fixed else Status.AFFECTED) for f in group]
        fixes = [f.verdict.fixed for f in group if f.verdict.fixed]
        if fixes:
            status = Status.FIXED
            sch = scheme(ecosystem)
            fixed = fixes[0]
            for other in fixes[1:]:  # sources disagree: the version every one calls fixed
                if sch.lt(fixed, other):
                    fixed = other
        else:
            status = Status.WONT_FIX if Status.WONT_FIX in statuses else Status.AFFECTED
            fixed = ""
        ratings = [from_word(f.rating) for f in group]
        ratings = [r for r in ratings if r]
        if not ratings:
            ratings = [f.adv.severity.lower() for f in group
                       if f.adv.severity.lower() in _SEVERITIES]
        scores = [f.adv.cvss_score for f in group if f.adv.cvss_score is not None]
        score = max(scores) if scores else None
        if not ratings and score is not None:
            ratings = [_from_score(score)]
        severity = min(ratings, key=_SEVERITIES.index) if ratings else ""
        preferred = ids[0]
        lead = next((f for f in group if f.adv.id == preferred), group[0])
        summary = lead.adv.summary or next((f.adv.summary for f in group if f.adv.summary), "")
        refs = tuple(dict.fromkeys(r for f in group for r in f.adv.references))[:10]
        return VulnMatch(
            id=preferred, ids=tuple(ids), package_type="", package="", installed="",
            source_package="", fixed=fixed, status=status, severity=severity,
            cvss_score=score, summary=summary, layer=0, path="",
            sources=tuple(sorted({f.adv.source for f in group})), references=refs,
        )


def affects(ecosystem: str, version: str, aff: Affected, stats: _Stats | None = None) -> Verdict:
    """Whether one record affects this version (see the module docstring); versions
    that cannot be parsed are collected in `stats`."""
    stats = stats if stats is not None else _Stats()
    if not aff.ranges and not aff.versions:
        if aff.status is Status.FIXED:
            if not aff.fixed:
                return Verdict(False)
            sch = scheme(ecosystem)
            below = sch.lt(version, aff.fixed)
            if below is None:
                _unparsed(stats, ecosystem, version, aff.fixed, sch)
                return Verdict(False)
            return Verdict(True, aff.fixed) if below else Verdict(False)
        return Verdict(True)  # affected / will not fix: every version
    for rng in aff.ranges:
        if rng.type == "GIT":
            continue
        sch = scheme(ecosystem, rng.type)
        v = sch.key(version)
        if v is None:
            _unparsed(stats, ecosystem, version, "", sch)
            break
        verdict = in_range(v, rng, sch)
        if verdict.unparsed:
            _unparsed(stats, ecosystem, "", verdict.unparsed, sch)
            continue
        if verdict.affected:
            return verdict
    if aff.versions:
        sch = scheme(ecosystem)
        if in_versions(sch.key(version), version, aff.versions, sch):
            fixed = aff.fixed
            if fixed and not sch.lt(version, fixed):
                fixed = ""
            return Verdict(True, fixed)
    return Verdict(False)


def _unparsed(stats: _Stats, ecosystem: str, version: str, bound: str,
              sch: Scheme) -> None:
    bad = stats.unparsed.setdefault(ecosystem, set())
    for text in (version, bound):
        if text and sch.key(text) is None and len(bad) < 50:
            bad.add(text)



def _from_score(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


def _groups(found: list[_Found]) -> list[list[_Found]]:
    """Records linked by a shared id, as connected components."""
    seen: set[str] = set()
    for f in found:  # usually no two records share an id: one group each, no union-find
        if not seen.isdisjoint(f.link):
            break
        seen.update(f.link)
    else:
        return [[f] for f in found]
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for f in found:
        first, *rest = sorted(f.link)
        r = root(first)
        for other in rest:
            ro = root(other)
            if ro != r:
                parent[ro] = r
    groups: dict[str, list[_Found]] = {}
    for f in found:
        groups.setdefault(root(min(f.link)), []).append(f)
    return list(groups.values())
