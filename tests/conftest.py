"""Shared fixtures: the real Engine (started if absent), the busybox image, and helpers
to run dockwarden in-process and read its JSON report."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from dockwarden import cli
from harness import engine as harness_engine
from harness import images

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session", autouse=True)
def _no_user_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Image audits in tests never read (or write) the user's vulnerability database:
    DOCKWARDEN_DB points at a file that does not exist unless a test builds one."""
    old = os.environ.get("DOCKWARDEN_DB")
    os.environ["DOCKWARDEN_DB"] = str(tmp_path_factory.mktemp("vulndb") / "absent.sqlite")
    yield
    if old is None:
        os.environ.pop("DOCKWARDEN_DB", None)
    else:
        os.environ["DOCKWARDEN_DB"] = old


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
