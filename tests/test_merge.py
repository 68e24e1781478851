"""`dockwarden merge`: schema checked (another schema, not JSON, a broken finding: exit 2
with one line), duplicates merged, targets kept, exit code per findings/complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostile.conftest import run_dockwarden


def _report(engine: str, findings: list[dict[str, Any]], complete: bool = True
            ) -> dict[str, Any]:
    return {"schema": "dockwarden-report/1", "started": "2024-01-01T00:00:00Z",
            "finished": "2024-01-01T00:00:01Z",
            "targets": [{"kind": "engine", "ref": engine, "complete": complete}],
            "findings": findings, "errors": [] if complete else
            [{"target": engine, "message": "cannot reach the Docker Engine"}],
            "skipped": [], "ignored": [], "warnings": [], "summary": {"passed": 3}}


def _finding(check: str = "DW213", severity: str = "medium") -> dict[str, Any]:
    return {"check": check, "severity": severity, "title": "no-new-privileges not set",
            "target": {"kind": "container", "ref": "web", "id": "a" * 64},
            "source": "engine", "evidence": {"HostConfig.SecurityOpt": []},
            "remediation": "Add --security-opt no-new-privileges.", "references": []}


def _write(tmp: Path, name: str, data: Any) -> str:
    path = tmp / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_merge_keeps_targets_and_merges_duplicates(tmp_path: Path) -> None:
    one = _write(tmp_path, "a.json", _report("ssh://a", [_finding()]))
    two = _write(tmp_path, "b.json", _report("ssh://b", [_finding(), _finding("DW202",
                                                                               "high")]))
    r = run_dockwarden(["merge", one, two, one, "--format", "json", "--fail-on", "none"])
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert [t["ref"] for t in data["targets"]] == ["ssh://a", "ssh://b"]
    engines = sorted((f["check"], f["evidence"]["engine"]) for f in data["findings"])
    assert engines == [("DW202", "ssh://b"), ("DW213", "ssh://a"), ("DW213", "ssh://b")]
    assert data["summary"]["passed"] == 9
    r = run_dockwarden(["merge", one, two, "--format", "json"])
    assert r.code == 1  # a high finding, --fail-on high by default


def test_merge_incomplete_exit_3(tmp_path: Path) -> None:
    one = _write(tmp_path, "a.json", _report("ssh://a", []))
    gone = _write(tmp_path, "b.json", _report("ssh://b", [], complete=False))
    r = run_dockwarden(["merge", one, gone, "--format", "text"])
    assert r.code == 3
    assert "ssh://b" in r.out


def test_merge_refuses_other_schema(tmp_path: Path) -> None:
    good = _write(tmp_path, "a.json", _report("ssh://a", []))
    other = _write(tmp_path, "sarif.json", {"schema": "sarif-2.1.0", "runs": []})
    r = run_dockwarden(["merge", good, other])
    assert r.code == 2
    assert "not a dockwarden JSON report" in r.err.splitlines()[0]


def test_merge_refuses_broken_inputs(tmp_path: Path) -> None:
    cases = {
        "text.json": "not json at all",
        "list.json": "[1, 2]",
        "finding.json": json.dumps(_report("x", [{"check": 1}])),
        "kind.json": json.dumps(_report("x", [{**_finding(), "target": {"kind": "?",
                                                                         "ref": "w"}}])),
        "targets.json": json.dumps({**_report("x", []), "targets": "no"}),
        "deep.json": "[" * 100000 + "]" * 100000,
    }
    for name, text in cases.items():
        r = run_dockwarden(["merge", _write(tmp_path, name, text)])
        assert r.code == 2, (name, r.err)
        assert len([ln for ln in r.err.splitlines() if ln.strip()]) <= 2, (name, r.err)


def test_merge_refuses_fifo_and_missing(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert run_dockwarden(["merge", str(fifo)]).code == 2
    assert run_dockwarden(["merge", str(tmp_path / "missing.json")]).code == 2
