"""Fuzzing the Dockerfile parser: any text ends in a snapshot or a DockwardenError."""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.dockerfile import parse_shell, parse_text
from dockwarden.errors import DockwardenError
from fuzz.conftest import corpus

WORDS = ["FROM", "RUN", "COPY", "ADD", "ARG", "ENV", "USER", "SHELL", "ONBUILD",
         "HEALTHCHECK", "EXPOSE", "AS", "--from=0", "--from=²", "--chown=1", "alpine",
         "${A:-b}", "$A", "<<EOF", "EOF", "\\\n", "`", "# escape=`\n", "[\"sh\",\"-c\"]",
         "&&", "||", "|", ";", "$(", ")", "sh -c", "'", "\"", "\n", " ", "\t", "[/]",
         "\x1b[2J", "\x00", "\ud800"]

dockerfile_text = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=60).map("".join),
)


def _parse(text: str) -> None:
    with contextlib.suppress(DockwardenError):
        parse_text("Dockerfile", text)


@given(dockerfile_text)
@example("FROM a\nCOPY --from=² /a /b\n")
@example("FROM a AS b\nFROM b\nCOPY --from=99999999999999999999 /a /b\n")
@example("FROM a\nRUN x \\\n" * 3)
@example("FROM a\nCOPY --from=b\U00042147 /a /b\n")  # found by bench/hostile.py --fuzz
@example("FROM a\nU\\\n\x00\\\nSER x\n")  # found by bench/hostile.py --fuzz
@example("FROM a\ud800\n")  # found: a lone surrogate crashed the Go parser (SIGSEGV)
def test_dockerfile_text(text: str) -> None:
    _parse(text)


@given(st.text(max_size=300))
@example("a'${'")  # found by bench/hostile.py --fuzz: bashlex looped for ever
@example("x=a'${' }")
def test_shell_bodies(script: str) -> None:
    pipes, parser = parse_shell(script)
    assert parser in ("bashlex", "shlex")
    assert isinstance(pipes, tuple)


def test_corpus() -> None:
    for case in corpus("dockerfile"):
        _parse(case.decode("utf-8", "replace"))
