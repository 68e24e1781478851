"""Issue 11, defects 1 and 2: text from an audited system never acts as Rich markup nor
reaches a terminal (or any report) as raw control characters.

The class test renders every report format (text with colour off and on, JSON, SARIF,
JUnit, Markdown) from every source kind of untrusted text (container and Engine, image
path, Dockerfile, compose, run-command, advisory ids, the Engine's Name and
OperatingSystem, error/skip/ignored/warning messages) with every string of the hostile
corpus, and checks: no exception, no raw ESC/C1/bidi/NUL, the text stays visible
literally, no style comes from it, and JSON/SARIF/XML parse. The SBOM renderers get a
hostile package. End-to-end runs of the CLI (no Engine needed) close the loop.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockwarden import sanitize
from dockwarden.commands.options import FORMATS
from dockwarden.model.common import Severity, Source, TargetKind, Unknown
from dockwarden.model.finding import (
    Finding,
    Report,
    ReportError,
    ReportTarget,
    Skipped,
    Target,
)
from dockwarden.model.image import (
    ImageConfigFacts,
    ImageSnapshot,
    LayerFacts,
    OSRelease,
    Package,
)
from dockwarden.report import cyclonedx, junit, markdown, plain, safe, sarif, spdx, text
from dockwarden.report import json as json_report
from hostile.conftest import HOSTILE, assert_no_raw_controls, run_dockwarden, strings

BENIGN = "plain-value"
STARTED = "2026-11-28T10:00:00Z"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def finding(check: str, target: Target, source: Source, evidence: dict[str, Any], *,
            message: str = "", title: str = "A check",
            severity: Severity = Severity.HIGH) -> Finding:
    return Finding(check=check, severity=severity, title=title, target=target, source=source,
                   evidence=evidence, remediation="fix it", references=("ref 1",),
                   message=message)


def report(*findings: Finding, targets: tuple[ReportTarget, ...] = (),
           **extra: Any) -> Report:
    if not targets:
        targets = tuple({(f.target.kind, f.target.ref): ReportTarget(f.target.kind,
                                                                      f.target.ref, True)
                         for f in findings}.values())
    return Report(started=STARTED, finished=STARTED, targets=targets, findings=findings,
                  passed=3, **extra)


# --- every source kind of untrusted text: a report with `h` where that source puts it ---


def from_container(h: str) -> Report:
    target = Target(TargetKind.CONTAINER, f"web-{h}", id=f"3f2a{h}")
    return report(
        finding("DW233", target, Source.ENGINE, {f"GITHUB_TOKEN{h}": "ghp_****", "env": h}),
        finding("DW201", target, Source.ENGINE, {"HostConfig.Privileged": True, h: [h, {h: h}]},
                severity=Severity.CRITICAL),
        finding("DW207", target, Source.ENGINE, {"mount": h}, message=f"host {h} mounted"),
    )


def from_engine(h: str) -> Report:
    target = Target(TargetKind.DAEMON, "unix:///var/run/docker.sock")
    return report(
        finding("DW118", target, Source.ENGINE, {"Name": h, "OperatingSystem": h},
                severity=Severity.INFO),
        finding("DW101", Target(TargetKind.ENGINE, f"tcp://{h}:2375"), Source.ENGINE,
                {"host": h}, severity=Severity.CRITICAL),
    )


def from_image_path(h: str) -> Report:
    target = Target(TargetKind.IMAGE, f"alpine:{h}", id="sha256:" + "a" * 64)
    return report(
        finding("DW301", target, Source.IMAGE, {"path": f"usr/bin/{h}", "mode": "4755"}),
        finding("DW305", target, Source.IMAGE, {"path": f"/etc/{h}", "layer": 2,
                                                 "created_by": f"RUN touch {h}"}),
    )


def from_dockerfile(h: str) -> Report:
    target = Target(TargetKind.DOCKERFILE, f"repo/{h}/Dockerfile", line=2, stage=h)
    return report(
        finding("DW502", target, Source.DOCKERFILE,
                {"line": 2, "instruction": f"RUN curl http://x/{h} | sh"}),
        finding("DW501", target, Source.DOCKERFILE, {"instruction": f"USER {h}"},
                message=f"stage {h} runs as root"),
    )


def from_compose(h: str) -> Report:
    target = Target(TargetKind.COMPOSE, f"deploy/{h}.yml", line=7, service=f"web{h}")
    return report(
        finding("DW207", target, Source.COMPOSE,
                {"source": f"/etc/{h}", "destination": "/x", "read_only": False},
                message=f"host /etc/{h} mounted at /x writable"),
        finding("DW214", target, Source.COMPOSE, {"pids_limit": None, "volume": h}),
    )


def from_run_command(h: str) -> Report:
    target = Target(TargetKind.CONTAINER, f"docker run -v '/{h}:/x' alpine")
    return report(
        finding("DW207", target, Source.RUN_COMMAND,
                {"type": "bind", "source": f"/{h}", "destination": "/x"}),
    )


def from_advisory(h: str) -> Report:
    target = Target(TargetKind.IMAGE, "debian:12", id="sha256:" + "b" * 64)
    evidence = {"id": f"CVE-2024-{h}", "ids": [f"DSA-{h}", f"GHSA-{h}"], "package": h,
                "package_type": "deb", "installed": h, "fixed": h, "status": "fixed",
                "severity": "high", "path": f"var/lib/dpkg/{h}", "layer": 0,
                "sources": [h], "summary": h, "references": [f"https://x/{h}"],
                "cvss_score": float("nan")}
    return report(
        finding("DW309", target, Source.IMAGE, evidence),
        finding("DW309", target, Source.IMAGE, dict(evidence, id=f"CVE-2025-{h}"),
                message=f"{h} {h}: CVE-2025-{h} (fixed in {h})"),
    )


def from_messages(h: str) -> Report:
    target = Target(TargetKind.CONTAINER, f"c-{h}")
    accepted = finding("DW215", target, Source.ENGINE, {"memory": 0})
    return report(
        finding("DW216", target, Source.ENGINE, {"cpus": 0}),
        targets=(ReportTarget(TargetKind.ENGINE, f"unix:///{h}", False),),
        skipped=(Skipped(f"DW2{h}", target, f"not gathered: {h}"),),
        errors=(ReportError(f"container {h}", f"check crashed: ValueError: {h}",
                            check=f"DW{h}"),
                ReportError(h, h)),
        warnings=(ReportError(f".dockwarden-ignore{h}", f"ignore {h} expired"),),
        ignored=((accepted, f"inline: {h}"),),
    )


SOURCES: dict[str, Callable[[str], Report]] = {
    "container": from_container,
    "engine": from_engine,
    "image-path": from_image_path,
    "dockerfile": from_dockerfile,
    "compose": from_compose,
    "run-command": from_run_command,
    "advisory": from_advisory,
    "messages": from_messages,
}

# --- every renderer ---

RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": lambda r: text.render(r, colour=False, width=1000),
    "text-colour": lambda r: text.render(r, colour=True, width=1000),
    "text-narrow": lambda r: text.render(r, colour=False, width=60),
    "json": json_report.render,
    "json-pretty": lambda r: json_report.render(r, pretty=True),
    "sarif": sarif.render,
    "junit": junit.render,
    "markdown": markdown.render,
}

_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def visible(fmt: str, out: str) -> str:
    """What a reader of `out` sees as text (styles stripped, escapes undone)."""
    if fmt.startswith("json") or fmt == "sarif":
        return "\n".join(strings(json.loads(out)))
    if fmt == "junit":
        root = ET.fromstring(out)
        parts = [t for el in root.iter() for t in (el.text or "", *el.attrib.values())]
        return "\n".join(parts)
    if fmt == "markdown":
        return _MD_ESCAPE.sub(r"\1", out)
    return SGR.sub("", out)


def check_output(fmt: str, out: str, h: str, *, must_show: bool = True) -> None:
    out.encode("utf-8")  # writable as UTF-8: no lone surrogate left
    assert_no_raw_controls(SGR.sub("", out) if fmt == "text-colour" else out)
    assert not re.search("[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]", out)
    seen = visible(fmt, out)  # parses JSON, SARIF and XML
    if must_show:
        assert sanitize.clean(h) in seen, f"{sanitize.clean(h)!r} not shown literally"


@pytest.mark.parametrize("h", HOSTILE)
@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_every_renderer_every_source_every_hostile_string(fmt: str, source: str,
                                                          h: str) -> None:
    out = RENDERERS[fmt](SOURCES[source](h))
    # folded narrow columns may split the text over lines: only its safety is checked there
    check_output(fmt, out, h, must_show=fmt != "text-narrow")


@pytest.mark.parametrize("h", HOSTILE)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_style_comes_from_untrusted_text(source: str, h: str) -> None:
    """With colour on, the hostile report uses exactly the styles of the same report with
    a benign string: `[bold red]` in a name is text, never styling."""
    hostile = text.render(SOURCES[source](h), colour=True, width=1000)
    benign = text.render(SOURCES[source](BENIGN), colour=True, width=1000)
    assert sorted(set(SGR.findall(hostile))) == sorted(set(SGR.findall(benign)))


@pytest.mark.parametrize("h", ["[/]", "GITHUB_TOKEN[/]", "[bold red]spoofed[/]",
                               "[link=https://evil.example]x[/link]", ":smile:"])
def test_markup_is_literal_text(h: str) -> None:
    """Defect 1: `[/]` in an env var name used to end in rich.errors.MarkupError."""
    for colour in (False, True):
        out = SGR.sub("", text.render(from_container(h), colour=colour, width=1000))
        assert f"GITHUB_TOKEN{h}" in out
        assert "\U0001f604" not in out  # no emoji code replaced either


def test_terminal_escapes_are_shown_not_sent() -> None:
    """Defect 2: an OSC title and a clear-screen sequence are shown as `\\x1b...`."""
    out = text.render(from_engine("\x1b]0;pwned\x1b\\\x1b[2J"), colour=False, width=1000)
    assert "\x1b" not in out
    assert "\\x1b]0;pwned\\x1b\\\\x1b[2J" in out


def test_markdown_cells_cannot_be_broken() -> None:
    h = "a|b`c`[x](http://evil)<img src=x>\nrow"
    out = markdown.render(from_container(h))
    for line in out.splitlines():
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line  # no cell split
    ours = re.sub(r"^(</?details>|<summary>[^<>`\[]*</summary>)$", "", out, flags=re.M)
    assert not re.search(r"(?<!\\)[`<\[]", ours)  # no code span, HTML or link opened
    assert "a|b`c`[x](http://evil)<img src=x>\\nrow" in visible("markdown", out)


def test_junit_cdata_end_and_xml_specials() -> None:
    out = junit.render(from_compose("]]></x><y>&amp;\"'"))
    assert "]]>" not in out
    root = ET.fromstring(out)
    assert any("]]></x><y>&amp;\"'" in (el.text or "") for el in root.iter())


def test_safe_is_idempotent_and_cleans_every_field() -> None:
    h = "\x1b[2J[/]\udc80\u202e"
    for build in SOURCES.values():
        r = build(h)
        once = safe(r)
        assert safe(once) == once
        blob = repr(once)  # every string of every field, nested
        assert "\\x1b" not in blob.replace("\\\\x1b", "")
        assert "\\udc80" not in blob.replace("\\\\udc80", "")


def test_json_never_raises_on_odd_evidence() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["k"] = {}
        node = node["k"]
    cyclic: list[Any] = []
    cyclic.append(cyclic)

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    evidence = {"set": {"b\x1b", "a"}, (1, 2): "tuple key", None: 1, Severity.HIGH: "enum key",
                "inf": float("inf"), "bytes": b"\xff\x1b", "obj": Hostile(), "deep": deep,
                "cyclic": cyclic, "surrogate": "\ud800"}
    r = report(finding("DW201", Target(TargetKind.CONTAINER, "x"), Source.ENGINE, evidence))
    for fmt, render in RENDERERS.items():
        check_output(fmt, render(r), "tuple key")
    doc = json.loads(json_report.render(r))
    ev = doc["findings"][0]["evidence"]
    assert ev["set"] == ["a", "b\\x1b"]
    assert ev["inf"] == "inf"
    assert ev["surrogate"] == "\\ud800"


def test_non_utf8_file_names_render_everywhere() -> None:
    name = os.fsdecode(b"repo/bad-\xff\xfe/Dockerfile")
    target = Target(TargetKind.DOCKERFILE, name, line=3)
    r = report(finding("DW501", target, Source.DOCKERFILE, {"path": name, name: name}),
               skipped=(Skipped("DW509", target, f"cannot read {name}"),),
               errors=(ReportError(name, f"cannot parse {name}"),))
    for fmt, render in RENDERERS.items():
        out = render(r)
        check_output(fmt, out, name)
        assert "bad-\\udcff\\udcfe" in visible(fmt, out)


def test_catalogue_text_is_never_markup() -> None:
    rows = [{"id": "DW1[/]", "severity": "high", "scope": "\x1b[2Jx",
             "title": "[bold red]spoofed[/]", "references": ["[/]", "\x9b31m"]}]
    for colour in (False, True):
        out = text.render_catalogue(rows, colour=colour)
        plain_out = SGR.sub("", out)
        assert_no_raw_controls(plain_out)
        assert "[bold red]spoofed[/]" in plain_out and "DW1[/]" in plain_out
    out = markdown.catalogue(rows)
    assert_no_raw_controls(out)


# --- SBOM renderers: a hostile package ---


def hostile_image(h: str) -> ImageSnapshot:
    bad_path = os.fsdecode(b"usr/lib/\xff/") + h
    pkg = Package(type="deb", name=f"pkg{h}", version=f"1.0{h}", layer=0,
                  path=f"var/lib/dpkg/{h}", source_name=h, source_version=h,
                  arch=h, licenses=(h, f"MIT{h}"), purl=f"pkg:deb/debian/x{h}@1")
    pkg2 = Package(type="npm", name=h, version=h, layer=0, path=bad_path, licenses=(h,))
    return ImageSnapshot(
        ref=f"alpine:{h}", id="sha256:" + "c" * 64, source="engine",
        config=ImageConfigFacts(architecture=h), history=(),
        layers=(LayerFacts(0, f"sha256:{h}", f"RUN {h}", 1, 1),),
        file_count=1, total_size=1, packages=(pkg, pkg2),
        os_release=OSRelease(id=h, version_id=h, pretty_name=h, id_like=(h,)),
        skipped=((h, h),),
    )


@pytest.mark.parametrize("h", HOSTILE)
@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_sbom_renderers_with_a_hostile_package(fmt: str, h: str) -> None:
    render = cyclonedx.render if fmt == "cyclonedx" else spdx.render
    images = [hostile_image(h)]
    out = render(images, tool_version=f"0.1{h}", timestamp=STARTED)
    check_output("json", out, h)
    unknown = ImageSnapshot(ref=h, id=h, source=h, config=ImageConfigFacts(), history=(),
                            layers=(), file_count=0, total_size=0,
                            packages=Unknown(h), os_release=Unknown(h), complete=False)
    out = render([unknown, *images], tool_version="0.1", timestamp=STARTED)
    check_output("json", out, h)


# --- end to end: the CLI on hostile files and lines, every format, no Engine ---

RUN_LINE = "RUN curl http://x/[/] | sh && echo \"\x1b]0;pwned\x1b\\ [bold red]x[/] \x1b[2J\""
COMPOSE = """\
services:
  web:
    image: "alpine[bold red]x[/]\\e[2J"
    volumes:
      - "/etc/[/]\\e]0;pwned\\e\\\\:/x"
"""


def check_cli(fmt: str, code: int, out: str, err: str = "") -> None:
    assert code in (0, 1), (out[-2000:], err[-2000:])
    assert_no_raw_controls(out)
    if fmt in ("json", "sarif"):
        json.loads(out)
    elif fmt == "junit":
        ET.fromstring(out)
    assert "[/]" in visible(fmt, out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_dockerfile_with_a_hostile_run_line(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM debian:12\n{RUN_LINE}\nUSER root\n", encoding="utf-8")
    run = run_dockwarden(["dockerfile", str(path), "--format", fmt])
    check_cli(fmt, run.code, run.out, run.err)
    assert "pwned" in run.out


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_run_command_with_a_hostile_volume(fmt: str) -> None:
    line = "docker run -v '/[/]\x1b]0;pwned\x1b\\:/x' --privileged alpine"
    run = run_dockwarden(["run-command", line, "--format", fmt])
    check_cli(fmt, run.code, run.out, run.err)
    assert "pwned" in run.out


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_compose_with_a_hostile_volume(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(COMPOSE, encoding="utf-8")
    run = run_dockwarden(["compose", str(path), "--format", fmt])
    check_cli(fmt, run.code, run.out, run.err)
    assert "pwned" in run.out


def test_cli_compose_with_a_hostile_service_name(tmp_path: Path) -> None:
    """Compose allows only [a-zA-Z0-9._-] in a service name: this one is an invalid file
    (exit 2), and the error that names it is shown escaped."""
    path = tmp_path / "compose.yml"
    path.write_text('services:\n  "web[/]\\e[2J":\n    image: alpine\n', encoding="utf-8")
    run = run_dockwarden(["compose", str(path)])
    assert run.code == 2 and "invalid compose file" in run.err, run
    assert_no_raw_controls(run.out + run.err)


def run_on_a_tty(args: list[str], timeout: float = 60) -> tuple[int, str]:
    """`python -m dockwarden ARGS` with its stdout on a pseudo-terminal, as a user sees
    it: the text report in colour."""
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "dockwarden", *args], stdout=slave,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            proc.kill()
            pytest.fail(f"dockwarden {args!r} did not end within {timeout} s")
        code = proc.wait(timeout=timeout)
    finally:
        os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "backslashreplace")
    proc.stderr.close()
    assert "Traceback" not in err, err[-3000:]
    return code, b"".join(chunks).decode("utf-8", "backslashreplace").replace("\r\n", "\n")


def test_cli_text_on_a_terminal_applies_no_hostile_style(tmp_path: Path) -> None:
    """The text report on a real (pseudo-)terminal, in colour: the only escape sequences
    are SGR styles, the same set as for a benign Dockerfile, and the hostile text shows."""
    outputs = {}
    for name, line in (("hostile", RUN_LINE), ("benign", "RUN curl http://x/y | sh")):
        path = tmp_path / name / "Dockerfile"
        path.parent.mkdir()
        path.write_text(f"FROM debian:12\n{line}\nUSER root\n", encoding="utf-8")
        code, out = run_on_a_tty(["dockerfile", str(path)])
        assert code in (0, 1), out[-2000:]
        outputs[name] = out
    hostile = outputs["hostile"]
    assert SGR.search(hostile), "no colour: not rendered as for a terminal"
    assert_no_raw_controls(SGR.sub("", hostile))
    assert set(SGR.findall(hostile)) == set(SGR.findall(outputs["benign"]))
    shown = SGR.sub("", hostile)
    assert "[bold red]x[/]" in shown
    assert "\\x1b]0;pwned" in shown


@given(st.text(alphabet=st.sampled_from(
    "a\\\"nu01f\x00\x1b\x7f\x9b\u200e\u202e\u2028\u2066\ud800\udcff\n\t"), max_size=30))
def test_fast_path_never_passes_text_that_needs_cleaning(s: str) -> None:
    """`plain` returns evidence untouched only when no string in it needs cleaning."""
    out = plain({"k": s, s: [s, {"x": s}]})
    for value in strings(json.loads(json.dumps(out))):
        assert sanitize.is_clean(value), repr(value)
