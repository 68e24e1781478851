"""Binaries that no package manager lists: a table of (file name pattern, version
pattern read from the file's bytes) for the programs minimal and distroless images
ship by copying them in (busybox, Python, Node.js, OpenSSL, Redis, PostgreSQL...).

Written by hand: it is a table and a regular expression search. Each rule (`RULES`)
names the files it applies to by their base name (`names`), so that only those files
are read at all: the walker asks `wants` about executables, about files under the
library directories whose names start with one of `_LIB_STARTS`, and about files named
`release` (a JDK's `release` file names its version, the `java` binary does not). A file
is classified when its bytes hold exactly one distinct version for the rule's patterns
(several distinct versions: not classified, never a guess), and, where the rule has an
`anchor`, that text as well; where the rule also has `near`, only the versions within
that many bytes of the anchor count (redis-server carries its commands' "since" versions,
sudo a bundled library's: found against Debian's real binaries). The Go programs
(traefik, consul, vault, etcd) take their version from the Go build information
(golang.py), module path as purl.

Each classified binary is a package of type "binary", named after the product, with
the file's path and layer; its purl is `pkg:generic/<product>@<version>` (or the Go
module's for the Go programs), which the vulnerability matcher only maps to an
ecosystem when the purl is a Go module (see vuln/match.py).

A file that a package manager installed is not classified again: the paths listed by
dpkg (`/var/lib/dpkg/info/*.list`) and apk (`R:` lines of `/lib/apk/db/installed`) are
read (the lines naming files this table knows only) and skipped in `finish`. rpm's
file lists are not read (an rpm image's classified binaries may repeat rpm packages).

An image without an os-release file whose busybox is classified is a busybox image:
its OS is given as `busybox` at busybox's version (`finish`); the os-release analyzer
runs first, so any os-release file wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg import golang
from dockwarden.collect.image.pkg._common import make_purl, plausible, sort_packages
from dockwarden.collect.image.pkg.osrelease import OS_FILES
from dockwarden.model.image import OSRelease, Package

MAX_READ = golang.MAX_READ  # the whole file: version strings lie anywhere in it
MAX_LIST = 4 * 1024 * 1024  # a package manager's file list
DPKG_INFO = "/var/lib/dpkg/info/"
APK_DB = "/lib/apk/db/installed"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox")
_LIB_DIRS = ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/", "/usr/local/lib/", "/opt/")
_LIB_STARTS = ("libcrypto.so", "libssl.so", "libpython", "libnode.so")
_MAX_CANDIDATES = 64


class Rule(NamedTuple):
    product: str  # the package name reported
    names: re.Pattern[str]  # full match on the file's base name
    patterns: tuple[re.Pattern[bytes], ...] = ()  # group 1: the version
    anchor: bytes = b""  # must also be in the file
    near: int = 0  # > 0: only versions within this many bytes of an anchor count
    go_module: str = ""  # a Go program: version from its build info, purl pkg:golang


def _r(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _b(text: bytes) -> re.Pattern[bytes]:
    return re.compile(text)


_V = rb"(\d+\.\d+(?:\.\d+)?"  # the start of a version group

RULES: tuple[Rule, ...] = (
    Rule("busybox", _r(r"busybox"), (_b(rb"BusyBox v(\d+\.\d+\.\d+)"),)),
    # PY_VERSION as a string of its own; the minor version must be the file's own
    Rule("python", _r(r"python(?:\d(?:\.\d+)?)?|libpython\d\.\d+\.so(?:\.[\d.]+)?"),
         (_b(rb"\x00(\d\.\d+\.\d+(?:(?:a|b|rc)\d+)?\+?)\x00"),)),
    Rule("node", _r(r"node(?:js)?|libnode\.so(?:\.\d+)*"),
         (_b(rb"/release/v(\d+\.\d+\.\d+)/node-v"),)),
    # "OpenSSL 3.0.19 27 Jan 2026" (OPENSSL_VERSION_TEXT), in libcrypto or a static build
    Rule("openssl", _r(r"openssl|libcrypto\.so(?:\.[\d.]+)?|libssl\.so(?:\.[\d.]+)?"),
         (_b(rb"OpenSSL (\d+\.\d+\.\d+[a-z]{0,2}) +\d{1,2} [A-Z][a-z]{2} \d{4}"),)),
    # REDIS_VERSION lies among the INFO strings; the command table's "since" versions
    # (2.6.0, 3.2.0...) lie elsewhere in the same file
    Rule("redis", _r(r"redis-server"), (_b(rb"\x00(\d+\.\d+\.\d+)\x00"),),
         anchor=b"redis_version:", near=16 * 1024),
    Rule("postgresql", _r(r"postgres"), (_b(rb"\(PostgreSQL\) (\d+(?:\.\d+)+)"),)),
    Rule("mysql", _r(r"mysqld"), (_b(rb"\x00(\d+\.\d+\.\d+)(?:-[0-9a-z.]+)?\x00"),),
         anchor=b"mysqld"),
    # MYSQL_SERVER_VERSION as a string of its own (a help text quotes "10.1.1-MariaDB")
    Rule("mariadb", _r(r"mariadbd|mysqld"), (_b(rb"\x00(\d+\.\d+\.\d+)-MariaDB"),)),
    Rule("nginx", _r(r"nginx"), (_b(rb"nginx/(\d+\.\d+\.\d+)"),)),
    Rule("httpd", _r(r"httpd|apache2"), (_b(rb"Apache/(\d+\.\d+\.\d+)"),)),
    Rule("java", _r(r"release"), (_b(rb'(?m)^JAVA_VERSION="(\d[0-9A-Za-z._+-]*)"'),)),
    Rule("curl", _r(r"curl"), (_b(rb"\x00curl (\d+\.\d+\.\d+(?:-DEV)?) \("),
                               _b(rb"\x00curl (\d+\.\d+\.\d+)\x00"))),
    Rule("bash", _r(r"bash"), (_b(rb"@\(#\)Bash version (\d+\.\d+\.\d+)\(\d+\)"),)),
    # the version string follows its format string; a bundled library's lies elsewhere
    Rule("sudo", _r(r"sudo"), (_b(rb"\x00(1\.\d+\.\d+(?:p\d+)?)\x00"),),
         anchor=b"Sudo version %s", near=64),
    Rule("haproxy", _r(r"haproxy"), (_b(rb"\x00(\d\.\d+\.\d+)(?:-[0-9A-Za-z.+~]+)?\x00"),),
         anchor=b"HAProxy version"),
    Rule("traefik", _r(r"traefik"), go_module="github.com/traefik/traefik"),
    Rule("consul", _r(r"consul"), go_module="github.com/hashicorp/consul"),
    Rule("vault", _r(r"vault"), go_module="github.com/hashicorp/vault"),
    Rule("etcd", _r(r"etcd"), go_module="go.etcd.io/etcd"),
)
_ALL_NAMES = re.compile("|".join(f"(?:{r.names.pattern})" for r in RULES))


class Classified(NamedTuple):
    product: str
    version: str
    purl: str


class Owned(NamedTuple):
    """The paths a package manager's file list names that this table knows."""

    paths: frozenset[str]


def _base(path: str) -> str:
    return path[path.rfind("/") + 1:]


def _windows(rule: Rule, data: bytes) -> list[tuple[int, int]]:
    """Where the rule's versions may lie: the whole file, or `near` bytes either side
    of each anchor (at most `_MAX_CANDIDATES` anchors)."""
    if not rule.near:
        return [(0, len(data))]
    spans: list[tuple[int, int]] = []
    at = data.find(rule.anchor)
    while at >= 0 and len(spans) < _MAX_CANDIDATES:
        spans.append((max(0, at - rule.near), at + len(rule.anchor) + rule.near))
        at = data.find(rule.anchor, at + 1)
    return spans


def _versions(rule: Rule, name: str, data: bytes) -> list[str]:
    found: list[str] = []
    for start, end in _windows(rule, data):
        for pattern in rule.patterns:
            for n, match in enumerate(pattern.finditer(data, start, end)):
                if n >= _MAX_CANDIDATES:
                    break
                found.append(match.group(1).decode("ascii", errors="replace"))
    if rule.product == "python":  # the file's own minor version, when its name has one
        minor = re.search(r"(\d\.\d+)", name)
        if minor is not None:
            found = [v for v in found if v.startswith(minor.group(1) + ".")]
        elif found:  # "python3": the versions of which it names its library directory
            found = [v for v in found
                     if b"python" + ".".join(v.split(".")[:2]).encode() in data]
    return list(dict.fromkeys(found))


def _go(rule: Rule, data: bytes) -> Classified | None:
    info = golang.parse_buildinfo(data)
    if info is None:
        return None
    module = info.main.path if info.main is not None else info.path
    if not (module == rule.go_module or module.startswith(rule.go_module + "/")):
        return None
    version = golang.modules_of(info)
    chosen = next((m.version for m in version if m.path == module), "")
    if not chosen:
        return None
    namespace, _, last = module.rpartition("/")
    return Classified(rule.product, chosen, make_purl("golang", last, chosen, namespace))


def classify(path: str, data: bytes) -> Classified | None:
    """The product and version of one file, when exactly one rule says so."""
    name = _base(path)
    hits: list[Classified] = []
    for rule in RULES:
        if not rule.names.fullmatch(name):
            continue
        if rule.go_module:
            found = _go(rule, data)
            if found is not None:
                hits.append(found)
            continue
        if rule.anchor and rule.anchor not in data:
            continue
        versions = _versions(rule, name, data)
        if len(versions) == 1 and plausible(versions[0]):
            hits.append(Classified(rule.product, versions[0],
                                   make_purl("generic", rule.product, versions[0])))
    return hits[0] if len(hits) == 1 else None


def _owned_dpkg(data: bytes) -> Owned:
    return Owned(frozenset(
        line for line in data.decode("utf-8", errors="replace").splitlines()
        if line.startswith("/") and _ALL_NAMES.fullmatch(_base(line))))


def _owned_apk(data: bytes) -> Owned:
    paths: set[str] = set()
    directory = ""
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.startswith("F:"):
            directory = line[2:]
        elif line.startswith("R:") and _ALL_NAMES.fullmatch(line[2:]):
            paths.add(f"/{directory}/{line[2:]}" if directory else f"/{line[2:]}")
    return Owned(frozenset(paths))


class BinaryClassifier:
    name: str = "binary"
    selector = Selector(prefixes=(*_LIB_DIRS, DPKG_INFO), paths=frozenset((APK_DB,)),
                        suffixes=("/release",), executables=True)
    max_bytes: int = MAX_READ

    def wants(self, path: str, size: int, mode: int) -> bool:
        if path.startswith(DPKG_INFO):
            return path.endswith(".list") and size <= MAX_LIST
        if path == APK_DB:
            return size <= MAX_LIST * 16
        name = _base(path)
        if name == "release":
            return size <= 64 * 1024
        if not mode & 0o111 and not name.startswith(_LIB_STARTS):
            return False
        return _ALL_NAMES.fullmatch(name) is not None

    def analyze(self, path: str, data: bytes) -> object | None:
        if path.startswith(DPKG_INFO):
            owned = _owned_dpkg(data)
            return owned if owned.paths else None
        if path == APK_DB:
            owned = _owned_apk(data)
            return owned if owned.paths else None
        return classify(path, data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        owned: set[str] = set()
        for found in results.values():
            if isinstance(found.value, Owned):
                owned |= found.value.paths
        packages = []
        for path, found in results.items():
            value = found.value
            if not isinstance(value, Classified) or path in owned:
                continue
            # a package manager may list the file through a symlinked directory
            # (/bin -> /usr/bin on Debian)
            if any(view.resolve(other) is not None and view.resolve(other) == view.get(path)
                   for other in owned if _base(other) == _base(path)):
                continue
            packages.append(Package(type="binary", name=value.product, version=value.version,
                                    layer=found.layer, path=path, purl=value.purl))
        return AnalysisOutput(packages=sort_packages(packages),
                              os_release=self._busybox_os(packages, view))

    @staticmethod
    def _busybox_os(packages: list[Package], view: FinalView) -> OSRelease | None:
        if any(view.get(path) is not None for path in OS_FILES):
            return None
        box = next((p for p in packages if p.name == "busybox" and p.path in BUSYBOX_PATHS),
                   None)
        if box is None:
            return None
        return OSRelease(id="busybox", version_id=box.version,
                         pretty_name=f"BusyBox v{box.version}")
