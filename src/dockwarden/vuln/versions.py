"""Version ordering per ecosystem and the OSV range evaluation.

Parsing and ordering come from univers (`univers.versions`): Debian (epochs, `~`, `+bN`
rebuilds), Alpine (`-rN`), RPM, PEP 440, semver (npm, crates.io), Go, Maven, RubyGems,
NuGet, Composer. The two ecosystems that carry the bulk of an image's comparisons are
keyed here instead, by hand, because matching an image parses thousands of versions
(every event and every explicitly listed version of every advisory of every package)
and compares them many more times: univers' Debian object costs about 9 us to build and
12 us per comparison, packaging's Version about 5 us to build and a Python call per
comparison. The keys below are plain `str`/`int` tuples, compared in C, that order
exactly as the libraries do (the Debian one builds in about a third of the time of the
tuple-of-tuples key this module used before, the PEP 440 one in about the time of a
Version):

- Debian (`debian_key`): validated with univers' own pattern, split as univers splits
  (epoch, upstream, revision), each part encoded as a string that orders like Debian
  Policy 5.6.12 / dpkg's `verrevcmp` (`_deb_part_key` says how);
- PEP 440 (`pep440_key`): packaging's comparison key (epoch, release without trailing
  zeros, pre/post/dev suffix, local segments), built from the public parts of a
  packaging `Version`, or for the spellings PyPI publishes (`1.2.3`, `1.2rc1`,
  `1.2.post1`, `1.2.dev3`) straight from a small pattern without building one.

Both keys are equal exactly when the versions are, so they also decide membership of
the explicit `versions` lists; for PEP 440 a cheap look at a listed text's release sets
aside, without parsing, the texts that cannot equal the installed version
(`_pep440_could_equal`). tests/test_vuln_versions.py checks both keys against univers'
`compare_versions` and packaging's `Version` (order and equality) on thousands of
generated versions, and the list test against comparing every listed version.

Every other ecosystem compares univers objects with `<` and `==` only (univers' Gentoo /
Alpine class defines only those two correctly).

`Scheme.key(text)` returns None for a version the ecosystem's rules cannot parse; the
caller then falls back to the explicit `versions` list and says so.

OSV evaluation (https://ossf.github.io/osv-schema/#evaluation): a version is affected
when it is listed in `versions` or lies in any range: within a range's limits (none =
`*`), walk the events sorted by version; `introduced` (<= v) opens, `fixed` (<= v)
closes, `last_affected` (< v) closes. `introduced: "0"` sorts before everything and
`limit: "*"` after. GIT ranges cannot be judged without the repository and are skipped.
`in_events` evaluates events as the database stores them ([kind, version] pairs), so
matching needs no Range or Event objects.

Versions come from feeds and images, so any text may arrive: a text longer than
`MAX_VERSION` characters is not a version (`Scheme.key` gives None, `debian_key` None)
before any parser sees it (univers' Alpine parser is quadratic: 8 s on 20,000
characters), and every parser error is None, never an exception.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import Version as PackagingVersion
from univers import versions as uv
from univers.debian import is_valid_debian_version

from dockwarden.model.vuln import Event, Range

MAX_VERSION = 256  # characters: the longest real versions are under 100

# --- Debian ------------------------------------------------------------------------

# Debian Policy 5.6.12 (dpkg's `verrevcmp`) compares alternating runs: non-digit runs
# character by character, `~` before everything (even the end of the run), the end of
# the run before letters, letters (ASCII) before every other character; digit runs as
# numbers (an absent run is 0). A part (upstream or revision) is turned into one string
# that Python orders the same way, so a comparison is one C-level `str` comparison:
#
# - each non-digit character is mapped so that code points follow that order:
#   `~` -> \x01, letters unchanged (65-122), `+ - .` -> `{ | }` (123-125);
# - each non-digit run (even an empty first one) is closed by _END (\x02: after `~`,
#   before every letter);
# - each digit run becomes its length as one character (_NUM0 + length) followed by
#   its digits, leading zeros dropped: a longer number is larger, equal lengths compare
#   digit by digit; a last non-digit run without digits gets the number 0 (_NUM0 alone);
# - the part ends with _END, which meets either another _END (the same version) or the
#   first character of a further non-digit run (`~` sorts before it, anything else after).
# Every non-digit run but the first is non-empty, so both strings are always at the same
# kind of position (run character or _END, or number) where they first differ.
_DEB_TR = str.maketrans({"~": "\x01", "+": "{", "-": "|", ".": "}"})
_DEB_SPLIT = re.compile(r"(\d+)").split  # `\d` as univers' pattern: the first digit may be any
_END = "\x02"
_NUM0 = "0"


class _Numbers(dict[str, str]):
    """digit run -> its encoding (_END, length, digits without leading zeros)."""

    def __missing__(self, digits: str) -> str:
        text = (digits if digits.isascii() else str(int(digits))).lstrip("0")
        code = f"{_END}{chr(ord(_NUM0) + len(text))}{text}"
        if len(self) < 100_000:
            self[digits] = code
        return code


_NUMBERS = _Numbers()  # for `debian_key`; each scheme has its own


def _deb_part_key(text: str, numbers: _Numbers) -> str:
    """One upstream or revision string as a `str` ordered like Debian's `verrevcmp`."""
    # [non-digits, digits, non-digits, ..., non-digits]: every non-digit run but the
    # first and the last is non-empty
    parts = _DEB_SPLIT(text.translate(_DEB_TR))
    parts[1::2] = map(numbers.__getitem__, parts[1::2])
    if parts[-1] or len(parts) == 1:  # a last non-digit run (or none at all): number 0
        parts.append(_END + _NUM0 + _END)
    else:
        parts.append(_END)
    return "".join(parts)


def _debian_split(text: str) -> tuple[int, str, str] | None:
    """(epoch, upstream, revision) as univers splits a valid version (epoch before the
    first ":", revision after the last "-", "0" when there is none), None when univers
    rejects the text."""
    text = text.strip()
    if not text or len(text) > MAX_VERSION or not is_valid_debian_version(text):
        return None
    epoch, sep, rest = text.partition(":")
    if not sep:
        epoch, rest = "0", text
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, "0"
    return int(epoch), upstream, revision


def debian_key(text: str) -> tuple[int, str, str] | None:
    """The ordering key of a Debian version, None when univers rejects it. Equal keys
    mean equal versions (`1.01` == `1.1`, `1.0` == `1.0-0`), so keys also serve as set
    members."""
    split = _debian_split(text)
    if split is None:
        return None
    return (split[0], _deb_part_key(split[1], _NUMBERS), _deb_part_key(split[2], _NUMBERS))


class _DebianParser:
    """`debian_key` for a scheme: raises on a version univers rejects; the keys of
    upstream and revision strings are cached (they repeat across versions)."""

    def __init__(self) -> None:
        self._parts: dict[str, str] = {}
        self._numbers = _Numbers()

    def __call__(self, text: str) -> tuple[int, str, str]:
        split = _debian_split(text)
        if split is None:
            raise ValueError(text)
        parts = self._parts
        epoch, upstream, revision = split
        up = parts.get(upstream)
        if up is None:
            up = parts[upstream] = _deb_part_key(upstream, self._numbers)
        rev = parts.get(revision)
        if rev is None:
            rev = parts[revision] = _deb_part_key(revision, self._numbers)
        if len(parts) > 100_000:
            parts.clear()
        return (epoch, up, rev)


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


class _Keys(dict[str, Any]):
    """text -> parse(text), or None when the text is not a version (parsers raise
    assorted errors on odd input), computed on first use: `map(keys.__getitem__,
    texts)` then runs in C for every text seen before."""

    def __init__(self, parse: Callable[[str], Any], limit: int = 200_000) -> None:
        super().__init__()
        self._parse = parse
        self._limit = limit

    def __missing__(self, text: str) -> Any:
        try:
            value = self._parse(text) if text and len(text) <= MAX_VERSION else None
        except Exception:
            value = None
        if len(self) < self._limit:
            self[text] = value
        return value


class Scheme:
    """Parses (with a cache) and orders the versions of one ecosystem.

    `plain`: keys are plain tuples (Debian, PEP 440), totally ordered, compared in C,
    and equal exactly when the versions are equal, so events may be sorted by key.
    `could_equal(key, texts)`: those of `texts` that may be versions equal to `key`, a
    cheap test that spares parsing the others."""

    def __init__(self, name: str, parse: Callable[[str], Any], *, plain: bool = False,
                 could_equal: Callable[[Any, set[str]], Iterable[str]] | None = None
                 ) -> None:
        self.name = name
        self.plain = plain
        self._could_equal = could_equal
        self._keys = _Keys(parse)
        # An orderable key (`<`, `==`) of a version text, or None when the text is not a
        # version here: the cache's own lookup, so a call costs no Python frame.
        self.key: Callable[[str], Any] = self._keys.__getitem__
        # installed version text -> (listed strings compared, those equal to it)
        self._equal: dict[str, tuple[set[str], set[str]]] = {}

    def listed_equal(self, text: str, v: Any, versions: Sequence[str]) -> bool:
        """Whether a listed version equals `v` (parsed from `text`). Each listed string
        is judged once per installed version (the lists of one package's advisories
        repeat the same releases): by key, after the scheme's `could_equal` has set aside
        the strings that cannot be equal without parsing them."""
        memo = self._equal.get(text)
        if memo is None:
            if len(self._equal) > 10_000:
                self._equal.clear()
            memo = self._equal[text] = (set(), set())
        seen, equal = memo
        new = set(versions).difference(seen)
        if new:
            key = self.key
            maybe = new if self._could_equal is None else self._could_equal(v, new)
            for other in maybe:
                k = key(other)
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


# --- PEP 440 -----------------------------------------------------------------------

# packaging's `Version` orders and equates versions by a key (`packaging.version._cmpkey`,
# private): epoch, release without trailing zeros, a pre/post/dev suffix, the local
# segments. Building a Version for anything but a plain release runs one large regular
# expression, and every comparison goes through Python methods; matching compares
# thousands (every event and listed version of a package's advisories). So the key is
# built here as plain tuples that compare in C, from the public parts of a Version, or,
# for the spellings PyPI itself publishes (`1.2.3`, `1.2rc1`, `1.2.post1`, `1.2.dev3` and
# their combinations), straight from a small pattern without building one. Equal keys
# are equal versions, so keys also serve as set members for explicit versions lists.
# tests/test_vuln_versions.py checks key order and equality against packaging's Version
# on generated versions.
_PEP440_PLAIN = re.compile(
    r"([0-9]+(?:\.[0-9]+)*)(?:(a|b|rc)([0-9]+))?(?:\.post([0-9]+))?(?:\.dev([0-9]+))?")
_RELEASE_CHARS = frozenset("0123456789.")
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}
_STABLE = (3, 0, 0, 0, 1, 0)


def pep440_key(text: str) -> tuple[Any, ...]:
    """The ordering key of a PEP 440 version (raises packaging's InvalidVersion)."""
    if _RELEASE_CHARS.issuperset(text):  # "1.2.3": as packaging's own shortcut
        try:
            release = tuple(map(int, text.split(".")))
        except ValueError:  # an empty part ("1..2", "1."): packaging decides
            pass
        else:
            while release and release[-1] == 0:
                release = release[:-1]
            return (0, release, _STABLE)
    m = _PEP440_PLAIN.fullmatch(text)
    if m is not None:
        rel, pre_l, pre_n, post_n, dev_n = m.groups()
        release = tuple(map(int, rel.split(".")))
        if pre_l is None and post_n is None and dev_n is None:
            while release and release[-1] == 0:
                release = release[:-1]
            return (0, release, _STABLE)
        return _pep440_cmpkey(0, release, (pre_l, int(pre_n)) if pre_l else None,
                              None if post_n is None else int(post_n),
                              None if dev_n is None else int(dev_n), None)
    v = PackagingVersion(text)
    local = None
    if v.local is not None:
        local = tuple(int(p) if p.isdigit() else p for p in v.local.split("."))
    return _pep440_cmpkey(v.epoch, v.release, v.pre, v.post, v.dev, local)


# For each line: the release at its start when spelt plainly (every number without
# leading zeros, not followed by more digits), else "": "2.2.0" for "2.2.0rc1", "" for
# "02.2", "v2.2" or "2.02" (and "1" for "1!2.0": epochs are looked at apart).
_PLAIN_RELEASES = re.compile(
    r"^((?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*(?!\.?[0-9])|)[^\n]*$", re.MULTILINE)


def _pep440_could_equal(v: tuple[Any, ...], texts: set[str]) -> list[str]:
    """`Scheme.could_equal` for PEP 440: a text whose release is spelt plainly, without
    an epoch, can equal the version keyed `v` only if `v` has no epoch and the releases
    are the same but for trailing zeros; the others (leading zeros, "v", spaces, epochs,
    anything odd) are kept and parsed. One pattern scan for all the texts, so most
    listed versions are set aside without a Python call each."""
    listed = list(texts)
    joined = "\n".join(listed)
    releases = _PLAIN_RELEASES.findall(joined)
    if len(releases) != len(listed):  # a text with a line break: parse them all
        return listed
    epochs = "!" in joined
    if v[0]:  # an epoch: only a text with an epoch (or an odd one) can be equal
        return [t for t, r in zip(listed, releases, strict=True)
                if not r or (epochs and "!" in t)]
    own = ".".join(map(str, v[1])) if v[1] else "0"  # without trailing zeros
    zeros, n = own + ".0", len(own)
    return [t for t, r in zip(listed, releases, strict=True)
            if not r or r == own or (r.startswith(zeros) and not r[n:].replace(".0", ""))
            or (epochs and "!" in t)]


def _pep440_cmpkey(epoch: int, release: tuple[int, ...], pre: tuple[str, int] | None,
                   post: int | None, dev: int | None,
                   local: tuple[int | str, ...] | None) -> tuple[Any, ...]:
    """As packaging's `_cmpkey`: (epoch, release without trailing zeros, (pre rank:
    dev-only -1, a 0, b 1, rc 2, none 3; pre number; post rank: none 0, post 1; post
    number; dev rank: dev 0, none 1; dev number)[, local segments: (n, "") for numbers,
    (-1, s) for strings])."""
    while release and release[-1] == 0:
        release = release[:-1]
    if pre is None and post is None and dev is None and local is None:
        return (epoch, release, _STABLE)
    if pre is None:
        pre_rank, pre_n = (-1, 0) if post is None and dev is not None else (3, 0)
    else:
        pre_rank, pre_n = _PRE_RANK[pre[0]], pre[1]
    suffix = (pre_rank, pre_n, 0 if post is None else 1, post or 0,
              1 if dev is None else 0, dev or 0)
    if local is None:
        return (epoch, release, suffix)
    return (epoch, release, suffix,
            tuple((seg, "") if isinstance(seg, int) else (-1, seg) for seg in local))


def _golang(text: str) -> Any:
    return _Wrapped(uv.GolangVersion(text))


# The ECOSYSTEM ordering of each OSV ecosystem (the part before ":" of OSV names).
_ECOSYSTEM_PARSERS: dict[str, Callable[[str], Any]] = {
    "Debian": debian_key,
    "Ubuntu": debian_key,
    "Alpine": _univers(uv.AlpineLinuxVersion),
    "PyPI": pep440_key,
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
        return Scheme(ecosystem, _DebianParser(), plain=True)
    if parse is pep440_key:
        return Scheme(ecosystem, parse, plain=True, could_equal=_pep440_could_equal)
    return Scheme(ecosystem, parse)


# --- OSV ranges --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    fixed: str = ""  # the first fixed version above the installed one, "" when none
    unparsed: str = ""  # a version that could not be parsed (the range was not judged)


_NOT = Verdict(False)


class Unjudged(Exception):
    """An event's version could not be parsed: the range cannot be judged."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# Events as the database stores them (`db._ranges_json`): [kind, version] with kind
# i(ntroduced), f(ixed), l(ast_affected) or (li)m(it).
_ORDER = {"i": 0, "l": 1, "f": 2}


def _short(e: Event) -> tuple[str, str]:
    if e.introduced:
        return "i", e.introduced
    if e.fixed:
        return "f", e.fixed
    if e.last_affected:
        return "l", e.last_affected
    return "m", e.limit


def in_range(v: Any, rng: Range, sch: Scheme) -> Verdict:
    """Whether the parsed version `v` lies in one OSV range (see the module docstring)."""
    try:
        fixed = in_events(v, [_short(e) for e in rng.events], sch)
    except Unjudged as exc:
        return Verdict(False, unparsed=exc.text)
    return _NOT if fixed is None else Verdict(True, fixed)


def in_events(v: Any, events: Sequence[Sequence[str]], sch: Scheme) -> str | None:
    """`in_range` on events as stored ([kind, version] pairs): None when `v` is not in
    the range, else the first fixed version above it ("" when none). Raises Unjudged
    when an event's version cannot be parsed."""
    if len(events) == 2:  # the common shape: introduced 0, fixed X
        (k0, t0), (k1, t1) = events
        if k0 == "i" and t0 == "0" and k1 == "f" and t1:
            fixed_key = sch.key(t1)
            if fixed_key is None:
                raise Unjudged(t1)
            return t1 if v < fixed_key else None
    key = sch.key
    limits: list[Any] = []
    evs: list[tuple[Any, str, str]] = []  # (key or None for introduced "0", kind, text)
    for kind, text in events:
        if not text:
            kind = "m"  # an event without a version reads as an empty limit
        if kind == "m":
            if "*" in text:
                limits.append(None)
                continue
            k = key(text)
            if k is None:
                raise Unjudged(text)
            limits.append(k)
            continue
        if kind not in _ORDER:  # not an OSV event (our writer never stores one)
            continue
        if kind == "i" and text == "0":
            evs.append((None, kind, text))
            continue
        k = key(text)
        if k is None:
            raise Unjudged(text)
        evs.append((k, kind, text))
    if limits and not any(lim is None or v < lim for lim in limits):
        return None
    if len(evs) > 1:
        if sch.plain:  # sorting by (key, kind) orders as _cmp_events does
            zero = [e for e in evs if e[0] is None]
            rest = [e for e in evs if e[0] is not None]
            rest.sort(key=_event_order)
            evs = zero + rest
        else:
            evs.sort(key=functools.cmp_to_key(_cmp_events))
    vulnerable = False
    upto = len(evs)
    for i, (k, kind, _text) in enumerate(evs):
        if k is not None and v < k:
            upto = i
            break
        if kind == "i":
            vulnerable = True
        elif kind == "f" or (kind == "l" and v != k):  # v > last_affected
            vulnerable = False
    if not vulnerable:
        return None
    return next((text for _k, kind, text in evs[upto:] if kind == "f"), "")


def _event_order(e: tuple[Any, str, str]) -> tuple[Any, int]:
    return (e[0], _ORDER[e[1]])


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


def in_versions(v: Any, text: str, versions: Sequence[str], sch: Scheme) -> bool:
    """Listed explicitly: the same string, or the same version once parsed."""
    if text in versions:
        return True
    if v is None:
        return False
    return sch.listed_equal(text, v, versions)


def in_short_form(events: Sequence[Event]) -> list[tuple[str, str]]:
    """Events as the database stores them: [kind, version] pairs."""
    return [_short(e) for e in events]
