"""Where image bytes come from. Every source yields *blobs*; the walker works out from
their names and contents which is the manifest, the config and each layer, so that a
docker-save stream whose manifest.json comes last is read in one pass all the same.

Blob names:
- `manifest.json`, `index.json`, `oci-layout`, `repositories`, `<id>.json`, `<id>/layer.tar`,
  `blobs/sha256/<hex>`: members of a `docker save` or OCI image-layout archive, as is;
- `oci:manifest`: an already chosen image manifest (OCI or Docker schema 2) as JSON, sent
  first by sources with random access (OCI layout directory, registry), followed by
  `blobs/sha256/<hex>` for the config and each layer in order.

Hostile input: every file of an OCI layout directory, and a --tar archive, is opened
through `safeio.open_input` (regular files only, so a FIFO never hangs and `/dev/zero`
is never read; no symlink that leaves the layout). Every JSON document of an archive or
layout (docker-save manifest.json, index, manifest, image config) enters through
`load_json` and a shape check (`check_*`): nesting depth, types of the fields dockwarden
reads. A bad document is an `InputError` naming the document and the field, never a
traceback, and no error quotes more than a short, cleaned excerpt of what it read.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zlib
from collections.abc import Iterator
from typing import IO, Any, NamedTuple, Protocol, cast

from dockwarden.collect.image.tarstream import FileWindow, TarFormatError, TarStream
from dockwarden.errors import InputError
from dockwarden.safeio import open_input
from dockwarden.sanitize import clean, excerpt

MAX_JSON = 16 << 20  # manifests and configs are small; larger JSON is refused
# Real manifests, indexes and configs nest 4-5 levels (config -> Healthcheck -> Test);
# 32 leaves room for any annotation scheme and stops nesting bombs long before the
# interpreter's recursion limit.
MAX_DEPTH = 32


def load_json(data: bytes, what: str) -> Any:
    """`data` parsed as a JSON document no deeper than MAX_DEPTH; an InputError (that
    says where, never what the bytes were) otherwise."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not valid JSON (not UTF-8 text)") from None
    except ValueError:  # an integer of thousands of digits, and the like
        raise InputError(f"{what} is not valid JSON (a value out of range)") from None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        children = value.values() if isinstance(value, dict) else value
        if depth > MAX_DEPTH:
            raise InputError(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return doc


def _bad(what: str, field: str, expected: str) -> InputError:
    return InputError(f"{what}: {field} is not {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str,
         expected: str, prefix: str = "") -> Any:
    """`doc[key]`, which must be absent, null or of `kind`."""
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        raise _bad(what, prefix + key, expected)
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def check_descriptor(desc: Any, what: str, field: str) -> dict[str, Any]:
    """A content descriptor: an object with a string `digest`, an optional non-negative
    integer `size`, optional `platform` and `annotations` objects."""
    if not isinstance(desc, dict):
        raise _bad(what, field, "an object")
    if not isinstance(desc.get("digest"), str):
        raise _bad(what, f"{field}.digest", "a string")
    size = desc.get("size")
    if size is not None and not (_is_int(size) and size >= 0):
        raise _bad(what, f"{field}.size", "a non-negative integer")
    platform = _opt(desc, "platform", dict, what, "an object", field + ".")
    if platform is not None:
        for key in ("os", "architecture", "variant"):
            _opt(platform, key, str, what, "a string", f"{field}.platform.")
    annotations = _opt(desc, "annotations", dict, what, "an object", field + ".")
    if annotations is not None and not all(isinstance(v, str) for v in annotations.values()):
        raise _bad(what, f"{field}.annotations", "an object of strings")
    return desc


def check_index(doc: Any, what: str) -> dict[str, Any]:
    """An OCI index or Docker manifest list: an object whose `manifests` is a list of
    descriptors."""
    if not isinstance(doc, dict):
        raise _bad(what, "the document", "a JSON object")
    manifests = _opt(doc, "manifests", list, what, "a list")
    for i, desc in enumerate(manifests or []):
        check_descriptor(desc, what, f"manifests[{i}]")
    return doc


def check_manifest(doc: Any, what: str) -> dict[str, Any]:
    """An image manifest: a `config` descriptor and a list of `layers` descriptors."""
    if not isinstance(doc, dict):
        raise _bad(what, "the document", "a JSON object")
    if "config" not in doc:
        raise InputError(f"{what}: image manifest has no config")
    check_descriptor(doc["config"], what, "config")
    layers = _opt(doc, "layers", list, what, "a list")
    for i, desc in enumerate(layers or []):
        check_descriptor(desc, what, f"layers[{i}]")
    return doc


def check_save_manifest(doc: Any, what: str) -> list[dict[str, Any]]:
    """A `docker save` manifest.json: a non-empty list of objects with a string `Config`,
    a list of strings `Layers` and optional `RepoTags`."""
    if not isinstance(doc, list) or not doc:
        raise InputError(f"{what} lists no image")
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise _bad(what, f"entry {i}", "an object")
        if not isinstance(entry.get("Config"), str):
            raise _bad(what, f"entry {i}: Config", "a string")
        for key in ("Layers", "RepoTags"):
            if entry.get(key) is not None and not _strings(entry[key]):
                raise _bad(what, f"entry {i}: {key}", "a list of strings")
    return doc


def check_config(doc: Any, what: str) -> dict[str, Any]:
    """An image config: the fields dockwarden reads have the types the OCI image spec
    gives them (absent or null is fine: an image may leave them out)."""
    if not isinstance(doc, dict):
        raise _bad(what, "the document", "a JSON object")
    for key in ("os", "architecture", "created"):
        _opt(doc, key, str, what, "a string")
    for key in ("config", "Config"):
        inner = _opt(doc, key, dict, what, "an object")
        if inner is None:
            continue
        pre = key + "."
        _opt(inner, "User", str, what, "a string", pre)
        for name in ("Env", "Cmd", "Entrypoint"):
            if inner.get(name) is not None and not _strings(inner[name]):
                raise _bad(what, pre + name, "a list of strings")
        labels = _opt(inner, "Labels", dict, what, "an object", pre)
        if labels is not None and not all(isinstance(v, str) for v in labels.values()):
            raise _bad(what, pre + "Labels", "an object of strings")
        _opt(inner, "ExposedPorts", dict, what, "an object", pre)
        health = _opt(inner, "Healthcheck", dict, what, "an object", pre)
        if health is not None and health.get("Test") is not None and not _strings(
                health["Test"]):
            raise _bad(what, pre + "Healthcheck.Test", "a list of strings")
    rootfs = _opt(doc, "rootfs", dict, what, "an object")
    if rootfs is not None and rootfs.get("diff_ids") is not None and not _strings(
            rootfs["diff_ids"]):
        raise _bad(what, "rootfs.diff_ids", "a list of strings")
    history = _opt(doc, "history", list, what, "a list")
    for i, step in enumerate(history or []):
        if not isinstance(step, dict):
            raise _bad(what, f"history[{i}]", "an object")
        for key in ("created_by", "created", "comment"):
            _opt(step, key, str, what, "a string", f"history[{i}].")
    return doc


class Blob(NamedTuple):
    name: str
    size: int | None
    stream: IO[bytes] | FileWindow  # readable until the next blob is requested


class ImageSource(Protocol):
    ref: str
    kind: str  # engine, tar, oci, registry

    def blobs(self) -> Iterator[Blob]:
        ...


class _MemberReader(io.RawIOBase):
    """The data of the current member of a TarStream, as a file object. `read` and
    `peek` hand out slices of the stream's own buffer: a layer read through it (a tar
    inside a tar) is copied once on its way, not once per buffering layer."""

    bounded = True  # its size is the member's (the walker need not count it)

    def __init__(self, stream: TarStream) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self.stream.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        return self.stream.read(n)

    def peek(self, n: int = 1) -> bytes:
        return self.stream.peek(max(n, 1))

    def readinto(self, b: Any) -> int:
        data = self.stream.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def iter_tar_blobs(fileobj: IO[bytes], origin: str) -> Iterator[Blob]:
    """Members of an (optionally gzip-compressed) tar stream, read sequentially.

    A plain tar file on disk is read through `FileWindow`s instead: each member's blob
    is a window of its own on the file, and what nobody reads is seeked over."""
    fd = _plain_file(fileobj)
    if fd is not None:
        yield from _iter_file_blobs(fd, origin)
        return
    buffered: Any = fileobj if hasattr(fileobj, "peek") else io.BufferedReader(
        fileobj, 1 << 20)
    try:
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            import gzip  # loaded only for a compressed archive
            buffered = io.BufferedReader(gzip.GzipFile(fileobj=buffered), 1 << 20)
        stream = TarStream(buffered)
        for member in stream:
            if member.kind != "file":
                continue
            name = member.name[2:] if member.name.startswith("./") else member.name
            yield Blob(name, member.size, cast(IO[bytes], _MemberReader(stream)))
    except (TarFormatError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(f"{clean(origin)}: not a readable image archive: "
                         f"{why_unreadable(exc)}") from None


def why_unreadable(exc: BaseException) -> str:
    """The reason an archive or a layer could not be read, short and clean (the tar
    reader's own messages never quote the archive's bytes; a decoder's is cut short)."""
    if isinstance(exc, TarFormatError):
        return exc.message
    return excerpt(f"{exc}" or type(exc).__name__, 120)


def _plain_file(fileobj: IO[bytes]) -> int | None:
    """The descriptor of a regular file that is not gzip-compressed, else None."""
    try:
        fd = fileobj.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or fileobj.tell() != 0:
            return None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return None if os.pread(fd, 2, 0) == b"\x1f\x8b" else fd


def _iter_file_blobs(fd: int, origin: str) -> Iterator[Blob]:
    try:
        stream = TarStream(FileWindow(fd, 0, os.fstat(fd).st_size))
        for member in stream:
            if member.kind != "file":
                continue
            offset = stream.data_offset()
            assert offset is not None
            name = member.name[2:] if member.name.startswith("./") else member.name
            yield Blob(name, member.size, FileWindow(fd, offset, member.size))
    except (TarFormatError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(f"{clean(origin)}: not a readable image archive: "
                         f"{why_unreadable(exc)}") from None


class TarSource:
    """A `docker save` tarball or an OCI image-layout tarball (gzip'd or not)."""

    def __init__(self, path: str, ref: str = "", kind: str = "tar") -> None:
        self.path, self.ref, self.kind = path, ref, kind

    def blobs(self) -> Iterator[Blob]:
        # a regular file only (a FIFO or a device is an InputError), of any size
        fh = open_input(self.path, what="image archive", max_bytes=None)
        with fh:
            yield from iter_tar_blobs(fh, self.path)


class EngineSource:
    """An image of a local Engine, streamed from its export (`GET /images/{name}/get`)
    and never written to disk."""

    kind = "engine"

    def __init__(self, api: Any, ref: str) -> None:
        self.api = api  # docker.APIClient
        self.ref = ref

    def blobs(self) -> Iterator[Blob]:
        resp = self.api._get(self.api._url("/images/{0}/get", self.ref), stream=True)
        self.api._raise_for_status(resp)
        raw = resp.raw
        raw.decode_content = True
        try:
            yield from iter_tar_blobs(raw, f"Engine export of {self.ref}")
        finally:
            resp.close()


class OCILayoutSource:
    """An OCI image layout directory: random access, so only the chosen platform's
    manifest, config and layers are read, in order."""

    kind = "oci"

    def __init__(self, path: str, ref: str = "", platform: str | None = None) -> None:
        self.path, self.ref, self.platform = path, ref, platform

    def _open(self, rel: str, max_bytes: int | None) -> IO[bytes]:
        """A file of the layout: regular, inside it (no symlink out), at most
        `max_bytes` (None: a layer blob, of any size)."""
        return open_input(os.path.join(self.path, rel), what="OCI layout file",
                          max_bytes=max_bytes, root=self.path)

    def _read_json(self, rel: str) -> Any:
        with self._open(rel, MAX_JSON) as fh:
            data = fh.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise InputError(f"{clean(self.path)}: {rel} is larger than {MAX_JSON >> 20} MiB")
        return load_json(data, f"{clean(self.path)}: {rel}")

    def _blob_path(self, digest: Any) -> str:
        algo, _, hexd = str(digest).partition(":")
        if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
            raise InputError(f"{clean(self.path)}: unsupported or malformed digest "
                             f"{excerpt(digest, 80)!r}")
        return f"blobs/sha256/{hexd}"

    def blobs(self) -> Iterator[Blob]:
        index = check_index(self._read_json("index.json"), f"{clean(self.path)}: index.json")
        manifest = choose_manifest(index, lambda d: self._read_json(self._blob_path(d)),
                                   self.platform, self.ref, clean(self.path))
        yield Blob("oci:manifest", None, io.BytesIO(json.dumps(manifest).encode()))
        digests = [manifest["config"]["digest"]] + [
            layer["digest"] for layer in manifest.get("layers") or []]
        for digest in digests:
            rel = self._blob_path(digest)
            fh = self._open(rel, None)
            with fh:  # read with pread: the walker may read it later, or elsewhere
                size = os.fstat(fh.fileno()).st_size
                yield Blob(rel, size, FileWindow(fh.fileno(), 0, size))


INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def _platform_of(desc: dict[str, Any]) -> str:
    p = desc.get("platform") or {}
    text = f"{p.get('os') or ''}/{p.get('architecture') or ''}"
    return clean(text + (f"/{p['variant']}" if p.get("variant") else ""))


def choose_manifest(index: Any, fetch: Any, platform: str | None, ref: str,
                    origin: str, depth: int = 0) -> dict[str, Any]:
    """Follow an index (or manifest list) down to one image manifest. Each document is
    shape-checked (`check_index`, `check_manifest`) before anything is read from it."""
    if depth > 4:
        raise InputError(f"{origin}: index nesting too deep")
    if not isinstance(index, dict):
        raise InputError(f"{origin}: manifest or index is not a JSON object")
    if "layers" in index and "config" in index:
        return check_manifest(index, f"{origin}: image manifest")
    check_index(index, f"{origin}: index")
    manifests = list(index.get("manifests") or [])
    if not manifests:
        raise InputError(f"{origin}: the index lists no manifests")
    if ref and depth == 0:
        named = [m for m in manifests
                 if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
                 in (ref, ref.rsplit(":", 1)[-1])
                 or (m.get("annotations") or {}).get("io.containerd.image.name") == ref]
        manifests = named or manifests
    candidates = [m for m in manifests
                  if (m.get("platform") or {}).get("architecture") != "unknown"]
    if platform:
        want = platform.strip("/")
        chosen = [m for m in candidates
                  if _platform_of(m) == want or _platform_of(m).startswith(want + "/")]
        if not chosen:
            offered = ", ".join(sorted({_platform_of(m) for m in candidates})) or "none"
            raise InputError(f"{origin}: no manifest for platform {platform} (offers {offered})")
    else:
        hosts = [m for m in candidates if _platform_of(m) in ("linux/amd64", "/")]
        chosen = hosts or candidates or manifests
    desc = chosen[0]
    return choose_manifest(fetch(desc.get("digest")), fetch, platform, ref, origin, depth + 1)
