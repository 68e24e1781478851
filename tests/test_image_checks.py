"""Every image check (DW301-DW308, DW312-DW318) through the real CLI, in-process.

For each check a bad image, built by the test as a `docker save` tarball, makes exactly
that check fire with its severity and evidence; a hardened image (USER 10001,
HEALTHCHECK, no setuid, no world-writable, no devices, no secrets, no caches, no
sudo/sshd, Debian 12, a handful of files) keeps every image check silent. Then: secrets
never leave the report unredacted, whiteouts and opaque directories at the CLI level,
hostile and corrupt images, 200,000 tiny files in bounded memory, and the real Debian
image from the Engine (live).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import findings, run_cli, run_json, test_labels
from dockwarden.checks import Scope, iter_catalogue
from dockwarden.secrets import ALL_RULES
from harness.imagebuild import Entry, Image, d, docker_save, f, layer_tar, oci_layout, sym

# DW309/DW310 need a vulnerability database: tests/test_vuln_match.py covers them.
VULN_CHECKS = ("DW309", "DW310")
# DW311 (signatures) needs a registry: tests/test_signature.py has its cases.
IMAGE_CHECKS = sorted(m.id for m in iter_catalogue()
                      if m.scope is Scope.IMAGE and m.id not in VULN_CHECKS
                      and m.id != "DW311")

# Fake credentials, built here so that no scanner mistakes this file for a leak. Each
# one is used by one test only, so "absent from the output" means what it says.
GH_TOKEN = "ghp_" + "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
NPM_TOKEN = "npm_" + "KLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFR"
LABEL_PASSWORD = "Tr0ub4dor-3-horse-battery"
FILE_TOKEN = "ghp_" + "IBXuDL7DxtpYlSXpfKtHF4vUCsMehGAkWvj7"
STRIPE_KEY = "sk_live_" + "FAc9QeWJKY40uvSwMFLZDe1f8rESQedUStPK"
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + KEY_BODY + "\n"
               "QyNTUxOQAAACBm9Tqmm2bCZs0WrTm1RHeW4ViDwzUC1d7fR6wI2cX0aAAAAJAxN2HzMTdh\n"
               "-----END OPENSSH PRIVATE KEY-----\n")


def os_release(os_id: str, version: str, pretty: str = "") -> str:
    return (f'PRETTY_NAME="{pretty or os_id + " " + version}"\nNAME="{os_id}"\n'
            f'VERSION_ID="{version}"\nID={os_id}\n')


DEBIAN_12 = os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)") + \
    "VERSION_CODENAME=bookworm\n"

# The hardened image: three layers, each made by one non-empty history step.
BASE_LAYERS: list[list[Entry]] = [
    [d("etc"), f("etc/os-release", DEBIAN_12),
     f("etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                     "app:x:10001:10001::/app:/usr/sbin/nologin\n"),
     f("etc/group", "root:x:0:\napp:x:10001:\n"),
     d("tmp", 0o1777), d("root", 0o700), d("usr"), d("usr/bin"),
     f("usr/bin/env", b"\x7fELF\x02\x01\x01\x00" + bytes(64), 0o755)],
    [d("var"), d("var/lib"), d("var/lib/apt"), d("var/lib/apt/lists"),
     f("var/lib/apt/lists/lock", b"", 0o640)],
    [d("app"), f("app/server", "#!/bin/sh\nexec /usr/bin/env app-server --port 8080\n", 0o755),
     f("app/settings.ini", "[server]\nport = 8080\nlog_level = info\n")],
]
BASE_HISTORY: list[dict[str, Any]] = [
    {"created_by": "/bin/sh -c #(nop) ADD file:4b1e0d8c5e2f7a9b3c6d in / "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
    {"created_by": "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends"
                   " ca-certificates && rm -rf /var/lib/apt/lists/* # buildkit"},
    {"created_by": "COPY server settings.ini /app/ # buildkit"},
    {"created_by": "USER 10001:10001", "empty_layer": True},
    {"created_by": "HEALTHCHECK &{[\"CMD\" \"/app/server\" \"--health\"]}", "empty_layer": True},
]
BASE_CONFIG: dict[str, Any] = {
    "User": "10001:10001",
    "Env": ["PATH=/usr/bin:/bin", "APP_MODE=production", "CONFIG_FILE=/app/settings.ini"],
    "Cmd": ["/app/server"],
    "Healthcheck": {"Test": ["CMD", "/app/server", "--health"], "Interval": 30_000_000_000},
    "ExposedPorts": {"8080/tcp": {}},
    "Labels": {"org.opencontainers.image.title": "app", "maintainer": "team@example.com"},
}


def build(*, layer: Iterable[Entry] = (), step: str = "COPY . /app # buildkit",
          config: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None,
          layers: list[list[Entry]] | None = None) -> Image:
    """The hardened image, plus one layer of `layer` entries made by `step`, with config
    keys replaced (None deletes one)."""
    all_layers = [list(x) for x in (layers if layers is not None else BASE_LAYERS)]
    hist = [dict(h) for h in (history if history is not None else BASE_HISTORY)]
    extra = list(layer)
    if extra:
        all_layers.append(extra)
        hist.append({"created_by": step})
    cfg = {**BASE_CONFIG, **(config or {})}
    return Image([layer_tar(x) for x in all_layers],
                 config={k: v for k, v in cfg.items() if v is not None}, history=hist)


def save(image: Image, tmp: Path, name: str = "image.tar") -> str:
    return docker_save(image, str(tmp / name))


def audit(path: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, report = run_json(["image", "--tar", path, "--fail-on", "none", *extra], capsys)
    assert code == 0, report["errors"]
    assert report["complete"] is True
    assert report["errors"] == [], report["errors"]
    return report


def distinct_paths(layers: list[list[Entry]]) -> set[str]:
    return {e.name.rstrip("/") for entries in layers for e in entries}


# --- the table ------------------------------------------------------------------------


@dataclass
class Case:
    check: str
    severities: list[str]  # one per expected finding, in report order
    image: Image
    args: tuple[str, ...] = ()
    evidence: Callable[[list[dict[str, Any]]], None] = field(default=lambda found: None)


def _ev_dw301(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"Config.User": ""}


def _ev_dw301_root(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"Config.User": "0:0"}


def _ev_dw302(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"Config.Healthcheck": None}


def _ev_dw302_none(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"Config.Healthcheck": ["NONE"]}


def _ev_dw304(found: list[dict[str, Any]]) -> None:
    by_path = {x["evidence"]["path"]: x["evidence"] for x in found}
    assert set(by_path) == {"/root/.ssh/id_rsa", "/app/.env"}
    key, env = by_path["/root/.ssh/id_rsa"], by_path["/app/.env"]
    assert key["rule"] == ALL_RULES["ssh-private-key"].title and key["layer"] == 3
    assert "*" in key["value"] and len(key["value"]) <= 17  # redact(): 3 + 12 stars + 2
    assert KEY_BODY[:8] not in key["value"]
    assert env["rule"] == ALL_RULES["dotenv"].title and env["layer"] == 3 and env["line"] == 2
    assert env["value"] == STRIPE_KEY[:3] + "*" * 12 + STRIPE_KEY[-2:]
    for ev in (key, env):
        assert ev["layer_digest"].startswith("sha256:")
        assert ev["created_by"] == "COPY secrets/ / # buildkit"


def _ev_dw305(found: list[dict[str, Any]]) -> None:
    ev = found[0]["evidence"]
    assert ev["count"] == 2
    assert ev["files"] == [
        {"path": "/usr/bin/passwd", "mode": "0o4755", "layer": 3},
        {"path": "/usr/bin/wall", "mode": "0o2755", "layer": 3},
    ]


def _ev_dw306(found: list[dict[str, Any]]) -> None:
    ev = found[0]["evidence"]
    assert ev["count"] == 2
    assert ev["files"] == [
        {"path": "/app/open.log", "kind": "file", "mode": "0o666", "layer": 3},
        {"path": "/data", "kind": "dir", "mode": "0o777", "layer": 3},
    ]


def _ev_dw307(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"files": len(distinct_paths(BASE_LAYERS)), "threshold": 5}


BASE_BYTES = sum(len(e.data) for layer in BASE_LAYERS for e in layer if e.kind == "file")


def _ev_dw308(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"bytes": BASE_BYTES, "threshold": 100}


def _ev_dw312(found: list[dict[str, Any]]) -> None:
    ev = found[0]["evidence"]
    assert ev == {"history": 6, "created_by": "ADD https://example.com/x.tgz /x # buildkit",
                  "remote": True}


def _ev_dw312_local(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"]["remote"] is False
    assert found[0]["evidence"]["history"] == 6


def _ev_dw313_update(found: list[dict[str, Any]]) -> None:
    assert found[0]["message"] == "apt-get update in a step of its own"
    assert found[0]["evidence"] == {"history": 6, "created_by": "RUN /bin/sh -c apt-get update"}


def _ev_dw313_lists(found: list[dict[str, Any]]) -> None:
    assert found[0]["message"].startswith("package caches left")
    assert found[0]["evidence"] == {"cache_files": {"/var/lib/apt/lists": 2}}


def _ev_dw314(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"paths": ["/usr/bin/sudo"], "history": []}


def _ev_dw314_used(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"paths": [], "history": [6]}


def _ev_dw315(found: list[dict[str, Any]]) -> None:
    got = sorted((x["evidence"]["entry"], x["evidence"]["reason"], x["evidence"].get("link"),
                  x["evidence"]["layer"]) for x in found)
    assert got == [
        ("../x", "'..' in path", None, 3),
        ("/abs", "absolute path", None, 3),
        ("etc/hard", "hard link target outside the root", "../../x", 3),
        ("etc/up", "link target outside the root", "../../../etc/shadow", 3),
    ]


def _ev_dw316(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"devices": [
        {"path": "/dev/sda", "kind": "block", "layer": 3},
        {"path": "/dev/tty9", "kind": "char", "layer": 3},
    ]}


def _ev_dw317(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"paths": ["/usr/sbin/sshd"], "exposed": []}


def _ev_dw317_port(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"paths": [], "exposed": ["22/tcp"]}


def _ev_dw318_debian(found: list[dict[str, Any]]) -> None:
    assert found[0]["evidence"] == {"os": "debian", "version": "10", "end_of_life": "2024-06-30",
                                    "pretty_name": "Debian GNU/Linux 10 (buster)"}


def _ev_dw318_alpine(found: list[dict[str, Any]]) -> None:
    ev = found[0]["evidence"]
    assert (ev["os"], ev["version"], ev["end_of_life"]) == ("alpine", "3.10.9", "2021-05-01")


def _ev_dw303(found: list[dict[str, Any]]) -> None:
    by_where = {x["evidence"]["where"]: x["evidence"] for x in found}
    assert set(by_where) == {"ENV GH_TOKEN", "LABEL db.password", "history[6]"}
    assert by_where["ENV GH_TOKEN"]["rule"] == "GitHub token"
    assert by_where["ENV GH_TOKEN"]["value"] == "ghp" + "*" * 12 + GH_TOKEN[-2:]
    assert by_where["LABEL db.password"]["value"] == "Tr0" + "*" * 12 + "ry"
    hist = by_where["history[6]"]
    assert hist["rule"] == "npm token"
    assert hist["value"] == "npm" + "*" * 12 + NPM_TOKEN[-2:]
    assert hist["layer"] == 3 and hist["layer_digest"].startswith("sha256:")
    # the build step is shown, with the secret in it redacted
    assert hist["created_by"] == DW303_HISTORY.replace(NPM_TOKEN, hist["value"])


DW303_HISTORY = f"RUN |1 NPM_TOKEN={NPM_TOKEN} /bin/sh -c npm install"
DW303_IMAGE = build(
    layer=[d("app/node_modules")], step=DW303_HISTORY,
    config={"Env": ["PATH=/usr/bin:/bin", f"GH_TOKEN={GH_TOKEN}"],
            "Labels": {"db.password": LABEL_PASSWORD}})
DW304_IMAGE = build(
    layer=[d("root/.ssh", 0o700), f("root/.ssh/id_rsa", PRIVATE_KEY, 0o600),
           f("app/.env", f"APP_MODE=production\nSTRIPE_KEY={STRIPE_KEY}\n")],
    step="COPY secrets/ / # buildkit")

CASES = [
    Case("DW301", ["medium"], build(config={"User": None}), evidence=_ev_dw301),
    Case("DW301", ["medium"], build(config={"User": "0:0"}), evidence=_ev_dw301_root),
    Case("DW302", ["low"], build(config={"Healthcheck": None}), evidence=_ev_dw302),
    Case("DW302", ["low"], build(config={"Healthcheck": {"Test": ["NONE"]}}),
         evidence=_ev_dw302_none),
    Case("DW303", ["high"] * 3, DW303_IMAGE, evidence=_ev_dw303),
    Case("DW304", ["high"] * 2, DW304_IMAGE, evidence=_ev_dw304),
    Case("DW305", ["medium"], build(layer=[f("usr/bin/passwd", b"\x7fELF", 0o4755),
                                           f("usr/bin/wall", b"\x7fELF", 0o2755)]),
         evidence=_ev_dw305),
    Case("DW306", ["low"], build(layer=[d("data", 0o777), f("app/open.log", "", 0o666),
                                        d("shared", 0o1777)]), evidence=_ev_dw306),
    Case("DW307", ["medium"], build(), ("--max-files", "5"), _ev_dw307),
    Case("DW308", ["low"], build(), ("--max-size", "100"), _ev_dw308),
    Case("DW312", ["medium"], build(layer=[f("x", gzip.compress(b"payload", mtime=0))],
                                    step="ADD https://example.com/x.tgz /x # buildkit"),
         evidence=_ev_dw312),
    Case("DW312", ["low"], build(layer=[d("vendor"), f("vendor/lib.txt", "lib")],
                                 step="ADD vendor.tar.gz /vendor # buildkit"),
         evidence=_ev_dw312_local),
    Case("DW313", ["low"], build(layer=[f("var/lib/apt/lists/lock", b"", 0o640)],
                                 step="RUN /bin/sh -c apt-get update"),
         evidence=_ev_dw313_update),
    Case("DW313", ["low"], build(layer=[
        f("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "Origin: Debian"),
        f("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
          "Package: bash\n")]), evidence=_ev_dw313_lists),
    Case("DW314", ["low"], build(layer=[f("usr/bin/sudo", b"\x7fELF", 0o755)]),
         evidence=_ev_dw314),
    Case("DW314", ["low"], build(layer=[d("app/data")],
                                 step="RUN /bin/sh -c sudo mkdir /app/data # buildkit"),
         evidence=_ev_dw314_used),
    Case("DW315", ["high"] * 4, build(layer=[
        f("../x", "x"), f("/abs", "x"), sym("etc/up", "../../../etc/shadow"),
        Entry("etc/hard", kind="hardlink", linkname="../../x"), f("ok", "fine")]),
        evidence=_ev_dw315),
    Case("DW316", ["medium"], build(layer=[d("dev"), Entry("dev/sda", kind="block", mode=0o660),
                                           Entry("dev/tty9", kind="char", mode=0o620)]),
         evidence=_ev_dw316),
    Case("DW317", ["low"], build(layer=[d("usr/sbin"), f("usr/sbin/sshd", b"\x7fELF", 0o755)]),
         evidence=_ev_dw317),
    Case("DW317", ["low"], build(config={"ExposedPorts": {"22/tcp": {}, "8080/tcp": {}}}),
         evidence=_ev_dw317_port),
    Case("DW318", ["high"], build(layer=[f("etc/os-release", os_release(
        "debian", "10", "Debian GNU/Linux 10 (buster)"))]), evidence=_ev_dw318_debian),
    Case("DW318", ["high"], build(layer=[f("etc/os-release", os_release("alpine", "3.10.9"))]),
         evidence=_ev_dw318_alpine),
]


def _case_id(case: Case) -> str:
    same = [c for c in CASES if c.check == case.check]
    return case.check if len(same) == 1 else f"{case.check}-{same.index(case) + 1}"


def test_every_image_check_has_a_bad_case() -> None:
    assert len(IMAGE_CHECKS) == 15
    assert {c.check for c in CASES} == set(IMAGE_CHECKS)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_check_fires_on_its_bad_image(case: Case, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = save(case.image, tmp_path)
    report = audit(path, capsys, *case.args)
    # only the check under test fires: the rest of the image is the hardened one
    assert {x["check"] for x in report["findings"]} == {case.check}, report["findings"]
    found = findings(report, case.check)
    assert [x["severity"] for x in found] == case.severities
    for x in found:
        assert x["target"]["kind"] == "image"
        assert x["target"]["ref"] == "image.tar"
        assert x["target"]["id"].startswith("sha256:")
        assert x["source"] == "image"
        assert x["remediation"]
    case.evidence(found)


@pytest.mark.parametrize("how", ["save", "save-gzip", "oci"])
def test_hardened_image_keeps_every_image_check_silent(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build()
    if how == "oci":
        args = ["--oci", oci_layout(image, str(tmp_path / "oci"))]
    else:
        args = ["--tar", docker_save(image, str(tmp_path / "good.tar"),
                                     gzip_outer=how == "save-gzip")]
    code, report = run_json(["image", *args], capsys)  # default --fail-on high
    assert code == 0
    assert report["findings"] == []
    assert report["errors"] == []
    # no vulnerability database here: only the two vulnerability checks are skipped
    # and DW311: an image from a file has no registry to hold its signature
    assert sorted(s["check"] for s in report["skipped"]) == sorted([*VULN_CHECKS, "DW311"])
    assert report["complete"] is True
    assert report["targets"][0]["kind"] == "image"
    assert report["summary"]["passed"] == len(IMAGE_CHECKS)


def test_max_size_accepts_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save(build(layer=[f("app/blob.bin", bytes(3000))]), tmp_path)
    assert findings(audit(path, capsys, "--max-size", "4KiB"), "DW308") == []
    found = findings(audit(path, capsys, "--max-size", "2KiB"), "DW308")
    assert [x["evidence"] for x in found] == [{"bytes": BASE_BYTES + 3000, "threshold": 2048}]


def test_deleted_setuid_file_and_stripped_bits_are_silent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`RUN chmod a-s` in a later layer (the same path, rewritten) or a deletion
    clears DW305; only what the final filesystem holds counts."""
    image = build(layers=[*BASE_LAYERS,
                          [f("usr/bin/passwd", b"\x7fELF", 0o4755),
                           f("usr/bin/newgrp", b"\x7fELF", 0o4755)],
                          [f("usr/bin/passwd", b"\x7fELF", 0o755), f("usr/bin/.wh.newgrp")]],
                  history=[*BASE_HISTORY, {"created_by": "RUN apt-get install -y passwd"},
                           {"created_by": "RUN chmod a-s /usr/bin/*"}])
    assert findings(audit(save(image, tmp_path), capsys), "DW305") == []


@pytest.mark.parametrize(("user", "fires"), [
    ("root", True), ("0", True), ("root:app", True), ("10001", False), ("app", False),
    ("app:app", False),
])
def test_dw301_user_forms(user: str, fires: bool, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    found = findings(audit(save(build(config={"User": user}), tmp_path), capsys), "DW301")
    assert [x["evidence"] for x in found] == ([{"Config.User": user}] if fires else [])


def test_dw313_apt_get_update_with_options_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layer=[f("var/lib/apt/lists/lock", b"", 0o640)],
                  step="RUN /bin/sh -c apt-get -qq update # buildkit")
    found = findings(audit(save(image, tmp_path), capsys), "DW313")
    assert [x["evidence"]["history"] for x in found] == [6]


def test_dw312_word_add_inside_a_run_step_is_not_an_add(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layer=[d("app/db"), f("app/db/migrated", "1")],
                  step="RUN /bin/sh -c psql -c 'ALTER TABLE users ADD COLUMN age int' # buildkit")
    assert findings(audit(save(image, tmp_path), capsys), "DW312") == []


def test_dw305_lists_hard_links_to_setuid_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layer=[f("usr/bin/ping", b"\x7fELF", 0o4755),
                         Entry("usr/bin/ping6", kind="hardlink", mode=0o4755,
                               linkname="usr/bin/ping")])
    found = findings(audit(save(image, tmp_path), capsys), "DW305")
    assert [x["path"] for x in found[0]["evidence"]["files"]] == ["/usr/bin/ping",
                                                                   "/usr/bin/ping6"]


def test_dw304_secret_kept_under_a_hard_link_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = f"APP_MODE=production\nSTRIPE_KEY={STRIPE_KEY}\n"
    image = build(layers=[*BASE_LAYERS,
                          [f("app/.env", env), Entry("app/prod.env", kind="hardlink",
                                                     linkname="app/.env")],
                          [f("app/.wh..env")]],
                  history=[*BASE_HISTORY, {"created_by": "COPY . /app"},
                           {"created_by": "RUN rm /app/.env"}])
    found = findings(audit(save(image, tmp_path), capsys), "DW304")
    assert [x["evidence"]["path"] for x in found] == ["/app/prod.env"]


# --- secrets stay redacted in every format --------------------------------------------


def _outputs(path: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = {}
    for fmt in ("json", "text", "sarif"):
        code, text, err = run_cli(["image", "--tar", path, "--fail-on", "none", "--format", fmt,
                                   "--no-progress"], capsys)
        assert code == 0, err
        out[fmt] = text + err
    return out


def test_file_secrets_are_redacted_in_json_text_and_sarif(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = _outputs(save(DW304_IMAGE, tmp_path), capsys)
    assert "DW304" in outputs["json"] and "DW304" in outputs["sarif"]
    for fmt, text in outputs.items():
        for raw in (STRIPE_KEY, STRIPE_KEY[8:], KEY_BODY, KEY_BODY[10:40]):
            assert raw not in text, f"raw secret in the {fmt} output"


def test_env_and_label_secrets_are_redacted_in_json_text_and_sarif(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build(config={"Env": ["PATH=/usr/bin:/bin", f"GH_TOKEN={GH_TOKEN}"],
                          "Labels": {"db.password": LABEL_PASSWORD}})
    outputs = _outputs(save(image, tmp_path), capsys)
    assert "DW303" in outputs["json"]
    for fmt, text in outputs.items():
        for raw in (GH_TOKEN, GH_TOKEN[4:], LABEL_PASSWORD):
            assert raw not in text, f"raw secret in the {fmt} output"


@pytest.mark.parametrize(("step", "checks"), [
    (DW303_HISTORY, {"DW303"}),
    # the same step also shown by DW313 and DW312, each with its own copy of the step
    (f"RUN |1 NPM_TOKEN={NPM_TOKEN} /bin/sh -c apt-get update", {"DW303", "DW313"}),
    (f"ADD https://u:{NPM_TOKEN}@example.com/x.tgz /x # buildkit", {"DW303", "DW312"}),
], ids=["run", "apt-get-update", "remote-add"])
def test_history_secret_is_redacted_in_json_text_and_sarif(
        step: str, checks: set[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layer=[d("app/node_modules")], step=step)
    outputs = _outputs(save(image, tmp_path), capsys)
    assert {x["check"] for x in json.loads(outputs["json"])["findings"]} == checks
    for fmt, text in outputs.items():
        for raw in (NPM_TOKEN, NPM_TOKEN[4:]):
            assert raw not in text, f"raw secret in the {fmt} output"


# --- whiteouts and opaque directories, end to end -------------------------------------


def _secret_layer() -> list[Entry]:
    return [d("app/conf"), f("app/conf/.env", f"APP_MODE=production\nSTRIPE_KEY={STRIPE_KEY}\n")]


def test_secret_added_then_deleted_is_not_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = [*BASE_HISTORY, {"created_by": "COPY conf /app/conf"},
               {"created_by": "RUN rm /app/conf/.env"}]
    shown = build(layers=[*BASE_LAYERS, _secret_layer()], history=history[:-1])
    hidden = build(layers=[*BASE_LAYERS, _secret_layer(), [d("app/conf"), f("app/conf/.wh..env")]],
                   history=history)
    assert [x["evidence"]["path"] for x in findings(
        audit(save(shown, tmp_path, "shown.tar"), capsys), "DW304")] == ["/app/conf/.env"]
    report = audit(save(hidden, tmp_path, "hidden.tar"), capsys)
    assert findings(report, "DW304") == []
    assert STRIPE_KEY[8:] not in json.dumps(report)


def test_opaque_directory_hides_a_lower_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layers=[*BASE_LAYERS, _secret_layer(),
                          [d("app/conf"), f("app/conf/.wh..wh..opq"),
                           f("app/conf/app.ini", "[app]\nmode = production\n")]],
                  history=[*BASE_HISTORY, {"created_by": "COPY conf /app/conf"},
                           {"created_by": "RUN rm -rf /app/conf && mkdir /app/conf ..."}])
    report = audit(save(image, tmp_path), capsys)
    assert findings(report, "DW304") == []
    # the directory deleted wholesale with a whiteout of the directory itself, too
    image = build(layers=[*BASE_LAYERS, _secret_layer(), [f("app/.wh.conf")]],
                  history=[*BASE_HISTORY, {"created_by": "COPY conf /app/conf"},
                           {"created_by": "RUN rm -rf /app/conf"}])
    assert findings(audit(save(image, tmp_path, "dir.tar"), capsys), "DW304") == []


DPKG_STATUS = """\
Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4+deb12u5

Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
"""


def _sbom_packages(path: str, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
    code, out, err = run_cli(["sbom", "--tar", path, "--format", "cyclonedx", "--no-progress"],
                             capsys)
    assert code == 0, err
    bom = json.loads(out)
    return sorted((c["name"], c.get("version", "")) for c in bom.get("components", [])
                  if c.get("type") == "library")


@pytest.mark.parametrize("whiteout", [
    [f("var/lib/dpkg/.wh.status")],
    [f("var/lib/.wh.dpkg")],
    [d("var/lib/dpkg"), f("var/lib/dpkg/.wh..wh..opq")],
], ids=["file", "directory", "opaque"])
def test_whiteout_package_database_leaves_no_packages(
        whiteout: list[Entry], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dpkg = [d("var/lib/dpkg"), f("var/lib/dpkg/status", DPKG_STATUS)]
    history = [*BASE_HISTORY, {"created_by": "RUN dpkg -i *.deb"},
               {"created_by": "RUN rm -rf /var/lib/dpkg"}]
    kept = build(layers=[*BASE_LAYERS, dpkg], history=history[:-1])
    assert _sbom_packages(save(kept, tmp_path, "kept.tar"), capsys) == [
        ("base-files", "12.4+deb12u5"), ("libc6", "2.36-9+deb12u4")]
    gone = build(layers=[*BASE_LAYERS, dpkg, whiteout], history=history)
    assert _sbom_packages(save(gone, tmp_path, "gone.tar"), capsys) == []


# --- hostile and broken input ---------------------------------------------------------


def test_hostile_entries_write_nothing_outside(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    case = next(c for c in CASES if c.check == "DW315")
    before_root = set(os.listdir("/"))
    path = save(case.image, work)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        report = audit(path, capsys)
    finally:
        os.chdir(cwd)
    assert len(findings(report, "DW315")) == 4
    assert set(os.listdir("/")) == before_root
    assert sorted(os.listdir(work)) == ["image.tar"]
    assert not (tmp_path / "deep" / "x").exists() and not (tmp_path / "x").exists()


def _assert_one_line_error(code: int, out: str, err: str, codes: tuple[int, ...],
                           match: str) -> None:
    assert code in codes, (code, err)
    assert out == ""
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[0].startswith("dockwarden: error: "), err
    assert match in lines[0], err
    assert len([x for x in lines if not x.startswith("hint: ")]) == 1, err


def test_corrupt_layer_is_a_clean_error(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    image = build(layer=[f("app/data.bin", os.urandom(50_000))])
    root = Path(oci_layout(image, str(tmp_path / "oci")))
    blob = max((root / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    data = blob.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    blob.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(["image", "--oci", str(root), "--format", "json", "--no-progress"],
                             capsys)
    _assert_one_line_error(code, out, err, (2, 3), "corrupt or truncated")


def test_garbage_and_missing_tar_exit_2(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(os.urandom(8192))
    code, out, err = run_cli(["image", "--tar", str(garbage), "--format", "json",
                              "--no-progress"], capsys)
    _assert_one_line_error(code, out, err, (2,), str(garbage))
    missing = tmp_path / "missing.tar"
    code, out, err = run_cli(["image", "--tar", str(missing), "--format", "json",
                              "--no-progress"], capsys)
    _assert_one_line_error(code, out, err, (2,), "no such file")


# --- 200,000 tiny files ---------------------------------------------------------------

MANY = 200_000
PER_DIR = 1000
MANY_ROOT = "usr/share/many"
RSS_LIMIT_KIB = 300 * 1024


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
    tf.addfile(ti, io.BytesIO(data))


def _header(name: str, kind: bytes, size: int = 0) -> bytearray:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mtime = kind, size, 1700000000
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return bytearray(ti.tobuf(format=tarfile.USTAR_FORMAT))


def _write_many_files_layer(path: Path) -> None:
    """A layer tar of MANY one-byte files, PER_DIR to a directory, under /usr/share (as
    locales and zoneinfo are: trees the secret scan leaves alone). Headers are stamped
    from one template, name and checksum patched, as tarfile takes ~15 s for this."""
    sample = f"{MANY_ROOT}/000/000000"
    template = _header(sample, tarfile.REGTYPE, 1)
    template[0:len(sample)] = bytes(len(sample))
    template[148:156] = b" " * 8
    base_sum = sum(template)
    data_block = b"x" + bytes(511)
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(_header("usr/share", tarfile.DIRTYPE) + _header(MANY_ROOT, tarfile.DIRTYPE))
        for i in range(MANY):
            if i % PER_DIR == 0:
                out.write(_header(f"{MANY_ROOT}/{i // PER_DIR:03d}", tarfile.DIRTYPE))
            name = b"%s/%03d/%06d" % (MANY_ROOT.encode(), i // PER_DIR, i)
            header = template.copy()
            header[0:len(name)] = name
            header[148:155] = b"%06o\0" % (base_sum + sum(name))
            out.write(header)
            out.write(data_block)
        out.write(bytes(1024))


def _check_many_files_layer(path: Path) -> None:
    """The hand-stamped headers read back as the entries they stand for: the first ones
    through tarfile (checksums verified), all of them through GNU tar when present."""
    expected = {0: "usr/share", 1: MANY_ROOT, 2: f"{MANY_ROOT}/000",
                3: f"{MANY_ROOT}/000/000000", 1004: f"{MANY_ROOT}/001/001000"}
    with tarfile.open(path) as tf:
        for i, m in enumerate(tf):
            if i in expected:
                assert m.name == expected[i]
            if i == 3:
                content = tf.extractfile(m).read()  # type: ignore[union-attr]
                assert (m.size, m.mode, content) == (1, 0o644, b"x")
            if i == 1004:
                break
    if shutil.which("tar"):
        listing = subprocess.run(["tar", "-tf", str(path)], capture_output=True, check=True)
        assert listing.stdout.count(b"\n") == 2 + MANY // PER_DIR + MANY


@pytest.fixture(scope="module")
def many_files_tar(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A `docker save` tarball of the hardened image plus one layer of 200,000 one-byte
    files, streamed to disk (never held in memory whole)."""
    root = tmp_path_factory.mktemp("many")
    layer_path = root / "layer.tar"
    _write_many_files_layer(layer_path)
    _check_many_files_layer(layer_path)
    base = build()
    digest = hashlib.sha256()
    with open(layer_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    cfg = json.loads(base.config_bytes())
    cfg["rootfs"]["diff_ids"].append("sha256:" + digest.hexdigest())
    cfg["history"].append({"created_by": "COPY many /usr/share/many # buildkit"})
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
    out = root / "many.tar"
    names = []
    with tarfile.open(out, "w") as tf:
        for i, layer in enumerate(base.layers):
            names.append(f"{i:064x}/layer.tar")
            _add_bytes(tf, names[-1], layer)
        names.append(f"{len(names):064x}/layer.tar")
        ti = tarfile.TarInfo(names[-1])
        ti.size, ti.mtime = layer_path.stat().st_size, 1700000000
        with open(layer_path, "rb") as fh:
            tf.addfile(ti, fh)
        _add_bytes(tf, cfg_name, cfg_bytes)
        _add_bytes(tf, "manifest.json", json.dumps(
            [{"Config": cfg_name, "RepoTags": ["dwtest/many:1"], "Layers": names}]).encode())
    layer_path.unlink()
    return str(out)


# Runs the CLI as the only child of a fresh interpreter, so RUSAGE_CHILDREN's peak is the
# CLI's alone (not that of any earlier child of the pytest process).
_MEASURE = """\
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-m", "dockwarden", *sys.argv[1:]], capture_output=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": proc.returncode, "peak_kib": peak, "out": proc.stdout.decode(),
                  "err": proc.stderr.decode()}))
"""


def test_200k_files_fire_dw307_with_bounded_memory(many_files_tar: str) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, "image", "--tar", many_files_tar, "--format", "json",
         "--no-progress", "--fail-on", "none"],
        capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(res.stdout)
    assert result["code"] == 0, result["err"]
    report = json.loads(result["out"])
    found = findings(report, "DW307")
    expected = len(distinct_paths(BASE_LAYERS)) + 2 + MANY // PER_DIR + MANY
    assert [(x["severity"], x["evidence"]) for x in found] == [
        ("medium", {"files": expected, "threshold": 100_000})]
    assert {x["check"] for x in report["findings"]} == {"DW307"}
    assert result["peak_kib"] < RSS_LIMIT_KIB, f"peak RSS {result['peak_kib'] >> 10} MiB"


# --- the real Debian image from the Engine --------------------------------------------


@pytest.mark.live
def test_real_debian_image_from_the_engine(api: Any, engine_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from harness.debian import debian_image

    tag = debian_image(api)
    cid = api.create_container(tag, command=["find", "/", "-xdev", "-perm", "/6000", "-type", "f"],
                               labels=test_labels())["Id"]
    try:
        api.start(cid)
        status = api.wait(cid, timeout=120)["StatusCode"]
        logs = api.logs(cid, stdout=True, stderr=False).decode()
        errs = api.logs(cid, stdout=False, stderr=True).decode()
    finally:
        api.remove_container(cid, force=True)
    assert status == 0, errs
    expected = sorted(line for line in logs.splitlines() if line.strip())
    assert expected, "find printed no setuid/setgid file: not the expected minbase image"

    code, report = run_json(["image", tag, "--host", engine_url, "--fail-on", "none"], capsys)
    assert code == 0, report["errors"]
    assert report["complete"] is True
    assert report["targets"][0] == {"kind": "image", "ref": tag, "complete": True}
    root = findings(report, "DW301")
    assert [(x["severity"], x["evidence"]) for x in root] == [("medium", {"Config.User": ""})]
    setuid = findings(report, "DW305")
    assert len(setuid) == 1
    assert setuid[0]["evidence"]["count"] == len(expected)
    assert sorted(x["path"] for x in setuid[0]["evidence"]["files"]) == expected
    assert findings(report, "DW318") == []
    for x in report["findings"]:
        assert (x["target"]["kind"], x["source"]) == ("image", "image")
