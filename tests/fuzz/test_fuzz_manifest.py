"""Fuzzing the documents of a docker-save archive and an OCI image layout (manifest.json,
index.json, image manifests, image configs): JSON of every shape, with the right keys
holding values of the wrong types, must end in a snapshot or a DockwardenError."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import tempfile
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dockwarden.collect.image.source import (
    OCILayoutSource,
    TarSource,
    check_config,
    choose_manifest,
    load_json,
)
from dockwarden.collect.image.walker import _config_facts, _history, walk
from dockwarden.errors import DockwardenError
from fuzz.conftest import corpus
from harness.imagebuild import layer_tar

# the walks write an archive or a layout per example: half the profile's budget keeps
# this module's CI run near 10 s (the long profile still runs thousands)
HALF = settings(max_examples=max(20, settings.default.max_examples // 2))
LAYER = layer_tar([])
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def shaped(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """An object with some of `keys`, each holding its plausible value or anything."""
    return st.one_of(
        anything,
        st.fixed_dictionaries({}, optional={k: st.one_of(v, anything) for k, v in keys.items()}),
    )


strings = st.lists(st.text(max_size=10), max_size=3)
platform = shaped({"os": st.sampled_from(["linux", "windows"]),
                   "architecture": st.sampled_from(["amd64", "arm64", "unknown"]),
                   "variant": st.just("v8")})
descriptor = shaped({"digest": st.sampled_from([LAYER_DIGEST, "sha256:zz", "x"]),
                     "size": st.integers(-5, 10**6), "platform": platform,
                     "mediaType": st.text(max_size=10),
                     "annotations": st.dictionaries(st.text(max_size=5), anything, max_size=2)})
index = shaped({"schemaVersion": st.just(2), "manifests": st.lists(descriptor, max_size=3)})
manifest = shaped({"config": descriptor, "layers": st.lists(descriptor, max_size=3),
                   "schemaVersion": st.just(2)})
inner_config = shaped({"Env": strings, "Cmd": strings, "Entrypoint": strings,
                       "User": st.text(max_size=5), "Labels": st.dictionaries(
                           st.text(max_size=5), st.text(max_size=5), max_size=2),
                       "ExposedPorts": st.dictionaries(st.text(max_size=5), st.just({})),
                       "Healthcheck": shaped({"Test": strings})})
config = shaped({"config": inner_config, "Config": inner_config,
                 "rootfs": shaped({"diff_ids": strings, "type": st.just("layers")}),
                 "history": st.lists(shaped({"created_by": st.text(max_size=5),
                                             "empty_layer": st.booleans()}), max_size=3),
                 "os": st.text(max_size=5), "architecture": st.text(max_size=5)})
save_manifest = st.one_of(anything, st.lists(shaped({
    "Config": st.sampled_from(["c.json", "missing.json"]),
    "Layers": st.sampled_from([["l/layer.tar"], [], ["nope"]]),
    "RepoTags": strings}), max_size=2))


def _ends_well(fn: Any, *args: Any) -> None:
    with contextlib.suppress(DockwardenError):
        fn(*args)


def _save(tmp: str, man: Any, cfg: Any) -> str:
    path = os.path.join(tmp, "img.tar")
    with tarfile.open(path, "w") as tf:
        for name, data in (("l/layer.tar", LAYER), ("c.json", json.dumps(cfg).encode()),
                           ("manifest.json", json.dumps(man).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


@HALF
@given(save_manifest, config)
@example([{"Config": "c.json", "Layers": ["l/layer.tar"]}], {"rootfs": 5})
@example([{"Config": "c.json", "Layers": ["l/layer.tar"]}], {"config": {"Env": 5}})
@example(["x"], {})
@example([{"config": "x"}], {})
def test_docker_save_documents(man: Any, cfg: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _ends_well(walk, TarSource(_save(tmp, man, cfg)))


def _blob(root: str, doc: Any) -> str:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as fh:
        fh.write(data)
    return "sha256:" + digest


@HALF
@given(index, manifest, config, st.booleans())
@example({"manifests": [{"digest": "M", "platform": "linux"}]}, {}, {}, True)
@example({"manifests": [{"digest": "M"}]}, {"config": "x", "layers": []}, {}, True)
def test_oci_layout_documents(idx: Any, man: Any, cfg: Any, wire: bool) -> None:
    """`wire`: the index points at the drawn manifest and the manifest at the drawn
    config and a real layer, so that the walk gets past the first lookups."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "blobs", "sha256"))
        _blob(root, LAYER)
        cfg_digest = _blob(root, cfg)
        if wire and isinstance(man, dict):
            man = {**man, "config": {"digest": cfg_digest, "size": 1},
                   "layers": [{"digest": LAYER_DIGEST}]}
        man_digest = _blob(root, man)
        if wire and isinstance(idx, dict) and isinstance(idx.get("manifests"), list):
            idx = {**idx, "manifests": [
                {**m, "digest": man_digest} if isinstance(m, dict) else m
                for m in idx["manifests"]]}
        with open(os.path.join(root, "index.json"), "w") as fh:
            json.dump(idx, fh)
        _ends_well(walk, OCILayoutSource(root, platform=None))
        _ends_well(walk, OCILayoutSource(root, platform="linux/arm64"))


@HALF
@given(index, st.lists(st.one_of(index, manifest), max_size=4),
       st.sampled_from([None, "linux/amd64", "linux", "/"]), st.text(max_size=6))
def test_choose_manifest(idx: Any, chain: list[Any], plat: str | None, ref: str) -> None:
    docs = iter(chain)

    def fetch(_digest: Any) -> Any:
        return next(docs, {})

    _ends_well(choose_manifest, idx, fetch, plat, ref, "fuzz")


@given(config)
def test_config_facts(cfg: Any) -> None:
    """What passes the config's shape check is read without error."""
    try:
        checked = check_config(cfg, "fuzz")
    except DockwardenError:
        return
    _config_facts(checked)
    _history(checked, 2)


@given(st.binary(max_size=200))
@example(b"[" * 100_000)
@example(b'{"a":' * 50_000)
@example(b"1" * 5000)
@example(b"\xff\xfe")
def test_load_json_bytes(data: bytes) -> None:
    _ends_well(load_json, data, "fuzz")


def test_corpus() -> None:
    for data in corpus("manifest"):
        _ends_well(load_json, data, "fuzz")
        with tempfile.TemporaryDirectory() as tmp:
            for as_name in ("manifest.json", "index.json"):
                path = os.path.join(tmp, "img.tar")
                with tarfile.open(path, "w") as tf:
                    for name, blob in (("l/layer.tar", LAYER), (as_name, data)):
                        ti = tarfile.TarInfo(name)
                        ti.size = len(blob)
                        tf.addfile(ti, io.BytesIO(blob))
                _ends_well(walk, TarSource(path))
