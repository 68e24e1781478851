"""Fuzz the Go build info stream reader (golang.read_stream) with mutated ELF heads and
build info blobs: every input ends in a result (build info, a skipped-with-reason
`Unreadable`, or nothing), never an exception, holding a bounded part of the file."""

from __future__ import annotations

import struct

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.image.pkg import golang
from dockwarden.collect.image.pkg._common import Unreadable
from test_go_binaries import (
    BIG,
    BOUND,
    DEVEL,
    MODINFO,
    X_BLOB,
    _elf,
    _inline,
    _pointers,
    _stream,
)


def _data_at(binary: bytes) -> int:
    (offset,) = struct.unpack_from("<Q", binary, 120 + 8)
    return int(offset)


SEEDS = [
    _elf(b"\0" * 5000, _inline("go1.21.3", MODINFO)),
    _elf(b"\1" * 70_000 + X_BLOB, _inline("go1.21.3", DEVEL)),
    _pointers(b"go1.16.15", MODINFO),
]
REGIONS = [(0, 256), (_data_at(SEEDS[0]), 256), (_data_at(SEEDS[1]), 256),
           (_data_at(SEEDS[2]), 256)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes replaced (offsets kept) in its ELF header and program
    headers or at its build info blob, and sometimes cut short."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        start, length = draw(st.sampled_from([r for r in REGIONS if r[0] < len(data)]))
        at = draw(st.integers(start, start + length))
        chunk = draw(st.one_of(
            st.binary(min_size=1, max_size=8),
            st.sampled_from([b"\xff" * 8, b"\0" * 8, b"\x7f\xff\xff\xff", b"\x06",
                             golang.MAGIC, struct.pack("<Q", 1 << 63)]),
        ))
        data[at:at + len(chunk)] = chunk
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


@example(SEEDS[2][:BIG // 2], 4096)
@given(mutated(), st.sampled_from([None, 4096, 65_537, 1 << 20]))
def test_stream_reader_ends_well(binary: bytes, piece: int | None) -> None:
    # a member shorter than it said (size + 100) when read whole
    value, peak = _stream(binary, piece, extra=100 if piece is None else 0)
    assert value is None or isinstance(value, (golang.GoBuildInfo, Unreadable))
    assert peak < BOUND
