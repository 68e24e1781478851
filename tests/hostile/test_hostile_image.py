"""Hostile image archives (issue 11, defects 3, 4 and part of 8): tar headers with
negative, garbage or overflowing sizes, OCI layouts whose files are symlinks out of the
layout, FIFOs or devices, manifests and configs of the wrong shape, deep JSON, and
non-UTF-8 file names.

What dockwarden answers, per SPEC: a corrupt or malformed archive is bad input, so the
audit stops with exit 2 and one line on stderr (`dockwarden: error: ...`), no traceback,
nothing on stdout, and never a byte of a host file a symlink pointed at. (Exit 3 is for
an audit cut off mid-way; an archive that cannot be read at all is not that.)"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwarden.collect.image import offload, walker
from dockwarden.collect.image.source import OCILayoutSource, TarSource
from dockwarden.collect.image.walker import LayerError, Limits, _decompressed, walk
from dockwarden.errors import DockwardenError
from harness.imagebuild import Image, d, docker_save, f, layer_tar, oci_layout
from hostile.conftest import Run, assert_no_raw_controls, run_dockwarden

MARKER = "HOST-SECRET-5f0e3c1d-do-not-print"


def _image_cli(*args: str) -> Run:
    return run_dockwarden(["image", *args, "--format", "json", "--no-progress"],
                          timeout=60, memory_mib=1024)


def _one_line_error(run: Run, code: int = 2) -> str:
    """The run ended with `code`, one error line on stderr (a hint line may follow),
    nothing on stdout; the error line is returned."""
    assert run.code == code, (run.code, run.err[-2000:])
    lines = [line for line in run.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("dockwarden: error: ")]
    assert len(errors) == 1, run.err[-2000:]
    assert all(line.startswith(("dockwarden: error: ", "hint: ")) for line in lines), run.err
    assert run.out == ""
    assert_no_raw_controls(run.err)
    return errors[0]


def _checksum(hdr: bytearray) -> None:
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)


def _patched(layer: bytes, field: bytes, nth: int = 0) -> bytes:
    """`layer` with the size field of its `nth` header replaced by `field` (12 bytes),
    the checksum made right again: only the size is wrong."""
    data = bytearray(layer)
    pos = seen = 0
    while True:
        hdr = data[pos:pos + 512]
        size = int(hdr[124:136].rstrip(b"\0 ") or b"0", 8)
        if seen == nth:
            hdr[124:136] = field
            _checksum(hdr)
            data[pos:pos + 512] = hdr
            return bytes(data)
        seen += 1
        pos += 512 + -(-size // 512) * 512


def _ustar_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i in range(20):
            ti = tarfile.TarInfo(f"f{i}")
            ti.size = 100
            tf.addfile(ti, io.BytesIO(b"x" * 100))
    return buf.getvalue()


def _pax_negative_layer(files: int = 20, payload: int = 10, before: int = 0) -> bytes:
    """A layer whose member `a` (after `before` others) has a PAX header saying
    size=-1536 (its ustar header says 3): a reader that believes the PAX record jumps
    back three blocks, for ever."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(before):
            t0 = tarfile.TarInfo(f"b/{i}")
            t0.size = payload
            tf.addfile(t0, io.BytesIO(b"y" * payload))
        ti = tarfile.TarInfo("a")
        ti.size = 3
        ti.pax_headers = {"size": "-1536"}
        tf.addfile(ti, io.BytesIO(b"abc"))
        for i in range(files):
            t2 = tarfile.TarInfo(f"f{i}")
            t2.size = payload
            tf.addfile(t2, io.BytesIO(b"x" * payload))
    data = buf.getvalue()
    assert b"size=-1536" in data
    return data


def _save(tmp_path: Path, layer: bytes, name: str = "img.tar", **kw: Any) -> str:
    return docker_save(Image([layer]), str(tmp_path / name), **kw)


# -- defect 3: sizes that send the reader backwards or nowhere ----------------------------


@pytest.mark.parametrize("gzip_outer", [False, True], ids=["plain", "gzip"])
def test_pax_negative_size_is_a_corrupt_layer(tmp_path: Path, gzip_outer: bool) -> None:
    path = _save(tmp_path, _pax_negative_layer(), gzip_outer=gzip_outer)
    assert os.path.getsize(path) < 64 << 10  # the 20 KB tarball of the report
    line = _one_line_error(_image_cli("--tar", path))
    assert "corrupt" in line and "PAX" in line


@pytest.mark.parametrize("field", [
    b"garbage\0\0\0\0\0",  # not a number
    b"-0000003000\0",  # negative in octal
    b"00000001_00\0",  # int() would take the underscore
    b"\xff" + b"\xff" * 11,  # base-256, sign bit set: negative
    b"\x80" + b"\x7f" + b"\xff" * 10,  # base-256, far beyond any offset
], ids=["garbage", "negative", "underscore", "b256-negative", "b256-overflow"])
def test_ustar_size_field_garbage_is_a_corrupt_layer(tmp_path: Path, field: bytes) -> None:
    path = _save(tmp_path, _patched(_ustar_layer(), field, nth=3))
    line = _one_line_error(_image_cli("--tar", path))
    assert "corrupt" in line or "truncated" in line


def test_corrupt_docker_save_outer_archive(tmp_path: Path) -> None:
    """The archive itself (not a layer in it) with a negative PAX size."""
    path = tmp_path / "outer.tar"
    path.write_bytes(_pax_negative_layer())
    line = _one_line_error(_image_cli("--tar", str(path)))
    assert "not a readable image archive" in line


@pytest.fixture()
def _hang_guard() -> Iterator[None]:
    """A walk called in this process must end: SIGALRM after 60 s fails the test."""
    def expired(*_: object) -> None:
        raise AssertionError("the walk did not end within 60 s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.skipif(not offload.available(), reason="needs fork and 2 CPUs")
@pytest.mark.usefixtures("_hang_guard")
@pytest.mark.parametrize("share", [True, False], ids=["shared", "forked"])
def test_parallel_walk_of_a_negative_size_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               share: bool) -> None:
    """The path of large file-backed images (64-256 MiB: SHARE_MIN, FORK_MIN), thresholds
    lowered so that a 2 MiB layer is cut into pieces walked by forked workers; the
    negative PAX size sits in the middle of the layer, in a later piece."""
    monkeypatch.setattr(walker, "SHARE_MIN", 0)
    monkeypatch.setattr(walker, "FORK_MIN", 1 << 40 if share else 0)
    monkeypatch.setattr(walker, "PIECE_MIN", 64 << 10)
    monkeypatch.setattr(walker, "_cpus", lambda: 3)
    layer = _pax_negative_layer(files=250, payload=4000, before=250)
    assert len(layer) > 1 << 20
    path = _save(tmp_path, layer)
    with pytest.raises(LayerError, match="corrupt"):
        walk(TarSource(path), offload=True)


@pytest.mark.usefixtures("_hang_guard")
def test_undeclared_size_keeps_the_ratio_guard() -> None:
    """A gzip layer whose descriptor has no size (a registry manifest without `size`):
    the ratio is taken on the compressed bytes read, so a bomb stops at the floor."""
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
    limits = Limits(bomb_floor=4 << 20, max_ratio=100)
    reader = _decompressed(io.BufferedReader(io.BytesIO(bomb)), "l", None, limits)
    with pytest.raises(LayerError, match="decompression bomb"):
        while reader.read(1 << 20):
            pass


@pytest.mark.usefixtures("_hang_guard")
def test_undeclared_size_has_an_absolute_cap() -> None:
    data = gzip.compress(os.urandom(1 << 20) * 8, compresslevel=1)  # little ratio
    limits = Limits(max_unsized_bytes=4 << 20)
    reader = _decompressed(io.BufferedReader(io.BytesIO(data)), "l", None, limits)
    with pytest.raises(LayerError, match="size was not declared"):
        while reader.read(1 << 20):
            pass
    sized = _decompressed(io.BufferedReader(io.BytesIO(data)), "l", len(data), limits)
    assert sum(len(c) for c in iter(lambda: sized.read(1 << 20), b"")) == 8 << 20


def test_default_unsized_cap_is_documented() -> None:
    assert Limits().max_unsized_bytes == 16 << 30
    assert "16 GiB" in (Limits.__doc__ or "")


# -- defect 4: an OCI layout's files are the layout's own, regular files ------------------


def _layout(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root = Path(oci_layout(Image([layer_tar([d("etc"), f("etc/hostname", "h\n")])]),
                           str(tmp_path / "layout")))
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs" / "sha256" /
                           index["manifests"][0]["digest"][7:]).read_text())
    return root, manifest


def _host_file(tmp_path: Path) -> Path:
    secret = tmp_path / "host-secret"
    secret.write_text(f"{MARKER}\nroot:$6$hash:19000:0:99999:7:::\n")
    return secret


def _blob_file(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest[7:]


@pytest.mark.parametrize("which", ["layer", "config", "manifest", "index"])
def test_oci_symlink_out_of_the_layout_is_not_read(tmp_path: Path, which: str) -> None:
    root, manifest = _layout(tmp_path)
    secret = _host_file(tmp_path)
    if which == "index":
        target = root / "index.json"
    elif which == "manifest":
        index = json.loads((root / "index.json").read_text())
        target = _blob_file(root, index["manifests"][0]["digest"])
    elif which == "config":
        target = _blob_file(root, manifest["config"]["digest"])
    else:
        target = _blob_file(root, manifest["layers"][0]["digest"])
    target.unlink()
    target.symlink_to(secret)
    run = _image_cli("--oci", str(root))
    line = _one_line_error(run)
    assert "leaves" in line
    assert MARKER not in run.out + run.err and "root:$6$" not in run.out + run.err


def test_oci_symlink_inside_the_layout_is_fine(tmp_path: Path) -> None:
    root, manifest = _layout(tmp_path)
    blob = _blob_file(root, manifest["layers"][0]["digest"])
    moved = root / "blobs" / "moved"
    blob.rename(moved)
    blob.symlink_to(moved)
    run = _image_cli("--oci", str(root))
    assert run.code in (0, 1), run.err
    assert json.loads(run.out)["complete"] is True


def test_oci_fifo_blob_is_refused_not_waited_on(tmp_path: Path) -> None:
    root, manifest = _layout(tmp_path)
    blob = _blob_file(root, manifest["layers"][0]["digest"])
    blob.unlink()
    os.mkfifo(blob)
    line = _one_line_error(_image_cli("--oci", str(root)))
    assert "FIFO" in line


@pytest.mark.parametrize("which", ["layer", "config"])
def test_oci_dev_zero_blob_is_refused(tmp_path: Path, which: str) -> None:
    root, manifest = _layout(tmp_path)
    digest = manifest["layers"][0]["digest"] if which == "layer" else manifest["config"]["digest"]
    blob = _blob_file(root, digest)
    blob.unlink()
    blob.symlink_to("/dev/zero")
    line = _one_line_error(_image_cli("--oci", str(root)))
    assert "leaves" in line or "character device" in line


def test_oci_device_blob_inside_the_layout_is_refused(tmp_path: Path) -> None:
    """A device is refused for what it is, not only for where it lives: the source
    given a root that holds /dev/zero."""
    source = OCILayoutSource("/dev")
    with pytest.raises(DockwardenError):
        source._open("zero", None)


def test_tar_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "img.tar"
    os.mkfifo(fifo)
    with pytest.raises(DockwardenError, match="FIFO"):
        list(TarSource(str(fifo)).blobs())


def test_corrupt_layer_from_a_host_file_is_not_quoted(tmp_path: Path) -> None:
    """A layer whose bytes are not a tar (as a host file behind a symlink would be):
    the error names the layer, never its bytes."""
    root, manifest = _layout(tmp_path)
    blob = _blob_file(root, manifest["layers"][0]["digest"])
    blob.write_bytes((MARKER * 40).encode())
    run = _image_cli("--oci", str(root))
    _one_line_error(run)
    assert MARKER not in run.out + run.err
    assert MARKER[:12] not in run.err


# -- defect 8 (tar/OCI part): documents of the wrong shape --------------------------------


def _save_with(tmp_path: Path, manifest: Any = None, config: Any = None) -> str:
    """A docker-save archive with the given manifest.json and/or config document."""
    layer = layer_tar([f("x", "y")])
    cfg = config if config is not None else {
        "os": "linux", "architecture": "amd64", "config": {},
        "rootfs": {"type": "layers", "diff_ids": []}}
    cfg_bytes = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    man = manifest if manifest is not None else [
        {"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
    man_bytes = man if isinstance(man, bytes) else json.dumps(man).encode()
    path = tmp_path / "shaped.tar"
    with tarfile.open(path, "w") as tf:
        for name, data in (("l/layer.tar", layer), ("c.json", cfg_bytes),
                           ("manifest.json", man_bytes)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return str(path)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("manifest", [
    ["x"], [5], {}, [], [{"Config": 5}], [{"config": "x"}], [{"Config": ["c.json"]}],
    [{"Config": "c.json", "Layers": "l/layer.tar"}], [{"Config": "c.json", "Layers": [5]}],
    [{"Config": "c.json", "RepoTags": 5, "Layers": []}, {"Config": "c.json"}],
    DEEP, b"\xff\xfe not json", b"1" * 5000,
], ids=lambda m: repr(m)[:30])
def test_docker_save_manifest_of_the_wrong_shape(tmp_path: Path, manifest: Any) -> None:
    _one_line_error(_image_cli("--tar", _save_with(tmp_path, manifest=manifest)))


@pytest.mark.parametrize("config", [
    {"rootfs": 5}, {"rootfs": {"diff_ids": 5}}, {"config": {"Env": 5}},
    {"config": {"Env": [5]}}, {"config": 5}, {"config": {"Labels": []}},
    {"config": {"Labels": {"a": 5}}}, {"config": {"Healthcheck": {"Test": 5}}},
    {"config": {"Cmd": 5}}, {"config": {"User": 5}}, {"history": 5}, {"history": [5]},
    {"os": 5}, ["x"], 5, DEEP,
], ids=lambda c: repr(c)[:30])
def test_image_config_of_the_wrong_shape(tmp_path: Path, config: Any) -> None:
    line = _one_line_error(_image_cli("--tar", _save_with(tmp_path, config=config)))
    assert "image config" in line


def _rewrite_index(root: Path, change: Any) -> None:
    index = json.loads((root / "index.json").read_text())
    change(index)
    (root / "index.json").write_text(json.dumps(index))


def _set_platform(index: dict[str, Any]) -> None:
    index["manifests"][0]["platform"] = "linux"


def _set_manifests(index: dict[str, Any]) -> None:
    index["manifests"] = 5


def _set_digest(index: dict[str, Any]) -> None:
    index["manifests"][0]["digest"] = 5


def _set_annotations(index: dict[str, Any]) -> None:
    index["manifests"][0]["annotations"] = ["x"]


@pytest.mark.parametrize("change", [_set_platform, _set_manifests, _set_digest,
                                    _set_annotations])
def test_oci_index_of_the_wrong_shape(tmp_path: Path, change: Any) -> None:
    root, _ = _layout(tmp_path)
    _rewrite_index(root, change)
    _one_line_error(_image_cli("--oci", str(root)))


@pytest.mark.parametrize("manifest", [
    {"config": "x", "layers": []}, {"config": {"digest": 5}, "layers": []},
    {"config": {"digest": "sha256:" + "0" * 64}, "layers": "x"},
    {"config": {"digest": "sha256:" + "0" * 64}, "layers": [5]},
    {"config": {"digest": "sha256:" + "0" * 64, "size": -1}, "layers": []},
    ["x"],
], ids=lambda m: repr(m)[:30])
def test_oci_manifest_of_the_wrong_shape(tmp_path: Path, manifest: Any) -> None:
    root, _ = _layout(tmp_path)
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)

    def point(index: dict[str, Any]) -> None:
        index["manifests"][0]["digest"] = "sha256:" + digest

    _rewrite_index(root, point)
    _one_line_error(_image_cli("--oci", str(root)))


def test_oci_index_nested_deeply(tmp_path: Path) -> None:
    root, _ = _layout(tmp_path)
    (root / "index.json").write_bytes(b'{"manifests": ' + DEEP + b"}")
    line = _one_line_error(_image_cli("--oci", str(root)))
    assert "nested too deeply" in line


def test_oci_tarball_with_a_platform_string(tmp_path: Path) -> None:
    """The same through an OCI layout packed as a tarball (the walker's own parser)."""
    root, _ = _layout(tmp_path)
    _rewrite_index(root, _set_platform)
    packed = tmp_path / "oci.tar"
    with tarfile.open(packed, "w") as tf:
        for name in sorted(os.listdir(root)):
            tf.add(root / name, arcname=name)
    _one_line_error(_image_cli("--oci", str(packed)))


# -- non-UTF-8 names in a layer flow through as data --------------------------------------


def _non_utf8_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tf:
        for raw in (b"caf\xe9", b"caf\xe9/\xff\xfe-secret.pem", b"etc/\x1b]0;pwned\x07",
                    b"usr/bin/[/]", b"x" * 120 + b"\xff/long"):
            name = raw.decode("utf-8", "surrogateescape")
            ti = tarfile.TarInfo(name)
            if raw == b"caf\xe9":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
                continue
            body = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
            ti.size, ti.mode = len(body), 0o4755
            tf.addfile(ti, io.BytesIO(body))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text", "sarif"])
def test_non_utf8_names_flow_through(tmp_path: Path, fmt: str) -> None:
    path = _save(tmp_path, _non_utf8_layer())
    run = run_dockwarden(["image", "--tar", path, "--format", fmt, "--no-progress"],
                         timeout=60, memory_mib=1024)
    assert run.code in (0, 1), run.err[-2000:]
    if fmt == "json":
        report = json.loads(run.out)
        assert report["complete"] is True


def test_non_utf8_names_in_the_walk(tmp_path: Path) -> None:
    """In this process: the names are in the snapshot as surrogate-escaped text."""
    from dockwarden.collect.image.open import default_analyzers

    snap = walk(TarSource(_save(tmp_path, _non_utf8_layer())), default_analyzers())
    paths = {f.path for f in snap.setuid_files}
    assert "/caf\udce9/\udcff\udcfe-secret.pem" in paths


# -- layers a decompressor cannot read ----------------------------------------------------


@pytest.mark.parametrize("blob", [
    b"\x28\xb5\x2f\xfd" + b"\xff" * 200,  # zstd magic, garbage frame
    b"\xfd7zXZ\x00" + b"\x01" * 200,  # xz magic, garbage
    b"BZh9" + b"\x02" * 200,  # bzip2 magic, garbage
    b"\x1f\x8b\x08\x00" + b"\x03" * 200,  # gzip magic, garbage deflate
], ids=["zstd", "xz", "bzip2", "gzip"])
def test_undecodable_layer_is_a_corrupt_layer(tmp_path: Path, blob: bytes) -> None:
    root, manifest = _layout(tmp_path)
    _blob_file(root, manifest["layers"][0]["digest"]).write_bytes(blob)
    line = _one_line_error(_image_cli("--oci", str(root)))
    assert "corrupt or truncated" in line


def test_gzip_archive_with_corrupt_deflate_data(tmp_path: Path) -> None:
    path = tmp_path / "img.tar.gz"
    good = gzip.compress(_pax_negative_layer(files=200, payload=100))
    path.write_bytes(good[:40] + b"\x00\xff" * 200 + good[440:])
    line = _one_line_error(_image_cli("--tar", str(path)))
    assert "not a readable image archive" in line
