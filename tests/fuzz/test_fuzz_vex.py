"""Fuzzing VEX loading (issue 11): any bytes, and OpenVEX documents with values of the
wrong type anywhere, end in statements or a DockwardenError, and deciding a finding with
the statements loaded never raises."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.errors import DockwardenError
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Target
from dockwarden.vuln import vex
from fuzz.conftest import corpus, json_paths, json_replace

SEED: dict[str, Any] = {
    "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.org/vex-1",
    "author": "test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
    "statements": [
        {"vulnerability": {"name": "CVE-2024-1", "@id": "https://nvd/CVE-2024-1",
                           "aliases": ["GHSA-xxxx-yyyy-zzzz"]},
         "products": [{"@id": "pkg:oci/app@sha256:abc",
                       "identifiers": {"purl": "pkg:oci/app"},
                       "subcomponents": [{"@id": "pkg:deb/debian/glibc@2.36-9"}]}],
         "status": "not_affected", "justification": "vulnerable_code_not_present",
         "timestamp": "2024-02-01T00:00:00Z"},
        {"vulnerability": "CVE-2024-2", "products": ["pkg:pypi/django@4.2"],
         "status": "fixed", "subcomponents": ["pkg:npm/x"]}]}

HOSTILE = st.sampled_from(["\ud800", "[/]", "\x1b[2J", "", " ", "pkg:", "pkg:deb/",
                           "pkg:%zz/x", "pkg:deb/debian/a@1?x=%", "not_affected", "affected",
                           "a-" * 3000, "2024-13-45T99:99:99Z", "Z", "x" * 5000])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), HOSTILE,
                    st.text(max_size=16))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    doc: Any = SEED
    for _ in range(draw(st.integers(1, 3))):
        doc = json_replace(doc, draw(st.sampled_from(json_paths(doc))), draw(values))
    return json.dumps(doc).encode("utf-8", "surrogatepass")


FINDING = Finding("DW309", Severity.HIGH, "Vulnerable package",
                  Target(TargetKind.IMAGE, "app:1", "sha256:abc"), Source.IMAGE,
                  {"id": "CVE-2024-1", "ids": ["CVE-2024-1", "GHSA-xxxx-yyyy-zzzz"],
                   "package": "glibc", "package_type": "deb", "installed": "2.36-9"},
                  "upgrade", ())


def _load(data: bytes) -> None:
    try:
        statements = vex.parse(data, "vex.json")
    except DockwardenError:
        return
    vex.apply([FINDING], statements)


@given(documents())
@example(json.dumps(SEED).encode())
@example(b'{"@context": "openvex", "statements": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
def test_vex_documents(data: bytes) -> None:
    _load(data)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(
    lambda t: t.encode("utf-8", "surrogatepass"))))
def test_vex_bytes(data: bytes) -> None:
    _load(data)


def test_saved_cases() -> None:
    for data in corpus("vex"):
        _load(data)
