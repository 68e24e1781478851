"""Shared fixtures: the real Engine (started if absent), the busybox image, and helpers
to run dockwarden in-process and read its JSON report."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from dockwarden import cli
from harness import engine as harness_engine
from harness import foreign, images

RUN_ID = uuid.uuid4().hex[:8]

# Tests interrupt the dockwarden children they start with SIGINT (Ctrl-C). A test run
# started in the background by a non-interactive shell (`nohup .ci/run &`) has SIGINT
# ignored, and an ignored signal stays ignored across exec: the children would never see
# their Ctrl-C. A handler (unlike SIG_IGN) is reset to the default in a child, so this
# gives every child Python's KeyboardInterrupt again.
signal.signal(signal.SIGINT, signal.default_int_handler)

# Test modules import the helpers below with `from conftest import ...`. pytest imports
# every conftest.py of a directory without __init__.py under the one module name
# `conftest` (tests/hostile/conftest.py, tests/fuzz/conftest.py), and the last one loaded
# replaces this module in sys.modules: test modules collected after it failed to import.
# Before each test module is imported, `conftest` is this module again (the hostile and
# fuzz tests import theirs as `hostile.conftest` / `fuzz.conftest`).
_THIS_MODULE = sys.modules[__name__]


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["conftest"] = _THIS_MODULE


@pytest.fixture(scope="session", autouse=True)
def _no_user_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read the user's configuration, nor read (or write) the user's
    vulnerability database:
    DOCKWARDEN_DB is unset and the default path is in an empty cache folder of the test
    session, so an audit finds no database (and skips DW309/DW310) unless a test names
    one. (A database named with DOCKWARDEN_DB must exist: scans fail closed.)"""
    saved = {k: os.environ.get(k) for k in ("DOCKWARDEN_DB", "XDG_CACHE_HOME",
                                             "XDG_CONFIG_HOME")}
    os.environ.pop("DOCKWARDEN_DB", None)
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    # nor the user's config file (~/.config/dockwarden/config.yaml)
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def foreign_containers() -> Iterator[list[str]]:
    """Hostile containers this session did not make as far as any test is concerned
    (harness/foreign.py): created at the start of the session on the main Engine when
    one answers, removed at its end, so every live test runs beside them and must
    select what it made by its label and name. Without an Engine (a unit-only run on a
    machine without Docker) there is nothing to create: an empty list."""
    url = harness_engine.find_engine()
    if url is None:
        yield []
        return
    client = harness_engine.make_client(url)
    try:
        yield foreign.create(client, RUN_ID)
    finally:
        foreign.remove(client, RUN_ID)
        client.close()


@pytest.fixture(scope="session")
def engine_url() -> str:
    return harness_engine.ensure_engine()


@pytest.fixture(scope="session")
def api(engine_url: str) -> Iterator[Any]:
    client = harness_engine.make_client(engine_url)
    yield client
    images.cleanup(client, **{"dockwarden.run": RUN_ID})


@pytest.fixture(scope="session")
def busybox(api: Any) -> str:
    return images.busybox_image(api)


def test_labels(**extra: str) -> dict[str, str]:
    return images.labels(**{"dockwarden.run": RUN_ID}, **extra)


test_labels.__test__ = False  # type: ignore[attr-defined]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli([*args, "--format", "json", "--no-progress"], capsys)
    assert out, f"no report (exit {code}): {err}"
    return code, json.loads(out)


def findings(report: dict[str, Any], check: str | None = None,
             ref: str | None = None) -> list[dict[str, Any]]:
    return [
        f for f in report["findings"]
        if (check is None or f["check"] == check) and (ref is None or f["target"]["ref"] == ref)
    ]
