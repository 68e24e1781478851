"""The HTML report (`--format html`, issue 13 item 3).

Without a browser: the page is self-contained (nothing to fetch, a Content-Security-Policy
that allows only its own style and script by hash), holds one row per finding of the
JSON report, orders rows most severe first with names in natural order, and keeps every
string of the hostile corpus as escaped, visible text (no markup, no raw controls).

In a real headless Chromium (Debian's `chromium`; skipped when /usr/bin/chromium is
absent): the page loads without console errors or exceptions, its table holds as many
rows as the JSON report has findings, typing in the filter box and clicking severity
boxes and column headers (real input events over the DevTools protocol) filter and sort
the rows, the address fragment (`#filter=...&sort=...`) gives the same view with a plain
`--dump-dom`, hostile text runs nothing, and a screenshot is kept as a test artefact in
build/test-artefacts/ (gitignored; `DOCKWARDEN_ARTEFACTS` moves it).

The DevTools protocol is spoken over `--remote-debugging-pipe` (NUL-separated JSON on
file descriptors 3 and 4), so no websocket client is needed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

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
from dockwarden.report import html
from dockwarden.report import json as json_report
from hostile.conftest import HOSTILE, assert_no_raw_controls

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="headless Chromium absent: apt-get install -y --no-install-recommends chromium")
ROOT = Path(__file__).resolve().parent.parent
STARTED = "2026-11-28T10:00:00Z"


# --- reports built by hand ---


def finding(check: str, severity: Severity, target: Target, evidence: dict[str, Any], *,
            title: str = "", message: str = "", remediation: str = "",
            references: tuple[str, ...] = ("CIS Docker Benchmark 1.6.0 5.5",)) -> Finding:
    return Finding(check=check, severity=severity, title=title or f"Title of {check}",
                   target=target, source=Source.ENGINE, evidence=evidence,
                   remediation=remediation or f"Fix for {check}.", references=references,
                   message=message)


def container(n: int) -> Target:
    return Target(TargetKind.CONTAINER, f"dw-scale-{n}", id=f"{n:012x}")


def make_report(n: int = 12) -> Report:
    """`n` containers: each without a PIDs limit (high), every third privileged
    (critical), every fourth without a memory limit (medium); one daemon finding (info),
    a Dockerfile finding (low), with skipped checks, errors and warnings."""
    findings: list[Finding] = []
    for i in range(1, n + 1):
        t = container(i)
        findings.append(finding("DW214", Severity.HIGH, t, {"HostConfig.PidsLimit": None},
                                title="No PIDs limit"))
        if i % 3 == 0:
            findings.append(finding("DW201", Severity.CRITICAL, t,
                                    {"HostConfig.Privileged": True},
                                    title="Container runs privileged",
                                    references=("CIS Docker Benchmark 1.6.0 5.5",
                                                "https://docs.docker.com/engine/security/")))
        if i % 4 == 0:
            findings.append(finding("DW215", Severity.MEDIUM, t, {"HostConfig.Memory": 0},
                                    title="No memory limit"))
    findings.append(finding("DW118", Severity.INFO,
                            Target(TargetKind.DAEMON, "unix:///var/run/docker.sock"),
                            {"rootless": False}, title="Daemon runs as root"))
    findings.append(finding("DW502", Severity.LOW,
                            Target(TargetKind.DOCKERFILE, "app/Dockerfile", line=7, stage="build"),
                            {"instruction": "RUN curl http://x/install.sh | sh"},
                            message="remote script piped to a shell", title="curl | sh"))
    return Report(
        started=STARTED, finished=STARTED,
        targets=(ReportTarget(TargetKind.ENGINE, "unix:///var/run/docker.sock", True),
                 ReportTarget(TargetKind.DOCKERFILE, "app/Dockerfile", True)),
        findings=tuple(findings),
        skipped=(Skipped("DW309", container(1), "no Debian data in the database"),),
        errors=(ReportError("dw-scale-2", "inspect failed: gone", "DW220"),),
        warnings=(ReportError("vulndb", "database is 9 days old"),),
        passed=40,
    )


def expected_counts(report: Report) -> dict[str, int]:
    return {k: v for k, v in json_report.as_dict(report)["summary"]["findings"].items()}


def json_findings(report: Report) -> int:
    return len(json_report.as_dict(report)["findings"])


def hostile_report(h: str) -> Report:
    """`h` in every string a report carries."""
    t = Target(TargetKind.CONTAINER, f"web-{h}", id=f"3f2a{h}", service=h, stage=h)
    f = Finding(check=f"DW2{h}", severity=Severity.CRITICAL, title=f"title {h}", target=t,
                source=Source.ENGINE, evidence={h: h, "nested": [h, {h: h}], "n": 1},
                remediation=f"fix {h}", references=(h, f"https://example.test/{h}"),
                message=f"message {h}")
    return Report(
        started=h, finished=h,
        targets=(ReportTarget(TargetKind.CONTAINER, f"web-{h}", False),),
        findings=(f, replace(f, severity=Severity.LOW, check="DW214")),
        skipped=(Skipped(f"DW{h}", t, f"reason {h}"),),
        errors=(ReportError(h, f"error {h}", h),),
        warnings=(ReportError(h, f"warning {h}"),),
        ignored=((f, f"accepted {h}"),),
    )


# --- an HTML reader for the rendered page (the standard library's tokenizer) ---


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)

    def rows(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "tr" and a.get("class") == "finding"]


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# --- without a browser ---


def test_one_row_per_json_finding_most_severe_first_names_in_natural_order() -> None:
    report = make_report(12)
    out = html.render(report)
    rows = Page(out).rows()
    assert len(rows) == json_findings(report) == len(report.findings)
    ranks = [int(r["data-rank"] or 0) for r in rows]
    assert ranks == sorted(ranks, reverse=True)
    high = re.findall(r'<tr class="finding" data-severity="high".*?'
                      r'<td class="target" data-sort="container dw-scale-(\d+)"', out)
    assert [int(x) for x in high] == list(range(1, 13))  # 1, 2, ... 10, 11, 12


def test_totals_chart_and_per_check_counts() -> None:
    report = make_report(12)
    out = html.render(report)
    page = Page(out)
    text = " ".join(" ".join(page.text).split())
    for sev, n in expected_counts(report).items():
        assert f"{n} {sev}" in text
        assert re.search(rf'class="bar bar-{sev}"', out)
    assert "40 passed" in text
    by_sev = expected_counts(report)
    assert (by_sev["critical"], by_sev["high"], by_sev["medium"], by_sev["low"],
            by_sev["info"]) == (4, 12, 3, 1, 1)
    label = ", ".join(f"{by_sev[s.value]} {s.value}"
                      for s in sorted(Severity, key=lambda s: -s.rank))
    assert f"Findings per severity: {label}" in out
    # per check: id, title, findings, distinct targets; criticals first
    checks = out[out.index('id="checks"'):out.index('id="list"')]
    assert checks.index("DW201") < checks.index("DW214") < checks.index("DW215")
    assert re.search(r"DW214</button></td><td>No PIDs limit</td><td class=\"num\">12</td>"
                     r"<td class=\"num\">12</td>", checks)


def test_sections_for_errors_warnings_skipped_ignored() -> None:
    report = make_report(3)
    ignored = ((report.findings[0], "accepted until 2027"),)
    out = html.render(replace(report, ignored=ignored))
    for ident, text in (("errors", "inspect failed: gone"), ("warnings", "database is 9 days"),
                        ("skipped", "no Debian data in the database"),
                        ("ignored", "accepted until 2027")):
        section = re.search(rf'<section id="{ident}">.*?</section>', out)
        assert section and text in section.group(), ident


def test_self_contained_with_a_policy_that_allows_only_its_own_style_and_script() -> None:
    out = html.render(make_report(5))
    page = Page(out)
    assert len(page.scripts) == 1 and len(page.styles) == 1
    policy = next(a["content"] for t, a in page.tags
                  if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None
    assert "default-src 'none'" in policy
    assert f"script-src {_csp_hash(page.scripts[0])};" in policy
    assert f"style-src {_csp_hash(page.styles[0])};" in policy
    for tag, attrs in page.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "form")
        assert "src" not in attrs and "style" not in attrs
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if "href" in attrs:
            assert tag == "a" and (attrs["href"] or "").startswith("https://")
    assert "url(" not in page.styles[0] and "@import" not in page.styles[0]
    assert "fetch(" not in page.scripts[0] and "XMLHttpRequest" not in page.scripts[0]


def test_unknown_severity_is_shown_as_unknown() -> None:
    """A vulnerability no source scores is `unknown` in the HTML as in JSON."""
    unknown = getattr(Severity, "UNKNOWN", None)
    if unknown is None:
        pytest.skip("Severity.UNKNOWN does not exist yet")
    t = Target(TargetKind.IMAGE, "python:3.12", id="sha256:" + "a" * 64)
    report = replace(make_report(1), findings=(finding(
        "DW310", unknown, t, {"package": "django", "version": "2.2", "id": "PYSEC-2023-1"},
        title="Vulnerable package"),))
    out = html.render(report)
    assert json_report.as_dict(report)["findings"][0]["severity"] == "unknown"
    assert '<tr class="finding" data-severity="unknown"' in out
    assert '<span class="sev sev-unknown">unknown</span>' in out
    assert '<li class="tot tot-unknown"><span class="n">1</span> unknown</li>' in out


def test_no_findings() -> None:
    report = replace(make_report(1), findings=())
    page = Page(html.render(report))
    assert page.rows() == []
    assert "No findings at the selected severities." in "".join(page.text)


def test_references_link_only_plain_http_urls_and_long_evidence_is_cut() -> None:
    t = container(1)
    report = replace(make_report(1), findings=(finding(
        "DW201", Severity.CRITICAL, t, {"big": "x" * 10_000},
        references=("javascript:alert(1)", "https://ok.example/a?b=1&c=2",
                    'https://x.example/"onmouseover=alert(1)', "data:text/html,hi")),))
    out = html.render(report)
    page = Page(out)
    hrefs = [a["href"] for t2, a in page.tags if t2 == "a"]
    assert hrefs == ["https://ok.example/a?b=1&c=2"]
    assert "javascript:alert(1)" in "".join(page.text)
    assert f"{'x' * html.EVIDENCE_LIMIT}... (8000 more characters in the JSON report)" \
        in "".join(page.text)


@pytest.mark.parametrize("h", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_are_escaped_text(h: str) -> None:
    report = hostile_report(h)
    out = html.render(report)
    assert_no_raw_controls(out)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", out)
    assert out.count("<script") == 1 and out.count("</script") == 1
    assert "<tag>" not in out and "]]></x>" not in out
    page = Page(out)
    assert len(page.scripts) == 1
    allowed = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p",
               "div", "ul", "li", "span", "svg", "text", "rect", "details", "summary", "main",
               "section", "table", "thead", "tbody", "tr", "th", "td", "button", "label",
               "input", "code", "strong", "a", "script"}
    for tag, attrs in page.tags:
        assert tag in allowed, tag
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    # what the reader sees is the cleaned text, literally
    text = "".join(page.text)
    assert f"title {sanitize.clean(h)}" in text
    assert f"fix {sanitize.clean(h)}" in text
    assert f"error {sanitize.clean(h)}" in text
    assert len(page.rows()) == json_findings(report)


def _hostile_sources() -> list[str]:
    try:
        from hostile.test_hostile_render import SOURCES
    except ImportError:  # that module is being reworked: its sources are not reachable
        return ["unavailable"]
    return sorted(SOURCES)


@pytest.mark.parametrize("h", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("source", _hostile_sources())
def test_every_source_of_untrusted_text(source: str, h: str) -> None:
    """The hostile render class test's reports (container, Engine, image path, Dockerfile,
    compose, run-command, advisory, messages), rendered as HTML."""
    if source == "unavailable":
        pytest.skip("tests/hostile/test_hostile_render.py does not import (SOURCES unreachable)")
    from hostile.test_hostile_render import SOURCES
    report = SOURCES[source](h)
    out = html.render(report)
    out.encode("utf-8")
    assert_no_raw_controls(out)
    assert not re.search("[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]", out)
    page = Page(out)
    assert len(page.scripts) == 1
    assert sanitize.clean(h) in "".join(page.text)
    assert len(page.rows()) == json_findings(report)


# --- in headless Chromium ---


class Browser:
    """Chromium driven over the DevTools protocol on a pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile: Path) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds() -> None:
            """The pipe ends as fds 3 and 4 of the child, inheritable (os.pipe's fds close
            on exec), by way of fds >= 10 since the pipe ends may themselves be 3 or 4."""
            high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)  # close_fds would close 3 and 4 after fds()
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not answer within 60 s"
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                assert chunk, "Chromium closed its DevTools pipe"
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, (method, reply["error"])
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        for e in self.events:
            if e["method"] == method:
                self.events.remove(e)
                return e
        while True:
            e = self._message(deadline)
            if e.get("method") == method:
                return e
            if "method" in e:
                self.events.append(e)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        assert self.js("document.documentElement.dataset.ready") == "1"

    def js(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, reply
        return reply["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.js(f"(function(){{var e=document.querySelector({json.dumps(selector)});"
                      "e.scrollIntoView({block:'center'});var r=e.getBoundingClientRect();"
                      "return [r.x + r.width / 2, r.y + r.height / 2];})()")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def type(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def problems(self) -> list[dict[str, Any]]:
        """Console errors and warnings, uncaught exceptions, log errors (CSP refusals
        included) and dialogs since the last `open`."""
        self.send("Runtime.evaluate", expression="0")  # flush pending events
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown" or m == "Page.javascriptDialogOpening" or (
                    m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning",
                                                                          "assert")) or (
                    m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning")):
                out.append(e)
        return out

    def visible(self) -> list[str]:
        value: list[str] = self.js(
            "Array.from(document.querySelectorAll('#findings tbody tr'))"
            ".filter(r => !r.hidden && r.offsetParent !== null)"
            ".map(r => r.cells[1].textContent + ' ' + r.cells[3].dataset.sort)")
        return value

    def close(self) -> None:
        with contextlib.suppress(AssertionError):  # it may close the pipe before replying
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        os.close(self._w)
        os.close(self._r)


FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--no-default-browser-check")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("headless Chromium absent: "
                    "apt-get install -y --no-install-recommends chromium")
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


def write_page(tmp_path: Path, report: Report, name: str = "report.html") -> Path:
    path = tmp_path / name
    path.write_text(html.render(report), encoding="utf-8")
    return path


def artefacts() -> Path:
    out = Path(os.environ.get("DOCKWARDEN_ARTEFACTS") or ROOT / "build" / "test-artefacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@needs_chromium
def test_loads_without_console_errors_one_row_per_json_finding(browser: Browser,
                                                               tmp_path: Path) -> None:
    report = make_report(30)
    browser.open(write_page(tmp_path, report).as_uri())
    assert browser.problems() == []
    assert browser.js("document.querySelectorAll('#findings tbody tr').length") \
        == json_findings(report) == len(browser.visible())
    assert browser.js("document.scripts.length") == 1
    assert browser.js("document.getElementById('status').textContent") \
        == f"{len(report.findings)} of {len(report.findings)} findings shown"


@needs_chromium
def test_a_broken_page_is_seen(browser: Browser, tmp_path: Path) -> None:
    """The console check is real: a script the policy refuses is reported."""
    page = html.render(make_report(2)).replace("<script>", "<script>window.x=1;", 1)
    path = tmp_path / "broken.html"
    path.write_text(page, encoding="utf-8")
    browser.events.clear()
    browser.send("Page.navigate", url=path.as_uri())
    browser.wait_event("Page.loadEventFired")
    assert browser.js("document.documentElement.dataset.ready") is None
    problems = browser.problems()
    assert problems and any("Content Security Policy" in json.dumps(p) for p in problems)


@needs_chromium
def test_filter_box_and_severity_boxes(browser: Browser, tmp_path: Path) -> None:
    report = make_report(30)
    browser.open(write_page(tmp_path, report).as_uri())
    browser.click("#filter")
    browser.type("DW201")
    shown = browser.visible()
    assert len(shown) == 10 and all(s.startswith("DW201 ") for s in shown)
    assert browser.js("location.hash") == "#filter=DW201"
    assert browser.js("document.getElementById('status').textContent") \
        == f"10 of {len(report.findings)} findings shown"
    # two words: both must match
    browser.type(" dw-scale-3")
    assert browser.visible() == ["DW201 container dw-scale-3", "DW201 container dw-scale-30"]
    browser.js("document.getElementById('filter').select()")
    browser.send("Input.dispatchKeyEvent", type="keyDown", key="Backspace",
                 windowsVirtualKeyCode=8)
    browser.send("Input.dispatchKeyEvent", type="keyUp", key="Backspace",
                 windowsVirtualKeyCode=8)
    assert len(browser.visible()) == len(report.findings)
    # severity boxes: untick critical and high
    browser.click("input.sevbox[value=critical]")
    browser.click("input.sevbox[value=high]")
    shown = browser.visible()
    assert len(shown) == len(report.findings) - 10 - 30
    assert not any(s.startswith(("DW201", "DW214")) for s in shown)
    browser.click("input.sevbox[value=critical]")
    assert len(browser.visible()) == len(report.findings) - 30
    # a check in the per-check table filters on it
    browser.click("input.sevbox[value=high]")
    browser.click("button.pick[data-filter=DW215]")
    assert [s.split()[0] for s in browser.visible()] == ["DW215"] * 7
    assert browser.problems() == []


@needs_chromium
def test_sort_by_clicking_column_headers(browser: Browser, tmp_path: Path) -> None:
    report = make_report(12)
    browser.open(write_page(tmp_path, report).as_uri())
    ranks = "Array.from(document.querySelectorAll('#findings tbody tr')).map(r => +r.dataset.rank)"
    browser.click("th[data-key=target] button")
    targets = [s.split(" ", 2)[2] for s in browser.visible()]
    assert browser.js("document.querySelector('th[data-key=target]').getAttribute('aria-sort')")\
        == "ascending"
    names = [t for t in targets if t.startswith("dw-scale-")]
    numbers = [int(re.match(r"dw-scale-(\d+)", t).group(1)) for t in names]  # type: ignore[union-attr]
    assert numbers == sorted(numbers) and numbers[-1] == 12  # natural: 2 before 10
    browser.click("th[data-key=target] button")
    numbers = [int(m.group(1)) for s in browser.visible()
               if (m := re.search(r"dw-scale-(\d+)", s))]
    assert numbers == sorted(numbers, reverse=True)
    browser.click("th[data-key=severity] button")  # most severe first
    assert browser.js(ranks) == sorted(browser.js(ranks), reverse=True)
    browser.click("th[data-key=severity] button")
    assert browser.js(ranks) == sorted(browser.js(ranks))
    assert browser.js("location.hash") == "#sort=severity&dir=asc"
    browser.click("th[data-key=check] button")
    checks = [s.split()[0] for s in browser.visible()]
    assert checks == sorted(checks)
    assert browser.problems() == []


@needs_chromium
def test_fragment_sets_the_view_dump_dom(tmp_path: Path) -> None:
    """A plain `chromium --dump-dom` of `report.html#filter=...&sort=...`: the DOM after
    the script ran has the filtered rows shown and the others hidden, in sorted order."""
    report = make_report(12)
    url = write_page(tmp_path, report).as_uri() + "#filter=dw-scale-1&sev=high,medium&sort=target"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", url],
                          capture_output=True, timeout=60, check=True)
    dom = proc.stdout.decode()
    assert 'data-ready="1"' in dom
    # the page's console, as Chromium logs it: nothing (a script error would be here)
    assert [line for line in proc.stderr.decode(errors="replace").splitlines()
            if ":CONSOLE" in line] == []
    rows = re.findall(r'<tr class="finding" data-severity="(\w+)"[^>]*?( hidden="")?>.*?'
                      r'<td class="target" data-sort="\w+ ([^"]*)"', dom)
    assert len(rows) == json_findings(report)
    shown = [(sev, ref) for sev, hidden, ref in rows if not hidden]
    # dw-scale-1, -10, -11, -12 (natural order): high for all, medium for 12
    # dw-scale-1, -10, -11, -12 in natural order; equal targets keep severity order
    assert shown == [("high", "dw-scale-1"), ("high", "dw-scale-10"), ("high", "dw-scale-11"),
                     ("high", "dw-scale-12"), ("medium", "dw-scale-12")]
    assert 'data-shown="5"' in dom
    assert 'th data-key="target" aria-sort="ascending"' in dom


@needs_chromium
def test_hostile_text_runs_nothing_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    findings: list[Finding] = []
    for h in HOSTILE:
        findings.extend(hostile_report(h).findings)
    report = replace(hostile_report(HOSTILE[0]), findings=tuple(findings))
    browser.open(write_page(tmp_path, report).as_uri())
    assert browser.problems() == []
    assert browser.js("document.scripts.length") == 1
    assert browser.js("document.querySelectorAll('tag, x, y, [onmouseover]').length") == 0
    assert browser.js("document.querySelectorAll('#findings tbody tr').length") \
        == json_findings(report)
    body = browser.js("document.body.innerText")
    assert "title <script>alert(1)</script>&amp;\"'" in body
    assert "title \\x1b]0;pwned\\x1b\\" in body
    browser.click("#filter")
    browser.type("<script>")
    assert len(browser.visible()) == 2


@needs_chromium
def test_screenshot_is_kept_as_an_artefact(browser: Browser, tmp_path: Path) -> None:
    report = make_report(30)
    browser.open(write_page(tmp_path, report).as_uri())
    shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 10_000
    out = artefacts() / "report-html.png"
    out.write_bytes(shot)
    page = artefacts() / "report.html"
    page.write_text(html.render(report), encoding="utf-8")
    # the full page too, as a reader scrolls through it
    height = browser.js("document.documentElement.scrollHeight")
    full = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
    (artefacts() / "report-html-full.png").write_bytes(base64.b64decode(full["data"]))
    assert browser.problems() == []


@needs_chromium
def test_large_report_filters_and_sorts(browser: Browser, tmp_path: Path) -> None:
    report = make_report(2000)
    browser.open(write_page(tmp_path, report).as_uri())
    assert browser.js("document.querySelectorAll('#findings tbody tr').length") \
        == json_findings(report)
    browser.click("#filter")
    browser.type("dw-scale-1999")
    assert [s.split()[0] for s in browser.visible()] == ["DW214"]
    browser.click("th[data-key=title] button")
    assert browser.problems() == []


def test_cli_writes_html(tmp_path: Path) -> None:
    cli = (ROOT / "src" / "dockwarden" / "cli.py").read_text(encoding="utf-8")
    commands = ROOT / "src" / "dockwarden" / "commands"
    wired = '"html"' in cli or any('"html"' in p.read_text(encoding="utf-8")
                                   for p in commands.glob("*.py"))
    if not wired:
        pytest.skip("--format html is not wired into the CLI yet (lead: cli.py FORMATS)")
    from hostile.conftest import run_dockwarden
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian\nRUN curl http://x/i.sh | sh\n", encoding="utf-8")
    out = tmp_path / "out.html"
    run = run_dockwarden(["dockerfile", str(dockerfile), "--format", "html", "-o", str(out)])
    assert run.code in (0, 1), run.err
    jrun = run_dockwarden(["dockerfile", str(dockerfile), "--format", "json"])
    page = Page(out.read_text(encoding="utf-8"))
    assert len(page.rows()) == len(json.loads(jrun.out)["findings"]) > 0
    if shutil.which(CHROMIUM):
        proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                               "--dump-dom", out.as_uri()], capture_output=True, timeout=60,
                              check=True)
        assert 'data-ready="1"' in proc.stdout.decode()
