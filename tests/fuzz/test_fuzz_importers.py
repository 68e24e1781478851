"""Fuzzing the advisory importers (issue 11): OSV records, the Debian tracker's JSON, Alpine
secdb files, the streaming JSON reader under them, and version parsing. Every example
ends in advisories (each storable: no lone surrogate) or a DockwardenError.

Seeds: real documents from ../shared/data (the PyPA OSV archive, the Alpine secdb files)
when that folder is present, mutated by replacing one value anywhere with a hostile one;
otherwise small documents of our own."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.errors import DockwardenError
from dockwarden.model.vuln import Advisory
from dockwarden.vuln import versions
from dockwarden.vuln.importers import alpine_secdb, debian_tracker, osv
from dockwarden.vuln.importers.base import ImportStats, invalid_text, stream_items
from fuzz.conftest import corpus, json_paths, json_replace

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _real_osv(limit: int = 40) -> list[Any]:
    path = SHARED / "osv-pypi-pypa-advisory-database.zip"
    if not path.is_file():
        return []
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".json"))[:limit]
        return [json.loads(zf.read(n)) for n in names]


def _real_secdb() -> list[Any]:
    folder = SHARED / "alpine-secdb"
    if not folder.is_dir():
        return []
    docs = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_bytes())
        docs.append({**doc, "packages": doc.get("packages", [])[:30]})
    return docs


OWN_OSV = {"id": "PYSEC-1", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-1"],
           "summary": "x", "severity": [{"type": "CVSS_V3",
                                         "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
           "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                         "ranges": [{"type": "ECOSYSTEM",
                                     "events": [{"introduced": "0"}, {"fixed": "2.36-9"}]}],
                         "versions": ["2.36-8"], "ecosystem_specific": {"urgency": "low"}}],
           "references": [{"type": "WEB", "url": "https://example.org"}]}
OWN_TRACKER = {"glibc": {"CVE-2024-1": {"description": "a flaw", "releases": {
    "bookworm": {"status": "resolved", "fixed_version": "2.36-9", "urgency": "low"},
    "trixie": {"status": "open", "urgency": "medium", "nodsa": "minor",
               "nodsa_reason": "postponed"}}}}}
OWN_SECDB = {"distroversion": "v3.19", "reponame": "main", "packages": [
    {"pkg": {"name": "musl", "secfixes": {"1.2.4-r1": ["CVE-2024-1234 XSA-1 (note)"],
                                          "0": ["CVE-2020-1111"]}}}]}

OSV_SEEDS = _real_osv() or [OWN_OSV]
SECDB_SEEDS = _real_secdb() or [OWN_SECDB]

HOSTILE_TEXT = st.sampled_from(["\ud800", "a\udfffb", "[/]", "\x1b]0;x\x07", "", " ", "0",
                                "*", "1" * 300, "(" * 300, "CVE-" + "9" * 50, "\x00",
                                "Debian:12", "PyPI", "ECOSYSTEM", "GIT", "SEMVER"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    HOSTILE_TEXT, st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(HOSTILE_TEXT, st.text(max_size=8)), inner, max_size=4)),
    max_leaves=20)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Any:
    doc = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(json_paths(doc, max_items=10)))
        doc = json_replace(doc, path, draw(values))
    return doc


def _storable(advs: list[Advisory]) -> None:
    for adv in advs:
        assert not invalid_text(adv), adv


# --- OSV ------------------------------------------------------------------------------

@given(mutated(OSV_SEEDS))
@example(OWN_OSV)
@example({**OWN_OSV, "id": "\ud800"})
@example({**OWN_OSV, "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                                   "ranges": [{"type": ["ECOSYSTEM"]}]}]})
def test_osv_record(doc: Any) -> None:
    """The strict parser (without the per-record guard) never raises on any shape."""
    stats = ImportStats()
    adv = osv._parse(doc, "osv-test", stats, "doc")
    osv.parse(doc, "osv-test", stats, "doc")
    if adv is not None and not invalid_text(adv):
        assert adv.id == doc["id"]


@given(st.one_of(st.binary(max_size=300),
                 mutated(OSV_SEEDS).map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
                 st.sampled_from([b"[" * 50_000, b'{"id": "\\ud800"}', b"\xff", b"{}" * 100])))
def test_osv_bytes(data: bytes) -> None:
    adv = osv.parse_bytes(data, "osv-test", ImportStats(), "doc")
    if adv is not None:
        _storable([adv])


# --- Debian tracker ---------------------------------------------------------------------

tracker_docs = st.one_of(
    mutated([OWN_TRACKER]),
    st.dictionaries(st.one_of(HOSTILE_TEXT, st.text(max_size=8)), values, max_size=4))


@given(tracker_docs)
@example({"glibc": {"CVE-1": {"releases": {"bookworm": {"status": "open"}},
                              "description": "\ud800"}}})
def test_tracker_document(doc: Any) -> None:
    data = json.dumps(doc).encode("utf-8", "surrogatepass")
    try:
        advs = list(debian_tracker.iter_tracker(data, "tracker.json", ImportStats()))
    except DockwardenError:
        return
    _storable(advs)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.sampled_from([b'{"a": ' + b"[" * 50_000, b'{"a": {}}' * 3, b"\xef\xbb\xbf{}",
                                  b'{"a": 1e999999}', b'{"a": "\\ud800"}'])))
def test_tracker_bytes(data: bytes) -> None:
    with contextlib.suppress(DockwardenError):
        _storable(list(debian_tracker.iter_tracker(data, "tracker.json", ImportStats())))


# --- Alpine secdb -----------------------------------------------------------------------

@given(mutated(SECDB_SEEDS))
@example(OWN_SECDB)
def test_secdb_document(doc: Any) -> None:
    try:
        advs = list(alpine_secdb.iter_secdb(doc, "main.json", ImportStats()))
    except DockwardenError:
        return
    _storable(advs)


# --- the streaming reader ---------------------------------------------------------------

class Trickle(io.RawIOBase):
    """A file that returns at most `step` bytes a read (chunk boundaries everywhere)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


containers = st.one_of(st.lists(values, max_size=6),
                       st.dictionaries(st.text(max_size=6), values, max_size=6))


@given(containers, st.integers(1, 40))
def test_stream_items_agrees_with_json(value: Any, step: int) -> None:
    """For valid JSON, the stream gives exactly what `json.loads` gives, whatever the
    read sizes; for a value with a lone surrogate escape too."""
    data = json.dumps(value).encode()
    items = list(stream_items(Trickle(data, step), "x.json"))  # type: ignore[arg-type]
    expected = json.loads(data)
    if isinstance(expected, dict):
        assert dict(items) == expected
    else:
        assert [v for _, v in items] == expected


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
       st.integers(1, 40))
def test_stream_items_any_bytes(data: bytes, step: int) -> None:
    stream = Trickle(data, step)
    with contextlib.suppress(DockwardenError):
        list(stream_items(stream, "x.json", max_item=64, max_nodes=5))  # type: ignore[arg-type]


def test_saved_cases() -> None:
    for data in corpus("importers"):
        with contextlib.suppress(DockwardenError):
            list(debian_tracker.iter_tracker(data, "t.json", ImportStats()))
        osv.parse_bytes(data, "osv-test", ImportStats(), "doc")


# --- versions ---------------------------------------------------------------------------

ECOSYSTEMS = [*sorted(versions._ECOSYSTEM_PARSERS), "Unknown"]
version_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789.-+~:abrcv_", max_size=60),
    st.sampled_from(["1" * 5000, "1." * 3000, "a1" * 3000, "1:" + "9" * 5000, "\ud800",
                     "1.0-a.b+c~d:" * 500, "", " ", "v1.2.3", "1!2.0rc1.post3.dev4+l.1"]))


@given(st.sampled_from(ECOSYSTEMS), st.sampled_from(["ECOSYSTEM", "SEMVER"]), version_text,
       version_text)
def test_versions(ecosystem: str, range_type: str, a: str, b: str) -> None:
    sch = versions.scheme(ecosystem, range_type)
    ka = sch.key(a)
    sch.key(b)
    sch.lt(a, b)
    versions.debian_key(a)
    if ka is not None:
        with contextlib.suppress(versions.Unjudged):
            versions.in_events(ka, [("i", "0"), ("f", b), ("l", a), ("m", "*")], sch)
        versions.in_versions(ka, a, [b, a], sch)
