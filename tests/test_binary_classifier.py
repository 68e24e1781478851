"""The binary classifier against the real binaries Debian ships on this machine, each
copied alone into an image made here: the version found equals the one the binary
prints itself. A random ELF and a binary a package manager owns give nothing; a busybox
image without os-release is a busybox OS."""

from __future__ import annotations

import os
import random
import re
import subprocess
from pathlib import Path

import pytest

from dockwarden.collect.image.pkg import BinaryClassifier, package_analyzers
from dockwarden.collect.image.pkg.binary import RULES, classify
from dockwarden.collect.image.source import TarSource
from dockwarden.collect.image.walker import walk
from dockwarden.model.image import ImageSnapshot, OSRelease
from harness.imagebuild import Image, d, docker_save, f, layer_tar

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
