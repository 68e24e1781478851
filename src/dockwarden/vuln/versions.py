"""Version ordering per ecosystem and the OSV range evaluation.

Parsing and ordering come from univers (`univers.versions`): Debian (epochs, `~`, `+bN`
rebuilds), Alpine (`-rN`), RPM, PEP 440, semver (npm, crates.io), Go, Maven, RubyGems,
NuGet, Composer. Two shortcuts keep matching fast without changing the order univers
defines:

- PEP 440 versions compare through the `packaging` Version that univers wraps (the same
  objects, without univers' per-comparison wrapper);
- Debian versions (the bulk of an OS image's comparisons: 9 us to build and 12 us to
  compare in univers) are validated with univers' own pattern, split as univers splits
  them (epoch, upstream, revision) and compared through a tuple key following Debian
  Policy 5.6.12: runs of non-digits weighed character by character (`~` before
  everything, even the end; letters before other characters), runs of digits as numbers.
  The key orders exactly as `univers.debian.compare_versions` (tested property-wise) at
  a few microseconds per version and a tuple comparison per test.

Every other ecosystem compares univers objects with `<` and `==` only (univers' Gentoo /
Alpine class defines only those two correctly).

`Scheme.key(text)` returns None for a version the ecosystem's rules cannot parse; the
caller then falls back to the explicit `versions` list and says so.

OSV evaluation (https://ossf.github.io/osv-schema/#evaluation): a version is affected
when it is listed in `versions` or lies in any range: within a range's limits (none =
`*`), walk the events sorted by version; `introduced` (<= v) opens, `fixed` (<= v)
closes, `last_affected` (< v) closes. `introduced: "0"` sorts before everything and
`limit: "*"` after. GIT ranges cannot be judged without the repository and are skipped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packaging.version import Version as PackagingVersion
from univers import versions as uv
from univers.debian import is_valid_debian_version

from dockwarden.model.vuln import Event, Range

# --- Debian ------------------------------------------------------------------------

def _weight(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


# weights of every character a Debian version may hold (validated before use)
_WEIGHTS = {c: _weight(c) for c in
            "~.+-:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_DEB_RUNS = re.compile(r"(\D*)(\d*)")
_DEB_END = ((0,), 0)


def _deb_part_key(text: str) -> tuple[Any, ...]:
    """One upstream or revision string as a tuple that orders like Debian's
    `verrevcmp`: alternating (non-digit weights + terminator 0, number) pairs, closed by
    an end marker that sorts after a `~` run and before any other run."""
    weigh = _WEIGHTS.__getitem__
    parts: list[tuple[tuple[int, ...], int]] = [
        ((*map(weigh, letters), 0), int(digits) if digits else 0)
        for letters, digits in _DEB_RUNS.findall(text) if letters or digits]
    if not parts:
        parts.append(((0,), 0))
    parts.append(_DEB_END)
    return tuple(parts)


def debian_key(text: str) -> tuple[Any, ...] | None:
    """The ordering key of a Debian version, None when univers rejects it. The text is
    split as univers splits it (epoch before the first ":", revision after the last
    "-", "0" when there is none)."""
    text = text.strip()
    if not text or not is_valid_debian_version(text):
        return None
    epoch, sep, rest = text.partition(":")
    if not sep:
        epoch, rest = "0", text
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, "0"
    return (int(epoch), _deb_part_key(upstream), _deb_part_key(revision))


# --- schemes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Wrapped:
    """A univers version compared with its class's own `<` and `==` only."""

    v: Any

    def __lt__(self, other: _Wrapped) -> bool:
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Wrapped) and bool(self.v == other.v)

    def __hash__(self) -> int:
        return hash(str(self.v))


class Scheme:
    """Parses (with a cache) and orders the versions of one ecosystem."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse
        self._cache: dict[str, Any] = {}
        # installed version text -> (listed strings compared, those equal to it)
        self._equal: dict[str, tuple[set[str], set[str]]] = {}

    def key(self, text: str) -> Any:
        """An orderable key (`<`, `==`), or None when the text is not a version here."""
        try:
            return self._cache[text]
        except KeyError:
            pass
        try:
            key = self._parse(text) if text else None
        except Exception:  # univers raises assorted errors on odd input
            key = None
        if len(self._cache) < 200_000:
            self._cache[text] = key
        return key

    def listed_equal(self, text: str, v: Any, versions: tuple[str, ...]) -> bool:
        """Whether a listed version equals `v` (parsed from `text`). Each listed string
        is parsed and compared once per installed version: the lists of one package's
        advisories repeat the same releases, so the sets do the rest in C."""
        memo = self._equal.get(text)
        if memo is None:
            if len(self._equal) > 10_000:
                self._equal.clear()
            memo = self._equal[text] = (set(), set())
        seen, equal = memo
        new = set(versions).difference(seen)
        first = str(v.release[0]) if isinstance(v, PackagingVersion) and not v.epoch else ""
        for other in new:
            if first and other[:1].isdigit() and other[:1] != "0" and "!" not in other and \
                    (not other.startswith(first) or other[len(first):len(first) + 1].isdigit()):
                continue  # PEP 440: another first release number cannot be equal
            k = self.key(other)
            if k is not None and k == v:
                equal.add(other)
        seen.update(new)
        return not equal.isdisjoint(versions)

    def lt(self, a: str, b: str) -> bool | None:
        ka, kb = self.key(a), self.key(b)
        if ka is None or kb is None:
            return None
        return bool(ka < kb)


def _univers(cls: type[uv.Version]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return _Wrapped(cls(text))
    return parse


def _pypi(text: str) -> Any:
    # the packaging Version that univers' PypiVersion wraps, built once, not twice
    return PackagingVersion(text)


def _golang(text: str) -> Any:
    return _Wrapped(uv.GolangVersion(text))


# The ECOSYSTEM ordering of each OSV ecosystem (the part before ":" of OSV names).
_ECOSYSTEM_PARSERS: dict[str, Callable[[str], Any]] = {
    "Debian": debian_key,
    "Ubuntu": debian_key,
    "Alpine": _univers(uv.AlpineLinuxVersion),
    "PyPI": _pypi,
    "npm": _univers(uv.SemverVersion),
    "crates.io": _univers(uv.SemverVersion),
    "Go": _golang,
    "Maven": _univers(uv.MavenVersion),
    "RubyGems": _univers(uv.RubygemsVersion),
    "NuGet": _univers(uv.NugetVersion),
    "Packagist": _univers(uv.ComposerVersion),
    "AlmaLinux": _univers(uv.RpmVersion),
    "Rocky Linux": _univers(uv.RpmVersion),
    "Red Hat": _univers(uv.RpmVersion),
    "openSUSE": _univers(uv.RpmVersion),
    "SUSE": _univers(uv.RpmVersion),
}


def _debian_checked(text: str) -> Any:
    key = debian_key(text)
    if key is None:
        raise ValueError(text)
    return key


@functools.lru_cache(maxsize=64)
def scheme(ecosystem: str, range_type: str = "ECOSYSTEM") -> Scheme:
    """The shared (cached) scheme of an ecosystem; SEMVER ranges use semver, except Go,
    whose module versions are semver with a `v`."""
    if range_type == "SEMVER" and ecosystem != "Go":
        return Scheme(f"{ecosystem}/semver", _univers(uv.SemverVersion))
    parse = _ECOSYSTEM_PARSERS.get(ecosystem)
    if parse is None:
        return Scheme(ecosystem, lambda text: None)  # unknown ecosystem: versions lists only
    if parse is debian_key:
        return Scheme(ecosystem, _debian_checked)
    return Scheme(ecosystem, parse)


def known_ecosystem(ecosystem: str) -> bool:
    return ecosystem in _ECOSYSTEM_PARSERS


# --- OSV ranges --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    fixed: str = ""  # the first fixed version above the installed one, "" when none
    unparsed: str = ""  # a version that could not be parsed (the range was not judged)


_NOT = Verdict(False)


def _event(e: Event) -> tuple[str, str]:
    if e.introduced:
        return "introduced", e.introduced
    if e.fixed:
        return "fixed", e.fixed
    if e.last_affected:
        return "last_affected", e.last_affected
    return "limit", e.limit


def in_range(v: Any, rng: Range, sch: Scheme) -> Verdict:
    """Whether the parsed version `v` lies in one OSV range (see the module docstring)."""
    evs = rng.events
    if len(evs) == 2 and evs[0].introduced == "0" and evs[1].fixed:  # the common shape
        fixed_key = sch.key(evs[1].fixed)
        if fixed_key is None:
            return Verdict(False, unparsed=evs[1].fixed)
        return Verdict(True, evs[1].fixed) if v < fixed_key else _NOT
    limits: list[Any] = []
    events: list[tuple[Any, str, str]] = []  # (key or None for "0", kind, text)
    for e in rng.events:
        kind, text = _event(e)
        if kind == "limit":
            if "*" in text:
                limits.append(None)
                continue
            key = sch.key(text)
            if key is None:
                return Verdict(False, unparsed=text)
            limits.append(key)
            continue
        if kind == "introduced" and text == "0":
            events.append((None, kind, text))
            continue
        key = sch.key(text)
        if key is None:
            return Verdict(False, unparsed=text)
        events.append((key, kind, text))
    if limits and not any(lim is None or v < lim for lim in limits):
        return _NOT
    if len(events) > 1:
        events.sort(key=functools.cmp_to_key(_cmp_events))
    vulnerable = False
    upto = len(events)
    for i, (key, kind, _text) in enumerate(events):
        if key is not None and v < key:
            upto = i
            break
        if kind == "introduced":
            vulnerable = True
        elif kind == "fixed" or (kind == "last_affected" and v != key):  # v > last_affected
            vulnerable = False
    if not vulnerable:
        return _NOT
    fixed = next((text for _key, kind, text in events[upto:] if kind == "fixed"), "")
    return Verdict(True, fixed)


_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2}


def _cmp_events(a: tuple[Any, str, str], b: tuple[Any, str, str]) -> int:
    ka, kb = a[0], b[0]
    if ka is None or kb is None:  # introduced "0" first
        if ka is None and kb is None:
            return 0
        return -1 if ka is None else 1
    if ka < kb:
        return -1
    if kb < ka:
        return 1
    return _ORDER[a[1]] - _ORDER[b[1]]


def in_versions(v: Any, text: str, versions: tuple[str, ...], sch: Scheme) -> bool:
    """Listed explicitly: the same string, or the same version once parsed."""
    if text in versions:
        return True
    if v is None:
        return False
    return sch.listed_equal(text, v, versions)
