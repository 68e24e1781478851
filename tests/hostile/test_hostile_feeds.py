"""Hostile advisory feeds and VEX documents (issue 11, defects 4, 8 and 10): every bad
input ends in a counted skip or a one-line error (exit 2), the good records of a feed are
imported, memory stays bounded, and FIFOs, devices and folders given as files never hang.

Each test runs dockwarden in a child (`run_dockwarden`: no traceback, time and address
space bounded) on files built in the test's temporary folder."""

from __future__ import annotations

import json
import os
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hostile.conftest import assert_no_raw_controls, run_dockwarden


def osv_doc(adv_id: str, name: str = "django", **extra: Any) -> dict[str, Any]:
    return {"id": adv_id, "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                          "ranges": [{"type": "ECOSYSTEM",
                                      "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]}],
            **extra}


def tracker_issue(description: str = "a flaw") -> dict[str, Any]:
    return {"description": description,
            "releases": {"bookworm": {"status": "resolved", "fixed_version": "1.0-1",
                                      "urgency": "low", "repositories": {}}}}


def db_import(tmp_path: Path, *paths: Path, memory_mib: int = 1024,
              timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    db = tmp_path / "vuln.sqlite"
    run = run_dockwarden(["db", "--db", str(db), "import", "--format", "json",
                          *map(str, paths)], memory_mib=memory_mib, timeout=timeout)
    assert_no_raw_controls(run.out + run.err)
    return run.code, json.loads(run.out) if run.out.strip() else {}, run.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("dockwarden: error:")]
    assert lines, err
    return lines[0]


# --- defect 8: lone surrogates, wrong types, deep nesting ---------------------------------

def test_lone_surrogate_in_one_osv_document_skips_only_that_one(tmp_path: Path) -> None:
    docs = [json.dumps(osv_doc(f"PYSEC-{i}")) for i in range(5)]
    docs[2] = docs[2].replace('"django"', '"dj\\ud800ango"')
    (tmp_path / "feed.json").write_text("[" + ", ".join(docs) + "]")
    code, out, _ = db_import(tmp_path, tmp_path / "feed.json")
    assert code == 0
    [src] = out["sources"]
    assert src["state"] == "updated" and src["advisories"] == 4
    assert "lone surrogate" in src["message"]


def test_lone_surrogate_in_an_osv_folder_and_zip(tmp_path: Path) -> None:
    folder = tmp_path / "osv"
    folder.mkdir()
    members = {}
    for i in range(4):
        text = json.dumps(osv_doc(f"PYSEC-{i}"))
        if i == 1:
            text = text.replace('"PYSEC-1"', '"PYSEC-\\udc80"')
        (folder / f"PYSEC-{i}.json").write_text(text)
        members[f"PYSEC-{i}.json"] = text
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    for path in (folder, tmp_path / "all.zip"):
        code, out, _ = db_import(tmp_path, path)
        assert code == 0, out
        assert out["sources"][0]["advisories"] == 3


def test_lone_surrogate_in_the_tracker_skips_that_issue(tmp_path: Path) -> None:
    doc = json.dumps({"glibc": {"CVE-2024-1": tracker_issue("\ud800 bad"),
                                "CVE-2024-2": tracker_issue()},
                      "curl": {"CVE-2024-3": tracker_issue()}})
    (tmp_path / "tracker.json").write_text(doc)
    code, out, _ = db_import(tmp_path, tmp_path / "tracker.json")
    assert code == 0
    [src] = out["sources"]
    assert src["source"] == "debian-tracker" and src["advisories"] == 2
    assert "lone surrogate" in src["message"]


def test_a_refused_source_does_not_drop_the_others(tmp_path: Path) -> None:
    """A source whose every record is bad fails (exit 2, as `update.exit_code` says for
    refused data); the other files of the same run are imported."""
    (tmp_path / "bad.json").write_text(json.dumps(
        {"glibc": {"CVE-2024-1": tracker_issue("\udfff")}}))
    (tmp_path / "good.json").write_text(json.dumps([osv_doc("PYSEC-1")]))
    code, out, err = db_import(tmp_path, tmp_path / "bad.json", tmp_path / "good.json")
    assert code == 2
    states = {Path(s["origin"]).name: s for s in out["sources"]}
    assert states["bad.json"]["state"] == "failed"
    assert states["good.json"]["state"] == "updated"
    assert states["good.json"]["advisories"] == 1
    assert "no advisories could be imported" in one_line_error(err)


WRONG_TYPES: list[Any] = [
    5, "x", None, [], {"id": 5}, {"id": ["x"]}, {"id": "A-1", "affected": 5},
    {"id": "A-2", "affected": [5, "x", None]},
    {"id": "A-3", "affected": [{"package": "django"}]},
    {"id": "A-4", "affected": [{"package": {"ecosystem": 5, "name": ["x"]}}]},
    {"id": "A-5", "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                                "ranges": {"type": "ECOSYSTEM"}}]},
    {"id": "A-6", "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                                "ranges": [{"type": ["ECOSYSTEM"], "events": 5},
                                           {"type": {"a": 1}}, 7,
                                           {"type": "ECOSYSTEM", "events": [5, {"fixed": 3}]}],
                                "versions": {"1": 2}, "severity": "x",
                                "ecosystem_specific": [], "database_specific": 5}],
     "aliases": {"a": 1}, "references": 5, "severity": [{"type": 5, "score": []}],
     "database_specific": [], "summary": 5, "details": ["x"], "upstream": 3,
     "published": {}, "withdrawn": 1},
    {"id": "A-7", "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}}],
     "database_specific": {"severity": ["HIGH"]}, "references": [{"url": 5}, "x"]},
]


def test_wrong_types_in_osv_documents_are_skipped_or_tolerated(tmp_path: Path) -> None:
    (tmp_path / "feed.json").write_text(json.dumps([osv_doc("PYSEC-GOOD"), *WRONG_TYPES]))
    code, out, _ = db_import(tmp_path, tmp_path / "feed.json")
    assert code == 0
    [src] = out["sources"]
    assert src["advisories"] >= 1  # the good one, and the odd ones that still name a package
    assert "skipped" in src["message"]


def test_wrong_types_in_the_tracker_and_secdb(tmp_path: Path) -> None:
    tracker = {"glibc": {"CVE-2024-1": tracker_issue()},
               "a": 5, "b": [], "c": {"CVE-X": 5, "CVE-Y": {"releases": []},
                                      "CVE-Z": {"releases": {"bookworm": 5, "sid": []},
                                                "description": 7}},
               "d": {"CVE-W": {"releases": {"bookworm": {"status": 5, "fixed_version": [],
                                                          "urgency": {}, "nodsa": 3}}}}}
    (tmp_path / "tracker.json").write_text(json.dumps(tracker))
    secdb = {"distroversion": "v3.19", "reponame": "main", "packages": [
        {"pkg": {"name": "musl", "secfixes": {"1.2.4-r1": ["CVE-2024-1234"]}}},
        5, [], {"pkg": 5}, {"pkg": {"name": 5}}, {"pkg": {"name": "x", "secfixes": []}},
        {"pkg": {"name": "y", "secfixes": {"1.0-r0": 5, "2.0-r0": [5, None, ["x"], "(" * 5000],
                                           "0": "CVE-2024-2"}}}]}
    (tmp_path / "main.json").write_text(json.dumps(secdb))
    code, out, _ = db_import(tmp_path, tmp_path / "tracker.json", tmp_path / "main.json")
    assert code == 0, out
    assert [s["advisories"] for s in out["sources"]] == [1, 1]


def test_deep_nesting(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    # one deep OSV document in a folder: that document is skipped
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(osv_doc("PYSEC-1")))
    (folder / "deep.json").write_text('{"id": "PYSEC-2", "affected": ' + deep + "}")
    code, out, _ = db_import(tmp_path, folder)
    assert code == 0 and out["sources"][0]["advisories"] == 1
    # a deep tracker member: the source is refused with one line, exit 2
    (tmp_path / "tracker.json").write_text(
        '{"glibc": {"CVE-2024-1": {"releases": {}}}, "x": ' + deep + "}")
    code, out, err = db_import(tmp_path, tmp_path / "tracker.json")
    assert code == 2
    assert "nested too deeply" in one_line_error(err)


def test_non_utf8_feed(tmp_path: Path) -> None:
    (tmp_path / "tracker.json").write_bytes(
        b'{"glibc": {"CVE-2024-1": {"description": "\xff\xfe", "releases": {}}}}')
    code, _, err = db_import(tmp_path, tmp_path / "tracker.json")
    assert code == 2
    assert "not UTF-8" in one_line_error(err)


# --- defect 10: memory amplification -------------------------------------------------------

def _write_repeated(path: Path, head: bytes, unit: bytes, size: int, tail: bytes) -> None:
    block = unit * ((1 << 20) // len(unit))
    with path.open("wb") as fh:
        fh.write(head)
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(tail)


@pytest.mark.parametrize("head, unit, tail, message", [
    (b"[", b"{},", b"{}]", "not of OSV documents"),
    (b"{", b'"k":{},', b'"z":{}}', "larger than 32 MiB"),
    (b"", b"{}", b"", "not valid JSON"),
    (b'{"glibc": {"CVE-1": {"releases": {"bookworm": {"status": "open"}}}}, "x": [', b"{},",
     b"{}]}", "more than 1,000,000 JSON objects"),
    (b'[{"id": "PYSEC-1", "modified": "x", "affected": []}, [', b"{},", b"{}]]",
     "more than 1,000,000 JSON objects"),
], ids=["list-of-objects", "object-of-objects", "concatenated", "tracker-member",
        "osv-list-item"])
def test_100_mb_of_braces_stays_bounded(tmp_path: Path, head: bytes, unit: bytes,
                                        tail: bytes, message: str) -> None:
    """100 MB of `{}` once took 3 GB (300 MB: 8 GB); now a one-line error under 1 GiB of
    address space."""
    path = tmp_path / "big.json"
    _write_repeated(path, head, unit, 100 << 20, tail)
    code, _, err = db_import(tmp_path, path, memory_mib=1024, timeout=300)
    assert code == 2
    assert message in one_line_error(err)


def test_osv_zip_with_a_huge_member_skips_it(tmp_path: Path) -> None:
    rng = random.Random(11)
    big = osv_doc("PYSEC-BIG", details="".join(rng.choice("0123456789abcdef")
                                               for _ in range(5 << 20)))
    with zipfile.ZipFile(tmp_path / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("PYSEC-BIG.json", json.dumps(big))
        zf.writestr("PYSEC-1.json", json.dumps(osv_doc("PYSEC-1")))
    code, out, _ = db_import(tmp_path, tmp_path / "all.zip", memory_mib=1024)
    assert code == 0
    [src] = out["sources"]
    assert src["advisories"] == 1
    assert "larger than 4 MiB" in src["message"]


def test_osv_zip_bomb_member_refuses_the_source(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("PYSEC-1.json", json.dumps(osv_doc("PYSEC-1")))
        with zf.open("PYSEC-BOMB.json", "w", force_zip64=True) as fh:
            for _ in range(64):
                fh.write(b" " * (1 << 20))
    code, _, err = db_import(tmp_path, tmp_path / "all.zip", memory_mib=1024)
    assert code == 2
    assert "decompression bomb" in one_line_error(err)


# --- defect 4: FIFOs, devices and folders as inputs ----------------------------------------

@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


def test_db_import_of_a_fifo_or_device_is_exit_2(tmp_path: Path, fifo: Path) -> None:
    for path, kind in ((fifo, "FIFO"), (Path("/dev/zero"), "character device")):
        code, out, err = db_import(tmp_path, path, timeout=30)
        assert code == 2
        assert kind in one_line_error(err)
        assert out["sources"][0]["state"] == "failed"


def test_db_import_of_a_folder_skips_fifos_and_symlinks_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(osv_doc("PYSEC-OUTSIDE")))
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(osv_doc("PYSEC-1")))
    os.mkfifo(folder / "fifo.json")
    (folder / "link.json").symlink_to(outside)
    code, out, _ = db_import(tmp_path, folder, timeout=30)
    assert code == 0
    [src] = out["sources"]
    assert src["advisories"] == 1  # PYSEC-OUTSIDE is never read
    assert "not a regular file" in src["message"]


def test_db_import_of_an_empty_folder_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = db_import(tmp_path, tmp_path / "empty", timeout=30)
    assert code == 2
    assert "no JSON or zip files" in one_line_error(err)


VEX_OK = {"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "deep", "wrong-types",
                                  "surrogate", "not-json"])
def test_bad_vex_is_exit_2_at_once(tmp_path: Path, fifo: Path, kind: str) -> None:
    path = {"fifo": fifo, "device": Path("/dev/zero"), "folder": tmp_path}.get(
        kind, tmp_path / "vex.json")
    if kind == "deep":
        path.write_text('{"@context": "openvex", "statements": ' + "[" * 50_000
                        + "]" * 50_000 + "}")
    elif kind == "wrong-types":
        path.write_text(json.dumps({**VEX_OK, "statements": [
            {"status": "not_affected", "vulnerability": 5, "products": "x"}]}))
    elif kind == "surrogate":
        path.write_text(json.dumps({**VEX_OK, "statements": [
            {"status": "not_affected", "vulnerability": {"name": "CVE-\udc00"}}]}))
    elif kind == "not-json":
        path.write_bytes(b"\xff\x00 not json")
    run = run_dockwarden(["image", "--vex", str(path), "dockwarden-test-absent/none:0"],
                         timeout=30)
    assert run.code == 2
    line = one_line_error(run.err)
    assert "VEX" in line
    assert_no_raw_controls(run.err)
