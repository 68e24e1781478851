"""The hand-written layer tar reader against Python's tarfile, on every header format
images use, and on hostile bytes."""

from __future__ import annotations

import contextlib
import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockwarden.collect.image.tarstream import TarFormatError, TarStream


def _archive(fmt: int, names: list[str], payload: bytes = b"data") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for i, name in enumerate(names):
            ti = tarfile.TarInfo(name)
            if i % 4 == 1:
                ti.type, ti.linkname = tarfile.SYMTYPE, "target/" + "l" * (i * 30)
                tf.addfile(ti)
            elif i % 4 == 2:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o1777
                tf.addfile(ti)
            else:
                ti.size, ti.mode, ti.gid = len(payload), 0o4755, 42
                ti.uid = 1000 if fmt == tarfile.USTAR_FORMAT else 10**7  # base-256 / PAX
                tf.addfile(ti, io.BytesIO(payload))
    return buf.getvalue()


def _ours(data: bytes, read: bool = True) -> list[tuple[object, ...]]:
    return _ours_from(io.BufferedReader(io.BytesIO(data)), read)


def _ours_from(fh: object, read: bool = True) -> list[tuple[object, ...]]:
    stream = TarStream(fh)  # type: ignore[arg-type]
    out = []
    for m in stream:
        content = stream.read(1 << 20) if read and m.kind == "file" else b""
        out.append((m.name, m.kind, m.mode, m.uid, m.gid, m.size, m.linkname, content))
    return out


def _theirs(data: bytes) -> list[tuple[object, ...]]:
    kinds = {tarfile.REGTYPE: "file", tarfile.SYMTYPE: "symlink", tarfile.DIRTYPE: "dir"}
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            content = tf.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            out.append((m.name, kinds[m.type], m.mode, m.uid, m.gid,
                        m.size if m.isfile() else 0, m.linkname, content))
    return out


NAMES = ["a", "dir/file", "x" * 99, "p/" * 60 + "deep", "ünïcødé/名前", "y" * 300]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
def test_same_members_as_tarfile(fmt: int) -> None:
    names = NAMES if fmt != tarfile.USTAR_FORMAT else NAMES[:4]
    if fmt == tarfile.USTAR_FORMAT:
        data = _archive(fmt, [*names[:4], "dir/" * 30 + "f"], b"")
    else:
        data = _archive(fmt, names)
    assert _ours(data) == _theirs(data)


def test_unread_data_is_skipped() -> None:
    data = _archive(tarfile.PAX_FORMAT, ["a", "b", "c", "d"], b"z" * 100_000)
    assert [m[0] for m in _ours(data, read=False)] == ["a", "b", "c", "d"]


def test_partial_read_then_next_member() -> None:
    data = _archive(tarfile.GNU_FORMAT, ["a", "s", "d", "b"], b"0123456789" * 100)
    stream = TarStream(io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    got = []
    for m in stream:
        got.append((m.name, stream.read(3) if m.kind == "file" else b""))
    assert got == [("a", b"012"), ("s", b""), ("d", b""), ("b", b"012")]


def test_peek_leaves_the_data_and_stops_at_the_member() -> None:
    data = _archive(tarfile.GNU_FORMAT, ["a", "s", "d", "b"], b"0123456789" * 100)
    stream = TarStream(io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    got = []
    for m in stream:
        if m.kind == "file":
            got.append((stream.peek(4), stream.peek(5000) == b"0123456789" * 100,
                        stream.read(2), stream.peek(3)))
    assert got == [(b"0123", True, b"01", b"234")] * 2


def test_a_tar_inside_a_tar_is_read_through_the_member() -> None:
    """A layer streamed out of an image archive: the inner tar reads the outer member."""
    from dockwarden.collect.image.source import iter_tar_blobs

    inner = _archive(tarfile.PAX_FORMAT, NAMES)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, payload in (("layer.tar", inner), ("after.json", b"{}")):
            ti = tarfile.TarInfo(name)
            ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload))
    blobs = iter_tar_blobs(io.BufferedReader(io.BytesIO(buf.getvalue())), "x")
    layer = next(blobs)
    assert layer.stream.peek(512) == inner[:512]  # and left unread:
    assert _ours_from(layer.stream) == _theirs(inner)
    after = next(blobs)
    assert (after.name, after.stream.read()) == ("after.json", b"{}")


def test_corrupt_header_is_an_error() -> None:
    data = bytearray(_archive(tarfile.GNU_FORMAT, ["a", "b"]))
    data[1024 + 10] ^= 0xFF  # inside the second header (first: header + one data block)
    with pytest.raises(TarFormatError):
        _ours(bytes(data))


def test_truncated_data_is_an_error() -> None:
    data = _archive(tarfile.GNU_FORMAT, ["a"], b"q" * 5000)
    with pytest.raises(TarFormatError, match="truncated"):
        _ours(data[:1500])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(blob: bytes) -> None:
    with contextlib.suppress(TarFormatError):
        _ours(blob)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=255))
def test_bit_flips_are_caught_or_harmless(pos: int, value: int) -> None:
    data = bytearray(_archive(tarfile.PAX_FORMAT, NAMES[:4]))
    pos %= len(data)
    data[pos] = value
    with contextlib.suppress(TarFormatError):
        _ours(bytes(data))
