"""Build image archives by hand for tests: layers from entry lists, written as a
`docker save` tarball (legacy layout, manifest.json last, as the Engine writes it) or as
an OCI image layout (directory or tarball). Entries may be hostile on purpose."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Entry:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink, char, block, fifo
    mode: int = 0o644
    linkname: str = ""
    uid: int = 0
    gid: int = 0


def f(name: str, data: bytes | str = b"", mode: int = 0o644) -> Entry:
    return Entry(name, data.encode() if isinstance(data, str) else data, "file", mode)


def d(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, kind="dir", mode=mode)


def sym(name: str, target: str) -> Entry:
    return Entry(name, kind="symlink", mode=0o777, linkname=target)


def layer_tar(entries: Iterable[Entry]) -> bytes:
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = types[e.kind]
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, 1700000000
            ti.linkname = e.linkname
            if e.kind in ("char", "block"):
                ti.devmajor, ti.devminor = 8, 0
            if e.kind == "file":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


@dataclass
class Image:
    layers: list[bytes]  # uncompressed layer tars
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] | None = None
    tag: str = "dwtest/built:1"

    def config_bytes(self) -> bytes:
        cfg = {
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], **self.config},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest()
                                    for x in self.layers]},
            "history": self.history or [{"created_by": f"step {i}"}
                                        for i in range(len(self.layers))],
        }
        return json.dumps(cfg, sort_keys=True).encode()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
    tf.addfile(ti, io.BytesIO(data))


def docker_save(image: Image, path: str, *, gzip_outer: bool = False) -> str:
    """Legacy `docker save` layout: <id>/layer.tar ..., <config>.json, manifest.json last."""
    cfg = image.config_bytes()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    names = []
    raw = open(path, "wb")  # noqa: SIM115
    out: Any = gzip.GzipFile(fileobj=raw, mode="wb") if gzip_outer else raw
    with tarfile.open(fileobj=out, mode="w") as tf:
        for i, layer in enumerate(image.layers):
            name = f"{hashlib.sha256(layer + bytes([i])).hexdigest()}/layer.tar"
            names.append(name)
            _add(tf, name, layer)
        _add(tf, cfg_name, cfg)
        _add(tf, "manifest.json", json.dumps(
            [{"Config": cfg_name, "RepoTags": [image.tag], "Layers": names}]).encode())
    if gzip_outer:
        out.close()
    raw.close()
    return path


def _blob(root: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as fh:
        fh.write(data)
    return "sha256:" + digest


def oci_layout(image: Image, root: str, *, compress: str = "gzip",
               extra_platforms: Iterable[str] = ()) -> str:
    """An OCI image layout directory; layers gzip- (or zstd-) compressed."""
    os.makedirs(root, exist_ok=True)
    layers = []
    for layer in image.layers:
        if compress == "gzip":
            data, mt = gzip.compress(layer, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
        elif compress == "zstd":
            import zstandard
            data = zstandard.ZstdCompressor().compress(layer)
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            data, mt = layer, "application/vnd.oci.image.layer.v1.tar"
        layers.append({"mediaType": mt, "digest": _blob(root, data), "size": len(data)})
    cfg = image.config_bytes()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _blob(root, cfg), "size": len(cfg)},
                "layers": layers}
    mbytes = json.dumps(manifest).encode()
    manifests = [{"mediaType": manifest["mediaType"], "digest": _blob(root, mbytes),
                  "size": len(mbytes), "platform": {"os": "linux", "architecture": "amd64"},
                  "annotations": {"org.opencontainers.image.ref.name": image.tag}}]
    for plat in extra_platforms:  # another platform's manifest: same content, other label
        os_, arch = plat.split("/")[:2]
        manifests.append({**manifests[0], "platform": {"os": os_, "architecture": arch}})
    with open(os.path.join(root, "index.json"), "w") as fh:
        json.dump({"schemaVersion": 2, "manifests": manifests}, fh)
    with open(os.path.join(root, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    return root


def tar_directory(root: str, path: str) -> str:
    with tarfile.open(path, "w") as tf:
        for name in sorted(os.listdir(root)):
            tf.add(os.path.join(root, name), arcname=name)
    return path
