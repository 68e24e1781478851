"""Advisories as every source is normalised to, and the matches found in an image.

Ecosystem names are OSV's (`Debian`, `Ubuntu`, `Alpine`, `PyPI`, `npm`, `Go`, `Maven`,
`crates.io`, `RubyGems`); the distribution release is kept apart from the ecosystem
(`Debian` + `bookworm`, `Alpine` + `3.11`, `Ubuntu` + `22.04`); language ecosystems have
release "". Package names are stored normalised (`normalise_name`), so a lookup by
(ecosystem, name) is one indexed query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    FIXED = "fixed"  # a fixed version exists (`Affected.fixed`)
    AFFECTED = "affected"  # no fix yet (tracker `<unfixed>`, secdb key "0", open OSV range)
    WONT_FIX = "wont_fix"  # the distribution decided not to fix (no-dsa, ignored, postponed)


# Debian release numbers and code names (OSV uses numbers, the tracker code names).
DEBIAN_CODENAMES = {
    "7": "wheezy", "8": "jessie", "9": "stretch", "10": "buster", "11": "bullseye",
    "12": "bookworm", "13": "trixie", "14": "forky",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One OSV range event: exactly one of the fields is set."""

    introduced: str = ""
    fixed: str = ""
    last_affected: str = ""
    limit: str = ""


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER or GIT (GIT ranges are kept but never matched)
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Affected:
    """One package of one ecosystem (and release) named by an advisory."""

    ecosystem: str
    name: str  # normalised
    release: str = ""
    status: Status = Status.FIXED
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()  # explicit affected versions (OSV `versions`)
    fixed: str = ""  # the first fixed version, "" when none (for the report)
    severity: str = ""  # the distribution's own rating (tracker urgency), "" when none
    note: str = ""  # why the status (e.g. "no-dsa", "postponed")


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    source: str  # the source (importer) that produced it: "osv-PyPI", "debian-tracker", ...
    aliases: tuple[str, ...] = ()
    summary: str = ""
    severity: str = ""  # critical, high, medium, low or "" (unknown)
    cvss_vector: str = ""
    cvss_score: float | None = None
    published: str = ""
    modified: str = ""
    references: tuple[str, ...] = ()
    withdrawn: str = ""
    affected: tuple[Affected, ...] = ()


@dataclass(frozen=True, slots=True)
class VulnMatch:
    """One vulnerability of one installed package (aliases from all sources merged)."""

    id: str  # the preferred id (the CVE when there is one)
    ids: tuple[str, ...]  # every id and alias that names it, across sources
    package_type: str  # deb, apk, rpm, pypi, npm, golang
    package: str  # the installed (binary) package name
    installed: str
    source_package: str  # what was matched (the dpkg Source / apk origin), "" = package
    fixed: str  # "" when no fix
    status: Status
    severity: str  # critical, high, medium, low or "" (unknown)
    cvss_score: float | None
    summary: str
    layer: int
    path: str
    sources: tuple[str, ...]  # which data sources reported it
    references: tuple[str, ...] = ()


_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The form names are stored and looked up in: PEP 503 for PyPI, lower case where the
    ecosystem is case-insensitive, unchanged otherwise."""
    if ecosystem == "PyPI":
        return _PEP503.sub("-", name).lower()
    if ecosystem in ("Debian", "Ubuntu", "Alpine", "npm", "RubyGems", "crates.io"):
        return name.lower()
    return name
