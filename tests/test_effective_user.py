"""DW501 judges the effective user: the last USER of the final chain, else the base
image's configured user (local Engine, or the registry's config blob with
--resolve-base), else unknown at low severity with the base named. Live tests build
their own labelled images from the offline busybox import and remove their tags."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import RUN_ID, findings, run_cli, run_json, test_labels
from tests.harness import registry as harness

from dockwarden.collect.dockerfile import BaseUserResolver, parse_text

USER_TAG = f"dwtest/dw501-user:{RUN_ID}"


def _image_with_user(api: Any, busybox: str, tag: str, user: str) -> Iterator[str]:
    """An image (labelled, removed after) whose config says USER `user`, built FROM the
    imported busybox."""
    dockerfile = f"FROM {busybox}\nUSER {user}\n".encode()
    for _ in api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True,
                       labels=test_labels(), decode=True):
        pass
    assert api.inspect_image(tag)["Config"]["User"] == user
    yield tag
    api.remove_image(tag, noprune=False)


@pytest.fixture(scope="module")
def user_image(api: Any, busybox: str) -> Iterator[str]:
    """An image whose config says USER 1000."""
    yield from _image_with_user(api, busybox, USER_TAG, "1000")


def lint(tmp_path: Path, text: str, capsys: Any, *extra: str) -> list[dict[str, Any]]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    _code, report = run_json(["dockerfile", str(path), "--check", "DW501", *extra], capsys)
    assert not report["errors"], report["errors"]
    return findings(report, "DW501")


@pytest.mark.live
def test_base_with_user_1000_in_engine(tmp_path: Path, capsys: Any, user_image: str) -> None:
    assert lint(tmp_path, f"FROM {user_image}\nRUN true\n", capsys) == []


@pytest.mark.live
def test_base_running_as_root_in_engine(tmp_path: Path, capsys: Any, busybox: str) -> None:
    [f] = lint(tmp_path, f"FROM {busybox}\nRUN true\n", capsys)
    assert f["severity"] == "medium" and f["evidence"]["user_source"] == "engine"
    assert f["evidence"]["base"] == busybox and f["line"] == 1


@pytest.mark.live
def test_no_engine_leaves_it_unknown(tmp_path: Path, capsys: Any, user_image: str) -> None:
    [f] = lint(tmp_path, f"FROM {user_image}\n", capsys, "--no-engine")
    assert f["severity"] == "low" and f["evidence"]["base"] == user_image


def test_unknown_base_is_low_and_named(tmp_path: Path, capsys: Any) -> None:
    base = f"dwtest/never-built-{RUN_ID}:1"
    [f] = lint(tmp_path, f"FROM {base}\nRUN true\n", capsys)
    assert f["severity"] == "low"
    assert f["evidence"]["base"] == base and f["evidence"]["user_source"] == "unknown"
    assert base in f["message"] and "unknown" in f["message"]


def test_explicit_root_stays_medium(tmp_path: Path, capsys: Any) -> None:
    for user in ("root", "0", "0:0"):
        [f] = lint(tmp_path, f"FROM dwtest/never-built-{RUN_ID}:1\nUSER {user}\n", capsys)
        assert f["severity"] == "medium" and f["line"] == 2


def test_scratch_is_root(tmp_path: Path, capsys: Any) -> None:
    [f] = lint(tmp_path, "FROM scratch\nCOPY app /app\n", capsys, "--no-engine")
    assert f["severity"] == "medium" and f["evidence"]["user_source"] == "scratch"


@pytest.mark.live
def test_multistage_only_final_counts(tmp_path: Path, capsys: Any, user_image: str,
                                      busybox: str) -> None:
    # the build stage's base has a user; the final stage's base runs as root
    [f] = lint(tmp_path, f"FROM {user_image} AS b\nRUN true\nFROM {busybox}\nCOPY --from=b /x /x\n",
               capsys)
    assert f["severity"] == "medium" and f["line"] == 3
    assert f["evidence"]["base"] == busybox and f["evidence"]["stage"] == "1"
    # a root USER in a build stage does not matter; the final stage's base user does
    text = f"FROM {busybox} AS b\nUSER root\nFROM {user_image}\nCOPY --from=b /x /x\n"
    assert lint(tmp_path, text, capsys) == []


@pytest.mark.live
def test_stage_inherits_base_user(tmp_path: Path, capsys: Any, user_image: str) -> None:
    assert lint(tmp_path, f"FROM {user_image} AS builder\nRUN true\nFROM builder\nRUN true\n",
                capsys) == []


def test_stage_user_inherited(tmp_path: Path, capsys: Any) -> None:
    text = "FROM dwtest/x:1 AS base\nUSER app\nFROM base\nRUN true\n"
    assert lint(tmp_path, text, capsys, "--no-engine") == []


def test_explicit_unreachable_engine_exits_3(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM debian:12\n")
    code, _out, err = run_cli(["dockerfile", str(path), "-H",
                               f"unix://{tmp_path}/no.sock", "--no-progress"], capsys)
    assert code == 3 and "no.sock" in err


def test_unreachable_default_engine_is_skipped(tmp_path: Path, capsys: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    [f] = lint(tmp_path, "FROM debian:12\n", capsys)
    assert f["severity"] == "low"


def test_resolver_without_lookups() -> None:
    resolver = BaseUserResolver(engine=None, registry=False)
    df = resolver.resolve(parse_text("Dockerfile", "ARG B\nFROM $B\n"))
    assert df.base_user is not None and df.base_user.user is None
    assert "build argument" in df.base_user.reason
    with_user = parse_text("Dockerfile", "FROM a:1\nUSER app\n")
    assert resolver.resolve(with_user).base_user is None  # nothing looked up


@pytest.mark.live
def test_resolve_base_reads_the_registry_config(tmp_path: Path, capsys: Any, api: Any,
                                                user_image: str) -> None:
    with harness.Registry() as reg:
        harness.push(api, reg, user_image, "dwtest/u", "1")
        ref = f"{reg.url}/dwtest/u:1"
        assert lint(tmp_path, f"FROM {ref}\n", capsys, "--no-engine", "--resolve-base") == []
        [f] = lint(tmp_path, f"FROM {reg.url}/dwtest/absent:1\n", capsys, "--no-engine",
                   "--resolve-base")
        assert f["severity"] == "low" and "registry" in f["evidence"]["why"]


def test_bare_user_is_unknown_as_docker_refuses_it(tmp_path: Path, capsys: Any) -> None:
    # `docker build` rejects `USER` without an argument ("USER requires exactly one
    # argument"): DW501 neither falls back to the earlier USER app nor asserts root
    [f] = lint(tmp_path, "FROM debian:12\nUSER app\nUSER\n", capsys, "--no-engine")
    assert f["severity"] == "low" and f["evidence"]["line"] == 3
    assert f["evidence"]["user_source"] == "invalid"
    assert "USER requires exactly one argument" in f["message"]
    # also when the bare USER is in the stage the final one is built FROM
    [f] = lint(tmp_path, "FROM debian:12 AS b\nUSER\nFROM b\nRUN true\n", capsys, "--no-engine")
    assert f["evidence"]["user_source"] == "invalid" and f["evidence"]["line"] == 2


def test_one_user_walk_for_dw501_and_compose() -> None:
    """The model's `user_of` is the one walk: the final stage's USER, else the stage it is
    built FROM...; a build target's chain for compose; a bare USER returned as it is."""
    df = parse_text("Dockerfile", "FROM a:1 AS base\nUSER app\nFROM base AS dev\nUSER 0\n"
                    "FROM base\nRUN true\n")
    found = df.final_user()
    assert found is not None and found[1].args == ("app",) and found[0].name == "base"
    dev = df.stage_named("dev", by_index=False)
    assert dev is not None and df.chain(dev)[-1].name == "base"
    found = df.user_of(dev)
    assert found is not None and found[1].args == ("0",)
    bare = parse_text("Dockerfile", "FROM a:1\nUSER app\nUSER\n").final_user()
    assert bare is not None and bare[1].args == () and bare[1].line == 3
    assert parse_text("Dockerfile", "FROM a:1 AS b\nUSER app\nFROM c:1\n").final_user() is None


# --- DW220: a compose service or `docker run` line naming only an image ---------------------
# Its user is the image's configured user: from the local Engine (an image the test made),
# from the registry with --resolve-base, else unknown (low) with the image named. Tests
# that expect "unknown" use --no-engine or a name no Engine holds, so they do not depend
# on the images of the Engine they run against.

ROOT_TAG = f"dwtest/dw220-root:{RUN_ID}"


@pytest.fixture(scope="module")
def root_image(api: Any, busybox: str) -> Iterator[str]:
    """An image whose Dockerfile says USER root explicitly."""
    yield from _image_with_user(api, busybox, ROOT_TAG, "root")


def compose_dw220(tmp_path: Path, capsys: Any, image: str, *extra: str,
                  more: str = "") -> list[dict[str, Any]]:
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  app:\n    image: {image}\n{more}")
    _code, report = run_json(["compose", str(path), "--check", "DW220", *extra], capsys)
    assert not report["errors"], report["errors"]
    return findings(report, "DW220")


def runcmd_dw220(capsys: Any, line: str, *extra: str) -> list[dict[str, Any]]:
    _code, report = run_json(["run-command", line, "--check", "DW220", *extra], capsys)
    assert not report["errors"], report["errors"]
    return findings(report, "DW220")


@pytest.mark.live
def test_compose_image_with_user_1000_in_engine(tmp_path: Path, capsys: Any,
                                                user_image: str) -> None:
    assert compose_dw220(tmp_path, capsys, user_image) == []


@pytest.mark.live
def test_compose_image_with_user_root_in_engine(tmp_path: Path, capsys: Any,
                                                root_image: str) -> None:
    [f] = compose_dw220(tmp_path, capsys, root_image)
    assert f["severity"] == "medium" and f["line"] == 2
    assert f["evidence"]["user_source"] == "image (local Engine)"
    assert f["evidence"]["Config.User"] == "root"
    assert f["evidence"]["user_from"] == root_image
    assert root_image in f["message"] and "local Engine" in f["message"]


@pytest.mark.live
def test_compose_image_running_as_root_by_default(tmp_path: Path, capsys: Any,
                                                  busybox: str) -> None:
    [f] = compose_dw220(tmp_path, capsys, busybox)  # no USER at all: Config.User ""
    assert f["severity"] == "medium" and f["evidence"]["Config.User"] == ""


def test_compose_image_not_in_engine_is_low_and_named(tmp_path: Path, capsys: Any) -> None:
    image = f"dwtest/never-built-{RUN_ID}:1"
    [f] = compose_dw220(tmp_path, capsys, image)
    assert f["severity"] == "low" and f["evidence"]["user_source"] == "unknown"
    assert f["evidence"]["image"] == image and image in f["evidence"]["reason"]
    assert f["message"] == f"no user set: the user is the image's ({image}), unknown"


@pytest.mark.live
def test_compose_no_engine_leaves_the_image_user_unknown(tmp_path: Path, capsys: Any,
                                                         user_image: str) -> None:
    [f] = compose_dw220(tmp_path, capsys, user_image, "--no-engine")
    assert f["severity"] == "low" and f["evidence"]["user_source"] == "unknown"
    assert "no Engine consulted" in f["evidence"]["reason"]


@pytest.mark.live
def test_compose_explicit_user_is_not_looked_up(tmp_path: Path, capsys: Any,
                                                user_image: str) -> None:
    [f] = compose_dw220(tmp_path, capsys, user_image, more="    user: root\n")
    assert f["severity"] == "medium" and f["evidence"] == {"Config.User": "root"}


@pytest.mark.live
def test_compose_one_resolver_for_many_files(tmp_path: Path, capsys: Any, user_image: str,
                                             root_image: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "compose.yaml").write_text(f"services:\n  a:\n    image: {user_image}\n")
    (tmp_path / "b" / "compose.yaml").write_text(f"services:\n  b:\n    image: {root_image}\n"
                                                 f"  c:\n    image: {user_image}\n")
    _code, report = run_json(["compose", str(tmp_path), "--check", "DW220"], capsys)
    [f] = findings(report, "DW220")
    assert f["target"]["service"] == "b" and f["severity"] == "medium"


@pytest.mark.live
def test_compose_resolve_base_reads_the_registry_config(tmp_path: Path, capsys: Any, api: Any,
                                                        user_image: str) -> None:
    with harness.Registry() as reg:
        harness.push(api, reg, user_image, "dwtest/u220", "1")
        ref = f"{reg.url}/dwtest/u220:1"
        assert compose_dw220(tmp_path, capsys, ref, "--no-engine", "--resolve-base") == []
        [f] = compose_dw220(tmp_path, capsys, f"{reg.url}/dwtest/absent:1", "--no-engine",
                            "--resolve-base")
        assert f["severity"] == "low" and "registry" in f["evidence"]["reason"]


def test_compose_explicit_unreachable_engine_exits_3(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  app:\n    image: debian:12\n")
    code, _out, err = run_cli(["compose", str(path), "-H", f"unix://{tmp_path}/no.sock",
                               "--no-progress"], capsys)
    assert code == 3 and "no.sock" in err


def test_compose_unreachable_default_engine_is_skipped(tmp_path: Path, capsys: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    [f] = compose_dw220(tmp_path, capsys, "debian:12")
    assert f["severity"] == "low" and f["evidence"]["user_source"] == "unknown"


def test_compose_not_an_image_reference_is_never_looked_up(tmp_path: Path,
                                                            capsys: Any) -> None:
    [f] = compose_dw220(tmp_path, capsys, "'../../containers/json'")
    assert f["severity"] == "low" and "not an image reference" in f["evidence"]["reason"]


def test_compose_library_without_a_resolver_leaves_it_unknown(tmp_path: Path) -> None:
    from dockwarden.collect.compose import load_project
    from dockwarden.model.common import Unknown

    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  app:\n    image: grafana/grafana\n")
    [spec] = load_project([str(path)], env={})
    assert isinstance(spec.image_user, Unknown) and spec.image_user_from == "grafana/grafana"
    assert spec.image_user_source == "unknown"


@pytest.mark.live
def test_runcmd_image_users(capsys: Any, user_image: str, root_image: str) -> None:
    assert runcmd_dw220(capsys, f"docker run {user_image}") == []
    [f] = runcmd_dw220(capsys, f"docker run {root_image}")
    assert f["severity"] == "medium"
    assert f["evidence"]["user_source"] == "image (local Engine)"
    [f] = runcmd_dw220(capsys, f"docker run {user_image}", "--no-engine")
    assert f["severity"] == "low" and f["evidence"]["image"] == user_image
    # an explicit --user wins over the image's
    [f] = runcmd_dw220(capsys, f"docker run -u 0 {user_image}")
    assert f["severity"] == "medium" and f["evidence"] == {"Config.User": "0"}


def test_runcmd_image_not_in_engine_is_low_and_named(capsys: Any) -> None:
    image = f"dwtest/never-built-{RUN_ID}:1"
    [f] = runcmd_dw220(capsys, f"docker run {image}")
    assert f["severity"] == "low" and f["evidence"]["image"] == image
    assert image in f["message"] and "unknown" in f["message"]
    [f] = runcmd_dw220(capsys, "docker run $IMAGE")
    assert f["severity"] == "low" and "a variable" in f["evidence"]["reason"]
