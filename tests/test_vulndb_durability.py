"""The vulnerability database never loses data and never fails open (issue 12): kills at
fixed points of import and update, hot journals, odd and symlinked paths, damaged or
foreign files (refused, never replaced), full disks, read-only folders, other users'
locks, file modes under umask 000, leftovers of dead writers.

Real advisory data from ../shared/data (Alpine secdb) where present, else the project's
own fixtures. Crash points are reached through the `DOCKWARDEN_TEST_KILL_AT` hook
(`vuln.db.test_point`); tests that need another user fork a child that drops to uid
65534 (nobody) after every module it needs is imported."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwarden.errors import DockwardenError
from dockwarden.vuln import status as db_status
from dockwarden.vuln import update as db_update
from dockwarden.vuln.db import DatabaseUnusable, VulnDB, open_for_scan, ro_uri

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
FIXTURES = Path(__file__).parent / "data" / "vuln"
SECDB = SHARED / "alpine-secdb"
NOBODY = 65534


def _sources() -> list[Path]:
    """Four small real sources (Alpine secdb), else four of the project's fixtures."""
    if SECDB.is_dir():
        return sorted(SECDB.glob("*.json"))
    return [FIXTURES / "debian-tracker.json", FIXTURES / "alpine-secdb-v3.19-main.json",
            FIXTURES / "osv", FIXTURES / "osv" / "GO-2022-0969.json"]


def dw(*args: str, env: dict[str, str] | None = None, umask: int | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", **(env or {})}
    full.pop("DOCKWARDEN_DB", None) if "DOCKWARDEN_DB" not in (env or {}) else None

    def pre() -> None:
        if umask is not None:
            os.umask(umask)

    run = subprocess.run([sys.executable, "-m", "dockwarden", *args], capture_output=True,
                         text=True, env=full, timeout=timeout, preexec_fn=pre)
    assert "Traceback" not in run.stderr, run.stderr
    return run


def one_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("dockwarden: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def dump(db: Path) -> dict[str, list[Any]]:
    """Every row of the data tables (the source table without its check time)."""
    con = sqlite3.connect(ro_uri(db), uri=True)
    try:
        return {
            "advisory": sorted(con.execute("SELECT * FROM advisory")),
            "affected": sorted(con.execute("SELECT * FROM affected")),
            "source": sorted(con.execute(
                "SELECT name, origin, advisories, packages, sha256 FROM source")),
        }
    finally:
        con.close()


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A database of three real sources."""
    db = tmp_path / "vulndb.sqlite"
    run = dw("db", "--db", str(db), "import", *map(str, _sources()[:3]))
    assert run.returncode == 0, run.stderr
    return db


# --- kill -9 at fixed points ------------------------------------------------------------

@pytest.mark.parametrize("point", ["writer-created", "writer-copied", "update-before-commit",
                                   "writer-before-rename"])
def test_sigkill_during_import_keeps_old_data_and_leftovers_go(base: Path, point: str) -> None:
    before = dump(base)
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]),
             env={"DOCKWARDEN_TEST_KILL_AT": point})
    assert run.returncode == -signal.SIGKILL
    assert dump(base) == before
    status = dw("db", "--db", str(base), "status")
    assert status.returncode == 0, status.stderr
    assert VulnDB(base).counts()["advisories"] > 0
    # the next writer removes the dead one's temporary file, and imports
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]))
    assert run.returncode == 0, run.stderr
    assert temps(base.parent) == []
    assert len(dump(base)["source"]) == len(before["source"]) + 1


def test_sigkill_after_rename_leaves_the_new_data(base: Path) -> None:
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]),
             env={"DOCKWARDEN_TEST_KILL_AT": "writer-after-rename"})
    assert run.returncode == -signal.SIGKILL
    assert dw("db", "--db", str(base), "status").returncode == 0
    assert len(dump(base)["source"]) == 4
    assert temps(base.parent) == []


def test_hot_journal_is_rolled_back_not_fatal(base: Path) -> None:
    """A writer killed mid-transaction with pages already in the file (defect 1): every
    later use rolls the journal back, byte for byte the old data."""
    before = dump(base)
    child = (
        "import os, signal, sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1])\n"
        "con.execute('PRAGMA cache_size=1')\n"
        "con.execute('BEGIN')\n"
        "con.execute(\"UPDATE affected SET note='poisoned'\")\n"
        "con.execute(\"UPDATE advisory SET summary='poisoned'\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", child, str(base)], check=False)
    assert proc.returncode == -signal.SIGKILL
    journal = base.with_name(base.name + "-journal")
    assert journal.exists() and journal.stat().st_size > 0
    run = dw("db", "--db", str(base), "status", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert not journal.exists() or journal.stat().st_size == 0
    assert dump(base) == before
    assert open_for_scan(str(base), True) is not None


def test_hot_journal_rolled_back_by_a_scan_open(base: Path) -> None:
    before = dump(base)
    child = (
        "import os, signal, sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1])\n"
        "con.execute('PRAGMA cache_size=1')\n"
        "con.execute('BEGIN')\n"
        "con.execute(\"UPDATE affected SET note='poisoned'\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", child, str(base)], check=False)
    db = open_for_scan(str(base), asked=True)
    assert db is not None
    rows = db.raw_lookup("Alpine", "openssl") + db.raw_lookup("alpine", "openssl")
    assert all(r[-1] != "poisoned" for r in rows)
    db.close()
    assert dump(base) == before


def test_sigkill_in_not_modified_update_then_status_works(base: Path) -> None:
    """The 304 path writes in place; killed inside its transaction, the next open rolls
    the journal back."""
    from datetime import UTC, datetime

    before = dump(base)
    names = [s["name"] for s in db_status.status(base)["sources"]]
    code = (
        "import sys, datetime\n"
        "from pathlib import Path\n"
        "from dockwarden.vuln import update\n"
        "update._touch_in_place(Path(sys.argv[1]), [('x', n) for n in sys.argv[2:]],\n"
        "                       datetime.datetime.now(datetime.UTC))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(base), *names],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "DOCKWARDEN_TEST_KILL_AT": "touch-in-transaction"},
                          check=False)
    assert proc.returncode == -signal.SIGKILL
    assert datetime.now(UTC)  # (imported for the child's code only)
    run = dw("db", "--db", str(base), "status")
    assert run.returncode == 0, run.stderr
    assert dump(base) == before
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]))
    assert run.returncode == 0, run.stderr


def test_sigterm_during_import_is_an_interrupt(base: Path, tmp_path: Path) -> None:
    before = dump(base)
    marker = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DOCKWARDEN_TEST_PAUSE_AT":
           "writer-copied", "DOCKWARDEN_TEST_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dockwarden", "db", "--db", str(base),
                             "import", str(_sources()[-1])], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if marker.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert marker.exists()
    assert temps(base.parent)  # the writer's temporary file exists now
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "interrupted" in err and "Traceback" not in err
    assert temps(base.parent) == []
    assert dump(base) == before


# --- paths ------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["br%2Fx", "we#ird", "what?mode=rw", "sp ace%20"])
def test_special_characters_in_the_path(tmp_path: Path, folder: str) -> None:
    db = tmp_path / folder / "vulndb.sqlite"
    srcs = _sources()
    for src in srcs:
        run = dw("db", "--db", str(db), "import", str(src))
        assert run.returncode == 0, run.stderr
    assert len(dump(db)["source"]) == len(srcs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # no stray file
    assert dw("db", "--db", str(db), "status").returncode == 0
    assert open_for_scan(str(db), True) is not None


def test_symlinked_db_updates_the_target(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "vulndb.sqlite"
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    srcs = _sources()
    assert dw("db", "--db", str(link), "import", str(srcs[0])).returncode == 0
    assert dw("db", "--db", str(real), "import", str(srcs[1])).returncode == 0
    run = dw("db", "--db", str(link), "import", str(srcs[2]))
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(dump(real)["source"]) == 3
    # one lock for both names: beside the real file
    assert (real_dir / ".vulndb.sqlite.downloads" / "lock").exists()
    assert not (tmp_path / ".link.sqlite.downloads").exists()


# --- files that are not a usable database ------------------------------------------------

def _zero(db: Path) -> None:
    db.write_bytes(b"")


def _random(db: Path) -> None:
    db.write_bytes(os.urandom(50_000))


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[:len(data) // 3])


def _newer(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='7' WHERE key='schema'")
    con.commit()
    con.close()


def _abc(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='abc' WHERE key='schema'")
    con.commit()
    con.close()


def _bad_page(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = len(data) // 4096 // 2
    data[page * 4096:page * 4096 + 8] = b"\xff" * 8  # a b-tree page header
    db.write_bytes(bytes(data))


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero-byte": (_zero, "empty file"),
    "random": (_random, "not a dockwarden vulnerability database"),
    "truncated": (_truncated, "vulnerability database"),
    "newer-schema": (_newer, "newer dockwarden"),
    "schema-abc": (_abc, "unknown database schema 'abc'"),
    "bad-page": (_bad_page, "damaged"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_database_refused_never_replaced(base: Path, kind: str) -> None:
    damage, message = BROKEN[kind]
    good = dump(base)
    damage(base)
    before = base.read_bytes()
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]))
    assert run.returncode == 2, run.stderr
    line = one_error(run.stderr)
    assert str(base) in line
    if kind != "truncated":
        assert message in line
    assert "db import --replace" in run.stderr and "db reset" in run.stderr
    assert base.read_bytes() == before  # not replaced, not changed
    status = dw("db", "--db", str(base), "status")
    assert status.returncode == 2
    one_error(status.stderr)
    # a scan that was asked for this database fails closed (bad-page: while matching)
    if kind == "bad-page":
        db = open_for_scan(str(base), True)
        assert db is not None
        with pytest.raises(DatabaseUnusable) as err:
            for _source, _adv, eco, name, *_rest in good["affected"]:
                db.lookup(eco, name)
            db.details([(r[0], r[1]) for r in good["advisory"]])
        assert err.value.exit_code == 3
    else:
        with pytest.raises(DatabaseUnusable) as err:
            open_for_scan(str(base), asked=False)
        assert err.value.exit_code == 3
    assert base.read_bytes() == before
    # the way out: --replace starts afresh
    run = dw("db", "--db", str(base), "import", "--replace", str(_sources()[-1]))
    assert run.returncode == 0, run.stderr
    assert len(dump(base)["source"]) == 1


def test_reset_removes_database_and_leftovers(base: Path) -> None:
    _random(base)
    base.with_name(base.name + "-journal").write_bytes(b"x" * 100)
    run = dw("db", "--db", str(base), "reset")
    assert run.returncode == 0, run.stderr
    assert not base.exists() and not base.with_name(base.name + "-journal").exists()
    assert dw("db", "--db", str(base), "import", str(_sources()[0])).returncode == 0


def test_open_for_scan_fails_closed(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    assert open_for_scan(str(missing), asked=False) is None
    with pytest.raises(DatabaseUnusable, match="no vulnerability database") as err:
        open_for_scan(str(missing), asked=True)
    assert err.value.exit_code == 3 and "db update" in err.value.hint
    with pytest.raises(DatabaseUnusable, match="is a directory"):
        open_for_scan(str(tmp_path), asked=True)
    dangling = tmp_path / "dangling.sqlite"
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(DatabaseUnusable):
        open_for_scan(str(dangling), asked=False)


def test_directory_where_the_database_should_be(tmp_path: Path) -> None:
    folder = tmp_path / "vulndb.sqlite"
    folder.mkdir()
    for args in (["import", str(_sources()[0])], ["status"], ["reset"]):
        run = dw("db", "--db", str(folder), *args)
        assert run.returncode == 2, run.stderr
        assert "is a directory" in one_error(run.stderr)
    assert folder.is_dir() and list(folder.iterdir()) == []


# --- modes and owners -------------------------------------------------------------------

def test_private_modes_under_umask_000(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "vulndb.sqlite"
    run = dw("db", "--db", str(db), "import", str(_sources()[0]), umask=0)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    work = db.parent / ".vulndb.sqlite.downloads"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    assert stat.S_IMODE((work / "lock").stat().st_mode) == 0o600


def test_import_keeps_owner_and_mode(base: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    os.chown(base, 4321, 4321)
    os.chmod(base, 0o444)
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]))
    assert run.returncode == 0, run.stderr
    st = base.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 4321, 0o444)
    assert len(dump(base)["source"]) == 4


def test_planted_lock_symlink_refused(base: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    lock = base.parent / ".vulndb.sqlite.downloads" / "lock"
    lock.unlink()
    lock.symlink_to(victim)
    run = dw("db", "--db", str(base), "import", str(_sources()[-1]))
    assert run.returncode == 2
    assert "symlink" in one_error(run.stderr)
    assert victim.read_text() == "keep me\n"


# --- other users, read-only folders, full disks -----------------------------------------

@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder outside pytest's private tmp tree that uid 65534 can reach."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user (uid 65534)")
    path = Path(tempfile.mkdtemp(prefix="dw-vulndb-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_nobody(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """`dockwarden ARGV` run by cli.main in a forked child as uid/gid 65534 (the modules
    it needs imported first: the interpreter's files are not readable by that user)."""
    from dockwarden import cli
    from dockwarden.commands import db as _db  # noqa: F401
    from dockwarden.vuln import importers as _imp  # noqa: F401

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 99
        try:
            os.close(read)
            out = io.TextIOWrapper(os.fdopen(write, "wb"), encoding="utf-8")
            sys.stdout = sys.stderr = out
            os.environ.pop("DOCKWARDEN_DB", None)
            os.environ.update(env or {})
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = cli.main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    assert "Traceback" not in text, text
    return os.waitstatus_to_exitcode(status), text


def test_read_only_folder(open_dir: Path) -> None:
    db = open_dir / "vulndb.sqlite"
    assert dw("db", "--db", str(db), "import", str(_sources()[0])).returncode == 0
    os.chmod(db, 0o644)
    before = db.read_bytes()
    code, text = as_nobody(["db", "--db", str(db), "import", str(_sources()[1])])
    assert code == 2, text
    line = one_error(text)
    assert str(db) in line or str(open_dir) in line
    assert db.read_bytes() == before
    # reading works for that user
    code, text = as_nobody(["db", "--db", str(db), "status"])
    assert code == 0, text


def test_lock_owned_by_another_user(open_dir: Path) -> None:
    os.chown(open_dir, NOBODY, NOBODY)
    db = open_dir / "vulndb.sqlite"
    assert dw("db", "--db", str(db), "import", str(_sources()[0])).returncode == 0
    os.chown(db, NOBODY, NOBODY)
    work = open_dir / ".vulndb.sqlite.downloads"
    os.chown(work, NOBODY, NOBODY)
    assert (work / "lock").stat().st_uid == 0  # root's, mode 0600
    code, text = as_nobody(["db", "--db", str(db), "import", str(_sources()[1])])
    assert code == 2, text
    line = one_error(text)
    assert "lock" in line and "owned by uid 0" in line


def test_no_writable_cache_folder(open_dir: Path) -> None:
    cache = open_dir / "cache"
    cache.mkdir(mode=0o755)
    code, text = as_nobody(["db", "import", str(_sources()[0])],
                           env={"XDG_CACHE_HOME": str(cache), "HOME": str(open_dir)})
    assert code == 2, text
    line = one_error(text)
    assert str(cache / "dockwarden") in line
    assert "--db" in text


def test_not_modified_update_of_a_read_only_database(open_dir: Path) -> None:
    """A 304 of every source records the check time; in a 0444 file (its folder
    writable) that goes through a new file that keeps the mode, as its owner."""
    from datetime import UTC, datetime

    os.chown(open_dir, NOBODY, NOBODY)
    db = open_dir / "vulndb.sqlite"
    assert dw("db", "--db", str(db), "import", str(_sources()[0])).returncode == 0
    os.chown(db, NOBODY, NOBODY)
    os.chmod(db, 0o444)
    for entry in open_dir.rglob("*"):
        os.chown(entry, NOBODY, NOBODY)
    before = dump(db)
    name = before["source"][0][0]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 99
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with db_update._lock(db):
                db_update._write(db, [], [("x", name)], datetime.now(UTC),
                                 db_update._quiet)
            code = 0
        except DockwardenError as exc:
            os.write(write, exc.message.encode())
            code = exc.exit_code
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        text = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert stat.S_IMODE(db.stat().st_mode) == 0o444 and db.stat().st_uid == NOBODY
    assert dump(db) == before


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 3 MiB tmpfs (skipped with the reason where mounting is not allowed)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    path = Path(tempfile.mkdtemp(prefix="dw-fulldisk-"))
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)],
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    yield path
    subprocess.run(["umount", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not SECDB.is_dir(), reason="real Alpine secdb data not in ../shared")
def test_disk_full_during_import(small_disk: Path) -> None:
    db = small_disk / "vulndb.sqlite"
    srcs = _sources()
    run = dw("db", "--db", str(db), "import", str(srcs[0]), str(srcs[1]))
    assert run.returncode == 0, run.stderr
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(0, free - 200_000))
    before = dump(db)
    run = dw("db", "--db", str(db), "import", str(srcs[2]), str(srcs[3]))
    assert run.returncode == 2, run.stderr
    line = one_error(run.stderr)
    assert "no space left on device" in line
    assert dump(db) == before
    assert temps(small_disk) == []


@pytest.mark.skipif(not (SHARED / "osv-pypi-pypa-advisory-database.zip").is_file(),
                    reason="real PyPA OSV data not in ../shared")
def test_disk_full_during_download_removes_the_part(small_disk: Path) -> None:
    import threading
    from http.server import ThreadingHTTPServer

    from test_vuln_update import Site, _Handler  # the fake server of those tests

    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 type("H", (_Handler,), {"site": site}))
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = (SHARED / "osv-pypi-pypa-advisory-database.zip").read_bytes()  # > 3 MiB
        url = site.put("/PyPI/all.zip", body)
        db = small_disk / "vulndb.sqlite"
        run = dw("db", "--db", str(db), "update", "--source", url)
        assert run.returncode == 2, run.stderr
        assert "no space left on device" in one_error(run.stderr)
        work = small_disk / ".vulndb.sqlite.downloads"
        assert [p.name for p in work.iterdir()] == ["lock"]
    finally:
        server.shutdown()
        server.server_close()


def test_status_json_is_valid_after_all(base: Path) -> None:
    data = json.loads(dw("db", "--db", str(base), "status", "--format", "json").stdout)
    assert data["path"] == str(base) and len(data["sources"]) == 3
