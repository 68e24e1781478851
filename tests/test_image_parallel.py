"""Layers of a file-backed image walked at once in forked children (walker._Pass._drain):
the snapshot is the one a single process makes, a child that dies has its layer walked
again by the parent, limits still hold across layers, and no child outlives the walk."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from dockwarden.collect.image import offload, walker
from dockwarden.collect.image.open import default_analyzers
from dockwarden.collect.image.source import OCILayoutSource, TarSource
from dockwarden.collect.image.walker import LayerError, Limits, walk
from dockwarden.errors import InputError
from harness.imagebuild import Entry, Image, d, docker_save, f, layer_tar, oci_layout, sym

pytestmark = pytest.mark.skipif(not offload.available(), reason="needs fork and 2 CPUs")

GHP = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


@pytest.fixture(autouse=True)
def _always_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers even for tiny images, three of them even on a 2-CPU machine."""
    monkeypatch.setattr(walker, "SHARE_MIN", 0)
    monkeypatch.setattr(walker, "FORK_MIN", 0)
    monkeypatch.setattr(walker, "_cpus", lambda: 3)


def _children() -> set[int]:
    """Processes whose parent is this one, zombies included (read from /proc, so that a
    child another test left running is not taken for one of the walk's)."""
    me, found = os.getpid(), set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(name))
    return found


_before: set[int] = set()


@pytest.fixture(autouse=True)
def _children_before() -> None:
    _before.clear()
    _before.update(_children())


def _no_children_left() -> bool:
    """No process forked since the test began is still there, running or a zombie."""
    return not _children() - _before


def _image() -> Image:
    """Four layers touching each other: whiteouts, an opaque directory, a path rewritten
    in a later layer, a hard link to a file deleted later, escapes, a secret and
    packages, so that every container the children send back is exercised."""
    status = ("Package: base-files\nStatus: install ok installed\nVersion: 12.4\n"
              "Architecture: amd64\n\n")
    return Image([
        layer_tar([d("etc"), f("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
                   d("var"), d("var/lib"), d("var/lib/dpkg"), f("var/lib/dpkg/status", status),
                   d("opt"), d("opt/old"), f("opt/old/keep", "k"), f("opt/target", "t"),
                   d("usr"), d("usr/bin"), f("usr/bin/su", "x", 0o4755),
                   f("../escape-early", "x")]),
        layer_tar([Entry("opt/link", kind="hardlink", linkname="opt/target"),
                   d("app"), f("app/settings.py", f"TOKEN = '{GHP}'\n"),
                   f("app/.env", "API_KEY='layer-two-api-key-0123456789'\n")]),
        layer_tar([f("opt/.wh.target"), d("opt/old"), f("opt/old/.wh..wh..opq"),
                   f("opt/old/new", "n"), f("usr/bin/.wh.su"), sym("etc/evil", "../../x"),
                   f("app/settings.py", "DEBUG = True\n")]),
        layer_tar([f("/abs-late", "x"), f("etc/motd", "hello"), d("data", 0o777)]),
    ])


def _sources(tmp: Path) -> list[object]:
    img = _image()
    return [TarSource(docker_save(img, str(tmp / "i.tar")), "x"),
            OCILayoutSource(oci_layout(img, str(tmp / "oci")))]


def _log_pieces(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> Path:
    """Each piece walked writes "pid nth" to the file returned."""
    log = tmp / "who.log"
    real = walker._Pass._state

    def watch(self: walker._Pass, unit: walker._Unit) -> tuple[object, ...]:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {unit.nth}\n")
        return real(self, unit)

    monkeypatch.setattr(walker._Pass, "_state", watch)
    return log


def _workers_die(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker exits as soon as it is given a piece; this process walks as before."""
    real, parent = walker._Pass._state, os.getpid()

    def dies(self: walker._Pass, unit: walker._Unit) -> tuple[object, ...]:
        if os.getpid() != parent:
            os._exit(9)
        return real(self, unit)

    monkeypatch.setattr(walker._Pass, "_state", dies)


def test_parallel_walk_gives_the_single_process_snapshot(tmp_path: Path) -> None:
    for source in _sources(tmp_path):
        alone = walk(source, default_analyzers())  # type: ignore[arg-type]
        together = walk(source, default_analyzers(), offload=True)  # type: ignore[arg-type]
        assert together == alone
        assert _no_children_left()
    # and what it found is what the layers say
    assert {s.path for s in alone.secrets} == {"/app/.env"}
    assert [e.name for e in alone.escapes] == ["../escape-early", "etc/evil", "/abs-late"]
    assert [p.name for p in alone.packages] == ["base-files"]  # type: ignore[union-attr]
    assert not alone.setuid_files


def test_workers_really_walk_the_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log_pieces(monkeypatch, tmp_path)
    source = _sources(tmp_path)[0]
    walk(source, default_analyzers(), offload=True)  # type: ignore[arg-type]
    pids = [line.split()[0] for line in log.read_text().splitlines()]
    parent = os.getpid()
    assert len(pids) == 4  # one piece per layer here
    assert str(parent) not in pids
    assert 2 <= len(set(pids)) <= 3  # three workers (see _always_fork)
    assert _no_children_left()


def test_a_dead_child_has_its_layer_walked_here(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source = _sources(tmp_path)[0]
    alone = walk(source, default_analyzers())  # type: ignore[arg-type]
    _workers_die(monkeypatch)
    assert walk(source, default_analyzers(), offload=True) == alone  # type: ignore[arg-type]
    assert _no_children_left()


def test_entry_limit_holds_across_layers_read_at_once(tmp_path: Path) -> None:
    files = [Image([layer_tar([f(f"l{i}/f{k}") for k in range(30)]) for i in range(4)])]
    path = docker_save(files[0], str(tmp_path / "many.tar"))
    with pytest.raises(LayerError, match="more than 100 entries"):
        walk(TarSource(path, "x"), [], limits=Limits(max_entries=100), offload=True)
    assert _no_children_left()
    snap = walk(TarSource(path, "x"), [], limits=Limits(max_entries=120), offload=True)
    assert snap.file_count == 120


def test_an_error_after_the_layers_leaves_no_child(tmp_path: Path) -> None:
    """An archive without its manifest: the layers are walked, then the order cannot
    be known."""
    path = docker_save(_image(), str(tmp_path / "i.tar"))
    cut = str(tmp_path / "cut.tar")
    with tarfile.open(path) as src, tarfile.open(cut, "w") as out:
        for m in src.getmembers():
            if m.name != "manifest.json":
                out.addfile(m, src.extractfile(m) if m.isfile() else None)
    with pytest.raises(InputError):
        walk(TarSource(cut, "x"), [], offload=True)
    assert _no_children_left()


def test_an_interrupted_walk_kills_its_children(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source = _sources(tmp_path)[0]

    def boom(self: offload.Pool, block: bool = True) -> object:
        assert self.busy  # workers are at work when the parent is interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(offload.Pool, "wait", boom)
    with pytest.raises(KeyboardInterrupt):
        walk(source, default_analyzers(), offload=True)  # type: ignore[arg-type]
    assert _no_children_left()


# --- one layer cut into pieces ---------------------------------------------------------

def _big_layer_image(embedded: bytes = b"") -> Image:
    """One layer of many small files (and, if given, a file holding a whole tar archive:
    blocks that read as headers in the middle of file data), then a second layer."""
    entries = [d("usr"), d("usr/share")]
    entries += [f(f"usr/share/f{i:04d}.txt", f"line {i}\n" * (i % 40)) for i in range(600)]
    if embedded:
        entries.insert(300, f("usr/share/nested.tar", embedded))
    entries += [d("etc"), f("etc/os-release", "ID=debian\n"), f("usr/share/f0001.txt", "again")]
    return Image([layer_tar(entries), layer_tar([f("usr/share/.wh.f0002.txt")])])


def _one_big_layer(tmp: Path) -> str:
    """A `docker save` tarball of the first layer of `_big_layer_image` alone."""
    return docker_save(Image([_big_layer_image().layers[0]]), str(tmp / "i.tar"))


@pytest.mark.parametrize("piece", [512, 4096, 20_000])
def test_a_layer_cut_into_pieces_gives_the_same_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int) -> None:
    monkeypatch.setattr(walker, "PIECE_MIN", piece)
    path = docker_save(_big_layer_image(), str(tmp_path / "i.tar"))
    alone = walk(TarSource(path, "x"), default_analyzers())
    cut = walk(TarSource(path, "x"), default_analyzers(), offload=True)
    assert cut == alone
    assert cut.file_count == 2 + 600 - 1 + 2
    assert _no_children_left()


def test_header_like_blocks_in_file_data_are_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file holding a tar archive: a piece that starts on one of its headers does not
    start where the piece before it stopped, and the rest of the layer is walked again
    from the true offset: nothing from inside the nested archive appears."""
    nested = layer_tar([f(f"inner/fake{i:03d}", "x" * 700) for i in range(400)])
    monkeypatch.setattr(walker, "PIECE_MIN", 4096)
    path = docker_save(_big_layer_image(nested), str(tmp_path / "i.tar"))
    alone = walk(TarSource(path, "x"), default_analyzers())
    log = tmp_path / "pieces.log"  # written by the children too
    real = walker._Pass._state

    def watch(self: walker._Pass, unit: walker._Unit) -> tuple[object, ...]:
        state = real(self, unit)
        with open(log, "a") as fh:
            fh.write(f"{unit.nth} {unit.trusted} {unit.start} {state[0]} {state[1]}\n")
        return state

    monkeypatch.setattr(walker._Pass, "_state", watch)
    cut = walk(TarSource(path, "x"), default_analyzers(), offload=True)
    assert cut == alone
    assert not any("inner" in e.name for e in cut.escapes)
    rows = [line.split() for line in log.read_text().splitlines()]
    assert len(rows) > 3
    assert any(r[1] != "None" for r in rows)  # a piece started in the nested archive: redone


def test_find_header(tmp_path: Path) -> None:
    from dockwarden.collect.image.tarstream import FileWindow, find_header
    data = layer_tar([f("a", "x" * 3000), f("b", b"ustar" * 400), f("c", "y")])
    p = tmp_path / "l.tar"
    p.write_bytes(b"\0" * 1024 + data)
    fd = os.open(p, os.O_RDONLY)
    try:
        w = FileWindow(fd, 1024, len(data))
        end = len(data)
        assert find_header(w, 0, end) == 0
        second = 512 + 3072  # after a's header and data
        assert find_header(w, 512, end) == second
        assert find_header(w, second, end) == second
        assert find_header(w, 512, second) is None  # none starts in a's data
        assert find_header(w, len(data) - 512, end) is None
    finally:
        os.close(fd)


@pytest.mark.parametrize("damage", ["checksum", "truncated"])
def test_a_damaged_layer_read_in_pieces_is_the_same_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """A header spoilt in the middle of a layer cut into pieces, or the layer cut short:
    the error a single process gives, no traceback, no worker left."""
    monkeypatch.setattr(walker, "PIECE_MIN", 4096)
    root = Path(oci_layout(_big_layer_image(), str(tmp_path / "oci"), compress="none"))
    blobs = root / "blobs" / "sha256"
    layer = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(layer.read_bytes())
    if damage == "checksum":
        at = data.find(b"usr/share/f0400.txt")
        assert at > 0 and at % 512 == 0
        data[at + 148:at + 156] = b"0000000\0"  # a wrong checksum
    else:
        data = data[: len(data) * 2 // 3]
    layer.write_bytes(bytes(data))  # (its digest no longer matches: not checked here)
    errors = []
    for parallel in (False, True):
        with pytest.raises(InputError) as info:
            walk(OCILayoutSource(str(root)), default_analyzers(), offload=parallel)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert "corrupt or truncated" in errors[0]
    assert _no_children_left()


# --- what the review of the pieces found ------------------------------------------------

@pytest.mark.parametrize("offload_on", [False, True])
def test_a_path_written_twice_in_one_layer_keeps_the_last_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offload_on: bool) -> None:
    """As extracting the layer would: the later copy replaces the earlier one, and what
    was found in (or linked from) the earlier copy goes with it, also when the two
    copies fall in different pieces."""
    monkeypatch.setattr(walker, "PIECE_MIN", 2048)
    filler = [f(f"app/pad{i:03d}.txt", "x" * 900) for i in range(60)]
    img = Image([
        layer_tar([d("app"), f("app/secret.py", f"TOKEN = '{GHP}'\n")]),
        layer_tar([Entry("app/copy.py", kind="hardlink", linkname="app/secret.py"),
                   f("app/settings.py", f"TOKEN = '{GHP}'\n"), *filler,
                   f("app/copy.py", "print('clean')\n"),
                   f("app/settings.py", "DEBUG = True\n")]),
    ])
    path = docker_save(img, str(tmp_path / "i.tar"))
    snap = walk(TarSource(path, "x"), default_analyzers(), offload=offload_on)
    assert [s.path for s in snap.secrets] == ["/app/secret.py"]


def test_more_layer_files_than_kept_open(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An OCI layout's layers are files of their own: past MAX_DEFERRED_FILES of them,
    layers are read at once, in this process, instead of keeping their files open."""
    monkeypatch.setattr(walker, "MAX_DEFERRED_FILES", 3)
    img = Image([layer_tar([d(f"l{i}"), f(f"l{i}/f", str(i))]) for i in range(12)])
    source = OCILayoutSource(oci_layout(img, str(tmp_path / "oci"), compress="none"))
    before = len(os.listdir("/proc/self/fd"))
    alone = walk(source, default_analyzers())
    assert walk(source, default_analyzers(), offload=True) == alone
    assert alone.file_count == 24
    assert len(os.listdir("/proc/self/fd")) == before
    assert _no_children_left()


def test_pieces_inside_one_big_member_are_dropped_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces that fall inside one large file find no header in their first SCAN_MAX
    bytes, and are dropped once the piece before has walked past that file; the piece
    where the file ends is walked again from the header after it."""
    monkeypatch.setattr(walker, "PIECE_MIN", 64 << 10)
    monkeypatch.setattr(walker, "SCAN_MAX", 16 << 10)
    big = os.urandom(1 << 20) * 3  # 3 MiB in one member
    img = Image([layer_tar([f("a.txt", "a"), f("model.bin", big), f("z.txt", "z")])])
    path = docker_save(img, str(tmp_path / "i.tar"))
    alone = walk(TarSource(path, "x"), default_analyzers())
    assert walk(TarSource(path, "x"), default_analyzers(), offload=True) == alone
    assert alone.file_count == 3


# --- a mid-sized image: one piece per CPU, this process walking one --------------------

@pytest.fixture()
def _shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between SHARE_MIN and FORK_MIN: workers for all CPUs but one, and this process."""
    monkeypatch.setattr(walker, "SHARE_MIN", 0)
    monkeypatch.setattr(walker, "FORK_MIN", 1 << 62)
    monkeypatch.setattr(walker, "_cpus", lambda: 2)


@pytest.mark.usefixtures("_shared")
def test_a_shared_walk_gives_the_single_process_snapshot(tmp_path: Path) -> None:
    sources = [*_sources(tmp_path),
               TarSource(docker_save(_big_layer_image(), str(tmp_path / "big.tar")), "x")]
    for source in sources:
        alone = walk(source, default_analyzers())  # type: ignore[arg-type]
        assert walk(source, default_analyzers(), offload=True) == alone  # type: ignore[arg-type]
        assert _no_children_left()


@pytest.mark.usefixtures("_shared")
def test_a_shared_walk_cuts_one_layer_in_pieces(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log_pieces(monkeypatch, tmp_path)
    parent = os.getpid()
    path = _one_big_layer(tmp_path)
    alone = walk(TarSource(path, "x"), default_analyzers())
    assert not log.exists()  # one process, no pieces
    assert walk(TarSource(path, "x"), default_analyzers(), offload=True) == alone
    walked = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(nth) for _, nth in walked) == list(range(8))  # four per CPU
    assert {pid for pid, _ in walked} - {str(parent)}  # one by the worker
    assert str(parent) in {pid for pid, _ in walked}  # and one here
    assert _no_children_left()


@pytest.mark.usefixtures("_shared")
def test_a_shared_walk_survives_its_worker(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source = TarSource(docker_save(_big_layer_image(), str(tmp_path / "i.tar")), "x")
    alone = walk(source, default_analyzers())
    _workers_die(monkeypatch)
    assert walk(source, default_analyzers(), offload=True) == alone
    assert _no_children_left()


def _pid_after(k: int, trusted: int) -> tuple[int, int, int]:
    return (k, trusted, os.getpid())


def test_a_pool_worker_runs_queued_tasks_in_order() -> None:
    pool = offload.Pool(_pid_after, 1)
    try:
        pool.submit(0, (1, -1))
        pool.submit(0, (2, 5))  # sent before the first is done: queued behind it
        assert pool.working(2) == [0] and not pool.idle()
        got = []
        while pool.busy:
            got += pool.wait()
        assert [task for task, _ in got] == [(1, -1), (2, 5)]
        assert [value[:2] for _, value in got] == [(1, -1), (2, 5)]
        assert {value[2] for _, value in got} - {os.getpid()}  # in the worker
        assert pool.idle() == [0]
    finally:
        pool.close()
    assert _no_children_left()


def _sleep(k: int, trusted: int) -> int:
    time.sleep(60)
    return k


def test_a_dead_pool_worker_loses_every_task_it_held() -> None:
    pool = offload.Pool(_sleep, 1)
    try:
        pool.submit(0, (1, -1))
        pool.submit(0, (2, -1))
        os.kill(pool._workers[0][0], 9)
        got = pool.wait()
        assert [task for task, _ in got] == [(1, -1), (2, -1)]
        assert all(isinstance(value, EOFError) for _, value in got)
        assert not pool.busy and not pool.idle()  # it takes no more
    finally:
        pool.close()
    assert _no_children_left()


@pytest.mark.usefixtures("_shared")
def test_meanwhile_runs_once_while_the_worker_walks(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log_pieces(monkeypatch, tmp_path)
    parent = str(os.getpid())
    path = _one_big_layer(tmp_path)
    here_before: list[int] = []

    def meanwhile() -> None:
        lines = log.read_text().splitlines() if log.exists() else []
        here_before.append(sum(1 for line in lines if line.split()[0] == parent))

    alone = walk(TarSource(path, "x"), default_analyzers(), meanwhile=meanwhile)
    assert here_before == []  # one process: nothing to overlap, not run
    assert walk(TarSource(path, "x"), default_analyzers(), offload=True,
                meanwhile=meanwhile) == alone
    assert here_before == [0]  # once, before this process walked a piece
    assert _no_children_left()


def test_the_image_command_loads_its_checks_while_the_worker_walks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockwarden import cli
    from dockwarden.commands import image as image_command

    calls: list[str] = []
    real = image_command.load_image_checks
    monkeypatch.setattr(image_command, "load_image_checks",
                        lambda: (calls.append("x"), real())[1])
    monkeypatch.setattr(walker, "FORK_MIN", 1 << 62)
    monkeypatch.setattr(walker, "_cpus", lambda: 2)
    path = docker_save(_big_layer_image(), str(tmp_path / "i.tar"))
    out = tmp_path / "r.json"
    assert cli.main(["image", "--tar", path, "--format", "json", "--no-progress",
                     "--fail-on", "none", "-o", str(out)]) == 0
    assert calls == ["x", "x"]  # during the walk, then again after it (a no-op)
    report = json.loads(out.read_text())
    assert report["complete"] and any(f["check"].startswith("DW3") for f in report["findings"])


@pytest.mark.usefixtures("_shared")
def test_a_worker_gets_pieces_while_this_process_walks_one(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Between entries of a piece walked here (`_tick`), the workers' results are taken
    in and they are given their next pieces: a worker does not wait for it to end."""
    monkeypatch.setattr(walker, "TICK", 1)
    log = tmp_path / "log"
    real, parent = walker._Pass._state, os.getpid()

    first = [True]

    def slow_here(self: walker._Pass, unit: walker._Unit) -> tuple[object, ...]:
        here = os.getpid() == parent
        slow = here and first[0]
        if slow:
            first[0] = False
            time.sleep(0.3)  # the worker walks the two pieces it was given meanwhile
        with open(log, "a") as fh:
            fh.write(f"{'here' if here else 'worker'} start {time.monotonic()}\n")
        state = real(self, unit)
        if slow:
            time.sleep(0.3)  # time for the worker to start what this piece's ticks gave it
        with open(log, "a") as fh:
            fh.write(f"{'here' if here else 'worker'} end {time.monotonic()}\n")
        return state

    monkeypatch.setattr(walker._Pass, "_state", slow_here)
    path = _one_big_layer(tmp_path)
    alone = walk(TarSource(path, "x"), default_analyzers())
    assert walk(TarSource(path, "x"), default_analyzers(), offload=True) == alone
    events = [line.split() for line in log.read_text().splitlines()]
    here_ends = [float(t) for who, what, t in events if (who, what) == ("here", "end")]
    starts = sorted(float(t) for who, what, t in events if (who, what) == ("worker", "start"))
    assert len(starts) > 2 and starts[2] < min(here_ends)  # its third before our first ends
    assert _no_children_left()
