"""The images in use (issue 13, item 6): `dockwarden engine` / `containers` audit each
distinct image the audited containers run, once per image id, its findings naming those
containers; `--no-images` turns it off; `dockwarden image` takes several refs and `--all`;
an image that cannot be read is an error entry of its own (exit 3), the rest goes on.

Live against the real Engine, hermetic: the containers and the second image are this
module's own (labelled, selected by name); `image --all` meets whatever else the Engine
holds and is only asked to list ours among its targets and not to crash on the others."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from conftest import RUN_ID, run_cli, run_json, test_labels
from harness.proxy import InterceptingProxy

pytestmark = pytest.mark.live

SECOND = f"dwtest/iu-{RUN_ID}:2"  # busybox plus a layer, running as a user
THIRD = f"dwtest/iu-{RUN_ID}:3"  # removed while it is audited


def _build(api: Any, base: str, tag: str, extra: str) -> str:
    dockerfile = f"FROM {base}\nRUN echo {RUN_ID} > /iu\n{extra}\n".encode()
    for _ in api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, forcerm=True,
                       labels=test_labels(), decode=True):
        pass
    return str(api.inspect_image(tag)["Id"])


@pytest.fixture(scope="module")
def made(api: Any, busybox: str) -> Iterator[dict[str, Any]]:
    """Two images (busybox, and busybox plus a layer with USER 1000) and containers:
    a and b run busybox, c runs the second image. Created, not started: the audit reads
    every container the Engine has."""
    second_id = _build(api, busybox, SECOND, "USER 1000")
    names = {k: f"dw-{RUN_ID}-iu-{k}" for k in ("a", "b", "c")}
    ids = []
    try:
        for key, image in (("a", busybox), ("b", busybox), ("c", SECOND)):
            ids.append(api.create_container(image, name=names[key],
                                            labels=test_labels())["Id"])
        yield {"names": names, "busybox": busybox,
               "busybox_id": api.inspect_image(busybox)["Id"], "second_id": second_id}
    finally:
        for cid in ids:
            api.remove_container(cid, force=True)
        api.remove_image(SECOND, force=True)


def _image_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["target"]["kind"] == "image"]


def test_each_image_audited_once_naming_its_containers(
        made: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    n = made["names"]
    code, rep = run_json(["containers", n["c"], n["b"], n["a"], "--fail-on", "none"], capsys)
    assert code == 0 and rep["complete"], rep["errors"]
    images = {t["ref"] for t in rep["targets"] if t["kind"] == "image"}
    assert images == {made["busybox"], SECOND}  # only the named containers' images
    found = _image_findings(rep)
    pairs = [(f["check"], f["target"]["ref"]) for f in found]
    assert len(pairs) == len(set(pairs))  # each image's findings once, not per container
    by_image = {ref: {c for c, r in pairs if r == ref} for _, ref in pairs}
    assert {"DW301", "DW302"} <= by_image[made["busybox"]]
    assert "DW302" in by_image[SECOND] and "DW301" not in by_image[SECOND]  # USER 1000
    for f in found:
        if f["target"]["ref"] == made["busybox"]:
            assert f["target"]["id"] == made["busybox_id"]
            assert f["evidence"]["containers"] == [n["a"], n["b"]]
        else:
            assert f["target"]["id"] == made["second_id"]
            assert f["evidence"]["containers"] == [n["c"]]
    # the containers' own findings are still there, once each
    assert {f["target"]["ref"] for f in rep["findings"]
            if f["target"]["kind"] == "container"} == set(n.values())


def test_no_images_audits_none(made: dict[str, Any],
                               capsys: pytest.CaptureFixture[str]) -> None:
    n = made["names"]
    code, rep = run_json(["containers", n["a"], n["c"], "--no-images", "--fail-on", "none"],
                         capsys)
    assert code == 0 and rep["complete"]
    assert not _image_findings(rep)
    assert [t["kind"] for t in rep["targets"]] == ["engine"]
    assert not any(s["target"]["kind"] == "image" for s in rep["skipped"])


def test_image_takes_several_refs(made: dict[str, Any],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, rep = run_json(["image", made["busybox"], SECOND, "--fail-on", "none"], capsys)
    assert code == 0 and rep["complete"]
    assert [t["ref"] for t in rep["targets"]] == [made["busybox"], SECOND]
    refs = {f["target"]["ref"] for f in rep["findings"]}
    assert refs == {made["busybox"], SECOND}
    assert not any("containers" in f["evidence"] for f in rep["findings"])


def test_image_several_refs_one_missing_is_an_error_entry(
        made: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"dwtest/iu-{RUN_ID}:missing"
    code, rep = run_json(["image", SECOND, missing, "--fail-on", "none"], capsys)
    assert code == 3 and rep["complete"] is False
    assert {t["ref"]: t["complete"] for t in rep["targets"]} == {SECOND: True, missing: False}
    assert [e["target"] for e in rep["errors"]] == [missing]
    assert {f["target"]["ref"] for f in rep["findings"]} == {SECOND}


def test_image_all_lists_our_images_among_the_others(
        made: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["image", "--all", "--format", "json", "--no-progress",
                              "--fail-on", "none"], capsys)
    assert "internal error" not in err and "Traceback" not in err
    # another user's image removed while this runs is an error entry of its own (exit 3)
    assert code in (0, 3), err
    rep = json.loads(out)
    targets = {t["ref"]: t["complete"] for t in rep["targets"]}
    assert targets.get(SECOND) is True
    assert any(f["target"]["id"] == made["busybox_id"] for f in rep["findings"])
    assert len(rep["targets"]) == len(targets)  # each image once


def test_image_removed_between_list_and_audit_is_an_error_entry(
        api: Any, made: dict[str, Any], engine_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The third image goes away when its export is asked for: an error entry naming it
    and its container (exit 3); the other image and the containers are still audited."""
    third_id = _build(api, made["busybox"], THIRD, "USER 1001")  # not a cached SECOND
    name = f"dw-{RUN_ID}-iu-d"
    cid = api.create_container(THIRD, name=name, labels=test_labels())["Id"]
    hexid = third_id.split(":", 1)[1]

    def hook(data: bytes) -> bool:
        if b"/images/" in data and hexid.encode() in data and b"/get" in data:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_image(third_id, force=True)
        return False

    try:
        with InterceptingProxy(str(tmp_path / "p.sock"), engine_url[len("unix://"):],
                               hook) as proxy:
            code, rep = run_json(["containers", made["names"]["a"], name, "--host",
                                  proxy.url, "--fail-on", "none"], capsys)
    finally:
        api.remove_container(cid, force=True)
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_image(third_id, force=True)
    assert code == 3 and rep["complete"] is False
    targets = {t["ref"]: t["complete"] for t in rep["targets"] if t["kind"] == "image"}
    assert targets == {made["busybox"]: True, THIRD: False}
    errors = [e for e in rep["errors"] if e["target"] == THIRD]
    assert len(errors) == 1 and "removed" in errors[0]["message"]
    assert name in errors[0]["message"]
    assert {f["target"]["ref"] for f in rep["findings"]
            if f["target"]["kind"] == "container"} == {made["names"]["a"], name}
    assert {f["target"]["ref"] for f in _image_findings(rep)} == {made["busybox"]}


def test_no_image_check_selected_reads_no_image(made: dict[str, Any],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, rep = run_json(["containers", made["names"]["a"], "--check", "DW2",
                          "--fail-on", "none"], capsys)
    assert code == 0 and [t["kind"] for t in rep["targets"]] == ["engine"]


def test_an_unusable_database_asked_for_fails_closed_per_image(
        made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As `dockwarden image`: --db naming no usable database is an error of each image
    (DW309/DW310 neither passed nor skipped, exit 3); the rest of the audit stands."""
    n = made["names"]
    code, rep = run_json(["containers", n["a"], n["c"], "--db", str(tmp_path / "none.sqlite"),
                          "--fail-on", "none"], capsys)
    assert code == 3
    assert {t["ref"]: t["complete"] for t in rep["targets"] if t["kind"] == "image"} == {
        made["busybox"]: False, SECOND: False}
    assert {e["target"] for e in rep["errors"] if "DW309/DW310 not judged" in e["message"]} \
        == {made["busybox"], SECOND}
    assert not any(s["check"] in ("DW309", "DW310") for s in rep["skipped"])
    assert {f["target"]["ref"] for f in _image_findings(rep)} == {made["busybox"], SECOND}


_LISTING = re.compile(rb"GET /(?:v[0-9.]+/)?containers/json[?\s]")


@pytest.mark.parametrize("engines", [1, 2])
def test_the_engine_is_listed_once_per_run(
        engines: int, made: dict[str, Any], engine_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The images in use come from the container list the container audit reads: one
    GET /containers/json per Engine, with one Engine and in a run over two (two proxies
    in front of the same Engine, each counting the listings that pass it)."""
    n = made["names"]
    seen: dict[int, list[bytes]] = {i: [] for i in range(engines)}

    def counter(i: int) -> Any:
        def hook(data: bytes) -> bool:
            seen[i].extend(_LISTING.findall(data))
            return False
        return hook

    with contextlib.ExitStack() as stack:
        proxies = [stack.enter_context(InterceptingProxy(
            str(tmp_path / f"p{i}.sock"), engine_url[len("unix://"):], counter(i)))
            for i in range(engines)]
        hosts = [arg for p in proxies for arg in ("-H", p.url)]
        code, rep = run_json(["containers", n["a"], n["c"], *hosts, "--fail-on", "none"],
                             capsys)
    assert code == 0 and rep["complete"], rep["errors"]
    assert {i: len(hits) for i, hits in seen.items()} == dict.fromkeys(range(engines), 1)
    images = [t["ref"] for t in rep["targets"] if t["kind"] == "image"]
    assert sorted(images) == sorted([made["busybox"], SECOND] * engines)
    for f in _image_findings(rep):
        assert f["evidence"]["containers"] == (
            [n["a"]] if f["target"]["ref"] == made["busybox"] else [n["c"]])
