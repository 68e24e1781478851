"""Where image bytes come from. Every source yields *blobs*; the walker works out from
their names and contents which is the manifest, the config and each layer, so that a
docker-save stream whose manifest.json comes last is read in one pass all the same.

Blob names:
- `manifest.json`, `index.json`, `oci-layout`, `repositories`, `<id>.json`, `<id>/layer.tar`,
  `blobs/sha256/<hex>`: members of a `docker save` or OCI image-layout archive, as is;
- `oci:manifest`: an already chosen image manifest (OCI or Docker schema 2) as JSON, sent
  first by sources with random access (OCI layout directory, registry), followed by
  `blobs/sha256/<hex>` for the config and each layer in order.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from typing import IO, Any, NamedTuple, Protocol, cast

from dockwarden.collect.image.tarstream import FileWindow, TarFormatError, TarStream
from dockwarden.errors import InputError

MAX_JSON = 16 << 20  # manifests and configs are small; larger JSON is refused


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
    except (TarFormatError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{origin}: not a readable image archive: {exc}") from None


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
    except (TarFormatError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{origin}: not a readable image archive: {exc}") from None


class TarSource:
    """A `docker save` tarball or an OCI image-layout tarball (gzip'd or not)."""

    def __init__(self, path: str, ref: str = "", kind: str = "tar") -> None:
        self.path, self.ref, self.kind = path, ref, kind

    def blobs(self) -> Iterator[Blob]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below, generator scope
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror}") from None
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

    def _read_json(self, rel: str) -> Any:
        full = os.path.join(self.path, rel)
        try:
            with open(full, "rb") as fh:
                data = fh.read(MAX_JSON + 1)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read {rel}: {exc.strerror}") from None
        if len(data) > MAX_JSON:
            raise InputError(f"{self.path}: {rel} is larger than {MAX_JSON >> 20} MiB")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InputError(f"{self.path}: {rel} is not JSON: {exc}") from None

    def _blob_path(self, digest: str) -> str:
        algo, _, hexd = str(digest).partition(":")
        if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
            raise InputError(f"{self.path}: unsupported or malformed digest {digest!r}")
        return f"blobs/sha256/{hexd}"

    def blobs(self) -> Iterator[Blob]:
        index = self._read_json("index.json")
        manifest = choose_manifest(index, lambda d: self._read_json(self._blob_path(d)),
                                   self.platform, self.ref, self.path)
        yield Blob("oci:manifest", None, io.BytesIO(json.dumps(manifest).encode()))
        digests = [manifest.get("config", {}).get("digest")] + [
            layer.get("digest") for layer in manifest.get("layers") or []]
        for digest in digests:
            rel = self._blob_path(str(digest))
            try:
                fh = open(os.path.join(self.path, rel), "rb")  # noqa: SIM115
            except OSError as exc:
                raise InputError(f"{self.path}: missing blob {digest}: {exc.strerror}") from None
            with fh:  # read with pread: the walker may read it later, or elsewhere
                size = os.fstat(fh.fileno()).st_size
                yield Blob(rel, size, FileWindow(fh.fileno(), 0, size))


INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def _platform_of(desc: dict[str, Any]) -> str:
    p = desc.get("platform") or {}
    text = f"{p.get('os', '')}/{p.get('architecture', '')}"
    return text + (f"/{p['variant']}" if p.get("variant") else "")


def choose_manifest(index: Any, fetch: Any, platform: str | None, ref: str,
                    origin: str, depth: int = 0) -> dict[str, Any]:
    """Follow an index (or manifest list) down to one image manifest."""
    if depth > 4:
        raise InputError(f"{origin}: index nesting too deep")
    if not isinstance(index, dict):
        raise InputError(f"{origin}: manifest or index is not a JSON object")
    if "layers" in index and "config" in index:
        return index
    manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
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
