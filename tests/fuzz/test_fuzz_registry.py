"""Fuzzing the registry client's parsers of untrusted input: image references (user
input), WWW-Authenticate challenges (server input) and the shape check every registry
JSON document goes through (manifests, indexes, configs, token answers). Each input ends
in a result or a DockwardenError; a document that passes the shape check is then safe for
the code that reads it (descriptor list, platform choice, config facts)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.image import walker
from dockwarden.collect.image.registry import (
    CONFIG_SHAPE,
    MANIFEST_SHAPE,
    TOKEN_SHAPE,
    Reference,
    RegistryError,
    RegistrySource,
    _json_document,
    check_shape,
    parse_challenge,
    parse_reference,
)
from dockwarden.collect.image.source import choose_manifest
from dockwarden.errors import DockwardenError

# --- references ----------------------------------------------------------------------------

REF_ALPHABET = st.sampled_from("abcxyzABC019._-/:@ \t\u00e9\u202e\x1b\x00[]")


@given(st.one_of(st.text(max_size=300), st.text(REF_ALPHABET, max_size=80)))
@example("UPPER/case")
@example("x@sha256:zz")
@example("localhost:5000/a/b:c@sha256:" + "a" * 64)
@example("[::1]:5000/x")
@example("a" * 5000)
@example("x:" + "\u00e9" * 3)
def test_parse_reference(text: str) -> None:
    try:
        ref = parse_reference(text)
    except DockwardenError as exc:
        assert "\n" not in exc.message
        return
    assert isinstance(ref, Reference)
    assert ref.repository == ref.repository.lower()
    assert parse_reference(str(ref)) == ref  # what it prints, it reads back


# --- challenges ----------------------------------------------------------------------------

CHALLENGE_PARTS = st.sampled_from([
    "Bearer ", "Basic ", "realm=", "service=", "scope=", '"', "\\", ",", " ", "=",
    "http://127.0.0.1/t", "https://[::1", "\u00e9", "\x00", "a" * 50,
])


@given(st.one_of(st.text(max_size=400),
                 st.lists(CHALLENGE_PARTS, max_size=40).map("".join)))
@example('Bearer realm="' + "\\" * 1000)
@example("Bearer " + "a" * 20_000)
@example("Bearer " + "a=" * 5_000)
def test_parse_challenge(header: str) -> None:
    scheme, params = parse_challenge(header)  # never raises, whatever the header
    assert isinstance(scheme, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


# --- document shapes -------------------------------------------------------------------------

KEYS = st.sampled_from([
    "schemaVersion", "mediaType", "config", "layers", "manifests", "digest", "size",
    "platform", "architecture", "os", "variant", "annotations", "urls", "rootfs",
    "diff_ids", "history", "created_by", "empty_layer", "Env", "Cmd", "Entrypoint",
    "User", "Labels", "ExposedPorts", "Healthcheck", "Test", "token", "access_token",
    "expires_in", "Config", "os.features", "subject",
]) | st.text(max_size=8)

SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False) | st.text(max_size=20)
           | st.sampled_from(["sha256:" + "ab" * 32, "linux", "amd64", "x=y"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS, inner, max_size=5), max_leaves=16)


def _manifestish() -> st.SearchStrategy[dict[str, Any]]:
    desc = st.fixed_dictionaries({}, optional={
        "digest": st.sampled_from(["sha256:" + "ab" * 32, "sha256:zz", 5, None]),
        "size": st.sampled_from([0, 10, -1, "10", None, True]),
        "mediaType": JSON, "platform": JSON, "annotations": JSON})
    return st.fixed_dictionaries({"schemaVersion": st.sampled_from([2, 1, "2", None])},
                                 optional={"config": desc | JSON,
                                           "layers": st.lists(desc | JSON, max_size=3) | JSON,
                                           "manifests": st.lists(desc | JSON, max_size=3)
                                           | JSON,
                                           "mediaType": JSON})


def _configish() -> st.SearchStrategy[dict[str, Any]]:
    inner = st.fixed_dictionaries({}, optional={
        k: JSON for k in ("Env", "Cmd", "Entrypoint", "User", "Labels", "ExposedPorts",
                          "Healthcheck")})
    return st.fixed_dictionaries({}, optional={
        "config": inner | JSON, "rootfs": JSON | st.fixed_dictionaries(
            {"diff_ids": JSON}), "history": st.lists(JSON, max_size=3) | JSON,
        "os": JSON, "architecture": JSON, "created": JSON})


def _shaped(doc: Any, shape: Any) -> bool:
    try:
        _json_document(json.dumps(doc).encode(), "doc", shape)
    except RegistryError:
        return False
    return True


@given(st.one_of(_manifestish(), JSON))
@example({"schemaVersion": 2, "manifests": [{"platform": "linux"}]})
@example({"schemaVersion": 2, "layers": "x", "config": {}})
def test_manifest_shape_protects_its_readers(doc: Any) -> None:
    if not _shaped(doc, MANIFEST_SHAPE):
        return
    source = RegistrySource("127.0.0.1:1/x:1")
    with contextlib.suppress(DockwardenError):
        source._descriptors(doc)

    def fetch(digest: Any) -> Any:
        if not _shaped(doc, MANIFEST_SHAPE):
            raise RegistryError("not shaped")
        return {"schemaVersion": 2, "config": {}, "layers": []}

    for platform in (None, "linux/amd64"):
        with contextlib.suppress(DockwardenError):
            choose_manifest(doc, fetch, platform, "", "fuzz")


@given(st.one_of(_configish(), JSON))
@example({"rootfs": 5})
@example({"config": {"Env": 5}})
@example({"config": {"Healthcheck": {"Test": "CMD"}}})
def test_config_shape_protects_its_readers(doc: Any) -> None:
    if not _shaped(doc, CONFIG_SHAPE):
        return
    walker._config_facts(doc)
    walker._history(doc, 3)
    rootfs = doc.get("rootfs") or {}
    [str(d) for d in rootfs.get("diff_ids") or []]


@given(st.one_of(JSON, st.fixed_dictionaries({}, optional={"token": JSON,
                                                           "access_token": JSON})))
def test_token_shape(doc: Any) -> None:
    if _shaped(doc, TOKEN_SHAPE):
        token = doc.get("token") or doc.get("access_token")
        assert token is None or isinstance(token, str)


@given(st.binary(max_size=300) | JSON.map(lambda d: json.dumps(d).encode()))
@example(b"[" * 100_000)
@example(b'{"a":' * 50_000)
@example(b'{"token": "\\udc80"}')
@example(b"\xff\xfe{\x00}\x00")
def test_json_document_on_any_bytes(body: bytes) -> None:
    for shape in (MANIFEST_SHAPE, CONFIG_SHAPE, TOKEN_SHAPE):
        try:
            doc = _json_document(body, "doc", shape)
        except DockwardenError as exc:
            assert "\n" not in exc.message
            continue
        assert isinstance(doc, dict)


@given(JSON)
def test_check_shape_any_value(doc: Any) -> None:
    for shape in (MANIFEST_SHAPE, CONFIG_SHAPE, TOKEN_SHAPE):
        with contextlib.suppress(DockwardenError):
            check_shape(doc, shape, "doc")
