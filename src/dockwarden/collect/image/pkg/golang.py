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
main module unless it is `command-line-arguments` (a `go build file.go`), its version
left empty when it is "(devel)" (a build from a checkout); and `stdlib` at the Go
version as a semver ("go1.21.3" -> "v1.21.3"), as vulnerability databases list Go's
standard library under that name.

Only ELF files are read (containers run Linux). Any executable of at most 64 MiB is
read during the pass (a pre-1.18 blob points to strings anywhere in the file). As in
Go's reader, the magic is only looked for, at 16-byte aligned addresses, in the
`.go.buildinfo` section, or without a section table in the first writable, non-executable
PT_LOAD segment: the build information of another Go program carried as data (an
embedded binary, in the read-only data) is not taken for this one's. A file that is not
ELF or has neither is dropped after reading its headers.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import make_purl, plausible, sort_packages
from dockwarden.model.image import Package

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ELF_MAGIC = b"\x7fELF"
MAX_BINARY = 64 * 1024 * 1024
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


class GoModule(NamedTuple):
    path: str
    version: str


class GoBuildInfo(NamedTuple):
    go_version: str
    main: GoModule | None
    deps: tuple[GoModule, ...]


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
        main, deps = parse_modinfo(_unframe(found[1]).decode("utf-8", errors="replace"))
        return GoBuildInfo(version, main, deps)
    return None


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
        modules.append(GoModule(info.main.path, version))
    modules.extend(info.deps)
    return [m for m in modules if plausible(m.path) and (not m.version or plausible(m.version))]


class GoBinaryAnalyzer:
    name: str = "golang"
    selector = Selector(executables=True)
    max_bytes: int = MAX_BINARY

    def wants(self, path: str, size: int, mode: int) -> bool:
        return bool(mode & 0o111) and MIN_BINARY <= size <= MAX_BINARY

    def analyze(self, path: str, data: bytes) -> object | None:
        return parse_buildinfo(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        packages = []
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
        return AnalysisOutput(packages=sort_packages(packages))
