"""`--baseline OLD.json`: only findings absent from an earlier JSON report count; old ones
are listed as ignored ("in baseline"); a bad baseline is exit 2 before the audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from dockwarden import baseline

BEFORE = "FROM python:latest\nRUN apt-get update\nADD app.py /app/\n"


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(["dockerfile", "Dockerfile", "--format", "json", "--no-progress",
                              *args], capsys)
    return code, json.loads(out) if out else {}, err


def _save_baseline(capsys: pytest.CaptureFixture[str], text: str = BEFORE) -> Path:
    Path("Dockerfile").write_text(text)
    code, _, err = run_cli(["dockerfile", "Dockerfile", "--format", "json", "-o", "old.json",
                            "--fail-on", "none", "--no-progress"], capsys)
    assert code == 0, err
    return Path("old.json")


def test_new_finding_fails_old_ones_do_not(capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    assert json.loads(old.read_text())["findings"]
    # lines move (a comment above) and a new problem appears (chmod 777, DW511 medium)
    Path("Dockerfile").write_text("# the app\n\n" + BEFORE + "RUN chmod 777 /app\n")
    code, report, err = _audit(capsys, "--baseline", str(old), "--fail-on", "medium")
    assert code == 1, err
    assert [f["check"] for f in report["findings"]] == ["DW511"]
    ignored = report["ignored"]
    assert {i["check"] for i in ignored} == {"DW501", "DW502", "DW503", "DW506", "DW509"}
    assert {i["reason"] for i in ignored} == {"in baseline"}


def test_only_old_findings_pass(capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    Path("Dockerfile").write_text("# moved\n" + BEFORE)
    code, report, err = _audit(capsys, "--baseline", str(old), "--fail-on", "low")
    assert code == 0, err
    assert report["findings"] == []
    # the same run without the baseline fails
    code, _, _ = _audit(capsys, "--fail-on", "low")
    assert code == 1


def test_same_finding_twice_when_baseline_had_it_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    Path("Dockerfile").write_text(BEFORE + "ADD app.py /app/\n")
    _, report, _ = _audit(capsys, "--baseline", str(old))
    assert [f["check"] for f in report["findings"]] == ["DW503"]
    assert [i["check"] for i in report["ignored"]].count("DW503") == 1


def test_changed_evidence_is_a_new_finding(capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    Path("Dockerfile").write_text(BEFORE.replace("ADD app.py", "ADD main.py"))
    _, report, _ = _audit(capsys, "--baseline", str(old))
    assert [f["check"] for f in report["findings"]] == ["DW503"]


def test_relative_path_spelling_matches(capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    _, out, err = run_cli(["dockerfile", "./Dockerfile", "--format", "json",
                              "--no-progress", "--baseline", str(old)], capsys)
    assert json.loads(out)["findings"] == [], err


def test_baseline_from_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    old = _save_baseline(capsys)
    Path(".dockwarden.yaml").write_text(f"baseline: {old.name}\n")
    _, report, err = _audit(capsys, "--fail-on", "low")
    assert report["findings"] == [], err


@pytest.mark.parametrize(("content", "expected"), [
    ("not json", "not JSON"),
    ("[]", "not a dockwarden JSON report"),
    ('{"schema": "other/1", "findings": []}', "not a dockwarden JSON report"),
    ('{"schema": "dockwarden-report/1", "findings": {}}', "`findings` is not a list"),
    ('{"schema": "dockwarden-report/1", "findings": [{"check": "DW501"}]}',
     "finding 1 is not a finding"),
    ('{"schema": "dockwarden-report/1", "findings": [{"check": "DW501", "target": '
     '{"kind": "dockerfile", "ref": 3}}]}', "finding 1 is not a finding"),
    ("[" * 100_000, "nested too deeply"),
])
def test_bad_baseline_exit_2_before_the_audit(content: str, expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.json").write_text(content)
    Path("Dockerfile").write_text(BEFORE)
    code, out, err = run_cli(["dockerfile", "Dockerfile", "--baseline", "bad.json",
                              "--no-progress"], capsys)
    assert code == 2 and not out
    assert expected in err and err.startswith("dockwarden: error: baseline bad.json"), err


def test_baseline_not_a_regular_file(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    Path("Dockerfile").write_text(BEFORE)
    for path in (str(tmp_path), str(tmp_path / "missing.json"), "/dev/zero"):
        code, out, err = run_cli(["dockerfile", "Dockerfile", "--baseline", path,
                                  "--no-progress"], capsys)
        assert code == 2 and not out, (path, err)
        assert "Traceback" not in err


# --- the matching key ----------------------------------------------------------------

def _finding(**changes: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"check": "DW309", "severity": "high", "title": "t",
                         "target": {"kind": "image", "ref": "app:1", "id": "sha256:aa"},
                         "evidence": {"id": "CVE-1", "package": "openssl", "installed": "1.0",
                                      "fixed": "1.1", "severity": "high", "cvss_score": 7.5,
                                      "layer": 2, "layer_digest": "sha256:bb",
                                      "sources": ["debian"]},
                         "line": 3}
    f.update(changes)
    return f


def test_key_leaves_out_volatile_parts() -> None:
    k = baseline.key(_finding())
    assert k == baseline.key(_finding(line=9, severity="critical", title="other"))
    assert k == baseline.key(_finding(target={"kind": "image", "ref": "app:1",
                                               "id": "sha256:cc"}))
    assert k == baseline.key(_finding(evidence={
        **_finding()["evidence"], "fixed": "1.2", "cvss_score": 9.8, "severity": "critical",
        "layer": 5, "sources": ["debian", "osv"]}))
    # identity: the package version, the advisory, the target
    assert k != baseline.key(_finding(evidence={**_finding()["evidence"], "installed": "1.1"}))
    assert k != baseline.key(_finding(evidence={**_finding()["evidence"], "id": "CVE-2"}))
    assert k != baseline.key(_finding(target={"kind": "image", "ref": "app:2"}))
    assert k != baseline.key(_finding(check="DW310"))
    assert len(baseline.fingerprint(_finding())) == 16


def test_key_of_other_checks_keeps_evidence_but_line() -> None:
    f = {"check": "DW511", "target": {"kind": "dockerfile", "ref": "./a/Dockerfile",
                                      "stage": "build"},
         "evidence": {"line": 4, "instruction": "RUN chmod 777 /app", "modes": ["777"]}}
    same = {**f, "target": {"kind": "dockerfile", "ref": "a/Dockerfile", "stage": "build"},
            "evidence": {**f["evidence"], "line": 40}}
    assert baseline.key(f) == baseline.key(same)
    other_stage = {**f, "target": {**f["target"], "stage": "final"}}
    assert baseline.key(f) != baseline.key(other_stage)
    other = {**f, "evidence": {**f["evidence"], "modes": ["4755"]}}
    assert baseline.key(f) != baseline.key(other)


def test_hostile_evidence_matches_its_cleaned_report(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The old report holds evidence cleaned by the JSON renderer; the audit's own
    findings are cleaned the same way before they are compared."""
    text = "FROM python:latest\nADD app\u202e\x1b[31m.py /app/\nENV X=\u200f\x07y\n"
    old = _save_baseline(capsys, text)
    assert "\x1b" not in old.read_text()
    code, report, err = _audit(capsys, "--baseline", str(old), "--fail-on", "low")
    assert code == 0 and report["findings"] == [], err
    assert len(report["ignored"]) == len(json.loads(old.read_text())["findings"])
