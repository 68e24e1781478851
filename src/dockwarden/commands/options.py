"""Option groups and value types shared by the commands: output, Engine connection, image
source."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from dockwarden.model.common import Severity

if TYPE_CHECKING:
    from dockwarden.collect.connection import EngineOptions

FORMATS = ("text", "json", "sarif", "junit", "markdown", "html")
PROFILES = ("cis",)


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


def seconds(text: str, option: str) -> float:
    """`option`'s value: a finite number of seconds above 0, at most a day
    (deadline.check_timeout)."""
    from dockwarden.deadline import check_timeout

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    try:
        return check_timeout(value, option)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def timeout_seconds(text: str) -> float:
    """argparse type of every `--timeout`."""
    return seconds(text, "--timeout")




def _known_severity(text: str) -> Severity:
    try:
        return Severity.parse(text, allow_unknown=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """An option's whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def int_within(text: str, option: str, low: int, high: int) -> int:
    """`option`'s whole number, from `low` to `high`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{option} must be within {low}-{high}")
    return value


def _ids(text: str) -> list[str]:
    return [p.strip().upper() for p in text.split(",") if p.strip()]


def _host_root(text: str) -> str:
    import os

    if not text or not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a directory: {text!r}")
    return os.path.abspath(text)


def output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--format", choices=FORMATS, default="text", help="report format")
    g.add_argument("-o", "--output", metavar="FILE", help="write the report here (default stdout)")
    g.add_argument("--severity", type=_severity_list, metavar="LIST",
                   help="severities to show, e.g. critical,high (default: all)")
    g.add_argument("--fail-on", type=_fail_on, default=Severity.HIGH, metavar="SEVERITY",
                   help="exit 1 when a finding at or above this severity remains "
                   "(default: high; 'none' never fails)")
    g.add_argument("--unknown-severity", type=_known_severity, default=None,
                   metavar="SEVERITY", help="how --fail-on weighs a vulnerability that no "
                   "source scores (severity 'unknown'; default: as high)")
    g.add_argument("--ignore", metavar="FILE",
                   help="accepted risks: YAML list of {check, target?, reason, expires?}")
    g.add_argument("--check", action="append", type=_ids, default=[], metavar="ID",
                   help="run only these checks (ids or prefixes such as DW2; repeatable)")
    g.add_argument("--skip", action="append", type=_ids, default=[], metavar="ID",
                   help="do not run these checks (ids or prefixes; repeatable)")
    g.add_argument("--baseline", metavar="OLD.json",
                   help="report and fail only on findings that this earlier JSON report "
                   "(--format json) does not hold; the others are listed as ignored "
                   "(matched by check, target and evidence, not by line)")
    profile = ("CIS Docker Benchmark 1.6.0: run only the checks mapped to its controls "
               "and show the CIS ids next to ours")
    try:
        g.add_argument("--profile", "--benchmark", dest="benchmark", choices=PROFILES,
                       metavar="cis", help=profile)
    except argparse.ArgumentError:  # compose: --profile names compose profiles
        g.add_argument("--benchmark", dest="benchmark", choices=PROFILES, metavar="cis",
                       help=f"{profile} (`--profile` of compose names compose profiles)")
    g.add_argument("--details", action="store_true",
                   help="text: every finding of every target, not only the summary")
    g.add_argument("-q", "--quiet", action="store_true", help="findings only, no fixes")
    g.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    c = p.add_argument_group("configuration")
    c.add_argument("--config", metavar="FILE",
                   help="read option defaults, severity-overrides and disable lists from "
                   "this YAML file (default: ./.dockwarden.yaml, else "
                   "$XDG_CONFIG_HOME/dockwarden/config.yaml, i.e. "
                   "~/.config/dockwarden/config.yaml); the command line wins over it")
    c.add_argument("--no-config", action="store_true", help="read no config file")


class _Once(argparse.Action):
    """A store option given at most once: a second -H or --context is refused rather than
    silently winning (the Engine commands take them as _Repeat)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        given = f"_{self.dest}_given"  # not the value: a config file may set a default
        if getattr(namespace, given, False):
            raise argparse.ArgumentError(
                self, "given twice: this command works on one Engine (`dockwarden engine` "
                "and `containers` audit many in one run)")
        setattr(namespace, given, True)
        setattr(namespace, self.dest, values)


class _Repeat(argparse.Action):
    """A store option that may be repeated: the last value in `dest` (what every single-
    Engine path reads) and all of them in `dest`_all (a run over many Engines)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        seen = list(getattr(namespace, self.dest + "_all", None) or [])
        seen.append(values)
        setattr(namespace, self.dest + "_all", seen)
        setattr(namespace, self.dest, values)


def engine_options(p: argparse.ArgumentParser, *, containers: bool = True,
                   many: bool = False) -> None:
    """The Engine connection, as the docker CLI takes it; with `containers`, also the
    options of a container audit (`--workers`, `--no-local`); with `many`, -H and
    --context may be repeated (the Engine commands: commands/engine.py fleet_options)."""
    g = p.add_argument_group("engine connection (as the docker CLI)")
    action, more = ((_Repeat, "; repeatable: one report over every Engine named") if many
                    else (_Once, ""))
    g.add_argument("-H", "--host", action=action,
                   help="Engine URL (default: DOCKER_HOST, the current context, or "
                   f"unix:///var/run/docker.sock){more}")
    g.add_argument("-c", "--context", action=action, help=f"Docker context to use{more}")
    g.add_argument("--tls", action="store_true", help="use TLS")
    g.add_argument("--tlsverify", action="store_true", help="use TLS and verify the server")
    g.add_argument("--tlscacert", metavar="FILE",
                   help="trust only Engine certificates signed by this CA (PEM)")
    g.add_argument("--tlscert", metavar="FILE", help="client certificate for the Engine (PEM)")
    g.add_argument("--tlskey", metavar="FILE", help="client certificate's private key (PEM)")
    g.add_argument("--timeout", type=timeout_seconds, default=30.0,
                   help="time limit of each Engine API or registry request, in seconds "
                   "(default 30)")
    if not containers:
        return
    g.add_argument("--workers", type=int, default=8,
                   help="concurrent container inspections (default 8)")
    g.add_argument("--no-local", action="store_true",
                   help="do not read local daemon/host files even if the Engine is local")
    g.add_argument("--host-root", metavar="PATH", type=_host_root,
                   help="the host's / is mounted (read-only) at PATH, as in a container "
                   "run with -v /:/host:ro: read the local daemon and host files "
                   "(daemon.json, sysctls, audit rules, groups, socket modes) under PATH, "
                   "and dockerd's /proc through the host's PID namespace (--pid host)")


def engine_from(ns: argparse.Namespace, timeout: float | None = None) -> EngineOptions:
    """The Engine connection that engine_options' options name (`timeout` instead of
    --timeout when given)."""
    from dockwarden.collect.connection import EngineOptions

    return EngineOptions(host=ns.host, context=ns.context, tls=ns.tls, tlsverify=ns.tlsverify,
                         tlscacert=ns.tlscacert, tlscert=ns.tlscert, tlskey=ns.tlskey,
                         timeout=ns.timeout if timeout is None else timeout)


def size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500MiB, 2GiB)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * scale)


DEFAULT_MAX_DB_AGE = 7  # days: advisories change daily; a week-old database misses fixes


def days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("--max-db-age cannot be negative")
    return days


def image_options(p: argparse.ArgumentParser, many: bool) -> None:
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
    login_options(g)


def login_options(g: argparse._ArgumentGroup) -> None:
    """`--username` and `--password-stdin`, as `docker login` takes them."""
    g.add_argument("--username", metavar="USER",
                   help="registry user name (default: Docker's config.json credentials)")
    g.add_argument("--password-stdin", action="store_true",
                   help="read the registry password (or token) for --username from the "
                   "first line of standard input")


MAX_PASSWORD = 4096


def registry_login(ns: argparse.Namespace) -> tuple[str | None, str | None]:
    """(user, password) from `--username` and `--password-stdin`, or (None, None) for
    Docker's own credentials. The password is the first line of standard input: call
    this once per run (it is not kept on the namespace, where a repr would show it)."""
    import sys

    from dockwarden.errors import InputError, UsageError

    user = getattr(ns, "username", None)
    stdin = getattr(ns, "password_stdin", False)
    if not user and not stdin:
        return None, None
    if not user:
        raise UsageError("--password-stdin needs --username")
    if not stdin:
        raise UsageError("--username needs --password-stdin",
                         "pass the password on standard input: ... --password-stdin < FILE")
    try:
        line = sys.stdin.readline(MAX_PASSWORD + 1) if sys.stdin is not None else ""
    except (OSError, UnicodeDecodeError, ValueError):
        raise InputError("--password-stdin: cannot read a password from standard "
                         "input") from None
    password = line.rstrip("\r\n")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"--password-stdin: the password is longer than {MAX_PASSWORD} "
                         "characters")
    if not password:
        raise InputError("--password-stdin: no password on standard input")
    return user, password


def image_user_options(p: argparse.ArgumentParser, *, subject: str, check: str) -> None:
    """The Engine connection and the look-ups of an image's configured user: DW501 (the
    `subject` "base image" of a Dockerfile) and DW220 (the "image" of a compose service or
    `docker run` line) take the same options."""
    engine_options(p, containers=False)
    b = p.add_argument_group(f"{subject} user ({check})")
    b.add_argument("--no-engine", action="store_true",
                   help=f"do not ask the local Engine for the {subject}'s configured user "
                   "(by default it is tried quickly and skipped when it does not answer)")
    b.add_argument("--resolve-base", action="store_true",
                   help=f"read the {subject}'s configured user from its registry (the "
                   "manifest and the config blob only, never the layers) when the Engine "
                   "does not have it")
