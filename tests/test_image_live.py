"""The real Debian image (debootstrap bookworm minbase, imported into the Engine): the
inventory against dpkg-query inside a container, and the same image read from the
Engine, a `docker save` tarball, an OCI layout and a registry (open and with htpasswd)
giving the same report."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli, run_json, test_labels
from dockwarden.collect.image.open import ImageRequest, collect_image
from dockwarden.model.image import ImageSnapshot
from harness.debian import debian_image
from harness.registry import Registry, push

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def debian(api: Any) -> str:
    return debian_image(api)


@pytest.fixture(scope="module")
def saved(debian: str, api: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("save") / "debian.tar"
    with open(path, "wb") as fh:
        for chunk in api.get_image(debian):
            fh.write(chunk)
    return path


def _run_in(api: Any, image: str, cmd: list[str]) -> str:
    cid = api.create_container(image, command=cmd, labels=test_labels())["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=120)["StatusCode"] == 0
        return api.logs(cid, stdout=True, stderr=False).decode()
    finally:
        api.remove_container(cid, force=True)


def _engine(api: Any) -> Any:
    return lambda: api


def _inventory(snap: ImageSnapshot) -> list[tuple[str, str, str, str, str]]:
    return sorted((p.type, p.name, p.version, p.source_name, p.source_version)
                  for p in snap.packages)  # type: ignore[union-attr]


def _comparable(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The findings, but DW311: only an image read from a registry has a signature to
    judge (the Engine and file sources skip it)."""
    return sorted((f["check"], f["severity"], json.dumps(f["evidence"], sort_keys=True))
                  for f in report["findings"] if f["check"] != "DW311")


def test_dpkg_inventory_equals_dpkg_query(api: Any, debian: str) -> None:
    out = _run_in(api, debian, ["dpkg-query", "-W", "-f",
                                "${Package}\t${Version}\t${source:Package}\t${source:Version}\n"])
    expected = sorted(tuple(line.split("\t")) for line in out.splitlines() if line)
    snap = collect_image(ImageRequest(ref=debian), _engine(api))
    got = sorted((p.name, p.version, p.source_name or p.name, p.source_version or p.version)
                 for p in snap.packages if p.type == "deb")  # type: ignore[union-attr]
    assert got == expected
    assert len(got) > 80
    assert snap.os_release is not None and snap.os_release.id == "debian"  # type: ignore[union-attr]
    assert snap.os_release.version_id == "12"  # type: ignore[union-attr]
    assert all(p.layer == 0 and p.path == "/var/lib/dpkg/status"
               for p in snap.packages)  # type: ignore[union-attr]
    assert all(p.purl.startswith("pkg:deb/debian/") and "distro=debian-12" in p.purl
               for p in snap.packages)  # type: ignore[union-attr]


def test_same_report_from_engine_tar_and_oci_layout(
        api: Any, debian: str, saved: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo (Debian package) not installed")
    oci = tmp_path / "oci"
    subprocess.run([skopeo, "copy", "--quiet", f"docker-archive:{saved}",
                    f"oci:{oci}:bookworm"], check=True, capture_output=True, timeout=300)
    runs = {
        "engine": ["image", debian],
        "tar": ["image", "--tar", str(saved)],
        "oci": ["image", "--oci", str(oci)],
    }
    reports = {}
    for name, args in runs.items():
        _, reports[name] = run_json([*args, "--fail-on", "none"], capsys)
        assert reports[name]["complete"] is True
    assert _comparable(reports["engine"]) == _comparable(reports["tar"]) == \
        _comparable(reports["oci"])
    # The Engine's export and docker save carry the same config bytes (skopeo rewrites
    # the config when it converts to OCI, so that digest differs).
    assert reports["engine"]["findings"][0]["target"]["id"] == \
        reports["tar"]["findings"][0]["target"]["id"]
    snaps = [collect_image(ImageRequest(ref=debian), _engine(api)),
             collect_image(ImageRequest(tar=str(saved)), None),
             collect_image(ImageRequest(oci=str(oci)), None)]
    assert _inventory(snaps[0]) == _inventory(snaps[1]) == _inventory(snaps[2])
    assert snaps[0].file_count == snaps[1].file_count == snaps[2].file_count


@pytest.mark.parametrize("auth", [False, True], ids=["open", "htpasswd"])
def test_same_report_from_a_registry(api: Any, debian: str, auth: bool, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with Registry(auth=auth) as reg:
        push(api, reg, debian, "team/debian", "bookworm")
        ref = f"{reg.url}/team/debian:bookworm"
        if auth:
            config = tmp_path / "docker-config"
            config.mkdir()
            token = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
            (config / "config.json").write_text(json.dumps({"auths": {reg.url: {"auth": token}}}))
            monkeypatch.setenv("DOCKER_CONFIG", str(config))
        _, remote = run_json(["image", ref, "--remote", "--fail-on", "none"], capsys)
        _, local = run_json(["image", debian, "--fail-on", "none"], capsys)
        assert remote["complete"] is True
        assert _comparable(remote) == _comparable(local)
        snap = collect_image(ImageRequest(ref=ref, remote=True), None)
        assert _inventory(snap) == _inventory(collect_image(ImageRequest(ref=debian),
                                                            _engine(api)))
        if auth:
            monkeypatch.delenv("DOCKER_CONFIG")
            monkeypatch.setenv("HOME", str(tmp_path))  # no credentials anywhere
            code, _, err = run_cli(["image", ref, "--remote", "--no-progress"], capsys)
            assert code == 2 and "Traceback" not in err


def test_debian_walked_in_pieces_gives_the_same_snapshot(
        saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real layer cut into a dozen pieces walked by forked workers (small images are
    otherwise read in one process): the same snapshot, package for package."""
    from dockwarden.collect.image import offload, walker
    from dockwarden.collect.image.open import default_analyzers
    from dockwarden.collect.image.source import TarSource

    if not offload.available():
        pytest.skip("needs fork and 2 CPUs")
    alone = walker.walk(TarSource(str(saved), "x"), default_analyzers())
    monkeypatch.setattr(walker, "FORK_MIN", 0)
    monkeypatch.setattr(walker, "PIECE_MIN", 16 << 20)
    cut = walker.walk(TarSource(str(saved), "x"), default_analyzers(), offload=True)
    assert cut == alone
    assert len(_inventory(cut)) > 80
