"""Fuzzing the Engine answers: the shape checks and the model building of inspect, exec,
top, /info and /version, and the bounded JSON decoding. Every input ends in a result or
a DockwardenError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.engine import (
    INFO_SHAPE,
    NETWORK_SHAPE,
    VERSION_SHAPE,
    bridge_facts,
    checked,
    info_from,
)
from dockwarden.collect.inspect import (
    INSPECT_SHAPE,
    check_exec,
    check_inspect,
    processes_from_top,
    spec_from_inspect,
)
from dockwarden.collect.unixhttp import decode
from dockwarden.errors import DockwardenError

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=20,
)


def shaped(shape: Any) -> st.SearchStrategy[Any]:
    """Values that mostly follow `shape` (the right keys), with anything in the leaves."""
    if isinstance(shape, dict):
        return st.fixed_dictionaries({}, optional={k: shaped(v) | json_values
                                                   for k, v in shape.items()})
    if isinstance(shape, list):
        return st.lists(shaped(shape[0]) | json_values, max_size=3)
    return json_values


def ends_well(fn: Any, *args: Any) -> None:
    with contextlib.suppress(DockwardenError):
        fn(*args)


def _inspect(value: Any) -> None:
    spec = spec_from_inspect(check_inspect(value))
    assert isinstance(spec.name, str)


@given(shaped(INSPECT_SHAPE) | json_values)
@example({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "²"}]}}})
@example({"ExecIDs": 5})
@example({"ExecIDs": ["../../info"]})
@example({"Name": "/bad\ud800name\x1b]0;x\x07"})
def test_inspect(value: Any) -> None:
    ends_well(_inspect, value)


@given(shaped({"ID": str, "ProcessConfig": {"arguments": [str]}}) | json_values)
def test_exec(value: Any) -> None:
    ends_well(check_exec, value)


@given(shaped({"Titles": [str], "Processes": [[str]]}) | json_values)
@example({"Processes": [5]})
@example({"Titles": [], "Processes": [["a"]]})
def test_top(value: Any) -> None:
    ends_well(processes_from_top, value)


@given(shaped(INFO_SHAPE) | json_values, shaped(VERSION_SHAPE) | json_values)
@example({"DriverStatus": 5}, {})
@example({"DriverStatus": [[1, 2]]}, {})
def test_info_and_version(info: Any, version: Any) -> None:
    ends_well(info_from, info, version)


@given(shaped(NETWORK_SHAPE) | json_values)
def test_bridge(value: Any) -> None:
    ends_well(lambda v: bridge_facts(checked(v, NETWORK_SHAPE, "bridge")), value)


@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'"\\ud800"')
@example(b"\xed\xa0\x80")
@example(b'{"a": "\\udc80\\u001b"}')
def test_decode(body: bytes) -> None:
    try:
        value = decode(body, "fuzz")
    except DockwardenError:
        return
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # no lone surrogate survives
