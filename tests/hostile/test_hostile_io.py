"""Every reader given what is not a readable input, every write onto a planted path, and
the command line's own validation: each ends in a one-line error with the stated exit
code, quickly, within a memory bound, without a traceback and without touching a file
outside the test's temporary directory."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dockwarden import safeio
from dockwarden.errors import InputError
from hostile.conftest import run_dockwarden

MARKER = "dw-secret-marker-7f3a9c"

# Each reader: (name, argv with {} for the input path, accepts a directory).
READERS: list[tuple[str, list[str], bool]] = [
    ("ignore", ["dockerfile", "{df}", "--ignore", "{}"], False),
    ("vex", ["image", "--tar", "{df}", "--vex", "{}"], False),
    ("dockerfile", ["dockerfile", "{}"], True),
    ("compose", ["compose", "{}"], True),
    ("scan-scripts", ["run-command", "--scan-scripts", "{}"], True),
    ("tar", ["image", "--tar", "{}"], False),
    ("oci", ["image", "--oci", "{}"], True),
    ("db-import", ["db", "--db", "{db}", "import", "{}"], True),
    ("db-sources", ["db", "--db", "{db}", "update", "--sources", "{}"], False),
]
IDS = [r[0] for r in READERS]


def _argv(template: list[str], path: str, tmp: Path) -> list[str]:
    df = tmp / "ok" / "Dockerfile"
    df.parent.mkdir(exist_ok=True)
    df.write_text("FROM scratch\nUSER 1000\n")
    return [a.format(path, df=df, db=tmp / "db" / "vulndb.sqlite") for a in template] + \
        (["--no-progress"] if template[0] != "db" else [])


def _one_line_error(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no error message"
    assert len(lines) <= 3, err
    assert any("error" in line for line in lines), err


@pytest.mark.parametrize(("name", "template", "dirs"), READERS, ids=IDS)
def test_fifo_is_refused(tmp_path: Path, name: str, template: list[str], dirs: bool) -> None:
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    run = run_dockwarden(_argv(template, str(fifo), tmp_path), timeout=60)
    assert run.code == 2, run
    _one_line_error(run.err)


@pytest.mark.parametrize(("name", "template", "dirs"), READERS, ids=IDS)
def test_device_is_refused(tmp_path: Path, name: str, template: list[str], dirs: bool) -> None:
    run = run_dockwarden(_argv(template, "/dev/zero", tmp_path), timeout=60, memory_mib=2048)
    assert run.code == 2, run
    _one_line_error(run.err)


@pytest.mark.parametrize(("name", "template", "dirs"),
                         [r for r in READERS if not r[2]], ids=[r[0] for r in READERS if not r[2]])
def test_directory_as_a_file_is_refused(tmp_path: Path, name: str, template: list[str],
                                        dirs: bool) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    run = run_dockwarden(_argv(template, str(folder), tmp_path), timeout=60)
    assert run.code == 2, run
    _one_line_error(run.err)


@pytest.mark.parametrize(("name", "template", "dirs"), READERS, ids=IDS)
def test_empty_file(tmp_path: Path, name: str, template: list[str], dirs: bool) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    run = run_dockwarden(_argv(template, str(empty), tmp_path), timeout=60)
    assert run.code in (0, 1, 2, 3), run


@pytest.mark.parametrize(("name", "template", "dirs"), READERS, ids=IDS)
def test_huge_sparse_file_is_bounded(tmp_path: Path, name: str, template: list[str],
                                     dirs: bool) -> None:
    """5 GiB of zeros (a sparse file): refused by a size cap, or read as a stream in
    bounded memory; never read whole."""
    huge = tmp_path / "huge"
    with open(huge, "wb") as fh:
        fh.truncate(5 << 30)
    run = run_dockwarden(_argv(template, str(huge), tmp_path), timeout=120, memory_mib=2048)
    assert run.code in (2, 3), run


def _planted(root: Path) -> None:
    """A file outside `root` holding MARKER, and links to it inside `root` under the names
    each directory scan looks for."""
    secret = root.parent / "host-secret"
    secret.write_text(f"{MARKER}\n" * 3)
    sub = root / "sub"
    sub.mkdir(parents=True)
    for name in ("Dockerfile", "compose.yaml", "docker-compose.yml", "build.sh",
                 "osv.json", "index.json", "oci-layout"):
        (sub / name).symlink_to(secret)


@pytest.mark.parametrize(("name", "template", "dirs"),
                         [r for r in READERS if r[2]], ids=[r[0] for r in READERS if r[2]])
def test_symlink_leaving_a_scanned_folder_is_never_read(tmp_path: Path, name: str,
                                                        template: list[str],
                                                        dirs: bool) -> None:
    root = tmp_path / "repo"
    _planted(root)
    argv = _argv(template, str(root if name != "oci" else root / "sub"), tmp_path)
    if template[0] != "db":
        argv += ["--format", "json"]
    run = run_dockwarden(argv, timeout=60)
    assert MARKER not in run.out and MARKER not in run.err, run


def test_output_onto_a_character_device_writes_in_place(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    run = run_dockwarden(["dockerfile", str(df), "-o", str(null), "--format", "json"])
    assert run.code in (0, 1), run
    assert stat.S_ISCHR(os.lstat(null).st_mode), "the device was replaced by a file"
    assert sorted(os.listdir(tmp_path)) == ["Dockerfile", "null"]


def test_output_onto_a_fifo_is_written_like_a_redirect(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    run = run_dockwarden(["dockerfile", str(df), "-o", str(fifo), "--format", "json"])
    reader.join(10)
    assert run.code in (0, 1), run
    assert got and b'"schema"' in got[0]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_through_a_planted_symlink_never_writes_its_target(tmp_path: Path) -> None:
    """The report replaces a link at the output path; the file it pointed to is intact,
    and no temporary file is left (the old code wrote FILE.tmpPID, a name an attacker
    could plant a symlink at)."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "report.json"
    out.symlink_to(victim)
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    run = run_dockwarden(["dockerfile", str(df), "-o", str(out), "--format", "json"])
    assert run.code in (0, 1), run
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and '"schema"' in out.read_text()
    assert sorted(os.listdir(tmp_path)) == ["Dockerfile", "report.json", "victim"]


def test_write_output_leaves_no_temporary_file_when_interrupted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        safeio.write_output(str(tmp_path / "r.json"), "{}")
    assert os.listdir(tmp_path) == []


def test_write_output_into_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write"):
        safeio.write_output(str(tmp_path / "no" / "r.json"), "{}")


def test_temporary_name_is_not_predictable(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real: Callable[[str, str], None] = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    safeio.write_output(str(tmp_path / "r.json"), "{}")
    safeio.write_output(str(tmp_path / "r.json"), "{}")
    assert len(set(seen)) == 2 and all(str(os.getpid()) not in s for s in seen)


def test_private_files_refuse_symlinks_and_ignore_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        folder = safeio.private_dir(str(tmp_path / "cache" / "dw"))
        fd = safeio.open_private(os.path.join(folder, "lock"))
        os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(folder, "lock")).st_mode) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("x")
    os.symlink(victim, os.path.join(folder, "planted"))
    with pytest.raises(InputError, match="symlink"):
        safeio.open_private(os.path.join(folder, "planted"))
    assert victim.read_text() == "x"


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0", "abc"])
def test_bad_timeout_is_a_usage_error(value: str) -> None:
    run = run_dockwarden(["engine", "--timeout", value, "--no-progress"], timeout=60)
    assert run.code == 2 and "--timeout" in run.err, run


@pytest.mark.parametrize(("option", "value", "hint"), [("--check", "DW999", "see"),
                                                      ("--skip", "XX1", "see"),
                                                      ("--check", "DW2011", "DW201")])
def test_unknown_check_id_is_a_usage_error(tmp_path: Path, option: str, value: str,
                                           hint: str) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    run = run_dockwarden(["dockerfile", str(df), option, value])
    assert run.code == 2 and value in run.err and hint in run.err, run


def test_ignore_entry_with_an_impossible_date_is_an_input_error(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    ignore = tmp_path / "ignore.yml"
    ignore.write_text("- check: DW501\n  reason: test\n  expires: 2027-02-30\n")
    run = run_dockwarden(["dockerfile", str(df), "--ignore", str(ignore)])
    assert run.code == 2 and "2027-02-30" in run.err, run


def test_deeply_nested_ignore_file_is_an_input_error(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM scratch\n")
    ignore = tmp_path / "ignore.yml"
    ignore.write_text("[" * 50_000 + "]" * 50_000)
    run = run_dockwarden(["dockerfile", str(df), "--ignore", str(ignore)])
    assert run.code == 2, run


def test_hostile_path_in_an_error_is_shown_escaped(tmp_path: Path) -> None:
    name = tmp_path / "x\x1b]0;pwned\x07"
    run = run_dockwarden(["dockerfile", str(name)])
    assert run.code == 2 and "\x1b" not in run.err and "\\x1b" in run.err, run
