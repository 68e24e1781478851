"""The command line: the only place that wires collectors, checks and renderers."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from dockwarden import __version__
from dockwarden.errors import DockwardenError, EngineUnreachable, InputError, UsageError
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.finding import Finding, Report, ReportError, ReportTarget
from dockwarden.safeio import write_output
from dockwarden.sanitize import clean

COMMANDS = ("engine", "daemon", "containers", "image", "sbom", "dockerfile", "compose",
            "run-command", "checks", "db")
FORMATS = ("text", "json", "sarif", "junit", "markdown")


def _severity_list(text: str) -> tuple[Severity, ...]:
    try:
        return tuple(Severity.parse(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fail_on(text: str) -> Severity | None:
    if text.strip().lower() in ("none", "never"):
        return None
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timeout(text: str) -> float:
    from dockwarden.deadline import check_timeout

    try:
        return check_timeout(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc) if "--timeout" in str(exc)
                                         else f"not a number of seconds: {text!r}") from None


def _ids(text: str) -> list[str]:
    return [p.strip().upper() for p in text.split(",") if p.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--format", choices=FORMATS, default="text", help="report format")
    g.add_argument("-o", "--output", metavar="FILE", help="write the report here (default stdout)")
    g.add_argument("--severity", type=_severity_list, metavar="LIST",
                   help="severities to show, e.g. critical,high (default: all)")
    g.add_argument("--fail-on", type=_fail_on, default=Severity.HIGH, metavar="SEVERITY",
                   help="exit 1 when a finding at or above this severity remains "
                   "(default: high; 'none' never fails)")
    g.add_argument("--ignore", metavar="FILE",
                   help="accepted risks: YAML list of {check, target?, reason, expires?}")
    g.add_argument("--check", action="append", type=_ids, default=[], metavar="ID",
                   help="run only these checks (ids or prefixes such as DW2; repeatable)")
    g.add_argument("--skip", action="append", type=_ids, default=[], metavar="ID",
                   help="do not run these checks (ids or prefixes; repeatable)")
    g.add_argument("-q", "--quiet", action="store_true", help="findings only, no fixes")
    g.add_argument("--no-progress", action="store_true", help="no progress on stderr")


def _engine_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine connection (as the docker CLI)")
    g.add_argument("-H", "--host", help="Engine URL (default: DOCKER_HOST, the current "
                   "context, or unix:///var/run/docker.sock)")
    g.add_argument("-c", "--context", help="Docker context to use")
    g.add_argument("--tls", action="store_true", help="use TLS")
    g.add_argument("--tlsverify", action="store_true", help="use TLS and verify the server")
    g.add_argument("--tlscacert", metavar="FILE")
    g.add_argument("--tlscert", metavar="FILE")
    g.add_argument("--tlskey", metavar="FILE")
    g.add_argument("--timeout", type=_timeout, default=30.0,
                   help="time limit of each Engine API request, in seconds (default 30)")
    g.add_argument("--workers", type=int, default=8,
                   help="concurrent container inspections (default 8)")
    g.add_argument("--no-local", action="store_true",
                   help="do not read local daemon/host files even if the Engine is local")


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dockwarden: error: {message}\nhint: see `{self.prog} --help`\n")


def _size(text: str) -> int:
    import re
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500MiB, 2GiB)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * scale)


DEFAULT_MAX_DB_AGE = 7  # days: advisories change daily; a week-old database misses fixes


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("--max-db-age cannot be negative")
    return days


def _image_opts(p: argparse.ArgumentParser, many: bool) -> None:
    if many:
        p.add_argument("refs", nargs="*", metavar="REF", help="image names or ids")
    else:
        p.add_argument("ref", nargs="?", metavar="REF", help="image name or id")
    g = p.add_argument_group("image source")
    g.add_argument("--tar", metavar="FILE", help="a `docker save` tarball (gzip'd or not)")
    g.add_argument("--oci", metavar="PATH", help="an OCI image layout directory or tarball")
    g.add_argument("--platform", metavar="OS/ARCH", help="pick one image of a multi-platform "
                   "index, e.g. linux/arm64 (default linux/amd64)")
    g.add_argument("--remote", action="store_true",
                   help="read REF from its registry even if the Engine has it")
    g.add_argument("--insecure-registry", action="store_true",
                   help="plain HTTP to the registry (loopback registries always are)")


def _engine_cmd(p: argparse.ArgumentParser) -> None:
    _engine_opts(p)
    _common(p)


def _containers_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="container names or id prefixes")
    _engine_cmd(p)


def _image_cmd(p: argparse.ArgumentParser) -> None:
    _image_opts(p, many=False)
    p.add_argument("--max-files", type=int, default=100_000, metavar="N",
                   help="DW307 threshold: files in the final filesystem (default 100000)")
    p.add_argument("--max-size", type=_size, default=2 << 30, metavar="SIZE",
                   help="DW308 threshold, e.g. 2GiB (default)")
    g = p.add_argument_group("vulnerabilities (DW309, DW310)")
    g.add_argument("--db", metavar="PATH",
                   help="vulnerability database (default: DOCKWARDEN_DB, else "
                   "~/.cache/dockwarden/vulndb.sqlite)")
    g.add_argument("--vex", action="append", default=[], metavar="FILE",
                   help="OpenVEX document: not_affected/fixed statements suppress matching "
                   "findings (repeatable)")
    g.add_argument("--max-db-age", type=_days, default=DEFAULT_MAX_DB_AGE, metavar="DAYS",
                   help=f"warn when the database is older (default {DEFAULT_MAX_DB_AGE}; "
                   "0 never warns)")
    _engine_cmd(p)


def _sbom_cmd(p: argparse.ArgumentParser) -> None:
    _image_opts(p, many=True)
    p.add_argument("--format", choices=("cyclonedx", "spdx"), default="cyclonedx")
    p.add_argument("-o", "--output", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")
    _engine_opts(p)


def _dockerfile_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH")
    _common(p)


def _compose_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="FILE|DIR")
    p.add_argument("-f", "--file", action="append", default=[], dest="merge", metavar="FILE",
                   help="merge these files into one project, in order (as docker compose -f)")
    p.add_argument("--profile", action="append", default=[], metavar="NAME",
                   help="activate services of this profile (repeatable)")
    _common(p)


def _run_command_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument("lines", nargs="*", metavar="'docker run ...'")
    p.add_argument("--scan-scripts", action="append", default=[], metavar="PATH",
                   help="find `docker run` lines in shell scripts, Makefiles and CI YAML "
                   "under PATH (repeatable)")
    _common(p)


def _checks_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("-o", "--output", metavar="FILE")


def _db_options(p: argparse.ArgumentParser) -> None:
    from dockwarden.commands import db
    db.options(p)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; with `only`, the options of that command alone (the
    others are listed, empty): building every command's options costs a start-up
    several milliseconds, for a parser that reads one."""
    parser = _Parser(
        prog="dockwarden",
        description="Audit a Docker deployment: daemon, host and every container. "
        "A bare `dockwarden` audits the local Engine.",
    )
    parser.add_argument("--version", action="version", version=f"dockwarden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text, fill in _SUBCOMMANDS:
        p = sub.add_parser(name, help=text)
        if only is None or only == name:
            fill(p)
    return parser


_VALUED = {"--format", "-o", "--output", "--severity", "--fail-on", "--ignore", "--check",
           "--scan-scripts", "--tar", "-f", "--file", "--profile", "--oci", "--platform",
           "--max-files", "--max-size", "--db", "--vex", "--max-db-age",
           "--skip", "-H", "--host", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey",
           "--timeout", "--workers"}


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


class _Progress:
    """A progress bar on stderr, made on the first call (rich is imported then)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            self._bar = Progress(TextColumn("inspecting containers"), BarColumn(),
                                 MofNCompleteColumn(), transient=True,
                                 console=_stderr_console())
            self._bar.start()
            self._task = self._bar.add_task("inspect", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _stderr_console() -> Any:
    from rich.console import Console
    return Console(file=sys.stderr)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _selection(ns: argparse.Namespace) -> Any:
    from dockwarden.checks import Selection

    checks = tuple(i for group in ns.check for i in group)
    skips = tuple(i for group in ns.skip for i in group)
    if checks or skips:
        _known_ids(checks, "--check")
        _known_ids(skips, "--skip")
    return Selection(checks, skips)


def _known_ids(given: Sequence[str], option: str) -> None:
    """Each id or prefix given must name at least one check: an unknown one is a usage
    error that names the close matches (a typo must not run everything, or nothing)."""
    if not given:
        return
    import difflib

    from dockwarden.checks import iter_catalogue

    ids = [m.id for m in iter_catalogue()]
    for wanted in given:
        if not any(i.startswith(wanted) for i in ids):
            close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
            raise UsageError(f"{option} {clean(wanted)}: no such check id or prefix",
                             f"did you mean {', '.join(close)}? see `dockwarden checks`"
                             if close else "see `dockwarden checks` for the ids")


def _file_report(started: str, targets: list[ReportTarget], results: Any,
                 errors: list[ReportError]) -> Report:
    """The report of a file audit (Dockerfiles, compose files, command lines)."""
    return Report(started=started, finished=_now(), targets=tuple(targets),
                  findings=tuple(results.findings), skipped=tuple(results.skipped),
                  errors=tuple(errors + results.errors), passed=results.passed)


def _audit_engine(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.judge import judge_engine
    from dockwarden.collect.connection import EngineOptions, connect
    from dockwarden.collect.engine import EngineCollector

    started = _now()
    selection = _selection(ns)
    opts = EngineOptions(host=ns.host, context=ns.context, tls=ns.tls, tlsverify=ns.tlsverify,
                         tlscacert=ns.tlscacert, tlscert=ns.tlscert, tlskey=ns.tlskey,
                         timeout=ns.timeout)
    if ns.workers < 1:
        raise UsageError("--workers must be at least 1")
    conn = connect(opts, max_pool_size=max(10, ns.workers))
    progress = _Progress(enabled=not (ns.no_progress or ns.quiet) and sys.stderr.isatty())
    want_containers = ns.command in ("engine", "containers")
    names = tuple(getattr(ns, "names", ()) or ())
    collector = EngineCollector(conn, names=names, workers=ns.workers,
                                local_facts=not ns.no_local, progress=progress,
                                containers=want_containers,
                                daemon=ns.command in ("engine", "daemon"))
    try:
        snap = collector.collect()
    finally:
        progress.stop()
    results = judge_engine(snap, selection, daemon=ns.command in ("engine", "daemon"),
                           containers=want_containers)
    errors = [ReportError(t, m) for t, m in snap.errors] + results.errors
    kind = {"engine": TargetKind.ENGINE, "daemon": TargetKind.DAEMON,
            "containers": TargetKind.ENGINE}[ns.command]
    return Report(
        started=started, finished=_now(),
        targets=(ReportTarget(kind, snap.endpoint, snap.complete),),
        findings=tuple(results.findings), skipped=tuple(results.skipped),
        errors=tuple(errors), passed=results.passed,
    )


def _engine_factory(ns: argparse.Namespace) -> Any:
    def factory() -> Any:  # imported only when an Engine is needed (not for --tar/--oci)
        from dockwarden.collect.connection import EngineOptions, connect

        opts = EngineOptions(host=ns.host, context=ns.context, tls=ns.tls,
                             tlsverify=ns.tlsverify, tlscacert=ns.tlscacert,
                             tlscert=ns.tlscert, tlskey=ns.tlskey, timeout=ns.timeout)
        return connect(opts, sdk=True).api

    return factory


def _image_progress(ns: argparse.Namespace) -> Any:
    if ns.no_progress or getattr(ns, "quiet", False) or not sys.stderr.isatty():
        return None

    def show(name: str) -> None:
        print(f"\rreading layer {name[-24:]}", end="", file=sys.stderr, flush=True)

    return show


def _image_requests(ns: argparse.Namespace) -> list[Any]:
    from dockwarden.collect.image.open import ImageRequest

    refs = list(getattr(ns, "refs", None) or ([ns.ref] if getattr(ns, "ref", None) else []))
    common = dict(tar=None, oci=None, platform=ns.platform, remote=ns.remote,
                  insecure=ns.insecure_registry)
    reqs = [ImageRequest(ref=r, **common) for r in refs]
    if ns.tar:
        reqs.append(ImageRequest(ref=None, **{**common, "tar": ns.tar}))
    if ns.oci:
        reqs.append(ImageRequest(ref=None, **{**common, "oci": ns.oci}))
    if not reqs:
        raise UsageError("name an image: REF, --tar FILE or --oci PATH")
    if len(reqs) > 1 and ns.command == "image":
        raise UsageError("`image` audits one image: name REF, --tar or --oci, not several")
    return reqs


def _load_image_checks() -> None:
    """Import the image checks and their judge: done while the workers walk the first
    pieces of the image's layers, when there are workers (`collect_image`'s
    `meanwhile`), else after the walk."""
    from dockwarden.checks.judge import judge_image  # noqa: F401
    from dockwarden.checks.registry import Scope, load

    load(Scope.IMAGE)


def _audit_image(ns: argparse.Namespace) -> Report:
    from dockwarden.collect.image.open import collect_image

    started = _now()
    req = _image_requests(ns)[0]
    statements: list[Any] = []
    if ns.vex:
        from dockwarden.vuln import vex

        statements = vex.load(ns.vex)  # a bad VEX file stops here, before any work
    snap = collect_image(req, _engine_factory(ns), progress=_image_progress(ns),
                         meanwhile=_load_image_checks)
    _load_image_checks()
    from dockwarden.checks.image import ImageContext
    from dockwarden.checks.judge import judge_image

    selection = _selection(ns)
    warnings: list[ReportError] = []
    unusable: DockwardenError | None = None
    if selection.wants("DW309") or selection.wants("DW310"):
        from dockwarden.vuln.db import DatabaseUnusable

        try:
            snap = _with_vulnerabilities(snap, ns, warnings)
        except DatabaseUnusable as exc:  # fail closed: an error, never a pass or a skip
            from dataclasses import replace

            from dockwarden.model.common import Unknown
            unusable = exc
            snap = replace(snap, vulnerabilities=Unknown(exc.message))
    ctx = ImageContext(today=dt.datetime.now(dt.UTC).date(), max_files=ns.max_files,
                       max_size=ns.max_size)
    results = judge_image(snap, ctx, selection)
    findings, suppressed = (vex.apply(results.findings, statements) if statements
                            else (list(results.findings), []))
    notes = [ReportError(snap.ref, f"{what}: {why}") for what, why in snap.skipped]
    skipped = tuple(results.skipped)
    if unusable is not None:
        skipped = tuple(k for k in skipped if k.check not in ("DW309", "DW310"))
        hint = f" ({unusable.hint})" if unusable.hint else ""
        notes.append(ReportError(snap.ref, f"DW309/DW310 not judged: {unusable.message}{hint}"))
    return Report(
        started=started, finished=_now(),
        targets=(ReportTarget(TargetKind.IMAGE, snap.ref, snap.complete and unusable is None),),
        findings=tuple(findings), skipped=skipped,
        errors=tuple(notes + results.errors), passed=results.passed,
        ignored=tuple(suppressed), warnings=tuple(warnings),
    )


def _with_vulnerabilities(snap: Any, ns: argparse.Namespace,
                          warnings: list[ReportError]) -> Any:
    """The snapshot with its `vulnerabilities` filled in from the database, or with the
    reason they are unknown (no database: DW309/DW310 are skipped, saying how to get
    one). A stale database or versions that could not be parsed become warnings."""
    from dataclasses import replace

    from dockwarden.model.common import Unknown
    from dockwarden.vuln import default_path

    path = ns.db or default_path()
    if isinstance(snap.packages, Unknown):
        return replace(snap, vulnerabilities=snap.packages)
    from dockwarden.vuln.db import open_for_scan

    # Asked for (--db, DOCKWARDEN_DB) or present at the default path: it must be usable,
    # else DatabaseUnusable (the caller fails closed). Absent and not asked for: skipped.
    db = open_for_scan(path, asked=bool(ns.db or os.environ.get("DOCKWARDEN_DB")))
    if db is None:
        return replace(snap, vulnerabilities=Unknown(
            f"no vulnerability database at {path}: run `dockwarden db update` (online) or "
            "`dockwarden db import FILE|DIR` (offline), or name one with --db / "
            "DOCKWARDEN_DB"))
    try:
        oldest = db.oldest_import()
        if oldest is None:
            warnings.append(ReportError(str(path), "the vulnerability database holds no "
                                        "source: run `dockwarden db update`"))
        elif ns.max_db_age:
            age = dt.datetime.now(dt.UTC) - (oldest if oldest.tzinfo else
                                             oldest.replace(tzinfo=dt.UTC))
            if age > dt.timedelta(days=ns.max_db_age):
                warnings.append(ReportError(str(path), (
                    f"the vulnerability database is {age.days} days old (imported "
                    f"{oldest:%Y-%m-%d}, older than --max-db-age {ns.max_db_age}): recent "
                    "advisories are missing; run `dockwarden db update`")))
        from dockwarden.vuln.match import Matcher  # univers: only with a database

        os_release = None if isinstance(snap.os_release, Unknown) else snap.os_release
        result = Matcher(db).match(snap.packages, os_release)
    finally:
        db.close()
    warnings.extend(ReportError(snap.ref, note) for note in result.notes)
    return replace(snap, vulnerabilities=result.matches, vulnerability_gaps=result.gaps)


def _script_files(root: str, passed_over: list[ReportError] | None = None) -> list[str]:
    """The files to read under `root` (or `root` itself when it is not a directory; a
    FIFO, device or symlink given by name is refused when it is opened). Entries of a
    directory that are not read (a symlink leaving `root`, a FIFO) are added to
    `passed_over`."""
    from dockwarden.safeio import walk_files

    if not os.path.isdir(root):
        if not os.path.lexists(root):
            raise InputError(f"{clean(root)}: no such file or directory")
        return [root]
    out: list[str] = []
    for path, why in walk_files(root):
        if why is None:
            out.append(path)
        elif passed_over is not None:
            passed_over.append(ReportError(path, why))
    return out


def _audit_run_commands(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.judge import judge_containers
    from dockwarden.collect.runcmd import find_run_commands, parse_run
    from dockwarden.model.container import ContainerContext

    started = _now()
    if not ns.lines and not ns.scan_scripts:
        raise UsageError("give a quoted `docker run ...` line or --scan-scripts PATH")
    specs = [parse_run(line) for line in ns.lines]
    errors: list[ReportError] = []
    targets = [ReportTarget(TargetKind.CONTAINER, "run-command", True)] if ns.lines else []
    from dockwarden.safeio import read_input

    for root in ns.scan_scripts:
        named = not os.path.isdir(root)  # a file named on the command line must be read
        for path in _script_files(root, errors):
            try:
                data = read_input(path, what="script", max_bytes=1 << 20,
                                  root=None if named else root)
            except InputError as exc:
                if named:
                    raise
                errors.append(ReportError(path, exc.message))
                continue
            if b"\0" in data[:8192] or b"docker" not in data:
                continue
            found = find_run_commands(data.decode("utf-8", "replace"))
            for line, command in found:
                try:
                    specs.append(parse_run(command, origin=path, line=line))
                except InputError as exc:
                    errors.append(ReportError(f"{path}:{line}", exc.message))
            if found:
                targets.append(ReportTarget(TargetKind.CONTAINER, path, True))
    selection = _selection(ns)
    results = judge_containers(specs, ContainerContext(), selection)
    return _file_report(started, targets, results, errors)


def _is_dockerfile(path: str) -> bool:
    name = os.path.basename(path).lower()
    return "dockerfile" in name or "containerfile" in name


def _dockerfiles(root: str, passed_over: list[ReportError]) -> list[str]:
    if not os.path.isdir(root):
        return _script_files(root)
    skipped: list[ReportError] = []
    found = [p for p in _script_files(root, skipped) if _is_dockerfile(p)]
    passed_over.extend(e for e in skipped if _is_dockerfile(e.target))
    if not found and not skipped:
        raise InputError(f"{clean(root)}: no Dockerfiles found")
    return found


# Many Dockerfiles are linted in worker processes (one per CPU, up to 4): parsing RUN
# bodies is CPU-bound Python. Below this many files a pool costs more than it saves.
PARALLEL_MIN_FILES = 64


def _lint_dockerfile(path: str, selection: Any) -> tuple[str, Any]:
    """(path, Results) of one Dockerfile, or (path, message) when it is refused."""
    from dockwarden.checks.judge import judge_dockerfile
    from dockwarden.collect.dockerfile import parse_dockerfile

    try:
        df = parse_dockerfile(path)
    except InputError as exc:
        return path, exc.message
    return path, judge_dockerfile(df, selection)


def _lint_dockerfiles(paths: list[str], selection: Any) -> list[tuple[str, Any]]:
    """Each file's outcome, in the order given; in forked workers when there are many."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cpus or 1, 4)
    # The Go runtime of the `dockerfile` package is not fork-safe: once it is loaded in
    # this process, forked workers would hang in it. Workers load it themselves.
    if len(paths) < PARALLEL_MIN_FILES or workers < 2 or "dockerfile" in sys.modules:
        return [_lint_dockerfile(p, selection) for p in paths]
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return [_lint_dockerfile(p, selection) for p in paths]
    # Import the pure-Python parts the workers need once, before they are forked.
    import bashlex  # noqa: F401  (building its parser tables takes ~0.2 s)

    from dockwarden.checks.registry import Scope, load

    load(Scope.DOCKERFILE)
    chunk = max(1, len(paths) // (workers * 8))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.starmap(_lint_dockerfile, [(p, selection) for p in paths], chunk)


def _audit_dockerfiles(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.registry import Results

    started = _now()
    selection = _selection(ns)
    passed_over: list[ReportError] = []
    paths = [p for root in ns.paths for p in _dockerfiles(root, passed_over)]
    results = Results()
    targets = [ReportTarget(TargetKind.DOCKERFILE, e.target, False) for e in passed_over]
    errors: list[ReportError] = list(passed_over)
    for path, outcome in _lint_dockerfiles(paths, selection):
        if isinstance(outcome, str):
            if len(paths) == 1 and not passed_over:
                raise InputError(outcome)
            errors.append(ReportError(path, outcome))  # one bad file never stops the run
            targets.append(ReportTarget(TargetKind.DOCKERFILE, path, False))
            continue
        results.extend(outcome)
        targets.append(ReportTarget(TargetKind.DOCKERFILE, path, True))
    return _file_report(started, targets, results, errors)


def _audit_compose(ns: argparse.Namespace) -> Report:
    from dockwarden.checks.judge import judge_containers
    from dockwarden.collect.compose import find_compose_files, load_project
    from dockwarden.model.container import ContainerContext

    started = _now()
    projects: list[list[str]] = [list(ns.merge)] if ns.merge else []
    for path in ns.paths:
        if os.path.isdir(path):
            found = find_compose_files(path)
            if not found:
                raise InputError(f"{path}: no compose files found")
            projects.extend([f] for f in found)
        else:
            projects.append([path])
    if not projects:
        raise UsageError("name compose files (or a directory), or -f FILE")
    specs = []
    targets = []
    errors: list[ReportError] = []
    for files in projects:
        try:
            specs.extend(load_project(files, profiles=ns.profile))
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], True))
        except InputError as exc:
            if len(projects) == 1:
                raise
            errors.append(ReportError(files[-1], exc.message))  # one bad file never stops
            targets.append(ReportTarget(TargetKind.COMPOSE, files[-1], False))
    selection = _selection(ns)
    results = judge_containers(specs, ContainerContext(), selection)
    return _file_report(started, targets, results, errors)


def _sbom(ns: argparse.Namespace) -> int:
    from dockwarden.collect.image.open import collect_image

    snaps = [collect_image(req, _engine_factory(ns), progress=_image_progress(ns))
             for req in _image_requests(ns)]
    if ns.format == "spdx":
        from dockwarden.report import spdx
        text = spdx.render(snaps, tool_version=__version__, timestamp=_now())
    else:
        from dockwarden.report import cyclonedx
        text = cyclonedx.render(snaps, tool_version=__version__, timestamp=_now())
    _write(ns.output, text)
    return 0


def _apply_ignore(report: Report, path: str | None) -> Report:
    if not path:
        return report
    from dataclasses import replace

    from dockwarden import ignore
    from dockwarden.safeio import read_text

    text = read_text(path, what="ignore file", max_bytes=ignore.MAX_BYTES)
    accepted = ignore.parse(text, clean(path))
    index = ignore.Index(accepted)
    today = dt.date.today()
    kept: list[Finding] = []
    ignored = list(report.ignored)
    expired: dict[int, int] = {}  # entry -> findings it would have suppressed
    for f in report.findings:
        match = index.match(f, today)
        if match is None:
            kept.append(f)
            for a in index.candidates(f):
                if a.expired(today):
                    expired[a.entry] = expired.get(a.entry, 0) + 1
        else:
            ignored.append((f, match.reason))
    warnings = list(report.warnings)
    for a in accepted:
        if a.entry in expired:
            warnings.append(ReportError(clean(path), (
                f"ignore {a.describe()} expired on {a.expires}: it no longer suppresses "
                f"{expired[a.entry]} finding(s)")))
    return replace(report, findings=tuple(kept), ignored=tuple(ignored),
                   warnings=tuple(warnings))


_INLINE = re.compile(r"#\s*dockwarden:\s*ignore=([A-Za-z0-9,]+)\s*(.*)")


def _apply_inline_ignores(report: Report) -> Report:
    """`# dockwarden: ignore=DW501 reason` on the finding's line or the line above it, in
    Dockerfiles and compose files, accepts that risk (a reason is required)."""
    from dataclasses import replace

    cache: dict[str, list[str]] = {}
    kept: list[Finding] = []
    ignored = list(report.ignored)
    for f in report.findings:
        line = f.target.line
        if f.target.kind not in (TargetKind.DOCKERFILE, TargetKind.COMPOSE) or not line:
            kept.append(f)
            continue
        if f.target.ref not in cache:
            from dockwarden.safeio import read_input

            try:
                data = read_input(f.target.ref, max_bytes=4 << 20)
                cache[f.target.ref] = data.decode("utf-8", "replace").splitlines()
            except InputError:
                cache[f.target.ref] = []
        lines = cache[f.target.ref]
        reason = None
        for text in lines[max(0, line - 2): line]:
            m = _INLINE.search(text)
            if m and f.check in {i.strip().upper() for i in m.group(1).split(",")} \
                    and m.group(2).strip():
                reason = m.group(2).strip()
        if reason is None:
            kept.append(f)
        else:
            ignored.append((f, f"inline: {reason}"))
    return replace(report, findings=tuple(kept), ignored=tuple(ignored))


def _render(report: Report, ns: argparse.Namespace, colour: bool) -> str:
    from dockwarden.report import shown

    visible = shown(report, ns.severity)
    if ns.format == "json":
        from dockwarden.report import json as json_report
        return json_report.render(visible, pretty=not ns.output and sys.stdout.isatty())
    if ns.format in ("sarif", "junit"):
        from dockwarden.checks import iter_catalogue
        rules = list(iter_catalogue())
        if ns.format == "sarif":
            from dockwarden.report import sarif
            return sarif.render(visible, rules)
        from dockwarden.report import junit
        return junit.render(visible, rules)
    if ns.format == "markdown":
        from dockwarden.report import markdown
        return markdown.render(visible)
    from dockwarden.report import text
    width = 120
    if colour:
        width = max(80, min(200, os.get_terminal_size(sys.stdout.fileno()).columns))
    return text.render(visible, colour=colour, width=width, quiet=ns.quiet)


_write = write_output


def _catalogue(ns: argparse.Namespace) -> int:
    import json

    from dockwarden.checks import iter_catalogue
    rows = [{
        "id": m.id, "severity": m.severity.value, "scope": m.scope.value,
        "target": m.target_kind.value, "title": m.title, "rationale": m.rationale,
        "remediation": m.remediation, "references": list(m.references),
        "bad": list(m.bad), "good": list(m.good),
    } for m in iter_catalogue()]
    if ns.format == "json":
        _write(ns.output, json.dumps(rows, indent=2) + "\n")
    elif ns.format == "markdown":
        from dockwarden.report.markdown import catalogue
        _write(ns.output, catalogue(rows))
    else:
        from dockwarden.report.text import render_catalogue
        _write(ns.output, render_catalogue(rows, colour=not ns.output and sys.stdout.isatty()))
    return 0


def exit_code(report: Report, fail_on: Severity | None) -> int:
    if not report.complete:
        return 3
    if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in report.findings):
        return 1
    return 0


def _unreachable_report(ns: argparse.Namespace, exc: EngineUnreachable) -> None:
    """Nothing was audited: still write a report that says so when asked for a file."""
    if ns.output and ns.format == "json":
        now = _now()
        _write(ns.output, _render(Report(
            started=now, finished=now,
            targets=(ReportTarget(TargetKind.ENGINE, ns.host or os.environ.get(
                "DOCKER_HOST", "unix:///var/run/docker.sock"), False),),
            findings=(), errors=(ReportError("engine", exc.message),)), ns, False))


def _files_instead(ns: argparse.Namespace, exc: EngineUnreachable) -> Report | None:
    """A bare `dockwarden` with no reachable Engine lints the Dockerfiles and compose
    files under the current directory instead, and says so in one line."""
    from dataclasses import replace

    from dockwarden.collect.compose import find_compose_files

    dockerfiles = [p for p in _script_files(".") if _is_dockerfile(p)]
    composes = find_compose_files(".")
    if not dockerfiles and not composes:
        return None
    print(f"dockwarden: {exc.message}; auditing {len(dockerfiles)} Dockerfile(s) and "
          f"{len(composes)} compose file(s) under {os.getcwd()} instead", file=sys.stderr)
    parts = []
    if dockerfiles:
        parts.append(_audit_dockerfiles(argparse.Namespace(**{**vars(ns),
                                                              "paths": dockerfiles})))
    if composes:
        parts.append(_audit_compose(argparse.Namespace(**{**vars(ns), "paths": composes,
                                                          "merge": [], "profile": []})))
    first = parts[0]
    for other in parts[1:]:
        first = replace(first, targets=first.targets + other.targets,
                        findings=first.findings + other.findings,
                        skipped=first.skipped + other.skipped,
                        errors=first.errors + other.errors, passed=first.passed + other.passed,
                        finished=other.finished)
    return first


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


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _argv(raw)
    ns = build_parser(only=args[0] if args and args[0] in COMMANDS else None).parse_args(args)
    implicit = not any(a in COMMANDS for a in raw)  # a bare `dockwarden [options]`
    try:
        if ns.command == "checks":
            return _catalogue(ns)
        if ns.command == "db":
            from dockwarden.commands import db
            return db.run(ns)
        if ns.command == "sbom":
            return _sbom(ns)
        try:
            if ns.command == "image":
                report = _audit_image(ns)
            elif ns.command == "dockerfile":
                report = _audit_dockerfiles(ns)
            elif ns.command == "compose":
                report = _audit_compose(ns)
            elif ns.command == "run-command":
                report = _audit_run_commands(ns)
            else:
                report = _audit_engine(ns)
        except EngineUnreachable as exc:
            fallback = _files_instead(ns, exc) if implicit and not ns.host else None
            if fallback is not None:
                report = fallback
            else:
                _unreachable_report(ns, exc)
                raise
        report = _apply_ignore(_apply_inline_ignores(report), ns.ignore)

        colour = (ns.format == "text" and not ns.output and sys.stdout.isatty()
                  and "NO_COLOR" not in os.environ)
        _write(ns.output, _render(report, ns, colour))
        if not report.complete:
            for e in report.errors:
                where = "" if e.message.startswith(e.target) else f"{e.target}: "
                print(f"dockwarden: {clean(where)}{clean(e.message)}", file=sys.stderr)
        return exit_code(report, ns.fail_on)
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


_SUBCOMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("engine", "daemon + host + every container (the main job)", _engine_cmd),
    ("daemon", "the daemon and its host only", _engine_cmd),
    ("containers", "containers only (all, or the ones named)", _containers_cmd),
    ("image", "one image: config, filesystem, packages, secrets", _image_cmd),
    ("sbom", "package inventory of images (CycloneDX or SPDX JSON)", _sbom_cmd),
    ("dockerfile", "Dockerfiles, before anything is built (files, or directories searched "
     "for Dockerfile*)", _dockerfile_cmd),
    ("compose", "compose files, before anything runs: each FILE (or each compose file "
     "under a directory) is its own project", _compose_cmd),
    ("run-command", "judge `docker run` command lines like live containers (quote each "
     "line)", _run_command_cmd),
    ("checks", "print the check catalogue", _checks_cmd),
    ("db", "the local vulnerability database: update, import, status", _db_options),
)
assert tuple(name for name, _, _ in _SUBCOMMANDS) == COMMANDS
