"""What every importer shares: the tally of what was read and skipped, bounded reads and
bounded JSON decoding.

Importers turn untrusted bytes (a download, a file someone handed over) into advisories.
They never trust a size a file announces: every read is capped, and a document that is
not what it should be is skipped and counted, so one bad record never stops an import
and never goes unnoticed. Every failure they raise is an `InputError` naming the source
(and the record when there is one); nothing else escapes an importer.

Memory stays bounded whatever the input (issue 11): JSON turns 2 bytes (`{}`) into a
64-byte dict, so a document is decoded whole only when it is small (`MAX_JSON_DOC`) and
holds few containers (`MAX_NODES`, counted before decoding). The big single documents
(the Debian tracker's JSON, an OSV list) are read by `stream_items`: one top-level member
at a time from the file, each under the same two caps, never the whole text at once.

Written by hand: the standard library's decoder has no streaming mode, and the streaming
JSON packages decode value by value in Python, many times slower than `json`'s C decoder
that this module feeds one member at a time.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory
from dockwarden.sanitize import clean

MAX_DOCUMENT = 4 << 20  # one OSV document (a zip member, a file of a folder): skipped above
MAX_JSON_DOC = 32 << 20  # a JSON file decoded whole (an Alpine secdb file is ~1 MiB)
MAX_ITEM = 64 << 20  # one top-level member of a streamed file (the tracker's `linux`: ~15 MiB)
MAX_NODES = 1_000_000  # JSON objects and arrays in one decoded document or member
MAX_FILE = 1 << 30  # one whole JSON file (the Debian tracker's is about 70 MiB)
MAX_TOTAL = 4 << 30  # everything decompressed from one archive
MAX_MEMBERS = 2_000_000  # members of one archive
_CHUNK = 1 << 20  # bytes read at a time by `stream_items`

# How many per-document problems are kept verbatim (the rest are only counted).
_KEEP_PROBLEMS = 20

# Errors a parser of decoded JSON may meet on a record of the wrong shape; a record that
# raises one is skipped and counted (`guarded`), never a traceback.
RECORD_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError,
                 RecursionError, OverflowError)


@dataclass(slots=True)
class ImportStats:
    """Mutable tally filled in while an importer's iterator is consumed."""

    documents: int = 0  # documents (files, archive members, tracker entries) read
    advisories: int = 0  # advisories produced
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    problems: list[str] = field(default_factory=list)  # the first few, "where: what"

    def skip(self, reason: str, where: str = "", detail: str = "") -> None:
        self.skipped[reason] += 1
        if where and len(self.problems) < _KEEP_PROBLEMS:
            self.problems.append(clean(f"{where}: {detail or reason}"[:500]))

    def summary(self) -> str:
        """`2661 advisories from 2661 documents; skipped 3 (2 not JSON, 1 ...)`"""
        text = f"{self.advisories} advisories from {self.documents} documents"
        total = sum(self.skipped.values())
        if total:
            parts = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            text += f"; skipped {total} ({parts})"
        return clean(text)


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Run an import with Python's cyclic garbage collector paused. Advisory data (JSON
    documents, advisory records) holds no reference cycles, so reference counting frees
    it as it goes; the cyclic collector would only re-scan the growing heap of parsed
    data again and again, which made imports grow faster than their input (an 8 MB OSV
    document took 15.6x the time of a 1 MB one; 8x with the collector paused)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_capped(fh: IO[bytes], limit: int, what: str) -> bytes:
    """All of `fh`, or InputError if it holds more than `limit` bytes."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{clean(what)}: larger than {limit >> 20} MiB, refused "
                         "(not a vulnerability data file, or a decompression bomb)")
    return data


def open_file(path: Path | str, limit: int | None = MAX_FILE) -> IO[bytes]:
    """`path` opened through `safeio.open_input`: a regular file only (a FIFO, a device
    or a folder is a clear InputError, never a hang), at most `limit` bytes."""
    from dockwarden.safeio import open_input

    return open_input(path, what="advisory file", max_bytes=limit)


def read_file(path: Path | str, limit: int = MAX_FILE) -> bytes:
    with open_file(path, limit) as fh:
        try:
            return read_capped(fh, limit, str(path))
        except OSError as exc:
            raise InputError(f"cannot read {clean(str(path))}: {exc.strerror or exc}") \
                from None


def count_nodes(data: bytes | str, start: int = 0, end: int | None = None) -> int:
    """An upper bound of the objects and arrays JSON text holds (brackets in strings
    count too): what decoding it would build, known before decoding."""
    if isinstance(data, bytes):
        return data.count(b"{", start, end) + data.count(b"[", start, end)
    stop = len(data) if end is None else end
    return data.count("{", start, stop) + data.count("[", start, stop)


def parse_json(data: bytes | str, what: str, max_nodes: int = MAX_NODES) -> Any:
    """The decoded document, or InputError naming the first problem. A document with
    more than `max_nodes` objects and arrays is refused before it is decoded."""
    shown = clean(what)
    if count_nodes(data) > max_nodes:
        raise InputError(f"{shown}: more than {max_nodes:,} JSON objects and arrays, refused "
                         "(it would take too much memory)")
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"{shown}: not UTF-8 text, so not JSON") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}: not valid JSON ({exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{shown}: JSON nested too deeply") from None


def text(value: Any) -> str:
    """A string field of untrusted JSON: the string, or "" for anything else."""
    return value if isinstance(value, str) else ""


# --- checking what an importer produces -------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _strings(adv: Advisory) -> Iterator[str]:
    yield adv.id
    yield adv.source
    yield from adv.aliases
    yield adv.summary
    yield adv.severity
    yield adv.cvss_vector
    yield adv.published
    yield adv.modified
    yield from adv.references
    yield adv.withdrawn
    for a in adv.affected:
        yield a.ecosystem
        yield a.name
        yield a.release
        yield from a.versions
        yield a.fixed
        yield a.severity
        yield a.note
        for r in a.ranges:
            yield r.type
            for e in r.events:
                yield e.introduced
                yield e.fixed
                yield e.last_affected
                yield e.limit


def invalid_text(adv: Advisory) -> bool:
    """True when a string of `adv` holds a lone surrogate (`"\\ud800"` in JSON decodes to
    one): such a string cannot be stored as UTF-8, so the advisory is skipped."""
    joined = "".join(_strings(adv))
    return not joined.isascii() and _SURROGATE.search(joined) is not None


def vetted(adv: Advisory | None, stats: ImportStats, where: str) -> Advisory | None:
    """`adv`, or None (skipped and counted) when it cannot be stored."""
    if adv is not None and invalid_text(adv):
        stats.advisories -= 1
        stats.skip("text that is not valid Unicode (a lone surrogate)", where)
        return None
    return adv


# --- streaming a big JSON document ------------------------------------------------------

# From a position in JSON text: everything up to the next bracket, strings skipped whole
# (possessive, so no backtracking); group 1 is the bracket, `"` for a string cut off by
# the end of the text, "" at the end.
_NEXT_BRACKET = re.compile(r'(?:[^"{}\[\]]++|"(?:[^"\\]++|\\.)*+")*+([{}\[\]]|"|\Z)')
_WS = re.compile(r"[ \t\n\r]*")


class _Stream:
    """Text of a binary file decoded as UTF-8 a chunk at a time; `buf[pos:]` is what is
    not consumed yet (the consumed part is dropped at each read)."""

    def __init__(self, fh: IO[bytes], what: str) -> None:
        self.fh = fh
        self.what = clean(what)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.nodes = 0  # objects and arrays in `buf` (an upper bound: strings count too)

    def more(self, size: int = _CHUNK) -> bool:
        """Read about `size` more bytes; False at the end of the file."""
        if self.eof:
            return False
        try:
            data = self.fh.read(max(size, 1))
        except OSError as exc:
            raise InputError(f"cannot read {self.what}: {exc.strerror or exc}") from None
        try:
            new = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise InputError(f"{self.what}: not UTF-8 text, so not JSON") from None
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos:] + new
        self.pos = 0
        self.nodes = count_nodes(self.buf)
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), not consumed."""
        while True:
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def error(self, message: str) -> InputError:
        return InputError(f"{self.what}: not valid JSON ({message})")

    def expect(self, chars: str) -> str:
        ch = self.peek()
        if not ch or ch not in chars:
            raise self.error(f"expected {' or '.join(repr(c) for c in chars)}, found "
                             f"{'the end of the file' if not ch else repr(ch)}")
        self.pos += 1
        return ch

    def _nodes_of_value(self, limit: int) -> tuple[int, bool]:
        """(objects and arrays, complete) of the value at `pos`, scanned bracket by
        bracket, stopping beyond `limit` of them or at the end of the text read."""
        buf = self.buf
        if buf[self.pos:self.pos + 1] not in ("{", "["):
            return 0, True  # a string, number or word holds none
        depth = nodes = 0
        i = self.pos
        while nodes <= limit:
            m = _NEXT_BRACKET.match(buf, i)
            ch = m.group(1) if m is not None else ""
            if m is None or ch in ('"', ""):
                return nodes, False  # cut off by the end of the text read so far
            i = m.end()
            if ch in ("{", "["):
                depth += 1
                nodes += 1
            else:
                depth -= 1
                if depth == 0:
                    return nodes, True
        return nodes, False

    def _grow(self, what: str, max_bytes: int) -> None:
        """Read more for a value that does not end in the text read so far (doubling, so
        a value is decoded O(1) times on average), or InputError beyond `max_bytes`."""
        avail = len(self.buf) - self.pos
        if avail > max_bytes:
            raise self._too_large(what, max_bytes)
        self.more(max(avail, _CHUNK))

    def value(self, decoder: json.JSONDecoder, what: str, max_bytes: int,
              max_nodes: int | None) -> Any:
        """Decode the value at `pos` (reading more as needed) and consume it. Over
        `max_bytes` characters or `max_nodes` objects and arrays: InputError. The nodes
        are counted for the whole text read at each read (`nodes`); only when that is
        over the limit is the value itself scanned."""
        self.peek()
        while True:
            if max_nodes is not None and self.nodes > max_nodes:
                nodes, complete = self._nodes_of_value(max_nodes)
                if nodes > max_nodes:
                    raise InputError(f"{self.what}: {clean(what)} holds more than "
                                     f"{max_nodes:,} JSON objects and arrays, refused")
                if not complete and not self.eof:
                    self._grow(what, max_bytes)
                    continue
            try:
                value, stop = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.error(f"{exc.msg} at offset {exc.pos}") from None
                self._grow(what, max_bytes)
                continue
            except RecursionError:
                raise InputError(f"{self.what}: {clean(what)}: JSON nested too deeply") \
                    from None
            if stop - self.pos > max_bytes:
                raise self._too_large(what, max_bytes)
            if stop == len(self.buf) and not self.eof:  # a number or a word may go on
                self._grow(what, max_bytes)
                continue
            self.pos = stop
            return value

    def _too_large(self, what: str, max_bytes: int) -> InputError:
        return InputError(f"{self.what}: {clean(what)} is larger than {max_bytes >> 20} MiB, "
                          "refused")


def stream_items(fh: IO[bytes], what: str, *, max_item: int = MAX_ITEM,
                 max_nodes: int = MAX_NODES, expect: str = "{["
                 ) -> Iterator[tuple[str | int, Any]]:
    """The members of the top-level JSON object (key, value) or array (index, value) in
    `fh`, decoded one at a time: memory holds one member (at most `max_item` characters
    and `max_nodes` objects and arrays, else InputError), never the whole document.
    Anything that is not one JSON object or array (`expect`: "{" an object only, "[" an
    array only) is an InputError naming `what`."""
    stream = _Stream(fh, what)
    decoder = json.JSONDecoder()
    opener = stream.peek()
    if not opener or opener not in expect:
        kinds = {"{": "a JSON object", "[": "a JSON array", "{[": "a JSON object or array"}
        raise InputError(f"{stream.what}: not {kinds.get(expect, 'JSON')}")
    stream.pos += 1
    closer = "}" if opener == "{" else "]"
    if stream.peek() == closer:
        stream.pos += 1
    else:
        index = 0
        while True:
            key: str | int = index
            if opener == "{":
                if stream.peek() != '"':
                    raise stream.error(f"expected a key in double quotes after member {index}")
                key = stream.value(decoder, f"key {index + 1}", 1 << 20, None)
                stream.expect(":")
            shown = f"member {key!r}"[:80] if isinstance(key, str) else f"item {index}"
            yield key, stream.value(decoder, shown, max_item, max_nodes)
            index += 1
            if stream.expect("," + closer) == closer:
                break
    if stream.peek():
        raise stream.error("extra data after the top-level value")


def stream_text(data: bytes | str) -> IO[bytes]:
    """A file over bytes already in memory (tests, small documents)."""
    return io.BytesIO(data.encode("utf-8", "surrogatepass") if isinstance(data, str)
                      else data)
