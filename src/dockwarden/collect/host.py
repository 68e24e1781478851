"""Local facts about the Docker daemon process and the host it runs on.

What this module reads, all of it read-only:

* `/proc`: which `dockerd` serves a socket (`/proc/net/unix`, `/proc/net/tcp{,6}`
  and the `socket:[inode]` links in `/proc/PID/fd`), that daemon's command line and
  environment, the kernel release and limits in `/proc/sys`, the enabled cgroup v1
  controllers in `/proc/cgroups` and the mount table in `/proc/PID/mountinfo`;
* the daemon's `daemon.json` and TLS files, read through `/proc/PID/root` so that a
  daemon in another mount namespace is seen as it sees itself;
* the host: the socket's owner and mode, `/etc/group` and `/etc/passwd`, unit files
  and other Docker configuration files, audit rules (`auditctl -l` with a timeout,
  else the rule files), `/sys/fs/cgroup`.

Run in a container with the host's `/` mounted read-only at a host root (`--host-root
/host` with `-v /:/host:ro`), every host file is read under that root (`host_path`, the
one function that prefixes it) and the host's processes through the `/proc` that shows
them (`host_proc`: ours with `--pid host`, else the host's procfs under the root).

It produces `DaemonSettings` and `HostSnapshot` (see `model/engine.py`). Every
HostSnapshot field is gathered on its own: a failure becomes `Unknown(reason)`.

Why hand-written: no maintained library parses dockerd's command-line flags
(Go `pflag` semantics, daemon.json key names), maps a listening unix/TCP socket back to
the process that owns it through `/proc`, or decodes `mountinfo`. psutil could list
processes and connections but not unix socket paths by inode in another namespace, and
would be a compiled dependency for three small parsers. Certificates are parsed with
`cryptography`, never by hand.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

from dockwarden.model.common import Unknown
from dockwarden.model.engine import (
    CertFacts,
    DaemonSettings,
    FileFacts,
    HostSnapshot,
    MountFacts,
    parse_listener,
)

__all__ = ["find_dockerd", "gather_host", "host_path", "host_proc", "read_daemon_settings"]

MAX_READ = 1 << 20
"""Largest configuration or certificate file read (1 MiB); larger ones are refused."""

DEFAULT_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DEFAULT_CONFIG_FILE = "/etc/docker/daemon.json"
AUDITCTL_TIMEOUT = 5.0
AUDIT_BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
# The reason given when auditd is absent; checks/host.py (DW132) fires on it. The two
# modules do not import each other (collect -> model -> checks), so the words are the
# contract; tests/test_collect_host.py checks both sides agree.
AUDITD_ABSENT = "auditd not installed"
MAX_CERTS_D_ENTRIES = 500
KERNEL_LIMIT_KEYS = (
    "kernel.pid_max",
    "kernel.threads-max",
    "fs.inotify.max_user_instances",
    "fs.inotify.max_user_watches",
)

_SOCKET_LINK = re.compile(r"socket:\[(\d+)\]")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
_TCP_LISTEN = "0A"
_MISSING = frozenset({2, 20})  # ENOENT, ENOTDIR: the file is simply not there


class _FileTooLargeError(ValueError):
    pass


def _read_capped(path: str, limit: int = MAX_READ) -> bytes:
    """The bytes of `path`; raises OSError, or ValueError if larger than `limit`."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _FileTooLargeError(f"larger than {limit} bytes")
    return data


def _read_text(path: str, limit: int = MAX_READ) -> str:
    return _read_capped(path, limit).decode("utf-8", errors="replace")


def _why(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__


def _clip(text: str, size: int = 200) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


# --------------------------------------------------------------------------- dockerd flags

_BOOL, _STR, _LIST, _MAP, _ULIMIT = "bool", "str", "list", "map", "ulimit"


@dataclass(frozen=True, slots=True)
class _Flag:
    key: str | None  # daemon.json name; None: understood but not a setting
    kind: str


_FLAGS: dict[str, _Flag] = {
    "host": _Flag("hosts", _LIST),
    "tls": _Flag("tls", _BOOL),
    "tlsverify": _Flag("tlsverify", _BOOL),
    "tlscacert": _Flag("tlscacert", _STR),
    "tlscert": _Flag("tlscert", _STR),
    "tlskey": _Flag("tlskey", _STR),
    "icc": _Flag("icc", _BOOL),
    "iptables": _Flag("iptables", _BOOL),
    "ip6tables": _Flag("ip6tables", _BOOL),
    "ip-forward": _Flag("ip-forward", _BOOL),
    "ip-masq": _Flag("ip-masq", _BOOL),
    "ipv6": _Flag("ipv6", _BOOL),
    "log-driver": _Flag("log-driver", _STR),
    "log-opt": _Flag("log-opts", _MAP),
    "log-level": _Flag("log-level", _STR),
    "default-ulimit": _Flag("default-ulimits", _ULIMIT),
    "userland-proxy": _Flag("userland-proxy", _BOOL),
    "userland-proxy-path": _Flag("userland-proxy-path", _STR),
    "no-new-privileges": _Flag("no-new-privileges", _BOOL),
    "live-restore": _Flag("live-restore", _BOOL),
    "userns-remap": _Flag("userns-remap", _STR),
    "authorization-plugin": _Flag("authorization-plugins", _LIST),
    "insecure-registry": _Flag("insecure-registries", _LIST),
    "registry-mirror": _Flag("registry-mirrors", _LIST),
    "experimental": _Flag("experimental", _BOOL),
    "debug": _Flag("debug", _BOOL),
    "seccomp-profile": _Flag("seccomp-profile", _STR),
    "data-root": _Flag("data-root", _STR),
    "graph": _Flag("data-root", _STR),  # the pre-17.05 name
    "exec-root": _Flag("exec-root", _STR),
    "bridge": _Flag("bridge", _STR),
    "bip": _Flag("bip", _STR),
    "ip": _Flag("ip", _STR),
    "storage-driver": _Flag("storage-driver", _STR),
    "storage-opt": _Flag("storage-opts", _LIST),
    "group": _Flag("group", _STR),
    "pidfile": _Flag("pidfile", _STR),
    "config-file": _Flag(None, _STR),
    "containerd": _Flag("containerd", _STR),
    "selinux-enabled": _Flag("selinux-enabled", _BOOL),
    "default-runtime": _Flag("default-runtime", _STR),
    "init": _Flag("init", _BOOL),
    "raw-logs": _Flag("raw-logs", _BOOL),
    "rootless": _Flag("rootless", _BOOL),
    "cgroup-parent": _Flag("cgroup-parent", _STR),
    "default-cgroupns-mode": _Flag("default-cgroupns-mode", _STR),
    "default-ipc-mode": _Flag("default-ipc-mode", _STR),
    "validate": _Flag(None, _BOOL),
    "version": _Flag(None, _BOOL),
    "help": _Flag(None, _BOOL),
}

_SHORT = {
    "H": "host",
    "D": "debug",
    "b": "bridge",
    "s": "storage-driver",
    "G": "group",
    "p": "pidfile",
    "l": "log-level",
    "g": "graph",
    "v": "version",
    "h": "help",
}

# daemon.json keys whose type dockwarden relies on; others pass through unchecked.
_JSON_KINDS: dict[str, str] = {f.key: f.kind for f in _FLAGS.values() if f.key}

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass(slots=True)
class _ParsedFlags:
    values: dict[str, Any] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # long flag names given
    config_file: str | None = None
    notes: list[str] = field(default_factory=list)


def _parse_bool(text: str) -> bool | None:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _ulimit_text(name: str, value: Any) -> str | None:
    """`soft:hard` for a daemon.json ulimit object or a flag's `soft[:hard]`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        soft, hard = value.get("Soft"), value.get("Hard")
        if isinstance(soft, int) and isinstance(hard, int) and not isinstance(soft, bool):
            return f"{soft}:{hard}"
    return None


def _store_flag(out: _ParsedFlags, name: str, raw: str | None) -> None:
    spec = _FLAGS[name]
    out.seen.add(name)
    if spec.kind == _BOOL:
        value = True if raw is None else _parse_bool(raw)
        if value is None:
            out.notes.append(f"flag --{name}={_clip(raw or '', 40)}: not a boolean, ignored")
            return
        if spec.key:
            out.values[spec.key] = value
        return
    if raw is None:
        out.notes.append(f"flag --{name}: missing value")
        return
    if name == "config-file":
        out.config_file = raw
        return
    key = spec.key
    assert key is not None
    if spec.kind == _STR:
        out.values[key] = raw
    elif spec.kind == _LIST:
        out.values.setdefault(key, []).append(raw)
    elif spec.kind == _MAP:
        k, sep, v = raw.partition("=")
        if not sep:
            out.notes.append(f"flag --{name}={_clip(raw, 40)}: expected key=value")
            return
        out.values.setdefault(key, {})[k] = v
    elif spec.kind == _ULIMIT:
        k, sep, v = raw.partition("=")
        if not sep:
            out.notes.append(f"flag --{name}={_clip(raw, 40)}: expected name=soft:hard")
            return
        out.values.setdefault(key, {})[k] = v


def _parse_flags(argv: Sequence[str]) -> _ParsedFlags:
    """dockerd's flags, parsed as Go's pflag does (`--f=v`, `--f v`, `-Hv`, `-DH v`)."""
    out = _ParsedFlags()
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            spec = _FLAGS.get(name)
            if spec is None:
                out.notes.append(f"flag --{_clip(name, 40)}: not understood, ignored")
                if not eq and i < len(args) and not args[i].startswith("-"):
                    i += 1  # assume it took a value
                continue
            if eq or spec.kind == _BOOL:
                _store_flag(out, name, value if eq else None)
            elif i < len(args):
                _store_flag(out, name, args[i])
                i += 1
            else:
                _store_flag(out, name, None)
        elif arg.startswith("-") and len(arg) > 1:
            shorthands = arg[1:]
            while shorthands:
                letter, shorthands = shorthands[0], shorthands[1:]
                name = _SHORT.get(letter, "")
                if not name:
                    out.notes.append(f"flag -{letter}: not understood, ignored")
                    break
                given: str | None = None
                if shorthands.startswith("="):
                    given, shorthands = shorthands[1:], ""
                elif _FLAGS[name].kind != _BOOL:
                    if shorthands:
                        given, shorthands = shorthands, ""
                    elif i < len(args):
                        given = args[i]
                        i += 1
                _store_flag(out, name, given)
        else:
            out.notes.append(f"argument {_clip(arg, 40)!r}: not a flag, ignored")
    return out


def _normalise_json(data: dict[str, Any], label: str, notes: list[str]) -> dict[str, Any]:
    """daemon.json values with the types checks rely on; others dropped with a note."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        kind = _JSON_KINDS.get(key)
        if kind is None:
            out[key] = value
        elif kind == _BOOL:
            if isinstance(value, bool):
                out[key] = value
            else:
                notes.append(f"{label}: {key!r} is not a boolean, ignored")
        elif kind == _STR:
            if isinstance(value, str):
                out[key] = value
            else:
                notes.append(f"{label}: {key!r} is not a string, ignored")
        elif kind == _LIST:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = list(value)
            else:
                notes.append(f"{label}: {key!r} is not a list of strings, ignored")
        elif kind == _MAP:
            if isinstance(value, dict) and all(
                isinstance(v, str | int | float | bool) for v in value.values()
            ):
                out[key] = {str(k): str(v) for k, v in value.items()}
            else:
                notes.append(f"{label}: {key!r} is not an object of strings, ignored")
        elif kind == _ULIMIT:
            limits: dict[str, str] = {}
            if isinstance(value, dict):
                for name, limit in value.items():
                    text = _ulimit_text(name, limit)
                    if text is None:
                        notes.append(f"{label}: default-ulimits {_clip(name, 40)!r} malformed")
                    else:
                        limits[name] = text
                out[key] = limits
            else:
                notes.append(f"{label}: {key!r} is not an object, ignored")
    return out


# --------------------------------------------------------------------------- /proc helpers


def _read_cmdline(proc: str, pid: int) -> list[str]:
    raw = _read_capped(f"{proc}/{pid}/cmdline")
    argv = raw.decode("utf-8", errors="replace").split("\0")
    if argv and argv[-1] == "":
        argv.pop()
    return argv


def _read_environ(proc: str, pid: int) -> dict[str, str] | None:
    try:
        raw = _read_capped(f"{proc}/{pid}/environ")
    except (OSError, ValueError):
        return None
    env: dict[str, str] = {}
    for item in raw.decode("utf-8", errors="replace").split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


def _process_euid(proc: str, pid: int) -> int | None:
    try:
        text = _read_text(f"{proc}/{pid}/status")
    except (OSError, ValueError):
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                return int(fields[2])
    return None


def _dockerd_pids(proc: str) -> list[int]:
    pids: list[int] = []
    try:
        entries = [e.name for e in os.scandir(proc) if e.name.isdigit()]
    except OSError:
        return pids
    for name in entries:
        try:
            comm = _read_text(f"{proc}/{name}/comm", 256).strip()
        except (OSError, ValueError):
            continue
        if comm == "dockerd":
            pids.append(int(name))
    return sorted(pids)


def _socket_inodes_of(proc: str, pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = f"{proc}/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        match = _SOCKET_LINK.fullmatch(target)
        if match:
            inodes.add(match.group(1))
    return inodes


def _path_aliases(path: str) -> set[str]:
    """The spellings under which a unix socket path may appear in /proc/net/unix."""
    if path.startswith("unix://"):
        path = path[len("unix://") :]
    names = {path, os.path.normpath(path)}
    with contextlib.suppress(OSError, ValueError):
        names.add(os.path.realpath(path))
    for name in list(names):
        if name.startswith("/var/run/"):
            names.add(name[len("/var") :])
        elif name.startswith("/run/"):
            names.add("/var" + name)
    return names


def _iter_lines(path: str) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            yield from fh
    except OSError:
        return


def _unix_inodes(table: str, aliases: set[str]) -> set[str]:
    inodes: set[str] = set()
    for line in _iter_lines(table):
        fields = line.rstrip("\n").split(None, 7)
        if len(fields) == 8 and fields[7] in aliases and fields[6].isdigit():
            inodes.add(fields[6])
    return inodes


def _tcp_inodes(table: str, port: int) -> set[str]:
    inodes: set[str] = set()
    for line in _iter_lines(table):
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN or ":" not in fields[1]:
            continue
        try:
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
        except ValueError:
            continue
        if local_port == port and fields[9].isdigit():
            inodes.add(fields[9])
    return inodes


def _listening_inodes(proc: str, base: str, socket_path: str | None, port: int | None) -> set[str]:
    inodes: set[str] = set()
    if socket_path:
        inodes |= _unix_inodes(f"{base}/net/unix", _path_aliases(socket_path))
    if port is not None:
        inodes |= _tcp_inodes(f"{base}/net/tcp", port)
        inodes |= _tcp_inodes(f"{base}/net/tcp6", port)
    return inodes


def find_dockerd(socket_path: str | None, tcp_port: int | None, proc: str = "/proc") -> int | None:
    """PID of the dockerd that serves this unix socket path (or listening TCP port).

    Several dockerd may run on one host, so the socket's inode, taken from
    `/proc/net/unix` (or `/proc/net/tcp`, `tcp6`), is matched against the
    `socket:[inode]` links in `/proc/PID/fd` of every process whose comm is
    `dockerd`. Without access to those, a dockerd whose `-H/--host` flags name the
    socket is taken; and if only one dockerd runs and the socket is the default
    (`/var/run/docker.sock`, `/run/docker.sock`, or none given), that one.
    Returns None when no dockerd can be tied to the socket.
    """
    pids = _dockerd_pids(proc)
    if not pids:
        return None

    inodes = _listening_inodes(proc, proc, socket_path, tcp_port)
    for pid in pids:
        if inodes and _socket_inodes_of(proc, pid) & inodes:
            return pid
    for pid in pids:  # a dockerd in another network namespace has its own tables
        own = _listening_inodes(proc, f"{proc}/{pid}", socket_path, tcp_port)
        if own and _socket_inodes_of(proc, pid) & own:
            return pid

    aliases = _path_aliases(socket_path) if socket_path else set()
    without_hosts: list[int] = []
    for pid in pids:
        try:
            hosts = _parse_flags(_read_cmdline(proc, pid)).values.get("hosts", [])
        except (OSError, ValueError):
            continue
        if not hosts:
            without_hosts.append(pid)
        for raw in hosts:
            listener = parse_listener(raw)
            if listener.scheme == "unix" and listener.address in aliases:
                return pid
            if listener.scheme == "tcp" and tcp_port is not None and listener.port == tcp_port:
                return pid

    is_default = socket_path in DEFAULT_SOCKETS or (socket_path is None and tcp_port is None)
    if is_default:
        if len(without_hosts) == 1:
            return without_hosts[0]
        if len(pids) == 1:
            return pids[0]
    return None


# --------------------------------------------------------------------------- daemon settings


def _in_process_root(proc: str, pid: int | None, path: str, fallback_root: str = "/") -> str:
    """Where to open `path` as process `pid` sees it.

    Through `/proc/PID/root` when that is accessible, else relative to
    `fallback_root` (the plain path by default).
    """
    if pid is not None and os.path.isabs(path):
        proc_root = f"{proc}/{pid}/root"
        if os.path.isdir(proc_root):
            return proc_root + path
    return host_path(fallback_root, path)


def host_path(root: str, path: str) -> str:
    """Where the host's absolute `path` is read when the host's `/` is at `root`.

    The one place that prefixes the host root (`--host-root`, e.g. `/host` in a
    container run with `-v /:/host:ro`): every host file this module opens or stats
    that is not reached through `/proc` goes through it. `root` "/" (or "") is the
    live root and leaves `path` as it is; a relative `path` is left as it is too.
    """
    if root in ("", "/") or not os.path.isabs(path):
        return path
    return os.path.join(root, path.lstrip("/"))


def _is_host_proc(proc: str) -> bool:
    """Whether `proc` is a procfs of the host's PID namespace: there, and only there,
    PID 2 is the kernel's `kthreadd` (in any other PID namespace PID 2 is a process of
    that namespace, or nothing)."""
    try:
        return _read_text(f"{proc}/2/comm", 256).strip() == "kthreadd"
    except (OSError, ValueError):
        return False


def host_proc(root: str = "/", proc: str = "/proc") -> str:
    """The `/proc` that shows the host's processes, for a host whose `/` is at `root`.

    On the live root: `proc`. Under a host root (a container): `proc` itself when the
    container shares the host's PID namespace (`docker run --pid host`), where
    `/proc/self` and `/proc/net` are ours to read; else the host's own procfs mount
    under the root (`/host/proc`) if it shows the host's processes; else `proc`, where
    no dockerd is found and the daemon facts are skipped with that reason.
    """
    if root in ("", "/") or _is_host_proc(proc):
        return proc
    mounted = host_path(root, "/proc")
    return mounted if _is_host_proc(mounted) else proc


def _default_config_file(euid: int | None, env: dict[str, str] | None) -> str:
    if euid in (None, 0) or env is None:
        return DEFAULT_CONFIG_FILE
    base = env.get("XDG_CONFIG_HOME") or (
        os.path.join(env["HOME"], ".config") if env.get("HOME") else ""
    )
    return os.path.join(base, "docker", "daemon.json") if base else DEFAULT_CONFIG_FILE


def _load_daemon_json(
    real_path: str, label: str, explicit: bool, notes: list[str]
) -> dict[str, Any]:
    try:
        raw = _read_capped(real_path)
    except FileNotFoundError:
        notes.append(f"{label}: {'missing' if explicit else 'not present'}")
        return {}
    except _FileTooLargeError as err:
        notes.append(f"{label}: too large ({err}), ignored")
        return {}
    except OSError as err:
        notes.append(f"{label}: unreadable: {_why(err)}")
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        notes.append(f"{label}: invalid JSON: not UTF-8 text")
        return {}
    except RecursionError:
        notes.append(f"{label}: invalid JSON: nested too deeply")
        return {}
    except ValueError as err:
        notes.append(f"{label}: invalid JSON: {_clip(str(err))}")
        return {}
    if not isinstance(data, dict):
        notes.append(f"{label}: invalid JSON: top level is not an object")
        return {}
    notes.append(label)
    return _normalise_json(data, label, notes)


def read_daemon_settings(pid: int, proc: str = "/proc", root: str = "/") -> DaemonSettings:
    """The effective settings of dockerd `pid`: its flags merged over its daemon.json.

    Reads `/proc/PID/cmdline` and the daemon.json named by `--config-file` (by default
    `/etc/docker/daemon.json`, or `~/.config/docker/daemon.json` for a rootless
    daemon), through `/proc/PID/root` (else under `root`, the host's `/`: a container
    has no right to follow dockerd's `/proc/PID/root`). Values are keyed by daemon.json
    names; a flag wins over daemon.json (dockerd itself refuses to start on such a
    conflict, which is noted in `sources`). A missing, unreadable, too large or invalid daemon.json
    is recorded in `sources` and the flags are kept. `--tlsverify` (given at all, or
    DOCKER_TLS_VERIFY in dockerd's environment) implies `tls`; with TLS on, TLS file
    paths not given default to `$DOCKER_CERT_PATH` or `~/.docker` as in dockerd.

    Only options that are set appear in `values`: dockerd's defaults are not filled in.
    Raises OSError if the process's command line cannot be read (it has exited).
    """
    cmdline_path = f"{proc}/{pid}/cmdline"
    argv = _read_cmdline(proc, pid)
    if not argv:
        raise ProcessLookupError(3, f"process {pid} has no command line", cmdline_path)
    flags = _parse_flags(argv)
    env = _read_environ(proc, pid)
    euid = _process_euid(proc, pid)
    notes: list[str] = [cmdline_path, *flags.notes]

    explicit = flags.config_file is not None
    config_file = flags.config_file or _default_config_file(euid, env)
    if os.path.isabs(config_file):
        real = _in_process_root(proc, pid, config_file, root)
    else:
        real = os.path.join(f"{proc}/{pid}/cwd", config_file)
    from_json = _load_daemon_json(real, config_file, explicit, notes)

    values: dict[str, Any] = dict(from_json)
    for key, value in flags.values.items():
        if key in from_json:
            notes.append(f"conflict: {key!r} set both as a flag and in {config_file}")
        if isinstance(value, dict) and isinstance(from_json.get(key), dict):
            values[key] = {**from_json[key], **value}
        else:
            values[key] = value

    if "tlsverify" not in values and env and env.get("DOCKER_TLS_VERIFY"):
        values["tlsverify"] = True
        notes.append("environment: DOCKER_TLS_VERIFY")
    if "tlsverify" in flags.seen or values.get("tlsverify") is True:
        values["tls"] = True
    if values.get("tls") is True:
        _default_tls_files(values, env, euid, notes)

    return DaemonSettings(
        pid=pid,
        cmdline=tuple(argv),
        config_file=config_file,
        values=values,
        sources=tuple(notes),
    )


def _default_tls_files(
    values: dict[str, Any], env: dict[str, str] | None, euid: int | None, notes: list[str]
) -> None:
    env = env or {}
    cert_dir = env.get("DOCKER_CERT_PATH") or env.get("DOCKER_CONFIG")
    if not cert_dir:
        home = env.get("HOME") or ("/root" if euid in (None, 0) else "")
        if not home:
            return
        cert_dir = os.path.join(home, ".docker")
    wanted = [("tlscert", "cert.pem"), ("tlskey", "key.pem")]
    if values.get("tlsverify") is True:
        wanted.insert(0, ("tlscacert", "ca.pem"))
    filled = []
    for key, name in wanted:
        if not isinstance(values.get(key), str):
            values[key] = os.path.join(cert_dir, name)
            filled.append(key)
    if filled:
        notes.append(f"defaults: {', '.join(filled)} in {cert_dir}")


# --------------------------------------------------------------------------- host


class _Names:
    """uid/gid to names: pwd/grp on the live root, else that root's /etc files."""

    def __init__(self, root: str) -> None:
        self._live = root in ("", "/")
        self._root = root
        self._users: dict[int, str] | None = None
        self._groups: dict[int, str] | None = None

    def _table(self, name: str) -> dict[int, str]:
        table: dict[int, str] = {}
        with contextlib.suppress(OSError, ValueError):
            for line in _read_text(host_path(self._root, f"/etc/{name}")).splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[2].isdigit():
                    table.setdefault(int(fields[2]), fields[0])
        return table

    def user(self, uid: int) -> str:
        if self._live:
            with contextlib.suppress(KeyError, OverflowError):
                return pwd.getpwuid(uid).pw_name
            return str(uid)
        if self._users is None:
            self._users = self._table("passwd")
        return self._users.get(uid, str(uid))

    def group(self, gid: int) -> str:
        if self._live:
            with contextlib.suppress(KeyError, OverflowError):
                return grp.getgrgid(gid).gr_name
            return str(gid)
        if self._groups is None:
            self._groups = self._table("group")
        return self._groups.get(gid, str(gid))


def _file_facts(path: str, role: str, st: os.stat_result, names: _Names) -> FileFacts:
    return FileFacts(
        path=path,
        role=role,
        uid=st.st_uid,
        gid=st.st_gid,
        mode=stat.S_IMODE(st.st_mode),
        owner=names.user(st.st_uid),
        group=names.group(st.st_gid),
        is_socket=stat.S_ISSOCK(st.st_mode),
    )


def _kernel_release(proc: str) -> str | Unknown:
    try:
        text = _read_text(f"{proc}/sys/kernel/osrelease", 4096).strip()
        if text:
            return text
    except (OSError, ValueError):
        pass
    try:
        return os.uname().release
    except OSError as err:  # pragma: no cover - uname does not fail on Linux
        return Unknown(f"kernel release unreadable: {_why(err)}")


def _cgroups(proc: str, root: str) -> tuple[int | Unknown, frozenset[str] | Unknown]:
    base = host_path(root, "/sys/fs/cgroup")
    controllers_file = os.path.join(base, "cgroup.controllers")
    if os.path.exists(controllers_file):
        try:
            return 2, frozenset(_read_text(controllers_file, 65536).split())
        except (OSError, ValueError) as err:
            return 2, Unknown(f"{controllers_file}: {_why(err)}")
    if not os.path.isdir(base):
        reason = "no cgroup filesystem at /sys/fs/cgroup"
        return Unknown(reason), Unknown(reason)
    try:
        text = _read_text(f"{proc}/cgroups", 65536)
    except (OSError, ValueError) as err:
        return 1, Unknown(f"{proc}/cgroups: {_why(err)}")
    enabled = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and not line.startswith("#") and fields[3] == "1":
            enabled.add(fields[0])
    return 1, frozenset(enabled)


def _socket(socket_path: str | None, root: str, names: _Names) -> FileFacts | Unknown:
    if not socket_path:
        return Unknown("the Engine is not reached over a local unix socket")
    if socket_path.startswith("unix://"):
        socket_path = socket_path[len("unix://") :]
    try:
        st = os.stat(host_path(root, socket_path))
    except OSError as err:
        return Unknown(f"cannot stat {socket_path}: {_why(err)}")
    return _file_facts(socket_path, "docker.sock", st, names)


def _docker_group(
    sock: FileFacts | Unknown, settings: DaemonSettings | Unknown
) -> tuple[str, int | None]:
    if isinstance(sock, FileFacts):
        return sock.group, sock.gid
    if isinstance(settings, DaemonSettings):
        configured = settings.get("group")
        if isinstance(configured, str) and configured:
            return configured, None
    return "docker", None


def _group_members(name: str, gid: int | None, root: str) -> tuple[str, ...] | Unknown:
    group_file = host_path(root, "/etc/group")
    passwd_file = host_path(root, "/etc/passwd")
    try:
        group_text = _read_text(group_file)
        passwd_text = _read_text(passwd_file)
    except (OSError, ValueError) as err:
        return Unknown(f"cannot read /etc/group or /etc/passwd: {_why(err)}")
    members: set[str] = set()
    for line in group_text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith("#"):
            continue
        if fields[0] == name or (gid is not None and fields[2] == str(gid)):
            members.update(m.strip() for m in fields[3].split(",") if m.strip())
            if gid is None and fields[2].isdigit():
                gid = int(fields[2])
    if gid is not None:
        for line in passwd_text.splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[3] == str(gid) and fields[0]:
                members.add(fields[0])
    return tuple(sorted(members))


def _rule_lines(lines: Iterable[str]) -> list[str]:
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def _audit_rules(root: str, bin_dirs: Sequence[str] = AUDIT_BIN_DIRS
                 ) -> tuple[str, ...] | Unknown:
    """The loaded audit rules (`auditctl -l`, as root on the host itself), else the rule
    files under /etc/audit. Neither an `auditctl` in `bin_dirs` (under `root`) nor an
    /etc/audit: auditd is not installed, `Unknown(AUDITD_ABSENT...)`, which DW132 reads
    as "no audit rule can exist" (a finding, as CIS and docker-bench count it)."""
    search = os.pathsep.join(host_path(root, d) for d in bin_dirs)
    auditctl = shutil.which("auditctl", path=search) if search else None
    if root in ("", "/") and auditctl and os.geteuid() == 0:
        try:
            done = subprocess.run(
                [auditctl, "-l"],
                capture_output=True,
                timeout=AUDITCTL_TIMEOUT,
                check=False,
                env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin", "LC_ALL": "C"},
            )
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None and done.returncode == 0:
            text = done.stdout[:MAX_READ].decode("utf-8", errors="replace")
            lines = _rule_lines(text.splitlines())
            return () if lines == ["No rules"] else tuple(dict.fromkeys(lines))

    audit_dir = host_path(root, "/etc/audit")
    if not os.path.isdir(audit_dir):
        if auditctl is None:
            return Unknown(f"{AUDITD_ABSENT}: no auditctl and no /etc/audit")
        return Unknown("auditctl -l did not answer (not root?) and there is no /etc/audit")
    files = [os.path.join(audit_dir, "audit.rules")]
    rules_d = os.path.join(audit_dir, "rules.d")
    try:
        files += sorted(
            os.path.join(rules_d, n) for n in os.listdir(rules_d) if n.endswith(".rules")
        )
    except FileNotFoundError:
        pass
    except OSError as err:
        return Unknown(f"cannot list /etc/audit/rules.d: {_why(err)}")
    rules: list[str] = []
    for path in files:
        try:
            rules += _rule_lines(_read_text(path).splitlines())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as err:
            return Unknown(f"cannot read {path}: {_why(err)}")
    return tuple(dict.fromkeys(rules))


def _unescape(text: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def _mount_of(path: str, mountinfo: str) -> MountFacts | None:
    path = os.path.normpath(path)
    best: MountFacts | None = None
    root_device = ""
    for line in mountinfo.splitlines():
        parts = line.split(" ")
        if len(parts) > 4 and _unescape(parts[4]) == "/":
            root_device = parts[2]  # the last mount on / is the one in effect
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < dash + 3:
            continue
        mountpoint = _unescape(fields[4])
        inside = (
            mountpoint == "/" or path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")
        )
        if not inside or (best is not None and len(mountpoint) < len(best.mountpoint)):
            continue
        options = fields[5].split(",") + (
            fields[dash + 3].split(",") if len(fields) > dash + 3 else []
        )
        best = MountFacts(
            path=path,
            mountpoint=mountpoint,
            fstype=_unescape(fields[dash + 1]),
            options=tuple(dict.fromkeys(o for o in options if o)),
            device=fields[2],
            root_device=root_device,
        )
    return best


def _data_root_mount(root_dir: str, proc: str, pid: int | None,
                     root: str = "/") -> MountFacts | Unknown:
    if not root_dir:
        return Unknown("the daemon's data root is not known")
    sources = [f"{proc}/{pid}/mountinfo"] if pid is not None else []
    if root in ("", "/"):
        sources.append(f"{proc}/self/mountinfo")
    else:
        # Under a host root (a container) the host's init stands in for a dockerd whose
        # table is closed to us; our own table (`/proc/self`) is the container's, never
        # the host's, and is not read (a fake /proc of another path may hold one).
        sources.append(f"{proc}/1/mountinfo")
        if os.path.realpath(proc) != "/proc":
            sources.append(f"{proc}/self/mountinfo")
    last_error = ""
    for source in sources:
        try:
            text = _read_text(source, 64 * MAX_READ)
        except (OSError, ValueError) as err:
            last_error = f"{source}: {_why(err)}"
            continue
        found = _mount_of(root_dir, text)
        if found is not None:
            return found
        last_error = f"no mount contains {root_dir} in {source}"
    return Unknown(last_error)


def _file_candidates(
    settings: DaemonSettings | Unknown, proc: str, root: str
) -> Iterator[tuple[str, str, str]]:
    """(path as named, role, path to stat) of each file DW134 looks at."""
    pid = settings.pid if isinstance(settings, DaemonSettings) else None

    def daemon(path: str) -> str:
        return _in_process_root(proc, pid, path, root)

    def host(path: str) -> str:
        return host_path(root, path)

    config = (
        settings.config_file
        if isinstance(settings, DaemonSettings) and settings.config_file
        else DEFAULT_CONFIG_FILE
    )
    yield config, "daemon.json", daemon(config)
    for unit_dir in ("/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system"):
        for unit in ("docker.service", "docker.socket"):
            path = f"{unit_dir}/{unit}"
            yield path, unit, host(path)
    dropins = "/etc/systemd/system/docker.service.d"
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(host(dropins))):
            yield f"{dropins}/{name}", "docker.service drop-in", host(f"{dropins}/{name}")
    yield "/etc/default/docker", "docker defaults", host("/etc/default/docker")
    yield "/etc/sysconfig/docker", "docker sysconfig", host("/etc/sysconfig/docker")
    yield "/etc/docker", "docker config dir", daemon("/etc/docker")
    certs_d = "/etc/docker/certs.d"
    real_certs_d = daemon(certs_d)
    yield certs_d, "registry certs dir", real_certs_d
    count = 0
    for dirpath, dirnames, filenames in os.walk(real_certs_d):
        dirnames.sort()
        rel = os.path.relpath(dirpath, real_certs_d)
        shown = certs_d if rel == "." else f"{certs_d}/{rel}"
        for name in dirnames:
            count += 1
            yield f"{shown}/{name}", "registry certs dir", os.path.join(dirpath, name)
        for name in sorted(filenames):
            count += 1
            role = "registry key" if name.endswith(".key") else "registry cert"
            yield f"{shown}/{name}", role, os.path.join(dirpath, name)
        if count >= MAX_CERTS_D_ENTRIES:
            break
    if isinstance(settings, DaemonSettings):
        for key, role in (("tlscacert", "tls ca"), ("tlscert", "tls cert"), ("tlskey", "tls key")):
            path = settings.get(key)
            if isinstance(path, str) and path:
                yield path, role, daemon(path)
    for name, role in (("ca.pem", "tls ca"), ("cert.pem", "tls cert"), ("key.pem", "tls key")):
        path = f"/root/.docker/{name}"
        yield path, role, host(path)


def _files(
    settings: DaemonSettings | Unknown, proc: str, root: str, names: _Names
) -> tuple[FileFacts, ...] | Unknown:
    out: list[FileFacts] = []
    seen_paths: set[str] = set()
    seen_inodes: set[tuple[int, int]] = set()
    errors: list[str] = []
    for path, role, real in _file_candidates(settings, proc, root):
        if path in seen_paths:
            continue
        seen_paths.add(path)
        try:
            st = os.stat(real)
        except OSError as err:
            if err.errno not in _MISSING:
                errors.append(f"{path}: {_why(err)}")
            continue
        inode = (st.st_dev, st.st_ino)
        if inode in seen_inodes:  # /lib -> /usr/lib and the like
            continue
        seen_inodes.add(inode)
        out.append(_file_facts(path, role, st, names))
    if errors:
        return Unknown("cannot stat " + "; ".join(errors[:5]))
    return tuple(out)


def _key_facts(cert: x509.Certificate) -> tuple[str, int]:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "unknown", 0
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def _cert_facts(path: str, cert: x509.Certificate) -> CertFacts:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        algorithm = cert.signature_hash_algorithm
        signature_hash = algorithm.name if algorithm is not None else "none"
    except UnsupportedAlgorithm:
        signature_hash = "unknown"
    key_type, key_bits = _key_facts(cert)
    try:
        subject = cert.subject.rfc4514_string()
    except ValueError:
        subject = "(unparseable subject)"
    return CertFacts(
        path=path,
        subject=subject,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=signature_hash,
    )


def _certificates(
    settings: DaemonSettings | Unknown, proc: str, root: str
) -> tuple[CertFacts, ...] | Unknown:
    if isinstance(settings, Unknown):
        return Unknown(f"daemon settings unknown: {settings.reason}")
    if settings.get("tls") is not True and settings.get("tlsverify") is not True:
        return ()
    out: list[CertFacts] = []
    for key in ("tlscert", "tlscacert"):
        path = settings.get(key)
        if not isinstance(path, str) or not path:
            continue
        try:
            data = _read_capped(_in_process_root(proc, settings.pid, path, root))
        except (OSError, ValueError) as err:
            return Unknown(f"cannot read {path}: {_why(err)}")
        try:
            from cryptography import x509  # imported here: only TLS daemons need it

            certs = x509.load_pem_x509_certificates(data)
        except ValueError as err:
            return Unknown(f"{path}: not a PEM certificate: {_clip(str(err), 100)}")
        out += [_cert_facts(path, cert) for cert in certs]
    return tuple(out)


_ALLOWING = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")


def _seccomp_allows_all(
    settings: DaemonSettings | Unknown, proc: str, root: str
) -> bool | Unknown | None:
    """Whether the daemon's custom seccomp-profile lets every system call through
    (default action allow/log and no rule that blocks); None for the built-in profile."""
    if isinstance(settings, Unknown):
        return Unknown(f"daemon settings unknown: {settings.reason}")
    path = settings.get("seccomp-profile")
    if not isinstance(path, str) or path in ("", "builtin", "default"):
        return None
    if path == "unconfined":
        return True
    try:
        profile = json.loads(_read_capped(_in_process_root(proc, settings.pid, path, root),
                                          4 * MAX_READ))
    except (OSError, ValueError) as err:
        return Unknown(f"cannot read seccomp profile {path}: {_why(err)}")
    if not isinstance(profile, dict):
        return Unknown(f"seccomp profile {path} is not a JSON object")
    if profile.get("defaultAction") not in _ALLOWING:
        return False
    rules = profile.get("syscalls") or []
    return not any(isinstance(r, dict) and r.get("action") not in _ALLOWING for r in rules)


def _kernel_limits(proc: str) -> dict[str, int] | Unknown:
    limits: dict[str, int] = {}
    errors: list[str] = []
    for key in KERNEL_LIMIT_KEYS:
        path = f"{proc}/sys/{key.replace('.', '/')}"
        try:
            limits[key] = int(_read_text(path, 4096).split()[0])
        except (OSError, ValueError, IndexError) as err:
            errors.append(f"{key}: {_why(err)}")
    if not limits:
        return Unknown("cannot read kernel limits: " + "; ".join(errors))
    return limits


def gather_host(
    settings: DaemonSettings | Unknown,
    socket_path: str | None,
    root_dir: str,
    proc: str = "/proc",
    root: str = "/",
) -> HostSnapshot:
    """Every HostSnapshot fact, each gathered on its own (a failure is `Unknown`).

    `settings` is the daemon's (its pid locates its mount namespace), `socket_path` the
    unix socket the Engine was reached on, `root_dir` its data root (Info.DockerRootDir),
    `root` the host's filesystem root. `kernel_limits` holds the keys that could be
    read; it is Unknown only if none could.
    """
    names = _Names(root)
    cgroup_version, cgroup_controllers = _cgroups(proc, root)
    sock = _socket(socket_path, root, names)
    group_name, gid = _docker_group(sock, settings)
    pid = settings.pid if isinstance(settings, DaemonSettings) else None
    mount = _data_root_mount(root_dir, proc, pid, root)
    return HostSnapshot(
        kernel_release=_kernel_release(proc),
        cgroup_version=cgroup_version,
        cgroup_controllers=cgroup_controllers,
        socket=sock,
        docker_group=group_name,
        docker_group_members=_group_members(group_name, gid, root),
        audit_rules=_audit_rules(root),
        data_root_mount=mount,
        backing_mount=mount,
        files=_files(settings, proc, root, names),
        certificates=_certificates(settings, proc, root),
        kernel_limits=_kernel_limits(proc),
        seccomp_profile_allows_all=_seccomp_allows_all(settings, proc, root),
    )
