"""Version keys and the OSV range evaluation (`vuln/versions.py`) against the libraries
whose order they stand in for: the Debian key against univers' `compare_versions`, the
PEP 440 key against packaging's `Version`, the explicit-versions test against a plain
comparison of every listed version, and the event walk over keys sorted in C against the
same walk sorted by comparisons."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version
from univers.debian import compare_versions, is_valid_debian_version

from dockwarden.vuln.versions import (
    Scheme,
    Unjudged,
    debian_key,
    in_events,
    pep440_key,
    scheme,
)


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


# --- Debian --------------------------------------------------------------------------

# Debian versions as they come: epochs, leading zeros, long numbers, `~` anywhere,
# letters of both cases, `+`/`.`/`-` in the upstream part (a `-` there needs a revision).
_DEB_VERSION = st.from_regex(
    r"([0-9]{1,2}:)?[0-9]{1,3}([0-9A-Za-z.+~]{0,7}|[0-9A-Za-z.+~]{0,4}-[0-9A-Za-z.+~]{0,3})"
    r"(-[0-9A-Za-z.+~]{1,6})?", fullmatch=True)
_DEB_PAIRS = [
    ("1.0", "1.0-0"), ("1.0~", "1.0"), ("1.0~~", "1.0~"), ("1.0a", "1.0+"), ("1a0", "1a"),
    ("0", "00"), ("1.01", "1.1"), ("1:0", "0:9"), ("1.0-", "1.0-0"), ("1.0.", "1.0"),
    ("1.123456789012345678901234567890", "1.123456789012345678901234567891"),
    ("2.36-9+deb12u3", "2.36-9+deb12u10"), ("5.2.15-2", "5.2.15-2+b2"), ("1.0-1~bpo1", "1.0-1"),
    ("1.0A", "1.0a"), ("1.0-1-2", "1.0-1"), ("1~", "1"), ("1", "1."), ("1a", "1.a"),
    ("1.0+1-1", "1.0-1-1"), ("1.0.1-1", "1.0-1-1"), ("1.0+a-1", "1.0.a-1"), ("1Z-1", "1a-1"),
]


@settings(max_examples=1000, deadline=None)
@given(_DEB_VERSION, _DEB_VERSION)
@example("1.0", "1.0-0")
def test_debian_key_orders_and_equates_as_univers(a: str, b: str) -> None:
    ka, kb = debian_key(a), debian_key(b)
    assert (ka is None) == (not is_valid_debian_version(a))
    assert (kb is None) == (not is_valid_debian_version(b))
    if ka is None or kb is None:
        return
    expected = _sign(compare_versions(a, b))
    assert ((ka > kb) - (ka < kb)) == expected, (a, b)
    assert (ka == kb) == (expected == 0), (a, b)


@pytest.mark.parametrize(("a", "b"), _DEB_PAIRS)
def test_debian_key_on_the_corner_cases(a: str, b: str) -> None:
    ka, kb = debian_key(a), debian_key(b)
    assert ka is not None and kb is not None
    assert ((ka > kb) - (ka < kb)) == _sign(compare_versions(a, b)), (a, b)


@settings(max_examples=100, deadline=None)
@given(st.lists(_DEB_VERSION, min_size=1, max_size=30))
def test_the_debian_scheme_keys_are_debian_key(texts: list[str]) -> None:
    """The scheme caches parts of versions between calls: the keys stay the same."""
    sch = scheme.__wrapped__("Debian")
    for text in texts + texts[::-1]:
        assert sch.key(text) == debian_key(text)


# --- PEP 440 -------------------------------------------------------------------------

_SEP = st.sampled_from(["", ".", "-", "_"])
_NUMBER = st.integers(0, 30).map(str) | st.from_regex(r"0[0-9]{1,2}", fullmatch=True)


@st.composite
def pep440_texts(draw: st.DrawFn) -> str:
    """Versions spelt every way PEP 440 allows (epochs, leading zeros, pre-release
    synonyms, implicit post releases, local parts, case, a `v`, spaces), now and then
    something that is not a version at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.text(alphabet="0123456789.abrcdevpost!+-_ v", max_size=10))
    text = draw(st.sampled_from(["", "", "", "v", "V", " "]))
    if draw(st.booleans()) and draw(st.booleans()):
        text += draw(st.sampled_from(["0", "1", "2"])) + "!"
    text += ".".join(draw(st.lists(_NUMBER, min_size=1, max_size=4)))
    if draw(st.integers(0, 2)) == 0:
        text += draw(_SEP) + draw(st.sampled_from(
            ["a", "b", "rc", "alpha", "beta", "c", "pre", "preview", "RC", "A"]))
        text += draw(st.sampled_from(["", "", "1", "0", "2", "12", ".3"]))
    if draw(st.integers(0, 3)) == 0:
        text += draw(st.sampled_from(["-1", ".post1", "post2", ".post", "-r3", ".rev0",
                                      "_post1", ".POST4"]))
    if draw(st.integers(0, 3)) == 0:
        text += draw(st.sampled_from([".dev0", ".dev", "dev3", "-dev1", ".DEV2"]))
    if draw(st.integers(0, 5)) == 0:
        text += "+" + draw(st.sampled_from(["ubuntu1", "1.2", "abc.01", "A-b_1", "1"]))
    if draw(st.integers(0, 9)) == 0:
        text += " "
    return text


# PEP 440's own example of the order, lowest first, spelt as PyPI spells versions.
_PEP440_ORDER = [
    "1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
    "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456",
    "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0+10", "1.0.post456.dev34",
    "1.0.post456", "1.0.15", "1.1.dev1", "1!0.1",
]


def test_pep440_key_sorts_the_example_of_the_pep() -> None:
    sch = scheme.__wrapped__("PyPI")
    shuffled = _PEP440_ORDER[1::2] + _PEP440_ORDER[::2]
    assert sorted(shuffled, key=sch.key) == _PEP440_ORDER
    assert sorted(shuffled, key=Version) == _PEP440_ORDER


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@settings(max_examples=1500, deadline=None)
@given(pep440_texts(), pep440_texts())
@example("2.2", "2.2.0")
@example("1.0.dev0", "1.0a1")
@example("1.0+1", "1.0+01")
@example("1!1.0", "2.0")
def test_pep440_key_orders_and_equates_as_packaging(a: str, b: str) -> None:
    sch = scheme.__wrapped__("PyPI")
    va, vb = _version(a), _version(b)
    ka, kb = sch.key(a), sch.key(b)
    assert (ka is None) == (va is None), a
    assert (kb is None) == (vb is None), b
    if va is None or vb is None:
        return
    assert ka == pep440_key(a)
    assert ((ka > kb) - (ka < kb)) == ((va > vb) - (va < vb)), (a, b)
    assert (ka == kb) == (va == vb), (a, b)


@st.composite
def spellings(draw: st.DrawFn, text: str) -> str:
    """Another spelling of a version text, often of the same version."""
    return draw(st.sampled_from([
        text, text + ".0", text + ".0.0", "v" + text, " " + text, text.upper(),
        "0" + text, "0!" + text, text.replace(".", ".0", 1), text + "rc1", text + ".post0",
        text.replace("rc", "c"), text.replace(".dev", "dev"), text + "+local",
    ]))


@settings(max_examples=600, deadline=None)
@given(st.data(), pep440_texts(), st.lists(pep440_texts(), max_size=12))
def test_listed_equal_finds_exactly_the_equal_versions(
        data: st.DataObject, installed: str, others: list[str]) -> None:
    """`listed_equal` (which skips parsing what cannot be equal) says the same as
    comparing the installed version with every listed one, through packaging."""
    sch = scheme.__wrapped__("PyPI")
    v = _version(installed)
    if v is None:
        return
    listed = others + data.draw(st.lists(spellings(installed.strip()), max_size=3))
    listed = data.draw(st.permutations(listed))
    equal = [_version(s) == v for s in listed]
    # twice: the second answer comes from what the first remembered
    assert sch.listed_equal(installed, sch.key(installed), listed) is any(equal)
    assert sch.listed_equal(installed, sch.key(installed), listed) is any(equal)
    assert sch.listed_equal(installed, sch.key(installed), listed[:1]) is any(equal[:1])


@pytest.mark.parametrize(("installed", "listed", "equal"), [
    ("1", ["1.0", "2"], True), ("2.2.0", ["2.2"], True), ("2.2", ["2.2.0.0"], True),
    ("1.0.1", ["1.0", "1.1", "1.0.1.0"], True), ("1.0.1", ["1.0", "1.1", "1.01"], False),
    ("0", ["0.0"], True), ("0.0", ["0"], True), ("0.5", ["00.5"], True),
    ("1.0rc1", ["1rc1"], True), ("1.0rc1", ["1.0c1", "1.0"], True), ("1!2.0", ["1!2"], True),
    ("1!2.0", ["2.0"], False), ("2.0", ["0!2", "v2"], True), ("2.0", ["2.0+1", "2.0.1"], False),
    ("1.10", ["1.1", "1.100", "1.10.0"], True), ("1.1", ["1.10", "11", "1.01.0"], True),
])
def test_listed_equal_on_the_spellings_of_one_version(installed: str, listed: list[str],
                                                      equal: bool) -> None:
    sch = scheme.__wrapped__("PyPI")
    assert sch.listed_equal(installed, sch.key(installed), listed) is equal
    assert any(Version(s) == Version(installed) for s in listed) is equal


# --- OSV events: keys sorted in C == the same walk sorted by comparisons --------------

def _slow(sch: Scheme) -> Scheme:
    """The same versions, judged without the plain-key shortcuts."""
    parse = sch._keys._parse
    return Scheme(sch.name + "/slow", parse)


def _reference(v: Any, events: list[tuple[str, str]], key: Any) -> str | None:
    """OSV's evaluation, written out plainly: events sorted by version (introduced 0
    first; at one version introduced, last_affected, fixed), walked up to `v`."""
    order = {"i": 0, "l": 1, "f": 2}
    limits = [e for e in events if e[0] == "m"]
    evs = [(None if (k == "i" and t == "0") else key(t), k, t) for k, t in events if k != "m"]
    if limits and not any("*" in t or v < key(t) for _k, t in limits):
        return None

    def cmp(a: tuple[Any, str, str], b: tuple[Any, str, str]) -> int:
        if a[0] is None or b[0] is None:
            return (b[0] is None) - (a[0] is None)
        if a[0] < b[0]:
            return -1
        if b[0] < a[0]:
            return 1
        return order[a[1]] - order[b[1]]

    evs.sort(key=functools.cmp_to_key(cmp))
    state, upto = False, len(evs)
    for i, (k, kind, _t) in enumerate(evs):
        if k is not None and v < k:
            upto = i
            break
        if kind == "i":
            state = True
        elif kind == "f" or (kind == "l" and v != k):
            state = False
    if not state:
        return None
    return next((t for _k, kind, t in evs[upto:] if kind == "f"), "")


_PYPI_POOL = ["0", "0.9", "1.0", "1.0.0", "1.0rc1", "1.0.post1", "1.1", "1.2.dev0", "1.2",
              "2.0", "2!0.5", "1.0+local"]
_DEB_POOL = ["0", "1.0-1", "1.0-1~deb12u1", "1.0-1+b1", "1:0.9-1", "1.0-2", "1.0~rc1-1",
             "2.0-1", "1.0-1+deb12u1", "1.0-01", "1.00-1"]


@pytest.mark.parametrize(("ecosystem", "pool"), [("PyPI", _PYPI_POOL),
                                                 ("Debian", _DEB_POOL)])
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_in_events_agrees_with_the_plain_walk(ecosystem: str, pool: list[str],
                                              data: st.DataObject) -> None:
    sch = scheme.__wrapped__(ecosystem)
    version = data.draw(st.sampled_from(pool))
    event = st.tuples(st.sampled_from("iflm"), st.sampled_from(pool)).map(
        lambda e: ("m", "*") if e[0] == "m" and e[1] == "0" else e)
    events = data.draw(st.lists(event, min_size=1, max_size=7))
    v = sch.key(version)
    expected = _reference(v, events, sch.key)
    assert in_events(v, events, sch) == expected, (version, events)
    assert in_events(v, events, _slow(sch)) == expected, (version, events)


def test_an_event_that_does_not_parse_leaves_the_range_unjudged() -> None:
    sch = scheme("PyPI")
    with pytest.raises(Unjudged) as exc:
        in_events(sch.key("1.0"), [("i", "0"), ("f", "not!a!version")], sch)
    assert exc.value.text == "not!a!version"
    with pytest.raises(Unjudged):
        in_events(sch.key("1.0"), [("i", "0.5"), ("f", "2.0"), ("l", "bad bad")], sch)
