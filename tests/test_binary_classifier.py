"""The binary classifier against the real binaries Debian ships on this machine, each
copied alone into an image made here: the version found equals the one the binary
prints itself. A random ELF and a binary a package manager owns give nothing; a busybox
image without os-release is a busybox OS."""

from __future__ import annotations

import os
import random
import re
import subprocess
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from dockwarden.collect.image.pkg import BinaryClassifier, package_analyzers
from dockwarden.collect.image.pkg.binary import _OVERLAP, _SEARCH_AT, RULES, Scanner, classify
from dockwarden.collect.image.source import TarSource
from dockwarden.collect.image.walker import walk
from dockwarden.model.image import ImageSnapshot, OSRelease
from harness.imagebuild import Image, d, docker_save, f, layer_tar
from test_go_binaries import needs_go

LIB = "/usr/lib/x86_64-linux-gnu"
JVM = "/usr/lib/jvm/java-17-openjdk-amd64"
# (binary on this machine, path in the image, product, command printing the version,
#  regex on its output)
CASES = [
    ("/usr/bin/busybox", "/bin/busybox", "busybox", ["/usr/bin/busybox"],
     r"BusyBox v(\S+) "),
    ("/usr/bin/bash", "/usr/local/bin/bash", "bash", ["/usr/bin/bash", "--version"],
     r"version (\d+\.\d+\.\d+)\("),
    ("/usr/bin/curl", "/usr/local/bin/curl", "curl", ["/usr/bin/curl", "--version"],
     r"^curl (\S+) "),
    ("/usr/bin/openssl", "/usr/local/bin/openssl", "openssl", ["/usr/bin/openssl", "version"],
     r"^OpenSSL (\S+) "),
    (f"{LIB}/libcrypto.so.3", "/usr/local/lib/libcrypto.so.3", "openssl",
     ["/usr/bin/openssl", "version"], r"^OpenSSL (\S+) "),
    ("/usr/bin/python3.11", "/usr/local/bin/python3.11", "python",
     ["/usr/bin/python3.11", "--version"], r"^Python (\S+)"),
    ("/usr/bin/node", "/usr/local/bin/node", "node", ["/usr/bin/node", "--version"],
     r"^v(\S+)"),
    ("/usr/bin/sudo", "/usr/local/bin/sudo", "sudo", ["/usr/bin/sudo", "--version"],
     r"^Sudo version (\S+)"),
    ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "nginx", ["/usr/sbin/nginx", "-v"],
     r"nginx/(\S+)"),
    ("/usr/bin/redis-server", "/usr/local/bin/redis-server", "redis",
     ["/usr/bin/redis-server", "--version"], r"v=(\S+) "),
    ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "haproxy", ["/usr/sbin/haproxy", "-v"],
     r"version (\d+\.\d+\.\d+)"),
    ("/usr/sbin/apache2", "/usr/local/apache2/bin/httpd", "httpd", ["/usr/sbin/apache2", "-v"],
     r"Apache/(\S+) "),
    ("/usr/sbin/mariadbd", "/usr/sbin/mariadbd", "mariadb", ["/usr/sbin/mariadbd", "--version"],
     r"Ver (\d+\.\d+\.\d+)-MariaDB"),
    ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "mariadb", ["/usr/sbin/mariadbd", "--version"],
     r"Ver (\d+\.\d+\.\d+)-MariaDB"),
    ("/usr/lib/postgresql/15/bin/postgres", "/usr/local/bin/postgres", "postgresql",
     ["/usr/lib/postgresql/15/bin/postgres", "--version"], r"\(PostgreSQL\) (\S+)"),
    (f"{JVM}/release", "/opt/java/openjdk/release", "java", [f"{JVM}/bin/java", "-version"],
     r'version "(\S+)"'),
]


def _snapshot(tmp_path: Path, entries: list[object], name: str = "i.tar") -> ImageSnapshot:
    image = Image([layer_tar(entries)])  # type: ignore[arg-type]
    return walk(TarSource(docker_save(image, str(tmp_path / name)), "x"), package_analyzers())


def _parents(path: str) -> list[object]:
    parts = path.strip("/").split("/")[:-1]
    return [d("/".join(parts[:i + 1])) for i in range(len(parts))]


@pytest.mark.parametrize("case", CASES, ids=[c[2] + ":" + os.path.basename(c[0]) for c in CASES])
def test_real_binary_alone_in_an_image(tmp_path: Path, case: tuple) -> None:  # type: ignore[type-arg]
    source, inside, product, command, pattern = case
    if not os.path.isfile(source):
        pytest.skip(f"{source} not installed")
    said = subprocess.run(command, capture_output=True, text=True, timeout=60)
    stated = re.search(pattern, said.stdout + said.stderr, re.M)
    assert stated is not None, said
    data = Path(source).read_bytes()
    snap = _snapshot(tmp_path, [*_parents(inside), f(inside.lstrip("/"), data, mode=0o755)])
    assert isinstance(snap.packages, tuple)
    found = [p for p in snap.packages if p.type == "binary"]
    assert [(p.name, p.version, p.path, p.layer) for p in found] == [
        (product, stated.group(1), inside, 0)]
    assert found[0].purl == f"pkg:generic/{product}@{stated.group(1)}"


def test_every_rule_is_named_once() -> None:
    products = [r.product for r in RULES]
    assert len(products) == len(set(products))
    for wanted in ("busybox", "python", "node", "openssl", "redis", "postgresql", "mysql",
                   "nginx", "httpd", "java", "curl", "bash", "sudo", "haproxy", "traefik",
                   "consul", "vault", "etcd"):
        assert wanted in products


def test_version_patterns_on_made_up_content() -> None:
    assert classify("/usr/lib/postgresql/15/bin/postgres",
                    b"\0postgres (PostgreSQL) 15.5\0") == ("postgresql", "15.5",
                                                            "pkg:generic/postgresql@15.5")
    assert classify("/usr/sbin/nginx", b"\0nginx/1.25.3\0")[:2] == ("nginx", "1.25.3")  # type: ignore[index]
    assert classify("/usr/local/apache2/bin/httpd", b"Apache/2.4.58 (Unix)")[:2] == (  # type: ignore[index]
        "httpd", "2.4.58")
    assert classify("/usr/sbin/mariadbd", b"\x0010.11.6-MariaDB\0")[:2] == (  # type: ignore[index]
        "mariadb", "10.11.6")
    assert classify("/opt/java/openjdk/release",
                    b'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="17.0.9"\n')[:2] == (  # type: ignore[index]
        "java", "17.0.9")
    # two distinct versions: not a guess
    assert classify("/usr/sbin/nginx", b"nginx/1.25.3 nginx/1.24.0") is None
    # a name no rule has
    assert classify("/usr/bin/true", b"nginx/1.25.3") is None


def test_random_elf_matches_nothing(tmp_path: Path) -> None:
    rng = random.Random(1234)
    body = b"\x7fELF\x02\x01\x01" + bytes(rng.getrandbits(8) for _ in range(300_000))
    for rule in RULES:
        name = {"python": "python3.11", "node": "node", "openssl": "openssl",
                "httpd": "httpd", "java": "release", "redis": "redis-server",
                "mysql": "mysqld", "mariadb": "mariadbd", "postgresql": "postgres"}.get(
                    rule.product, rule.product)
        assert classify(f"/usr/bin/{name}", body) is None
    entries = [d("usr"), d("usr/bin")] + [
        f(f"usr/bin/{n}", body, mode=0o755) for n in ("busybox", "bash", "curl", "nginx")]
    snap = _snapshot(tmp_path, entries)
    assert isinstance(snap.packages, tuple)
    assert [p for p in snap.packages if p.type == "binary"] == []


@pytest.mark.skipif(not os.path.isfile("/usr/bin/busybox"), reason="no busybox")
def test_busybox_image_os_is_busybox(tmp_path: Path) -> None:
    data = Path("/usr/bin/busybox").read_bytes()
    snap = _snapshot(tmp_path, [d("bin"), f("bin/busybox", data, mode=0o755)])
    assert snap.os_release == OSRelease(id="busybox", version_id="1.35.0",
                                        pretty_name="BusyBox v1.35.0")
    # with an os-release file, that file says what the OS is
    snap = _snapshot(tmp_path, [d("bin"), f("bin/busybox", data, mode=0o755), d("etc"),
                                f("etc/os-release", 'ID=alpine\nVERSION_ID=3.19.1\n')],
                     "j.tar")
    assert isinstance(snap.os_release, OSRelease) and snap.os_release.id == "alpine"


@pytest.mark.skipif(not os.path.isfile("/usr/bin/bash"), reason="no bash")
def test_binary_a_package_manager_owns_is_not_classified_again(tmp_path: Path) -> None:
    data = Path("/usr/bin/bash").read_bytes()
    entries = [d("usr"), d("usr/bin"), f("usr/bin/bash", data, mode=0o755), d("var"),
               d("var/lib"), d("var/lib/dpkg"), d("var/lib/dpkg/info"),
               f("var/lib/dpkg/info/bash.list", "/.\n/usr\n/usr/bin\n/usr/bin/bash\n")]
    snap = _snapshot(tmp_path, entries)
    assert isinstance(snap.packages, tuple)
    assert [p for p in snap.packages if p.type == "binary"] == []
    # Debian lists /bin/bash; /bin is a symlink to usr/bin
    entries = [d("usr"), d("usr/bin"), f("usr/bin/bash", data, mode=0o755),
               *[e for e in entries[3:7]],
               f("var/lib/dpkg/info/bash.list", "/bin/bash\n")]
    from harness.imagebuild import sym
    snap = _snapshot(tmp_path, [*entries, sym("bin", "usr/bin")], "j.tar")
    assert isinstance(snap.packages, tuple)
    assert [p for p in snap.packages if p.type == "binary"] == []


def test_classifier_reads_only_files_whose_names_match() -> None:
    c = BinaryClassifier()
    assert not c.wants("/usr/bin/ls", 100_000, 0o100755)
    assert not c.wants("/usr/lib/x86_64-linux-gnu/libz.so.1", 100_000, 0o100644)
    assert c.wants("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 100_000, 0o100644)
    assert c.wants("/usr/local/bin/python3.12", 100_000, 0o100755)
    assert not c.wants("/usr/local/share/python3.12", 100_000, 0o100644)


# --- the classifier reads executables in chunks (`Scanner`): same answers, bounded ----

def streamed(path: str, data: bytes, chunk: int) -> object:
    """The `Scanner` answer for `data` fed in chunks of `chunk` bytes (as the walker
    feeds it, stopping when it wants no more)."""
    name = path[path.rfind("/") + 1:]
    scanner = Scanner(name, len(data), [r for r in RULES if r.names.fullmatch(name)])
    for at in range(0, len(data), chunk):
        if not scanner.feed(data[at:at + chunk]):
            break
    return scanner.result()


@pytest.mark.parametrize("case", CASES, ids=[c[2] + ":" + os.path.basename(c[1]) for c in CASES])
def test_streamed_equals_whole(case: tuple) -> None:  # type: ignore[type-arg]
    """Every real binary: the chunked answer equals `classify` of the whole file, for
    chunk sizes from the walker's 1 MiB down to odd small ones; byte by byte over the
    part of the file around its version string."""
    source, inside, product = case[:3]
    if not os.path.isfile(source):
        pytest.skip(f"{source} not installed")
    data = Path(source).read_bytes()
    whole = classify(inside, data)
    assert whole is not None and whole.product == product
    sizes = [1 << 20, 65_537, 4093, 333] if len(data) < (32 << 20) else [1 << 20, 65_537]
    for chunk in sizes:
        assert streamed(inside, data, chunk) == whole, chunk
    at = data.find(whole.version.encode())
    part = data[max(0, at - 40_000):at + 40_000]
    assert streamed(inside, part, 1) == classify(inside, part)
    assert streamed(inside, part, 7) == classify(inside, part)


@pytest.mark.parametrize("where", [0, 5, _SEARCH_AT - _OVERLAP - 3, _SEARCH_AT - _OVERLAP,
                                   _SEARCH_AT - 7, _SEARCH_AT + 1, 3 * _SEARCH_AT - 11])
@pytest.mark.parametrize("chunk", [1 << 20, _SEARCH_AT, 4096, 4099, 13])
def test_version_string_straddling_a_chunk_boundary(where: int, chunk: int) -> None:
    """A version string cut by a chunk boundary (and by the searches' own boundary,
    every `_SEARCH_AT` bytes gathered) is found once; an anchor and a version `near` it
    in different chunks count together, far from it they do not."""
    filler = bytes(range(97, 123)) * (4 * _SEARCH_AT // 26)
    for text, path, want in (
            (b"BusyBox v1.36.1 (2024)", "/bin/busybox", "1.36.1"),
            (b"\0nginx/1.25.3\0", "/usr/sbin/nginx", "1.25.3"),
            (b"OpenSSL 3.0.13 30 Jan 2024\0", "/usr/lib/libcrypto.so.3", "3.0.13")):
        start = max(0, where - len(text) // 2)
        data = filler[:start] + text + filler[start:]
        assert classify(path, data) is not None
        assert classify(path, data)[1] == want  # type: ignore[index]
        assert streamed(path, data, chunk) == classify(path, data)
        # a second, different version far away: ambiguous, both ways
        other = data + filler[:1000] + text.replace(want.encode(), b"9.9.9")
        assert classify(path, other) is None and streamed(path, other, chunk) is None
    # redis: the version 10 KiB after the anchor (within `near`), and another 40 KiB on
    anchored = (filler[:where] + b"redis_version:\0" + filler[:10_000] + b"\x007.2.4\0"
                + filler[:40_000] + b"\x006.0.0\0" + filler[:1000])
    assert classify("/usr/bin/redis-server", anchored)[:2] == ("redis", "7.2.4")  # type: ignore[index]
    assert streamed("/usr/bin/redis-server", anchored, chunk) == classify(
        "/usr/bin/redis-server", anchored)
    # and a version before the anchor (pending until the anchor comes)
    before = filler[:where] + b"\x007.2.4\0" + filler[:9000] + b"redis_version:\0"
    assert streamed("/usr/bin/redis-server", before, chunk) == classify(
        "/usr/bin/redis-server", before) != None  # noqa: E711


@pytest.mark.skipif(not os.path.isfile("/usr/bin/node"), reason="no node")
def test_walking_a_large_classified_binary_holds_a_bounded_part(tmp_path: Path) -> None:
    """node (about 100 MB) through the walker with every package analyzer: classified,
    with a peak of traced memory far below its size (the classifier once read it whole)."""
    data = Path("/usr/bin/node").read_bytes()
    size = len(data)
    assert size > 64 << 20
    tar = docker_save(Image([layer_tar([d("usr"), d("usr/local"), d("usr/local/bin"),
                                        f("usr/local/bin/node", data, mode=0o755)])]),
                      str(tmp_path / "i.tar"))
    expected = classify("/usr/local/bin/node", data)
    del data
    tracemalloc.start()
    try:
        snap = walk(TarSource(tar, "x"), package_analyzers())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(snap.packages, tuple) and expected is not None
    assert [(p.name, p.version, p.path) for p in snap.packages if p.type == "binary"] == [
        ("node", expected.version, "/usr/local/bin/node")]
    assert peak < 16 << 20 < size // 4


_GO_MAIN = """package main

import "fmt"

var version = "dev"

func main() { fmt.Println("traefik", version) }
"""


@pytest.fixture(scope="module")
def traefik() -> Path:
    """A Go program whose module is github.com/traefik/traefik/v3, its version set by
    -ldflags -X (as traefik's own release builds do)."""
    work = Path(tempfile.mkdtemp(prefix="dockwarden-traefik-"))
    (work / "go.mod").write_text("module github.com/traefik/traefik/v3\n\ngo 1.19\n")
    (work / "main.go").write_text(_GO_MAIN)
    env = {**os.environ, "GOPROXY": "off", "CGO_ENABLED": "0", "GO111MODULE": "on",
           "GOCACHE": str(work / "cache"), "GOFLAGS": "-buildvcs=false"}
    subprocess.run(["go", "build", "-ldflags", "-X main.version=v3.1.2", "-o",
                    str(work / "traefik"), "."], cwd=work, env=env, check=True, timeout=600,
                   capture_output=True)
    return work / "traefik"


@needs_go
def test_go_program_classified_while_streaming(traefik: Path, tmp_path: Path) -> None:
    """The Go rules find the build info blob in the data segment as the file passes:
    the same answer as the whole-file parse, in any chunk size, and through the walker
    (beside the Go analyzer's own stream)."""
    data = traefik.read_bytes()
    whole = classify("/traefik", data)
    assert whole == ("traefik", "v3.1.2", "pkg:golang/github.com/traefik/traefik/v3@v3.1.2")
    for chunk in (1 << 20, 65_537, 4093):
        assert streamed("/traefik", data, chunk) == whole
    # another name: no rule for it, a random program is not traefik
    assert streamed("/usr/bin/vault", data, 4093) is None
    snap = _snapshot(tmp_path, [f("traefik", data, mode=0o755)])
    assert isinstance(snap.packages, tuple)
    assert [(p.name, p.version, p.purl) for p in snap.packages if p.type == "binary"] == [
        ("traefik", "v3.1.2", whole.purl)]


# --- vulnerability matching of what the classifier and the Go analyzer add ----------

def _go_db(path: Path) -> Path:
    import datetime as dt

    from dockwarden.model.vuln import Advisory, Affected, Event, Range
    from dockwarden.vuln.db import SourceInfo, Writer

    def adv(vid: str, module: str, fixed: str) -> Advisory:
        rng = (Range("SEMVER", (Event(introduced="0"), Event(fixed=fixed))),)
        return Advisory(vid, "osv-Go", (), affected=(Affected("Go", module, ranges=rng,
                                                              fixed=fixed),))

    with Writer(path) as w:
        w.replace_source(SourceInfo("osv-Go", "test", dt.datetime.now(dt.UTC), 0, 0), [
            adv("GO-2024-0001", "github.com/traefik/traefik/v2", "2.11.2"),
            adv("GO-2024-0002", "example.com/app", "1.3.0"),
            adv("GO-2024-0003", "busybox", "9.0.0"),
        ])
        w.commit()
    return path


def test_go_main_modules_and_classified_go_programs_are_matched(tmp_path: Path) -> None:
    from dockwarden.model.image import Package
    from dockwarden.vuln.db import VulnDB
    from dockwarden.vuln.match import Matcher

    db = VulnDB(_go_db(tmp_path / "db.sqlite"))
    try:
        packages = [
            # a Go main module whose version was recovered from the build settings
            Package("golang", "example.com/app", "v1.2.3", 0, "/app/server",
                    purl="pkg:golang/example.com/app@v1.2.3"),
            # a classified Go program (no Go package for it: e.g. its build info unread)
            Package("binary", "traefik", "v2.10.4", 0, "/traefik",
                    purl="pkg:golang/github.com/traefik/traefik/v2@v2.10.4"),
            # the same program at a path the Go analyzer reports too: one finding only
            Package("golang", "github.com/traefik/traefik/v2", "v2.10.4", 0, "/usr/bin/t",
                    purl="pkg:golang/github.com/traefik/traefik/v2@v2.10.4"),
            Package("binary", "traefik", "v2.10.4", 0, "/usr/bin/t",
                    purl="pkg:golang/github.com/traefik/traefik/v2@v2.10.4"),
            # a generic purl is never matched by name, even where a record shares it
            Package("binary", "busybox", "1.35.0", 0, "/bin/busybox",
                    purl="pkg:generic/busybox@1.35.0"),
            # a main module without a version is not matched
            Package("golang", "example.com/app", "", 0, "/app/other",
                    purl="pkg:golang/example.com/app"),
        ]
        result = Matcher(db).match(packages, None)
    finally:
        db.close()
    got = sorted((m.package, m.id, m.path) for m in result.matches)
    assert got == [
        ("example.com/app", "GO-2024-0002", "/app/server"),
        ("github.com/traefik/traefik/v2", "GO-2024-0001", "/usr/bin/t"),
        ("traefik", "GO-2024-0001", "/traefik"),
    ]
