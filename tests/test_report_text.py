"""The text report for many targets (issue 13, item 2): a summary first (totals, one row
per check that fired, most severe and most widespread first, example names in natural
order, the fix once), the daemon and host, details per target only when asked or when
there are few targets, skipped checks rolled up; widths respected, no trailing spaces,
evidence never split inside a word."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Report, ReportTarget, Skipped, Target
from dockwarden.report import text
from dockwarden.report.text import cells, default_width, natural_key, wrap

STARTED = "2026-11-28T10:00:00Z"
ENGINE = "unix:///var/run/docker.sock"
SGR = re.compile(r"\x1b\[[0-9;]*m")

# (check, severity, title, evidence, fix): what nearly every container of a real Engine has
COMMON: list[tuple[str, Severity, str, dict[str, Any], str]] = [
    ("DW214", Severity.HIGH, "No PIDs limit", {"HostConfig.PidsLimit": None},
     "Set --pids-limit (e.g. 200, or what the workload needs)."),
    ("DW215", Severity.MEDIUM, "No memory limit", {"HostConfig.Memory": 0},
     "Set --memory (and --memory-swap)."),
    ("DW216", Severity.LOW, "No CPU limit or shares",
     {"HostConfig.NanoCpus": 0, "HostConfig.CpuShares": 0, "HostConfig.CpuQuota": 0},
     "Set --cpus, or --cpu-shares relative to the other containers."),
    ("DW220", Severity.MEDIUM, "Container runs as root", {"Config.User": ""},
     "Run as an unprivileged user (--user 1000:1000, or USER in the image)."),
    ("DW227", Severity.LOW, "No health check", {"Config.Healthcheck": None},
     "Add --health-cmd (or HEALTHCHECK in the image)."),
    ("DW228", Severity.LOW, "Default bridge network used",
     {"HostConfig.NetworkMode": "default", "networks": ["bridge"]},
     "Create a network per application (docker network create) and attach to it."),
]
PRIVILEGED = (7, 17, 27)  # DW201
SOCKET = (13, 23)  # DW208
API_PORT = 22  # DW237
CRITICAL = {("DW201", f"dw-scale-{i}") for i in PRIVILEGED} | \
    {("DW208", f"dw-scale-{i}") for i in SOCKET} | {("DW237", f"dw-scale-{API_PORT}")}


def finding(check: str, severity: Severity, title: str, target: Target,
            evidence: dict[str, Any], fix: str, message: str = "") -> Finding:
    return Finding(check=check, severity=severity, title=title, target=target,
                   source=Source.ENGINE, evidence=evidence, remediation=fix,
                   references=("CIS Docker Benchmark 1.6.0 5.10",), message=message)


def simulated(n: int) -> Report:
    """An Engine audit of `n` containers named dw-scale-1..n (created in reverse order,
    as the Engine lists newest first): six checks on nearly all of them, 6 critical
    findings on 5 containers, a few more checks on some, the daemon and host, and two
    checks skipped on every container. Also the input of the rendering benchmark."""
    daemon = Target(TargetKind.DAEMON, ENGINE)
    host = Target(TargetKind.HOST, "vm")
    findings = [
        finding("DW104", Severity.MEDIUM,
                "Inter-container communication allowed on the default bridge", daemon,
                {"network": "bridge", "com.docker.network.bridge.enable_icc": "true"},
                'Set "icc": false in daemon.json and link containers through user-defined '
                "networks."),
        finding("DW119", Severity.MEDIUM,
                "Engine version end-of-life or with known vulnerabilities", daemon,
                {"ServerVersion": "20.10.24+dfsg1", "end_of_life": "2023-12-10",
                 "vulnerabilities": ["CVE-2024-41110 (no fix in series)",
                                     "CVE-2024-24557 (no fix in series)"]},
                "Upgrade to a maintained Docker Engine release."),
        finding("DW118", Severity.INFO, "Daemon runs as root", daemon,
                {"SecurityOptions": ["name=seccomp,profile=default"]},
                "Consider rootless mode where its limitations are acceptable."),
        finding("DW132", Severity.LOW, "No audit rules for Docker files and binaries", host,
                {"not_watched": ["/usr/bin/dockerd", "/var/lib/docker", "/etc/docker",
                                 "docker.service", "docker.socket"]},
                "Install auditd and add watches, e.g. `-w /usr/bin/dockerd -k docker`, for "
                "each path."),
    ]
    skipped = []
    for i in range(n, 0, -1):
        t = Target(TargetKind.CONTAINER, f"dw-scale-{i}", id=f"{i:012x}" + "f" * 52)
        if i % 100 == 50:  # a few that set everything
            continue
        for check, sev, title, ev, fix in COMMON:
            findings.append(finding(check, sev, title, t, dict(ev), fix))
        if i % 3 == 0:
            findings.append(finding("DW224", Severity.LOW, "Port published on all host interfaces",
                                    t, {"port": "8080/tcp", "HostIp": "0.0.0.0"},
                                    "Bind to the address that should serve it, e.g. -p "
                                    "127.0.0.1:8080:8080."))
        if i in PRIVILEGED:
            findings.append(finding("DW201", Severity.CRITICAL, "Container runs privileged", t,
                                    {"HostConfig.Privileged": True},
                                    "Remove --privileged; add only the capabilities and "
                                    "devices it needs."))
        if i in SOCKET:
            findings.append(finding("DW208", Severity.CRITICAL,
                                    "Docker socket mounted into the container", t,
                                    {"source": "/var/run/docker.sock",
                                     "destination": "/var/run/docker.sock"},
                                    "Do not mount the Engine socket; use a narrowly scoped "
                                    "proxy if a tool really needs the API."))
        if i == API_PORT:
            findings.append(finding("DW237", Severity.CRITICAL,
                                    "Engine API port (2375/2376) published", t,
                                    {"port": "2375/tcp", "HostIp": "0.0.0.0",
                                     "HostPort": "2375"},
                                    "Do not publish the Engine API."))
        if i % 10 == 1:
            findings.append(finding("DW233", Severity.HIGH, "Secret-looking environment variable",
                                    t, {"variable": "GITHUB_TOKEN", "rule": "GitHub token",
                                        "value": "ghp************xx"},
                                    "Pass secrets as files (Docker secrets, a read-only "
                                    "mount) and read them at start-up."))
        reason = "container is not running" if i % 2 else "exec sessions not listed: denied"
        skipped.append(Skipped("DW225" if i % 2 else "DW231", t, reason))
    return Report(started=STARTED, finished=STARTED,
                  targets=(ReportTarget(TargetKind.ENGINE, ENGINE, True),),
                  findings=tuple(findings), skipped=tuple(skipped), passed=n * 20)


ROW = re.compile(r"^(CRITICAL|HIGH|UNKNOWN|MEDIUM|LOW|INFO)\s+(DW\d+) ")
RANK = {"CRITICAL": 5, "HIGH": 4, "UNKNOWN": 3, "MEDIUM": 2, "LOW": 1, "INFO": 0}


def rows(out: str) -> list[tuple[str, str, str]]:
    """(severity, check, row header) of each summary row."""
    return [(m[1], m[2], line) for line in out.splitlines() if (m := ROW.match(line))]


def row_count(header: str) -> int:
    m = re.search(r": (\d+) containers?", header)
    return int(m[1]) if m else 1


def check_layout(out: str, width: int) -> None:
    for line in SGR.sub("", out).splitlines():
        assert cells(line) <= width, (width, line)
        assert line == line.rstrip(), repr(line)


# --- the summary ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [30, 520])
def test_summary_order_and_size(n: int) -> None:
    out = text.render(simulated(n), width=100)
    lines = out.splitlines()
    summary = rows(out)
    checks = [check for _, check, _ in summary]
    # one row per check that fired, criticals first, then by severity and count
    assert sorted(checks) == sorted(set(checks))
    assert set(checks) == {"DW104", "DW118", "DW119", "DW132", "DW201", "DW208", "DW214",
                           "DW215", "DW216", "DW220", "DW224", "DW227", "DW228", "DW233",
                           "DW237"}
    order = [(-RANK[sev], -row_count(header)) for sev, _, header in summary]
    assert order == sorted(order)
    assert checks[:3] == ["DW201", "DW208", "DW237"]
    # every critical finding named in the first 60 lines
    for check, name in CRITICAL:
        start = next(k for k, line in enumerate(lines) if line.startswith(f"CRITICAL {check} "))
        end = next(k for k in range(start + 1, len(lines)) if ROW.match(lines[k]))
        assert any(line.startswith(f"  container {name} (") for line in lines[start:end])
        assert end < 60, (check, name)
    # a few example names in natural order, and the fix said once per check
    everywhere = n - n // 100 - (1 if n % 100 >= 50 else 0)
    i = next(k for k, line in enumerate(lines) if line.startswith("HIGH     DW214 "))
    assert lines[i] == f"HIGH     DW214 No PIDs limit: {everywhere} containers"
    assert lines[i + 1] == (f"  dw-scale-1, dw-scale-2, dw-scale-3, dw-scale-4, dw-scale-5 "
                            f"and {everywhere - 5} more")
    assert lines[i + 2] == "  fix: Set --pids-limit (e.g. 200, or what the workload needs)."
    assert out.count("fix: Set --pids-limit") == 1
    # the daemon and host after the summary, no per-container details
    assert "\nDaemon and host\ndaemon unix:///var/run/docker.sock\n" in out
    assert "container dw-scale-1 (" not in out
    assert "run again with --details" in out
    assert len(lines) <= 200
    assert lines[0].startswith("Findings: critical 6  high ")


def test_summary_line_count_is_stable() -> None:
    """The whole report of 30 and 520 containers, in lines: the summary does not grow
    with the number of containers."""
    small = text.render(simulated(30), width=100).splitlines()
    large = text.render(simulated(520), width=100).splitlines()
    assert len(small) == len(large) == 70


def test_skipped_checks_rolled_up() -> None:
    out = text.render(simulated(520), width=100)
    tail = out[out.index("Skipped checks"):].splitlines()
    assert tail == ["Skipped checks (515):",
                    "  DW225 on 260 containers: container is not running",
                    "  DW231 on 255 containers: exec sessions not listed: denied"]


def test_skipped_on_few_targets_names_them() -> None:
    t = Target(TargetKind.DOCKERFILE, "app/Dockerfile")
    r = Report(started=STARTED, finished=STARTED, targets=(), findings=(),
               skipped=(Skipped("DW509", t, "no final stage"),))
    out = text.render(r, width=100)
    assert "  DW509 on 1 Dockerfile (app/Dockerfile): no final stage" in out


def test_details_show_every_finding() -> None:
    r = simulated(520)
    out = text.render(r, width=100, details=True)
    lines = out.splitlines()
    for f in r.findings:
        label = f"{f.target.kind.value} {f.target.ref}"
        start = next(k for k, line in enumerate(lines)
                     if line == label or line.startswith(label + " ("))
        block = []
        for line in lines[start + 1:]:
            if not line.startswith("  "):
                break
            block.append(line)
        assert any(re.match(rf"  {f.severity.value.upper()} +{f.check} {re.escape(f.title)}",
                            line) for line in block), (label, f.check)
    assert len(lines) > len(r.findings)
    assert "run again with --details" not in out


def test_few_targets_are_detailed_without_asking() -> None:
    r = simulated(10)
    out = text.render(r, width=100)
    assert "\nDetails per target\n" in out
    assert "\ncontainer dw-scale-10 (00000000000a)\n" in out
    # natural order of the blocks
    blocks = re.findall(r"^container (dw-scale-\d+) ", out, re.M)
    assert blocks == sorted(blocks, key=natural_key) and blocks[:2] == ["dw-scale-1",
                                                                       "dw-scale-2"]


@pytest.mark.parametrize("width", [80, 200, 60, 20])
@pytest.mark.parametrize("details", [False, True])
def test_widths(width: int, details: bool) -> None:
    out = text.render(simulated(40), width=width, details=details)
    check_layout(out, width)
    long = Target(TargetKind.CONTAINER, "x" * 300, id="b" * 64)
    r = Report(started=STARTED, finished=STARTED, targets=(), findings=(
        finding("DW207", Severity.HIGH, "Sensitive host directory mounted", long,
                {"source": "/" + "deep/" * 80, "destination": "/x"}, "Mount less."),
        finding("DW233", Severity.CRITICAL, "Secret-looking environment variable", long,
                {"variable": "名前" * 60}, "Use files."),))
    check_layout(text.render(r, width=width, details=details, colour=True), width)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_evidence_never_split_inside_a_word(width: int) -> None:
    r = simulated(12)
    out = text.render(r, width=width, details=True)
    tokens = set(out.split())
    for f in r.findings:
        for word in text.evidence(f).split():
            assert word in tokens, (width, word)


def test_fix_lines_indented_and_quiet_has_none() -> None:
    r = simulated(30)
    out = text.render(r, width=80)
    fixes = [line for line in out.splitlines() if "fix:" in line]
    assert fixes and all(line.startswith("  fix: ") for line in fixes)
    i = next(k for k, line in enumerate(out.splitlines()) if line.startswith("  fix: Install"))
    assert out.splitlines()[i + 1].startswith("       ")  # wrapped under the fix's text
    quiet = text.render(r, width=80, quiet=True)
    assert "fix:" not in quiet
    assert rows(quiet) == rows(out)


def test_colour_only_when_asked() -> None:
    r = simulated(30)
    plain = text.render(r, width=100)
    assert "\x1b" not in plain
    coloured = text.render(r, width=100, colour=True)
    assert "\x1b[1;37;41mCRITICAL\x1b[0m" in coloured
    assert SGR.sub("", coloured) == plain


def test_no_findings_and_incomplete() -> None:
    r = Report(started=STARTED, finished=STARTED,
               targets=(ReportTarget(TargetKind.ENGINE, ENGINE, False),), findings=())
    out = text.render(r, width=100)
    assert "No findings at the selected severities." in out
    assert out.count("INCOMPLETE:") == 2  # at the top and at the end


def test_errors_and_warnings_rolled_up() -> None:
    from dockwarden.model.finding import ReportError

    errors = tuple(ReportError(f"container dw-{i}", "exec list failed", check="DW231")
                   for i in range(12, 0, -1))
    r = Report(started=STARTED, finished=STARTED, targets=(), findings=(), errors=errors,
               warnings=(ReportError(".dockwarden-ignore", "entry 3 expired"),))
    out = text.render(r, width=100)
    assert ("error [DW231] container dw-1, container dw-2, container dw-3, container dw-4, "
            "container dw-5 and 7 more: exec list failed") in out.replace("\n  ", " ")
    assert "warning .dockwarden-ignore: entry 3 expired" in out


# --- helpers ----------------------------------------------------------------------------


def test_natural_key() -> None:
    names = ["dw-scale-10", "dw-scale-2", "dw-scale-100", "dw-scale-1", "DW-scale-3", "a"]
    assert sorted(names, key=natural_key) == ["a", "dw-scale-1", "dw-scale-2", "DW-scale-3",
                                              "dw-scale-10", "dw-scale-100"]
    huge = "9" * 5000  # int() would refuse it
    assert sorted(["x" + huge, "x1", "x01"], key=natural_key) == ["x01", "x1", "x" + huge]


def test_wrap() -> None:
    assert wrap("short", 80) == ["short"]
    assert wrap("a=1, b=2, c=3 d", 11, pairs=True) == ["a=1, b=2,", "c=3 d"]
    assert wrap("a=1, b=2, c=3 d", 11) == ["a=1, b=2,", "c=3 d"]
    assert wrap("a=1, b=2 x, c=3", 10, pairs=True) == ["a=1,", "b=2 x, c=3"]
    assert wrap("a=1, b=2 x, c=3", 10) == ["a=1, b=2", "x, c=3"]
    assert wrap("aaaa bbbb cccc", 10, first=1, indent=4) == ["aaaa bbbb", "    cccc"]
    assert wrap("aaaa bbbb cccc", 10, first=2, indent=1) == ["aaaa", " bbbb cccc"]
    assert wrap("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(cells(line) <= 10 for line in wrap("日本語の文字列 " * 5, 10))


def test_default_width(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("COLUMNS", "80")
    assert default_width(io.StringIO()) == 80
    monkeypatch.setenv("COLUMNS", "5")
    assert default_width(io.StringIO()) == 20
    for junk in ("", "abc", "-3", "0", "٣"):
        monkeypatch.setenv("COLUMNS", junk)
        assert default_width(io.StringIO()) == 100
    monkeypatch.delenv("COLUMNS")
    assert default_width(io.StringIO()) == 100
