"""Worst-case inputs of the advisory importers for bench/hostile.py (issue 11), which
adds them to its targets:

    from hostile_feeds import feed_targets
    TARGETS += [Target(*row) for row in feed_targets()]

Each row is (name, make_input(size), parse(input), seed, fuzz(text) or None, tokens), as
`Target` takes them. `raise_caps()` lifts the importers' per-document caps (4 MiB per
OSV document, 64 MiB and 1,000,000 objects per streamed member, the tracker's row
limits) so that an 8 MB input measures the work, not a refusal.

Run them alone with `python bench/hostile.py --only
osv-record,tracker-many-packages,tracker-one-package,secdb-entries [--fuzz]`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

from dockwarden.vuln.importers import alpine_secdb, base, debian_tracker, osv  # noqa: E402

Row = tuple[str, Callable[[int], Any], Callable[[Any], Any], str,
            Callable[[str], Any] | None, tuple[str, ...]]


def raise_caps() -> None:
    base.MAX_DOCUMENT = 1 << 30
    base.MAX_NODES = 1 << 30
    base.MAX_ITEM = 1 << 30
    osv.MAX_DOCUMENT = 1 << 30
    debian_tracker.MAX_ROWS = 1 << 30
    debian_tracker.MAX_ISSUES = 1 << 30


def osv_record(size: int) -> bytes:
    """One OSV document of `size` bytes: affected packages with ranges, events, long
    explicit versions lists, aliases and references (every list the parser walks)."""
    one = {"package": {"ecosystem": "Debian:12", "name": "glibc"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                       {"fixed": "2.36-9+deb12u4"}]}],
           "versions": [f"2.36-{i}" for i in range(20)],
           "ecosystem_specific": {"urgency": "low"}}
    unit = len(json.dumps(one)) + 2
    doc = {"id": "DEBIAN-CVE-2024-1", "modified": "2024-01-01T00:00:00Z",
           "upstream": ["CVE-2024-1"], "details": "x" * 1000,
           "aliases": [f"CVE-2024-{i}" for i in range(100)],
           "affected": [one] * max(1, size // unit)}
    return json.dumps(doc).encode()


def tracker_packages(size: int) -> bytes:
    """The tracker's JSON with as many small packages as fit: the streamed path, one
    member at a time, and the rows kept until the end."""
    parts = []
    total = i = 0
    while total < size:
        part = (f'"pkg{i}": {{"CVE-2024-{i}": {{"description": "a flaw", "releases": '
                f'{{"bookworm": {{"status": "resolved", "fixed_version": "1.{i}-1", '
                f'"urgency": "low", "repositories": {{"bookworm": "1.{i}-1"}}}}, '
                f'"trixie": {{"status": "open", "urgency": "unimportant"}}}}}}}}')
        parts.append(part)
        total += len(part) + 2
        i += 1
    return ("{" + ", ".join(parts) + "}").encode()


def tracker_one_package(size: int) -> bytes:
    """One package holding every issue (a member as big as the file: the doubling
    reads of the stream, `linux` writ large)."""
    issues = []
    total = i = 0
    while total < size:
        part = (f'"CVE-2024-{i}": {{"description": "a flaw", "releases": {{"bookworm": '
                f'{{"status": "resolved", "fixed_version": "6.1.{i}-1", "urgency": "low"}}}}}}')
        issues.append(part)
        total += len(part) + 2
        i += 1
    return ('{"linux": {' + ", ".join(issues) + "}}").encode()


def secdb_entries(size: int) -> dict[str, Any]:
    """A secdb document of free-text entries: ids, comments and parentheses (the id
    patterns and the comment search run on every entry)."""
    entry = "CVE-2024-12345 XSA-447 TALOS-2017-0488 (FrameRelay (nested) note) " + "(" * 40
    per = {f"1.{j}-r0": [entry] * 5 for j in range(10)}
    unit = len(json.dumps({"pkg": {"name": "pkg", "secfixes": per}}))
    return {"distroversion": "v3.19", "reponame": "main",
            "packages": [{"pkg": {"name": f"pkg{i}", "secfixes": per}}
                         for i in range(max(1, size // unit))]}


# Each parser runs as `db import` / `db update` run them: with the cyclic garbage
# collector paused (vuln.importers.base.without_cyclic_gc).

def parse_osv(data: bytes) -> Any:
    with base.without_cyclic_gc():
        return osv.parse_bytes(data, "osv-bench", base.ImportStats(), "doc")


def parse_tracker(data: bytes | str) -> Any:
    with base.without_cyclic_gc():
        return list(debian_tracker.iter_tracker(data, "tracker.json", base.ImportStats()))


def parse_secdb(doc: dict[str, Any]) -> Any:
    with base.without_cyclic_gc():
        return list(alpine_secdb.iter_secdb(doc, "main.json", base.ImportStats()))


def fuzz_osv(text: str) -> Any:
    return parse_osv(text.encode("utf-8", "surrogatepass"))


def fuzz_secdb(text: str) -> Any:
    return parse_secdb(base.parse_json(text.encode("utf-8", "surrogatepass"), "main.json"))


OSV_SEED = json.dumps(json.loads(osv_record(2000)))
TRACKER_SEED = tracker_packages(600).decode()
SECDB_SEED = json.dumps(secdb_entries(3000))
JSON_TOKENS = ("{", "}", "[", "]", ",", ":", '"', "\\ud800", "\\u0000", "1e999", "null",
               "[" * 50, '{"a": ' * 20)


def feed_targets() -> list[Row]:
    raise_caps()
    return [
        ("osv-record", osv_record, parse_osv, OSV_SEED, fuzz_osv,
         (*JSON_TOKENS, '"affected": ', '"ranges": ', '"events": ', '"id": ')),
        ("tracker-many-packages", tracker_packages, parse_tracker, TRACKER_SEED, None,
         (*JSON_TOKENS, '"releases": ', '"status": "open"', '"fixed_version": "0"')),
        ("tracker-one-package", tracker_one_package, parse_tracker, TRACKER_SEED, None,
         JSON_TOKENS),
        ("secdb-entries", secdb_entries, parse_secdb, SECDB_SEED, fuzz_secdb,
         (*JSON_TOKENS, '"secfixes": ', "CVE-2024-", "(", ")", "XSA-")),
    ]

