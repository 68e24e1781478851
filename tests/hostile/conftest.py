"""Shared pieces of the hostile-input tests: the corpus of hostile strings and a runner
that executes dockwarden in a child process under a time and memory bound and checks
that it never ends in a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import pytest

# Strings an attacker puts wherever dockwarden reads text: Rich markup, terminal escapes
# (title, clear screen, CSI via C1), bidi overrides, lone surrogates, NUL, HTML/XML.
HOSTILE = (
    "[/]",
    "GITHUB_TOKEN[/]",
    "[bold red]spoofed[/]",
    "[link=https://evil.example]x[/link]",
    "\x1b]0;pwned\x1b\\",
    "\x1b[2J\x1b[H",
    "\x9b31m",
    "a\x07b\x08c\x7f",
    "\u202eevil\u202c",
    "bad\udc80surrogate",
    "nul\x00byte",
    "<script>alert(1)</script>&amp;\"'",
    "]]></x><y>",
    "line1\nline2\r",
)

# What must never reach a terminal: ESC and C1 CSI, raw.
RAW_CONTROLS = ("\x1b", "\x9b", "\x07", "\x08", "\x00", "\u202e")


class Run(NamedTuple):
    code: int
    out: str
    err: str


def run_dockwarden(args: Sequence[str], *, timeout: float = 60, memory_mib: int = 2048,
                   cwd: str | None = None, env: dict[str, str] | None = None,
                   stdin: bytes | None = None) -> Run:
    """`python -m dockwarden ARGS` in a child limited to `memory_mib` of address space,
    killed after `timeout` seconds (a test failure: it hung). Asserts no traceback."""

    def limit() -> None:
        limit_bytes = memory_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    try:
        proc = subprocess.run([sys.executable, "-m", "dockwarden", *args], cwd=cwd,
                              env=full_env, input=stdin, capture_output=True,
                              timeout=timeout, preexec_fn=limit, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dockwarden {' '.join(args)!r} did not end within {timeout} s")
    out = proc.stdout.decode("utf-8", "backslashreplace")
    err = proc.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err[-3000:]
    assert "internal error" not in err, err[-3000:]
    return Run(proc.returncode, out, err)


def assert_no_raw_controls(text: str) -> None:
    for ch in RAW_CONTROLS:
        assert ch not in text, f"raw {ch!r} in output: {text[:500]!r}"


def strings(data: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from strings(v)
