"""The worker process that runs offloaded analyzers (collect/image/offload.py): the same
results as in-process, balanced between both processes, and a dead or failing worker
reported as an incomplete analysis, never as a clean image."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

import pytest

from dockwarden.collect.image import offload
from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView
from dockwarden.collect.image.offload import Worker
from dockwarden.collect.image.secrets import SecretAnalyzer

pytestmark = pytest.mark.skipif(not offload.available(), reason="needs fork and 2 CPUs")


@pytest.fixture(autouse=True)
def _start_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offload, "START_AFTER", 0)

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _files(n: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        body = f"# file {i}\n" + "x = 1\n" * 200
        if i % 7 == 0:
            body += f"TOKEN = '{GHP}'\n"
        out[f"/app/src/m{i}.py"] = body.encode()
    return out


def _in_process(files: Mapping[str, bytes]) -> dict[tuple[int, str], object]:
    a = SecretAnalyzer()
    out = {}
    for path, data in files.items():
        value = a.analyze(path, data)
        if value is not None:
            out[(1, path)] = value
    return out


def test_worker_gives_the_in_process_results() -> None:
    files = _files(3000)  # many batches: some go to the worker, some stay here
    w = Worker([SecretAnalyzer()])
    for path, data in files.items():
        w.add("secrets", 1, path, data)
    results, skipped = w.finish()
    assert skipped == []
    assert results["secrets"] == _in_process(files)
    assert w.pid == 0  # reaped


def test_no_worker_for_nothing() -> None:
    w = Worker([SecretAnalyzer()])
    assert w.finish() == ({}, [])
    assert w.pid == 0


def test_paths_that_are_not_utf8_survive_the_pipe() -> None:
    path = b"/app/\xff\xfe.env".decode("utf-8", "surrogateescape")
    w = Worker([SecretAnalyzer()])
    for _ in range(300):  # enough for a batch to reach the worker
        w.add("secrets", 0, path, b"PASSWORD='Tr0ub4dor3x9'\n")
    results, skipped = w.finish()
    assert skipped == [] and list(results["secrets"]) == [(0, path)]


class Exploding:
    name = "boom"
    max_bytes = 1 << 10
    offload = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return True

    def analyze(self, path: str, data: bytes) -> object | None:
        if path.endswith("7"):
            raise ValueError("hostile")
        return len(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput()


def test_an_analyzer_error_in_the_worker_is_a_skip_not_a_crash() -> None:
    w = Worker([Exploding()])
    for i in range(600):
        w.add("boom", 0, f"/f{i}", b"abc")
    results, skipped = w.finish()
    assert len(results["boom"]) == 540
    assert len(skipped) == 60 and all("ValueError: hostile" in why for _, why in skipped)


def test_a_killed_worker_is_reported_as_incomplete() -> None:
    w = Worker([SecretAnalyzer()])
    files = _files(600)
    items = list(files.items())
    for path, data in items[:300]:
        w.add("secrets", 0, path, data)
    assert w.pid
    os.kill(w.pid, signal.SIGKILL)
    for path, data in items[300:]:
        w.add("secrets", 0, path, data)
    _, skipped = w.finish()
    assert any(name == "secrets" and "not fully analysed" in why for name, why in skipped)
    assert w.pid == 0


def test_small_work_never_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offload, "START_AFTER", 4 << 20)
    files = _files(400)  # about 0.5 MiB in all
    w = Worker([SecretAnalyzer()])
    for path, data in files.items():
        w.add("secrets", 1, path, data)
        assert w.pid == 0
    results, skipped = w.finish()
    assert skipped == [] and results["secrets"] == _in_process(files)
