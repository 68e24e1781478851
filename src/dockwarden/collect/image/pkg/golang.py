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

Only ELF files are read (containers run Linux). Executables of any size are wanted,
and read as a stream (`GoBinaryAnalyzer.analyze_stream`, the walker's streaming hook):
the ELF header and program headers come from the first `HEAD` bytes; the file then
passes by in `CHUNK`s that are searched and dropped, never kept whole. The build
information is looked for, as Go's own reader does without a section table, at 16-byte
aligned addresses of the first writable, non-executable PT_LOAD segment (the data
segment, which the Go linker starts with it); a candidate's header and strings are
captured as they pass (at most `MAX_INFO` bytes each, `CAPTURE_BUDGET` in all). The
`-X` recovery (step 2) keeps, for each NUL-delimited string that looks like a Go version
(`go1.21.3`) in what passes before, the `_X_WINDOW` bytes either side (`MAX_X_TEXTS`
distinct strings, `MAX_CANDIDATES` windows each); chunks overlap by `OVERLAP` bytes so
a match across a chunk boundary is found once, whole. The pre-1.18 format points, from
the data segment, at strings usually laid out before it: the strings that look like a
Go version and the framed module information (its 16-byte start sentinel) are kept in
bounded windows as they pass (`_KEEP_*`), and a string header after the blob is
captured when it comes; a string outside those windows cannot be reached without
holding the file, and such a binary is listed as skipped with that reason. Peak memory
per binary is therefore bounded, whatever its size: a chunk and its overlap (twice
`CHUNK` while joining, 2 MiB), the captures (`CAPTURE_BUDGET`, 4 MiB), the kept
windows (under 1.5 MiB); under 8 MiB in all (a file of at most `SMALL` bytes, 2 MiB,
is read whole and parsed as bytes, where the `.go.buildinfo` section table is also
used). `MAX_READ` bounds only the bytes path (`analyze(path, data)`, for a caller that
has the file in memory), not a stream.

A Go executable (its `Go` build-id note, within the first pages) whose build information
is not found, or does not parse, is never dropped silently: it is listed under the
report's skipped items with the reason. The magic is only taken in the region Go itself
searches: the build information of another Go program carried as data (an embedded
binary, in the read-only data) is not taken for this one's. A file that is not ELF or
has neither is dropped after reading its headers.

Dependency edges: the main module (or main package) of each binary `depends` on the
binary's other modules and its stdlib (`Package.depends`, written as CycloneDX
`dependencies` and SPDX `DEPENDS_ON`), as the module graph `go version -m` shows is flat.
"""

from __future__ import annotations

import ast
import re
import struct
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
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
# Streaming (see the docstring): sizes of what is read and kept at once.
HEAD = NOTE_WINDOW  # the ELF header, program headers and Go note
CHUNK = 1 << 20
OVERLAP = 512  # a match starting in the last bytes of a chunk waits for the next one
_HISTORY = 128  # bytes kept before the unsearched part (the -X window reaches back)
SMALL = 2 << 20  # a file this small is read whole
MAX_INFO = 2 << 20  # one capture
CAPTURE_BUDGET = 4 << 20  # all captures in flight
FIRST_READ = 64 * 1024  # of an inline build info blob: header, version, module info
MAX_X_TEXTS = 16  # distinct version-like strings whose -X windows are kept
_KEEP_VERSIONS = 256  # pre-1.18: windows kept where a Go version string may start
_KEEP_VERSION = 64
_KEEP_MODINFO = 4  # pre-1.18: windows kept from a module information start sentinel
MOD_WINDOW = 256 * 1024
MOD_START = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
# where a Go version string may start (one pattern with a literal prefix, which the
# regex engine searches fast): "go1.21.3" (-X windows when NUL-delimited, and kept for
# the pre-1.18 format), "devel go1.22-..." (the bytes before are looked at)
_GO_STRING = re.compile(rb"go1\.[0-9][\x20-\x7e]{0,120}")
_DEVEL = b"\x00devel "


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


def elf_segments(data: bytes, size: int | None = None
                 ) -> tuple[tuple[_Segment, ...], str, int] | None:
    """PT_LOAD segments, byte order ("<" or ">") and pointer size of an ELF file.
    `data` must hold the program header table; `size` is the file's size when `data`
    is only its head (segments are clamped to the file, not to `data`)."""
    end = len(data) if size is None else size
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
        if ptype == _PT_LOAD and offset < end:
            segments.append(_Segment(vaddr, offset, min(filesz, end - offset), flags))
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
    return None if elf is None else _data_segment(elf[0])


def _data_segment(segments: tuple[_Segment, ...]) -> _Segment | None:
    """The first writable, non-executable PT_LOAD segment (the data segment)."""
    return next((s for s in segments if s.flags & (_PF_X | _PF_W) == _PF_W), None)


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


def _x_values(data: bytes, at: int, end: int, go_version: str) -> list[str]:
    """The version-like NUL-delimited strings within `_X_WINDOW` bytes of the Go
    version string whose leading NUL is at `at` and trailing NUL ends at `end`."""
    values: list[str] = []
    lo, hi = max(0, at - _X_WINDOW), end + _X_WINDOW
    for token in _X_TOKEN.finditer(data, lo, hi):
        # only whole NUL-delimited strings (a token cut by the window is not one)
        if token.start() == lo or token.end() == hi:
            continue
        if data[token.start() - 1] != 0 or data[token.end():token.end() + 1] != b"\0":
            continue
        text = token.group().decode("ascii")
        if text != go_version and _LOOKS_VERSION.fullmatch(text):
            values.append(text)
    return values


def _from_x_strings(data: bytes, go_version: str) -> str:
    """Step 2 of the docstring: the version-like strings next to the Go version's."""
    if not go_version.startswith("go"):
        return ""
    needle = b"\0" + go_version.encode("ascii", errors="replace") + b"\0"
    values: list[str] = []
    start = 0
    for _ in range(MAX_CANDIDATES):
        at = data.find(needle, start)
        if at < 0:
            break
        start = at + 1
        values += _x_values(data, at, at + len(needle), go_version)
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
                 settings: tuple[tuple[str, str], ...],
                 windows: Mapping[str, list[tuple[bytes, int, int]]] | None = None) -> str:
    """The main module's version (see the module docstring); "" when not known.
    `windows`: instead of searching `data` for the Go version string, the windows kept
    around each NUL-delimited version-like string as a stream passed (`_Stream`), by
    string: (window, where its leading NUL is, where its trailing NUL ends)."""
    if main is not None and main.version and main.version != "(devel)":
        return main.version
    found = _from_ldflags(settings)
    if not found and windows is None:
        found = _from_x_strings(data, go_version)
    elif not found and windows is not None and go_version.startswith("go"):
        found = _one([v for window, at, end in windows.get(go_version, ())
                      for v in _x_values(window, at, end, go_version)])
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
        info = _info(found[0], found[1], data)
        if info is not None:
            return info
    return None


def blob_end(blob: bytes) -> int | None:
    """How many bytes from the magic an inline (Go >= 1.18) build info blob spans, read
    from its head `blob` (which starts at the magic); None when `blob` is not the head
    of one or too short to tell (the pointer format included)."""
    if len(blob) < HEADER_SIZE or not blob.startswith(MAGIC) or not blob[15] & 0x2:
        return None
    version = _inline_string(blob, HEADER_SIZE)
    if version is None:
        return None
    decoded = _uvarint(blob, version[1])
    if decoded is None:
        return None
    return decoded[1] + decoded[0]


def parse_blob(blob: bytes) -> GoBuildInfo | None:
    """The build information of an inline (Go >= 1.18) blob given as bytes starting at
    the magic and holding the whole blob (`blob_end`); None for anything else, the
    pre-1.18 pointer format included (its strings lie elsewhere in the file). A main
    module "(devel)" version is recovered from the build settings only: the version
    strings elsewhere in the file are not searched."""
    if len(blob) < HEADER_SIZE or not blob.startswith(MAGIC) or not blob[15] & 0x2:
        return None
    found = _strings_at(blob, 0)
    if found is None:
        return None
    return _info(found[0], found[1], b"")


def data_region(head: bytes, size: int) -> _Segment | None:
    """The first writable, non-executable PT_LOAD segment of an ELF file (where the
    linker puts the Go build information), from its `head` (holding the program
    headers) and its `size`; None when there is none."""
    elf = elf_segments(head, size)
    return None if elf is None else _data_segment(elf[0])


def _info(raw_version: bytes, modinfo: bytes, data: bytes,
          windows: Mapping[str, list[tuple[bytes, int, int]]] | None = None
          ) -> GoBuildInfo | None:
    """The build info of a blob's two strings; None when the version is not one."""
    version = raw_version.decode("utf-8", errors="replace")
    if not _VERSION.fullmatch(version):
        return None
    text = _unframe(modinfo).decode("utf-8", errors="replace")
    main, deps = parse_modinfo(text)
    path, settings = parse_extras(text)
    return GoBuildInfo(version, main, deps, path, settings,
                       main_version(data, version, main, settings, windows))


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


_Request = tuple[int, int]  # (file offset, byte count) a build info parse waits for
_Job = Generator[_Request, bytes | None, tuple[bytes, bytes] | None]


class _Capture:
    """Bytes [start, end) of the file, gathered as the stream passes them."""

    __slots__ = ("end", "have", "parts", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.parts: list[bytes] = []
        self.have = start  # the next offset wanted

    def take(self, buf: bytes | bytearray, base: int) -> bool:
        """Add what `buf` (at file offset `base`) holds of the range; True when whole."""
        lo, hi = self.have - base, min(self.end, base + len(buf)) - base
        if 0 <= lo < hi:
            self.parts.append(bytes(buf[lo:hi]))
            self.have = base + hi
        return self.have >= self.end


class _Candidate:
    __slots__ = ("capture", "failed", "job", "result")

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.capture: _Capture | None = None
        self.result: tuple[bytes, bytes] | None = None
        self.failed = False


class _Stream:
    """One pass over a member (see the module docstring, on streaming)."""

    def __init__(self, read: Callable[[int], bytes], size: int, head: bytes,
                 segments: tuple[_Segment, ...], region: _Segment) -> None:
        self.read, self.size = read, size
        self.segments, self.region = segments, region
        self.buf, self.base = head, 0
        self.pos = len(head)  # file offset of the next byte read
        self.budget = CAPTURE_BUDGET
        self.candidates: list[_Candidate] = []
        self.kept: list[tuple[int, bytes]] = []  # (offset, bytes), kept for pre-1.18
        self.keeping: list[_Capture] = []  # module info windows still gathering
        self.starts = 0
        self.x: dict[str, list[tuple[bytes, int, int]]] = {}
        self.why = ""  # why a candidate failed, beyond "does not parse"

    def run(self) -> tuple[bytes, bytes] | None:
        region_end = self.region.offset + self.region.size
        done = 0  # match starts before this offset have been searched
        while True:
            final = self.pos >= self.size
            end = self.base + len(self.buf)
            limit = end if final else end - OVERLAP
            if limit > done:
                self._search(done, limit, region_end)
                done = limit
            found = self._decided()
            if found is not None:
                return found[0]
            if final or (done >= region_end and all(
                    c.failed or c.result is not None for c in self.candidates)):
                return None
            chunk = self.read(min(CHUNK, self.size - self.pos))
            if not chunk:  # the member ended before its stated size
                self.size = self.pos
                continue
            keep = max(self.base, done - _HISTORY)
            self.buf = self.buf[keep - self.base:] + chunk
            self.base = keep
            self.pos += len(chunk)
            for capture in list(self.keeping):
                if capture.take(self.buf, self.base):
                    self.keeping.remove(capture)
                    self.kept.append((capture.start, b"".join(capture.parts)))
            for candidate in self.candidates:
                if candidate.capture is not None and \
                        candidate.capture.take(self.buf, self.base):
                    self._resume(candidate)

    def _decided(self) -> tuple[tuple[bytes, bytes] | None] | None:
        """The first candidate's result once every one before it has failed."""
        for candidate in self.candidates:
            if candidate.failed:
                continue
            if candidate.result is not None:
                return (candidate.result,)
            return None
        return None

    def _search(self, done: int, limit: int, region_end: int) -> None:
        buf, base = self.buf, self.base
        lo, hi = done - base, limit - base
        for match in _GO_STRING.finditer(buf, lo, min(len(buf), hi + 130)):
            at = match.start()
            if at >= hi:
                break
            if len(self.kept) < _KEEP_VERSIONS:
                self.kept.append((base + at, buf[at:at + _KEEP_VERSION]))
            if buf[match.end():match.end() + 1] != b"\0":
                continue
            if at > 0 and buf[at - 1] == 0:
                self._x_window(at - 1, match.end() + 1)
            elif at >= len(_DEVEL) and buf[at - len(_DEVEL):at] == _DEVEL:
                self._x_window(at - len(_DEVEL), match.end() + 1)
        at = buf.find(MOD_START, lo, hi + len(MOD_START) - 1)
        while at >= 0 and at < hi and self.starts < _KEEP_MODINFO:
            self.starts += 1
            capture = _Capture(base + at, min(self.size, base + at + MOD_WINDOW))
            if capture.take(buf, base):
                self.kept.append((capture.start, b"".join(capture.parts)))
            else:
                self.keeping.append(capture)
            at = buf.find(MOD_START, at + 1, hi + len(MOD_START) - 1)
        region = self.region
        start = max(lo, region.offset - base)
        stop = min(hi + len(MAGIC) - 1, region_end - base)
        while start < stop and len(self.candidates) < MAX_CANDIDATES:
            at = buf.find(MAGIC, start, stop)
            if at < 0:
                break
            start = at + 1
            if (region.vaddr + base + at - region.offset) % _ALIGN:
                continue
            candidate = _Candidate(self._job(base + at))
            self.candidates.append(candidate)
            self._resume(candidate, first=True)

    def _x_window(self, at: int, end: int) -> None:
        """Keep the -X window around the NUL-delimited string buf[at + 1:end - 1]."""
        text = self.buf[at + 1:end - 1].decode("ascii")
        windows = self.x.get(text)
        if windows is None:
            if len(self.x) >= MAX_X_TEXTS:
                return
            windows = self.x[text] = []
        if len(windows) >= MAX_CANDIDATES:
            return
        lo = max(0, at - _X_WINDOW)
        windows.append((self.buf[lo:end + _X_WINDOW + 1], at - lo, end - lo))

    def _resume(self, candidate: _Candidate, first: bool = False) -> None:
        """Run a candidate's parse until it waits for bytes not yet read, or ends."""
        value: bytes | None = None
        if candidate.capture is not None:
            value = b"".join(candidate.capture.parts)
            self.budget += candidate.capture.end - candidate.capture.start
            candidate.capture = None
        try:
            while True:
                request = next(candidate.job) if first else candidate.job.send(value)
                first = False
                value = self._fetch(candidate, request)
                if candidate.capture is not None:
                    return
        except StopIteration as stop:
            candidate.result = stop.value
            candidate.failed = stop.value is None

    def _fetch(self, candidate: _Candidate, request: _Request) -> bytes | None:
        """The bytes asked for when they are here (read, or kept); None when they
        cannot be had; else a capture is set on the candidate, to resume it later."""
        offset, count = request
        if offset < 0 or count < 0 or count > MAX_INFO or offset + count > self.size:
            return None
        for start, kept in self.kept:
            if start <= offset and offset + count <= start + len(kept):
                return kept[offset - start:offset - start + count]
        if offset < self.base:
            self.why = ("its pre-1.18 build information points at strings before the "
                        "windows kept while streaming")
            return None
        if count > self.budget:
            self.why = "too many build information candidates to read at once"
            return None
        capture = _Capture(offset, offset + count)
        if capture.take(self.buf, self.base):
            return b"".join(capture.parts)
        self.budget -= count
        candidate.capture = capture
        return None

    def _offset(self, addr: int, size: int) -> int:
        for seg in self.segments:
            if seg.vaddr <= addr and addr + size <= seg.vaddr + seg.size:
                return seg.offset + (addr - seg.vaddr)
        return -1

    def _job(self, at: int) -> _Job:
        """The (version, module info) of the blob at file offset `at`, asking for bytes
        as needed; None when it is not one (the next candidate is tried, as Go does)."""
        found = yield from self._blob(at)
        if found is None or not _VERSION.fullmatch(found[0].decode("utf-8", "replace")):
            return None
        return found

    def _blob(self, at: int) -> _Job:
        first = yield (at, min(HEADER_SIZE + FIRST_READ, self.size - at))
        if first is None or len(first) < HEADER_SIZE:
            return None
        ptr_size, flags = first[14], first[15]
        if ptr_size not in (4, 8):
            return None
        if flags & 0x2:
            version = _inline_string(first, HEADER_SIZE)
            if version is None:
                return None
            decoded = _uvarint(first, version[1])
            if decoded is None or decoded[0] > MAX_INFO:
                return None
            length, start = decoded
            need = start + length - len(first)
            if need > 0:
                more = yield (at + len(first), need)
                if more is None:
                    return None
                first += more
            return version[0], first[start:start + length]
        bo = ">" if flags & 0x1 else "<"
        word = "Q" if ptr_size == 8 else "I"
        pair = struct.Struct(bo + word * 2)
        strings: list[bytes] = []
        for addr in pair.unpack_from(first, 16):
            header = yield from self._within(first, at, self._offset(addr, pair.size),
                                             pair.size)
            text = None
            if header is not None:
                str_addr, length = pair.unpack(header)
                text = yield from self._within(first, at, self._offset(str_addr, length),
                                               length)
            if text is None and not strings:  # the version must read, the modules may not
                return None
            strings.append(text or b"")
        return strings[0], strings[1]


    @staticmethod
    def _within(first: bytes, at: int, offset: int, count: int
                ) -> Generator[_Request, bytes | None, bytes | None]:
        """Bytes [offset, offset + count) from `first` (read at `at`) when it holds them,
        else asked for."""
        if at <= offset and offset + count <= at + len(first):
            return first[offset - at:offset - at + count]
        found = yield (offset, count)
        return found


def _read_up_to(read: Callable[[int], bytes], n: int) -> bytes:
    """`n` bytes from `read`, fewer only at the end (a reader may return less than asked)."""
    parts: list[bytes] = []
    while n > 0 and (part := read(n)):
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_stream(read: Callable[[int], bytes], size: int) -> GoBuildInfo | Unreadable | None:
    """`read_buildinfo` of a file read forward by `read(n)` (at most `n` bytes, b"" at
    its end), `size` bytes long, holding a bounded part of it at a time (see the module
    docstring). Must not raise on hostile input."""
    head = _read_up_to(read, min(HEAD, size))
    if len(head) < 64 or not head.startswith(ELF_MAGIC) or head[4] not in (1, 2):
        return None
    if size <= SMALL:
        return read_buildinfo(head + _read_up_to(read, size - len(head)))
    go = is_go_executable(head)
    elf = elf_segments(head, size)
    region = None if elf is None else _data_segment(elf[0])
    if elf is None or region is None:
        if not go:
            return None
        unbounded = elf_segments(head, 1 << 64)
        if unbounded is not None and _data_segment(unbounded[0]) is not None:
            return Unreadable("Go executable cut short: its data segment, where the build "
                              "information lies, starts past its end")
        return Unreadable("Go executable without a writable data segment in the "
                          "program headers of its first pages")
    stream = _Stream(read, size, head, elf[0], region)
    found = stream.run()
    if found is not None:
        info = _info(found[0], found[1], b"", stream.x)
        if info is not None:
            return info
    if not go:
        return None
    if stream.why:
        return Unreadable(f"Go executable whose build information does not read: {stream.why}")
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


def _main_path(info: GoBuildInfo) -> str:
    """The module (or, without module information, package) the binary is built from;
    "" for a `go build file.go`."""
    main = info.main.path if info.main is not None else info.path
    return "" if main == "command-line-arguments" else main


def _linked(packages: list[Package], main: str) -> list[Package]:
    """One binary's packages, its main module depending on all the others (the
    modules `go version -m` lists, and the standard library)."""
    head = next((p for p in packages if p.name == main), None) if main else None
    if head is None:
        return packages
    depends = tuple(dict.fromkeys(p.key for p in packages if p is not head))
    return [replace(p, depends=depends) if p is head else p for p in packages]


class GoBinaryAnalyzer:
    name: str = "golang"
    selector = Selector(executables=True)
    max_bytes: int = MAX_READ

    def wants(self, path: str, size: int, mode: int) -> bool:
        return bool(mode & 0o111) and size >= MIN_BINARY

    def analyze(self, path: str, data: bytes) -> object | None:
        # a read of exactly MAX_READ bytes is (almost surely) a file cut short
        return read_buildinfo(data, cut=len(data) >= self.max_bytes)

    def analyze_stream(self, path: str, size: int,
                       read: Callable[[int], bytes]) -> object | None:
        return read_stream(read, size)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        packages = []
        skipped = skipped_entries(self.name, ((p, f.value) for p, f in results.items()))
        for found in results.values():
            info = found.value
            if not isinstance(info, GoBuildInfo):
                continue
            packages += _linked([
                Package(type="golang", name=module.path, version=module.version,
                        layer=found.layer, path=found.path,
                        purl=_module_purl(module.path, module.version))
                for module in modules_of(info)], _main_path(info))
        return AnalysisOutput(packages=sort_packages(packages), skipped=skipped)
