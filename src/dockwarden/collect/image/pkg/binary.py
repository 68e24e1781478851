"""Binaries that no package manager lists: a table of (file name pattern, version
pattern read from the file's bytes) for the programs minimal and distroless images
ship by copying them in (busybox, Python, Node.js, OpenSSL, Redis, PostgreSQL...).

Written by hand: it is a table and a regular expression search. Each rule (`RULES`)
names the files it applies to by their base name (`names`), so that only those files
are read at all: the walker asks `wants` about executables, about files under the
library directories whose names start with one of `_LIB_STARTS`, and about files named
`release` (a JDK's `release` file names its version, the `java` binary does not). A file
is classified when its bytes hold exactly one distinct version for the rule's patterns
(several distinct versions: not classified, never a guess; more than `_MAX_CANDIDATES`
distinct ones are not even kept), and, where the rule has an `anchor`, that text as
well; where the rule also has `near`, only the versions lying within that many bytes of
one of the first `_MAX_CANDIDATES` anchors count (redis-server carries its commands'
"since" versions, sudo a bundled library's: found against Debian's real binaries). The
Go programs (traefik, consul, vault, etcd) take their version from the Go build
information (golang.py), module path as purl.

Memory: executables and libraries are never held whole (node is 100 MB, a Go program
can be larger). The walker pushes them to a `Scanner` (`BinaryClassifier.scanner`, the
walker's scanner hook) in chunks, beside the Go analyzer's own stream: only the rules
whose `names` match run; each pattern is searched over what was fed plus the last
`_OVERLAP` bytes (a match is taken once, by its offset in the file; one starting in the
last `_OVERLAP` bytes waits for the next chunk), chunks gathered to `_SEARCH_AT` bytes
first, so that a scanner holds about `_SEARCH_AT` + a chunk + `_OVERLAP` bytes, plus the
bounded state `Scanner` lists (under 1 MiB but for a Go program's build info blob:
`golang.MAX_INFO` each). `classify` gives the same answer on the whole file (the tests
hold them equal, chunk sizes from 1 byte up), as long as a version match is shorter
than `_OVERLAP` bytes. The Go programs' build information is found while streaming in
the data segment named by the ELF program headers of the first chunk (`_GoSearch`):
the inline format (Go >= 1.18) only, so a pre-1.18 program is not classified (the Go
analyzer still lists its modules); a "(devel)" main module's version is recovered from
the build settings only (`golang.parse_blob`). The files read as bytes (`analyze`:
dpkg file lists, apk's database, `release` files) are read up to `MAX_READ` (16 MiB).

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

MAX_LIST = 4 * 1024 * 1024  # a package manager's file list
MAX_APK_DB = 4 * MAX_LIST  # apk's installed database
MAX_READ = MAX_APK_DB  # the bytes path: file lists, apk's database, `release` files
DPKG_INFO = "/var/lib/dpkg/info/"
APK_DB = "/lib/apk/db/installed"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox")
_LIB_DIRS = ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/", "/usr/local/lib/", "/opt/")
_LIB_STARTS = ("libcrypto.so", "libssl.so", "libpython", "libnode.so")
_MAX_CANDIDATES = 64  # distinct versions (more: not classified) and anchors, per rule
_OVERLAP = 512  # bytes a chunked search keeps from one search to the next
_SEARCH_AT = 256 * 1024  # a chunked search gathers this much before it runs
_PY_DIR = re.compile(rb"python(\d\.\d{1,16})")  # a Python library directory's name
_MAX_MINORS = 1024


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


def _counted(rule: Rule, anchors: list[int], start: int, end: int) -> bool:
    """Whether a version match [start, end) counts: any match for a rule without
    `near`, else one lying within `near` bytes of one of the (first) anchors."""
    if not rule.near:
        return True
    return any(at - rule.near <= start and end <= at + len(rule.anchor) + rule.near
               for at in anchors)


def _anchors(rule: Rule, data: bytes) -> list[int]:
    """Where the first `_MAX_CANDIDATES` occurrences of the rule's anchor start."""
    found: list[int] = []
    at = data.find(rule.anchor)
    while at >= 0 and len(found) < _MAX_CANDIDATES:
        found.append(at)
        at = data.find(rule.anchor, at + len(rule.anchor))
    return found


def _narrowed(rule: Rule, name: str, found: list[str], minors: set[str] | None
              ) -> list[str] | None:
    """The distinct versions that count (None: more than `_MAX_CANDIDATES`, which is
    no single version either). Python: the file's own minor version, when its name has
    one, else the versions of which it names its library directory (`minors`: the
    `python<major>.<minor>` strings in the file, `_PY_DIR`)."""
    if len(found) > _MAX_CANDIDATES:
        return None
    if rule.product == "python":
        minor = re.search(r"(\d\.\d+)", name)
        if minor is not None:
            found = [v for v in found if v.startswith(minor.group(1) + ".")]
        elif found and minors is not None:
            found = [v for v in found
                     if any(m.startswith(".".join(v.split(".")[:2])) for m in minors)]
    return found


def _versions(rule: Rule, name: str, data: bytes) -> list[str] | None:
    anchors = _anchors(rule, data) if rule.near else []
    found: dict[str, None] = {}
    for pattern in rule.patterns:
        for match in pattern.finditer(data):
            if _counted(rule, anchors, match.start(), match.end()):
                found[match.group(1).decode("ascii", errors="replace")] = None
                if len(found) > _MAX_CANDIDATES:
                    return None
    minors = None
    if rule.product == "python" and not re.search(r"\d\.\d+", name):
        minors = {m.group(1).decode("ascii") for m in _PY_DIR.finditer(data)}
    return _narrowed(rule, name, list(found), minors)


def _from_go(rule: Rule, info: golang.GoBuildInfo | None) -> Classified | None:
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


def _one_hit(hits: list[Classified]) -> Classified | None:
    return hits[0] if len(hits) == 1 else None


def _hit(rule: Rule, versions: list[str] | None) -> Classified | None:
    if versions is None or len(versions) != 1 or not plausible(versions[0]):
        return None
    return Classified(rule.product, versions[0], make_purl("generic", rule.product, versions[0]))


def _rules_for(name: str) -> list[Rule]:
    return [rule for rule in RULES if rule.names.fullmatch(name)]


def classify(path: str, data: bytes) -> Classified | None:
    """The product and version of one file held whole, when exactly one rule says so
    (`Scanner` gives the same answer reading it in chunks)."""
    name = _base(path)
    hits: list[Classified] = []
    for rule in _rules_for(name):
        if rule.go_module:
            found = _from_go(rule, golang.parse_buildinfo(data))
        elif rule.anchor and rule.anchor not in data:
            continue
        else:
            found = _hit(rule, _versions(rule, name, data))
        if found is not None:
            hits.append(found)
    return _one_hit(hits)


class _Finder:
    """The matches of one pattern over a file fed in chunks, as `finditer` over the
    whole file finds them: a search stops `_OVERLAP` bytes short of what was fed (a
    match starting there waits for more bytes) and the next one resumes at the end of
    the last match or at that point. Exact for matches (and the bytes a match attempt
    looks at) shorter than `_OVERLAP`."""

    __slots__ = ("pattern", "resume")

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self.resume = 0  # file offset where the next search starts

    def search(self, buf: bytearray, base: int, final: bool) -> list[tuple[int, int, bytes]]:
        """(start, end, group 1 or the match) of the matches found in `buf` (file
        offset `base`) from `resume` on."""
        limit = base + len(buf) - (0 if final else _OVERLAP)
        found: list[tuple[int, int, bytes]] = []
        if self.resume >= limit:
            return found
        for match in self.pattern.finditer(buf, self.resume - base):
            start = base + match.start()
            if start >= limit:
                break
            end = base + match.end()
            found.append((start, end, bytes(match.group(1 if self.pattern.groups else 0))))
            self.resume = max(end, start + 1)
        self.resume = max(self.resume, limit)
        return found


class _Versions:
    """One version rule's state over a stream: the distinct versions that count, the
    anchors, and (rules with `near`) the matches that an anchor still to come may
    count."""

    __slots__ = ("anchor", "anchors", "finders", "found", "pending", "rule", "seen",
                 "too_many")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.finders = [_Finder(p) for p in rule.patterns]
        self.anchor = _Finder(re.compile(re.escape(rule.anchor))) if rule.anchor else None
        self.anchors: list[int] = []
        self.seen = False  # the anchor occurs
        self.found: dict[str, None] = {}
        self.pending: list[tuple[int, int, str]] = []
        self.too_many = False

    def search(self, buf: bytearray, base: int, final: bool) -> None:
        rule = self.rule
        if self.anchor is not None and (rule.near or not self.seen):
            for start, _end, _text in self.anchor.search(buf, base, final):
                self.seen = True
                if len(self.anchors) < _MAX_CANDIDATES:
                    self.anchors.append(start)
        frontier = self.anchor.resume if self.anchor is not None else 0
        if rule.near and self.pending:  # the ones an anchor found now may count
            keep = []
            for start, end, version in self.pending:
                if _counted(rule, self.anchors, start, end):
                    self._add(version)
                elif start + rule.near >= frontier:
                    keep.append((start, end, version))
            self.pending = keep
        for finder in self.finders:
            for start, end, text in finder.search(buf, base, final):
                version = text.decode("ascii", errors="replace")
                if _counted(rule, self.anchors, start, end):
                    self._add(version)
                elif start + rule.near >= frontier and not final \
                        and len(self.anchors) < _MAX_CANDIDATES:
                    self.pending.append((start, end, version))

    def _add(self, version: str) -> None:
        if not self.too_many:
            self.found[version] = None
            if len(self.found) > _MAX_CANDIDATES:
                self.too_many = True
                self.found = {}

    def keep_from(self) -> int:
        """The first file offset a later search needs."""
        offsets = [f.resume for f in self.finders]
        if self.anchor is not None and (self.rule.near or not self.seen):
            offsets.append(self.anchor.resume)
        return min(offsets)

    def result(self, name: str, minors: set[str] | None) -> Classified | None:
        if self.rule.anchor and not self.seen:
            return None
        versions = None if self.too_many else _narrowed(self.rule, name, list(self.found),
                                                        minors)
        return _hit(self.rule, versions)


class _GoBlob:
    """One candidate build info blob of a Go program, captured as the stream passes it
    (at most `golang.MAX_INFO` bytes from the magic)."""

    __slots__ = ("capture", "info", "start")

    def __init__(self, start: int, size: int) -> None:
        self.start = start
        self.capture = golang._Capture(
            start, min(size, start + golang.HEADER_SIZE + golang.FIRST_READ))
        self.info: golang.GoBuildInfo | bool | None = False  # False: not parsed yet

    def take(self, buf: bytes | bytearray, base: int) -> None:
        capture = self.capture
        while self.info is False:
            if not capture.take(buf, base):
                return
            blob = b"".join(capture.parts)
            capture.parts = [blob]
            need = golang.blob_end(blob)
            if need is not None and len(blob) < need <= golang.MAX_INFO \
                    and self.start + need > capture.end:
                capture.end = self.start + need  # the module information is longer
                continue
            self.info = golang.parse_blob(blob)
            capture.parts = []

    def finish(self) -> None:
        """The member ended: parse what was captured."""
        if self.info is False:
            self.info = golang.parse_blob(b"".join(self.capture.parts))
            self.capture.parts = []


class _GoSearch:
    """The build information of a Go program read in chunks: the magic at 16-byte
    aligned addresses inside the first writable, non-executable PT_LOAD segment (as
    `golang.parse_buildinfo` finds it, which also honours a `.go.buildinfo` section
    header: the linker puts that section at the start of the same segment), the first
    candidate that parses winning. Inline (Go >= 1.18) blobs only: a pre-1.18 program's
    pointer-format blob gives no classification."""

    __slots__ = ("blobs", "finder", "known", "region", "seen", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.known = False  # the ELF headers were read (`region` set)
        self.region: golang._Segment | None = None
        self.finder = _Finder(re.compile(re.escape(golang.MAGIC)))
        self.blobs: list[_GoBlob] = []
        self.seen = 0  # occurrences of the magic in the region (as parse_buildinfo counts)

    def search(self, buf: bytearray, base: int, final: bool) -> None:
        region = self.region
        if region is None:
            self.finder.resume = base + len(buf)
            return
        region_end = region.offset + region.size
        for start, end, _text in self.finder.search(buf, base, final):
            if start < region.offset or end > region_end:
                continue
            if self.seen >= golang.MAX_CANDIDATES:
                break
            self.seen += 1
            if (region.vaddr + start - region.offset) % golang._ALIGN:
                continue
            blob = _GoBlob(start, self.size)
            blob.take(buf, base)
            self.blobs.append(blob)

    def decided(self) -> bool:
        """Whether the answer is known: a candidate parsed, all before it failed, and
        (when none did) no candidate can come any more."""
        if not self.known:
            return False
        for blob in self.blobs:
            if blob.info is False:
                return False
            if blob.info is not None:
                return True
        region = self.region
        return region is None or self.seen >= golang.MAX_CANDIDATES or \
            self.finder.resume >= region.offset + region.size

    def info(self) -> golang.GoBuildInfo | None:
        for blob in self.blobs:
            blob.finish()
            if isinstance(blob.info, golang.GoBuildInfo):
                return blob.info
        return None


class Scanner:
    """`classify` of a file read in chunks (`feed`), holding a bounded part of it: the
    last `_OVERLAP` bytes and what was fed since the last search (searches run once
    `_SEARCH_AT` bytes are gathered), the versions found (at most `_MAX_CANDIDATES` per
    rule), anchor offsets (as many), the matches within `near` of the end of what was
    searched, the `python<x.y>` strings seen (at most `_MAX_MINORS`), and a Go program's
    build info blobs (`golang.MAX_INFO` each, `golang.MAX_CANDIDATES` of them at most)."""

    def __init__(self, name: str, size: int, rules: list[Rule]) -> None:
        self.name = name
        self.size = size
        self.fed = 0
        self.base = 0  # file offset of buf[0]
        self.buf = bytearray()
        self.go: list[tuple[Rule, _GoSearch]] = [(r, _GoSearch(size)) for r in rules
                                                 if r.go_module]
        self.versions = [_Versions(r) for r in rules if not r.go_module]
        self.elf_read = not self.go
        self.minors: set[str] | None = None
        self.py_finder: _Finder | None = None
        if any(r.product == "python" for r in rules) and not re.search(r"\d\.\d+", name):
            self.minors = set()
            self.py_finder = _Finder(_PY_DIR)
        self.done = False

    def feed(self, chunk: bytes) -> bool:
        """Take the next bytes of the file; False once the answer is known without the
        rest (only ever for the Go programs: a version may lie anywhere in a file)."""
        if not chunk or self.done:
            return not self.done
        for _rule, go in self.go:
            for blob in go.blobs:
                blob.take(chunk, self.fed)
        self.buf += chunk
        self.fed += len(chunk)
        if not self.elf_read and (self.fed >= min(golang.HEAD, self.size)):
            self._elf()
        if len(self.buf) >= _SEARCH_AT:
            self._search(final=False)
        if not self.versions and all(go.decided() for _rule, go in self.go):
            self.done = True
        return not self.done

    def _elf(self) -> None:
        self.elf_read = True
        region = golang.data_region(bytes(self.buf[:golang.HEAD]), self.size) \
            if self.base == 0 else None
        for _rule, go in self.go:
            go.region, go.known = region, True

    def _search(self, final: bool) -> None:
        buf, base = self.buf, self.base
        for version in self.versions:
            version.search(buf, base, final)
        if self.py_finder is not None and self.minors is not None:
            for _start, _end, text in self.py_finder.search(buf, base, final):
                if len(self.minors) < _MAX_MINORS:
                    self.minors.add(text.decode("ascii"))
        for _rule, go in self.go:
            go.search(buf, base, final)
        keep = [v.keep_from() for v in self.versions]
        keep += [go.finder.resume for _rule, go in self.go]
        if self.py_finder is not None:
            keep.append(self.py_finder.resume)
        cut = max(base, min(keep, default=base + len(buf)) - 1)  # one byte before: `^`
        del buf[:cut - base]
        self.base = cut

    def result(self) -> Classified | None:
        """The answer, once the whole file (or all that `feed` wanted) was fed."""
        if not self.elf_read:
            self._elf()
        if not self.done:
            self._search(final=True)
        self.buf = bytearray()
        hits: list[Classified] = []
        for rule, go in self.go:
            found = _from_go(rule, go.info())
            if found is not None:
                hits.append(found)
        for version in self.versions:
            found = version.result(self.name, self.minors)
            if found is not None:
                hits.append(found)
        # the rules' order, as classify gives them (one hit is all that is returned)
        return _one_hit(hits)


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
            return size <= MAX_APK_DB
        name = _base(path)
        if name == "release":
            return size <= 64 * 1024
        if not mode & 0o111 and not name.startswith(_LIB_STARTS):
            return False
        return _ALL_NAMES.fullmatch(name) is not None

    def scanner(self, path: str, size: int) -> Scanner | None:
        """A `Scanner` for an executable or a library (read in chunks, never whole);
        None for the files read as bytes (file lists, apk's database, `release`)."""
        if path.startswith(DPKG_INFO) or path == APK_DB:
            return None
        name = _base(path)
        if name == "release":
            return None
        rules = _rules_for(name)
        return Scanner(name, size, rules) if rules else None

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
