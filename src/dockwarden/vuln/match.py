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
  `crates.io`, `RubyGems`, `Maven`, `NuGet`, `Packagist`. A Go executable's main module
  is matched under `Go` like its dependencies (its version recovered from the build
  settings, collect/image/pkg/golang.py); one without a version is not;
- classified binaries (type `binary`, collect/image/pkg/binary.py): matched only where
  their purl names a package of an ecosystem the database holds, which today is a Go
  module (traefik, consul, vault, etcd): under `Go` by that module path, and not when
  the Go analyzer already reports that module at that version for the same file (one
  finding, not two). A `pkg:generic` purl (busybox, OpenSSL, Python...) maps to no
  ecosystem and is never matched by name alone: no false matches.

The rows of all the packages of one call are read in a few batched queries (the
`affected` columns only); each distinct (source) package and version is judged once for
all its binaries. Versions are parsed once per string and scheme (`versions.Scheme`).
A record is affected as the OSV evaluation says (`versions.in_events`, explicit
`versions`); a record without ranges or versions is the distribution's word: status
`fixed` with a fixed version means "before that version", `affected` / `wont_fix` mean
every version. The common rows (`introduced 0, fixed X`, open ranges) are judged from
their stored text; the others are decoded, their versions list only when the ranges do
not decide. The advisories' own columns (aliases, summary, severity, references,
withdrawn) are fetched afterwards, in one batch, for the rows that apply. Withdrawn
advisories are ignored (and leave no notes). The cyclic garbage collector is paused
while matching (`importers.base.without_cyclic_gc`, as for imports): matching allocates
tens of thousands of small tuples and lists that form no cycles, and every collection
they trigger walks every object alive in the process (the image snapshot, the caches):
about a tenth of the matching time for nothing.

A vulnerability that none of its own records rates, but that is a CVE, takes the CVSS
score (else the severity) that another source of the database gives that CVE
(`VulnDB.cve_scores`: the GitHub advisory of a PyPA record, a distribution's record);
with none, its severity stays "" and the finding says `unknown`.

Advisories that name the same vulnerability are merged into one match per package: ids
and aliases are linked (an advisory naming two or more CVEs links only to each CVE, so a
DSA fixing five CVEs does not fuse them into one finding); the preferred id is the CVE.

A version that cannot be parsed is still matched by the explicit `versions` lists, and
the result says so in `notes`; nothing here raises on bad data.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from dockwarden.model.image import OSRelease, Package
from dockwarden.model.vuln import (
    DEBIAN_CODENAMES,
    Affected,
    Status,
    VulnMatch,
    normalise_name,
)
from dockwarden.vuln.db import SEVERITIES, AffectedRow, DatabaseUnusable, Details, VulnDB
from dockwarden.vuln.importers.base import without_cyclic_gc
from dockwarden.vuln.importers.osv import ECOSYSTEMS as OSV_ECOSYSTEMS
from dockwarden.vuln.importers.severity import from_word
from dockwarden.vuln.versions import (
    Scheme,
    Unjudged,
    Verdict,
    in_events,
    in_short_form,
    in_versions,
    scheme,
)

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
class _Stats:
    notes: list[str] = field(default_factory=list)
    unparsed: dict[str, set[str]] = field(default_factory=dict)  # ecosystem -> versions


# What `Matcher` keeps per judged (ecosystem, name, version, releases).
_Key = tuple[str, str, str, frozenset[str] | None]
# An affected row: (source, advisory, status, own rating, fixed verdict: "" = no fix).
_Hit = tuple[str, str, str, str, str]
# An advisory as matching uses it: (id, source, summary, severity (lower case),
# cvss_score, references, links (`_links`), its own rating
# (severity, else from the score, else ""), (source,), the first ten references).
_Info = tuple[str, str, str, str, float | None, tuple[str, ...],
              list[tuple[frozenset[str], tuple[str, ...]]], str, tuple[str], tuple[str, ...]]
# One record of one vulnerability: (advisory, status, own rating, fixed verdict, link,
# ids shown).
_Found = tuple[_Info, str, str, str, frozenset[str], tuple[str, ...]]
# A match with the package fields left out: (id, ids, fixed, status, severity,
# cvss_score, summary, sources, references); binaries of one source share them.
_Template = tuple[str, tuple[str, ...], str, Status, str, float | None, str,
                  tuple[str, ...], tuple[str, ...]]
# (version, bound, scheme) that could not be parsed, for `_unparsed`.
_Note = tuple[str, str, Scheme]


def _is_cve(i: str) -> bool:
    return i.startswith("CVE-")


def _id_rank(i: str) -> tuple[int, str]:
    if _is_cve(i):
        return (0, i)
    if i.startswith("GHSA-"):
        return (1, i)
    return (2, i)


def _links(adv_id: str, aliases: Sequence[str]) -> list[tuple[frozenset[str], tuple[str, ...]]]:
    """How an advisory joins others: by all its ids, or by each CVE when it names
    several (a distribution advisory fixing many CVEs). The ids shown are sorted by
    `_id_rank`."""
    if not aliases:
        return [(frozenset((adv_id,)), (adv_id,))]
    all_ids = tuple(dict.fromkeys((adv_id, *aliases)))
    cves = [i for i in all_ids if _is_cve(i)]
    if len(cves) <= 1:
        shown = tuple(sorted(all_ids, key=_id_rank)) if len(all_ids) > 1 else all_ids
        return [(frozenset(all_ids), shown)]
    others = tuple(sorted((i for i in all_ids if not _is_cve(i)), key=_id_rank))
    return [(frozenset({c}), (c, *others)) for c in cves]


_NO_DETAILS = Details((), "", "", None, (), "")
_OPEN_RANGE = json.dumps([["ECOSYSTEM", [["i", "0"]]]], separators=(",", ":"))


class Matcher:
    """Matches packages against one open database. Reuse it for several images: parsed
    versions and lookups are cached."""

    def __init__(self, db: VulnDB) -> None:
        self.db = db
        # (ecosystem, name, version, releases) -> the matches of that source package at
        # that version, package fields left out: binaries of one source share them
        self._judged: dict[_Key, list[_Template]] = {}
        self._infos: dict[tuple[str, str], _Info] = {}
        self._words: dict[str, str] = {}
        self._has: dict[tuple[str, frozenset[str] | None], bool] = {}

    def match(self, packages: Iterable[Package], os_release: OSRelease | None) -> MatchResult:
        """Raises DatabaseUnusable (exit 3) when the database fails while matching (an
        SQLite error, stored text that does not decode): never a partial, silent pass."""
        with without_cyclic_gc():
            try:
                return self._match(packages, os_release)
            except (sqlite3.Error, json.JSONDecodeError) as exc:
                raise DatabaseUnusable(
                    f"{self.db.path}: the vulnerability database could not be read while "
                    f"matching ({type(exc).__name__}: {str(exc)[:200]})",
                    "run `dockwarden db status` to check it") from None

    def _match(self, packages: Iterable[Package], os_release: OSRelease | None
               ) -> MatchResult:
        stats = _Stats()
        gaps: dict[str, str] = {}
        os_without_data: dict[str, int] = {}
        n_packages = 0
        names: set[tuple[str, str]] = set()
        distros: dict[str, Distro | None] = {}
        wanted: list[tuple[Package, _Key]] = []
        pending: dict[_Key, None] = {}
        packages = list(packages)
        go_modules = {(p.name, p.version, p.path) for p in packages if p.type == "golang"}
        for pkg in packages:
            if pkg.type == "binary":
                target = _binary_target(pkg, go_modules)
            elif pkg.type in OS_TYPES:
                if pkg.type not in distros:
                    distros[pkg.type] = distro_of(os_release, pkg.type)
                target = self._target(pkg, distros[pkg.type])
            else:
                target = self._target(pkg, None)
            if target is None:
                if pkg.type in OS_TYPES:
                    os_without_data[pkg.type] = os_without_data.get(pkg.type, 0) + 1
                continue
            if not target[2]:  # no version
                continue
            n_packages += 1
            names.add((target[0], target[1]))
            wanted.append((pkg, target))
            if target not in self._judged:
                pending[target] = None
        fresh = self._judge_all(list(pending), stats) if pending else {}
        # (report order, package, its source package, its templates (sorted by id))
        found: list[tuple[tuple[str, str, str, str], Package, str, list[_Template]]] = []
        for pkg, key in wanted:
            judged = self._judged.get(key)
            if judged is None:
                judged = fresh[key]
            if judged:
                source_package = ""
                if pkg.type in OS_TYPES and pkg.source_name and pkg.source_name != pkg.name:
                    source_package = pkg.source_name
                found.append(((pkg.type, pkg.name, pkg.version, pkg.path), pkg, source_package,
                              judged))
        if os_without_data:
            what = ", ".join(f"{n} {t}" for t, n in sorted(os_without_data.items()))
            osname = (f"{os_release.id} {os_release.version_id}".strip()
                      if os_release is not None else "an unknown OS")
            gaps["os"] = (f"no vulnerability data for OS packages of {osname} ({what} "
                          "package(s) not matched)")
        self._data_gaps(wanted, distros, gaps, stats)
        for eco, versions in sorted(stats.unparsed.items()):
            shown = ", ".join(sorted(versions)[:5])
            more = f" and {len(versions) - 5} more" if len(versions) > 5 else ""
            stats.notes.append(f"{eco}: versions not understood ({shown}{more}): matched by "
                               "the advisories' explicit version lists only")
        return MatchResult(_in_order(found), tuple(stats.notes), tuple(sorted(gaps.items())),
                           n_packages, len(names))

    def _has_data(self, ecosystem: str, releases: frozenset[str] | None) -> bool:
        key = (ecosystem, releases)
        known = self._has.get(key)
        if known is None:
            known = self._has[key] = self.db.has_data(ecosystem, releases)
        return known

    def _data_gaps(self, wanted: list[tuple[Package, _Key]],
                   distros: Mapping[str, Distro | None], gaps: dict[str, str],
                   stats: _Stats) -> None:
        """Packages looked up where the database holds nothing for their OS release or
        ecosystem: finding nothing there is not "no known vulnerability". The OS
        release without data is a gap (DW309 skipped); language ecosystems without data
        are a gap when no ecosystem of the image's language packages has data (DW310
        skipped), else a note (the others were judged). Each names what to import."""
        language: dict[str, int] = {}
        os_missing: list[str] = []
        for distro in dict.fromkeys(d for d in distros.values() if d is not None):
            if not any(k[0] == distro.ecosystem for _p, k in wanted):
                continue
            if not self._has_data(distro.ecosystem, distro.releases):
                os_missing.append(_os_hint(distro))
        for pkg, key in wanted:
            if pkg.type not in OS_TYPES:
                language[key[0]] = language.get(key[0], 0) + 1
        if os_missing:
            gaps["os"] = "; ".join(([gaps["os"]] if "os" in gaps else []) + os_missing)
        without = {eco: n for eco, n in language.items() if not self._has_data(eco, None)}
        if not without:
            return
        why = "; ".join(_language_hint(eco, n) for eco, n in sorted(without.items()))
        if len(without) == len(language):
            gaps["language"] = why
        else:
            stats.notes.append(f"{why} (the other language packages were matched)")

    @staticmethod
    def _target(pkg: Package, distro: Distro | None) -> _Key | None:
        if pkg.type in OS_TYPES:
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

    def _judge_all(self, keys: list[_Key], stats: _Stats) -> dict[_Key, list[_Template]]:
        """Judge these (ecosystem, name, version, releases): rows in batched queries,
        then the advisories of the rows that apply in one more batch."""
        queries: dict[tuple[str, frozenset[str] | None], dict[str, None]] = {}
        for ecosystem, name, _version, releases in keys:
            queries.setdefault((ecosystem, releases), {})[name] = None
        rows_of = {q: self.db.affected_rows(q[0], list(names), q[1])
                   for q, names in queries.items()}
        judged: list[tuple[_Key, list[_Hit]]] = []
        notes: list[tuple[tuple[str, str], str, list[_Note]]] = []
        for key in keys:
            rows = rows_of[key[0], key[3]].get(key[1])
            judged.append((key, self._judge_rows(key[0], key[2], rows, notes) if rows else []))
        details = self.db.details([(h[0], h[1]) for _key, hits in judged for h in hits]
                                  + [n[0] for n in notes])
        for adv_key, ecosystem, row_notes in notes:  # in the order they were met
            d = details[adv_key]
            if d is not None and d.withdrawn:
                continue
            for version, bound, sch in row_notes:
                _unparsed(stats, ecosystem, version, bound, sch)
        fresh: dict[_Key, list[_Template]] = {}
        for key, hits in judged:
            templates = self._templates(key[0], hits, details) if hits else []
            templates.sort(key=itemgetter(0))  # by id, as reported
            fresh[key] = templates
            if len(self._judged) < 100_000:
                self._judged[key] = templates
        self._rate_from_others(fresh.values())
        return fresh

    def _rate_from_others(self, judged: Iterable[list[_Template]]) -> None:
        """Vulnerabilities that none of their own records rates, but that are CVEs: the
        CVSS score (else severity) another source of the database gives that CVE (a
        GitHub advisory, a distribution's record), in one batch; the templates are
        replaced in their lists. Without any, the severity stays "" (unknown)."""
        unrated = [(lst, i, t) for lst in judged for i, t in enumerate(lst)
                   if not t[4] and t[5] is None and any(_is_cve(x) for x in t[1])]
        if not unrated:
            return
        scores = self.db.cve_scores([x for _l, _i, t in unrated for x in t[1] if _is_cve(x)])
        for lst, i, t in unrated:
            found = [r for r in (scores.get(x) for x in t[1] if _is_cve(x)) if r is not None]
            if not found:
                continue
            scored = [r.score for r in found if r.score is not None]
            if scored:
                score: float | None = max(scored)
                rating = _from_score(max(scored))
            else:
                score = None
                rating = min((r.severity for r in found), key=SEVERITIES.index)
            lst[i] = (t[0], t[1], t[2], t[3], rating, score, t[6], t[7], t[8])

    @staticmethod
    def _judge_rows(ecosystem: str, version: str, rows: list[AffectedRow],
                    notes: list[tuple[tuple[str, str], str, list[_Note]]]) -> list[_Hit]:
        """The rows that affect this version, as (source, advisory, status, rating,
        fixed). Rows of the common shape (introduced 0, one fix, no versions list) and
        open ranges are judged from their stored text; the others are decoded."""
        sch = scheme(ecosystem)
        key = sch.key
        v = key(version)
        hits: list[_Hit] = []
        for _name, source, adv_id, status, ranges, versions, fixed, rating in rows:
            if v is not None:
                if versions == "[]" and fixed and \
                        ranges == f'[["ECOSYSTEM",[["i","0"],["f","{fixed}"]]]]' and \
                        '"' not in fixed and "\\" not in fixed:
                    k = key(fixed)
                    if k is not None:
                        if v < k:
                            hits.append((source, adv_id, status, rating, fixed))
                        continue
                elif ranges == _OPEN_RANGE:  # affected, whatever the versions list says
                    hits.append((source, adv_id, status, rating, ""))
                    continue
            row_notes: list[_Note] = []
            found = _verdict(ecosystem, version, status, json.loads(ranges), versions, fixed,
                             row_notes)
            if row_notes:
                notes.append(((source, adv_id), ecosystem, row_notes))
            if found is not None:
                hits.append((source, adv_id, status, rating, found))
        return hits

    def _info(self, source: str, adv_id: str, d: Details | None) -> _Info:
        key = (source, adv_id)
        info = self._infos.get(key)
        if info is None:
            if d is None:  # an affected row without its advisory: keep the id at least
                d = _NO_DETAILS
            aliases, summary, severity, score, refs, _withdrawn = d
            severity = severity.lower()
            rating = severity if severity in SEVERITIES else ""
            if not rating and score is not None:
                rating = _from_score(score)
            info = self._infos[key] = (adv_id, source, summary, severity, score, refs,
                                       _links(adv_id, aliases), rating, (source,), refs[:10])
        return info

    def _templates(self, ecosystem: str, hits: list[_Hit],
                   details: Mapping[tuple[str, str], Details | None]) -> list[_Template]:
        """The vulnerabilities of one (source) package at one version, one per group of
        records that name the same vulnerability (withdrawn advisories left out)."""
        found: list[_Found] = []
        for source, adv_id, status, rating, fixed in hits:
            d = details[source, adv_id]
            if d is not None and d.withdrawn:
                continue
            info = self._info(source, adv_id, d)
            for link, ids in info[6]:
                found.append((info, status, rating, fixed, link, ids))
        if not found:
            return []
        return [self._merge(group, ecosystem) for group in _groups(found)]

    def _word(self, rating: str) -> str:
        word = self._words.get(rating)
        if word is None:
            word = self._words[rating] = from_word(rating)
        return word

    def _merge(self, group: list[_Found], ecosystem: str) -> _Template:
        """One match from the records of one vulnerability (package fields left out)."""
        if len(group) == 1:  # the usual case, in short
            info, row_status, row_rating, fixed, _link, ids = group[0]
            if fixed:
                status = Status.FIXED
            else:
                status = Status.WONT_FIX if row_status == Status.WONT_FIX else Status.AFFECTED
            rating = self._word(row_rating) if row_rating else ""
            return (ids[0], ids, fixed, status, rating or info[7], info[4], info[2], info[8],
                    info[9])
        ids = tuple(sorted({i for f in group for i in f[5]}, key=_id_rank))
        # status: a known fix beats "no fix yet"; the distribution's "will not fix" beats
        # an open range of another source
        fixes = [f[3] for f in group if f[3]]
        if fixes:
            status = Status.FIXED
            sch = scheme(ecosystem)
            fixed = fixes[0]
            for other in fixes[1:]:  # sources disagree: the version every one calls fixed
                if sch.lt(fixed, other):
                    fixed = other
        else:
            wont = any(f[1] == Status.WONT_FIX for f in group)
            status = Status.WONT_FIX if wont else Status.AFFECTED
            fixed = ""
        ratings = [r for r in (self._word(f[2]) for f in group) if r]
        if not ratings:
            ratings = [f[0][3] for f in group if f[0][3] in SEVERITIES]
        scores = [f[0][4] for f in group if f[0][4] is not None]
        score = max(scores) if scores else None
        if not ratings and score is not None:
            ratings = [_from_score(score)]
        severity = min(ratings, key=SEVERITIES.index) if ratings else ""
        preferred = ids[0]
        lead = next((f for f in group if f[0][0] == preferred), group[0])
        summary = lead[0][2] or next((f[0][2] for f in group if f[0][2]), "")
        refs = tuple(dict.fromkeys(r for f in group for r in f[0][5]))[:10]
        sources = tuple(sorted({f[0][1] for f in group}))
        return (preferred, ids, fixed, status, severity, score, summary, sources, refs)


_OSV = "https://osv-vulnerabilities.storage.googleapis.com"
def _binary_target(pkg: Package, go_modules: set[tuple[str, str, str]]) -> _Key | None:
    """A classified binary's (ecosystem, name, version, None): only a Go module purl
    maps to an ecosystem (see the module docstring); None for anything else."""
    if not pkg.purl.startswith("pkg:golang/"):
        return None
    try:
        from packageurl import PackageURL

        purl = PackageURL.from_string(pkg.purl)
    except ValueError:
        return None
    module = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    version = purl.version or ""
    if (module, version, pkg.path) in go_modules:  # the Go analyzer reports it already
        return None
    return "Go", normalise_name("Go", module), version, None


_IMPORTABLE = frozenset(OSV_ECOSYSTEMS)  # what `db import` / `db update` can read


def _os_hint(distro: Distro) -> str:
    """Why DW309 cannot be judged on this OS release, and what to import."""
    label = distro.label
    shown = label.split()
    codes = sorted(n for n in distro.releases if n.isalpha() and n not in shown)
    if codes:  # "debian 12 (bookworm)", "ubuntu 22.04 (jammy)"
        label += f" ({codes[0]})"
    elif distro.release not in shown:  # "alpine 3.11.6 (3.11)"
        label += f" ({distro.release})"
    head = f"the database holds no advisories for {label}"
    if distro.ecosystem == "Debian":
        return (f"{head}: run `dockwarden db update`, or `dockwarden db import` the Debian "
                "security tracker (https://security-tracker.debian.org/tracker/data/json) "
                f"or OSV's Debian data ({_OSV}/Debian/all.zip)")
    if distro.ecosystem == "Alpine":
        return (f"{head}: `dockwarden db import` the Alpine secdb of v{distro.release} "
                f"(https://secdb.alpinelinux.org/v{distro.release}/main.json and "
                f"community.json; `db update` fetches the newest releases only) or OSV's "
                f"Alpine data ({_OSV}/Alpine/all.zip)")
    if distro.ecosystem in _IMPORTABLE:
        return (f"{head}: run `dockwarden db update`, or `dockwarden db import` OSV's "
                f"{distro.ecosystem} data ({_OSV}/{distro.ecosystem}/all.zip)")
    return f"{head}: dockwarden cannot import {distro.ecosystem} advisories yet"


def _language_hint(ecosystem: str, n: int) -> str:
    """Why these language packages cannot be judged, and what to import."""
    head = f"the database holds no advisories for {ecosystem} ({n} package(s) not judged)"
    if ecosystem in _IMPORTABLE:
        return (f"{head}: run `dockwarden db update`, or `dockwarden db import` OSV's "
                f"{ecosystem} data ({_OSV}/{ecosystem}/all.zip)")
    return f"{head}: dockwarden cannot import {ecosystem} advisories yet"


def _in_order(found: list[tuple[tuple[str, str, str, str], Package, str, list[_Template]]]
              ) -> tuple[VulnMatch, ...]:
    """The matches of these packages ((type, name, version, path), package, source
    package, templates sorted by id) ordered by (type, name, version, path, id), ties
    in the order given: packages are sorted, not matches; only packages that share all
    four have their matches merged by id."""
    found.sort(key=itemgetter(0))
    out: list[VulnMatch] = []
    i, n = 0, len(found)
    while i < n:
        j = i + 1
        while j < n and found[j][0] == found[i][0]:
            j += 1
        if j == i + 1:
            _order, pkg, source, templates = found[i]
            rows = [(pkg, source, t) for t in templates]
        else:  # the same package listed twice: one order by id for both
            rows = sorted(((pkg, source, t) for _o, pkg, source, templates in found[i:j]
                           for t in templates), key=lambda r: r[2][0])
        out.extend([VulnMatch(
            t[0], t[1], pkg.type, pkg.name, pkg.version, source, t[2], t[3], t[4], t[5], t[6],
            pkg.layer, pkg.path, t[7], t[8]) for pkg, source, t in rows])
        i = j
    return tuple(out)


def affects(ecosystem: str, version: str, aff: Affected, stats: _Stats | None = None) -> Verdict:
    """Whether one record affects this version (see the module docstring); versions
    that cannot be parsed are collected in `stats`."""
    stats = stats if stats is not None else _Stats()
    notes: list[_Note] = []
    found = _verdict(ecosystem, version, aff.status,
                     [[r.type, in_short_form(r.events)] for r in aff.ranges], aff.versions,
                     aff.fixed, notes)
    for text, bound, sch in notes:
        _unparsed(stats, ecosystem, text, bound, sch)
    return Verdict(False) if found is None else Verdict(True, found)


def _verdict(ecosystem: str, version: str, status: str, ranges: list[Any],
             versions: Sequence[str] | str, fixed: str, notes: list[_Note]) -> str | None:
    """`affects` on a record as stored: ranges decoded ([type, [[kind, version], ...]]),
    the versions list as a tuple or as its JSON text (decoded only when needed). None
    when not affected, else the fixed version ("" when none); versions that cannot be
    parsed are added to `notes`."""
    if not ranges and not _listed(versions):  # the distribution's word
        if status == Status.FIXED:
            if not fixed:
                return None
            sch = scheme(ecosystem)
            below = sch.lt(version, fixed)
            if below is None:
                notes.append((version, fixed, sch))
                return None
            return fixed if below else None
        return ""  # affected / will not fix: every version
    for rng_type, events in ranges:
        if rng_type == "GIT":
            continue
        sch = scheme(ecosystem, rng_type)
        v = sch.key(version)
        if v is None:
            notes.append((version, "", sch))
            break
        try:
            found = in_events(v, events, sch)
        except Unjudged as exc:
            if exc.text:
                notes.append(("", exc.text, sch))
            continue
        if found is not None:
            return found
    listed = _listed(versions)
    if listed:
        sch = scheme(ecosystem)
        if in_versions(sch.key(version), version, listed, sch):
            if fixed and not sch.lt(version, fixed):
                fixed = ""
            return fixed
    return None


def _listed(versions: Sequence[str] | str) -> Sequence[str]:
    if isinstance(versions, str):
        return () if versions == "[]" else json.loads(versions)
    return versions


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
        if not seen.isdisjoint(f[4]):
            break
        seen.update(f[4])
    else:
        return [[f] for f in found]
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for f in found:
        first, *rest = sorted(f[4])
        r = root(first)
        for other in rest:
            ro = root(other)
            if ro != r:
                parent[ro] = r
    groups: dict[str, list[_Found]] = {}
    for f in found:
        groups.setdefault(root(min(f[4])), []).append(f)
    return list(groups.values())
