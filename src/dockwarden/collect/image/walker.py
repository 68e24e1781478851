"""The single streaming pass over an image's layers.

Each layer blob is read once, in the order the source delivers it, decompressed on the
fly (gzip, zstd, bzip2, xz) and walked as a tar stream; nothing is extracted to disk and
no link is ever followed on the host. What is kept per entry is its metadata (a small
tuple), so memory grows with the number of entries, not their sizes; file contents go
only to the analyzers that ask for them, which return small per-file results.

Layers may arrive before the manifest that orders them (a `docker save` stream ends with
manifest.json), so whiteouts and opaque directories are recorded per layer and applied
once the order is known: a path is visible when no whiteout of it or of a directory above
it, and no opaque marker on a directory above it, comes from a later layer than the one
that last wrote it.

Written by hand because no maintained library applies OCI/Docker layer semantics to a
stream without extracting it (tarstream reads each layer; this module layers them).
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, NamedTuple, cast

from dockwarden.collect.image.analyzer import (
    AnalysisOutput,
    Analyzer,
    FileResult,
    Scanner,
    Selector,
    StreamingAnalyzer,
)
from dockwarden.collect.image.offload import Pool, Worker, available
from dockwarden.collect.image.source import (
    MAX_JSON,
    Blob,
    ImageSource,
    check_config,
    check_manifest,
    check_save_manifest,
    choose_manifest,
    load_json,
    why_unreadable,
)
from dockwarden.collect.image.tarstream import (
    BLOCK,
    FileWindow,
    TarFormatError,
    TarStream,
    find_header,
)
from dockwarden.errors import InputError
from dockwarden.model.common import Unknown
from dockwarden.model.image import (
    Escape,
    HistoryStep,
    ImageConfigFacts,
    ImageFile,
    ImageSnapshot,
    LayerFacts,
    OSRelease,
    Package,
    SecretHit,
)
from dockwarden.sanitize import clean, excerpt

NOTABLE = ("/usr/bin/sudo", "/bin/sudo", "/usr/sbin/sshd", "/usr/bin/sshd", "/etc/ssh/sshd_config")
CACHE_DIRS = ("/var/lib/apt/lists", "/var/cache/apt/archives", "/var/cache/apk",
              "/root/.cache/pip", "/var/cache/yum", "/var/cache/dnf")


# Below SHARE_MIN in all, forking gains nothing (measured on the first 32 and 64 MiB of
# Debian's layer: the same time either way; on its first 96 MiB, 0.10 s instead of 0.14 s)
SHARE_MIN = 64 << 20
FORK_MIN = 256 << 20  # from this on, every CPU a worker; below, this process walks too
PIECE_MIN = 64 << 20  # a plain layer is cut into pieces of at least this size
MAX_CHILDREN = 4  # workers walking pieces of layers, at most (and one per CPU)
PIECES_PER_WORKER = 6  # more pieces balance the workers better; each costs a little
SHARED_PIECES = 4  # per CPU, for a mid-sized image: the uneven pieces balance better
TICK = 64  # entries of a piece walked here between looks at the workers (`_tick`)
SCAN_MAX = 16 << 20  # how far a piece looks for its first header (then: walked again)
MAX_DEFERRED_FILES = 256  # files (one per layer in an OCI layout) kept open to read later
SCAN_CHUNK = 1 << 20  # what the walker reads at a time for scanners (`Scanner`)
PROBE = 8192  # what tells a binary file (a NUL byte) from text, for `text_only` analyzers


class LayerError(InputError):
    """A layer that cannot be read (corrupt, truncated, or expanding like a bomb)."""


class Limits(NamedTuple):
    """Bounds on hostile input. A layer expanding past `max_layer_bytes`, or past
    `bomb_floor` bytes at more than `max_ratio` times its compressed size, is refused.

    A compressed layer whose size nobody declared (a registry descriptor without `size`,
    a stream of unknown length) is held to the ratio against the compressed bytes read
    so far, and to `max_unsized_bytes` in all: 16 GiB, four times the largest layers
    seen in practice (CUDA and ML framework layers expand to 3-4 GiB), so a real layer
    passes and a bomb stops long before the general 64 GiB bound."""

    max_layer_bytes: int = 64 << 30
    max_ratio: int = 250
    bomb_floor: int = 1 << 30
    max_entries: int = 10_000_000
    max_unsized_bytes: int = 16 << 30


class _Tally(io.RawIOBase):
    """Counts the (compressed) bytes read from a layer whose size is not declared."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


class _Counting(io.RawIOBase):
    """Counts decompressed bytes and stops a layer that expands beyond its bounds."""

    def __init__(self, inner: IO[bytes], name: str, compressed: int | None,
                 limits: Limits, tally: _Tally | None = None) -> None:
        self.inner, self.name, self.compressed, self.limits = inner, name, compressed, limits
        self.tally = tally  # without a declared size: the compressed bytes read so far
        self.cap = limits.max_layer_bytes if compressed else min(
            limits.max_layer_bytes, limits.max_unsized_bytes)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        if self.count > self.cap:
            how = "" if self.compressed else " (its size was not declared)"
            raise LayerError(f"layer {self.name} expands beyond {self.cap >> 30} GiB{how}: "
                             "refused")
        if self.count > self.limits.bomb_floor:
            compressed = self.compressed or (self.tally.count if self.tally else 0)
            if compressed and self.count > compressed * self.limits.max_ratio:
                raise LayerError(
                    f"layer {self.name} expands more than {self.limits.max_ratio}x "
                    f"({compressed} bytes compressed): refused as a decompression bomb")
        return n


def _compression(magic: bytes) -> str:
    """The compression a layer's first 6 bytes show: gzip, zstd, bzip2, xz or ""."""
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if magic[:3] == b"BZh":
        return "bzip2"
    if magic[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return ""


def _decompressed(stream: IO[bytes] | FileWindow, name: str, size: int | None,
                  limits: Limits) -> IO[bytes] | FileWindow:
    """A reader of the layer's tar bytes, decompressed by its magic number. A plain
    layer in a file on disk, or a member of an archive being streamed (`bounded`), is
    read as it is: its size is bounded by the file's or the member's."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    kind = _compression(buffered.peek(6)[:6])
    if not kind and (isinstance(stream, FileWindow) or getattr(stream, "bounded", False)):
        return stream
    inner: IO[bytes]
    tally: _Tally | None = None
    if kind and not size:  # no declared size: the ratio is taken on the bytes read
        tally = _Tally(buffered)
        buffered = io.BufferedReader(tally, 1 << 16)
    # the decompressors load with the first layer that needs them: most start-ups read
    # none (a saved or OCI image on disk is usually plain) or one kind
    if kind == "gzip":
        import gzip
        inner = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
    elif kind == "zstd":
        import zstandard
        inner = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    elif kind == "bzip2":
        import bz2
        inner = bz2.BZ2File(buffered)
    elif kind == "xz":
        import lzma
        inner = lzma.LZMAFile(buffered)  # noqa: SIM115 - closed with the layer
    else:
        return io.BufferedReader(_Counting(buffered, name, None, limits), 1 << 16)
    return io.BufferedReader(_Counting(inner, name, size, limits, tally), 1 << 16)


def _codec_errors() -> tuple[type[BaseException], ...]:
    """What reading a corrupt layer raises: the tar reader's error, and each loaded
    decompressor's (gzip: OSError, EOFError, zlib.error; bz2: OSError; xz: LZMAError;
    zstd: ZstdError)."""
    errors: list[type[BaseException]] = [TarFormatError, EOFError, OSError, ValueError,
                                          zlib.error]
    for module, name in (("lzma", "LZMAError"), ("zstandard", "ZstdError")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(getattr(loaded, name, None), type):
            errors.append(getattr(loaded, name))
    return tuple(errors)


def _looks_like_json(stream: IO[bytes] | FileWindow) -> bool:
    buffered: Any = stream
    if isinstance(buffered, io.BytesIO):  # a document already in memory (a registry's config)
        with buffered.getbuffer() as view:
            head = view[buffered.tell():buffered.tell() + 64].tobytes()
    elif hasattr(buffered, "peek"):
        head = buffered.peek(64)[:64]
    else:
        return False
    return head.lstrip()[:1] in (b"{", b"[")


# Entry record kept per (path, layer): (slot, kind, mode, uid, gid, size, linkname)
Record = tuple[int, str, int, int, int, int, str]


class _Unit(NamedTuple):
    """A piece of a deferred layer: from byte `start` (where to look for its first
    header; 0 for the first piece) to `end` (None: the end of the layer)."""

    slot: int
    blob: Blob
    nth: int  # its place among the pieces of its layer
    start: int
    end: int | None
    trusted: int | None = None  # a known header offset to start at (no search)


class _Piece(NamedTuple):
    """What walking one piece found, detached from any pass (it may cross a pipe)."""

    begin: int | None  # the header it started at (None: none found)
    stopped: int | None  # the header it stopped at (None: the end of the layer)
    records: dict[str, Record | list[Record]]
    whiteouts: dict[str, list[int]]
    opaque: dict[str, list[int]]
    results: dict[str, dict[tuple[int, str], object]]
    escapes: list[tuple[int, str, str, str]]
    stats: dict[int, list[int]]
    skipped: list[tuple[str, str]]
    failed: dict[int, str]
    links: dict[tuple[int, str], str]
    entries: int


def _plain(stream: IO[bytes] | FileWindow) -> bool:
    """A layer in a file on disk that is a tar as it is (not compressed)."""
    return isinstance(stream, FileWindow) and not _compression(stream.peek(6))


class _Pass:
    """The state of one pass: what the layers walked so far hold, and (`_drain`) the
    pieces of deferred layers in flight. A plain class rather than a dataclass: one is
    made per piece, and a dataclass of this many fields costs milliseconds to define at
    every start."""

    def __init__(self, analyzers: list[Analyzer], limits: Limits, *,
                 slots: list[str] | None = None,
                 route: Callable[[str, int, int], list[Analyzer]] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.analyzers = analyzers
        self.limits = limits
        self.slots: list[str] = [] if slots is None else slots  # blob name per slot
        # path -> its record, or a list of them when several layers write the path
        self.records: dict[str, Record | list[Record]] = {}
        self.route = route
        self.worker: Worker | None = None  # runs the analyzers that ask to be offloaded
        # offloaded analyzer -> its `triage` (None: every file it wants goes to the worker)
        self.offloaded: dict[str, Callable[[str, bytes], bool] | None] = {}
        self.whiteouts: dict[str, list[int]] = {}
        self.opaque: dict[str, list[int]] = {}
        self.results: dict[str, dict[tuple[int, str], object]] = {}
        self.escapes: list[tuple[int, str, str, str]] = []
        self.stats: dict[int, list[int]] = {}  # slot -> [bytes, entries]
        self.json_blobs: dict[str, bytes] = {}
        self.skipped: list[tuple[str, str]] = []
        self.failed: dict[int, str] = {}  # slot -> why it could not be read
        self.links: dict[tuple[int, str], str] = {}  # hard link -> target
        self.entries = 0
        # Layers of a file-backed image are independent windows on disk: they are
        # deferred and walked in pieces by `parallel` forked workers (see `_drain`).
        self.parallel = 0
        self.waiting: list[tuple[int, Blob]] = []  # (slot, blob) deferred
        self.pool: Pool | None = None  # the workers walking pieces of deferred layers
        self.units: list[_Unit] = []  # the pieces of the deferred layers
        self.queue: list[tuple[int, int]] = []  # (unit, offset or -1) to do
        self.pieces: dict[int, list[tuple[int, _Piece]]] = {}  # slot -> walked
        self.cursor: dict[int, tuple[int, int | None]] = {}  # merged so far
        self.expected: dict[int, int] = {}  # slot -> number of pieces
        # (device, inode) of a file holding deferred layers -> the descriptor they are
        # read by
        self.fds: dict[tuple[int, int], int] = {}
        self.progress = progress
        # the caller's own work, done once the workers have their first pieces
        self.meanwhile: Callable[[], None] | None = None
        self.ticking = False  # walking a piece here while workers walk theirs
        self.tick: Callable[[], None] | None = None  # called every TICK entries walked

    def add_json(self, blob: Blob) -> None:
        data = blob.stream.read(MAX_JSON + 1)
        if len(data) <= MAX_JSON:
            self.json_blobs[blob.name] = data

    def add_layer(self, blob: Blob) -> None:
        slot = len(self.slots)
        self.slots.append(blob.name)
        stream = blob.stream
        if self.parallel and isinstance(stream, FileWindow):
            # read later (`_drain`), through a descriptor of its own (the source may
            # close its file once the next blob is asked for): one per file
            st = os.fstat(stream.fd)
            fd = self.fds.get((st.st_dev, st.st_ino))
            if fd is None and len(self.fds) < MAX_DEFERRED_FILES:
                fd = self.fds[(st.st_dev, st.st_ino)] = os.dup(stream.fd)
            if fd is not None:
                window = FileWindow(fd, stream.base, stream.size)
                self.waiting.append((slot, Blob(blob.name, blob.size, window)))
                return
        self._now(slot, blob)

    def _now(self, slot: int, blob: Blob) -> None:
        """Walk a whole layer in this process, now."""
        if self.progress:
            self.progress(blob.name)
        self._layer(slot, blob)

    def _layer(self, slot: int, blob: Blob, begin: int = 0, stop: int | None = None
               ) -> int | None:
        """Walk a layer, or the piece of it from offset `begin` (a header) to the first
        header at or after `stop`; where it stopped (None: at the end of the layer)."""
        stats = self.stats.setdefault(slot, [0, 0])
        source = blob.stream
        if isinstance(source, FileWindow):  # a window of its own: pieces share the blob
            source = FileWindow(source.fd, source.base + begin, source.size - begin)
        # A blob that fails is an error only if the manifest turns out to list it (an
        # archive may carry other blobs); the failure is kept until the order is known.
        try:
            if stop is not None or begin:
                stream = TarStream(source)
                self._entries(slot, stream, stats, None if stop is None else stop - begin)
                return None if stream.stopped is None else begin + stream.stopped
            reader = _decompressed(source, clean(blob.name), blob.size, self.limits)
            self._entries(slot, TarStream(reader), stats)
        except LayerError as exc:
            self.failed[slot] = exc.message
        except Exception as exc:
            if not isinstance(exc, _codec_errors()):
                raise
            self.failed[slot] = (f"layer {clean(blob.name)} is corrupt or truncated: "
                                 f"{why_unreadable(exc)}")
        return None

    # -- layers in parallel ---------------------------------------------------------
    #
    # A layer in a file on disk is a window that any process can read with pread, so
    # the deferred layers are cut into pieces and the pieces walked at once by forked
    # workers (offload.Pool), one per CPU, largest first, this process merging what
    # they send while they work (from FORK_MIN on). A mid-sized image (SHARE_MIN to
    # FORK_MIN) has SHARED_PIECES pieces per CPU and a worker per CPU but one: this
    # process walks a piece whenever the workers have theirs, merging in between.
    # A plain (uncompressed) layer is itself cut at block offsets: each piece after the
    # first starts at the first block in its first SCAN_MAX bytes that reads as a tar
    # header (`find_header`) and stops at the first header past its end. File data can
    # hold a block that reads as a header, so a piece only counts when it starts exactly
    # where the piece before it stopped; one that does not (or found no header) goes
    # back to be walked again from that true offset, the layer's merge waiting for it,
    # and one that lies wholly inside a member the piece before walked past is dropped.
    # Each piece's findings come back as detached containers (`_state`) and are merged
    # in layer and piece order.

    def _drain(self) -> None:
        total = sum(b.size or 0 for _, b in self.waiting)
        if total < SHARE_MIN:
            self.parallel = 0
        # a mid-sized image: a worker per CPU but one, this process walking pieces too
        # (the merges are short); a large one: a worker per CPU, this process merging
        share = total < FORK_MIN
        try:
            if not self.parallel:
                for slot, blob in self.waiting:
                    self._now(slot, blob)
                return
            piece = (total // (SHARED_PIECES * self.parallel) + 1 if share else
                     max(PIECE_MIN, total // (PIECES_PER_WORKER * self.parallel)))
            units = self.units
            for slot, blob in self.waiting:
                size = blob.size or 0
                n = min(64, round(size / piece)) if _plain(blob.stream) else 1
                n = max(1, n)
                bounds = [(size * i // n) // BLOCK * BLOCK for i in range(n)]
                self.expected[slot] = n
                units += [_Unit(slot, blob, i, bounds[i], bounds[i + 1] if i + 1 < n else None)
                          for i in range(n)]
            self.queue = [(k, -1) for k in sorted(
                range(len(units)),
                key=lambda k: (units[k].end or units[k].blob.size or 0) - units[k].start)]
            try:
                self.pool = Pool(self._task, self.parallel - 1 if share else self.parallel)
            except OSError:  # no process to be had: all of it here
                self.pool = None
            while self.queue or (self.pool is not None and self.pool.busy):
                pool = self.pool
                idle = pool.idle() if pool is not None else []
                if pool is None or (not idle and not pool.busy):  # no worker left
                    self._next_here()
                    continue
                self._feed(pool, share)
                if self.meanwhile is not None:  # the workers are at work: the caller's turn
                    meanwhile, self.meanwhile = self.meanwhile, None
                    meanwhile()
                if share and self.queue:  # one piece here, then what the workers sent
                    self._next_here()
                for task, state in pool.wait(block=not (share and self.queue)):
                    if isinstance(state, EOFError):  # killed or crashed: do it here
                        state = self._task(*task)
                    self._done(task, state)
        finally:
            self.stop()
            self.close()

    def _feed(self, pool: Pool, share: bool) -> None:
        """Give the workers their next pieces: the largest first, a piece walked again
        before all. Sharing, a second piece is queued behind the one a worker walks, so
        that it goes on while this process walks one too; but never the last one left,
        which is this process's to take."""
        for worker in pool.idle():
            if self.queue:
                pool.submit(worker, self.queue.pop())
        if share:
            for worker in pool.working(1):
                if len(self.queue) > 1:
                    pool.submit(worker, self.queue.pop())

    def _next_here(self) -> None:
        """Walk the next queued piece in this process, and take it in. Every TICK
        entries of it, what the workers sent is taken in and they are given their next
        pieces (`_tick`): a worker never waits long for this process's piece to end."""
        task = self.queue.pop()
        self.ticking = True
        try:
            state = self._task(*task)
        finally:
            self.ticking = False
        self._done(task, state)

    def _tick(self) -> None:
        pool = self.pool
        if pool is None:
            return
        for task, state in pool.wait(block=False):
            if isinstance(state, EOFError):  # killed or crashed: walked again, later
                self.queue.append(task)
            else:
                self._done(task, state)
        self._feed(pool, True)

    def _task(self, k: int, trusted: int) -> _Piece:
        """Piece `k`, or (`trusted` >= 0) piece `k` walked again from that offset."""
        unit = self.units[k]
        return self._state(unit if trusted < 0 else unit._replace(trusted=trusted))

    def _state(self, unit: _Unit) -> _Piece:
        """Walk one piece into a pass of its own; its containers, and where the piece
        began and stopped (None: at the end of the layer)."""
        sub = _Pass(self.analyzers, self.limits, slots=self.slots, route=self.route)
        sub.tick = self._tick if self.ticking else None
        begin: int | None = unit.start
        if unit.trusted is not None:
            begin = unit.trusted
        elif unit.nth:  # its first header, if one is in its range
            window = unit.blob.stream
            assert isinstance(window, FileWindow)
            limit = window.size if unit.end is None else unit.end
            begin = find_header(window, unit.start, min(limit, unit.start + SCAN_MAX))
        stopped = None
        if begin is not None:
            stopped = sub._layer(unit.slot, unit.blob, begin, unit.end)
        return _Piece(begin, stopped, sub.records, sub.whiteouts, sub.opaque, sub.results,
                      sub.escapes, sub.stats, sub.skipped, sub.failed, sub.links, sub.entries)

    def _done(self, task: tuple[int, int], state: _Piece) -> None:
        """A piece is walked (or walked again): once all pieces of its layer are, merge
        them in order, as far as each starts where the previous one stopped."""
        k, trusted = task
        slot = self.units[k].slot
        got = self.pieces.setdefault(slot, [])
        if trusted >= 0:  # the piece the chain waits for, walked from the right offset
            at_piece, _ = self.cursor[slot]
            got[at_piece] = (got[at_piece][0], state)
        else:
            got.append((k, state))
            if len(got) < self.expected[slot]:
                return
            got.sort(key=lambda piece: self.units[piece[0]].nth)
            self.cursor[slot] = (0, 0)
        self._advance(slot)

    def _advance(self, slot: int) -> None:
        """Merge the pieces of a layer from where the chain stands; a piece that does not
        start where the one before stopped is queued to be walked again from there."""
        got = self.pieces[slot]
        i, at = self.cursor[slot]
        while i < len(got) and at is not None:  # at None: the layer ended in a piece
            k, st = got[i]
            end = self.units[k].end
            if end is not None and at >= end:
                i += 1  # all inside one member's data, which an earlier piece walked past
                continue
            if st.begin != at:  # started inside file data, or found no header
                self.cursor[slot] = (i, at)
                self.queue.append((k, at))
                return
            self._merge(slot, st)
            at = st.stopped
            i += 1
        del self.pieces[slot], self.cursor[slot]
        if self.progress:
            self.progress(self.units[got[0][0]].blob.name)

    def _merge(self, slot: int, piece: _Piece) -> None:
        self.entries += piece.entries
        if self.entries > self.limits.max_entries:  # refused in _walk: keep no more
            return
        for key, why in piece.failed.items():
            self.failed.setdefault(key, why)
        if slot in self.failed:  # of no use (an error if the image lists it): not kept
            return
        mine = self.records
        for path, rec in piece.records.items():
            prev = mine.get(path)
            if prev is None:
                mine[path] = rec
            else:  # in an earlier layer, or in an earlier piece of this one
                self._another(slot, path, prev, rec if isinstance(rec, list) else [rec])
        for into, came in ((self.whiteouts, piece.whiteouts), (self.opaque, piece.opaque)):
            for path, slots in came.items():
                into.setdefault(path, []).extend(slots)
        for name, found in piece.results.items():
            self.results.setdefault(name, {}).update(found)
        self.escapes.extend(piece.escapes)
        for key, (size, count) in piece.stats.items():
            have = self.stats.setdefault(key, [0, 0])
            have[0] += size
            have[1] += count
        self.skipped.extend(piece.skipped)
        self.links.update(piece.links)

    def stop(self) -> None:
        """End the workers, killing any still at work (an error or an interrupt)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def close(self) -> None:
        """Close the descriptors of deferred layers."""
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = {}
        self.waiting = []

    def _entries(self, slot: int, stream: TarStream, stats: list[int],
                 stop: int | None = None) -> None:
        """Every entry of one layer: its record, whiteouts, escapes, and the bytes of
        wanted files to the analyzers. The hot loop of an image audit: one pass of
        plain locals per entry, the unusual cases in methods of their own."""
        records = self.records
        route = self.route
        tick = self.tick
        max_entries = self.limits.max_entries - self.entries
        count = kept = size_sum = 0
        try:
            for name, kind, mode, uid, gid, size, link in stream.entries(stop):
                count += 1
                if count > max_entries:
                    raise LayerError(f"more than {self.limits.max_entries} entries: refused")
                if tick is not None and not count % TICK:
                    tick()
                plain = name[2:] if name[:2] == "./" else name
                if plain and plain[0] not in "./" and "/." not in plain and "//" not in plain:
                    # the common case: a plain relative name, no dot component, no whiteout
                    path = "/" + (plain[:-1] if plain[-1] == "/" else plain)
                else:
                    path = self._unusual(slot, name)
                    if not path or self._whiteout(slot, path):
                        continue
                if kind != "file":
                    size = 0
                size_sum += size
                kept += 1
                rec = (slot, kind, mode, uid, gid, size, link)
                prev = records.get(path)
                if prev is None:
                    records[path] = rec
                else:
                    self._another(slot, path, prev, [rec])
                if link:
                    self._link(slot, path, name, kind, link)
                if kind == "file" and route is not None:
                    wanting = route(path, size, mode)
                    if wanting:
                        self._analyze(slot, path, stream, wanting, size)
        finally:
            self.entries += count
            stats[0] += size_sum
            stats[1] += kept

    def _another(self, slot: int, path: str, prev: Record | list[Record],
                 new: list[Record]) -> None:
        """`path`, recorded before (`prev`), written again by layer `slot` (`new`). If the
        layer wrote it before too, the later copy replaces the earlier one (as extracting
        the layer would), so what was found in or linked from the earlier copy goes."""
        if isinstance(prev, list):
            earlier = prev  # extended in place: a path written a million times stays linear
        else:
            earlier = self.records[path] = [prev]
        if any(r[0] == slot for r in earlier):  # stops at the layer's first copy: early
            self.links.pop((slot, path), None)
            for found in self.results.values():
                found.pop((slot, path), None)
        earlier.extend(new)

    def _whiteout(self, slot: int, path: str) -> bool:
        """Record `path` if it is a whiteout or an opaque marker (True)."""
        base = path[path.rfind("/") + 1:]
        if not base.startswith(".wh."):
            return False
        parent = posixpath.dirname(path)
        if base == ".wh..wh..opq":
            self.opaque.setdefault(parent, []).append(slot)
        else:
            self.whiteouts.setdefault(posixpath.join(parent, base[4:]), []).append(slot)
        return True

    def _analyze(self, slot: int, path: str, stream: TarStream,
                 wanting: list[Analyzer], size: int) -> None:
        # the member is read once: the analyzers that scan chunks (`scanner`) are fed all
        # of it, one analyzer (the first that can) pulls it as a stream, after the
        # others had their head as bytes
        scanners: list[tuple[Analyzer, Scanner]] = []
        if any(hasattr(a, "scanner") for a in wanting):
            wanting = self._scanners(slot, path, size, wanting, scanners)
        streaming = next((a for a in wanting if hasattr(a, "analyze_stream")), None)
        if streaming is not None:
            wanting = [a for a in wanting if a is not streaming]
        data = self._read(stream, wanting) if wanting else b""
        if wanting:
            self._bytes(slot, path, data, wanting)
        if streaming is None and not scanners:
            return
        read = _replay(stream, data)
        if scanners:
            read = self._feeding(slot, path, read, scanners)
        if streaming is not None:
            self._stream(slot, path, streaming, size, read)
        if scanners:
            self._scan(slot, path, read, scanners)

    def _scanners(self, slot: int, path: str, size: int, wanting: list[Analyzer],
                  scanners: list[tuple[Analyzer, Scanner]]) -> list[Analyzer]:
        """Ask the analyzers with `scanner` for one (into `scanners`); the others, and
        those that answer None, are the bytes and stream analyzers left."""
        rest: list[Analyzer] = []
        for a in wanting:
            make = getattr(a, "scanner", None)
            if make is None:
                rest.append(a)
                continue
            try:
                found = make(path, size)
            except Exception as exc:  # an analyzer must never abort the pass
                self.skipped.append((a.name, f"{path}: {type(exc).__name__}: {exc}"))
                continue
            if found is None:
                rest.append(a)
            else:
                scanners.append((a, found))
        return rest

    def _feeding(self, slot: int, path: str, read: Callable[[int], bytes],
                 scanners: list[tuple[Analyzer, Scanner]]) -> Callable[[int], bytes]:
        """`read`, also feeding every chunk it returns to the scanners that still want
        more (`scanners` shrinks as they stop wanting, or fail: a skipped entry)."""
        def feeding(n: int) -> bytes:
            chunk = read(n)
            if chunk and scanners:
                for entry in list(scanners):
                    try:
                        more = entry[1].feed(chunk)
                    except Exception as exc:  # an analyzer must never abort the pass
                        self.skipped.append((entry[0].name,
                                             f"{path}: {type(exc).__name__}: {exc}"))
                        scanners.remove(entry)
                        continue
                    if not more:
                        scanners.remove(entry)
                        self._scanned(slot, path, entry)
            return chunk

        return feeding

    def _scan(self, slot: int, path: str, read: Callable[[int], bytes],
              scanners: list[tuple[Analyzer, Scanner]]) -> None:
        """Feed the rest of the member to the scanners still wanting it, then take the
        results of those that did not stop on their own."""
        while scanners:
            if not read(SCAN_CHUNK):
                break
        for entry in scanners:
            self._scanned(slot, path, entry)
        scanners.clear()

    def _scanned(self, slot: int, path: str, entry: tuple[Analyzer, Scanner]) -> None:
        a, scanner = entry
        try:
            value = scanner.result()
        except Exception as exc:  # an analyzer must never abort the pass
            self.skipped.append((a.name, f"{path}: {type(exc).__name__}: {exc}"))
            return
        if value is not None:
            self.results.setdefault(a.name, {})[(slot, path)] = value

    def _read(self, stream: TarStream, wanting: list[Analyzer]) -> bytes:
        need = max(a.max_bytes for a in wanting)
        if need > PROBE and all(getattr(a, "text_only", False) for a in wanting):
            data = stream.read(PROBE)  # a binary file: its head is all they need
            if b"\0" not in data:
                data += stream.read(need - PROBE)
        else:
            data = stream.read(need)
        return data

    def _stream(self, slot: int, path: str, a: Analyzer, size: int,
                read: Callable[[int], bytes]) -> None:
        """Hand `a` the member as a forward reader (`analyze_stream`): first the head
        the other analyzers already read, then the rest of the member (`_replay`)."""
        try:
            value = cast("StreamingAnalyzer", a).analyze_stream(path, size, read)
        except Exception as exc:  # an analyzer must never abort the pass
            self.skipped.append((a.name, f"{path}: {type(exc).__name__}: {exc}"))
            return
        if value is not None:
            self.results.setdefault(a.name, {})[(slot, path)] = value

    def _bytes(self, slot: int, path: str, data: bytes, wanting: list[Analyzer]) -> None:
        worker = self.worker
        for a in wanting:
            if worker is not None and a.name in self.offloaded:
                part = data if len(data) <= a.max_bytes else data[: a.max_bytes]
                triage = self.offloaded[a.name]
                if triage is None or triage(path, part):
                    worker.add(a.name, slot, path, part)
                continue
            try:
                value = a.analyze(path, data[: a.max_bytes])
            except Exception as exc:  # an analyzer must never abort the pass
                self.skipped.append((a.name, f"{path}: {type(exc).__name__}: {exc}"))
                continue
            if value is not None:
                self.results.setdefault(a.name, {})[(slot, path)] = value

    def _unusual(self, slot: int, raw: str) -> str:
        """The absolute path of a name with `./`, `//`, a leading `/` or a dot component;
        "" for names to drop (the root itself, or `..` anywhere: an escape)."""
        name = raw
        while name.startswith("./"):
            name = name[2:]
        if name.startswith("/"):
            self.escapes.append((slot, raw, "absolute path", ""))
            name = name.lstrip("/")
        name = name.rstrip("/")
        if not name or name == ".":
            return ""
        parts = name.split("/")
        if ".." in parts:
            self.escapes.append((slot, raw, "'..' in path", ""))
            return ""
        return "/" + "/".join(p for p in parts if p and p != ".")

    def _link(self, slot: int, path: str, raw: str, kind: str, link: str) -> None:
        if kind == "hardlink":
            target = link[2:] if link.startswith("./") else link
            if target.startswith("/") or ".." in target.split("/"):
                self.escapes.append((slot, raw, "hard link target outside the root", link))
            else:
                self.links[(slot, path)] = "/" + target.rstrip("/")
        elif kind == "symlink" and not link.startswith("/") and ".." in link:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
            if resolved.startswith("//") or _climbs_out(path, link):
                self.escapes.append((slot, raw, "link target outside the root", link))


def _replay(stream: TarStream, head: bytes) -> Callable[[int], bytes]:
    """A forward reader of the member: first `head` (what was read of it already), then
    the rest from `stream`."""
    at = 0  # in `head`: what was replayed

    def read(n: int) -> bytes:
        nonlocal at
        if at < len(head):
            if at == 0 and n >= len(head):
                at = len(head)
                return head
            part = head[at:at + n]
            at += len(part)
            return part
        return stream.read(n)

    return read


def make_router(analyzers: list[Analyzer]) -> Callable[[str, int, int], list[Analyzer]]:
    """One function telling which analyzers want a file, asking `wants` only of the
    analyzers whose `selector` the path passes (and of those without a selector)."""
    exact: dict[str, list[Analyzer]] = {}
    by_prefix: list[tuple[tuple[str, ...], Analyzer]] = []
    by_suffix: list[tuple[tuple[str, ...], Analyzer]] = []
    runnable: list[Analyzer] = []
    every: list[Analyzer] = []
    for a in analyzers:
        sel = getattr(a, "selector", None)
        if not isinstance(sel, Selector):
            every.append(a)
            continue
        for path in sel.paths:
            exact.setdefault(path, []).append(a)
        if sel.prefixes:
            by_prefix.append((sel.prefixes, a))
        if sel.suffixes:
            by_suffix.append((sel.suffixes, a))
        if sel.executables:
            runnable.append(a)
    prefixes = tuple(p for ps, _ in by_prefix for p in ps)
    suffixes = tuple(x for xs, _ in by_suffix for x in xs)

    only = every[0] if len(every) == 1 else None

    def route(path: str, size: int, mode: int) -> list[Analyzer]:
        if only is not None:
            out = [only] if only.wants(path, size, mode) else []
        else:
            out = [a for a in every if a.wants(path, size, mode)]
        if runnable and mode & 0o111:
            out.extend(a for a in runnable if a not in out and a.wants(path, size, mode))
        found = exact.get(path)
        if found is not None:
            out.extend(a for a in found if a not in out and a.wants(path, size, mode))
        if prefixes and path.startswith(prefixes):
            out.extend(a for ps, a in by_prefix
                       if path.startswith(ps) and a not in out and a.wants(path, size, mode))
        if suffixes and path.endswith(suffixes):
            out.extend(a for xs, a in by_suffix
                       if path.endswith(xs) and a not in out and a.wants(path, size, mode))
        return out

    return route


def _climbs_out(path: str, link: str) -> bool:
    depth = len([p for p in posixpath.dirname(path).split("/") if p])
    for part in link.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part and part != ".":
            depth += 1
    return False


# What the final view keeps per path: (kind, mode, uid, gid, size, layer, linkname); an
# ImageFile is made only for the paths somebody asks about.
Final = tuple[str, int, int, int, int, int, str]


class _View:
    """The final filesystem: FinalView for the analyzers."""

    def __init__(self, files: dict[str, Final]) -> None:
        self.files = files

    def get(self, path: str) -> ImageFile | None:
        t = self.files.get(path)
        return None if t is None else ImageFile(path, *t)

    def layer_of(self, path: str) -> int | None:
        t = self.files.get(path)
        return t[5] if t else None

    def resolve(self, path: str) -> ImageFile | None:
        parts = [p for p in path.split("/") if p]
        current = ""
        hops = 0
        i = 0
        while i < len(parts):
            candidate = posixpath.normpath(current + "/" + parts[i]) if current else "/" + parts[i]
            if parts[i] == "..":
                candidate = posixpath.dirname(current) or "/"
                current = "" if candidate == "/" else candidate
                i += 1
                continue
            entry = self.files.get(candidate)
            if entry is not None and entry[0] == "symlink":
                hops += 1
                if hops > 40:
                    return None
                target = entry[6]
                rest = parts[i + 1:]
                base = "" if target.startswith("/") else current
                parts = [p for p in (base + "/" + target).split("/") if p] + rest
                current, i = "", 0
                continue
            if entry is None and parts[i] != ".":
                return None
            if parts[i] != ".":
                current = candidate
            i += 1
        return self.get(current or "/")


def _resolve_structure(p: _Pass, ref: str, platform: str | None,
                       origin: str) -> tuple[bytes, list[str], tuple[str, ...]]:
    """The config bytes, the layer blob names in order, and the names the archive gives
    its image (an SBOM names the image by them, never by the archive's file name): a
    `docker save` manifest's RepoTags of the entry read, or an OCI index's
    `io.containerd.image.name` / full `org.opencontainers.image.ref.name` annotations."""
    blobs = p.json_blobs
    if "oci:manifest" in blobs:
        manifest = load_json(blobs["oci:manifest"], f"{origin}: manifest")
        return *_from_oci_manifest(manifest, blobs, origin), ()
    if "manifest.json" in blobs:
        entries = check_save_manifest(
            load_json(blobs["manifest.json"], f"{origin}: manifest.json"),
            f"{origin}: manifest.json")
        chosen = entries[0]
        if ref and len(entries) > 1:
            chosen = next((e for e in entries if ref in (e.get("RepoTags") or [])), entries[0])
        config_name = chosen["Config"]
        if config_name not in blobs:
            raise InputError(f"{origin}: config {excerpt(config_name, 80)!r} missing from "
                             "the archive")
        layers = list(chosen.get("Layers") or [])
        return blobs[config_name], layers, _names(chosen.get("RepoTags") or [])
    if "index.json" in blobs:
        index = load_json(blobs["index.json"], f"{origin}: index.json")

        def fetch(digest: Any) -> Any:
            name = "blobs/" + str(digest).replace(":", "/", 1)
            if name not in blobs:
                raise InputError(f"{origin}: blob {excerpt(digest, 80)} missing from the "
                                 "archive")
            return load_json(blobs[name], f"{origin}: {clean(name)}")

        manifest = choose_manifest(index, fetch, platform, ref, origin)
        return *_from_oci_manifest(manifest, blobs, origin), _index_names(index)
    raise InputError(f"{origin}: no manifest.json or index.json: not an image archive")


def _index_names(index: Any) -> tuple[str, ...]:
    """The image names an OCI index's annotations give (its shape already checked by
    choose_manifest); anything odd gives no name."""
    tags = []
    try:
        for desc in index.get("manifests") or []:
            notes = desc.get("annotations") or {}
            name = notes.get("io.containerd.image.name") or ""
            ref_name = notes.get("org.opencontainers.image.ref.name") or ""
            if not name and ("/" in ref_name or ":" in ref_name):
                name = ref_name  # a full reference, not a bare tag
            if name:
                tags.append(name)
    except (ValueError, TypeError, AttributeError):
        return ()
    return _names(tags)


def _names(tags: Any) -> tuple[str, ...]:
    return tuple(clean(t) for t in tags if isinstance(t, str) and t)[:16]


def _from_oci_manifest(manifest: Any, blobs: Mapping[str, bytes],
                       origin: str) -> tuple[bytes, list[str]]:
    check_manifest(manifest, f"{origin}: image manifest")
    config_name = "blobs/" + manifest["config"]["digest"].replace(":", "/", 1)
    if config_name not in blobs:
        raise InputError(f"{origin}: config blob missing")
    layers = ["blobs/" + layer["digest"].replace(":", "/", 1)
              for layer in manifest.get("layers") or []]
    return blobs[config_name], layers


def _config_facts(cfg: Mapping[str, Any]) -> ImageConfigFacts:
    c = cfg.get("config") or cfg.get("Config") or {}
    if not isinstance(c, dict):
        c = {}
    env = []
    for item in c.get("Env") or []:
        k, _, v = str(item).partition("=")
        env.append((k, v))
    health = c.get("Healthcheck") or {}
    test = tuple(str(x) for x in (health.get("Test") or [])) if isinstance(health, dict) else ()
    return ImageConfigFacts(
        user=str(c.get("User") or ""),
        env=tuple(env),
        labels={str(k): str(v) for k, v in (c.get("Labels") or {}).items()}
        if isinstance(c.get("Labels"), dict) else {},
        healthcheck=test or None,
        exposed_ports=tuple(sorted(str(p) for p in (c.get("ExposedPorts") or {}))),
        cmd=tuple(str(x) for x in c.get("Cmd") or []) if isinstance(c.get("Cmd"), list) else (),
        entrypoint=tuple(str(x) for x in c.get("Entrypoint") or [])
        if isinstance(c.get("Entrypoint"), list) else (),
        os=str(cfg.get("os", "")),
        architecture=str(cfg.get("architecture", "")),
        created=str(cfg.get("created", "")),
    )


def _history(cfg: Mapping[str, Any], n_layers: int) -> tuple[HistoryStep, ...]:
    steps = []
    layer = 0
    for h in cfg.get("history") or []:
        if not isinstance(h, dict):
            continue
        empty = bool(h.get("empty_layer"))
        idx = None if empty or layer >= n_layers else layer
        if not empty:
            layer += 1
        steps.append(HistoryStep(str(h.get("created_by", "")), empty, idx,
                                 str(h.get("created", "")), str(h.get("comment", ""))))
    return tuple(steps)


def walk(source: ImageSource, analyzers: Iterable[Analyzer] = (), *,
         platform: str | None = None, limits: Limits | None = None,
         progress: Callable[[str], None] | None = None,
         offload: bool = False,
         meanwhile: Callable[[], None] | None = None) -> ImageSnapshot:
    """Read every layer of `source` once and build its snapshot. `offload`: use the
    other CPUs, running the analyzers that ask for it (`offload = True`) in a worker
    process (offload.py) and walking the layers of a file-backed image at once.
    `meanwhile`: work of the caller's, run (once) when workers have been given the
    first pieces of the layers, before this process takes any; not run at all when no
    worker walks layers."""
    p = _Pass(list(analyzers), limits or Limits(), progress=progress)
    p.meanwhile = meanwhile
    if p.analyzers:
        p.route = make_router(p.analyzers)
    heavy = [a for a in p.analyzers if getattr(a, "offload", False)]
    if offload and available():
        p.parallel = min(MAX_CHILDREN, _cpus())
        if heavy:
            p.worker = Worker(heavy)
            p.offloaded = {a.name: getattr(a, "triage", None) for a in heavy}
    try:
        return _walk(p, source, platform)
    finally:
        p.close()  # deferred layers' descriptors, if the source failed before `_drain`
        if p.worker is not None:
            p.worker.close()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _walk(p: _Pass, source: ImageSource, platform: str | None) -> ImageSnapshot:
    origin = clean(source.ref or source.kind)
    for blob in source.blobs():
        if blob.name in ("oci-layout", "repositories") or blob.name.endswith("/VERSION"):
            continue
        if blob.name.endswith("/json") and blob.name.count("/") == 1:
            continue  # legacy per-layer json of docker save
        small = blob.size is not None and blob.size <= MAX_JSON
        if blob.name.endswith(".json") or blob.name == "oci:manifest" or (
                small and _looks_like_json(blob.stream)):
            p.add_json(blob)
            continue
        p.add_layer(blob)
    if p.waiting:
        p._drain()
    config_bytes, layer_names, names = _resolve_structure(p, source.ref, platform,
                                                          origin)
    cfg = check_config(load_json(config_bytes, f"{origin}: image config"),
                       f"{origin}: image config")
    slot_of = {name: i for i, name in enumerate(p.slots)}
    missing = [n for n in layer_names if n not in slot_of]
    if missing:
        raise InputError(f"{origin}: layer {excerpt(missing[0], 120)} is listed but missing")
    order = [slot_of[n] for n in layer_names]
    if p.entries > p.limits.max_entries:  # whichever layers, read in whatever order
        raise LayerError(f"{origin}: more than {p.limits.max_entries} entries: refused")
    for slot in order:
        if slot in p.failed:
            raise LayerError(f"{origin}: {p.failed[slot]}")
    if p.worker is not None:
        results, skipped = p.worker.finish()
        for name, found in results.items():
            p.results.setdefault(name, {}).update(found)
        p.skipped.extend(skipped)
    return _finish(p, source, cfg, config_bytes, order, names)


def _finish(p: _Pass, source: ImageSource, cfg: dict[str, Any], config_bytes: bytes,
            order: list[int], names: tuple[str, ...]) -> ImageSnapshot:
    pos = {slot: i for i, slot in enumerate(order)}
    wh = {path: max((pos[s] for s in slots if s in pos), default=-1)
          for path, slots in p.whiteouts.items()}
    opq = {path: max((pos[s] for s in slots if s in pos), default=-1)
           for path, slots in p.opaque.items()}
    files: dict[str, Final] = {}
    parents: set[str] = set()
    add_parent = parents.add
    slot_pos = [-1] * len(p.slots)  # a list: cheaper than `pos.get` for every entry
    for slot, i in pos.items():
        slot_pos[slot] = i
    hider = _Hider(wh, opq) if (wh or opq) else None
    below = hider.below if hider is not None else {}
    wh_get = wh.get
    for path, recs in p.records.items():
        best: Record | None
        if isinstance(recs, tuple):
            best = recs
            best_pos = slot_pos[recs[0]]
            if best_pos < 0:
                continue
        else:
            best, best_pos = None, -1
            for rec in recs:
                rp = slot_pos[rec[0]]
                if rp >= 0 and rp >= best_pos:  # of one layer's copies, the last wins
                    best, best_pos = rec, rp
            if best is None:
                continue
        parent = path[:path.rfind("/")]
        if hider is not None:  # hidden from above, or whited out itself
            imposed = below.get(parent)
            if imposed is None:
                imposed = hider.under(parent)
            if imposed > best_pos or wh_get(path, -1) > best_pos:
                continue
        add_parent(parent)
        files[path] = (best[1], best[2], best[3], best[4], best[5], best_pos, best[6])
    # A path under something that is not a directory in the final view is not reachable
    # (shortest paths first, so a removal carries down to everything below it).
    blocked = {parent for parent in parents
               if (pf := files.get(parent)) is not None and pf[0] not in ("dir", "symlink")}
    if blocked:
        removed: set[str] = set()
        for path in sorted(files, key=len):
            cut = path.rfind("/")
            if cut <= 0:
                continue
            parent = path[:cut]
            if parent in removed or parent in blocked:
                removed.add(path)
        for path in removed:
            del files[path]

    view = _View(files)
    packages: list[Package] = []
    os_release: OSRelease | None = None
    secrets: list[SecretHit] = []
    skipped = sorted(p.skipped)  # the same order whichever process read which layer
    for analyzer in p.analyzers:
        by_path: dict[str, list[tuple[int, object]]] = {}
        for (slot, path), value in p.results.get(analyzer.name, {}).items():
            if slot in pos:
                by_path.setdefault(path, []).append((pos[slot], value))
        visible = {}
        for path, found in sorted(by_path.items()):  # the same order however read
            found.sort(key=lambda lv: lv[0])
            if path not in files:
                continue
            top = files[path][5]
            if found[-1][0] == top:
                visible[path] = FileResult(path, top, found[-1][1], tuple(found[:-1]))
        # A visible hard link carries the content of its target as the target was when
        # the link was made, even if the target itself was deleted later.
        for (slot, path), target in p.links.items():
            here = files.get(path)
            if here is None or here[5] != pos.get(slot) or path in visible:
                continue
            earlier = [lv for lv in by_path.get(target, []) if lv[0] <= pos[slot]]
            if earlier:
                visible[path] = FileResult(path, pos[slot], max(earlier, key=lambda lv: lv[0])[1])
        try:
            out: AnalysisOutput = analyzer.finish(visible, view)
        except Exception as exc:  # an analyzer must never abort the audit
            skipped.append((analyzer.name, f"failed: {type(exc).__name__}: {exc}"))
            continue
        packages.extend(out.packages)
        secrets.extend(out.secrets)
        skipped.extend(out.skipped)
        if out.os_release is not None and os_release is None:
            os_release = out.os_release

    setuid, writable, devices = [], [], []
    present = {path: ImageFile(path, *files[path]) for path in NOTABLE if path in files}
    caches: dict[str, int] = {}
    total = 0
    cache_prefixes = tuple(c + "/" for c in CACHE_DIRS)
    for path, (kind, mode, _, _, size, _, _) in files.items():
        if kind == "file":
            total += size
            if path.startswith(cache_prefixes) and not path.endswith("/lock"):
                for cache in CACHE_DIRS:
                    if path.startswith(cache + "/"):
                        caches[cache] = caches.get(cache, 0) + 1
        if mode & 0o6002:
            if kind in ("file", "hardlink") and mode & 0o6000:
                setuid.append(ImageFile(path, *files[path]))
            if mode & 0o002 and kind in ("file", "hardlink", "dir") and not (
                    kind == "dir" and mode & 0o1000):
                writable.append(ImageFile(path, *files[path]))
        if kind == "char" or kind == "block":
            devices.append(ImageFile(path, *files[path]))
    diff_ids = [str(d) for d in (cfg.get("rootfs") or {}).get("diff_ids") or []]
    history = _history(cfg, len(order))
    created_by = {h.layer: h.created_by for h in history if h.layer is not None}
    layers = tuple(
        LayerFacts(i, diff_ids[i] if i < len(diff_ids) else p.slots[slot], created_by.get(i, ""),
                   p.stats.get(slot, [0, 0])[0], p.stats.get(slot, [0, 0])[1])
        for i, slot in enumerate(order))
    escapes = tuple(sorted((Escape(pos[s], name, reason, link)
                            for s, name, reason, link in p.escapes if s in pos),
                           key=lambda e: e.layer))  # stable: entry order within a layer
    analysers_ran = {a.name for a in p.analyzers}
    from hashlib import sha256  # OpenSSL's start-up is paid here, once, not at import

    config_id = "sha256:" + sha256(config_bytes).hexdigest()
    return ImageSnapshot(
        ref=source.ref or config_id,
        id=config_id,
        source=source.kind,
        config=_config_facts(cfg),
        history=history,
        layers=layers,
        file_count=len(files),
        total_size=total,
        setuid_files=tuple(sorted(setuid, key=lambda f: f.path)),
        world_writable=tuple(sorted(writable, key=lambda f: f.path)),
        devices=tuple(sorted(devices, key=lambda f: f.path)),
        escapes=escapes,
        secrets=tuple(secrets),
        packages=tuple(packages) if analysers_ran else Unknown("no package analyzers ran"),
        os_release=os_release if analysers_ran else Unknown("no analyzers ran"),
        present=present,
        cache_files=dict(sorted(caches.items())),
        skipped=tuple(skipped),
        names=names,
    )


class _Hider:
    """A path written by layer `top` is hidden when a whiteout of it, or of a directory
    above it, or an opaque marker above it, comes from a later layer. What a directory
    imposes on everything below it is worked out once per directory (`below`, keyed by
    the directory's path, "" for the root); `_finish` tests the path's own whiteout."""

    def __init__(self, wh: Mapping[str, int], opq: Mapping[str, int]) -> None:
        self.wh, self.opq = wh, opq
        self.below: dict[str, int] = {"": max(opq.get("/", -1), wh.get("/", -1))}

    def under(self, directory: str) -> int:
        """The latest layer position that hides everything under `directory`."""
        found = self.below.get(directory)
        if found is None:
            cut = directory.rfind("/")
            found = max(self.wh.get(directory, -1), self.opq.get(directory, -1),
                        self.under(directory[:cut] if cut > 0 else ""))
            self.below[directory] = found
        return found
