"""Accepted-risk matching through the index gives the same verdict as comparing every
finding with every entry in file order, for exact names, patterns, ids and packages."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dockwarden import ignore
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Target

TODAY = dt.date(2026, 12, 6)
CHECKS = ["DW201", "DW214", "DW309"]
NAMES = ["web-1", "web-10", "build-a", "build-b", "x[1]", "db"]
PATTERNS = ["web-*", "build-?", "*", "x[[]1]", "db", "nomatch-*", "web-1"]


def _finding(check: str, ref: str, cid: str | None, vuln: str | None,
             package: str | None) -> Finding:
    evidence = {"id": vuln, "package": package} if vuln else {}
    return Finding(check, Severity.HIGH, "t", Target(TargetKind.CONTAINER, ref, cid),
                   Source.ENGINE, evidence, "fix", ())


entry = st.builds(
    lambda check, vuln, target, package, expired, n: ignore.Accepted(
        check, target, "why", TODAY - dt.timedelta(days=1) if expired else None, vuln,
        package, n),
    st.sampled_from([*CHECKS, None]), st.sampled_from(["CVE-2020-1", "CVE-2020-2", None]),
    st.sampled_from([*PATTERNS, None]), st.sampled_from(["django", "dj*", None]),
    st.booleans(), st.integers(1, 50),
).filter(lambda a: a.check is not None or a.id is not None)

finding = st.builds(_finding, st.sampled_from(CHECKS), st.sampled_from(NAMES),
                    st.sampled_from(["abc123", None]),
                    st.sampled_from(["CVE-2020-1", "CVE-2020-2", None]),
                    st.sampled_from(["django", "flask"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(entry, max_size=25), st.lists(finding, max_size=10))
def test_index_agrees_with_a_scan_of_every_entry(entries: list[ignore.Accepted],
                                                 findings: list[Finding]) -> None:
    entries = [replace(e, entry=i) for i, e in enumerate(entries, 1)]
    index = ignore.Index(entries)
    for f in findings:
        naive = next((a for a in entries if a.matches(f, TODAY)), None)
        assert index.match(f, TODAY) == naive
        assert list(index.candidates(f)) == [a for a in entries if a.applies(f)]
