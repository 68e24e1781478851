"""The command line: the parser and the dispatch. Each command's pipeline (options ->
collect -> judge -> report) is a module of `dockwarden.commands`; this module parses the
arguments, hands them to that module's `run`, and turns errors into one line and an exit
code (SPEC.md: 0, 1 findings, 2 usage or input, 3 incomplete)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from dockwarden import __version__
from dockwarden.errors import DockwardenError
from dockwarden.sanitize import clean

COMMANDS = ("engine", "daemon", "containers", "image", "sbom", "dockerfile", "compose",
            "run-command", "checks", "db", "exposure", "registry", "inside", "watch", "probe",
            "merge")

def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` finds it: $COLUMNS, else the
    terminal on stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, given its width: without one it imports `shutil` to
    find it (and shutil imports bz2, lzma and fnmatch), 3 ms of every start, since
    argparse makes a formatter for each option it adds."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and a hint instead of the whole usage text."""

    # The command being parsed: arguments no command took are reported by the top-level
    # parser, whose hint should still name that command's help.
    command: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        prog = f"{self.prog} {self.command}" if self.command else self.prog
        self.exit(2, f"dockwarden: error: {clean(message)}\nhint: see `{prog} --help`\n")


# (command, help, module of dockwarden.commands, its function that adds the options)
_SUBCOMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("engine", "daemon + host + every container (the main job)", "engine", "options"),
    ("daemon", "the daemon and its host only", "engine", "daemon_options"),
    ("containers", "containers only (all, or the ones named)", "engine",
     "containers_options"),
    ("image", "images (REF..., --tar, --oci, --all): config, filesystem, packages, "
     "secrets", "image", "options"),
    ("sbom", "package inventory of images (CycloneDX or SPDX JSON)", "sbom", "options"),
    ("dockerfile", "Dockerfiles, before anything is built (files, or directories searched "
     "for Dockerfile*)", "dockerfile", "options"),
    ("compose", "compose files, before anything runs: each FILE (or each compose file "
     "under a directory) is its own project", "compose", "options"),
    ("run-command", "judge `docker run` command lines like live containers (quote each "
     "line)", "runcmd", "options"),
    ("checks", "print the check catalogue", "checks", "options"),
    ("db", "the local vulnerability database: update, import, status", "db", "options"),
    ("exposure", "probe your own hosts for Engine APIs and registries open without "
     "authentication (DW701-DW703)", "exposure", "options"),
    ("registry", "a registry's transport and access control (DW401-DW406)", "registry",
     "options"),
    ("inside", "run inside a container: what could it do to its host? (DW801-DW806)",
     "inside", "options"),
    ("watch", "follow a live Engine's events and container stats: alerts DW901-DW906 as "
     "they happen", "watch", "options"),
    ("probe", "canary containers that verify isolation under the Engine's defaults or "
     "--run-flags (DW103, DW104, DW214-DW218 verified or disproved)", "probe", "options"),
    ("merge", "one report from JSON reports made elsewhere (a fleet's hosts)", "merge",
     "options"),
)
assert tuple(name for name, _, _, _ in _SUBCOMMANDS) == COMMANDS
_MODULE = {name: module for name, _, module, _ in _SUBCOMMANDS}


def _command(name: str) -> Any:
    return importlib.import_module(f"dockwarden.commands.{_MODULE[name]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; with `only`, the options of that command alone (the
    others are listed, empty): building every command's options costs a start-up
    several milliseconds, and imports every command module, for a parser that reads
    one."""
    parser = _Parser(
        prog="dockwarden",
        description="Audit a Docker deployment: daemon, host and every container. "
        "A bare `dockwarden` audits the local Engine.",
    )
    parser.add_argument("--version", action="version", version=f"dockwarden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text, _, fill in _SUBCOMMANDS:
        p = sub.add_parser(name, help=text)
        if only is None or only == name:
            getattr(_command(name), fill)(p)
    return parser


_VALUED = {"--format", "-o", "--output", "--severity", "--fail-on", "--unknown-severity",
           "--ignore", "--check",
           "--scan-scripts", "--tar", "-f", "--file", "--profile", "--oci", "--platform",
           "--max-files", "--max-size", "--db", "--vex", "--max-db-age",
           "--skip", "-H", "--host", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey",
           "--timeout", "--workers", "--baseline", "--benchmark", "--config",
           "--ports", "--concurrency", "--repository", "--ca-cert", "--username",
           "--facts", "--for", "--webhook", "--interval", "--size-interval", "--growth",
           "--restarts", "--restart-window", "--cooldown", "--max-containers", "--key",
           "--host-root",
           "--run-flags", "--image", "--fork-cap", "--write-size", "--label",
           "--hosts", "--parallel", "--engine-deadline"}


def _argv(argv: Sequence[str]) -> list[str]:
    """Put the command first (options may come before it); no command means `engine`."""
    args = list(argv)
    if args[:1] and args[0] in ("-h", "--help", "--version"):
        return args
    i, position = 0, None
    while i < len(args):
        if args[i] in COMMANDS:
            position = i
            break
        if args[i] == "--":
            break
        i += 2 if args[i] in _VALUED else 1
    if position is None:
        return ["engine", *args]
    return [args[position], *args[:position], *args[position + 1:]]


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM ends dockwarden as Ctrl-C does: the same clean-up paths run (temporary
    files removed, canaries and locks released) and the exit code is 3."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _error(message: str, hint: str = "") -> None:
    """A one-line error (and hint) on stderr, its untrusted parts made safe."""
    print(f"dockwarden: error: {clean(message)}", file=sys.stderr)
    if hint:
        print(f"hint: {clean(hint)}", file=sys.stderr)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    raise KeyError(name)


def _all_option_names() -> list[str]:
    """Every command's long options (as config keys): a config file may hold options of
    other commands than the one that runs."""
    from dockwarden.config import option_names

    parser = build_parser()
    return [key for name in COMMANDS for key in option_names(_subparser(parser, name))]


def _config_option(args: Sequence[str]) -> tuple[str | None, bool]:
    """`--config FILE` and `--no-config` as given, before parsing (the file's values
    become the parser's defaults)."""
    path, off = None, False
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--no-config":
            off = True
        elif arg == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg.partition("=")[2]
    return path, off


def _configure(parser: argparse.ArgumentParser, args: list[str]) -> dict[str, Any]:
    """Apply the config file (if any) to the command's parser as its defaults: only the
    auditing commands read one (those with --config), and not for --help."""
    if not args or args[0] not in COMMANDS or "-h" in args or "--help" in args:
        return {}
    sub = _subparser(parser, args[0])
    from dockwarden import config

    if "config" not in config.option_names(sub):
        return {}
    explicit, off = _config_option(args[1:])
    path = None if off else config.find(explicit)
    if path is None:
        return {}
    return config.apply(sub, config.load(path), _all_option_names)


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _argv(raw)
    parser = build_parser(only=args[0] if args and args[0] in COMMANDS else None)
    try:
        defaults = _configure(parser, args)
    except DockwardenError as exc:
        _error(exc.message, exc.hint)
        return exc.exit_code
    if isinstance(parser, _Parser) and args and args[0] in COMMANDS:
        parser.command = args[0]
    ns = parser.parse_args(args)
    ns.implicit = not any(a in COMMANDS for a in raw)  # a bare `dockwarden [options]`
    try:
        if defaults:
            from dockwarden.config import settle

            settle(ns, defaults)
        if getattr(ns, "baseline", None):  # a bad baseline fails before the audit
            from dockwarden import baseline

            ns.baseline_keys = baseline.load(ns.baseline)
        code: int = _command(ns.command).run(ns)
        return code
    except DockwardenError as exc:
        _error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dockwarden: interrupted", file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0
    except RecursionError:
        _error("input nested too deeply to read")
        return 2
    except MemoryError:
        _error("out of memory reading the input", "the input is larger than dockwarden "
               "can hold; report it if it is a real file")
        return 3
    except Exception as exc:
        # A bug, not the input's fault. One line (and the details with DOCKWARDEN_DEBUG=1)
        # rather than a traceback that a hostile input could fill with its own text.
        if os.environ.get("DOCKWARDEN_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc}",
               "the audit did not complete; rerun with DOCKWARDEN_DEBUG=1 for details "
               "and report it")
        return 3


def run() -> NoReturn:
    """The `dockwarden` command: `main`, then a quick exit. Python's own exit frees every
    module and object one by one, 26 ms after an image audit (a tenth of it); here the
    other threads are waited for, the exit handlers run and the standard streams are
    flushed, as Python's exit would, and then the process ends at once (`os._exit`),
    its memory returned whole. Every file dockwarden writes is closed by then."""
    import atexit
    import contextlib
    import threading

    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away
            stream.flush()
    os._exit(code)
