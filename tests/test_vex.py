"""OpenVEX statements and ignore entries applied to vulnerability findings (unit level;
the CLI path is in tests/test_vuln_match.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from dockwarden import ignore
from dockwarden.errors import InputError
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Target
from dockwarden.vuln import vex

TARGET = Target(TargetKind.IMAGE, "registry.example/shop/web:1.4",
                "sha256:" + "ab" * 32)


def finding(package: str, ids: list[str], ptype: str = "pypi", installed: str = "2.2",
            check: str = "DW310", source_package: str = "") -> Finding:
    ev: dict[str, Any] = {"id": ids[0], "ids": ids, "package": package,
                          "package_type": ptype, "installed": installed}
    if source_package:
        ev["source_package"] = source_package
    return Finding(check, Severity.HIGH, "Vulnerable package", TARGET, Source.IMAGE, ev,
                   "upgrade", ())


DJANGO = finding("django", ["CVE-2019-12308", "GHSA-6c7v-2f49-8h26", "PYSEC-2019-79"])
LIBSSL = finding("libssl3", ["CVE-2023-5363", "DSA-5532-1"], "deb", "3.0.11-1~deb12u1",
                 "DW309", "openssl")


def doc(*statements: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"@context": "https://openvex.dev/ns/v0.2.0",
                       "@id": "https://example.com/vex/1", "author": "sec",
                       "timestamp": "2024-01-01T00:00:00Z", "version": 1,
                       "statements": list(statements), **top}).encode()


def decide(data: bytes, f: Finding) -> str | None:
    st = vex.decide(vex.parse(data, "v.json"), f)
    return st.status if st is not None else None


@pytest.mark.parametrize(("statement", "applies"), [
    # vulnerability by name, by alias, by @id URL, case-insensitively
    ({"vulnerability": {"name": "CVE-2019-12308"}}, True),
    ({"vulnerability": {"name": "X-1", "aliases": ["ghsa-6c7v-2f49-8h26"]}}, True),
    ({"vulnerability": {"@id": "https://osv.dev/vulnerability/PYSEC-2019-79",
                        "name": "whatever"}}, True),
    ({"vulnerability": "CVE-2019-12308"}, True),  # the first OpenVEX layout
    ({"vulnerability": {"name": "CVE-2019-0001"}}, False),
    # products: package purls (name normalised for PyPI, version when given)
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "pkg:pypi/Django"}]}, True),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"identifiers": {"purl": "pkg:pypi/django@2.2"}}]}, True),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "pkg:pypi/django@3.0"}]}, False),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "pkg:npm/django"}]}, False),
    # products naming the image: all its packages, or the subcomponents listed
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "registry.example/shop/web:1.4"}]}, True),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "pkg:oci/web@sha256%3A" + "cd" * 32}]}, True),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "pkg:oci/api"}]}, False),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "sha256:" + "ab" * 32,
                    "subcomponents": [{"@id": "pkg:pypi/django"}]}]}, True),
    ({"vulnerability": {"name": "CVE-2019-12308"},
      "products": [{"@id": "registry.example/shop/web:1.4",
                    "subcomponents": [{"@id": "pkg:pypi/flask"}]}]}, False),
])
def test_statement_matching(statement: dict[str, Any], applies: bool) -> None:
    data = doc({**statement, "status": "not_affected",
                "justification": "vulnerable_code_not_present"})
    assert (decide(data, DJANGO) == "not_affected") is applies


def test_deb_product_purl_names_the_binary_package() -> None:
    data = doc({"vulnerability": {"name": "CVE-2023-5363"},
                "products": [{"@id": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64"}],
                "status": "fixed"})
    kept, suppressed = vex.apply([LIBSSL, DJANGO], vex.parse(data, "v.json"))
    assert kept == [DJANGO]
    assert suppressed == [(LIBSSL, "VEX v.json: fixed")]


def test_only_not_affected_and_fixed_suppress_and_the_latest_statement_decides() -> None:
    base = {"vulnerability": {"name": "CVE-2019-12308"}}
    older = {**base, "status": "not_affected", "justification": "component_not_present",
             "timestamp": "2024-01-01T00:00:00Z"}
    newer = {**base, "status": "affected", "action_statement": "upgrade",
             "timestamp": "2024-06-01T00:00:00Z"}
    statements = vex.parse(doc(newer, older), "v.json")  # file order does not matter
    kept, suppressed = vex.apply([DJANGO], statements)
    assert kept == [DJANGO] and suppressed == []
    for status in ("affected", "under_investigation"):
        st = {**base, "status": status}
        assert vex.apply([DJANGO], vex.parse(doc(st), "v.json"))[1] == []
    # later files win ties (no timestamps anywhere)
    first = vex.parse(json.dumps({"@context": "https://openvex.dev/ns", "statements": [
        {**base, "status": "affected"}]}).encode(), "a.json")
    second = vex.parse(json.dumps({"@context": "https://openvex.dev/ns", "statements": [
        {**base, "status": "fixed"}]}).encode(), "b.json", start=len(first))
    assert vex.apply([DJANGO], first + second)[1] == [(DJANGO, "VEX b.json: fixed")]


def test_other_checks_are_never_suppressed_by_vex() -> None:
    other = Finding("DW301", Severity.MEDIUM, "root", TARGET, Source.IMAGE,
                    {"id": "CVE-2019-12308"}, "", ())
    data = doc({"vulnerability": {"name": "CVE-2019-12308"}, "status": "fixed"})
    assert vex.apply([other], vex.parse(data, "v.json")) == ([other], [])


@pytest.mark.parametrize(("data", "message"), [
    (b"{", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[]", "must be a JSON object"),
    (b'{"statements": []}', "no OpenVEX @context"),
    (b'{"@context": "https://openvex.dev/ns", "statements": {}}', "statements must be a list"),
    (doc({"vulnerability": {"name": "CVE-1"}, "status": "maybe"}), "unknown status"),
    (doc({"vulnerability": 7, "status": "fixed"}), "vulnerability must be"),
    (doc({"vulnerability": {}, "status": "fixed"}), "names no vulnerability"),
    (doc({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": "x"}),
     "products must be a list"),
    (doc({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": [{}]}),
     "neither @id nor identifiers.purl"),
    (doc({"vulnerability": {"name": "CVE-1"}, "status": "fixed",
          "timestamp": "yesterday"}), "not an RFC 3339 time"),
    (doc({"vulnerability": {"name": "A" * 5000}, "status": "fixed"}), "longer than 4096"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b" " * (vex.MAX_BYTES + 1), "larger than 16 MiB"),
], ids=["truncated", "utf16", "list", "no-context", "statements-dict", "status", "vuln-int",
        "vuln-empty", "products-str", "product-empty", "timestamp", "long", "deep", "huge"])
def test_hostile_documents_are_one_line_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as err:
        vex.parse(data, "bad.json")
    text = err.value.message
    assert text.startswith("bad.json: not a usable OpenVEX document: ")
    assert message in text and "\n" not in text and len(text) < 300


def test_load_reports_unreadable_files(tmp_path: Any) -> None:
    with pytest.raises(InputError, match="cannot read VEX file"):
        vex.load([str(tmp_path / "absent.json")])


# --- ignore entries for vulnerabilities ------------------------------------------------

TODAY = dt.date(2026, 6, 1)


def test_ignore_by_vulnerability_id_any_alias_and_package_pattern() -> None:
    entries = ignore.parse(
        "- id: ghsa-6c7v-2f49-8h26\n  reason: admin not deployed\n"
        "- id: CVE-2023-5363\n  package: openssl\n  reason: no TLS here\n"
        "- check: DW309\n  id: CVE-2023-5363\n  package: libcrypto*\n  reason: x\n", "i.yaml")
    by_id, by_source, by_check = entries
    assert (by_id.check, by_id.id, by_id.package) == (None, "GHSA-6C7V-2F49-8H26", None)
    assert by_id.matches(DJANGO, TODAY) and not by_id.matches(LIBSSL, TODAY)
    assert by_source.matches(LIBSSL, TODAY)  # the package pattern also sees the source
    assert not by_check.matches(LIBSSL, TODAY)
    assert by_source.describe() == "entry 2 (id CVE-2023-5363, package openssl)"


def test_ignore_check_field_holding_a_vulnerability_id_is_read_as_id() -> None:
    (entry,) = ignore.parse("- check: CVE-2019-12308\n  reason: r\n", "i.yaml")
    assert (entry.check, entry.id) == (None, "CVE-2019-12308")
    (entry,) = ignore.parse("- check: dw214\n  reason: r\n", "i.yaml")
    assert (entry.check, entry.id) == ("DW214", None)


def test_expired_vulnerability_ignore_no_longer_applies() -> None:
    (entry,) = ignore.parse("- id: CVE-2019-12308\n  reason: r\n  expires: 2026-05-31\n",
                            "i.yaml")
    assert entry.expired(TODAY) and entry.applies(DJANGO)
    assert not entry.matches(DJANGO, TODAY)
    assert entry.matches(DJANGO, dt.date(2026, 5, 31))


@pytest.mark.parametrize(("text", "message"), [
    ("- reason: r\n", "has no check id"),
    ("- id: 'not an id'\n  reason: r\n", "is not a vulnerability id"),
    ("- id: CVE-1\n", "needs a reason"),
    ("- id: CVE-1\n  reason: r\n  package: [a]\n", "package is not a name"),
])
def test_bad_ignore_entries(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ignore.parse(text, "i.yaml")
