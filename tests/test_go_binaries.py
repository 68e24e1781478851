"""Go executables of any size: a program built here (Debian's golang-go, no network:
GOPROXY=off, its one dependency vendored in tests/data/gobin/app) with a 70 MB embedded
asset, so that its build information lies 70 MB into the file (past the old 64 MiB read
bound), and `-X main.version=v1.2.3`; built three ways (plain; `-trimpath
-buildvcs=false`; that stripped with `-s -w`). What dockwarden reads must equal
`go version -m`. The built binaries are cached under the temp dir, keyed by the hash of
the sources and the toolchain version."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from dockwarden.collect.image.analyzer import FileResult
from dockwarden.collect.image.pkg import GoBinaryAnalyzer, golang
from dockwarden.collect.image.pkg._common import Unreadable
from dockwarden.collect.image.source import TarSource
from dockwarden.collect.image.walker import walk
from dockwarden.model.image import Package
from dockwarden.report import cyclonedx, spdx
from harness.imagebuild import Image, d, docker_save, f, layer_tar

SOURCE = Path(__file__).parent / "data" / "gobin" / "app"
ASSET = 70 * 1000 * 1000
BUILDS = {
    "plain": ["-ldflags", "-X main.version=v1.2.3"],
    "trimpath": ["-trimpath", "-buildvcs=false", "-ldflags", "-X main.version=v1.2.3"],
    "stripped": ["-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version=v1.2.3"],
}

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")


def _key() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    toolchain = subprocess.run(["go", "version"], capture_output=True, text=True,
                               check=True).stdout
    digest.update(toolchain.encode() + repr(sorted(BUILDS.items())).encode())
    return digest.hexdigest()[:16]


def _asset(path: Path) -> None:
    """70 MB that do not compress to nothing (a block of random bytes repeated)."""
    block = hashlib.sha256(b"dockwarden").digest() * 4096
    with open(path, "wb") as out:
        left = ASSET
        while left:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    cache = Path(tempfile.gettempdir()) / f"dockwarden-gobin-{_key()}"
    if not all((cache / name).is_file() for name in BUILDS):
        work = Path(tempfile.mkdtemp(prefix="dockwarden-gobuild-"))
        try:
            shutil.copytree(SOURCE, work / "app")
            _asset(work / "app" / "asset.bin")
            env = {**os.environ, "GOFLAGS": "-mod=vendor", "GOPROXY": "off",
                   "CGO_ENABLED": "0", "GOCACHE": str(work / "cache"), "GO111MODULE": "on"}
            out = work / "out"
            out.mkdir()
            for name, flags in BUILDS.items():
                subprocess.run(["go", "build", *flags, "-o", str(out / name), "."],
                               cwd=work / "app", env=env, check=True, timeout=600,
                               capture_output=True)
            if cache.exists():
                shutil.rmtree(cache)
            os.replace(out, cache)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {name: cache / name for name in BUILDS}


def _go_version_m(binary: Path) -> tuple[str, golang.GoBuildInfo]:
    shown = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True,
                           text=True, check=True).stdout
    head, *lines = shown.splitlines()
    version = head.rpartition(": ")[2]
    text = "\n".join(line[1:] for line in lines)
    main, deps = golang.parse_modinfo(text)
    path, settings = golang.parse_extras(text)
    return text, golang.GoBuildInfo(version, main, deps, path, settings)


@needs_go
@pytest.mark.parametrize("name", list(BUILDS))
def test_large_go_binary_equals_go_version_m(built: dict[str, Path], name: str) -> None:
    binary = built[name]
    data = binary.read_bytes()
    assert len(data) > 64 * 1024 * 1024
    assert data.find(golang.MAGIC) > ASSET  # the build info lies past the asset
    _, truth = _go_version_m(binary)
    info = golang.parse_buildinfo(data)
    assert info is not None and info._replace(version="") == truth
    assert truth.main == golang.GoModule("example.com/app", "(devel)")
    assert truth.deps == (golang.GoModule("example.com/greet", "v0.3.1"),)
    modules = golang.modules_of(info)
    assert modules[0] == golang.GoModule("stdlib", golang.stdlib_version(truth.go_version))
    assert modules[2:] == [golang.GoModule("example.com/greet", "v0.3.1")]
    # With -ldflags in the build info (not -trimpath), its -X version is the main
    # version; -trimpath drops -ldflags from it and the internal linker lays the -X
    # string apart: the version stays unknown, never a wrong one.
    expected = "v1.2.3" if name == "plain" else ""
    assert modules[1] == golang.GoModule("example.com/app", expected)


@needs_go
def test_large_go_binary_through_the_walker(built: dict[str, Path], tmp_path: Path) -> None:
    data = built["plain"].read_bytes()
    image = Image([layer_tar([d("app"), f("app/server", data, mode=0o755)])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [GoBinaryAnalyzer()])
    assert isinstance(snap.packages, tuple)
    got = sorted((p.name, p.version, p.path) for p in snap.packages)
    _, truth = _go_version_m(built["plain"])
    assert got == sorted([
        ("example.com/app", "v1.2.3", "/app/server"),
        ("example.com/greet", "v0.3.1", "/app/server"),
        ("stdlib", golang.stdlib_version(truth.go_version), "/app/server"),
    ])


@needs_go
def test_go_binary_cut_short_is_skipped_with_the_reason(built: dict[str, Path]) -> None:
    data = built["stripped"].read_bytes()
    analyzer = GoBinaryAnalyzer()
    analyzer.max_bytes = 8 * 1024 * 1024  # a read bound below the build info's offset
    value = analyzer.analyze("/app/server", data[: analyzer.max_bytes])
    assert isinstance(value, Unreadable) and "past" in value.reason
    out = analyzer.finish({"/app/server": FileResult("/app/server", 0, value)}, None)  # type: ignore[arg-type]
    assert out.packages == ()
    assert len(out.skipped) == 1 and out.skipped[0][0] == "golang"
    assert out.skipped[0][1].startswith("/app/server: Go executable larger than")
    # a damaged Go executable (the build info magic gone) is skipped too, not dropped
    broken = data.replace(golang.MAGIC, b"\0" * len(golang.MAGIC))
    value = golang.read_buildinfo(broken)
    assert isinstance(value, Unreadable) and "does not read" in value.reason
    # a file that is not a Go executable is nothing at all
    assert golang.read_buildinfo(b"\x7fELF" + b"\0" * 100_000) is None


@pytest.mark.parametrize(("binary", "expected"), [
    ("/usr/sbin/runc", ("github.com/opencontainers/runc", "runc --version")),
    ("/usr/bin/containerd", ("github.com/containerd/containerd/cmd/containerd",
                             "containerd --version")),
    ("/usr/bin/docker-registry", ("github.com/docker/distribution/cmd/registry",
                                  "docker-registry --version")),
    ("/usr/sbin/dockerd", ("github.com/docker/docker/cmd/dockerd", "dockerd --version")),
])
def test_binaries_without_module_info_state_their_version(
        binary: str, expected: tuple[str, str]) -> None:
    """Debian's builds (GOPATH mode, -trimpath, cgo): the main package path with the
    version the binary prints itself."""
    if not os.path.isfile(binary):
        pytest.skip(f"{binary} not installed")
    path, command = expected
    info = golang.parse_buildinfo(Path(binary).read_bytes())
    assert info is not None and info.main is None and info.path == path
    said = subprocess.run(command.split(), capture_output=True, text=True, timeout=60).stdout
    first = said.splitlines()[0]
    assert info.version.startswith("v")
    assert info.version[1:] in first.replace(",", " ").split()
    assert golang.GoModule(path, info.version) in golang.modules_of(info)


def test_ldflags_vcs_and_ambiguity() -> None:
    x = ('-X "example.com/app/version.Version=2.0.1" -X main.commit=abc123 '
         '-X "example.com/app/version.BuildTime=2025-01-01T00:00:00Z"')
    assert golang.main_version(b"", "go1.22.1", None, (("-ldflags", x),)) == "v2.0.1"
    two = x + " -X main.version=2.0.2"
    assert golang.main_version(b"", "go1.22.1", None, (("-ldflags", two),)) == ""
    vcs = (("vcs.revision", "0123456789abcdef0123"), ("vcs.time", "2024-01-02T15:04:05Z"),
           ("vcs.modified", "true"))
    assert golang.main_version(b"", "go1.22.1", golang.GoModule("m", "(devel)"), vcs) == \
        "v0.0.0-20240102150405-0123456789ab+dirty"
    assert golang.main_version(b"", "go1.22.1", golang.GoModule("m", "v1.5.0"), vcs) == "v1.5.0"
    blob = b"\0\0go1.22.1\0\0\0\0\x001.4.2~ds1\0\0\0"
    assert golang.main_version(blob, "go1.22.1", None, ()) == "v1.4.2~ds1"
    assert golang.main_version(blob + blob.replace(b"1.4.2", b"1.4.3"), "go1.22.1",
                               None, ()) == ""


# -- streaming: bounded memory, any size ------------------------------------------------

BOUND = 16 * 1024 * 1024  # what the docstring states (under 8 MiB), with room


def _stream(data: bytes | Path, piece: int | None = None, extra: int = 0
            ) -> tuple[object, int]:
    """read_stream over a file or bytes, read `piece` bytes at most at a time (any
    reader may return less than asked), the member said to be `extra` bytes longer than
    it is; (result, peak traced bytes)."""
    size = (data.stat().st_size if isinstance(data, Path) else len(data)) + extra
    with (open(data, "rb") if isinstance(data, Path) else io.BytesIO(data)) as fh:
        def read(n: int) -> bytes:
            return fh.read(n if piece is None else min(n, piece))
        tracemalloc.start()
        try:
            value = golang.read_stream(read, size)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return value, peak


@needs_go
@pytest.mark.parametrize("name", list(BUILDS))
def test_large_go_binary_streamed_in_bounded_memory(built: dict[str, Path], name: str) -> None:
    """The 70 MB programs read as a stream: the same build info as the whole-file parse
    and `go version -m`, holding a few MiB whatever the file's size."""
    binary = built[name]
    assert binary.stat().st_size > 64 * 1024 * 1024
    value, peak = _stream(binary)
    assert value == golang.parse_buildinfo(binary.read_bytes())
    assert isinstance(value, golang.GoBuildInfo)
    assert value._replace(version="") == _go_version_m(binary)[1]
    assert peak < BOUND < binary.stat().st_size // 4
    value, _ = _stream(binary, piece=100_003)  # short reads change nothing
    assert value == golang.parse_buildinfo(binary.read_bytes())
    # cut short before its data segment: skipped with the reason
    with open(binary, "rb") as fh:
        head = fh.read(8 << 20)
    value, _ = _stream(head)
    assert isinstance(value, Unreadable) and "cut short" in value.reason


@needs_go
def test_walker_streams_a_large_go_binary(built: dict[str, Path], tmp_path: Path) -> None:
    """Through the walker (tar member, streaming hook): peak traced memory of the walk
    far below the 70 MB binary (the old read held it whole)."""
    data = built["plain"].read_bytes()
    image = Image([layer_tar([d("app"), f("app/server", data, mode=0o755)])])
    tar = docker_save(image, str(tmp_path / "i.tar"))
    del data, image
    tracemalloc.start()
    try:
        snap = walk(TarSource(tar, "x"), [GoBinaryAnalyzer()])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {p.name for p in snap.packages} == {"example.com/app", "example.com/greet", "stdlib"}
    assert peak < 2 * BOUND


@needs_go
def test_go_module_edges_equal_go_version_m(built: dict[str, Path], tmp_path: Path) -> None:
    """The main module depends on each module `go version -m` lists and on stdlib, and
    on nothing else (report/cyclonedx.py and spdx.py write `Package.depends`)."""
    data = built["plain"].read_bytes()
    image = Image([layer_tar([d("app"), f("app/server", data, mode=0o755)])])
    snap = walk(TarSource(docker_save(image, str(tmp_path / "i.tar")), "x"),
                [GoBinaryAnalyzer()])
    _, truth = _go_version_m(built["plain"])
    by_key = {p.key: p for p in snap.packages}
    (main,) = [p for p in snap.packages if p.name == "example.com/app"]
    assert sorted(by_key[k].name for k in main.depends) == sorted(
        [m.path for m in truth.deps] + ["stdlib"])
    assert all(by_key[k].path == "/app/server" for k in main.depends)
    assert all(not p.depends for p in snap.packages if p is not main)
    # in the documents: CycloneDX `dependencies`, SPDX DEPENDS_ON
    cdx = cyclonedx.as_dict([snap], tool_version="0", timestamp="2026-01-01T00:00:00Z")
    names = {c["bom-ref"]: c["name"] for c in cdx["components"]}
    (app,) = [e for e in cdx["dependencies"] if names.get(e["ref"]) == "example.com/app"]
    assert sorted(names[r] for r in app["dependsOn"]) == sorted(
        [m.path for m in truth.deps] + ["stdlib"])
    doc = spdx.as_dict([snap], tool_version="0", timestamp="2026-01-01T00:00:00Z")
    spdx_names = {p["SPDXID"]: p["name"] for p in doc["packages"]}
    assert sorted(spdx_names[r["relatedSpdxElement"]] for r in doc["relationships"]
                  if r["relationshipType"] == "DEPENDS_ON"
                  and spdx_names.get(r["spdxElementId"]) == "example.com/app") == sorted(
        [m.path for m in truth.deps] + ["stdlib"])


def test_go_module_edges_per_binary() -> None:
    """Two binaries with the same modules: each main module depends on its own binary's
    packages; a `go build file.go` (command-line-arguments) has no main to hang them on."""
    results = {}
    for path in ("/a", "/b"):
        results[path] = FileResult(path, 0, golang.GoBuildInfo(
            "go1.22.1", golang.GoModule("example.com/app", "v1.0.0"),
            (golang.GoModule("example.com/x", "v0.1.0"),), "example.com/app"))
    results["/c"] = FileResult("/c", 0, golang.GoBuildInfo(
        "go1.22.1", golang.GoModule("command-line-arguments", ""),
        (golang.GoModule("example.com/x", "v0.1.0"),), "command-line-arguments"))
    results["/d"] = FileResult("/d", 0, golang.GoBuildInfo(  # no module information
        "go1.19.8", None, (), "github.com/opencontainers/runc", (), "v1.1.5+ds1"))
    out = GoBinaryAnalyzer().finish(results, None)  # type: ignore[arg-type]
    edges = {(p.path, p.name): sorted(p.depends) for p in out.packages if p.depends}
    assert edges == {
        ("/a", "example.com/app"): sorted(
            [Package("golang", "stdlib", "v1.22.1", 0, "/a").key,
             Package("golang", "example.com/x", "v0.1.0", 0, "/a").key]),
        ("/b", "example.com/app"): sorted(
            [Package("golang", "stdlib", "v1.22.1", 0, "/b").key,
             Package("golang", "example.com/x", "v0.1.0", 0, "/b").key]),
        ("/d", "github.com/opencontainers/runc"): [
            Package("golang", "stdlib", "v1.19.8", 0, "/d").key],
    }


@pytest.mark.parametrize("binary", ["/usr/sbin/runc", "/usr/bin/containerd",
                                    "/usr/bin/docker-registry", "/usr/sbin/dockerd"])
def test_streamed_equals_whole_file_on_debian_builds(binary: str) -> None:
    """cgo builds (external linker): the -X version next to the Go version string is
    recovered from the windows kept as the stream passes."""
    if not os.path.isfile(binary):
        pytest.skip(f"{binary} not installed")
    value, peak = _stream(Path(binary))
    assert value == golang.parse_buildinfo(Path(binary).read_bytes())
    assert isinstance(value, golang.GoBuildInfo) and value.version
    assert peak < BOUND


# -- synthetic executables: chunk boundaries, pre-1.18, hostile headers -------------------

BASE = 0x400000
END = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
GO_NOTE = struct.pack("<III", 4, 8, 4) + b"Go\0\0" + b"buildid!"
DEVEL = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
MODINFO = ("path\texample.com/app\nmod\texample.com/app\tv1.4.0\th1:abc=\n"
           "dep\tgithub.com/pkg/errors\tv0.9.1\th1:def=\n")
BIG = 3 * 1024 * 1024  # past golang.SMALL: streamed, not read whole


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _inline(version: str, modinfo: str) -> bytes:
    mod = golang.MOD_START + modinfo.encode() + END
    return (golang.MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(len(version))
            + version.encode() + _uvarint(len(mod)) + mod)


def _elf(rodata: bytes, data: bytes, *, size: int = BIG, note: bool = True,
         phdrs: Callable[[bytearray, int], None] | None = None) -> bytes:
    """A little-endian ELF64 executable as the Go linker lays one out: headers, the Go
    build-id note and `rodata` in a read-only executable segment, then, page aligned,
    the writable data segment holding `data`, padded to `size` bytes. `phdrs` may
    rewrite the header (given the bytes and the data segment's offset)."""
    out = bytearray(64 + 2 * 56)
    out[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<Q", out, 32, 64)
    struct.pack_into("<HH", out, 54, 56, 2)
    out += (GO_NOTE if note else b"") + rodata
    data_at = len(out) + -len(out) % 4096
    data = data + bytes(max(0, size - data_at - len(data)))
    struct.pack_into("<IIQQQQQQ", out, 64, 1, 5, 0, BASE, BASE, data_at, data_at, 0x1000)
    struct.pack_into("<IIQQQQQQ", out, 120, 1, 6, data_at, BASE + data_at, BASE + data_at,
                     len(data), len(data), 0x1000)
    out += bytes(data_at - len(out))
    if phdrs is not None:
        phdrs(out, data_at)
    return bytes(out + data)


def _both(binary: bytes, piece: int | None = None) -> object:
    """The streamed result, checked equal to the whole-file parse, in bounded memory."""
    value, peak = _stream(binary, piece)
    assert value == golang.read_buildinfo(binary)
    assert peak < BOUND
    return value


def test_streamed_synthetic_build_info() -> None:
    value = _both(_elf(b"\0" * 5000, _inline("go1.21.3", MODINFO)))
    assert isinstance(value, golang.GoBuildInfo)
    assert value.main == golang.GoModule("example.com/app", "v1.4.0")
    # the data segment far into the file (past several chunks)
    value = _both(_elf(b"\1" * (5 << 20), _inline("go1.21.3", MODINFO), size=8 << 20))
    assert isinstance(value, golang.GoBuildInfo) and value.go_version == "go1.21.3"
    # a first blob whose version is not one: the next candidate (16-byte aligned) is read
    bad = _inline("not a version", MODINFO)
    value = _both(_elf(b"\0" * 5000, bad + bytes(-len(bad) % 16) + _inline("go1.21.3", MODINFO)))
    assert isinstance(value, golang.GoBuildInfo) and value.go_version == "go1.21.3"


X_BLOB = b"\0go1.21.3\0\0\0\x001.4.2~ds1\0\0"


@pytest.mark.parametrize("boundary", [golang.HEAD, golang.HEAD + golang.CHUNK])
def test_x_recovery_across_chunk_boundaries(boundary: int) -> None:
    """The Go version string and the -X value next to it, placed across every position
    of a chunk boundary and of the overlap before it: always found once, whole."""
    front = 64 + 2 * 56 + len(GO_NOTE)
    for shift in [*range(-golang.OVERLAP - 40, -golang.OVERLAP + 40, 3),
                  *range(-130, 40, 3)]:
        pad = boundary + shift - front
        binary = _elf(b"\1" * pad + X_BLOB, _inline("go1.21.3", DEVEL), size=BIG)
        value = _both(binary)
        assert isinstance(value, golang.GoBuildInfo), shift
        assert value.version == "v1.4.2~ds1", shift
    # and with reads of odd sizes
    binary = _elf(b"\1" * (boundary - front - 5) + X_BLOB, _inline("go1.21.3", DEVEL))
    for piece in (1000, 4099, 65_537):
        value = _both(binary, piece)
        assert isinstance(value, golang.GoBuildInfo) and value.version == "v1.4.2~ds1"
    # two different values: ambiguous, no version (never a guess)
    other = X_BLOB.replace(b"1.4.2", b"1.4.3")
    value = _both(_elf(b"\1" * 70_000 + X_BLOB + b"\1" * (2 << 20) + other,
                       _inline("go1.21.3", DEVEL), size=4 << 20))
    assert isinstance(value, golang.GoBuildInfo) and value.version == ""


def _pointers(version: bytes, modinfo: str, *, header_gap: int = 64,
              devel_prefix: bool = False) -> bytes:
    """A pre-1.18 build info blob: the strings in the read-only data (far before, as
    the linker lays them out), the string headers after the blob in the data segment."""
    rodata = bytearray(b"\2" * (1 << 20))
    version_at = 64 + 2 * 56 + len(GO_NOTE) + 5000
    mod = golang.MOD_START + modinfo.encode() + END
    mod_at = version_at + 300_000
    rel = 5000
    rodata[rel:rel + len(version)] = version
    rodata[rel + 300_000:rel + 300_000 + len(mod)] = mod
    data_at = 64 + 2 * 56 + len(GO_NOTE) + len(rodata)
    data_at += -data_at % 4096
    headers = 32 + header_gap
    blob = bytearray(headers + 32)
    blob[:14] = golang.MAGIC
    blob[14], blob[15] = 8, 0
    struct.pack_into("<QQ", blob, 16, BASE + data_at + headers, BASE + data_at + headers + 16)
    struct.pack_into("<QQ", blob, headers, BASE + version_at, len(version))
    struct.pack_into("<QQ", blob, headers + 16, BASE + mod_at, len(mod))
    return _elf(bytes(rodata), bytes(blob), size=BIG)


@pytest.mark.parametrize("gap", [64, (2 << 20) - 200])  # headers right after, or chunks on
def test_pre_1_18_build_info_streamed(gap: int) -> None:
    """Pointer format: the version and module strings, passed long before the blob, were
    kept in bounded windows; the string headers after the blob are captured."""
    binary = _pointers(b"go1.16.15", MODINFO, header_gap=gap)
    value, peak = _stream(binary)
    assert isinstance(value, golang.GoBuildInfo), value
    assert value.go_version == "go1.16.15" and peak < BOUND
    assert value.main == golang.GoModule("example.com/app", "v1.4.0")
    assert value == golang.parse_buildinfo(binary)


def test_pre_1_18_strings_out_of_reach_are_skipped_with_the_reason() -> None:
    """A version string no kept window holds ("devel go1.16-..."): the binary is listed
    as skipped, with the reason, not dropped and not guessed."""
    binary = _pointers(b"devel go1.16-abcdef", MODINFO)
    assert isinstance(golang.parse_buildinfo(binary), golang.GoBuildInfo)  # whole: reads
    value, _ = _stream(binary)
    assert isinstance(value, Unreadable)
    assert "pre-1.18" in value.reason and "windows" in value.reason


def _hostile(rewrite: Callable[[bytearray, int], None], data: bytes | None = None,
             note: bool = True) -> object:
    binary = _elf(b"\0" * 1000, _inline("go1.21.3", MODINFO) if data is None else data,
                  note=note, phdrs=rewrite)
    value, peak = _stream(binary)
    assert peak < BOUND
    return value


def _phoff(value: int) -> Callable[[bytearray, int], None]:
    return lambda out, _at: struct.pack_into("<Q", out, 32, value)


@pytest.mark.parametrize(("name", "rewrite"), [
    ("program headers past the end", _phoff(1 << 62)),
    ("program headers past any index", _phoff((1 << 64) - 1)),
    ("program headers over the ELF header", _phoff(0)),
    ("65535 program headers", lambda out, _at: struct.pack_into("<H", out, 56, 0xFFFF)),
    ("entries too short", lambda out, _at: struct.pack_into("<H", out, 54, 8)),
    ("the data segment past the end",
     lambda out, _at: struct.pack_into("<Q", out, 128, 1 << 40)),
    ("the data segment as large as can be",
     lambda out, _at: struct.pack_into("<QQ", out, 152, (1 << 64) - 1, (1 << 64) - 1)),
    ("two data segments at the same place",  # the text segment made writable too
     lambda out, _at: struct.pack_into("<I", out, 68, 6)),
])
def test_hostile_program_headers(name: str, rewrite: Callable[[bytearray, int], None]) -> None:
    """Headers that point past the end, loop over the ELF header or claim everything: an
    answer (a Go executable that does not read is skipped with the reason), in bounded
    memory, never an exception."""
    value = _hostile(rewrite)
    assert value is None or isinstance(value, (golang.GoBuildInfo, Unreadable)), name
    assert value is not None  # the Go note is there: never dropped silently
    assert _hostile(rewrite, note=False) is None or not isinstance(
        _hostile(rewrite, note=False), Unreadable)


def test_hostile_build_info_blobs() -> None:
    """Blobs that declare huge strings, pointer chains into themselves or nowhere, and
    more candidates than are read: skipped with the reason, memory bounded."""
    huge = golang.MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(8) + b"go1.21.3" + \
        _uvarint(1 << 60)
    assert isinstance(_hostile(lambda o, a: None, huge), Unreadable)
    longer = golang.MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(8) + b"go1.21.3" + \
        _uvarint(golang.MAX_INFO + 1) + b"x" * 1000
    assert isinstance(_hostile(lambda o, a: None, longer), Unreadable)
    # pointers: at the blob itself (its header read as a string header), then nowhere
    data_at = 4096
    for first, second in ((BASE + data_at, BASE + data_at), (0, 0), ((1 << 64) - 16, 5)):
        blob = golang.MAGIC + bytes([8, 0]) + struct.pack("<QQ", first, second)
        assert isinstance(_hostile(lambda o, a: None, blob), Unreadable)
    # many candidates, each declaring a module string of MAX_INFO: the capture budget
    many = b"".join((golang.MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(8) + b"go1.21.3"
                     + _uvarint(golang.MAX_INFO - 100)).ljust(48, b"\0")
                    for _ in range(golang.MAX_CANDIDATES + 10))
    binary = _elf(b"\0" * 1000, many, size=12 << 20)
    value, peak = _stream(binary)
    assert value == golang.read_buildinfo(binary) and peak < BOUND
