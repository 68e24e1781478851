"""`dockwarden inside`: what could this container do to its host? (DW801-DW806)

This module is the probe itself. It runs inside a container with nothing but the Python
standard library: `python3 -m dockwarden.inside`, or this one file copied into a
container and run as `python3 inside.py [--format json|text]`. It never imports the rest
of dockwarden, never needs the Engine, and never changes anything: files are only read
(each read capped), writability is asked with `os.access` plus the mount's own `rw` flag
(nothing is ever written, `release_agent` least of all), sockets are connected to and
sent one `GET /_ping`, each with a short timeout.

What it reads:

- `/proc/self/status`: the effective, permitted and bounding capability sets (decoded
  to names), `NoNewPrivs` and `Seccomp` (0 = no filter);
- `/proc/self/attr/apparmor/current`, `/proc/self/attr/current`: the AppArmor or
  SELinux label (unconfined is evidence of the findings it makes worse);
- `/proc/self/mountinfo` (this process's mount namespace; not `/proc/1/mountinfo`,
  which is the host's when the PID namespace is shared): host directories bind-mounted
  in, Engine sockets, cgroup v1 hierarchies and their `release_agent`;
- `/proc/1/cmdline`, `/proc/2/status`: whether the host's processes are visible;
- `/proc/net/route`: the default gateway, whose ports 2375 (plain HTTP) and 2376 (TLS
  without a client certificate) are asked `GET /_ping`, and `host.docker.internal` from
  `/etc/hosts` when it is there.

The facts are a `Facts` dataclass (JSON with `as_dict`, read back with
`Facts.from_dict`); `judge(facts)` turns them into verdicts per check id. The CLI command
(`dockwarden.commands.inside`) and the registered checks (`dockwarden.checks.inside`) use
the same judges, so the single-file probe and `dockwarden inside` always agree.

Written by hand: no library reads these kernel interfaces, and the probe must run where
only the standard library exists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import socket
import stat
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_READ = 1 << 20  # bytes read from any one file
MAX_MOUNTS = 10_000  # mountinfo lines judged
MAX_DEV_ENTRIES = 4096  # /dev entries looked at for block devices
DEFAULT_TIMEOUT = 1.0  # seconds, per network connection (connect, request, answer)

# Capability numbers (linux/capability.h), 0-40.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
# As DW209: capabilities that let root in a container reach the host. Those of Docker's
# default set (DAC_OVERRIDE, NET_RAW) are not counted: every container has them.
DANGEROUS_CAPS = (
    "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH", "NET_ADMIN",
    "SYS_BOOT", "SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "SYSLOG",
    "SYS_RESOURCE", "LINUX_IMMUTABLE",
)
# Each of these is a known way out on its own (mount, kernel modules, raw I/O, reading
# any host file by handle): critical when effective.
ESCAPE_CAPS = ("SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH")

# Host directories whose bind mount reaches the host (as DW207).
SENSITIVE_HOST_DIRS = (
    "/", "/etc", "/boot", "/dev", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys",
    "/usr", "/bin", "/sbin", "/root", "/var/lib/docker", "/var/lib/containerd",
    "/var/lib/kubelet", "/run", "/var/run", "/var/log", "/home", "/var",
)
# Parts of /var/lib/docker a container normally gets: its named volumes and the three
# files the Engine writes for it.
_OWN_DOCKER_FILES = re.compile(
    r"^/var/lib/docker/(volumes/[^/]+/_data(/.*)?|containers/[0-9a-f]{64}/"
    r"(resolv\.conf|hostname|hosts))$")
_ENGINE_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")
# File systems that are not a host directory bind-mounted in.
VIRTUAL_FS = frozenset({
    "overlay", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "shm",
    "securityfs", "debugfs", "tracefs", "bpf", "pstore", "hugetlbfs", "fusectl",
    "configfs", "binfmt_misc", "autofs", "nsfs", "ramfs", "efivarfs", "rpc_pipefs",
    "selinuxfs", "aufs", "fuse-overlayfs",
})
ENGINE_SOCKETS = (
    ("/var/run/docker.sock", "docker"), ("/run/docker.sock", "docker"),
    ("/run/containerd/containerd.sock", "containerd"),
    ("/var/run/containerd/containerd.sock", "containerd"),
    ("/run/podman/podman.sock", "podman"), ("/var/run/crio/crio.sock", "cri-o"),
    ("/run/crio/crio.sock", "cri-o"),
)
ENGINE_PORTS = ((2375, False), (2376, True))  # (port, TLS)


# ---------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of mountinfo (proc(5)), octal escapes decoded."""

    mount_id: int
    parent_id: int
    root: str  # the path inside its file system that is mounted
    mountpoint: str
    options: tuple[str, ...]  # per-mount options: rw/ro, nosuid...
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def read_write(self) -> bool:
        return "rw" in self.options and "ro" not in self.super_options


@dataclass(frozen=True, slots=True)
class HostMount:
    mountpoint: str
    host_path: str  # the host directory, as far as mountinfo tells it
    fstype: str
    writable: bool


@dataclass(frozen=True, slots=True)
class SocketFact:
    path: str
    kind: str  # docker, containerd, podman, cri-o
    connect: str  # "ok", or why not: "permission denied", "refused", ...
    engine: bool  # GET /_ping answered 200 OK
    api_version: str = ""


@dataclass(frozen=True, slots=True)
class PortFact:
    address: str
    port: int
    tls: bool
    state: str  # "open", "closed", "filtered", "error: ..."
    engine: bool  # GET /_ping answered 200 OK (over TLS: without a client certificate)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WritablePath:
    path: str
    kind: str  # "release_agent", "kernel", "block-device"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the probe saw. None is a fact that could not be gathered; `unknown` says
    why."""

    uid: int | None = None
    hostname: str | None = None
    caps_effective: tuple[str, ...] | None = None
    caps_permitted: tuple[str, ...] | None = None
    caps_bounding: tuple[str, ...] | None = None
    cap_last_cap: int | None = None
    no_new_privs: bool | None = None
    seccomp: int | None = None  # 0 disabled, 1 strict, 2 filter
    seccomp_filters: int | None = None
    lsm: str | None = None  # the AppArmor or SELinux label; "" when no LSM answers
    pid1: str | None = None  # /proc/1/cmdline
    kthreadd: bool | None = None  # a kernel thread is visible (pid 2 is kthreadd)
    processes: int | None = None
    host_mounts: tuple[HostMount, ...] | None = None
    sockets: tuple[SocketFact, ...] | None = None
    writable: tuple[WritablePath, ...] | None = None
    gateway: str | None = None
    ports: tuple[PortFact, ...] | None = None
    unknown: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Facts:
        """Facts from `as_dict`'s JSON (e.g. made by the single-file probe in a
        container); ValueError when the shape is wrong."""
        if not isinstance(data, dict):
            raise ValueError("facts: not a JSON object")
        kw: dict[str, Any] = {}
        items = {"host_mounts": HostMount, "sockets": SocketFact, "ports": PortFact,
                 "writable": WritablePath}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            try:
                if f.name == "unknown":
                    if not isinstance(value, dict):
                        raise TypeError("not an object")
                    kw[f.name] = {str(k): str(v) for k, v in value.items()}
                elif value is None:
                    kw[f.name] = None
                elif f.name in items:
                    kw[f.name] = tuple(_item(items[f.name], v) for v in _list(value))
                elif f.name.startswith("caps_"):
                    kw[f.name] = tuple(_str(v) for v in _list(value))
                elif f.name in ("no_new_privs", "kthreadd"):
                    kw[f.name] = _bool(value)
                elif f.name in ("lsm", "pid1", "gateway", "hostname"):
                    kw[f.name] = _str(value)
                else:
                    kw[f.name] = _int(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"facts: {f.name}: {exc}") from None
        return cls(**kw)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def _item(kind: Any, value: Any) -> Any:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    kw = {}
    for f in dataclasses.fields(kind):
        if f.name in value:
            v = value[f.name]
            kw[f.name] = (_bool(v) if f.type in ("bool",) else
                          _int(v) if f.type in ("int",) else _str(v))
    try:
        return kind(**kw)
    except TypeError:
        raise TypeError(f"{kind.__name__}: fields missing") from None


# -------------------------------------------------------------------------- parsers


def parse_status(text: str) -> dict[str, str]:
    """`Key:\tvalue` lines of /proc/<pid>/status; later duplicates are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:1000]:
        key, sep, value = line.partition(":")
        if sep and key and key not in out:
            out[key.strip()] = value.strip()
    return out


def decode_caps(value: str) -> tuple[str, ...] | None:
    """Capability names of a hex mask (`CapEff:` and the like); None when it is not
    hex. Bits beyond the names known here are shown as `CAP_<n>`."""
    text = value.strip()
    if not text or len(text) > 32 or not re.fullmatch(r"[0-9a-fA-F]+", text):
        return None
    mask = int(text, 16)
    names = []
    for bit in range(mask.bit_length()):
        if mask >> bit & 1:
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"CAP_{bit}")
    return tuple(names)


_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8) & 0xFF), text)


def parse_mountinfo(text: str) -> list[Mount]:
    """The lines of /proc/<pid>/mountinfo that parse; malformed lines are skipped."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        if len(mounts) >= MAX_MOUNTS:
            break
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        head, tail = left.split(" "), right.split(" ")
        if len(head) < 6 or len(tail) < 2:
            continue
        try:
            mount_id, parent_id = int(head[0]), int(head[1])
        except ValueError:
            continue
        mounts.append(Mount(
            mount_id=mount_id, parent_id=parent_id, root=_unescape(head[3]),
            mountpoint=_unescape(head[4]), options=tuple(head[5].split(",")),
            fstype=_unescape(tail[0]), source=_unescape(tail[1]),
            super_options=tuple(tail[2].split(",")) if len(tail) > 2 else ()))
    return mounts


def parse_route(text: str) -> str | None:
    """The IPv4 default gateway in /proc/net/route (the first default route with the
    gateway flag), dotted; None when there is none."""
    for line in text.splitlines()[1:1000]:
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            dest, gateway, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        except ValueError:
            continue
        if dest == 0 and flags & 0x2 and 0 < gateway <= 0xFFFFFFFF:
            return socket.inet_ntoa(struct.pack("<I", gateway))
    return None


def parse_hosts(text: str, name: str) -> list[str]:
    """IPv4 addresses given for `name` in an /etc/hosts text."""
    out: list[str] = []
    for line in text.splitlines()[:10_000]:
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and name in parts[1:] and _is_ipv4(parts[0]):
            out.append(parts[0])
    return out


def _is_ipv4(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except (OSError, ValueError):
        return False
    return text.count(".") == 3


def parse_http_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of a raw HTTP/1.x answer; status 0 when
    it is not one."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    if not m:
        return 0, {}, b""
    headers = {}
    for line in lines[1:100]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(m.group(1)), headers, body


def is_engine_ping(data: bytes) -> tuple[bool, str]:
    """(whether an answer to GET /_ping is the Engine's, its API version)."""
    status, headers, body = parse_http_answer(data)
    ok = status == 200 and (body.strip() == b"OK" or "api-version" in headers)
    return ok, headers.get("api-version", "")[:32] if ok else ""


# ---------------------------------------------------------------------------- probe


def _read(path: str, limit: int = MAX_READ) -> str:
    """At most `limit` bytes of a file, decoded (invalid bytes replaced). OSError when
    it cannot be read; FIFOs and devices are never read (they could block or not end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _host_path(m: Mount) -> str | None:
    """The host directory a mount shows when it is one of the sensitive ones."""
    if m.fstype in VIRTUAL_FS or m.mountpoint == "/":
        return None
    root = "/dev" + (m.root if m.root != "/" else "") if m.fstype == "devtmpfs" else m.root
    if m.mountpoint in _ENGINE_FILES and os.path.basename(root) == \
            os.path.basename(m.mountpoint):
        return None  # /etc/hosts and friends, written by the Engine for this container
    if _OWN_DOCKER_FILES.match(root):
        return None
    root = root.rstrip("/") or "/"
    if root in SENSITIVE_HOST_DIRS:
        return root
    if root.startswith(("/var/lib/docker/", "/var/lib/containerd/")):
        return root
    return None


def _writable(path: str) -> bool:
    try:
        return os.access(path, os.W_OK)
    except (OSError, ValueError):
        return False


def host_mounts(mounts: Iterable[Mount]) -> tuple[HostMount, ...]:
    out = []
    for m in mounts:
        host = _host_path(m)
        if host is not None:
            out.append(HostMount(m.mountpoint, host, m.fstype,
                                 m.read_write and _writable(m.mountpoint)))
    return tuple(out)


def _unix_ping(path: str, timeout: float) -> tuple[str, bool, str]:
    """(connect outcome, answered as an Engine, API version) of a unix socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            return _why(exc), False, ""
        try:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            ok, version = is_engine_ping(_recv(sock))
        except OSError:
            ok, version = False, ""
        return "ok", ok, version
    finally:
        sock.close()


def _recv(sock: socket.socket, limit: int = 8192) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data and len(data.partition(b"\r\n\r\n")[2]) >= 2:
            break
    return data


def engine_sockets(mounts: Iterable[Mount], timeout: float) -> tuple[SocketFact, ...]:
    """Engine sockets at the usual paths, at $DOCKER_HOST's path and wherever a mount
    of a socket-looking file is (each file once)."""
    candidates = list(ENGINE_SOCKETS)
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        candidates.append((host[len("unix://"):], "docker"))
    for m in mounts:
        name = os.path.basename(m.mountpoint)
        if name.endswith(".sock"):
            kind = next((k for k in ("docker", "containerd", "podman", "crio")
                         if k in name), "")
            if kind:
                candidates.append((m.mountpoint, "cri-o" if kind == "crio" else kind))
    seen: set[tuple[int, int]] = set()
    out = []
    for path, kind in candidates[:64]:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if not stat.S_ISSOCK(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        connect, engine, version = _unix_ping(path, timeout)
        out.append(SocketFact(path, kind, connect, engine and kind != "containerd", version))
    return tuple(out)


def probe_port(address: str, port: int, tls: bool, timeout: float) -> PortFact:
    """Connect to address:port and ask GET /_ping (over TLS without a client
    certificate when `tls`). Only that one request is sent."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        return PortFact(address, port, tls, "filtered", False)
    except ConnectionRefusedError:
        return PortFact(address, port, tls, "closed", False)
    except OSError as exc:
        return PortFact(address, port, tls, f"error: {_why(exc)}", False)
    try:
        sock.settimeout(timeout)
        conn: socket.socket = sock
        if tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            try:
                conn = ctx.wrap_socket(sock, server_hostname=address)
                conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close"
                             b"\r\n\r\n")
                data = _recv(conn)
            except (ssl.SSLError, OSError) as exc:
                return PortFact(address, port, tls, "open", False,
                                f"TLS: {_why(exc)[:120]} (a client certificate is "
                                "probably required)")
        else:
            try:
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                data = _recv(sock)
            except OSError as exc:
                return PortFact(address, port, tls, "open", False, _why(exc)[:120])
        ok, version = is_engine_ping(data)
        status = parse_http_answer(data)[0]
        detail = f"API {version}" if version else (f"HTTP {status}" if status else "")
        return PortFact(address, port, tls, "open", ok, detail)
    finally:
        sock.close()


def _probe_writable(mounts: list[Mount]) -> tuple[WritablePath, ...]:
    out: list[WritablePath] = []
    for m in mounts:  # cgroup v1 hierarchies: release_agent at a hierarchy's root
        if m.fstype != "cgroup":
            continue
        agent = os.path.join(m.mountpoint, "release_agent")
        if os.path.isfile(agent) and m.read_write and _writable(agent):
            notify = os.path.join(m.mountpoint, "notify_on_release")
            out.append(WritablePath(agent, "release_agent",
                                    "notify_on_release writable too"
                                    if _writable(notify) else ""))
    # kernel interfaces that run a program of the container's choosing on the host
    for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                 "/sys/kernel/uevent_helper", "/proc/sysrq-trigger"):
        if os.path.exists(path) and _writable(path):
            out.append(WritablePath(path, "kernel"))
    try:
        entries = sorted(os.listdir("/dev"))[:MAX_DEV_ENTRIES]
    except OSError:
        entries = []
    for name in entries:
        path = os.path.join("/dev", name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode) and _writable(path):
            out.append(WritablePath(path, "block-device"))
    return tuple(out)


def gather(*, network: bool = True, timeout: float = DEFAULT_TIMEOUT,
           proc: str = "/proc") -> Facts:
    """Every fact the probe reads. Nothing is written anywhere."""
    unknown: dict[str, str] = {}
    kw: dict[str, Any] = {"uid": os.getuid(), "hostname": socket.gethostname()[:255]}
    try:
        status = parse_status(_read(f"{proc}/self/status"))
    except OSError as exc:
        status = {}
        unknown["status"] = f"{proc}/self/status: {_why(exc)}"
    for key, name in (("CapEff", "caps_effective"), ("CapPrm", "caps_permitted"),
                      ("CapBnd", "caps_bounding")):
        caps = decode_caps(status.get(key, ""))
        kw[name] = caps
        if caps is None:
            unknown[name] = f"no {key} line in {proc}/self/status"
    if status.get("NoNewPrivs", "").isdigit():
        kw["no_new_privs"] = status["NoNewPrivs"] != "0"
    if status.get("Seccomp", "").isdigit():
        kw["seccomp"] = int(status["Seccomp"][:3])
    else:
        unknown["seccomp"] = f"no Seccomp line in {proc}/self/status (kernel without " \
            "seccomp?)"
    if status.get("Seccomp_filters", "").isdigit():
        kw["seccomp_filters"] = int(status["Seccomp_filters"][:9])
    with contextlib.suppress(OSError, ValueError):
        kw["cap_last_cap"] = int(_read(f"{proc}/sys/kernel/cap_last_cap", 64).strip())
    kw["lsm"] = ""
    for path in (f"{proc}/self/attr/apparmor/current", f"{proc}/self/attr/current"):
        try:
            label = _read(path, 4096).strip("\0\n ")
        except OSError:
            continue
        if label:
            kw["lsm"] = label
            break
    try:
        kw["pid1"] = _read(f"{proc}/1/cmdline", 4096).replace("\0", " ").strip()
    except OSError as exc:
        unknown["pid1"] = f"{proc}/1/cmdline: {_why(exc)}"
    try:
        kw["kthreadd"] = parse_status(_read(f"{proc}/2/status", 8192)).get("Name") \
            == "kthreadd"
    except OSError:
        kw["kthreadd"] = False  # no pid 2 at all: not the host's view
    with contextlib.suppress(OSError):
        kw["processes"] = sum(1 for n in os.listdir(proc) if n.isdigit())
    mounts: list[Mount] = []
    try:
        mounts = parse_mountinfo(_read(f"{proc}/self/mountinfo"))
        kw["host_mounts"] = host_mounts(mounts)
    except OSError as exc:
        unknown["host_mounts"] = f"{proc}/self/mountinfo: {_why(exc)}"
    kw["sockets"] = engine_sockets(mounts, timeout)
    kw["writable"] = _probe_writable(mounts)
    if not network:
        unknown["ports"] = "network probe turned off (--no-network)"
    else:
        try:
            kw["gateway"] = parse_route(_read(f"{proc}/net/route"))
        except OSError as exc:
            unknown["ports"] = f"{proc}/net/route: {_why(exc)}"
        addresses = [kw["gateway"]] if kw.get("gateway") else []
        with contextlib.suppress(OSError):
            addresses += parse_hosts(_read("/etc/hosts"), "host.docker.internal")
        if "ports" not in unknown:
            kw["ports"] = tuple(probe_port(a, port, tls, timeout)
                                for a in dict.fromkeys(addresses)
                                for port, tls in ENGINE_PORTS)
    return Facts(**kw, unknown=unknown)


# ----------------------------------------------------------------------------- judge


class NotKnown(Exception):
    """The fact a check needs could not be gathered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verdict:
    evidence: dict[str, Any]
    severity: str | None = None  # None: the check's own
    message: str = ""


# (severity, title) of each check; dockwarden.checks.inside registers them.
CHECKS: dict[str, tuple[str, str]] = {
    "DW801": ("critical", "Docker socket reachable from inside"),
    "DW802": ("critical", "Full or dangerous capability set inside"),
    "DW803": ("high", "Host processes visible inside"),
    "DW804": ("critical", "Engine API reachable over the network from inside"),
    "DW805": ("critical", "Writable host path or cgroup release_agent reachable inside"),
    "DW806": ("high", "seccomp disabled inside"),
}


def _need(facts: Facts, name: str) -> Any:
    value = getattr(facts, name)
    if value is None:
        raise NotKnown(facts.unknown.get(name, f"{name} could not be read"))
    return value


def _confinement(facts: Facts) -> dict[str, Any]:
    lsm = facts.lsm
    if lsm is None:
        return {}
    return {"lsm_label": lsm or "none (no AppArmor or SELinux label)"}


def judge_socket(facts: Facts) -> list[Verdict]:
    out = []
    for s in _need(facts, "sockets"):
        evidence: dict[str, Any] = {"socket": s.path, "kind": s.kind, "connect": s.connect}
        if s.engine:
            evidence["GET /_ping"] = f"200 OK (API {s.api_version})" if s.api_version \
                else "200 OK"
        if s.connect == "ok":
            out.append(Verdict(evidence, message=f"{s.path}: this container can drive "
                               f"the {s.kind} Engine, which is root on the host"))
        elif "denied" in s.connect:
            out.append(Verdict(evidence, "high", f"{s.path} is here; this user cannot "
                               "connect to it, but root in the container could"))
    return out


def judge_caps(facts: Facts) -> list[Verdict]:
    effective = set(_need(facts, "caps_effective"))
    bounding = set(facts.caps_bounding or ())
    last = facts.cap_last_cap
    evidence: dict[str, Any] = {"CapEff": sorted(effective)}
    full = last is not None and last >= 0 and len(effective) >= last + 1
    bad_eff = sorted(effective & set(DANGEROUS_CAPS))
    # a process without them may still gain the bounding set through a setuid-root
    # program unless no_new_privs is set
    gainable = sorted((bounding - effective) & set(DANGEROUS_CAPS)) \
        if facts.no_new_privs is False else []
    if not (full or bad_eff or gainable):
        return []
    evidence.update(_confinement(facts))
    if full:
        evidence["full_set"] = f"every capability (0-{last})"
    if bad_eff:
        evidence["dangerous_effective"] = bad_eff
    if gainable:
        evidence["dangerous_via_setuid"] = gainable
        evidence["NoNewPrivs"] = 0
    if "SYS_ADMIN" in effective:
        evidence["escape_routes"] = "mount a cgroup v1 hierarchy and set its " \
            "release_agent; mount host block devices"
    critical = full or any(c in ESCAPE_CAPS for c in bad_eff)
    return [Verdict(evidence, None if critical else "high",
                    "every capability" if full else ", ".join(bad_eff or gainable))]


def judge_pid(facts: Facts) -> list[Verdict]:
    # pid 2 is the kernel's kthreadd in the host's PID namespace only. (NSpid cannot
    # tell: it lists PIDs from the namespace of the /proc mount down, one level in any
    # container.)
    if not _need(facts, "kthreadd"):
        return []
    evidence: dict[str, Any] = {}
    if facts.pid1 is not None:
        evidence["pid 1"] = facts.pid1[:200]
    evidence["pid 2"] = "kthreadd (a kernel thread: this is the host's process table)"
    if facts.processes is not None:
        evidence["processes_visible"] = facts.processes
    return [Verdict(evidence)]


def judge_ports(facts: Facts) -> list[Verdict]:
    out = []
    for p in _need(facts, "ports"):
        if p.engine:
            scheme = "https" if p.tls else "http"
            evidence: dict[str, Any] = {"url": f"{scheme}://{p.address}:{p.port}",
                                        "GET /_ping": "200 OK"}
            if p.detail:
                evidence["answer"] = p.detail
            if p.address == facts.gateway:
                evidence["address"] = "the default gateway"
            if p.tls:
                evidence["client_certificate"] = "not asked for"
            out.append(Verdict(evidence))
    return out


def judge_writable(facts: Facts) -> list[Verdict]:
    hosts = _need(facts, "host_mounts")
    writable = facts.writable or ()
    out = []
    for h in hosts:
        if h.writable:
            out.append(Verdict({"mountpoint": h.mountpoint, "host_path": h.host_path,
                                "fstype": h.fstype, "mount": "rw"},
                               message=f"host {h.host_path} writable at {h.mountpoint}"))
    kinds = {"release_agent": "cgroup v1 release_agent (run as root on the host when a "
             "cgroup empties)",
             "kernel": "kernel interfaces that run a program on the host",
             "block-device": "host block devices (raw disk access)"}
    for kind, meaning in kinds.items():
        paths = [w for w in writable if w.kind == kind]
        if not paths:
            continue
        evidence: dict[str, Any] = {"paths": [w.path for w in paths[:32]],
                                    "meaning": meaning}
        if len(paths) > 32:
            evidence["more"] = len(paths) - 32
        details = sorted({w.detail for w in paths if w.detail})
        if details:
            evidence["detail"] = details
        evidence.update(_confinement(facts))
        out.append(Verdict(evidence, message=f"{len(paths)} writable: {paths[0].path}"
                           + (" ..." if len(paths) > 1 else "")))
    return out


def judge_seccomp(facts: Facts) -> list[Verdict]:
    if _need(facts, "seccomp") == 0:
        return [Verdict({"Seccomp": 0, "meaning": "no seccomp filter: every system "
                         "call reaches the kernel"})]
    return []


JUDGES: dict[str, Callable[[Facts], list[Verdict]]] = {
    "DW801": judge_socket,
    "DW802": judge_caps,
    "DW803": judge_pid,
    "DW804": judge_ports,
    "DW805": judge_writable,
    "DW806": judge_seccomp,
}


def judge(facts: Facts) -> dict[str, Any]:
    """{"findings": [...], "skipped": [...]} of every check on `facts`."""
    findings: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for check_id, fn in JUDGES.items():
        default, title = CHECKS[check_id]
        try:
            verdicts = fn(facts)
        except NotKnown as exc:
            skipped.append({"check": check_id, "reason": exc.reason})
            continue
        for v in verdicts:
            item: dict[str, Any] = {"check": check_id, "severity": v.severity or default,
                                    "title": title, "evidence": v.evidence}
            if v.message:
                item["message"] = v.message
            findings.append(item)
    return {"findings": findings, "skipped": skipped}


# ----------------------------------------------------------------- standalone output

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _safe(text: object) -> str:
    """Text from the system shown escaped (control characters, bidi overrides)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                        else f"\\u{ord(m.group()):04x}", str(text))


def render_text(facts: Facts, verdicts: dict[str, Any]) -> str:
    lines = []
    for f in verdicts["findings"]:
        lines.append(f"{f['check']} {f['severity'].upper()} {f['title']}"
                     + (f": {_safe(f['message'])}" if f.get("message") else ""))
        for key, value in f["evidence"].items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"    {_safe(key)}: {_safe(shown)}")
    for s in verdicts["skipped"]:
        lines.append(f"{s['check']} not judged: {_safe(s['reason'])}")
    if not verdicts["findings"]:
        lines.append("No findings: nothing here reaches the host.")
    seccomp = {0: "disabled", 1: "strict", 2: "filter"}.get(
        facts.seccomp if facts.seccomp is not None else -1, "unknown")
    lines.append(f"(uid {facts.uid}; {len(facts.caps_effective or ())} effective "
                 f"capabilities; seccomp {seccomp}; label {_safe(facts.lsm or 'none')})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="inside.py", description="Run inside a container: what could it do to its "
        "host? (dockwarden DW801-DW806; reads only, changes nothing)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default) or JSON with the facts and findings")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"per network connection (default {DEFAULT_TIMEOUT})")
    p.add_argument("--no-network", action="store_true",
                   help="do not probe the gateway's Engine ports (2375, 2376)")
    ns = p.parse_args(argv)
    timeout = min(max(ns.timeout, 0.05), 30.0) if ns.timeout == ns.timeout else 1.0
    facts = gather(network=not ns.no_network, timeout=timeout)
    verdicts = judge(facts)
    if ns.format == "json":
        out = json.dumps({"schema": "dockwarden-inside/1", "facts": facts.as_dict(),
                          **verdicts}, indent=2, sort_keys=True)
        sys.stdout.write(out + "\n")
    else:
        sys.stdout.write(render_text(facts, verdicts))
    return 1 if verdicts["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
