"""The config file (`--config`, `./.dockwarden.yaml`, `$XDG_CONFIG_HOME/dockwarden/
config.yaml`): precedence CLI > file > defaults, severity overrides, `disable` lists,
unknown keys and bad values (exit 2 naming the key), and the `cis` profile."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli

# DW501 medium (root), DW502 low (unpinned), DW503 low (ADD), DW506 low (apt-get update)
# DW509 low (no HEALTHCHECK); DW501/503/506/509 are CIS-mapped, DW502 is not.
DOCKERFILE = "FROM python:latest\nRUN apt-get update\nADD app.py /app/\n"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test in its own directory with its own (empty) user config folder."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text(DOCKERFILE)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return work


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(["dockerfile", "Dockerfile", "--no-progress", *args], capsys)


def _json(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out)
    return data


def _checks(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"]}


def test_local_file_sets_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("format: json\nfail_on: low\n")
    code, out, err = _run(capsys)
    assert code == 1, err  # low findings fail under the file's fail-on
    assert _checks(_json(out)) >= {"DW502", "DW509"}


def test_command_line_wins_over_file(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("format: json\nfail-on: low\n")
    code, out, err = _run(capsys, "--fail-on", "none")
    assert code == 0, err
    assert out.startswith("{")  # format still from the file
    code, out, _ = _run(capsys, "--fail-on", "none", "--format", "markdown")
    assert code == 0 and not out.startswith("{")


def test_defaults_without_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys)
    assert code == 0, err  # default fail-on high: medium and low do not fail
    assert not out.startswith("{")  # default text


def test_no_config_reads_none(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("fail-on: low\n")
    code, _, err = _run(capsys, "--no-config")
    assert code == 0, err


def test_explicit_config_wins_over_local(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("fail-on: low\n")
    other = tmp_path / "other.yaml"
    other.write_text("format: json\n")
    code, out, err = _run(capsys, "--config", str(other))
    assert code == 0, err  # the local file is not read: default fail-on high
    assert out.startswith("{")
    code, out, err = _run(capsys, f"--config={other}")
    assert code == 0 and out.startswith("{"), err


def test_user_config_when_no_local_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "xdg" / "dockwarden"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("format: json\nignore: accepted.yaml\n")
    # paths in a config file are relative to its own directory
    (folder / "accepted.yaml").write_text("- check: DW502\n  reason: pinned by CI\n")
    code, out, err = _run(capsys)
    report = _json(out)
    assert code == 0, err
    assert "DW502" not in _checks(report)
    assert [i["check"] for i in report["ignored"]] == ["DW502"]
    # the local file, when present, is read instead
    Path(".dockwarden.yaml").write_text("quiet: true\n")
    code, out, _ = _run(capsys)
    assert not out.startswith("{")


def test_severity_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text(
        "format: json\nseverity-overrides:\n  DW502: critical\n  dw509: info\n")
    code, out, err = _run(capsys)
    assert code == 1, err  # the critical override fails under the default fail-on high
    sev = {f["check"]: f["severity"] for f in _json(out)["findings"]}
    assert sev["DW502"] == "critical" and sev["DW509"] == "info"
    assert sev["DW501"] == "low"  # not overridden: python:latest's user is unknown here
    # --severity filters on the overridden severity
    code, out, _ = _run(capsys, "--severity", "critical")
    assert _checks(_json(out)) == {"DW502"}


def test_disable_list_never_runs(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("format: json\ndisable: [DW502, dw50]\n")
    code, out, err = _run(capsys)
    assert code == 0 and not _checks(_json(out)), err  # every DW50x check is disabled
    _, out, _ = _run(capsys, "--check", "DW502")
    assert not _checks(_json(out))


def test_skip_list_replaced_by_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("format: json\nskip: [DW502, DW509]\n")
    _, out, _ = _run(capsys)
    assert not _checks(_json(out)) & {"DW502", "DW509"}
    _, out, _ = _run(capsys, "--skip", "DW503")
    checks = _checks(_json(out))
    assert "DW503" not in checks and {"DW502", "DW509"} <= checks


def test_option_of_another_command_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("workers: 4\nmax-size: 1GiB\nformat: json\n")
    code, out, err = _run(capsys)
    assert code == 0 and out.startswith("{"), err


@pytest.mark.parametrize(("text", "expected"), [
    ("fial-on: low\n", "unknown key 'fial-on'"),
    ("fail-on: sometimes\n", "fail-on: unknown severity 'sometimes'"),
    ("format: pdf\n", "format: invalid choice 'pdf'"),
    ("quiet: maybe\n", "quiet: expected true or false"),
    ("fail-on: [low, high]\n", "fail-on: expected one value, not a list"),
    ("fail-on: off\n", "quote it"),
    ("severity-overrides: {DW2144: high}\n", "DW2144 is not a check id"),
    ("severity-overrides: {DW214: dire}\n", "DW214: unknown severity 'dire'"),
    ("severity-overrides: [DW214]\n", "severity-overrides must map check ids"),
    ("disable: [DW999]\n", "disable: DW999: no such check id or prefix"),
    ("config: other.yaml\n", "config cannot be set in a config file"),
    ("- fail-on\n", "expected a mapping"),
    ("a: &x [1]\nb: *x\n", "aliases are not allowed"),
    ("fail-on: [\n", "not valid YAML"),
    ("fail-on: low\nfail_on: high\n", "fail_on is given twice"),
])
def test_bad_config_exit_2_naming_the_key(text: str, expected: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text(text)
    code, out, err = _run(capsys)
    assert code == 2
    assert expected in err, err
    assert err.startswith("dockwarden: error: config .dockwarden.yaml"), err
    assert "Traceback" not in err and not out


def test_unknown_key_names_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("fial-on: low\n")
    code, _, err = _run(capsys)
    assert code == 2 and "hint: did you mean fail-on" in err


def test_config_that_is_not_a_regular_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    code, _, err = _run(capsys, "--config", str(fifo))
    assert code == 2 and "config file" in err, err
    code, _, err = _run(capsys, "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err, err
    big = tmp_path / "big.yaml"
    big.write_text("# x\n" * 100_000)
    code, _, err = _run(capsys, "--config", str(big))
    assert code == 2, err


def test_help_is_not_blocked_by_a_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("fial-on: low\n")
    with pytest.raises(SystemExit) as exc:
        _run(capsys, "--help")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--config", "--no-config", "--baseline", "--profile", "--details"):
        assert option in out


# --- the cis profile -----------------------------------------------------------------

def test_profile_cis_selects_mapped_checks_and_shows_cis_ids(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = _run(capsys, "--profile", "cis", "--format", "json")
    report = _json(out)
    assert _checks(report) == {"DW501", "DW503", "DW506", "DW509"}, err  # not DW502
    titles = {f["check"]: f["title"] for f in report["findings"]}
    assert titles["DW501"].endswith("(CIS 4.1)")
    assert titles["DW509"].endswith("(CIS 4.6)")
    refs = {f["check"]: f["references"] for f in report["findings"]}
    assert "CIS Docker Benchmark 1.6.0 4.1" in refs["DW501"]
    # text shows the CIS id next to ours too
    _, out, _ = _run(capsys, "--profile", "cis")
    assert "DW501 Final stage runs as root (CIS 4.1)" in out


def test_profile_cis_from_config_and_narrowed_by_check(
        capsys: pytest.CaptureFixture[str]) -> None:
    Path(".dockwarden.yaml").write_text("profile: cis\nformat: json\n")
    _, out, _ = _run(capsys)
    assert "DW502" not in _checks(_json(out))
    _, out, _ = _run(capsys, "--check", "DW503,DW502")
    assert _checks(_json(out)) == {"DW503"}
    code, _, err = _run(capsys, "--check", "DW502")
    assert code == 2 and "selects no check of the CIS profile" in err


def test_profile_cis_on_run_command(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = run_cli(["run-command", "docker run --privileged busybox", "--profile",
                              "cis", "--format", "json", "--no-progress"], capsys)
    report = _json(out)
    titles = {f["check"]: f["title"] for f in report["findings"]}
    assert titles["DW201"].endswith(" (CIS 5.5)"), err
    assert "DW217" not in titles and "DW232" not in titles  # not CIS-mapped


def test_compose_keeps_profile_for_compose_profiles(
        capsys: pytest.CaptureFixture[str]) -> None:
    Path("compose.yaml").write_text(
        "services:\n  web:\n    image: nginx:1\n    privileged: true\n"
        "  debug:\n    image: busybox:1\n    profiles: [cis]\n    pid: host\n")
    _, out, err = run_cli(["compose", "compose.yaml", "--format", "json", "--no-progress"],
                          capsys)
    services = {f["target"].get("service") for f in _json(out)["findings"]}
    assert services == {"web"}, err
    _, out, _ = run_cli(["compose", "compose.yaml", "--profile", "cis", "--format", "json",
                         "--no-progress"], capsys)
    services = {f["target"].get("service") for f in _json(out)["findings"]}
    assert services == {"web", "debug"}  # the compose profile named cis
    _, out, _ = run_cli(["compose", "compose.yaml", "--benchmark", "cis", "--format", "json",
                         "--no-progress"], capsys)
    report = _json(out)
    assert "DW217" not in _checks(report) and "DW201" in _checks(report)
    assert all("(CIS " in f["title"] for f in report["findings"])


@pytest.mark.parametrize("text", [
    "fail-on\u202e: low\n",
    'fail-on: "\\e[31mlow\\u202e"\n',
    'format: "\\e]0;title\\a"\n',
    "severity-overrides: {\"DW2\\e[2J\": high}\n",
    "x: " + "[" * 5000 + "\n",
])
def test_hostile_config_text_is_shown_escaped(text: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from hostile.conftest import assert_no_raw_controls

    Path(".dockwarden.yaml").write_text(text, encoding="utf-8")
    code, out, err = _run(capsys)
    assert code == 2 and not out and len(err.splitlines()) <= 2, err
    assert "\\\\" not in err  # escaped once, not twice
    assert_no_raw_controls(err)
