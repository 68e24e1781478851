"""The Markdown report for pull-request comments (issue 13, item 4): a summary table,
one `<details>` block per check, under GitHub's 65,536 characters with a line saying
what was cut; every piece of untrusted text escaped so that a CommonMark parser
(markdown-it, which Rich already depends on) sees it as plain text only."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from dockwarden import sanitize
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import (
    Finding,
    Report,
    ReportError,
    ReportTarget,
    Skipped,
    Target,
)
from dockwarden.report import markdown
from dockwarden.report.markdown import escape
from hostile.conftest import HOSTILE, assert_no_raw_controls
from test_report_text import simulated

STARTED = "2026-11-28T10:00:00Z"
TRUNCATED = "**Truncated** to stay under the comment size limit"
MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
OUR_TAGS = re.compile(r"^</?details>$|^<summary>[^<>]*</summary>$")


def big(n: int) -> Report:
    """`simulated(n)` with long evidence on every container: far over the limit."""
    r = simulated(n)
    extra = tuple(Finding(check="DW207", severity=Severity.HIGH,
                          title="Sensitive host directory mounted",
                          target=Target(TargetKind.CONTAINER, f"dw-scale-{i}"),
                          source=Source.ENGINE,
                          evidence={"source": f"/srv/data/{i}/" + "x" * 200,
                                    "destination": "/data"},
                          remediation="Mount less.", references=())
                  for i in range(1, n + 1))
    return Report(started=r.started, finished=r.finished, targets=r.targets,
                  findings=r.findings + extra, skipped=r.skipped, passed=r.passed)


def test_small_report_whole_with_details_blocks() -> None:
    r = simulated(30)
    out = markdown.render(r)
    assert TRUNCATED not in out
    assert out.startswith("# dockwarden report\n\ncritical 6 · high ")
    summaries = re.findall(r"^<summary>(\w+) (DW\d+) ", out, re.M)
    assert [check for _, check in summaries][:3] == ["DW201", "DW208", "DW237"]
    assert out.count("<details>") == out.count("</details>") == len(summaries) == 15
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 15
    assert table[2].startswith("| critical | DW201 | Container runs privileged | 3 containers |")
    # every finding of the report is in a details block
    for f in r.findings:
        assert f"- {f.target.kind.value} {f.target.ref}" in out
    html_out = MD.render(out)
    assert html_out.count("<details>") == 15 and "<table>" in html_out


@pytest.mark.parametrize("limit", [markdown.LIMIT, 20_000, 3_000])
def test_size_limit_with_truncation_line(limit: int) -> None:
    out = markdown.render(big(520), limit=limit)
    assert len(out) <= limit
    assert TRUNCATED in out and "see the full report in the artefact" in out
    assert out.rstrip().endswith("`--format json -o FILE`).")
    # what is shown is whole: no block cut in the middle
    assert out.count("<details>") == out.count("</details>")
    if limit >= 20_000:  # the summary and the critical findings always come first
        assert "| critical | DW201 |" in out and "container dw-scale-27: " in out


def test_long_check_lists_are_capped_per_block() -> None:
    out = markdown.render(simulated(520))
    assert len(out) <= markdown.LIMIT and TRUNCATED not in out
    assert "- and 415 more (see the artefact)" in out  # 515 containers, 100 listed


def test_skipped_errors_warnings_rolled_up() -> None:
    t = [Target(TargetKind.CONTAINER, f"c-{i}") for i in range(1, 13)]
    r = Report(started=STARTED, finished=STARTED,
               targets=(ReportTarget(TargetKind.ENGINE, "e", False),), findings=(),
               skipped=tuple(Skipped("DW225", x, "container is not running") for x in t),
               errors=tuple(ReportError(f"container c-{i}", "exec list failed", "DW231")
                            for i in range(12, 0, -1)),
               warnings=(ReportError(".dockwarden-ignore", "entry 3 expired"),))
    out = markdown.render(r)
    assert ("- DW225 on 12 containers (c-1, c-2, c-3, c-4, c-5 and 7 more): container is "
            "not running") in out
    assert ("- container c-1, container c-2, container c-3, container c-4, container c-5 "
            "and 7 more: exec list failed (DW231)") in out
    assert "**Incomplete:** the audit of e did not finish" in out
    assert "No findings at the selected severities." in out


def test_six_targets_of_one_message_are_all_named() -> None:
    """Six targets (one more than the examples shown) are all named, as in the text
    report: none is dropped without an "and 1 more"."""
    r = Report(started=STARTED, finished=STARTED,
               targets=(ReportTarget(TargetKind.ENGINE, "e", True),), findings=(),
               errors=tuple(ReportError(f"container c-{i}", "exec list failed", "DW231")
                            for i in range(1, 7)))
    assert ("- container c-1, container c-2, container c-3, container c-4, container c-5, "
            "container c-6: exec list failed (DW231)") in markdown.render(r)


# --- escaping -------------------------------------------------------------------------


def test_escape_is_readable() -> None:
    assert escape("/tmp/Dockerfile.h:1") == "/tmp/Dockerfile.h:1"
    assert escape("HostConfig.Privileged=true, a (b) 'c' \"d\"") == \
        "HostConfig.Privileged=true, a (b) 'c' \"d\""
    assert escape("a|b`c`[x](y)<i>&amp;*_~#!$@\\") == \
        "a\\|b\\`c\\`\\[x\\](y)\\<i\\>\\&amp;\\*\\_\\~\\#\\!\\$\\@\\\\"
    assert escape("- item") == "\\- item" and escape("+ x") == "\\+ x"
    assert escape("12. x") == "12\\. x" and escape("3) x") == "3\\) x"
    assert escape("=== x") == "\\=== x" and escape("a - b 1. c") == "a - b 1. c"
    assert escape("line1\nline2") == "line1\\\\nline2"


def rendered_text(source: str) -> str:
    """What markdown-it makes of `source` as one list item, and the tags it used."""
    out = MD.render(f"- {source}\n")
    assert out.startswith("<ul>\n<li>") and out.endswith("</li>\n</ul>\n"), out
    inner = out[len("<ul>\n<li>"):-len("</li>\n</ul>\n")]
    assert "<" not in inner.replace("&lt;", ""), inner  # no element of any kind
    return html.unescape(inner)


def check_plain(value: str) -> None:
    source = escape(value)
    assert "\n" not in source
    assert rendered_text(source) == sanitize.clean(value).strip()
    cell = MD.render(f"| a | b |\n| --- | --- |\n| {source} | x |\n")
    assert cell.count("<td>") == 2, cell  # the value did not end or add a cell
    assert re.sub(r"</?(table|thead|tbody|tr|th|td)>", "", cell).count("<") == 0, cell


@pytest.mark.parametrize("h", HOSTILE)
def test_hostile_strings_are_plain_text(h: str) -> None:
    check_plain(h)
    check_plain(f"[x](http://evil) ![i](http://t) <img src=x> {h} `code` *em* ~~s~~ "
                "&amp; &#60; $x$ @team #1")


ATOMS = [*"\\`*_[]<>|#!~&$@()-+=.:;/ \"'a1\n\x1b", "&amp;", "&#60;", "http://", "1.", "- ",
         "    "]


@given(st.lists(st.sampled_from(ATOMS), max_size=30).map("".join))
def test_escape_property(value: str) -> None:
    check_plain(value)


def hostile_report(h: str) -> Report:
    t = Target(TargetKind.CONTAINER, f"web-{h}", id=f"id{h}", service=f"svc{h}")
    f = Finding(check="DW233", severity=Severity.CRITICAL, title="Secret-looking variable",
                target=t, source=Source.ENGINE, evidence={f"TOKEN{h}": h, "list": [h]},
                remediation="Pass secrets as files.", references=(h,), message="")
    g = Finding(check="DW207", severity=Severity.HIGH, title="Mount", target=t,
                source=Source.ENGINE, evidence={}, remediation="x", references=(),
                message=f"host {h} mounted")
    return Report(started=STARTED, finished=STARTED,
                  targets=(ReportTarget(TargetKind.ENGINE, f"unix:///{h}", False),),
                  findings=(f, g), skipped=(Skipped(f"DW2{h}", t, f"not gathered: {h}"),),
                  errors=(ReportError(f"container {h}", f"crashed: {h}", check=f"DW{h}"),),
                  warnings=(ReportError(h, h),), ignored=((g, f"inline: {h}"),))


@pytest.mark.parametrize("h", HOSTILE)
def test_hostile_report(h: str) -> None:
    out = markdown.render(hostile_report(h))
    assert_no_raw_controls(out)
    for line in out.splitlines():
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line
        elif line.startswith("<"):
            assert OUR_TAGS.match(line), line
        elif line.startswith("#"):
            assert line in ("# dockwarden report", "## Details", "## Skipped checks",
                            "## Errors", "## Warnings", "## Ignored (accepted risks)"), line
    rendered = MD.render(out)
    tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
    assert tags <= {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li",
                    "details", "summary", "strong", "code"}, tags
    assert sanitize.clean(h) in html.unescape(rendered)


def test_catalogue_unchanged() -> None:
    rows: list[dict[str, Any]] = [{"id": "DW1", "severity": "high", "title": "a|b `c`",
                                   "references": ["r"]}]
    assert markdown.catalogue(rows).splitlines()[2] == "| DW1 | high | a\\|b `c` | r |"
