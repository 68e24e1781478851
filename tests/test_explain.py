"""`dockwarden checks ID`: one check explained (what it reads, why, the fix, CIS and other
references, examples) in text, JSON and Markdown; an unknown id is exit 2 with close
matches."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from dockwarden.checks.registry import REGISTRY, load


def _meta(check_id: str):  # type: ignore[no-untyped-def]
    load()
    return REGISTRY[check_id].meta


def test_text_explains_one_check(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per field
    code, out, err = run_cli(["checks", "DW214"], capsys)
    assert code == 0, err
    m = _meta("DW214")
    first, *rest = out.splitlines()
    assert first.startswith("DW214") and m.title in first and "(CIS 5.29)" in first
    body = "\n".join(rest)
    assert "reads:" in body and "container's configuration" in body
    assert f"why:        {m.rationale}" in body
    assert f"fix:        {m.remediation}" in body
    assert "references: CIS Docker Benchmark 1.6.0 5.29" in body
    assert f"bad:        {m.bad[0]}" in body and f"good:       {m.good[0]}" in body
    assert "DW215" not in out  # that check alone


def test_text_wraps_to_the_width(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    _, out, _ = run_cli(["checks", "DW214", "DW501"], capsys)
    lines = out.splitlines()
    assert all(len(ln) <= 60 for ln in lines), max(lines, key=len)
    assert all(ln == ln.rstrip() for ln in lines)
    assert "DW501" in out and "USER root" in out  # multi-line examples kept


def test_json_explains_one_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["checks", "dw214", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["DW214"]
    r = rows[0]
    m = _meta("DW214")
    assert r["rationale"] == m.rationale and r["remediation"] == m.remediation
    assert r["cis"] == ["5.29"] and "CIS Docker Benchmark 1.6.0 5.29" in r["references"]
    assert r["bad"] == list(m.bad) and r["good"] == list(m.good)
    assert r["reads"] and r["run_by"]


def test_markdown_explains_one_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["checks", "DW501", "--format", "markdown"], capsys)
    assert code == 0
    assert out.startswith("### DW501: Final stage runs as root (CIS 4.1)")
    assert "**Why it matters:**" in out and "**Fix:**" in out
    assert "DL3002" in out and "```\nFROM debian:12\nUSER root\n```" in out


def test_prefix_explains_a_family(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(["checks", "DW21", "--format", "json"], capsys)
    ids = [r["id"] for r in json.loads(out)]
    assert ids == sorted(ids) and "DW214" in ids and all(i.startswith("DW21") for i in ids)


def test_unknown_id_exit_2_with_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["checks", "DW2144"], capsys)
    assert code == 2 and not out
    assert "DW2144: no such check id" in err
    assert "hint: did you mean DW214" in err
    code, _, err = run_cli(["checks", "DW214", "XYZ"], capsys)
    assert code == 2 and "XYZ" in err


def test_catalogue_and_profile_cis(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(["checks", "--format", "json"], capsys)
    every = json.loads(out)
    _, out, _ = run_cli(["checks", "--profile", "cis", "--format", "json"], capsys)
    cis = json.loads(out)
    assert 0 < len(cis) < len(every)
    assert all(r["cis"] for r in cis)
    assert {r["id"] for r in every if r["cis"]} == {r["id"] for r in cis}
    code, _, err = run_cli(["checks", "--profile", "cis", "DW502"], capsys)
    assert code == 2 and "CIS profile" in err


def test_usage_error_names_the_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(["checks", "--format", "pdf"], capsys)
    assert exc.value.code == 2
    assert "see `dockwarden checks --help`" in capsys.readouterr().err
