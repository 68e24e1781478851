"""The single streaming pass: layer order, whiteouts, opaque directories, sources and
hostile layers (escapes, bombs, corrupt data)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import resource
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView
from dockwarden.collect.image.source import OCILayoutSource, TarSource
from dockwarden.collect.image.walker import LayerError, Limits, walk
from dockwarden.errors import InputError
from dockwarden.model.image import Package
from harness.imagebuild import Image, d, docker_save, f, layer_tar, oci_layout, sym, tar_directory


class Recorder:
    """Treats every file under /pkgs as a package named after its content."""

    name = "recorder"
    max_bytes = 1024

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.startswith("/pkgs/")

    def analyze(self, path: str, data: bytes) -> object | None:
        return data.decode()

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(packages=tuple(
            Package("test", str(r.value), "1", r.layer, path) for path, r in results.items()))


def _walk(image: Image, tmp: Path, how: str = "save") -> object:
    if how == "save":
        return walk(TarSource(docker_save(image, str(tmp / "i.tar")), "x"), [Recorder()])
    if how == "oci":
        return walk(OCILayoutSource(oci_layout(image, str(tmp / "oci"))), [Recorder()])
    if how == "oci-tar":
        root = oci_layout(image, str(tmp / "oci2"))
        return walk(TarSource(tar_directory(root, str(tmp / "oci.tar")), "x"), [Recorder()])
    raise AssertionError(how)


LAYERED = Image([
    layer_tar([d("pkgs"), f("pkgs/a", "alpha"), f("pkgs/b", "beta"), d("etc"),
               f("etc/secret", "x"), d("opt"), d("opt/old"), f("opt/old/keep", "k")]),
    layer_tar([f("pkgs/.wh.a"), f("etc/.wh.secret"), f("pkgs/c", "gamma"),
               d("opt/old"), f("opt/old/.wh..wh..opq"), f("opt/old/new", "n")]),
    layer_tar([f("pkgs/b", "beta2"), f("pkgs/a", "alpha-again")]),
])


@pytest.mark.parametrize("how", ["save", "oci", "oci-tar"])
def test_whiteouts_and_opaque_directories(tmp_path: Path, how: str) -> None:
    snap = _walk(LAYERED, tmp_path, how)
    pkgs = {p.name: p.layer for p in snap.packages}  # type: ignore[attr-defined]
    # a: added in 0, deleted in 1, re-added in 2; b: replaced in 2; c: added in 1.
    assert pkgs == {"alpha-again": 2, "beta2": 2, "gamma": 1}
    paths = {f.path for f in snap.setuid_files}  # type: ignore[attr-defined]
    assert not paths
    assert snap.file_count == 8  # type: ignore[attr-defined]
    assert [layer.entries for layer in snap.layers] == [8, 3, 2]  # type: ignore[attr-defined]


def test_deleted_file_is_gone_from_final_view(tmp_path: Path) -> None:
    img = Image([layer_tar([d("pkgs"), f("pkgs/secret", "leaked")]),
                 layer_tar([f("pkgs/.wh.secret")])])
    snap = _walk(img, tmp_path)
    assert list(snap.packages) == []  # type: ignore[attr-defined]
    assert snap.file_count == 1  # type: ignore[attr-defined]


def test_order_comes_from_the_manifest_not_the_stream(tmp_path: Path) -> None:
    """docker save lists layers by name; the archive may hold them in any order."""
    layers = [layer_tar([d("pkgs"), f("pkgs/p", "first")]), layer_tar([f("pkgs/p", "second")])]
    path = docker_save(Image(layers), str(tmp_path / "i.tar"))
    with tarfile.open(path) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                   for m in tf.getmembers()]
    reordered = str(tmp_path / "r.tar")
    with tarfile.open(reordered, "w") as out:
        for m, data in [members[1], members[0], *members[2:]]:
            out.addfile(m, io.BytesIO(data))
    snap = walk(TarSource(reordered, "x"), [Recorder()])
    assert [p.name for p in snap.packages] == ["second"]  # type: ignore[union-attr]


def test_special_files(tmp_path: Path) -> None:
    img = Image([layer_tar([
        d("usr"), d("usr/bin"), f("usr/bin/su", "x", 0o4755), f("usr/bin/wall", "x", 0o2755),
        f("usr/bin/sudo", "x", 0o4755), d("tmp", 0o1777), d("data", 0o777),
        f("data/open", "x", 0o666), sym("usr/bin/link", "su"),
        d("dev"), __import__("harness.imagebuild").imagebuild.Entry("dev/sda", kind="block"),
    ])])
    snap = _walk(img, tmp_path)
    assert [x.path for x in snap.setuid_files] == [  # type: ignore[attr-defined]
        "/usr/bin/su", "/usr/bin/sudo", "/usr/bin/wall"]
    assert [x.path for x in snap.world_writable] == ["/data", "/data/open"]  # type: ignore[attr-defined]
    assert [x.path for x in snap.devices] == ["/dev/sda"]  # type: ignore[attr-defined]
    assert "/usr/bin/sudo" in snap.present  # type: ignore[attr-defined]


def test_hostile_entries_are_reported_and_nothing_is_written(tmp_path: Path) -> None:
    from harness.imagebuild import Entry
    img = Image([layer_tar([
        f("../../escape-dotdot", "x"), f("/abs-escape", "x"), d("etc"),
        sym("etc/evil", "../../../../../etc/shadow"), sym("etc/fine", "/etc/passwd"),
        Entry("etc/hard", kind="hardlink", linkname="../../outside"),
        f("ok", "fine"),
    ])])
    before = set(os.listdir("/"))
    cwd_before = set(os.listdir(tmp_path))
    snap = _walk(img, tmp_path)
    reasons = sorted((e.name, e.reason) for e in snap.escapes)  # type: ignore[attr-defined]
    assert reasons == [
        ("../../escape-dotdot", "'..' in path"),
        ("/abs-escape", "absolute path"),
        ("etc/evil", "link target outside the root"),
        ("etc/hard", "hard link target outside the root"),
    ]
    assert set(os.listdir("/")) == before
    assert set(os.listdir(tmp_path)) - cwd_before == {"i.tar"}  # only the archive we wrote
    assert not (tmp_path.parent / "escape-dotdot").exists()


def test_gzip_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    # 64 MiB of zeros compresses to ~64 KiB; with a low floor it is refused as a bomb.
    ti = tarfile.TarInfo("zeros")
    ti.size = 64 << 20
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        tf.addfile(ti, io.BytesIO(bytes(ti.size)))
    layer = gzip.compress(raw.getvalue(), compresslevel=9)
    assert len(layer) < 200_000
    root = oci_layout(Image([raw.getvalue()]), str(tmp_path / "oci"))
    # replace the layer blob with our pre-compressed bomb (same content, maximal ratio)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LayerError, match="decompression bomb"):
        walk(OCILayoutSource(root), [], limits=Limits(bomb_floor=8 << 20, max_ratio=100))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown < 64 << 10  # KiB: far less than the 64 MiB the layer expands to


def test_corrupt_layer_is_a_clear_error(tmp_path: Path) -> None:
    root = oci_layout(Image([layer_tar([f("a", os.urandom(20000))])]), str(tmp_path / "oci"))
    blobs = Path(root, "blobs", "sha256")
    layer = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = layer.read_bytes()
    layer.write_bytes(data[: len(data) // 2])  # truncated gzip stream
    with pytest.raises(InputError, match="corrupt or truncated"):
        walk(OCILayoutSource(root), [])


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tf:
        ti = tarfile.TarInfo("hello.txt")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"hi"))
    with pytest.raises(InputError, match="not an image archive"):
        walk(TarSource(str(path), "x"), [])
    garbage = tmp_path / "g.tar"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(InputError):
        walk(TarSource(str(garbage), "x"), [])


def test_zstd_layers_and_platform_choice(tmp_path: Path) -> None:
    pytest.importorskip("zstandard")
    img = Image([layer_tar([d("pkgs"), f("pkgs/z", "zstd")])])
    root = oci_layout(img, str(tmp_path / "oci"), compress="zstd",
                      extra_platforms=["linux/arm64"])
    snap = walk(OCILayoutSource(root, platform="linux/arm64"), [Recorder()])
    assert [p.name for p in snap.packages] == ["zstd"]  # type: ignore[union-attr]
    with pytest.raises(InputError, match="no manifest for platform linux/s390x"):
        walk(OCILayoutSource(root, platform="linux/s390x"), [])


def test_many_files_memory_is_bounded_by_entries(tmp_path: Path) -> None:
    n = 50_000
    entries = [d("many")] + [f(f"many/{i:06d}", b"") for i in range(n)]
    snap = walk(TarSource(docker_save(Image([layer_tar(entries)]), str(tmp_path / "m.tar")),
                          "x"), [])
    assert snap.file_count == n + 1


def test_symlink_resolution_stays_inside(tmp_path: Path) -> None:
    from dockwarden.collect.image.walker import Final, _View

    def mk(path: str, kind: str = "file", link: str = "") -> tuple[str, Final]:
        return path, (kind, 0o644, 0, 0, 0, 0, link)

    view = _View(dict([
        mk("/usr", "dir"), mk("/usr/lib", "dir"), mk("/usr/lib/os-release"),
        mk("/etc", "dir"), mk("/etc/os-release", "symlink", "../usr/lib/os-release"),
        mk("/lib", "symlink", "usr/lib"), mk("/loop", "symlink", "/loop"),
        mk("/up", "symlink", "../../../../usr/lib/os-release"),
    ]))
    assert view.resolve("/etc/os-release").path == "/usr/lib/os-release"  # type: ignore[union-attr]
    assert view.resolve("/lib/os-release").path == "/usr/lib/os-release"  # type: ignore[union-attr]
    assert view.resolve("/up").path == "/usr/lib/os-release"  # type: ignore[union-attr]
    assert view.resolve("/loop") is None
    assert view.resolve("/nope") is None


class Sizes:
    """Records how many bytes of each wanted file it was given (text_only)."""

    name = "sizes"
    max_bytes = 1 << 20
    text_only = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.startswith("/app/")

    def analyze(self, path: str, data: bytes) -> object | None:
        return len(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(packages=tuple(
            Package("size", path, str(r.value), r.layer, path) for path, r in results.items()))


def test_text_only_analyzers_get_the_head_of_binary_files(tmp_path: Path) -> None:
    binary = b"\x7fELF\x00" + b"x" * (300 << 10)
    text = b"y" * (300 << 10)
    image = Image([layer_tar([d("app"), f("app/bin", binary), f("app/conf", text)])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"), [Sizes()])
    sizes = {p.name: int(p.version) for p in snap.packages}  # type: ignore[union-attr]
    assert sizes == {"/app/bin": 8192, "/app/conf": 300 << 10}


def _status(*names: str) -> bytes:
    return b"".join(f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\n"
                    f"Version: 1.0\n\n".encode() for n in names)


def test_package_layer_is_where_it_was_first_installed(tmp_path: Path) -> None:
    """Every layer that installs something rewrites the dpkg status file: a package
    comes from the lowest layer of the unbroken run of copies that list it."""
    from dockwarden.collect.image.pkg.dpkg import DpkgAnalyzer

    st = "var/lib/dpkg/status"
    img = Image([
        layer_tar([d("var"), d("var/lib"), d("var/lib/dpkg"),
                   f(st, _status("base", "gone-then-back"))]),
        layer_tar([f(st, _status("base", "curl"))]),
        layer_tar([f(st, _status("base", "curl", "gone-then-back", "vim"))]),
    ])
    snap = walk(TarSource(docker_save(img, str(tmp_path / "i.tar")), "x"), [DpkgAnalyzer()])
    assert sorted((p.name, p.layer) for p in snap.packages) == [  # type: ignore[union-attr]
        ("base", 0), ("curl", 1), ("gone-then-back", 2), ("vim", 2)]


class Streamer:
    """A streaming analyzer (`analyze_stream`): reads the whole member in odd pieces
    and gives its length and digest, holding one piece at a time."""

    name = "streamer"
    max_bytes = 16  # the bytes path (never used while it streams)

    def __init__(self, piece: int = 4093) -> None:
        self.piece = piece

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.startswith("/pkgs/")

    def analyze(self, path: str, data: bytes) -> object | None:
        raise AssertionError("a streaming analyzer is not handed bytes")

    def analyze_stream(self, path: str, size: int, read: Callable[[int], bytes]) -> object:
        digest, total = hashlib.sha256(), 0
        while True:
            part = read(self.piece)
            assert len(part) <= self.piece
            if not part:
                break
            digest.update(part)
            total += len(part)
        assert read(10) == b""
        return (size, total, digest.hexdigest())

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(packages=tuple(
            Package("stream", str(r.value), "1", r.layer, path)
            for path, r in results.items()))


class Head(Recorder):
    name = "head"
    max_bytes = 100

    def analyze(self, path: str, data: bytes) -> object | None:
        return hashlib.sha256(data).hexdigest()


class PartStreamer(Streamer):
    """Reads 10 bytes only: the walker skips the rest of the member."""

    name = "part"

    def analyze_stream(self, path: str, size: int, read: Callable[[int], bytes]) -> object:
        part = read(10)
        return part.decode() if part.isascii() else part.hex()


@pytest.mark.parametrize("piece", [1, 7, 100, 4093, 1 << 20])
def test_streaming_analyzer_reads_the_member_after_the_others_head(
        tmp_path: Path, piece: int) -> None:
    """A streaming analyzer gets the whole member through `read(n)` (the head the other
    analyzers read replayed first), the other analyzers their bytes, and the members
    after it are read as usual."""
    big = b"\xff" + os.urandom(299_999)  # not ASCII: PartStreamer gives it as hex
    image = Image([layer_tar([d("pkgs"), f("pkgs/big", big), f("pkgs/small", "tiny"),
                              f("pkgs/empty", b""), f("pkgs/zz", "after")])])
    tar = docker_save(image, str(tmp_path / "i.tar"))
    snap = walk(TarSource(tar, "x"), [Head(), Streamer(piece)])
    got = {(p.type, p.path): p.name for p in snap.packages}
    for path, content in (("/pkgs/big", big), ("/pkgs/small", b"tiny"), ("/pkgs/empty", b""),
                          ("/pkgs/zz", b"after")):
        digest = hashlib.sha256(content).hexdigest()
        assert got[("stream", path)] == str((len(content), len(content), digest))
        assert got[("test", path)] == hashlib.sha256(content[:100]).hexdigest()
    # alone, and reading only part of each member: the walker skips the rest
    snap = walk(TarSource(tar, "x"), [PartStreamer()])
    assert sorted((p.path, p.name) for p in snap.packages) == [
        ("/pkgs/big", big[:10].hex()), ("/pkgs/empty", ""), ("/pkgs/small", "tiny"),
        ("/pkgs/zz", "after")]


class AppStreamer(Streamer):
    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.startswith("/app/")


def test_streaming_beside_a_text_only_analyzer(tmp_path: Path) -> None:
    """The text-only analyzer reads the head of a binary file only; the streaming one
    still gets every byte."""
    binary = b"\x7fELF\x00" + os.urandom(300 << 10)
    image = Image([layer_tar([d("app"), f("app/bin", binary)])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [Sizes(), AppStreamer()])
    got = {p.type: p for p in snap.packages}
    assert got["size"].version == "8192"
    assert got["stream"].name == str((len(binary), len(binary),
                                      hashlib.sha256(binary).hexdigest()))


class Failing(Streamer):
    name = "failing"

    def analyze_stream(self, path: str, size: int, read: Callable[[int], bytes]) -> object:
        read(3)
        raise ValueError("boom")


def test_streaming_analyzer_failure_is_skipped_not_fatal(tmp_path: Path) -> None:
    """An exception out of `analyze_stream` (it must not raise, but) is a skipped entry:
    the pass goes on, and the other analyzers still see every file."""
    image = Image([layer_tar([d("pkgs"), f("pkgs/a", "alpha"), f("pkgs/b", "beta")])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [Failing(), Recorder()])
    assert sorted(p.name for p in snap.packages) == ["alpha", "beta"]
    assert sorted(snap.skipped) == [("failing", "/pkgs/a: ValueError: boom"),
                                    ("failing", "/pkgs/b: ValueError: boom")]


# --- the scanner hook (`scanner(path, size) -> Scanner`): pushed the whole member ---

class _Digest:
    """A `Scanner` keeping the length and digest of what it was fed, and the chunk
    sizes (stopping after `stop` bytes when set)."""

    def __init__(self, size: int, stop: int = 0) -> None:
        self.size, self.stop = size, stop
        self.digest, self.total, self.chunks = hashlib.sha256(), 0, 0

    def feed(self, chunk: bytes) -> bool:
        assert chunk and not (self.stop and self.total >= self.stop)
        self.digest.update(chunk)
        self.total += len(chunk)
        self.chunks += 1
        return not (self.stop and self.total >= self.stop)

    def result(self) -> object | None:
        return (self.size, self.total, self.digest.hexdigest())


class Scanning(Recorder):
    """An analyzer scanning /pkgs/ files (and /pkgs/asbytes as bytes: `scanner` says
    None); `stop`: wants only that many bytes."""

    name = "scanning"
    max_bytes = 64

    def __init__(self, stop: int = 0) -> None:
        self.stop = stop
        self.scanned: list[_Digest] = []

    def scanner(self, path: str, size: int) -> _Digest | None:
        if path == "/pkgs/asbytes":
            return None
        found = _Digest(size, self.stop)
        self.scanned.append(found)
        return found

    def analyze(self, path: str, data: bytes) -> object | None:
        return f"bytes:{len(data)}"

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(packages=tuple(
            Package("scan", str(r.value), "1", r.layer, path) for path, r in results.items()))


def _members() -> list[tuple[str, bytes]]:
    return [("/pkgs/big", b"\xff" + os.urandom(3 << 20)), ("/pkgs/small", b"tiny"),
            ("/pkgs/empty", b""), ("/pkgs/odd", os.urandom(1_000_003)),
            ("/pkgs/zz", b"after")]


def _digest(content: bytes) -> str:
    return str((len(content), len(content), hashlib.sha256(content).hexdigest()))


@pytest.mark.parametrize("piece", [0, 1, 4093, 1 << 20])
def test_scanner_is_fed_the_whole_member_in_order(tmp_path: Path, piece: int) -> None:
    """A scanner gets every byte of the member, in order: alone (the walker reads the
    member in chunks), beside a pull streamer (the chunks it reads, then the rest), and
    beside a bytes analyzer (its head replayed); the others get what they got before."""
    members = _members()
    image = Image([layer_tar([d("pkgs"), *[f(p.lstrip("/"), c) for p, c in members],
                              f("pkgs/asbytes", "via analyze")])])
    tar = docker_save(image, str(tmp_path / "i.tar"))
    others: list[object] = [] if piece == 0 else [Head(), Streamer(piece)]
    scanning = Scanning()
    snap = walk(TarSource(tar, "x"), [scanning, *others])  # type: ignore[list-item]
    got = {(p.type, p.path): p.name for p in snap.packages}
    for path, content in members:
        assert got[("scan", path)] == _digest(content)
        if others:
            assert got[("stream", path)] == _digest(content)
            assert got[("test", path)] == hashlib.sha256(content[:100]).hexdigest()
    assert got[("scan", "/pkgs/asbytes")] == "bytes:11"  # `scanner` said None
    # the walker's own chunks: at most 1 MiB each
    big = next(s for s in scanning.scanned if s.size == len(members[0][1]))
    assert big.chunks >= 4 if piece in (0, 1 << 20) else big.chunks > 4
    assert snap.skipped == ()


def test_scanner_beside_a_streamer_that_stops_early(tmp_path: Path) -> None:
    """The streamer reads 10 bytes only: the walker feeds the scanner the rest."""
    members = _members()
    image = Image([layer_tar([d("pkgs"), *[f(p.lstrip("/"), c) for p, c in members]])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [PartStreamer(), Scanning()])
    got = {(p.type, p.path): p.name for p in snap.packages}
    for path, content in members:
        assert got[("scan", path)] == _digest(content)
        assert got[("stream", path)] == (content[:10].decode() if content[:10].isascii()
                                         else content[:10].hex())


def test_scanner_that_wants_no_more_is_not_fed_more(tmp_path: Path) -> None:
    members = _members()
    image = Image([layer_tar([d("pkgs"), *[f(p.lstrip("/"), c) for p, c in members]])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [Scanning(stop=5000), Streamer(4093)])
    got = {(p.type, p.path): p.name for p in snap.packages}
    for path, content in members:
        assert got[("stream", path)] == _digest(content)  # the streamer still gets it all
        fed = content[:max(5000, min(len(content), 4093 * 2))] if len(content) > 5000 \
            else content
        assert got[("scan", path)] == str((len(content), len(fed),
                                           hashlib.sha256(fed).hexdigest()))


class _Raising(_Digest):
    def __init__(self, size: int, where: str) -> None:
        super().__init__(size)
        self.where = where

    def feed(self, chunk: bytes) -> bool:
        if self.where == "feed" and self.total > 2 << 20:
            raise ValueError("boom in feed")
        return super().feed(chunk)

    def result(self) -> object | None:
        if self.where == "result":
            raise ValueError("boom in result")
        return super().result()


class FailingScanner(Scanning):
    name = "failscan"

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def scanner(self, path: str, size: int) -> _Digest | None:
        if self.where == "scanner":
            raise ValueError("boom in scanner")
        return _Raising(size, self.where)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(packages=tuple(
            Package("failscan", str(r.value), "1", r.layer, path)
            for path, r in results.items()))


@pytest.mark.parametrize("where", ["scanner", "feed", "result"])
def test_failing_scanner_is_a_skipped_entry(tmp_path: Path, where: str) -> None:
    """An exception out of a scanner (making it, feeding it, its result) is a skipped
    entry for that file: the pass goes on, the other analyzers and scanners see every
    byte of every file."""
    members = _members()
    image = Image([layer_tar([d("pkgs"), *[f(p.lstrip("/"), c) for p, c in members]])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [FailingScanner(where), Scanning(), Streamer(4093), Head()])
    got = {(p.type, p.path): p.name for p in snap.packages}
    for path, content in members:
        assert got[("scan", path)] == _digest(content)
        assert got[("stream", path)] == _digest(content)
        assert got[("test", path)] == hashlib.sha256(content[:100]).hexdigest()
    failed = [path for path, c in members if where != "feed" or len(c) > (2 << 20)]
    assert sorted(snap.skipped) == sorted(
        ("failscan", f"{path}: ValueError: boom in {where}") for path in failed)
    # the files whose scanner did not fail have its result, the others none
    assert sorted(p.path for p in snap.packages if p.type == "failscan") == sorted(
        path for path, _ in members if path not in failed)
