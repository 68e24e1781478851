"""Defect 13 (issue 11): the suite must pass beside other people's containers.

tests/conftest.py puts hostile foreign containers on the Engine for the whole session
(tests/harness/foreign.py). These tests check that they are there, that an audit of one
of our own containers by name neither sees nor is disturbed by them, and that a
whole-Engine audit (which does read them) shows none of their secrets and no raw
control character, in any format.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import RUN_ID, findings, run_json, test_labels
from harness import foreign
from hostile.conftest import assert_no_raw_controls, run_dockwarden

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def ours(api: Any, busybox: str) -> Iterator[str]:
    name = f"dw-{RUN_ID}-beside-foreign"
    cid = api.create_container(busybox, name=name, labels=test_labels(purpose="foreign"),
                               host_config=api.create_host_config(privileged=True))["Id"]
    yield name
    api.remove_container(cid, force=True, v=True)


def test_foreign_hostile_containers_exist_during_the_session(
        api: Any, foreign_containers: list[str]) -> None:
    assert len(foreign_containers) == 2
    created, running = foreign.names(RUN_ID)
    rows = {r["Names"][0].lstrip("/"): r for r in foreign.ours(api, RUN_ID)}
    assert set(rows) == {created, running}
    assert rows[running]["State"] == "running"
    info = api.inspect_container(running)
    labels = info["Config"]["Labels"]
    assert labels["[/]"] == foreign.ESC_TITLE
    assert labels["dockwarden.test"] == "foreign"  # no test's own label selects it
    assert any(e.startswith("GITHUB_TOKEN[/]=") for e in info["Config"]["Env"])
    assert info["ExecIDs"], "the root exec session with a token is known to the Engine"
    binds = api.inspect_container(created)["HostConfig"]["Binds"]
    assert binds and binds[0].startswith("/tmp/[/]/")


def test_audit_of_our_container_is_unaffected(
        ours: str, engine_url: str, foreign_containers: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(["containers", ours, "--host", engine_url, "--fail-on", "none",
                             "--no-images"], capsys)
    assert code == 0 and report["complete"] is True and not report["errors"]
    refs = {f["target"]["ref"] for f in report["findings"]} | {
        s["target"]["ref"] for s in report["skipped"]}
    assert refs == {ours}
    assert findings(report, "DW201", ours)
    proc = run_dockwarden(["containers", ours, "--host", engine_url, "--no-progress",
                           "--fail-on", "none", "--no-images"], timeout=120)
    assert proc.code == 0, proc.err
    assert f"container {ours}" in proc.out and "DW201" in proc.out
    assert "dwforeign" not in proc.out
    assert_no_raw_controls(proc.out + proc.err)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "text"])
def test_whole_engine_audit_hides_foreign_secrets(
        fmt: str, engine_url: str, foreign_containers: list[str]) -> None:
    """Every container is read, the foreign ones too: their token (ENV, command line,
    exec session) and passwords never appear, nor a raw escape; no traceback."""
    details = ["--details"] if fmt == "text" else []  # the summary names a few examples
    proc = run_dockwarden(["engine", "--host", engine_url, "--format", fmt, "--no-progress",
                           "--fail-on", "none", *details], timeout=300)
    assert proc.code == 0, proc.err[-2000:]
    _, running = foreign.names(RUN_ID)
    assert running in proc.out
    for secret in (foreign.FOREIGN_TOKEN, foreign.FOREIGN_TOKEN[4:24], "Sup3rSecretPw",
                   "hunter2hunter2"):
        assert secret not in proc.out and secret not in proc.err
    assert_no_raw_controls(proc.out + proc.err)
