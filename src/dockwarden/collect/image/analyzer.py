"""The contract between the layer walker and the analyzers.

The walker reads every layer once, in whatever order the transport delivers them. For
each regular file it asks the analyzers whether they `want` the file (an analyzer may
declare a `selector` of exact paths, path prefixes and suffixes so that `wants` is only
asked about candidates: most files then cost one dict lookup and two `str` tests for all
analyzers together); if one does, the walker reads up to `max_bytes` of it and calls
`analyze(path, data)`, which returns a
small per-file result (or None). An analyzer that has `analyze_stream` (a
`StreamingAnalyzer`: the Go build info reader, for executables of any size) is handed
the member as a forward reader instead, so that it never holds the file whole; when other
analyzers want the same file, they get their head as bytes first and the reader replays
that head before it goes on with the member (the member is read once, in one pass).
An analyzer that has `scanner(path, size)` (the binary classifier) may answer with a
`Scanner` for the file: the walker then pushes it the whole member in order, chunk by
chunk (every chunk the streaming analyzer reads, its replayed head included, then the
rest of the member in 1 MiB chunks, or, without a streaming analyzer, the member in
chunks the walker reads itself) until it says it wants no more, and stores its
`result()` as that of `analyze`; a scanner is never offloaded, and one that raises is a
skipped entry, as for `analyze`. An analyzer answering None gets the bytes instead.
Results are kept per (layer, path). Once all layers are
read and whiteouts applied, each analyzer's `finish` receives the results of the files
that are visible in the final filesystem only (a file added in layer 1 and deleted in
layer 2 never reaches `finish`), together with a `FinalView` to look other paths up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from dockwarden.model.image import ImageFile, OSRelease, Package, SecretHit


class FinalView(Protocol):
    """The final filesystem, as a container would see it."""

    def get(self, path: str) -> ImageFile | None:
        """The entry at an absolute path ("/etc/os-release"), links not followed."""
        ...

    def resolve(self, path: str) -> ImageFile | None:
        """The entry at `path` with symlinks followed inside the image root."""
        ...

    def layer_of(self, path: str) -> int | None:
        ...


class Selector(NamedTuple):
    """Which files an analyzer may want: `wants` is asked only about files whose path
    is in `paths`, starts with one of `prefixes` or ends with one of `suffixes`, or
    (`executables`) that have an execute bit. An analyzer without a selector is asked
    about every regular file."""

    paths: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    executables: bool = False  # any file with an execute bit


class AnalysisOutput(NamedTuple):
    packages: tuple[Package, ...] = ()
    os_release: OSRelease | None = None
    secrets: tuple[SecretHit, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (what, why) e.g. ("rpm", "BerkeleyDB rpmdb")


class FileResult(NamedTuple):
    """What `finish` receives for each visible file that produced a result."""

    path: str  # absolute
    layer: int  # index in the image's layer order
    value: object  # what analyze() returned
    # Results for the same path in lower layers, lowest first: lets a package database
    # tell which layer first installed each package (the visible copy is the last write).
    earlier: tuple[tuple[int, object], ...] = ()


class Analyzer(Protocol):
    """Optional attributes the walker also honours: `selector` (a `Selector`),
    `offload = True` (run `analyze` in a worker process, offload.py), with
    `triage(path, data) -> bool` (a cheap test run in the walker's own process: False
    means `analyze` would return None, and the file is not sent to the worker at all),
    and `text_only = True` (of a binary file, one with a NUL byte in its first 8 KiB,
    only those 8 KiB are read and passed on)."""

    name: str
    max_bytes: int  # read at most this much of a wanted file

    def wants(self, path: str, size: int, mode: int) -> bool:
        """Cheap test on every regular file: `path` is absolute ("/var/lib/dpkg/status")."""
        ...

    def analyze(self, path: str, data: bytes) -> object | None:
        """Parse one file during the pass. Must not raise on hostile input: return
        None (or an error value that `finish` turns into a `skipped` entry)."""
        ...

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        """Combine the results of the visible files (keyed by absolute path)."""
        ...


class StreamingAnalyzer(Analyzer, Protocol):
    """An analyzer the walker hands a member as a stream. Never offloaded (offload.py
    sends bytes): it runs in the walker's process, as the member passes."""

    def analyze_stream(self, path: str, size: int,
                       read: Callable[[int], bytes]) -> object | None:
        """Parse one file of `size` bytes read forward by `read(n)` (at most `n` bytes,
        b"" at the end of the member; what is not read is skipped by the walker). Must
        not raise on hostile input, and should hold a bounded part of the file."""
        ...


class Scanner(Protocol):
    """One file pushed to an analyzer in chunks (`scanner(path, size)` on the analyzer:
    a Scanner, or None to have the file as bytes through `analyze`). It should hold a
    bounded part of the file, whatever the chunk sizes (from 1 byte up)."""

    def feed(self, chunk: bytes) -> bool:
        """The next bytes of the file (never empty); False when it wants no more (the
        walker then calls `result` at once and feeds it nothing else)."""
        ...

    def result(self) -> object | None:
        """What `analyze` would have returned for the file, once all of it (or all it
        wanted) was fed; None for nothing. Must not raise on hostile input."""
        ...
