"""Exit codes 0/1/2/3, option handling and clean one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import RUN_ID, run_cli, run_json, test_labels
from harness.daemons import ExtraDaemon
from harness.images import busybox_image
from harness.proxy import InterceptingProxy

DW = [sys.executable, "-m", "dockwarden"]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DW, *args], capture_output=True, text=True, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 3, proc.stderr  # the error, optionally usage and a hint


@pytest.mark.parametrize("args", [
    ["--format", "bogus"],
    ["--severity", "catastrophic"],
    ["--fail-on", "sometimes"],
    ["--workers", "0", "--host", "unix:///nonexistent/docker.sock"],
    ["--tlscacert", "/nonexistent/ca.pem", "--host", "tcp://127.0.0.1:1"],
    ["frobnicate", "--bogus-flag"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    _one_line_error(proc)


@pytest.mark.parametrize("args", [
    ["watch", "-H", "unix:///nonexistent/a.sock", "-H", "unix:///nonexistent/b.sock"],
    ["sbom", "--context", "a", "-c", "b", "busybox"],
    ["dockerfile", "-H", "unix:///nonexistent/a.sock", "--host", "unix:///x.sock", "F"],
])
def test_one_engine_commands_refuse_a_second_engine(args: list[str]) -> None:
    """Only the Engine audits take -H/--context more than once; elsewhere a second one
    is refused instead of silently replacing the first."""
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    assert "given twice" in proc.stderr
    _one_line_error(proc)


def test_unreachable_engine_exits_3_with_hint(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = _run("--host", "unix:///nonexistent/docker.sock", "--format", "json",
                "--output", str(out))
    assert proc.returncode == 3
    _one_line_error(proc)
    assert "cannot reach the Docker Engine" in proc.stderr and "hint:" in proc.stderr
    report = json.loads(out.read_text())
    assert report["complete"] is False and report["errors"]


def test_refused_tcp_port_exits_3() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _run("--host", f"tcp://127.0.0.1:{port}")
    assert proc.returncode == 3
    _one_line_error(proc)


@pytest.mark.parametrize("content,message", [
    ("- check: DW214\n", "needs a reason"),
    ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "aliases are not allowed"),
    ("{{{{", "not valid YAML"),
    ("- check: DW214\n  reason: ok\n  expires: soon\n", "YYYY-MM-DD"),
])
def test_bad_ignore_file_exits_2(tmp_path: Path, content: str, message: str,
                                 engine_url: str) -> None:
    path = tmp_path / "ignore.yml"
    path.write_text(content)
    proc = _run("--host", engine_url, "--ignore", str(path), "--no-progress")
    assert proc.returncode == 2
    _one_line_error(proc)
    assert message in proc.stderr


def test_huge_ignore_file_is_refused(tmp_path: Path, engine_url: str) -> None:
    path = tmp_path / "ignore.yml"
    path.write_text("#" * (2 << 20))
    proc = _run("--host", engine_url, "--ignore", str(path), "--no-progress")
    assert proc.returncode == 2 and "larger than 1 MiB" in proc.stderr


@pytest.fixture(scope="module")
def privileged_container(api: Any, busybox: str) -> Any:
    name = f"dw-{RUN_ID}-cli-priv"
    cid = api.create_container(busybox, name=name, labels=test_labels(),
                               host_config=api.create_host_config(privileged=True))["Id"]
    yield name
    api.remove_container(cid, force=True)


@pytest.mark.live
def test_exit_1_on_findings_and_0_below_threshold(
        privileged_container: str, engine_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["containers", privileged_container, "--host", engine_url, "--no-progress"]
    code, _, _ = run_cli([*args, "--check", "DW201", "--fail-on", "critical"], capsys)
    assert code == 1
    code, _, _ = run_cli([*args, "--check", "DW227", "--fail-on", "medium"], capsys)
    assert code == 0  # DW227 is low
    code, _, _ = run_cli([*args, "--fail-on", "none"], capsys)
    assert code == 0


@pytest.mark.live
def test_ignore_file_accepts_risk_until_expiry(
        privileged_container: str, engine_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ignore = tmp_path / "accepted.yml"
    ignore.write_text(f"- check: DW201\n  target: {privileged_container}\n"
                      "  reason: CI builder, isolated VM\n  expires: 2999-01-01\n")
    args = ["containers", privileged_container, "--host", engine_url, "--check", "DW201",
            "--fail-on", "critical", "--ignore", str(ignore)]
    code, rep = run_json(args, capsys)
    assert code == 0 and not rep["findings"]
    assert rep["ignored"][0]["reason"] == "CI builder, isolated VM"
    ignore.write_text(f"- check: DW201\n  target: {privileged_container}\n"
                      "  reason: CI builder\n  expires: 2000-01-01\n")
    code, rep = run_json(args, capsys)
    assert code == 1 and rep["findings"]


@pytest.mark.live
def test_severity_filter_and_check_selection(
        privileged_container: str, engine_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["containers", privileged_container, "--host", engine_url, "--fail-on", "none",
            "--no-images"]
    _, rep = run_json([*args, "--severity", "critical,high"], capsys)
    assert rep["findings"] and {f["severity"] for f in rep["findings"]} <= {"critical", "high"}
    _, rep = run_json([*args, "--skip", "DW2"], capsys)
    assert not rep["findings"]
    _, rep = run_json([*args, "--check", "DW214", "--check", "DW201"], capsys)
    assert {f["check"] for f in rep["findings"]} == {"DW201", "DW214"}


@pytest.mark.live
def test_output_file_and_json_schema(privileged_container: str, engine_url: str,
                                     tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = _run("--host", engine_url, "--format", "json", "--output", str(out),
                "--no-progress", "--fail-on", "none")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    rep = json.loads(out.read_text())
    assert rep["schema"] == "dockwarden-report/1"
    assert rep["tool"]["name"] == "dockwarden"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rep["started"])
    assert rep["targets"][0]["kind"] == "engine" and rep["targets"][0]["complete"] is True
    assert rep["complete"] is True
    # the whole Engine is audited (foreign containers too): take the finding on ours
    f = next(f for f in rep["findings"]
             if f["check"] == "DW201" and f["target"]["ref"] == privileged_container)
    assert set(f) >= {"check", "severity", "title", "target", "source", "evidence",
                      "remediation", "references"}
    assert f["references"] == ["CIS Docker Benchmark 1.6.0 5.5"]
    kinds = {f["target"]["kind"] for f in rep["findings"]}
    assert {"daemon", "container"} <= kinds


@pytest.mark.live
def test_text_report_groups_and_totals(privileged_container: str, engine_url: str) -> None:
    proc = _run("--host", engine_url, "--no-progress", "--fail-on", "none")
    assert proc.returncode == 0
    assert f"container {privileged_container}" in proc.stdout
    assert "daemon unix://" in proc.stdout
    assert re.search(r"Findings: critical \d+\s+high \d+\s+medium \d+\s+low \d+\s+info \d+",
                     proc.stdout)
    assert "\x1b[" not in proc.stdout  # no colour codes when not a TTY


def test_checks_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["checks", "--format", "json"], capsys)
    rows = json.loads(out)
    assert code == 0
    ids = [r["id"] for r in rows]
    assert "DW101" in ids and "DW236" in ids and ids == sorted(ids)
    assert all(r["remediation"] and r["rationale"] and r["bad"] for r in rows)
    [api_port] = [r for r in rows if r["id"] == "DW237"]  # lists every scope, also DW237
    assert (api_port["scope"], api_port["severity"]) == ("container", "critical")
    assert {i[:3] for i in ids} >= {"DW1", "DW2", "DW3", "DW5"}
    code, out, _ = run_cli(["checks"], capsys)
    assert "DW201" in out and "privileged" in out


# -- an Engine killed mid-audit -----------------------------------------------------------

def _kill_on_first_inspect(pid: int, killed: threading.Event) -> Any:
    """Hook: SIGKILL the daemon as the first container inspect passes, then cut it."""
    def hook(data: bytes) -> bool:
        if killed.is_set():
            return True
        if re.search(rb"GET /v[\d.]+/containers/[0-9a-f]{64}/json", data):
            os.kill(pid, signal.SIGKILL)
            killed.set()
            stat = Path(f"/proc/{pid}/stat")
            for _ in range(100):
                if not stat.exists() or stat.read_text().split()[2] == "Z":
                    break
                time.sleep(0.05)
            return True
        return False
    return hook


@pytest.mark.live
@pytest.mark.slow
def test_engine_killed_mid_audit_exits_3_with_partial_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ExtraDaemon() as d:
        api = d.client()
        image = busybox_image(api)
        for i in range(5):
            api.create_container(image, name=f"victim-{i}", labels=test_labels())
        killed = threading.Event()
        out = tmp_path / "partial.json"
        with InterceptingProxy(str(tmp_path / "proxy.sock"), d.socket,
                               _kill_on_first_inspect(d.pid, killed)) as proxy:
            code, _, err = run_cli(["engine", "--host", proxy.url, "--format", "json",
                                    "--output", str(out), "--no-progress", "--workers", "1"],
                                   capsys)
        assert killed.is_set()
    assert code == 3, err
    rep = json.loads(out.read_text())
    assert rep["complete"] is False
    assert rep["targets"][0]["complete"] is False
    assert any("stopped answering" in e["message"] for e in rep["errors"])
    # What was gathered before the Engine died is still judged and reported.
    assert any(f["target"]["kind"] == "daemon" for f in rep["findings"])
    assert "Traceback" not in err


@pytest.mark.live
def test_container_removed_between_list_and_inspect_is_skipped(
        api: Any, busybox: str, engine_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The container vanishes after the list: no error, the audit stays complete."""
    keep = api.create_container(busybox, name=f"dw-{RUN_ID}-stays", labels=test_labels())["Id"]
    gone = api.create_container(busybox, name=f"dw-{RUN_ID}-goes", labels=test_labels())["Id"]
    upstream = engine_url[len("unix://"):]

    def hook(data: bytes) -> bool:
        if f"/containers/{gone}/json".encode() in data:
            api.remove_container(gone, force=True)
        return False

    try:
        with InterceptingProxy(str(tmp_path / "p.sock"), upstream, hook) as proxy:
            code, rep = run_json(["containers", f"dw-{RUN_ID}-stays", f"dw-{RUN_ID}-goes",
                                  "--host", proxy.url, "--fail-on", "none", "--no-images"],
                                 capsys)
    finally:
        api.remove_container(keep, force=True)
    assert code == 0 and rep["complete"] is True and not rep["errors"]
    refs = {f["target"]["ref"] for f in rep["findings"]}
    assert refs == {f"dw-{RUN_ID}-stays"}


def test_run_command_and_script_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rep = run_json(["run-command", "docker run --privileged -v /:/host busybox",
                          "--fail-on", "critical"], capsys)
    assert code == 1
    assert {"DW201", "DW207"} <= {f["check"] for f in rep["findings"]}
    assert all(f["source"] == "run-command" for f in rep["findings"])
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\nset -e\ndocker run -d \\\n  --pid host app:1\n"
                      "docker run --frobnicate x\n")
    code, rep = run_json(["run-command", "--scan-scripts", str(tmp_path), "--fail-on",
                          "none"], capsys)
    hit = next(f for f in rep["findings"] if f["check"] == "DW202")
    assert hit["target"]["ref"] == str(script) and hit["line"] == 3
    assert any("--frobnicate" in e["message"] for e in rep["errors"])
    code, _, err = run_cli(["run-command", "docker run --bogus-flag x"], capsys)
    assert code == 2 and "--bogus-flag" in err and "Traceback" not in err


def test_compose_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx:1.25\n    privileged: true\n"
        "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16\n")
    (tmp_path / "broken.compose.yaml").write_text("services: [\n")
    code, rep = run_json(["compose", str(tmp_path), "--fail-on", "critical"], capsys)
    assert code == 3  # one file could not be read: the audit is incomplete, others judged
    hits = {(f["check"], f["target"]["service"], f["line"]) for f in rep["findings"]
            if f["check"] in ("DW201", "DW208")}
    assert hits == {("DW201", "web", 4), ("DW208", "web", 6)}  # the mount's own line
    assert any("broken" in e["target"] for e in rep["errors"])
    override = tmp_path / "override.yaml"
    override.write_text("services:\n  web:\n    privileged: false\n")
    code, rep = run_json(["compose", "-f", str(tmp_path / "compose.yaml"), "-f", str(override),
                          "--check", "DW201", "--fail-on", "critical"], capsys)
    assert code == 0 and not rep["findings"]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)))
    code, _, err = run_cli(["compose", str(bomb)], capsys)
    assert code == 2 and "Traceback" not in err


def test_dockerfile_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:12 AS build\nRUN make\nFROM debian\nRUN sudo apt-get update\n")
    (tmp_path / "bad.Dockerfile").write_bytes(b"FROM x\n\0\0binary")
    code, rep = run_json(["dockerfile", str(tmp_path), "--fail-on", "medium"], capsys)
    assert code == 3  # one file refused: incomplete, the other still judged
    sudo = next(f for f in rep["findings"] if f["check"] == "DW508")
    assert sudo["line"] == 4 and sudo["target"]["kind"] == "dockerfile"
    assert sudo["target"]["stage"] == "1"
    assert any("bad.Dockerfile" in e["target"] for e in rep["errors"])
    code, _, err = run_cli(["dockerfile", str(tmp_path / "bad.Dockerfile")], capsys)
    assert code == 2 and "Traceback" not in err


def test_inline_suppression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM debian:12\n# dockwarden: ignore=DW508 the base image has no other way\n"
                  "RUN sudo true\n# dockwarden: ignore=DW511\nRUN chmod 777 /x\n")
    _, rep = run_json(["dockerfile", str(df), "--fail-on", "none"], capsys)
    checks = {f["check"] for f in rep["findings"]}
    assert "DW508" not in checks  # suppressed, with a reason
    assert "DW511" in checks  # a suppression without a reason does not count
    assert rep["ignored"][0]["check"] == "DW508"
    assert "no other way" in rep["ignored"][0]["reason"]
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  ci:\n    image: builder:1\n"
                       "    privileged: true  # dockwarden: ignore=DW201 isolated CI VM\n")
    _, rep = run_json(["compose", str(compose), "--check", "DW201", "--fail-on", "none"], capsys)
    assert not rep["findings"] and rep["ignored"][0]["reason"] == "inline: isolated CI VM"


def test_bare_dockwarden_without_engine_lints_files_here(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:12\nRUN sudo true\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x:1\n    privileged: true\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = subprocess.run([*DW, "--format", "json", "--fail-on", "critical"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr  # DW201 (critical) in the compose file
    assert "instead" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    rep = json.loads(proc.stdout)
    assert {t["kind"] for t in rep["targets"]} == {"dockerfile", "compose"}
    assert {"DW508", "DW201"} <= {f["check"] for f in rep["findings"]}
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([*DW], cwd=empty, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3 and "cannot reach" in proc.stderr


def test_a_parser_for_one_command_reads_it_as_the_whole_parser_does() -> None:
    """main() builds only the named command's options: the same namespace, for each."""
    from dockwarden.cli import COMMANDS, _argv, build_parser

    lines = {
        "engine": ["--format", "json", "--fail-on", "none", "-H", "tcp://127.0.0.1:1"],
        "daemon": ["--severity", "high"], "containers": ["web", "db"],
        "image": ["--tar", "x.tar", "--max-files", "7", "--vex", "a", "--vex", "b"],
        "sbom": ["a", "b", "--format", "spdx"], "dockerfile": ["Dockerfile"],
        "compose": ["-f", "a.yml", "--profile", "p"], "run-command": ["docker run x"],
        "checks": ["--format", "markdown"], "db": ["status", "--format", "json"],
        "exposure": ["127.0.0.1", "--ports", "1-10", "--timeout", "1"],
        "registry": ["127.0.0.1:5000", "--repository", "team/app", "--no-write-test"],
        "inside": ["--format", "json"], "watch": ["--for", "30s", "--format", "json"],
        "probe": ["--run-flags", "--pids-limit 64", "--fork-cap", "64"],
        "merge": ["a.json", "b.json", "--format", "sarif"],
    }
    assert set(lines) == set(COMMANDS)
    for command, rest in lines.items():
        args = _argv([command, *rest])
        assert build_parser(only=command).parse_args(args) == build_parser().parse_args(args)


def test_the_command_ends_at_once_keeping_its_exit_code_and_output(tmp_path: Path) -> None:
    """`python -m dockwarden` leaves through os._exit after `main` (cli.run): the exit code,
    the whole report on stdout or in -o FILE, and other code's exit handlers all remain."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:12\nUSER root\nRUN apt-get install -y curl\n")
    out = tmp_path / "r.json"
    proc = _run("dockerfile", str(dockerfile), "--format", "json", "--fail-on", "low",
                "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert json.loads(out.read_text())["findings"]
    proc = _run("dockerfile", str(dockerfile), "--format", "json", "--fail-on", "none")
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"]
    hook = ("import atexit, sys; atexit.register(lambda: print('handler ran', file=sys.stderr)); "
            "sys.argv = ['dockwarden', 'checks', '--format', 'json']; "
            "from dockwarden.cli import run; run()")
    proc = subprocess.run([sys.executable, "-c", hook], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "handler ran" in proc.stderr
    assert json.loads(proc.stdout)
