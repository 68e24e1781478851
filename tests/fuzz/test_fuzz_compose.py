"""Fuzzing the compose loader: YAML-ish text, structured documents with values of the
wrong type, and interpolation; each ends in specs or a DockwardenError."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.compose import _Interp, load_project
from dockwarden.errors import DockwardenError
from fuzz.conftest import corpus

KEYS = ["image", "ports", "volumes", "environment", "cpus", "mem_limit", "deploy",
        "resources", "limits", "extends", "service", "file", "env_file", "profiles",
        "networks", "network_mode", "logging", "options", "healthcheck", "test",
        "ulimits", "restart", "pids_limit", "privileged", "user", "cap_add", "tmpfs",
        "devices", "labels", "sysctls", "storage_opt", "target", "published", "host_ip",
        "protocol", "source", "type", "bind", "propagation", "driver_opts", "external"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.sampled_from(["1-65535:1-65535", "1e400", "${A:-x}", "$$", "${",
                                     "80:80", "/:/host", "[/]", "web", "*"]),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25)
documents = st.fixed_dictionaries({"services": st.one_of(
    values, st.dictionaries(st.sampled_from(["web", "db"]),
                            st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values,
                                                              max_size=8)),
                            max_size=2))}, optional={"volumes": values, "x-a": values})


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "compose.yaml")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
        with contextlib.suppress(DockwardenError):
            load_project([path], env={"A": "1"}, root=tmp)


@given(documents)
@example({"services": {"web": {"cpus": float("inf")}}})
@example({"services": {"web": {"ports": [{"target": [1]}], "extends": 5}}})
def test_structured(doc: dict[str, Any]) -> None:
    _load(yaml.safe_dump(doc))


YAMLISH = ["services:", "\n", "  ", "web:", "- ", "[", "]", "{", "}", ":", "&a", "*a",
           "<<: *a", "!reset", "!override", "'", "\"", "#", "${A:-", "}", "1e400", "0x1",
           "ports", "extends", "file: compose.yaml", "service: web", "\t", "?"]


@given(st.one_of(st.text(max_size=300),
                 st.lists(st.sampled_from(YAMLISH), max_size=60).map("".join)))
@example("services:\n  web:\n    extends: {file: compose.yaml, service: web}\n")
@example("a: \x01\n")  # found: PyYAML's reader refused it outside the error handling
def test_yamlish_text(text: str) -> None:
    _load(text)


@given(st.lists(st.sampled_from(["${A", "${B:-", ":-", ":?", ":+", "}", "$", "$$", "x",
                                 "{", "-", "?"]), max_size=80).map("".join))
@example("${A:-" * 3000)
@example("${A:-" * 3000 + "}" * 3000)
def test_interpolation(text: str) -> None:
    with contextlib.suppress(DockwardenError):
        _Interp({"A": "", "B": "b"}, "compose.yaml").text(text)


def test_corpus() -> None:
    for case in corpus("compose"):
        _load(case.decode("utf-8", "replace"))
