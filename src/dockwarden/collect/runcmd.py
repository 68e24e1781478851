"""`docker run` / `docker create` command lines into the `ContainerSpec` model.

The argv is split with `shlex` (POSIX rules) and parsed with the flag set of the Docker
CLI's `docker run` (cli/command/container/opts.go, pflag semantics: `--flag value`,
`--flag=value`, `-dit`, `-p8080:80`, `--bool=false`, flags end at the image). Values are
converted the way the CLI and the Engine convert them, so that a command line and the
container it creates (seen through `collect.inspect.spec_from_inspect`) give the same
spec: `network_mode` "default" without `--network`, `restart_policy` "no" by default,
`pids_limit` None when unset, devices as "host:container:perms", bind mounts with
"rprivate" propagation.

Written by hand: no maintained Python library parses the Docker CLI's flag set (the CLI
itself is Go). Nothing here reads files (`--env-file`, `--label-file`, seccomp profiles
are recorded as nothing or verbatim).
"""

from __future__ import annotations

import csv
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation

from dockwarden.collect.inspect import volume_size_limit
from dockwarden.errors import InputError
from dockwarden.model.common import Fact, Source, TargetKind, Unknown
from dockwarden.model.container import ContainerSpec, Mount, PortBinding
from dockwarden.model.finding import Target

MAX_COMMAND = 64 << 10  # 64 KiB: far beyond any real command line (Linux caps one
# argument at 128 KiB)

# --- the flag set of `docker run` / `docker create` (long name -> takes a value) -----------

VALUE_FLAGS = frozenset({
    "add-host", "annotation", "attach", "blkio-weight", "blkio-weight-device", "cap-add",
    "cap-drop", "cgroup-parent", "cgroupns", "cidfile", "cpu-count", "cpu-percent",
    "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpu-shares", "cpus",
    "cpuset-cpus", "cpuset-mems", "credentialspec", "detach-keys", "device",
    "device-cgroup-rule", "device-read-bps", "device-read-iops", "device-write-bps",
    "device-write-iops", "dns", "dns-opt", "dns-option", "dns-search", "domainname",
    "entrypoint", "env", "env-file", "expose", "gpus", "group-add", "health-cmd",
    "health-interval", "health-retries", "health-start-interval", "health-start-period",
    "health-timeout", "hostname", "io-maxbandwidth", "io-maxiops", "ip", "ip6", "ipc",
    "isolation", "kernel-memory", "label", "label-file", "link", "link-local-ip",
    "log-driver", "log-opt", "mac-address", "memory", "memory-reservation", "memory-swap",
    "memory-swappiness", "mount", "name", "net", "net-alias", "network", "network-alias",
    "oom-score-adj", "pid", "pids-limit", "platform", "publish", "pull", "restart",
    "runtime", "security-opt", "shm-size", "stop-signal", "stop-timeout", "storage-opt",
    "sysctl", "tmpfs", "ulimit", "user", "userns", "uts", "volume", "volume-driver",
    "volumes-from", "workdir",
})
BOOL_FLAGS = frozenset({
    "detach", "disable-content-trust", "help", "init", "interactive", "no-healthcheck",
    "oom-kill-disable", "privileged", "publish-all", "quiet", "read-only", "rm", "sig-proxy",
    "tty", "use-api-socket",
})
SHORT = {
    "a": "attach", "c": "cpu-shares", "d": "detach", "e": "env", "h": "hostname",
    "i": "interactive", "l": "label", "m": "memory", "p": "publish", "P": "publish-all",
    "q": "quiet", "t": "tty", "u": "user", "v": "volume", "w": "workdir",
}
ALIASES = {"net": "network", "net-alias": "network-alias", "dns-opt": "dns-option"}

# Global `docker` flags that may come before the subcommand.
GLOBAL_VALUE = frozenset({"host", "config", "context", "log-level", "tlscacert", "tlscert",
                          "tlskey"})
GLOBAL_BOOL = frozenset({"debug", "tls", "tlsverify"})
GLOBAL_SHORT = {"H": "host", "c": "context", "l": "log-level", "D": "debug"}

SUDO_VALUE = frozenset("ugpCDhrtUT")
SHELL_OPERATORS = ("&&", "||", ";", ";;", "|", "&", "|&")
VOLUME_MODES = frozenset({
    "ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated",
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
})
PROPAGATIONS = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})
_ENV_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_BYTES = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass(slots=True)
class _Parsed:
    values: dict[str, list[str]] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)
    image: str = ""
    command: list[str] = field(default_factory=list)

    def last(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[-1] if vals else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


# --- splitting -------------------------------------------------------------------------------

def strip_comment(line: str) -> str:
    """`line` up to an unquoted shell comment (`#` at the start of a word)."""
    quote = ""
    escaped = False
    prev = " "
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev in " \t;&|(":
            return line[:i]
        prev = ch
    return line


def _split(command: str, where: str) -> list[str]:
    if "\x00" in command:
        raise InputError(f"{where}: the command line contains a NUL byte")
    if len(command) > MAX_COMMAND:
        raise InputError(f"{where}: the command line is longer than {MAX_COMMAND} characters")
    text = re.sub(r"\\\r?\n", " ", command)  # backslash-newline continuations
    try:
        words = shlex.split(strip_comment(text), comments=False, posix=True)
    except ValueError as exc:
        raise InputError(f"{where}: cannot split the command line: {exc}") from None
    out: list[str] = []
    for w in words:  # stop at the first shell operator: `docker run x && echo done`
        if w in SHELL_OPERATORS or w.startswith((">", "<", "2>", "1>", "&>")):
            break
        if w.endswith(";") and not w.endswith("\\;"):
            out.append(w[:-1])
            break
        out.append(w)
    return out


def _docker_argv(words: list[str], where: str) -> list[str]:
    """The arguments after `docker [globals] run|create`."""
    i = 0
    while i < len(words):
        w = words[i]
        if _ENV_ASSIGN.match(w) or w in ("exec", "command", "time", "env", "nohup"):
            i += 1
        elif w == "sudo":
            i += 1
            while i < len(words) and words[i].startswith("-") and words[i] != "--":
                opt = words[i]
                i += 1
                if len(opt) == 2 and opt[1] in SUDO_VALUE:
                    i += 1
            if i < len(words) and words[i] == "--":
                i += 1
        else:
            break
    if i >= len(words) or words[i].rsplit("/", 1)[-1] != "docker":
        raise InputError(f"{where}: not a docker command line", "expected `docker run ...`")
    i += 1
    while i < len(words) and words[i].startswith("-"):
        w = words[i]
        name, eq, _ = w.lstrip("-").partition("=")
        if not w.startswith("--"):
            name = GLOBAL_SHORT.get(name[:1], name)
            eq = "=" if len(w) > 2 and name != "debug" else eq
        if name in GLOBAL_VALUE:
            i += 1 if eq else 2
        elif name in GLOBAL_BOOL:
            i += 1
        else:
            raise InputError(f"{where}: unknown docker global flag {w.split('=', 1)[0]}")
    rest = words[i:]
    if rest[:1] == ["container"]:
        rest = rest[1:]
    if not rest or rest[0] not in ("run", "create"):
        got = rest[0] if rest else "nothing"
        raise InputError(f"{where}: not a docker run/create command (subcommand: {got})")
    return rest[1:]


def _parse_bool(flag: str, value: str, where: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"{where}: invalid boolean {value!r} for {flag}")


def _parse_argv(argv: list[str], where: str) -> _Parsed:
    p = _Parsed()
    i = 0

    def need_value(flag: str) -> str:
        nonlocal i
        i += 1
        if i >= len(argv):
            raise InputError(f"{where}: flag {flag} needs a value")
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            name = ALIASES.get(name, name)
            if name in VALUE_FLAGS:
                p.values.setdefault(name, []).append(value if eq else need_value(arg))
            elif name in BOOL_FLAGS:
                p.bools[name] = _parse_bool(arg, value, where) if eq else True
            else:
                raise InputError(f"{where}: unknown docker run flag --{name}",
                                 "see `docker run --help` for the flags it accepts")
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                short = SHORT.get(ch)
                if short is None:
                    raise InputError(f"{where}: unknown docker run flag -{ch}",
                                     "see `docker run --help` for the flags it accepts")
                name = short
                if name in VALUE_FLAGS:
                    rest = arg[j + 1:]
                    if rest.startswith("="):
                        rest = rest[1:]
                    p.values.setdefault(name, []).append(rest if rest else need_value(f"-{ch}"))
                    break
                if arg[j + 1:j + 2] == "=":
                    p.bools[name] = _parse_bool(f"-{ch}", arg[j + 2:], where)
                    break
                p.bools[name] = True
                j += 1
        else:
            break
        i += 1
    if i >= len(argv):
        raise InputError(f"{where}: no image given", "docker run [OPTIONS] IMAGE [COMMAND]")
    p.image = argv[i]
    p.command = argv[i + 1:]
    return p


# --- value conversions (as the CLI and the Engine do them) -------------------------------

def _bytes(flag: str, value: str, where: str) -> int:
    """units.RAMInBytes: binary multiples, `256m`, `1.5g`, `1024`, `2GiB`."""
    m = _BYTES.fullmatch(value.strip())
    if not m:
        raise InputError(f"{where}: invalid size {value!r} for --{flag}")
    return int(Decimal(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _int(flag: str, value: str, where: str) -> int:
    try:
        return int(value, 0) if not re.fullmatch(r"[+-]?0\d+", value) else int(value, 10)
    except ValueError:
        raise InputError(f"{where}: invalid integer {value!r} for --{flag}") from None


def _nano_cpus(value: str, where: str) -> int:
    try:
        nano = Decimal(value) * 1_000_000_000
    except InvalidOperation:
        raise InputError(f"{where}: invalid --cpus value {value!r}") from None
    if nano != nano.to_integral_value():
        raise InputError(f"{where}: --cpus value {value!r} is too precise")
    return int(nano)


def _key_values(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _device(value: str, where: str) -> str:
    parts = value.split(":")
    if not parts[0] or len(parts) > 3:
        raise InputError(f"{where}: invalid --device {value!r}")
    host = parts[0]
    ctr, perms = host, "rwm"
    if len(parts) == 2:
        if re.fullmatch(r"[rwm]{1,3}", parts[1]):
            perms = parts[1]
        else:
            ctr = parts[1]
    elif len(parts) == 3:
        ctr, perms = parts[1], parts[2]
    return f"{host}:{ctr}:{perms}"


def _port_range(text: str, what: str, where: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not m:
        raise InputError(f"{where}: invalid {what} port {text!r}")
    start = int(m.group(1))
    end = int(m.group(2) or start)
    if end < start or end > 65535:
        raise InputError(f"{where}: invalid {what} port range {text!r}")
    return start, end


def _publish(value: str, where: str) -> list[PortBinding]:
    """nat.ParsePortSpec: `[ip:][hostPort:]containerPort[/proto]`, ranges, `[::1]:80:80`."""
    spec, _, proto = value.partition("/")
    proto = proto or "tcp"
    parts = spec.split(":")
    ctr = parts[-1]
    if len(parts) == 1:
        ip, host = "", ""
    elif len(parts) == 2:
        ip, host = "", parts[0]
    else:
        ip, host = ":".join(parts[:-2]), parts[-2]
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if proto not in ("tcp", "udp", "sctp"):
        raise InputError(f"{where}: invalid protocol {proto!r} in --publish {value!r}")
    c_start, c_end = _port_range(ctr, "container", where)
    count = c_end - c_start + 1
    if not host:  # one binding for the whole range: never one object per port
        return [PortBinding(f"{c_start}/{proto}", ip, None, count)]
    h_start, h_end = _port_range(host, "host", where)
    if h_end - h_start == c_end - c_start:
        return [PortBinding(f"{c_start}/{proto}", ip, h_start, count)]
    if c_start == c_end:  # one container port, a range of host ports: the Engine picks
        return [PortBinding(f"{c_start}/{proto}", ip, None)]
    raise InputError(f"{where}: host and container port ranges differ in --publish {value!r}")


def _volume(value: str, driver: str, where: str) -> Mount:
    parts = value.split(":")
    if len(parts) > 3 or not all(parts):
        raise InputError(f"{where}: invalid volume specification {value!r}")
    if len(parts) == 1:
        src, dst, modes = "", parts[0], []
    else:
        src, dst = parts[0], parts[1]
        modes = parts[2].split(",") if len(parts) == 3 else []
    if not dst.startswith("/"):
        raise InputError(f"{where}: volume destination {dst!r} is not an absolute path")
    bad = [m for m in modes if m not in VOLUME_MODES]
    if bad:
        raise InputError(f"{where}: invalid volume mode {bad[0]!r} in {value!r}")
    read_only = "ro" in modes
    prop = next((m for m in modes if m in PROPAGATIONS), "")
    if src.startswith(("/", ".", "~")):
        return Mount("bind", src, dst, read_only, prop or "rprivate")
    if not src:  # anonymous volume: created now, with no options
        return Mount("volume", "", dst, read_only, "", driver or "local", None)
    return Mount("volume", src, dst, read_only, "", driver or "local",
                 Unknown("volume options not known from a command line"))


def _mount(value: str, driver: str, where: str) -> Mount:
    try:
        items = next(csv.reader([value], strict=True))
    except (csv.Error, StopIteration):
        raise InputError(f"{where}: invalid --mount {value!r}") from None
    kind, src, dst, prop = "volume", "", "", ""
    read_only = False
    vol_opts: dict[str, str] = {}
    tmpfs_size = ""
    for item in items:
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            kind = val
        elif key in ("source", "src"):
            src = val
        elif key in ("target", "destination", "dst"):
            dst = val
        elif key in ("readonly", "ro"):
            read_only = _parse_bool("--mount readonly", val, where) if eq else True
        elif key == "bind-propagation":
            prop = val
        elif key == "volume-driver":
            driver = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            vol_opts[k] = v
        elif key == "tmpfs-size":
            tmpfs_size = val
        elif key not in ("consistency", "bind-nonrecursive", "bind-recursive", "volume-nocopy",
                         "volume-label", "volume-subpath", "tmpfs-mode", "image-subpath",
                         "bind-create-src"):
            raise InputError(f"{where}: unknown --mount option {key!r}")
    if kind not in ("bind", "volume", "tmpfs", "npipe", "image", "cluster"):
        raise InputError(f"{where}: invalid mount type {kind!r}")
    if not dst:
        raise InputError(f"{where}: --mount {value!r} has no target")
    if kind == "bind":
        if not src:
            raise InputError(f"{where}: --mount type=bind needs a source")
        return Mount("bind", src, dst, read_only, prop or "rprivate")
    size: Fact[str | None]
    if kind == "tmpfs":
        size = f"size={tmpfs_size}" if tmpfs_size else None
        return Mount("tmpfs", "", dst, read_only, size_limit=size)
    if kind == "volume":
        if vol_opts:
            size = volume_size_limit(vol_opts)
        elif src:
            size = Unknown("volume options not known from a command line")
        else:
            size = None
        return Mount("volume", src, dst, read_only, "", driver or "local", size)
    return Mount(kind, src, dst, read_only)


def _tmpfs(value: str, where: str) -> Mount:
    dst, _, opts = value.partition(":")
    if not dst.startswith("/"):
        raise InputError(f"{where}: --tmpfs destination {dst!r} is not an absolute path")
    options = opts.split(",") if opts else []
    size = next((o for o in options if o.startswith("size=")), None)
    return Mount("tmpfs", "", dst, "ro" in options, size_limit=size)


def _ulimit(value: str, where: str) -> str:
    m = re.fullmatch(r"([a-z]+)=(-?\d+)(?::(-?\d+))?", value.strip())
    if not m:
        raise InputError(f"{where}: invalid --ulimit {value!r}")
    soft = m.group(2)
    return f"{m.group(1)}={soft}:{m.group(3) or soft}"


def _restart(value: str, where: str) -> tuple[str, int]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InputError(f"{where}: invalid --restart policy {value!r}")
    if count and (name != "on-failure" or not count.isdigit()):
        raise InputError(f"{where}: invalid --restart policy {value!r}")
    return name, int(count or 0)


# --- the public API ---------------------------------------------------------------------------

def parse_run(command: str, *, origin: str = "run-command",
              line: int | None = None) -> ContainerSpec:
    """The `ContainerSpec` of the container `command` (a `docker run` line) would create.

    `origin` names where the line came from (a script path) in error messages; with a
    `line` the target is that file and line (so SARIF can annotate it) and every field is
    mapped to the line. Raises `InputError` on anything the Docker CLI would refuse.
    """
    where = f"{origin}:{line}" if line is not None else origin
    p = _parse_argv(_docker_argv(_split(command, where), where), where)
    v, b = p, p.bools  # flag values, booleans

    driver = v.last("volume-driver") or ""
    mounts = [_volume(x, driver, where) for x in v.all("volume")]
    mounts += [_mount(x, driver, where) for x in v.all("mount")]
    mounts += [_tmpfs(x, where) for x in v.all("tmpfs")]
    security_opt = v.all("security-opt")
    if b.get("privileged") and "label=disable" not in security_opt:
        # As the Engine records it: a privileged container is also unlabelled.
        security_opt = [*security_opt, "label=disable"]
    if b.get("use-api-socket"):
        mounts.append(Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock", False,
                            "rprivate"))

    ports = [pb for x in v.all("publish") for pb in _publish(x, where)]
    if b.get("publish-all"):
        published = {q.container_port for q in ports}
        for x in v.all("expose"):
            for pb in _publish(x.split(":")[-1], where):
                if pb.container_port not in published:
                    published.add(pb.container_port)
                    ports.append(pb)

    networks = v.all("network")
    mode = networks[0] if networks else "default"
    if mode in ("default", "bridge"):
        nets: tuple[str, ...] = ("bridge",)
    elif mode.startswith("container:"):
        nets = ()
    else:
        nets = tuple(dict.fromkeys(networks))

    health_cmd = v.last("health-cmd")
    if b.get("no-healthcheck") and health_cmd:
        raise InputError(f"{where}: --no-healthcheck conflicts with --health-cmd")
    healthcheck = ("CMD-SHELL", health_cmd) if health_cmd else None

    restart, retries = _restart(v.last("restart") or "no", where)
    pids = v.last("pids-limit")
    env = []
    for item in v.all("env"):
        key, eq, value = item.partition("=")
        if eq:  # `-e NAME` takes the value from the caller's environment: not known here
            env.append((key, value))
    labels = _key_values(v.all("label"))

    name = v.last("name") or p.image
    if line is None:
        target = Target(TargetKind.CONTAINER, name)
    else:
        target = Target(TargetKind.CONTAINER, origin, line=line, service=name)
    lines = {f.name: line for f in fields(ContainerSpec)} if line is not None else {}

    return ContainerSpec(
        name=name,
        target=target,
        source=Source.RUN_COMMAND,
        image=p.image,
        privileged=b.get("privileged", False),
        pid_mode=v.last("pid") or "",
        ipc_mode=v.last("ipc") or "",
        network_mode=mode,
        uts_mode=v.last("uts") or "",
        userns_mode=v.last("userns") or "",
        mounts=tuple(mounts),
        cap_add=tuple(v.all("cap-add")),
        cap_drop=tuple(v.all("cap-drop")),
        security_opt=tuple(security_opt),
        pids_limit=_int("pids-limit", pids, where) if pids is not None else None,
        memory=_bytes("memory", v.last("memory") or "0", where),
        nano_cpus=_nano_cpus(v.last("cpus") or "0", where),
        cpu_shares=_int("cpu-shares", v.last("cpu-shares") or "0", where),
        cpu_quota=_int("cpu-quota", v.last("cpu-quota") or "0", where),
        cpuset_cpus=v.last("cpuset-cpus") or "",
        storage_opt=_key_values(v.all("storage-opt")),
        log_driver=v.last("log-driver") or "",
        log_options=_key_values(v.all("log-opt")),
        read_only_rootfs=b.get("read-only", False),
        user=v.last("user") or "",
        devices=tuple(_device(x, where) for x in v.all("device")),
        ports=tuple(ports),
        restart_policy=restart,
        restart_max_retries=retries,
        healthcheck=healthcheck,
        networks=nets,
        cgroup_parent=v.last("cgroup-parent") or "",
        ulimits=tuple(_ulimit(x, where) for x in v.all("ulimit")),
        env=tuple(env),
        sysctls=_key_values(v.all("sysctl")),
        labels=labels,
        lines=lines,
    )


_DOCKER_WORD = re.compile(
    r"(?:^|(?<=[\s;&|(`'\"]))[@+-]*(?P<docker>(?:[\w./-]*/)?docker)(?=\s)"
)
_ENDS_COMMAND = re.compile(r"\s(?:&&|\|\||;|\|)\s|;\s*$|\)\s*$|`")


def _is_run(after: str) -> bool:
    """Do the words after `docker` read `[globals] [container] run|create`?"""
    words = after.split(None, 40)
    i = 0
    while i < len(words) and words[i].startswith("-"):
        name, eq, _ = words[i].lstrip("-").partition("=")
        if not words[i].startswith("--"):
            name = GLOBAL_SHORT.get(name[:1], name)
            eq = "=" if len(words[i]) > 2 and name != "debug" else eq
        if name in GLOBAL_VALUE and not eq:
            i += 1
        elif name not in GLOBAL_VALUE and name not in GLOBAL_BOOL:
            return False
        i += 1
    if words[i:i + 1] == ["container"]:
        i += 1
    return i < len(words) and words[i] in ("run", "create")


def _logical_lines(text: str) -> Iterator[tuple[int, str, list[int]]]:
    """(first line, joined text, offsets) of each backslash-continued logical line."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        parts = [lines[i]]
        while parts[-1].endswith("\\") and i + 1 < len(lines):
            parts[-1] = parts[-1][:-1]
            i += 1
            parts.append(lines[i])
        i += 1
        offsets: list[int] = []
        pos = 0
        for part in parts:
            offsets.append(pos)
            pos += len(part) + 1
        yield start + 1, " ".join(parts), offsets


def find_run_commands(text: str) -> list[tuple[int, str]]:
    """`docker run` / `docker create` command lines in a shell script, Makefile or CI YAML.

    Returns (1-based line of the `docker` word, the command from `docker` on), with
    backslash-newline continuations joined and Makefile (`\\t@`), YAML (`- `, `run: |`)
    prefixes stripped. Commands inside comments are skipped.
    """
    out: list[tuple[int, str]] = []
    for first, joined, offsets in _logical_lines(text):
        body = strip_comment(joined)
        for m in _DOCKER_WORD.finditer(body):
            start = m.start("docker")
            if not _is_run(body[m.end():]):
                continue
            cmd = body[start:]
            before = body[:m.start()].rstrip()
            if before.endswith("("):  # `$(docker run ...)` or `(docker run ...)`
                cmd = cmd.split(")", 1)[0]
            # Cut at a shell operator that ends this command (outside quotes is the
            # parser's business; `;`, `&&`, `||` after the command end it here).
            cmd = _ENDS_COMMAND.split(cmd, maxsplit=1)[0].rstrip()
            line = first + max(n for n, off in enumerate(offsets) if off <= start)
            out.append((line, cmd))
    return out
