"""Read and parse one Dockerfile into a `DockerfileSnapshot`.

The Dockerfile itself is parsed by the `dockerfile` package, which wraps BuildKit's Go
parser: continuations, heredocs, `# escape=`, JSON and shell forms behave exactly as in
`docker build`. Written here by hand: splitting stages, resolving global ARG defaults in
`FROM`, and turning `RUN` bodies into commands.

`RUN` bodies are parsed with `bashlex` (a port of bash's own grammar) into pipelines of
argv, walking into `if`/`for`/subshells and `$(...)`. bashlex does not implement every
construct (arithmetic `$((...))`, `case`, some heredocs); when it fails the body falls
back to `shlex` tokens split on `&&`, `||`, `;`, `&`, `|` and newlines, which is good
enough for finding commands and their flags (`Instruction.shell_parser` says which).
bashlex is slow (~3 ms a script): plain scripts, and the plain top-level parts of the
others (cut at `;`, `&&`, `||`, newlines outside every construct), are read by a small
tokenizer with the same result, so bashlex reads only the parts that need it.
The script of `sh -c SCRIPT` / `bash -ec SCRIPT` (shell or JSON form) is parsed too, and
its commands added. Under a non-POSIX `SHELL` (PowerShell, cmd) shell-form bodies are
not parsed at all.

The effective user (DW501) needs the configured user of the image the final stage is
built on: `BaseUserResolver` looks it up in the local Engine (`GET /images/NAME/json`,
its `Config.User`) and, when asked (`--resolve-base`), in the registry (the manifest and
the config blob only, through `RegistrySource`). Every failure leaves the user unknown
with a reason; none stops the lint. It is fork-safe: the Engine is probed once in the
parent by listing its local images (on a unix socket that one request is the whole
probe), so a base that is not local costs no request; each process opens its own
connection on first use.

Refused with an `InputError` one-liner: unreadable paths, files over 4 MiB, binary
files (a NUL byte, or mostly control characters), and what BuildKit's parser refuses
(unterminated heredoc, no instructions, a line over 64 KiB), as `path: line N: message`
where the line is known.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shlex
from collections.abc import Iterable, Iterator
from typing import Any

from dockwarden import safeio
from dockwarden.errors import InputError
from dockwarden.model.common import Fact, Unknown
from dockwarden.model.dockerfile import (
    Argv,
    BaseUser,
    DockerfileSnapshot,
    Heredoc,
    Instruction,
    Pipeline,
    Stage,
)
from dockwarden.sanitize import clean, excerpt

MAX_BYTES = 4 << 20  # 4 MiB: the largest real Dockerfiles are tens of KiB
# One instruction with its continuation lines (see `check_continuations`).
MAX_CONTINUATION_LINES = 4096
MAX_INSTRUCTION_BYTES = 256 << 10
# Instruction keywords BuildKit knows: only these are ever named in an error message, so
# a file that is not a Dockerfile (a secret behind a symlink) is never echoed.
KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR"})
POSIX_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
_NON_POSIX_SHELLS = frozenset({"powershell", "pwsh", "cmd", "powershell.exe", "pwsh.exe",
                               "cmd.exe"})
_HEREDOC_MARK = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z0-9_.-]+)\1")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SEPARATORS = frozenset({"&&", "||", ";", "&", ";;", "\n"})


# --- reading ---------------------------------------------------------------------------

def read_text(path: str, *, root: str | None = None) -> str:
    """The file's text, or an InputError one-liner saying why it is not a Dockerfile.
    Read through `safeio.read_input` (a regular file only, under the cap, and with `root`
    never through a symlink that leaves it)."""
    data = safeio.read_input(path, what="Dockerfile", max_bytes=MAX_BYTES, root=root)
    shown = clean(path)
    nul = data.find(b"\0")
    if nul != -1:
        raise InputError(f"{shown}: binary file (NUL byte at offset {nul}), not a Dockerfile")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        head = data[:8192]
        controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
        if controls * 20 > len(head):
            raise InputError(f"{shown}: binary file, not a Dockerfile") from None
        return data.decode("utf-8", errors="replace")  # Latin-1 comments and the like


_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPE_DIRECTIVE = re.compile(r"#[ \t]*escape[ \t]*=[ \t]*(\S)", re.IGNORECASE)


def check_continuations(text: str) -> None:
    """Refuse an instruction continued over more than MAX_CONTINUATION_LINES lines or
    MAX_INSTRUCTION_BYTES bytes, before BuildKit's parser sees it.

    The parser's time grows with (continuation lines x instruction length): 2.4 MB of
    short continued lines took 105 s. One linear pass over the lines bounds both. It
    counts conservatively (comment and blank lines inside a continuation count, as the
    parser keeps going over them; a heredoc line ending in the escape counts too)."""
    escape = "\\"
    for line in text[:4096].splitlines():
        m = _ESCAPE_DIRECTIVE.match(line.strip())
        if m is not None and m.group(1) in "\\`":
            escape = m.group(1)
            break
        if line.strip() and not line.lstrip().startswith("#"):
            break
    count = size = start = 0
    for number, line in enumerate(text.split("\n"), 1):
        body = line.rstrip()
        if count:
            size += len(line) + 1
            if body.endswith(escape) or not body or body.lstrip().startswith("#"):
                count += 1
            else:
                count = 0  # this line ends the instruction
        elif body.endswith(escape):
            count, size, start = 1, len(line) + 1, number
        if count > MAX_CONTINUATION_LINES or size > MAX_INSTRUCTION_BYTES:
            what = (f"more than {MAX_CONTINUATION_LINES:,} continuation lines"
                    if count > MAX_CONTINUATION_LINES
                    else f"more than {MAX_INSTRUCTION_BYTES >> 10} KiB")
            raise InputError(f"line {start}: an instruction continued over {what} "
                             "(dockwarden's limit; no real Dockerfile comes close)")


def _error_line(text: str, message: str) -> int | None:
    """BuildKit's parse errors carry no line: find it for the ones that have one."""
    lines = text.split("\n")
    if "heredoc" in message:
        marks = [n for n, line in enumerate(lines, 1) if _HEREDOC_MARK.search(line)]
        return marks[-1] if marks else None
    if "max allowed size" in message:
        return next((n for n, line in enumerate(lines, 1) if len(line) > 65535), None)
    return None


# --- shell bodies ----------------------------------------------------------------------

def _words(node: Any) -> Argv:
    return tuple(p.word for p in getattr(node, "parts", ()) if p.kind == "word")


def _children(node: Any) -> Iterator[Any]:
    import bashlex  # imported on first use: building its parser tables costs ~0.2 s

    for value in vars(node).values():
        if isinstance(value, bashlex.ast.node):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, bashlex.ast.node))


def _walk(node: Any, out: list[Pipeline]) -> None:
    if node.kind == "pipeline":
        cmds = [c for c in node.parts if c.kind != "pipe"]
        argvs = tuple(_words(c) for c in cmds if c.kind == "command")
        if argvs:
            out.append(tuple(a for a in argvs if a))
        for c in cmds:
            if c.kind == "command":
                for child in _children(c):
                    _walk(child, out)
            else:
                _walk(c, out)
        return
    if node.kind == "command":
        argv = _words(node)
        if argv:
            out.append((argv,))
    for child in _children(node):
        _walk(child, out)


def _shlex_pipes(script: str) -> tuple[Pipeline, ...]:
    pipes: list[Pipeline] = []
    for line in re.sub(r"\\\r?\n", " ", script).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes
            tokens = line.split()
        pipe: list[Argv] = []
        argv: list[str] = []
        for tok in (*tokens, ";"):
            if tok == "|" or tok in _SEPARATORS:
                if argv:
                    pipe.append(tuple(argv))
                argv = []
                if tok != "|" and pipe:
                    pipes.append(tuple(pipe))
                    pipe = []
            else:
                argv.append(tok)
    return tuple(pipes)


_TOKEN = re.compile(r"""
     (?P<ws>(?:[ \t]|\\\r?\n)+)
    |(?P<nl>\r?\n)
    |(?P<comment>\#[^\n]*)
    |(?P<redir>[0-9]*(?:>>|>&|<&|&>|>\||>|<)[ \t]*)
    |(?P<op>&&|\|\||[;&|])
    |(?P<word>(?:[^\s'"\\;&|<>]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.)+)
""", re.VERBOSE | re.DOTALL)
_QUOTED = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)""", re.DOTALL)
_DQ_ESCAPE = re.compile(r'\\([\\"$`])')  # what a backslash escapes inside "..."
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_COMPLEX = ("$(", "`", "<(", ">(", "<<", "(", ")", "{", "}")
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "for", "while", "until", "do",
                       "done", "case", "esac", "function", "select", "!", "[[", "time"})
_BRACED_VAR = re.compile(r"\$\{[A-Za-z0-9_#@*?!-]+\}")


def _unquote_word(word: str) -> str:
    return _QUOTED.sub(lambda m: m.group(1) if m.group(1) is not None else
                       _DQ_ESCAPE.sub(r"\1", m.group(2)) if m.group(2) is not None
                       else m.group(3), word)


def _simple_pipes(script: str) -> tuple[Pipeline, ...] | None:
    """A fast reading of scripts with only words, quotes, `&&`, `||`, `;`, `|` and
    redirects (most RUN bodies), with bashlex's results; None for anything else."""
    if any(c in _BRACED_VAR.sub("", script) for c in _COMPLEX):
        return None
    pipes: list[Pipeline] = []
    pipe: list[Argv] = []
    argv: list[str] = []
    skip_target = False
    pos = 0
    for m in _TOKEN.finditer(script + "\n"):
        if m.start() != pos:
            return None  # an unmatched quote or the like
        pos = m.end()
        kind = m.lastgroup
        if kind == "word":
            if skip_target:
                skip_target = False
            elif argv or not _ASSIGN.match(m.group()):
                argv.append(_unquote_word(m.group()))
        elif kind == "redir":
            skip_target = True
        elif kind in ("op", "nl"):
            if skip_target:
                return None
            if argv:
                if argv[0] in _KEYWORDS:
                    return None
                pipe.append(tuple(argv))
                argv = []
            if m.group() != "|" and pipe:
                pipes.append(tuple(pipe))
                pipe = []
    if pos != len(script) + 1:
        return None
    return tuple(pipes)


def _bashlex_loops(script: str) -> bool:
    """True for a script bashlex would never finish: it loops for ever on a word holding a
    quoted `${` that no later `}` in the same word closes (`a'${'`, found by fuzzing).
    Such scripts go to the shlex fallback. Conservative: words are split on whitespace."""
    if "${" not in script or ("'" not in script and '"' not in script):
        return False
    for word in script.split():
        last = word.rfind("${")
        if last != -1 and ("'" in word or '"' in word) and word.find("}", last) == -1:
            return True
    return False


_CUTS = frozenset({";", "&&", "||", "&", "\n", "\r\n"})
_BLOCKS = frozenset({"if", "for", "while", "until", "select"})
_BLOCK_ENDS = frozenset({"fi", "done"})
_LEADS = frozenset({"if", "then", "do", "else", "elif", "while", "until", "!", "time", "{",
                    "("})  # the word after one of these is a command too


def _top_level_parts(script: str) -> list[str] | None:
    """`script` cut at its top-level `;`, `&&`, `||`, `&` and newlines (outside every
    quote, `$(...)`, `(...)`, `{...}`, `[[...]]`, backquote and if/for/while block), or
    None when that cannot be told with confidence (a heredoc, `case`, a closer without
    its opener, an unmatched quote, an operator with no command before or after it:
    bashlex refuses those, and the whole script goes to shlex as before). Each part is
    then read on its own: the small tokenizer takes the plain ones, so bashlex, which
    costs ~3 ms a script, reads only the parts that need it. bashlex's result for the
    whole is the parts' results in order (it walks a list's items in order)."""
    if "<<" in script or "esac" in script:
        return None
    parts: list[str] = []
    start = pos = depth = ticks = 0
    lead = True  # the next word is in command position (where keywords count)
    after_word = False  # a word since the last operator
    part_words = False  # a word since the last cut
    last_op = ""
    for m in _TOKEN.finditer(script):
        if m.start() != pos:
            return None
        pos = m.end()
        kind, text = m.lastgroup, m.group()
        if kind in ("ws", "comment"):
            continue
        if kind in ("op", "nl"):
            if kind == "op" and not after_word:
                return None  # `; ;`, `&& ||`, a leading `;`
            if text in _CUTS and after_word and depth == 0 and ticks % 2 == 0:
                parts.append(script[start:m.start()])
                start = pos
                part_words = False
            lead = True
            after_word = False
            last_op = text if kind == "op" else last_op
            continue
        if kind == "redir":
            lead = after_word = False
            continue
        if lead and text in _BLOCKS:
            depth += 1
        elif lead and text in _BLOCK_ENDS:
            depth -= 1
        bare = _QUOTED.sub("", text)  # what is quoted or escaped is not counted
        depth += (bare.count("(") - bare.count(")") + bare.count("{") - bare.count("}")
                  + bare.count("[[") - bare.count("]]"))
        ticks += bare.count("`")
        if depth < 0:
            return None
        lead = lead and text in _LEADS
        after_word = part_words = True
    if pos != len(script) or depth != 0 or ticks % 2 != 0 or (
            not after_word and last_op in ("&&", "||", "|")):
        return None  # something left open
    if part_words:  # not only a comment or blanks after the last cut
        parts.append(script[start:])
    return parts


def _bashlex_pipes(script: str) -> tuple[Pipeline, ...]:
    """bashlex's reading of `script`; raises whatever bashlex raises."""
    import bashlex  # imported on first use: building its parser tables costs ~0.2 s

    out: list[Pipeline] = []
    for tree in bashlex.parse(script):
        _walk(tree, out)
    return tuple(p for p in out if p)


@functools.lru_cache(maxsize=4096)
def parse_shell(script: str) -> tuple[tuple[Pipeline, ...], str]:
    """The pipelines of a shell script and the parser that read it ("bashlex", or
    "shlex" when bashlex cannot). Scripts of only words, quotes, operators and
    redirects are read by a small tokenizer that gives bashlex's result, faster; so are
    the plain top-level parts of the others (`_top_level_parts`)."""
    if not script.strip():
        return (), "bashlex"
    simple = _simple_pipes(script)
    if simple is not None:
        return simple, "bashlex"
    if _bashlex_loops(script):
        return _shlex_pipes(script), "shlex"
    found: list[Pipeline] = []
    try:
        for part in _top_level_parts(script) or [script]:
            simple = _simple_pipes(part)
            found.extend(simple if simple is not None else _bashlex_pipes(part))
    except Exception:  # bashlex raises its own errors, NotImplementedError, RecursionError
        return _shlex_pipes(script), "shlex"  # the whole script, as if never cut
    return tuple(found), "bashlex"


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()


def shell_c_script(argv: Argv) -> str | None:
    """The script of `sh -c SCRIPT` (also `bash -ec`, `sh -o pipefail -c`, `bash -lc`),
    else None."""
    if not argv or _basename(argv[0]) not in POSIX_SHELLS:
        return None
    wants_script = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-o", "+o", "-O", "+O"):  # these take the next word
            i += 2
        elif arg == "--":
            i += 1
            break
        elif arg.startswith("--"):  # --login, --norc...
            i += 1
        elif len(arg) > 1 and arg[0] in "-+":
            wants_script = wants_script or (arg[0] == "-" and "c" in arg[1:])
            i += 1
        else:
            break
    return argv[i] if wants_script and i < len(argv) else None


def _with_shell_c(pipes: tuple[Pipeline, ...], depth: int = 0) -> tuple[Pipeline, ...]:
    """`pipes` followed by the pipelines of every `sh -c SCRIPT` among them (nested up to
    four deep), so that a command run through `sh -c` is found like any other."""
    out = list(pipes)
    if depth < 4:
        for pipe in pipes:
            for argv in pipe:
                script = shell_c_script(argv)
                if script is not None:
                    body, _ = parse_shell(script)
                    out.extend(_with_shell_c(body, depth + 1))
    return tuple(out)


def _run_pipes(cmd: Any, shell: Argv) -> tuple[tuple[Pipeline, ...], str]:
    pipes, parser = _run_pipes_outer(cmd, shell)
    return _with_shell_c(pipes), parser


def _run_pipes_outer(cmd: Any, shell: Argv) -> tuple[tuple[Pipeline, ...], str]:
    value: tuple[str, ...] = tuple(cmd.value)
    if cmd.json:
        json_pipes: tuple[Pipeline, ...] = ((value,),) if value else ()
        return json_pipes, "json"
    if shell and _basename(shell[0]) in _NON_POSIX_SHELLS:
        return (), ""
    line = " ".join(value)
    docs = [h.content for h in cmd.heredocs if h.file_descriptor == 0]
    if not docs:
        return parse_shell(line)
    rest = _HEREDOC_MARK.sub(" ", line).strip()
    head = rest.split()[:1]
    found: list[Pipeline] = []
    parsers: list[str] = []
    if rest:
        body, parser = parse_shell(rest)
        found.extend(body)
        parsers.append(parser)
    if not rest or (_basename(head[0]) in POSIX_SHELLS and "-c" not in rest.split()):
        for doc in docs:  # the heredoc is the script
            body, parser = parse_shell(doc)
            found.extend(body)
            parsers.append(parser)
    return tuple(found), "shlex" if "shlex" in parsers else "bashlex"


# --- stages ----------------------------------------------------------------------------

def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def substitute(text: str, values: dict[str, str]) -> str:
    """`$X`, `${X}`, `${X:-default}`, `${X:+alt}` with `values`; unknown names stay."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        have = values.get(name)
        if op in (":-", "-"):
            return have if have else word
        if op in (":+", "+"):
            return word if have else ""
        return have if have is not None else m.group(0)

    return _VAR.sub(repl, text)


def arg_pairs(args: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """ARG items as (name, default or None)."""
    for item in args:
        name, sep, value = item.partition("=")
        yield name, (unquote(value) if sep else None)


def _instruction(cmd: Any, shell: Argv) -> Instruction:
    name = cmd.cmd.upper()
    pipes: tuple[Pipeline, ...] = ()
    parser = ""
    if name == "RUN" or (name == "ONBUILD" and (cmd.sub_cmd or "").upper() == "RUN"):
        pipes, parser = _run_pipes(cmd, shell)
    return Instruction(
        cmd=name,
        args=tuple(cmd.value),
        original=cmd.original,
        line=cmd.start_line,
        end_line=cmd.end_line,
        flags=tuple(cmd.flags),
        json_form=bool(cmd.json),
        heredocs=tuple(Heredoc(h.name, h.content, h.file_descriptor) for h in cmd.heredocs),
        sub_cmd=cmd.sub_cmd.upper() if cmd.sub_cmd else None,
        pipes=pipes,
        commands=tuple(argv for pipe in pipes for argv in pipe),
        shell_parser=parser,
    )


def build_snapshot(path: str, commands: Iterable[Any]) -> DockerfileSnapshot:
    global_args: list[Instruction] = []
    defaults: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] = []
    head: tuple[str, str | None, str] | None = None  # image, name, resolved
    shell: Argv = ()

    def close() -> None:
        if head is not None:
            stages.append(Stage(len(stages), head[1], head[0], head[2], tuple(current)))

    shown = clean(path)
    for cmd in commands:
        if not isinstance(cmd.cmd, str):
            raise InputError(f"{shown}: line {cmd.start_line}: an instruction BuildKit's "
                             "parser could not read")
        name = cmd.cmd.upper()
        if name == "FROM":
            close()
            shell = ()
            value = tuple(cmd.value)
            if not value:
                raise InputError(f"{shown}: line {cmd.start_line}: FROM without an image")
            stage_name = value[2].lower() if len(value) >= 3 and value[1].lower() == "as" \
                else None
            head = (value[0], stage_name, substitute(value[0], defaults))
            current = [_instruction(cmd, shell)]
            continue
        if head is None:
            if name != "ARG":
                what = name if name in KNOWN_INSTRUCTIONS else "an unknown instruction"
                raise InputError(f"{shown}: line {cmd.start_line}: {what} before the first "
                                 "FROM (docker build refuses it; not a Dockerfile?)")
            inst = _instruction(cmd, shell)
            global_args.append(inst)
            for arg, default in arg_pairs(inst.args):
                if default is not None:
                    defaults[arg] = substitute(default, defaults)
            continue
        if name == "SHELL" and cmd.json:
            shell = tuple(cmd.value)
        current.append(_instruction(cmd, shell))
    close()
    if not stages:
        raise InputError(f"{shown}: no FROM instruction, not a Dockerfile")
    return DockerfileSnapshot(path, tuple(stages), tuple(global_args))


def parse_text(path: str, text: str) -> DockerfileSnapshot:
    """Parse Dockerfile `text` (named `path` in errors). Errors never quote the file
    beyond a short, cleaned excerpt of the parser's message."""
    if _SURROGATE.search(text):  # the Go binding crashes the process on a lone surrogate
        text = text.encode("utf-8", "replace").decode("utf-8")
    nul = text.find("\0")
    if nul != -1:  # the binding passes C strings: a NUL cuts instructions short
        raise InputError(f"{clean(path)}: binary file (NUL byte at offset {nul}), "
                         "not a Dockerfile")
    try:
        check_continuations(text)
    except InputError as exc:
        raise InputError(f"{clean(path)}: {exc.message}") from None
    # Imported here, not at the top: the Go runtime it loads is not fork-safe, and the
    # command forks its workers after importing this module (for BaseUserResolver).
    import dockerfile  # type: ignore[import-not-found,unused-ignore]

    try:
        commands = dockerfile.parse_string(text)
    except UnicodeDecodeError:  # the binding splits some non-ASCII flags mid-character
        raise InputError(f"{clean(path)}: BuildKit's parser could not read it back "
                         "(non-ASCII characters in an instruction's flags?)") from None
    except dockerfile.GoParseError as exc:
        message = str(exc)
        line = _error_line(text, message)
        where = f"line {line}: " if line is not None else ""
        raise InputError(f"{clean(path)}: {where}{excerpt(message, 160)}") from None
    return build_snapshot(path, commands)


def parse_dockerfile(path: str, *, root: str | None = None) -> DockerfileSnapshot:
    """Read and parse the Dockerfile at `path`; InputError one-liners for what is not one.
    With `root` (the directory being scanned), a path that leaves it is refused."""
    return parse_text(path, read_text(path, root=root))


# --- the base image's user --------------------------------------------------------------

def _config_user(config: Any) -> str | None:
    """`Config.User` of an image config / inspect document ("" is root), None if absent
    or malformed."""
    if not isinstance(config, dict):
        return None
    inner = config.get("Config", config.get("config"))
    if inner is None:
        return ""  # an image without a config section runs as root
    if not isinstance(inner, dict):
        return None
    user = inner.get("User", "")
    return clean(user) if isinstance(user, str) else None


# An image reference as `docker run` takes one: [registry[:port]/]path[:tag][@digest].
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?"
                        r"(?:@[a-z0-9]+:[0-9a-fA-F]{32,128})?")


def _normal_tag(image: str) -> str:
    """`image` as the Engine lists its tags: `debian` -> `debian:latest`,
    `docker.io/library/debian:12` -> `debian:12`."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix):]
            break
    return image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"


def _tags(images: list[Any]) -> frozenset[str]:
    """The tags of a `GET /images/json` answer."""
    return frozenset(tag for image in images if isinstance(image, dict)
                     for tag in image.get("RepoTags") or () if isinstance(tag, str))


def _local_tags(getter: Any) -> frozenset[str] | None:
    """The tags of the Engine's local images (`GET /images/json`), or None when they
    cannot be listed (then each base is asked for by name)."""
    from dockwarden.collect.unixhttp import MAX_LIST
    from dockwarden.errors import DockwardenError

    try:
        status, doc = getter.get("/images/json", max_bytes=MAX_LIST, what="the local images")
    except (DockwardenError, OSError):
        return None
    if status != 200 or not isinstance(doc, list):
        return None
    return _tags(doc)


class BaseUserResolver:
    """`lookup(image)` -> BaseUser: the local Engine first (when `engine`), then the
    registry (when `registry`); answers are cached per process."""

    def __init__(self, *, engine: Any = None, registry: bool = False,
                 timeout: float = 10.0) -> None:
        """`engine`: an `EngineOptions` to reach the Engine with, or None for no Engine.
        The Engine is probed here (quickly); when it does not answer, it is skipped
        silently (`engine_error` says why)."""
        self.registry = registry
        self.timeout = timeout
        self.engine_error: Exception | None = None  # why the Engine is not used
        self._socket: str | None = None  # the Engine's unix socket (each process connects)
        self._sdk_opts: Any = None
        self._getter: Any = None
        self._pid = 0
        self._cache: dict[str, BaseUser] = {}
        # the local images' tags, listed once (before the lint workers fork): a base that
        # is not among them is answered without a request per file
        self._local: frozenset[str] | None = None
        if engine is not None:
            self._probe(engine)

    def _probe(self, opts: Any) -> None:
        from dockwarden.collect import connection
        from dockwarden.errors import DockwardenError

        try:
            url, _tls = connection.resolve(opts)
            if url.startswith(("unix://", "/")):
                self._probe_socket(url, opts.timeout)
                return
            conn = connection.connect(opts)
        except DockwardenError as exc:
            self.engine_error = exc
            return
        self._local = _local_tags(conn.getter)
        # TCP/TLS/ssh: the connection is kept in this process only (the SDK's sessions
        # are not fork-safe); a forked worker connects again
        self._sdk_opts = opts
        self._getter, self._pid = conn.getter, os.getpid()

    def _probe_socket(self, url: str, timeout: float) -> None:
        """The usual case, the Engine's unix socket: listing the local images is the
        probe, one request on one connection. No `/version` round trip to negotiate the
        API first (it takes the Engine longer to answer than the list): the two
        endpoints used here are the same in every API version, so they are asked for
        unversioned, as the Engine's own."""
        from dockwarden.collect.connection import unreachable
        from dockwarden.collect.unixhttp import MAX_LIST, EngineGone, UnixGetter
        from dockwarden.errors import EngineUnreachable

        shown = url if url.startswith("unix://") else "unix://" + url
        getter = UnixGetter(shown[len("unix://"):], None, timeout)
        try:
            status, doc = getter.get("/images/json", max_bytes=MAX_LIST,
                                     what="the local images")
        except EngineGone as exc:
            raise unreachable(shown, exc) from None
        finally:
            getter.close()
        if status != 200 or not isinstance(doc, list):
            why = f"HTTP {status}" if status != 200 else "not a list of images"
            raise EngineUnreachable(f"{clean(shown)} does not answer like a Docker Engine "
                                    f"({why} in answer to GET /images/json)",
                                    "check --host / DOCKER_HOST")
        self._local = _tags(doc)
        self._socket = getter.socket_path

    @property
    def engine(self) -> bool:
        return self._socket is not None or self._sdk_opts is not None

    def _engine_getter(self) -> Any:
        if self._getter is not None and self._pid == os.getpid():
            return self._getter
        if self._socket is not None:
            from dockwarden.collect.unixhttp import UnixGetter

            self._getter = UnixGetter(self._socket, None, self.timeout)  # see _probe_socket
        else:
            from dockwarden.collect import connection

            self._getter = connection.connect(self._sdk_opts).getter
        self._pid = os.getpid()
        return self._getter

    def _from_engine(self, image: str) -> tuple[str | None, str]:
        from dockwarden.errors import DockwardenError

        if self._local is not None and "@" not in image \
                and _normal_tag(image) not in self._local:
            return None, "not in the local Engine"
        try:
            status, doc = self._engine_getter().get(f"/images/{image}/json",
                                                    what=f"image {clean(image)}")
        except DockwardenError as exc:
            return None, f"the Engine did not answer: {excerpt(exc.message, 80)}"
        except OSError as exc:
            return None, f"the Engine did not answer: {excerpt(str(exc), 80)}"
        if status == 404:
            return None, "not in the local Engine"
        if status != 200:
            return None, f"the Engine answered {status}"
        user = _config_user(doc)
        return (user, "") if user is not None else (None, "the Engine's answer has no user")

    def _from_registry(self, image: str) -> tuple[str | None, str]:
        from dockwarden.collect.image.registry import RegistrySource
        from dockwarden.errors import DockwardenError

        try:
            source = RegistrySource(image, timeout=self.timeout)
            blobs = source.blobs()
            try:
                next(blobs)  # the manifest
                config = next(blobs)  # the config blob; the layers are never fetched
                data = config.stream.read()
            finally:
                close = getattr(blobs, "close", None)  # a generator: stops before the layers
                if close is not None:
                    close()
            return _config_user(json.loads(data)), ""
        except (DockwardenError, StopIteration, OSError, ValueError, AttributeError) as exc:
            message = exc.message if isinstance(exc, DockwardenError) else type(exc).__name__
            return None, f"registry: {excerpt(message, 120)}"

    def lookup(self, image: str) -> BaseUser:
        cached = self._cache.get(image)
        if cached is None:
            cached = self._cache[image] = self._lookup(image)
        return cached

    def _lookup(self, image: str) -> BaseUser:
        if image.lower() == "scratch":
            return BaseUser(image, "", "scratch")
        if "$" in image:
            return BaseUser(image, None, reason="named by a build argument without a default")
        reasons: list[str] = []
        if self.engine:
            user, why = self._from_engine(image)
            if user is not None:
                return BaseUser(image, user, "engine")
            reasons.append(why)
        else:
            reasons.append("no Engine consulted")
        if self.registry:
            user, why = self._from_registry(image)
            if user is not None:
                return BaseUser(image, user, "registry")
            reasons.append(why)
        else:
            reasons.append("registry not asked (--resolve-base)")
        return BaseUser(image, None, reason="; ".join(reasons))

    def image_user(self, image: str) -> tuple[Fact[str | None], str]:
        """For a container run from `image` with no user given (a compose service with
        only `image:`, a `docker run IMAGE` line): (the image's configured user, where it
        was learnt: "image (local Engine)" / "image (registry)"), or (`Unknown` with the
        reason, "unknown") when it cannot be known. A name that is not an image reference
        (a shell variable, path tricks) is never looked up."""
        shown = excerpt(clean(image), 120)
        if not _IMAGE_REF.fullmatch(image) or ".." in image:
            why = "a variable" if "$" in image else "not an image reference"
            return Unknown(f"the user is the image's ({shown}), which is {why}"), "unknown"
        found = self.lookup(image)
        if found.user is not None:
            where = {"engine": "local Engine"}.get(found.source, found.source)
            return found.user, f"image ({where})"
        return (Unknown(f"the user is the image's ({shown}), unknown: {found.reason}"),
                "unknown")

    def resolve(self, df: DockerfileSnapshot) -> DockerfileSnapshot:
        """`df` with `base_user` set, unless its final chain sets a USER itself (then the
        base image's user does not matter and nothing is looked up)."""
        if df.final_user() is not None:
            return df
        return dataclasses.replace(df, base_user=self.lookup(df.external_base))
