"""The text report on an Engine with many containers: a summary a person can act on.

30 labelled containers made here (a few critical ones, many alike), audited by name: the
summary comes first with the criticals at the top, one row per check that fired, names
in natural order, no line wider than the terminal nor ending in a space; `--details`
shows every finding."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import RUN_ID, test_labels

pytestmark = pytest.mark.live

COUNT = 30
CRITICAL = (3, 17)  # these get the Engine socket mounted: DW208, critical


@pytest.fixture(scope="module")
def many(api: Any, busybox: str) -> Iterator[list[str]]:
    names = [f"dw-{RUN_ID}-sum-{i}" for i in range(1, COUNT + 1)]
    ids = []
    for i, name in enumerate(names, 1):
        binds = ["/var/run/docker.sock:/var/run/docker.sock:ro"] if i in CRITICAL else []
        ids.append(api.create_container(
            busybox, name=name, command=["sleep", "600"], labels=test_labels(),
            host_config=api.create_host_config(binds=binds))["Id"])
    yield names
    for cid in ids:
        api.remove_container(cid, force=True)


def _dockwarden(engine_url: str, names: list[str], *args: str,
                columns: int = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockwarden", "containers", "-H", engine_url, "--no-progress",
         "--no-images", "--fail-on", "none", *args, *names],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"})


def test_summary_first_criticals_first_one_row_per_check(engine_url: str,
                                                         many: list[str]) -> None:
    proc = _dockwarden(engine_url, many)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 120, "the summary of 30 alike containers stays short"
    full = _dockwarden(engine_url, many, "--format", "json")
    report = json.loads(full.stdout)
    checks = {f["check"] for f in report["findings"]}
    # one summary row per check that fired, each naming its id once at the start of a row
    rows = [line for line in lines if re.match(r"\s*(CRITICAL|HIGH|UNKNOWN|MEDIUM|LOW|INFO)"
                                               r"\s+DW\d+", line, re.IGNORECASE)]
    row_ids = [re.search(r"DW\d+", row).group() for row in rows]  # type: ignore[union-attr]
    assert set(row_ids) == checks and len(row_ids) == len(set(row_ids)), rows
    # criticals first
    first = next(i for i, line in enumerate(lines) if "DW208" in line)
    assert first < 20 and rows[0].lstrip().upper().startswith("CRITICAL"), lines[:25]
    # both critical containers named, in natural order (-3 before -17)
    text = proc.stdout
    a, b = f"dw-{RUN_ID}-sum-3", f"dw-{RUN_ID}-sum-17"
    assert a in text and b in text and text.index(a) < text.index(b)


def test_names_sort_naturally(engine_url: str, many: list[str]) -> None:
    """The examples of a row that fired on every container: 1, 2, 3, 4, 5 (not 1, 10,
    11, ... as strings sort)."""
    proc = _dockwarden(engine_url, many)
    lines = proc.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if re.match(r"\s*MEDIUM\s+DW214\b", line))
    examples = " ".join(lines[row + 1:row + 3])
    numbers = [int(m) for m in re.findall(rf"dw-{RUN_ID}-sum-(\d+)", examples)]
    assert numbers[:5] == [1, 2, 3, 4, 5], examples


def test_details_show_every_finding(engine_url: str, many: list[str]) -> None:
    report = json.loads(_dockwarden(engine_url, many, "--format", "json").stdout)
    proc = _dockwarden(engine_url, many, "--details")
    assert proc.returncode == 0, proc.stderr
    for name in many:
        assert name in proc.stdout
    per_target = {(f["check"], f["target"]["ref"]) for f in report["findings"]}
    assert len(proc.stdout.splitlines()) > len(per_target) / 2


@pytest.mark.parametrize("columns", [80, 200])
def test_widths_and_no_trailing_spaces(engine_url: str, many: list[str], columns: int) -> None:
    for extra in ([], ["--details"]):
        proc = _dockwarden(engine_url, many, *extra, columns=columns)
        for line in proc.stdout.splitlines():
            assert len(line) <= columns, line
            assert line == line.rstrip(), repr(line)
