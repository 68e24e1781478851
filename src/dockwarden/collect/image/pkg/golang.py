"""Go modules compiled into executables, from the build information the Go linker embeds
(the `.go.buildinfo` section).

The hand-written reader follows Go's own `debug/buildinfo`: there is no well-kept Python
library for it (and `go version -m` would need a Go toolchain in the image or on the
host, and a subprocess per binary). The section starts, 16-byte aligned, with
the 14-byte magic `\\xff Go buildinf:`, a pointer size byte and a flags byte:

- Go 1.18 and later (flag 0x2): the Go version and the module information follow the
  32-byte header inline, each as a uvarint length and the bytes;
- before Go 1.18: two pointers (endianness from flag 0x1) to Go string headers
  (data pointer, length), which are virtual addresses mapped to file offsets through
  the ELF program headers (PT_LOAD segments).

The module information is framed by 16 sentinel bytes at each end, then tab-separated
lines `path MAIN`, `mod PATH VERSION SUM`, `dep PATH VERSION SUM`, and `=> PATH VERSION
SUM` replacing the line before it. A replacement by another module version is reported as
that module; a replacement by a local directory (version empty or "(devel)") keeps the
required module path and version.

Packages reported per binary (type "golang", path = the binary): each dependency; the
main module unless it is `command-line-arguments` (a `go build file.go`), or, for a
binary without module information (GOPATH mode, `-mod=vendor` builds by distributions:
Debian's docker, runc, containerd, docker-registry), its main package path (the `path`
line); and `stdlib` at the Go
version as a semver ("go1.21.3" -> "v1.21.3"), as vulnerability databases list Go's
standard library under that name.

The main module's version, when the build info says "(devel)" or there is no module
line (`main_version`), is recovered in this order, each step only when unambiguous
(exactly one distinct value), else left empty:

1. the `-ldflags` build setting: the values of `-X pkg.var=value` whose variable is
   named `version`, `Version`, `gitVersion`... (`_VERSION_VARS`) and whose value looks
   like a version (`_LOOKS_VERSION`: "v1.2.3", "28.2.2", "1.1.5+ds1");
2. the `-X` values themselves, when `-trimpath` kept `-ldflags` out of the build info
   (Go drops it then): the linker stores every `-X` value, and the Go version it sets
   in `runtime.buildVersion` the same way, as string symbols it lays out together; the
   NUL-delimited strings within `_X_WINDOW` bytes of a NUL-delimited copy of the Go
   version that look like a version are taken. Observed with the external linker
   (cgo builds: Debian's runc 1.1.5+ds1, containerd 1.6.20~ds1 and docker-registry
   2.8.2+ds1, equal to their `--version`); Go's internal linker (CGO_ENABLED=0) sorts
   the strings apart, so there such a build keeps an empty version, as `go version -m`
   shows "(devel)" (a version-like string found elsewhere in the read-only data is
   not taken: nothing ties it to the main module);
3. `vcs.revision` and `vcs.time` settings: the pseudo-version Go itself gives an
   untagged commit, `v0.0.0-20240102150405-0123456789ab` (`+dirty` when
   `vcs.modified=true`).

A recovered version is written as a Go module version ("v" prefixed).

Only ELF files are read (containers run Linux). Executables of any size are wanted:
the walker hands an analyzer the first `max_bytes` of a file as one `bytes` (it does not
stream a member to analyzers), so the read is bounded by `MAX_READ` (512 MiB: terraform
is 90 MB, the largest Go programs seen in images about 250 MB). The build information
sits at the start of the data segment, after the code and read-only data, so the whole
head up to it must be read; a Go executable (its `Go` build-id note, within the first
pages) whose build information lies past what was read, or does not parse, is never
dropped silently: it is listed under the report's skipped items with the reason. As in
Go's reader, the magic is only looked for, at 16-byte aligned addresses, in the
`.go.buildinfo` section, or without a section table in the first writable, non-executable
PT_LOAD segment: the build information of another Go program carried as data (an
embedded binary, in the read-only data) is not taken for this one's. A file that is not
ELF or has neither is dropped after reading its headers.
"""

from __future__ import annotations

import ast
import re
import struct
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import (
    Unreadable,
    make_purl,
    plausible,
    skipped_entries,
    sort_packages,
)
from dockwarden.model.image import Package

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ELF_MAGIC = b"\x7fELF"
MAX_READ = 512 * 1024 * 1024  # the walker reads at most this much of an executable
MAX_BINARY = MAX_READ  # (the name older callers know)
MIN_BINARY = 64 * 1024  # the smallest Go executable is about a megabyte
MAX_CANDIDATES = 64  # occurrences of the magic tried (a Go tool may quote it as data)
MAX_STRING = 16 * 1024 * 1024
MAX_MODULES = 20_000
MAX_SEGMENTS = 256
_PT_LOAD = 1
_PF_X, _PF_W = 1, 2
MAX_SECTIONS = 4096
_ALIGN = 16  # the blob starts at an address that is a multiple of this
_START = 16  # sentinel bytes around the module information
_VERSION = re.compile(r"(?:devel )?go[0-9][\x21-\x7e]*( [\x20-\x7e]*)?")
_SEMVER = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?(?:(beta|rc)(\d+))?")
# The ELF note the Go linker writes in the first pages of every executable: name size
# 4, a descriptor size, type 4 (the Go build id), name "Go\0\0"; either byte order.
_GO_NOTE = re.compile(rb"\x04\x00\x00\x00..\x00\x00\x04\x00\x00\x00Go\x00\x00"
                      rb"|\x00\x00\x00\x04\x00\x00..\x00\x00\x00\x04Go\x00\x00", re.S)
NOTE_WINDOW = 64 * 1024
_LOOKS_VERSION = re.compile(r"v?\d+\.\d+(?:\.\d+)?(?:[-+~][0-9A-Za-z.+~-]*)?")
_VERSION_VARS = frozenset(("version", "gitversion", "buildversion", "appversion",
                           "releaseversion", "semver"))
_X_FLAG = re.compile(r"""-X[= ]?\s*["']?([^\s"'=]+)=([^\s"']*)""")
_X_WINDOW = 96  # bytes either side of the Go version string (see the docstring, step 2)
_X_TOKEN = re.compile(rb"[\x21-\x7e]{3,64}")


class GoModule(NamedTuple):
    path: str
    version: str


class GoBuildInfo(NamedTuple):
    go_version: str
    main: GoModule | None
    deps: tuple[GoModule, ...]
    path: str = ""  # the main package's import path (the `path` line)
    settings: tuple[tuple[str, str], ...] = ()  # `build` lines: (key, value)
    version: str = ""  # the main version recovered when the build info says "(devel)"


class _Segment(NamedTuple):
    vaddr: int
    offset: int
    size: int
    flags: int = 0  # PF_X 1, PF_W 2, PF_R 4


def _uvarint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    return None


def _inline_string(data: bytes, pos: int) -> tuple[bytes, int] | None:
    decoded = _uvarint(data, pos)
    if decoded is None:
        return None
    length, start = decoded
    if length > MAX_STRING or start + length > len(data):
        return None
    return data[start:start + length], start + length


def elf_segments(data: bytes) -> tuple[tuple[_Segment, ...], str, int] | None:
    """PT_LOAD segments, byte order ("<" or ">") and pointer size of an ELF file."""
    if len(data) < 52 or not data.startswith(ELF_MAGIC):
        return None
    klass, encoding = data[4], data[5]
    if klass not in (1, 2) or encoding not in (1, 2):
        return None
    bo = "<" if encoding == 1 else ">"
    if klass == 2:
        if len(data) < 64:
            return None
        (phoff,) = struct.unpack_from(bo + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(bo + "HH", data, 54)
        entry, minsize = bo + "IIQQQQ", 48
    else:
        (phoff,) = struct.unpack_from(bo + "I", data, 28)
        phentsize, phnum = struct.unpack_from(bo + "HH", data, 42)
        entry, minsize = bo + "IIIIIII", 28
    if phentsize < minsize or phnum > MAX_SEGMENTS:
        return None
    segments = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + minsize > len(data):
            break
        if klass == 2:
            ptype, flags, offset, vaddr, _paddr, filesz = struct.unpack_from(entry, data, at)
        else:
            ptype, offset, vaddr, _paddr, filesz, _memsz, flags = struct.unpack_from(
                entry, data, at)
        if ptype == _PT_LOAD and offset < len(data):
            segments.append(_Segment(vaddr, offset, min(filesz, len(data) - offset), flags))
    return tuple(segments), bo, 8 if klass == 2 else 4


def _section(data: bytes, wanted: bytes) -> _Segment | None:
    """The section named `wanted` (its address, file offset and size), from the section
    header table; None when there is none or the table does not read."""
    klass, bo = data[4], "<" if data[5] == 1 else ">"
    try:
        if klass == 2:
            (shoff,) = struct.unpack_from(bo + "Q", data, 40)
            shentsize, shnum, shstrndx = struct.unpack_from(bo + "HHH", data, 58)
            entry, minsize = bo + "IIQQQQ", 40
        else:
            (shoff,) = struct.unpack_from(bo + "I", data, 32)
            shentsize, shnum, shstrndx = struct.unpack_from(bo + "HHH", data, 46)
            entry, minsize = bo + "IIIIII", 24
        if (not shoff or shentsize < minsize or shnum > MAX_SECTIONS or shstrndx >= shnum
                or shoff + shnum * shentsize > len(data)):  # past the end of the file
            return None
        headers = [struct.unpack_from(entry, data, shoff + i * shentsize) for i in range(shnum)]
    except struct.error:  # a header too short to hold the table's position
        return None
    names_at = headers[shstrndx][4]
    for name, _type, _flags, addr, offset, size in headers:
        start = names_at + name
        if data[start:start + len(wanted) + 1] == wanted + b"\0" and offset < len(data):
            return _Segment(addr, offset, min(size, len(data) - offset))
    return None


def _search_region(data: bytes) -> _Segment | None:
    """Where Go's own reader (debug/buildinfo) looks for the build information: the
    `.go.buildinfo` section, else the first writable, non-executable PT_LOAD segment
    (the data segment, which the linker starts with it)."""
    found = _section(data, b".go.buildinfo")
    if found is not None:
        return found
    elf = elf_segments(data)
    if elf is None:
        return None
    return next((s for s in elf[0] if s.flags & (_PF_X | _PF_W) == _PF_W), None)


def _read_at(data: bytes, segments: tuple[_Segment, ...], addr: int, size: int) -> bytes | None:
    for seg in segments:
        if seg.vaddr <= addr < seg.vaddr + seg.size:
            if addr + size > seg.vaddr + seg.size:
                return None
            start = seg.offset + (addr - seg.vaddr)
            return data[start:start + size]
    return None


def _pointer_string(
    data: bytes, segments: tuple[_Segment, ...], bo: str, word: str, addr: int
) -> bytes | None:
    """A Go string (data pointer, length) stored at virtual address `addr`."""
    pair = struct.Struct(bo + word * 2)
    header = _read_at(data, segments, addr, pair.size)
    if header is None or len(header) != pair.size:
        return None
    str_addr, length = pair.unpack(header)
    if length > MAX_STRING:
        return None
    return _read_at(data, segments, str_addr, length)


def _strings_at(data: bytes, at: int) -> tuple[bytes, bytes] | None:
    """(version, module info) of the build info header at offset `at`."""
    if len(data) - at < HEADER_SIZE:
        return None
    ptr_size, flags = data[at + 14], data[at + 15]
    if ptr_size not in (4, 8):
        return None
    if flags & 0x2:
        first = _inline_string(data, at + HEADER_SIZE)
        if first is None:
            return None
        second = _inline_string(data, first[1])
        if second is None:
            return None
        return first[0], second[0]
    elf = elf_segments(data)
    if elf is None:
        return None
    segments = elf[0]
    bo = ">" if flags & 0x1 else "<"
    word = "Q" if ptr_size == 8 else "I"
    vers_addr, mod_addr = struct.unpack_from(bo + word * 2, data, at + 16)
    version = _pointer_string(data, segments, bo, word, vers_addr)
    if version is None:
        return None
    modinfo = _pointer_string(data, segments, bo, word, mod_addr) or b""
    return version, modinfo


def parse_modinfo(modinfo: str) -> tuple[GoModule | None, tuple[GoModule, ...]]:
    """(main module, dependencies) of the module information text (framing removed)."""
    main: GoModule | None = None
    deps: list[GoModule] = []
    last: str | None = None  # "main", "dep" or None: what a "=>" line replaces
    for line in modinfo.split("\n"):
        fields = line.split("\t")
        kind = fields[0]
        if kind == "mod" and len(fields) >= 3:
            main, last = GoModule(fields[1], fields[2]), "main"
        elif kind == "dep" and len(fields) >= 3 and len(deps) < MAX_MODULES:
            deps.append(GoModule(fields[1], fields[2]))
            last = "dep"
        elif kind == "=>" and len(fields) >= 3 and last is not None:
            path, version = fields[1], fields[2]
            if version and version != "(devel)":  # another module, not a local directory
                if last == "dep":
                    deps[-1] = GoModule(path, version)
                else:
                    main = GoModule(path, version)
            last = None
        else:
            last = None
    return main, tuple(deps)


def _unquote(value: str) -> str:
    """A build setting's value as `go version -m` shows it: Go quotes (strconv.Quote,
    whose escapes Python's string literals share) a value with spaces or quotes."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value[1:-1]
        return parsed if isinstance(parsed, str) else value[1:-1]
    return value


def parse_extras(modinfo: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(main package path, build settings) of the module information text."""
    path = ""
    settings: list[tuple[str, str]] = []
    for line in modinfo.split("\n"):
        kind, _, rest = line.partition("\t")
        if kind == "path" and not path:
            path = rest.split("\t")[0]
        elif kind == "build" and len(settings) < MAX_MODULES:
            key, sep, value = rest.partition("=")
            if sep and key:
                settings.append((key, _unquote(value)))
    return path, tuple(settings)


def _one(values: list[str]) -> str:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else ""


def _as_module_version(value: str) -> str:
    return value if value.startswith("v") else "v" + value


def _from_ldflags(settings: tuple[tuple[str, str], ...]) -> str:
    values = []
    for key, value in settings:
        if key != "-ldflags":
            continue
        for var, found in _X_FLAG.findall(value):
            if var.rpartition(".")[2].lower() in _VERSION_VARS and \
                    _LOOKS_VERSION.fullmatch(found):
                values.append(found)
    return _one(values)


def _from_x_strings(data: bytes, go_version: str) -> str:
    """Step 2 of the docstring: the version-like strings next to the Go version's."""
    if not go_version.startswith("go"):
        return ""
    needle = b"\x00" + go_version.encode("ascii", errors="replace") + b"\x00"
    values: list[str] = []
    start = 0
    for _ in range(MAX_CANDIDATES):
        at = data.find(needle, start)
        if at < 0:
            break
        start = at + 1
        lo, hi = max(0, at - _X_WINDOW), at + len(needle) + _X_WINDOW
        for token in _X_TOKEN.finditer(data, lo, hi):
            # only whole NUL-delimited strings (a token cut by the window is not one)
            if token.start() == lo or token.end() == hi:
                continue
            if data[token.start() - 1] != 0 or data[token.end():token.end() + 1] != b"\0":
                continue
            text = token.group().decode("ascii")
            if text != go_version and _LOOKS_VERSION.fullmatch(text):
                values.append(text)
    return _one(values)


def _from_vcs(settings: tuple[tuple[str, str], ...]) -> str:
    found = dict(settings)
    revision, when = found.get("vcs.revision", ""), found.get("vcs.time", "")
    stamp = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z", when)
    if not re.fullmatch(r"[0-9a-f]{12,64}", revision) or stamp is None:
        return ""
    version = f"v0.0.0-{''.join(stamp.groups())}-{revision[:12]}"
    return version + ("+dirty" if found.get("vcs.modified") == "true" else "")


def main_version(data: bytes, go_version: str, main: GoModule | None,
                 settings: tuple[tuple[str, str], ...]) -> str:
    """The main module's version (see the module docstring); "" when not known."""
    if main is not None and main.version and main.version != "(devel)":
        return main.version
    for found in (_from_ldflags(settings), _from_x_strings(data, go_version)):
        if found:
            return _as_module_version(found)
    return _from_vcs(settings)


def is_go_executable(data: bytes) -> bool:
    """An ELF file with the Go linker's build-id note in its first pages."""
    return data.startswith(ELF_MAGIC) and _GO_NOTE.search(data, 0, NOTE_WINDOW) is not None


def _unframe(modinfo: bytes) -> bytes:
    if len(modinfo) >= 2 * _START + 1 and modinfo[-_START - 1] == 0x0A:
        return modinfo[_START:-_START]
    return b""


def parse_buildinfo(data: bytes) -> GoBuildInfo | None:
    """The build information of a Go ELF executable; None for anything else. Only the
    region Go itself searches is searched (`_search_region`): a build info blob elsewhere,
    say that of another Go program embedded as data, is not this executable's."""
    if len(data) < 64 or not data.startswith(ELF_MAGIC) or data[4] not in (1, 2):
        return None
    region = _search_region(data)
    if region is None:
        return None
    start, end = region.offset, region.offset + region.size
    for _ in range(MAX_CANDIDATES):
        at = data.find(MAGIC, start, end)
        if at < 0:
            return None
        start = at + 1
        if (region.vaddr + at - region.offset) % _ALIGN:
            continue
        found = _strings_at(data, at)
        if found is None:
            continue
        version = found[0].decode("utf-8", errors="replace")
        if not _VERSION.fullmatch(version):
            continue
        text = _unframe(found[1]).decode("utf-8", errors="replace")
        main, deps = parse_modinfo(text)
        path, settings = parse_extras(text)
        return GoBuildInfo(version, main, deps, path, settings,
                           main_version(data, version, main, settings))
    return None


def read_buildinfo(data: bytes, cut: bool = False) -> GoBuildInfo | Unreadable | None:
    """`parse_buildinfo`, telling a Go executable whose build information could not be
    read (`cut` short by the read bound, or damaged) from a file that is not one: the
    first gives an `Unreadable` with the reason, the second None."""
    info = parse_buildinfo(data)
    if info is not None or not is_go_executable(data):
        return info
    if cut:
        return Unreadable(f"Go executable larger than the {len(data) >> 20} MiB read: its "
                          "build information lies past them")
    return Unreadable("Go executable whose build information does not read")


def stdlib_version(go_version: str) -> str:
    """"go1.21.3" -> "v1.21.3", "go1.20" -> "v1.20.0", "go1.22rc1" -> "v1.22.0-rc.1";
    "" for a development toolchain."""
    match = _SEMVER.match(go_version)
    if match is None:
        return ""
    major, minor, patch, pre, pre_n = match.groups()
    version = f"v{major}.{minor}.{patch or 0}"
    return f"{version}-{pre}.{pre_n}" if pre else version


def _module_purl(path: str, version: str) -> str:
    if path == "stdlib":  # as the purl spec and Go tooling write it: no "v"
        return make_purl("golang", "stdlib", version.removeprefix("v"))
    namespace, _, name = path.rpartition("/")
    return make_purl("golang", name, version, namespace)


def modules_of(info: GoBuildInfo) -> list[GoModule]:
    """What is reported for one binary (see the module docstring)."""
    modules: list[GoModule] = []
    std = stdlib_version(info.go_version)
    if std:
        modules.append(GoModule("stdlib", std))
    if info.main is not None and info.main.path not in ("", "command-line-arguments"):
        version = "" if info.main.version == "(devel)" else info.main.version
        modules.append(GoModule(info.main.path, version or info.version))
    elif info.main is None and info.path not in ("", "command-line-arguments"):
        modules.append(GoModule(info.path, info.version))  # no module information
    modules.extend(info.deps)
    return [m for m in modules if plausible(m.path) and (not m.version or plausible(m.version))]


class GoBinaryAnalyzer:
    name: str = "golang"
    selector = Selector(executables=True)
    max_bytes: int = MAX_READ

    def wants(self, path: str, size: int, mode: int) -> bool:
        return bool(mode & 0o111) and size >= MIN_BINARY

    def analyze(self, path: str, data: bytes) -> object | None:
        # a read of exactly MAX_READ bytes is (almost surely) a file cut short
        return read_buildinfo(data, cut=len(data) >= self.max_bytes)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        packages = []
        skipped = skipped_entries(self.name, ((p, f.value) for p, f in results.items()))
        for found in results.values():
            info = found.value
            if not isinstance(info, GoBuildInfo):
                continue
            for module in modules_of(info):
                packages.append(
                    Package(
                        type="golang",
                        name=module.path,
                        version=module.version,
                        layer=found.layer,
                        path=found.path,
                        purl=_module_purl(module.path, module.version),
                    )
                )
        return AnalysisOutput(packages=sort_packages(packages), skipped=skipped)
