"""Layers of a file-backed image walked at once in forked children (walker._Pass._drain):
the snapshot is the one a single process makes, a child that dies has its layer walked
again by the parent, limits still hold across layers, and no child outlives the walk."""

from __future__ import annotations

import os
import tarfile
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
    """Children even for tiny images, two at once even on a 2-CPU machine."""
    monkeypatch.setattr(walker, "FORK_MIN", 0)
    monkeypatch.setattr(walker, "_cpus", lambda: 3)


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


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


def test_children_really_walk_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forked: list[int] = []
    real = offload.Forked

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, fn: object) -> None:
            forked.append(1)
            super().__init__(fn)  # type: ignore[arg-type]

    monkeypatch.setattr(walker, "Forked", Counting)
    source = _sources(tmp_path)[0]
    walk(source, default_analyzers(), offload=True)  # type: ignore[arg-type]
    assert len(forked) >= 2  # two at once, then more as they finish


def test_a_dead_child_has_its_layer_walked_here(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source = _sources(tmp_path)[0]
    alone = walk(source, default_analyzers())  # type: ignore[arg-type]
    monkeypatch.setattr(walker._Pass, "_alone", lambda self, slot, blob: os._exit(9))
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
    real = walker._Pass._layer
    parent = os.getpid()

    def boom(self: walker._Pass, slot: int, blob: object) -> None:
        if os.getpid() == parent:  # the parent's own share of the work
            raise KeyboardInterrupt
        real(self, slot, blob)  # type: ignore[arg-type]

    monkeypatch.setattr(walker._Pass, "_layer", boom)
    with pytest.raises(KeyboardInterrupt):
        walk(source, default_analyzers(), offload=True)  # type: ignore[arg-type]
    assert _no_children_left()
