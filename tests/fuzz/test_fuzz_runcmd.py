"""Fuzzing `docker run` lines: any string or argv ends in a spec or a DockwardenError."""

from __future__ import annotations

import contextlib
import shlex

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.runcmd import find_run_commands, parse_run
from dockwarden.errors import DockwardenError
from fuzz.conftest import corpus

FLAGS = ["-p", "--publish", "-P", "--expose", "-v", "--mount", "--tmpfs", "--cpus", "-m",
         "--memory", "--pids-limit", "--restart", "--ulimit", "--device", "--privileged",
         "--privileged=maybe", "-e", "--env", "--network", "--health-cmd",
         "--no-healthcheck", "-dit", "--cpu-shares", "--", "-H", "sudo", "run", "create"]
VALUES = ["1-65535:1-65535", "80", "0", "65536", "8080:80/udp", "[::1]:80:80", "a:b:c:d",
          "1e400", "9" * 50, "-1", "type=bind,src=/,dst=/h", "/x:/y:ro,Z", "on-failure:3",
          "nofile=1:2", "²", "", "=", ",", "\"", "'", "[/]", "\x1b]0;x\x07", "busybox"]

argv_lists = st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES),
                                st.text(max_size=20)), max_size=30)


def _run(line: str) -> None:
    with contextlib.suppress(DockwardenError):
        parse_run(line)


@given(argv_lists)
@example(["-p", "1-65535:1-65535"] * 200 + ["busybox"])
@example(["--cpus", "1e400", "busybox"])
@example(["-P", "--expose", "1-65535", "busybox"])
def test_argv(argv: list[str]) -> None:
    _run("docker run " + " ".join(shlex.quote(a) for a in argv))


@given(st.text(max_size=300))
def test_raw_strings(text: str) -> None:
    _run(text)
    _run("docker run " + text)
    for _, command in find_run_commands(text):
        _run(command)


def test_corpus() -> None:
    for case in corpus("runcmd"):
        _run(case.decode("utf-8", "replace"))
