"""Fuzzing the layer tar reader (tarstream) and the archive reader above it (source,
walker): random bytes and mutated valid tarballs (ustar, GNU, PAX; sizes, checksums,
truncation) must end in a result or a DockwardenError, moving forward only."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.image.source import TarSource, iter_tar_blobs
from dockwarden.collect.image.tarstream import FileWindow, TarStream
from dockwarden.collect.image.walker import walk
from dockwarden.errors import DockwardenError
from fuzz.conftest import corpus
from harness.imagebuild import Image, docker_save, layer_tar


def _seed(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for i, name in enumerate(["a", "dir/" + "n" * 90 + "/" + "m" * 90, "ünï/名", "l"]):
            ti = tarfile.TarInfo(name)
            if i == 3:
                ti.type = tarfile.SYMTYPE
                ti.linkname = "t" * (99 if fmt == tarfile.USTAR_FORMAT else 150)
                tf.addfile(ti)
                continue
            ti.size, ti.uid = 700, 10**7 if fmt != tarfile.USTAR_FORMAT else 7
            if fmt == tarfile.PAX_FORMAT:
                ti.pax_headers = {"comment": "x"}
            tf.addfile(ti, io.BytesIO(bytes(range(256)) * 2 + b"z" * 188))
    return buf.getvalue()[:6144]  # the members, not all of tarfile's padding


SEEDS = [_seed(tarfile.USTAR_FORMAT), _seed(tarfile.GNU_FORMAT), _seed(tarfile.PAX_FORMAT)]
# offsets of the numeric fields of a header (mode, uid, gid, size, mtime, chksum) and
# of its type flag: where a mutation tests the number parsing, not only the checksum
FIELDS = [100, 108, 116, 124, 136, 148, 156]


def _fix_checksums(data: bytearray) -> None:
    """Make every block that looks like a header checksum right, so that mutations of
    its fields reach the parsing behind the checksum test."""
    for pos in range(0, len(data) - 511, 512):
        hdr = data[pos:pos + 512]
        if hdr[257:262] == b"ustar":
            hdr[148:156] = b" " * 8
            data[pos + 148:pos + 156] = b"%06o\0 " % sum(hdr)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        block = draw(st.integers(0, len(data) // 512 - 1)) * 512
        where = draw(st.one_of(st.sampled_from(FIELDS), st.integers(0, 511)))
        value = draw(st.one_of(
            st.binary(min_size=1, max_size=12),
            st.sampled_from([b"-1536", b"-0000003000\0", b"\xff" * 12, b"\x80" + b"\xff" * 11,
                             b"77777777777\0", b"garbage", b"1_0", b"+5", b" 1 2"]),
        ))
        data[block + where:block + where + len(value)] = value
    pax = draw(st.sampled_from([b"", b"size=-1536", b"size=99999999999999999999",
                                b"size= 12", b"uid=-1", b"size=\xff"]))
    if pax:
        at = data.find(b"comment=x")
        if at >= 0:
            data[at:at + 9] = pax[:9].ljust(9, b"0")
    if draw(st.booleans()):
        _fix_checksums(data)
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


def _stream(data: bytes) -> None:
    """Walk every member, reading some data, through a stream and a FileWindow."""
    try:
        stream = TarStream(io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
        for n, member in enumerate(stream):
            assert n <= len(data) // 512  # one header per block at most: forward only
            if member.kind == "file":
                stream.read(100)
    except DockwardenError:
        pass
    with tempfile.TemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        try:
            window = TarStream(FileWindow(fh.fileno(), 0, len(data)))
            for n, _member in enumerate(window):
                assert n <= len(data) // 512
        except DockwardenError:
            pass


@given(st.binary(max_size=4096))
@example(b"\0" * 1024)
@example(b"ustar" * 200)
def test_random_bytes(data: bytes) -> None:
    _stream(data)


@given(mutated())
def test_mutated_tarballs(data: bytes) -> None:
    _stream(data)


@given(mutated(), st.booleans())
def test_archive_blobs(data: bytes, plain: bool) -> None:
    """The outer archive reader (docker save / OCI tarball): a file on disk is read by
    windows, a stream through the buffered reader; both end in blobs or an InputError."""
    with tempfile.TemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        fh.seek(0)
        source = fh if plain else io.BufferedReader(io.BytesIO(data))
        try:
            for blob in iter_tar_blobs(source, "fuzz"):  # type: ignore[arg-type]
                blob.stream.read(64)
        except DockwardenError:
            pass


@given(mutated())
def test_mutated_layer_in_an_image(layer: bytes) -> None:
    """A mutated layer inside a valid docker-save archive, through the whole walk."""
    with tempfile.TemporaryDirectory() as tmp:
        path = docker_save(Image([layer_tar([]), layer]), os.path.join(tmp, "img.tar"))
        with contextlib.suppress(DockwardenError):
            walk(TarSource(path))


def test_corpus() -> None:
    for data in corpus("tar"):
        _stream(data)
