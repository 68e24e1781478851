"""Go executables of any size: a program built here (Debian's golang-go, no network:
GOPROXY=off, its one dependency vendored in tests/data/gobin/app) with a 70 MB embedded
asset, so that its build information lies 70 MB into the file (past the old 64 MiB read
bound), and `-X main.version=v1.2.3`; built three ways (plain; `-trimpath
-buildvcs=false`; that stripped with `-s -w`). What dockwarden reads must equal
`go version -m`. The built binaries are cached under the temp dir, keyed by the hash of
the sources and the toolchain version."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dockwarden.collect.image.analyzer import FileResult
from dockwarden.collect.image.pkg import GoBinaryAnalyzer, golang
from dockwarden.collect.image.pkg._common import Unreadable
from dockwarden.collect.image.source import TarSource
from dockwarden.collect.image.walker import walk
from harness.imagebuild import Image, d, docker_save, f, layer_tar

SOURCE = Path(__file__).parent / "data" / "gobin" / "app"
ASSET = 70 * 1000 * 1000
BUILDS = {
    "plain": ["-ldflags", "-X main.version=v1.2.3"],
    "trimpath": ["-trimpath", "-buildvcs=false", "-ldflags", "-X main.version=v1.2.3"],
    "stripped": ["-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version=v1.2.3"],
}

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")


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
