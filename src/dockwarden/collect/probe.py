"""Canary containers for `dockwarden probe`: started under the Engine's defaults (or the
`docker run` flags under test), measured from inside, always removed.

Every measurement is a small POSIX shell script run with `exec` in the canary (so any
image with /bin/sh will do; busybox's `nc` or bash's /dev/tcp reach the network), and
its output parsed here by pure functions. Written by hand: no library measures what a
container's limits and network look like from inside it.

Safety: each canary carries the labels `dockwarden.probe=1`, `dockwarden.probe.run=<id>`
and `dockwarden.probe.expires=<unix time>`; its main process is `sleep` for the probe's
time limit plus a grace, and the Engine removes it when that ends (AutoRemove), so even
a probe killed with SIGKILL leaves nothing behind for long. A run removes its own
canaries in a `finally` path (signals held off meanwhile) and sweeps its own label at the
end; at the start it sweeps only canaries whose `expires` time has passed (leftovers of a
probe that died), never those of a probe still running. The fork test is bounded by its
cap (at most 4,096 processes) and the write test by its size, whatever the limits are.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import math
import os
import re
import secrets
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockwarden.deadline import Deadline, DeadlineExceeded
from dockwarden.errors import DockwardenError, InputError, UsageError
from dockwarden.model.common import Fact, Unknown
from dockwarden.model.probe import (
    Attempt,
    ForkTest,
    Limits,
    LogTest,
    ProbeSnapshot,
    Reach,
    WriteTest,
)
from dockwarden.sanitize import clean, excerpt

LABEL = "dockwarden.probe"
RUN_LABEL = "dockwarden.probe.run"
EXPIRES_LABEL = "dockwarden.probe.expires"
DEFAULT_FORK_CAP = 512
MAX_FORK_CAP = 4096
DEFAULT_WRITE = 64 << 20
MAX_WRITE = 1 << 30  # the write test never writes more than this in all
ENGINE_PORTS = (2375, 2376)
PEER_PORT = 7777
PEER_TOKEN = "dwprobe-peer"
MAX_ADDRESSES = 16
GRACE = 30  # seconds a canary outlives the probe's time limit (then it removes itself)
CLEANUP_SECONDS = 20.0
MAX_OUTPUT = 1 << 20  # bytes read from one measurement's output
_PLACEHOLDER = "dockwarden-probe-canary-image"

# --- --run-flags -> the Engine's create options ------------------------------------------

SUPPORTED_FLAGS = frozenset({
    "pids-limit", "memory", "cpus", "cpu-shares", "cpu-quota", "cpuset-cpus", "storage-opt",
    "log-driver", "log-opt", "read-only", "user", "network", "ulimit", "security-opt",
    "cap-add", "cap-drop", "cgroup-parent", "pid", "ipc", "uts", "userns", "privileged",
    "sysctl", "tmpfs", "env", "label",
})
# accepted and without effect on a canary (it is always detached and removed)
IGNORED_FLAGS = frozenset({"rm", "detach", "interactive", "tty", "sig-proxy", "quiet"})
_WHY_NOT = {
    "volume": "canaries mount nothing from the host", "mount": "canaries mount nothing",
    "volumes-from": "canaries mount nothing", "publish": "canaries publish no port",
    "publish-all": "canaries publish no port", "name": "canaries name themselves",
    "entrypoint": "the probe runs its own commands", "restart": "canaries never restart",
    "device": "canaries get no host device", "env-file": "probe reads no file",
    "label-file": "probe reads no file", "cidfile": "probe writes no file",
}


@dataclass(frozen=True, slots=True)
class CanaryOptions:
    """What the flags under test ask of the Engine, as the SDK's create options."""

    flags: str
    host_config: dict[str, Any] = field(default_factory=dict)
    user: str = ""
    environment: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str = "default"
    storage_size: str | None = None


def _flag_names(words: list[str]) -> list[str]:
    """The long names of the flags in `words` (already validated by `parse_run`)."""
    from dockwarden.collect.runcmd import ALIASES, SHORT, VALUE_FLAGS

    names: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        if word.startswith("--"):
            name, eq, _ = word[2:].partition("=")
            name = ALIASES.get(name, name)
            names.append(name)
            if name in VALUE_FLAGS and not eq:
                i += 1
        else:
            for j, ch in enumerate(word[1:], 1):
                name = SHORT.get(ch, ch)
                names.append(name)
                if name in VALUE_FLAGS:
                    if j == len(word) - 1:
                        i += 1
                    break
                if word[j + 1:j + 2] == "=":
                    break
        i += 1
    return names


def canary_options(flags: str) -> CanaryOptions:
    """`--run-flags '...'` read with the `docker run` parser and mapped to the SDK's
    create options; a flag the probe cannot give a canary is a usage error (exit 2)."""
    from docker.types import LogConfig, Ulimit

    from dockwarden.collect.runcmd import parse_run

    flags = flags.strip()
    if not flags:
        return CanaryOptions(flags="")
    try:
        spec = parse_run(f"docker run {flags} -- {_PLACEHOLDER}", origin="--run-flags")
        words = shlex.split(flags)
    except InputError as exc:
        raise UsageError(exc.message, exc.hint or "give only `docker run` flags, e.g. "
                         "--run-flags '--pids-limit 64 --memory 64m'") from None
    except ValueError as exc:
        raise UsageError(f"--run-flags: {clean(exc)}") from None
    if spec.image != _PLACEHOLDER:
        raise UsageError("--run-flags takes `docker run` flags only (no image, command or "
                         "shell operators)", "name the image with --image")
    for name in _flag_names(words):
        if name in SUPPORTED_FLAGS or name in IGNORED_FLAGS:
            continue
        why = _WHY_NOT.get(name, "probe cannot give it to a canary")
        raise UsageError(f"--run-flags: --{clean(name)} is not supported by probe ({why})",
                         "supported: " + ", ".join(f"--{n}" for n in sorted(SUPPORTED_FLAGS)))
    host: dict[str, Any] = {}
    if spec.pids_limit is not None:
        host["pids_limit"] = spec.pids_limit
    for key, value in (("mem_limit", spec.memory), ("nano_cpus", spec.nano_cpus),
                       ("cpu_shares", spec.cpu_shares), ("cpu_quota", spec.cpu_quota)):
        if value:
            host[key] = value
    if spec.cpuset_cpus:
        host["cpuset_cpus"] = spec.cpuset_cpus
    if spec.storage_opt:
        host["storage_opt"] = dict(spec.storage_opt)
    if spec.log_driver or spec.log_options:
        host["log_config"] = LogConfig(type=spec.log_driver, config=dict(spec.log_options))
    if spec.read_only_rootfs:
        host["read_only"] = True
    if spec.privileged:
        host["privileged"] = True
    if spec.cap_add:
        host["cap_add"] = list(spec.cap_add)
    if spec.cap_drop:
        host["cap_drop"] = list(spec.cap_drop)
    security = [s for s in spec.security_opt if not (s == "label=disable" and spec.privileged)]
    if security:
        host["security_opt"] = security
    for key, mode in (("pid_mode", spec.pid_mode), ("ipc_mode", spec.ipc_mode),
                      ("uts_mode", spec.uts_mode), ("userns_mode", spec.userns_mode),
                      ("cgroup_parent", spec.cgroup_parent)):
        if mode:
            host[key] = mode
    if spec.sysctls:
        host["sysctls"] = dict(spec.sysctls)
    if spec.ulimits:
        host["ulimits"] = [_ulimit(u, Ulimit) for u in spec.ulimits]
    tmpfs = {m.destination: ",".join(o for o in (
        m.size_limit if isinstance(m.size_limit, str) else "", "ro" if m.read_only else "")
        if o) for m in spec.mounts if m.type == "tmpfs"}
    if tmpfs:
        host["tmpfs"] = tmpfs
    if spec.network_mode not in ("default", ""):
        host["network_mode"] = spec.network_mode
    return CanaryOptions(
        flags=flags, host_config=host, user=spec.user,
        environment=tuple(f"{k}={v}" for k, v in spec.env), labels=dict(spec.labels),
        network_mode=spec.network_mode or "default",
        storage_size=spec.storage_opt.get("size") or None,
    )


def _ulimit(text: str, ulimit: Any) -> Any:
    name, _, values = text.partition("=")
    soft, _, hard = values.partition(":")
    return ulimit(name=name, soft=int(soft), hard=int(hard or soft))


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """A Docker size (`10m`, `1.5g`, `1024`, binary multiples), or None if unreadable."""
    m = _SIZE.fullmatch(text or "")
    if not m:
        return None
    scale = 1 << (10 * "kmgtp".find(m.group(2).lower()) + 10) if m.group(2) else 1
    return int(float(m.group(1)) * scale)


# --- the scripts run in a canary, and what their output says -------------------------------

_CGROUP_FILES = (
    "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max",
    "/sys/fs/cgroup/cpu.weight",
    "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
    "/sys/fs/cgroup/cpu/cpu.shares",
    "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
    "/sys/fs/cgroup/cpu,cpuacct/cpu.shares",
)
LIMITS_SCRIPT = (
    f"for f in {' '.join(_CGROUP_FILES)}; do\n"
    '  if [ -r "$f" ] && read -r v < "$f"; then echo "$f=$v"; fi\n'
    "done\n"
)
_V1_UNLIMITED = 1 << 60  # memory.limit_in_bytes reads 9223372036854771712 when unlimited


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if text in ("max", "-1", ""):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value < 0 else value


def parse_limits(output: str) -> Fact[Limits]:
    files: dict[str, str] = {}
    for line in output.splitlines():
        path, eq, value = line.partition("=")
        if eq and path in _CGROUP_FILES:
            files[path] = value.strip()
    if not files:
        return Unknown("the canary could read none of its cgroup files")
    if any(p in files for p in _CGROUP_FILES[:4]):
        cpu = files.get("/sys/fs/cgroup/cpu.max", "max").split()
        weight = _number(files.get("/sys/fs/cgroup/cpu.weight"))
        return Limits(
            cgroup_version=2, pids_max=_number(files.get("/sys/fs/cgroup/pids.max")),
            memory_max=_number(files.get("/sys/fs/cgroup/memory.max")),
            cpu_quota=_number(cpu[0]) if cpu else None,
            cpu_period=_number(cpu[1]) if len(cpu) > 1 else None,
            cpu_weight=weight, cpu_weight_default=weight in (None, 100), files=files)

    def v1(name: str) -> str | None:
        return files.get(f"/sys/fs/cgroup/cpu/{name}", files.get(
            f"/sys/fs/cgroup/cpu,cpuacct/{name}"))

    memory = _number(files.get("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
    shares = _number(v1("cpu.shares"))
    return Limits(
        cgroup_version=1, pids_max=_number(files.get("/sys/fs/cgroup/pids/pids.max")),
        memory_max=None if memory is None or memory >= _V1_UNLIMITED else memory,
        cpu_quota=_number(v1("cpu.cfs_quota_us")), cpu_period=_number(v1("cpu.cfs_period_us")),
        cpu_weight=shares, cpu_weight_default=shares in (None, 1024), files=files)


def fork_script(cap: int) -> str:
    """Start `sleep` in the background up to `cap` times, a dot for each one started;
    then kill them. A shell that cannot fork stops (ash, dash) or fails to set `$!`
    (bash): either ends the loop early. The sleeps hold none of the exec's streams
    (the Engine would wait for them after the shell ends)."""
    return (
        'n=0; p=""; last=""\n'
        f"while [ $n -lt {cap} ]; do\n"
        "  sleep 120 </dev/null >/dev/null 2>&1 &\n"
        '  if [ "$!" = "$last" ]; then echo; echo "fork failed" >&2; break; fi\n'
        '  last=$!; p="$p $!"; n=$((n+1)); printf .\n'
        "done\n"
        'echo; echo "started=$n"\n'
        "kill $p 2>/dev/null\n"
    )


def parse_fork(stdout: str, stderr: str, cap: int, exit_code: int | None) -> ForkTest:
    started = stdout.count(".")
    m = re.search(r"started=(\d+)", stdout)
    if m:
        started = int(m.group(1))
    if started >= cap:
        return ForkTest(cap=cap, started=cap, stopped=False, error="")
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    error = lines[-1] if lines else (
        f"the shell was killed (exit {exit_code})" if exit_code not in (None, 0)
        else "the shell stopped")
    return ForkTest(cap=cap, started=started, stopped=True, error=excerpt(error, 200))


_TRY_FUNCTION = r"""
req='GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n'
dw_try() {
  if command -v nc >/dev/null 2>&1; then
    out=$(printf "$req" | nc -w 3 "$1" "$2" 2>&1)
  elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
    out=$(timeout 4 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "$2" >&3;
      while IFS= read -r -t 3 l <&3 || [ -n "$l" ]; do echo "$l"; l=""; done' \
      "$1" "$2" "$req" 2>&1)
  else
    printf '@@ %s %s notool\n' "$1" "$2"; return
  fi
  case "$out" in
    *dwprobe-peer*) c=peer ;;
    *Api-Version*|*Docker-Experimental*) c=engine ;;
    *"HTTP request to an HTTPS server"*) c=engine-tls ;;
    *[Rr]efused*) c=refused ;;
    "") c=silent ;;
    *"timed out"*|*[Tt]imeout*|*"No route"*|*unreachable*) c=silent ;;
    *) c=open ;;
  esac
  first=${out%%"
"*}
  printf '@@ %s %s %s %.120s\n' "$1" "$2" "$c" "$first"
}
"""


def network_script(targets: list[tuple[str, int]]) -> str:
    """Try every (address, port) at once (each answer one short line)."""
    calls = "".join(f"dw_try {shlex.quote(a)} {p} &\n" for a, p in targets)
    return _TRY_FUNCTION + calls + "wait\n"


def parse_network(output: str) -> tuple[dict[tuple[str, int], Attempt], bool]:
    """The attempts by (address, port), and whether the canary had no tool to try."""
    found: dict[tuple[str, int], Attempt] = {}
    notool = False
    for line in output.splitlines():
        parts = line.split(" ", 4)
        if len(parts) < 4 or parts[0] != "@@" or not parts[2].isdigit():
            continue
        if parts[3] == "notool":
            notool = True
            continue
        try:
            reach = Reach(parts[3])
        except ValueError:
            continue
        key = (parts[1], int(parts[2]))
        found[key] = Attempt(parts[1], int(parts[2]), reach,
                             excerpt(parts[4], 120) if len(parts) > 4 else "")
    return found, notool


def write_script(mib: int) -> str:
    """Append 1 MiB at a time to a file of the writable layer until `mib` MiB are
    written or a write fails; say where and how much; remove the file."""
    return (
        'f=""\n'
        "for d in / /tmp /var/tmp; do\n"
        '  if true 2>/dev/null > "${d%/}/.dockwarden-probe"; then f="${d%/}/.dockwarden-probe";'
        " break; fi\n"
        "done\n"
        'if [ -z "$f" ]; then echo "nowrite"; exit 0; fi\n'
        "s=0123456789abcdef; i=0\n"
        'while [ $i -lt 16 ]; do s="$s$s"; i=$((i+1)); done\n'
        "n=0\n"
        f"while [ $n -lt {mib} ]; do\n"
        '  printf %s "$s" >> "$f" || break\n'
        "  n=$((n+1))\n"
        "done\n"
        'echo "path=$f"; echo "mib=$n"\n'
        'rm -f "$f" 2>/dev/null || true > "$f"\n'
    )


def parse_write(stdout: str, stderr: str, mib: int, quota: str | None) -> Fact[WriteTest]:
    if "nowrite" in stdout.split():
        return WriteTest(path="", target=mib << 20, written=0,
                         error="no writable directory in the root filesystem", quota=quota)
    path = re.search(r"^path=(.*)$", stdout, re.MULTILINE)
    done = re.search(r"^mib=(\d+)$", stdout, re.MULTILINE)
    if not path or not done:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        return Unknown("the write test gave no result"
                       + (f": {excerpt(lines[-1], 200)}" if lines else ""))
    written = int(done.group(1))
    error = ""
    if written < mib:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        error = excerpt(lines[-1], 200) if lines else "the write stopped"
    return WriteTest(path=path.group(1), target=mib << 20, written=written << 20,
                     error=error, quota=quota)


def log_script(kib: int) -> str:
    """Print `kib` lines of 1 KiB on the canary's own stdout (its PID 1's), which the
    log driver keeps."""
    return (
        "s=0123456789abcdef; i=0\n"
        'while [ $i -lt 6 ]; do s="$s$s"; i=$((i+1)); done\n'
        f'i=0; while [ $i -lt {kib} ]; do echo "$s"; i=$((i+1)); done > /proc/1/fd/1\n'
        "echo done\n"
    )


def local_addresses(fib_trie: str) -> list[str]:
    """The host's own IPv4 addresses from /proc/net/fib_trie (no loopback)."""
    found: list[str] = []
    last = ""
    for line in fib_trie.splitlines():
        m = re.search(r"[|+]-- (\d+\.\d+\.\d+\.\d+)", line)
        if m:
            last = m.group(1)
        elif ("/32 host LOCAL" in line and last and not last.startswith("127.")
              and last not in found):
            found.append(last)
    return found


# --- the run ----------------------------------------------------------------------------

Progress = Callable[[str], None]


@dataclass(slots=True)
class ProbeSettings:
    options: CanaryOptions
    image: str | None  # None: choose a local image with /bin/sh
    fork_cap: int = DEFAULT_FORK_CAP
    write_extra: int = DEFAULT_WRITE
    timeout: float = 120.0
    labels: dict[str, str] = field(default_factory=dict)


class _Measure(Exception):
    """One measurement failed: recorded, the others still run."""


class Prober:
    def __init__(self, api: Any, url: str, scheme: str, settings: ProbeSettings,
                 progress: Progress) -> None:
        self.api = api
        self.url = url
        self.scheme = scheme
        self.settings = settings
        self.progress = progress
        self.deadline = Deadline(settings.timeout)
        self.run_id = secrets.token_hex(6)
        self.lifetime = math.ceil(settings.timeout) + GRACE
        self.canaries: list[str] = []
        self.errors: list[str] = []
        self.complete = True

    # -- Engine calls, each bounded by the time left ------------------------------------
    def _budget(self, cap: float = 60.0) -> None:
        if self.deadline.expired():
            raise DeadlineExceeded(f"the probe did not finish within {self.deadline.seconds:g} s",
                                   "raise --timeout, or lower --fork-cap")
        self.api.timeout = max(1.0, self.deadline.timeout(cap))

    def _labels(self) -> dict[str, str]:
        expires = int(time.time()) + self.lifetime + 5
        return {**self.settings.labels, LABEL: "1", RUN_LABEL: self.run_id,
                EXPIRES_LABEL: str(expires)}

    def _create(self, image: str, role: str, *, under_test: bool) -> str:
        opts = self.settings.options
        host: dict[str, Any] = dict(opts.host_config) if under_test else {
            # the peer: tight limits of its own, on the default bridge
            "pids_limit": 16, "mem_limit": 32 << 20, "cpu_shares": 128}
        host["auto_remove"] = True
        self._budget()
        host_config = self.api.create_host_config(**host)
        labels = {**(opts.labels if under_test else {}), **self._labels(),
                  f"{LABEL}.role": role}
        command = f"exec sleep {self.lifetime}"
        if not under_test:
            command = (f"if command -v nc >/dev/null 2>&1; then nc -l -p {PEER_PORT} -e echo "
                       f"{PEER_TOKEN} >/dev/null 2>&1; fi; {command}")
        name = f"dockwarden-probe-{self.run_id}-{role}"
        created = self.api.create_container(
            image, command=["-c", command], entrypoint=["/bin/sh"], name=name,
            labels=labels, host_config=host_config, detach=True,
            user=opts.user if under_test and opts.user else None,
            environment=list(opts.environment) if under_test and opts.environment else None)
        cid = str(created["Id"])
        self.canaries.append(cid)
        return cid

    def _has_shell(self, cid: str) -> bool:
        self._budget(10)
        res = self.api.head(self.api._url("/containers/{0}/archive", cid),
                            params={"path": "/bin/sh"}, timeout=self.api.timeout)
        return bool(res.status_code == 200)

    def _exec(self, cid: str, script: str, what: str) -> tuple[str, str, int | None]:
        """Run `script` with /bin/sh in the canary; its stdout, stderr and exit code
        (None when it was cut off), at most MAX_OUTPUT bytes of each."""
        self._budget()
        ex = self.api.exec_create(cid, ["/bin/sh", "-c", script], stdout=True, stderr=True)
        out, err = bytearray(), bytearray()
        stream = self.api.exec_start(ex["Id"], stream=True, demux=True)
        try:
            for chunk_out, chunk_err in stream:
                if chunk_out:
                    out += chunk_out[:MAX_OUTPUT - len(out)]
                if chunk_err:
                    err += chunk_err[:MAX_OUTPUT - len(err)]
                if self.deadline.expired():
                    raise _Measure(f"{what}: cut off at the time limit")
                if len(out) >= MAX_OUTPUT:
                    break
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        self._budget(10)
        code = self.api.exec_inspect(ex["Id"]).get("ExitCode")
        return (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                code if isinstance(code, int) else None)

    # -- choosing the image --------------------------------------------------------------
    def _candidates(self) -> list[str]:
        import docker.errors

        wanted = self.settings.image
        self._budget()
        if wanted:
            try:
                self.api.inspect_image(wanted)
            except docker.errors.NotFound:
                raise UsageError(f"image {clean(wanted)} is not on the Engine", "probe never "
                                 f"pulls: `docker pull {clean(wanted)}` first") from None
            return [wanted]
        ranked: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        for image in self.api.images() or []:
            tags = [t for t in image.get("RepoTags") or [] if t and "<none>" not in t]
            if not tags or image.get("Id") in seen:
                continue
            seen.add(str(image.get("Id")))
            tag = sorted(tags, key=lambda t: ("busybox" not in t, t.endswith(":latest"), t))[0]
            kind = 0 if "busybox" in tag else 1 if "alpine" in tag else 2
            ranked.append((kind, int(image.get("Size") or 0), tag))
        return [tag for _, _, tag in sorted(ranked)[:8]]

    def _canary(self) -> tuple[str, str]:
        """Create the canary under test from the first candidate image that has
        /bin/sh: (image, container id)."""
        candidates = self._candidates()
        for image in candidates:
            cid = self._create(image, "a", under_test=True)
            if self._has_shell(cid):
                return image, cid
            self._remove(cid)
        if self.settings.image:
            raise UsageError(f"image {clean(self.settings.image)} has no /bin/sh: the "
                             "canaries need a shell", "choose another with --image")
        raise UsageError(
            "no local image with /bin/sh to run the canaries (probe never pulls)",
            "`docker pull busybox`, or offline: d=$(mktemp -d); mkdir $d/bin; "
            "cp /bin/busybox $d/bin/ (a static build, e.g. Debian's busybox-static); "
            "for a in sh sleep nc echo; do ln -s busybox $d/bin/$a; done; "
            "tar -C $d -c . | docker import - busybox:local; then --image busybox:local")

    # -- clean-up -------------------------------------------------------------------------
    def _remove(self, cid: str) -> None:
        import docker.errors

        try:
            self.api.remove_container(cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: the Engine is removing it already
                raise
        if cid in self.canaries:
            self.canaries.remove(cid)

    def _listed(self, label: str) -> list[dict[str, Any]]:
        found = self.api.containers(all=True, filters={"label": label})
        return [c for c in found or [] if isinstance(c, dict)]

    def sweep_stale(self) -> int:
        """Remove canaries of probes that ended without removing them (their expiry
        time has passed); never those of a probe still running."""
        now = time.time()
        removed = 0
        self._budget(30)
        for c in self._listed(f"{LABEL}=1"):
            labels = c.get("Labels") or {}
            try:
                expires = float(labels.get(EXPIRES_LABEL, "0"))
            except ValueError:
                expires = 0.0
            if expires < now:
                with contextlib.suppress(Exception):
                    self._remove(str(c["Id"]))
                    removed += 1
        return removed

    def cleanup(self) -> list[str]:
        """Remove this run's canaries (signals held off, its own time budget), then
        sweep its label; the ids that could not be removed."""
        held = _hold_signals()
        try:
            with contextlib.suppress(Exception):
                self.api.close()  # drop any half-read connection of an interrupted call
            self.api.timeout = CLEANUP_SECONDS
            end = time.monotonic() + CLEANUP_SECONDS
            for cid in list(self.canaries):
                with contextlib.suppress(Exception):
                    self._remove(cid)
            left: list[str] = []
            while time.monotonic() < end:
                try:
                    left = [str(c["Id"]) for c in self._listed(f"{RUN_LABEL}={self.run_id}")]
                except Exception:
                    left = list(self.canaries)
                    break
                if not left:
                    break
                for cid in left:
                    with contextlib.suppress(Exception):
                        self._remove(cid)
                time.sleep(0.2)
            return left
        finally:
            held()

    # -- measuring ------------------------------------------------------------------------
    def run(self) -> ProbeSnapshot:
        import docker.errors
        import requests

        def step(what: str, func: Callable[[], Any]) -> Any:
            try:
                return func()
            except (_Measure, DockwardenError) as exc:  # a time limit too: partial report
                reason = exc.message if isinstance(exc, DockwardenError) else str(exc)
            except docker.errors.APIError as exc:
                reason = f"{what}: the Engine refused: {clean(exc.explanation or exc)}"
            except requests.exceptions.RequestException as exc:
                reason = (f"{what}: cut off at the time limit ({self.deadline.seconds:g} s)"
                          if self.deadline.expired() else
                          f"{what}: {clean(type(exc).__name__)}: {excerpt(str(exc), 200)}")
            self.errors.append(reason)
            self.complete = False
            return Unknown(reason)

        opts = self.settings.options
        snap: dict[str, Any] = {}
        self.progress("removing leftover canaries of probes that died")
        self.sweep_stale()
        image, a = self._canary()
        under = f"--run-flags {opts.flags}" if opts.flags else "the Engine defaults"
        self.progress(f"canary under {under} (image {clean(image)})")
        peer = None
        if opts.network_mode in ("default", "bridge"):
            peer = self._create(image, "b", under_test=False)
        self._budget()
        self.api.start(a)
        if peer is not None:
            self._budget()
            self.api.start(peer)
        self._budget()
        info = self.api.inspect_container(a)
        self.progress("reading the canary's cgroup limits")
        snap["limits"] = step("limits", lambda: self._limits(a))
        self.progress("trying the Engine API ports and the other canary from inside")
        reach, peer_reach = step("network", lambda: self._network(a, info, peer)), None
        if isinstance(reach, tuple):
            reach, peer_reach = reach
        snap["engine_reach"] = reach
        snap["peer_reach"] = (peer_reach if peer_reach is not None else
                              reach if isinstance(reach, Unknown) else Unknown(
                                  "the canary is not on the default bridge "
                                  f"(--network {opts.network_mode})"))
        self.progress("writing to the canary's writable layer")
        snap["write"] = step("write test", lambda: self._write(a))
        self.progress("printing log lines")
        snap["log"] = step("log test", lambda: self._log(a, info))
        self.progress(f"fork test (up to {self.settings.fork_cap} processes)")
        snap["fork"] = step("fork test", lambda: self._fork(a))
        return ProbeSnapshot(
            engine=self.url, image=image, run_flags=opts.flags,
            network_mode=opts.network_mode, errors=tuple(self.errors),
            complete=self.complete, **snap)

    def _limits(self, cid: str) -> Fact[Limits]:
        out, _, _ = self._exec(cid, LIMITS_SCRIPT, "limits")
        return parse_limits(out)

    def _engine_addresses(self, info: dict[str, Any]) -> list[str]:
        addresses: list[str] = []
        settings = info.get("NetworkSettings") or {}
        for net in (settings.get("Networks") or {}).values():
            gateway = (net or {}).get("Gateway")
            if gateway:
                addresses.append(str(gateway))
        mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
        if mode == "host":
            addresses.append("127.0.0.1")
        if self.scheme == "unix":
            with contextlib.suppress(OSError), open("/proc/net/fib_trie", encoding="ascii",
                                                    errors="replace") as fh:
                addresses += local_addresses(fh.read(4 << 20))
        elif self.scheme == "tcp":
            host = self.url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
            with contextlib.suppress(OSError, UnicodeError):
                for family, _, _, _, sockaddr in socket.getaddrinfo(host, None, socket.AF_INET):
                    if family == socket.AF_INET and not str(sockaddr[0]).startswith("127."):
                        addresses.append(str(sockaddr[0]))
        valid = []
        for address in addresses:
            with contextlib.suppress(ValueError):
                valid.append(str(ipaddress.IPv4Address(address)))
        return list(dict.fromkeys(valid))[:MAX_ADDRESSES]

    def _network(self, cid: str, info: dict[str, Any], peer: str | None
                 ) -> tuple[Fact[tuple[Attempt, ...]], Fact[Attempt] | None]:
        mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
        if mode == "none":
            why = Unknown("the canary has no network (--network none)")
            return why, why
        ports = list(ENGINE_PORTS)
        if self.scheme == "tcp":
            port = self.url.rsplit(":", 1)[-1].split("/")[0]
            if port.isdigit() and int(port) not in ports:
                ports.append(int(port))
        targets = [(address, port) for address in self._engine_addresses(info)
                   for port in ports]
        peer_target = None
        if peer is not None:
            self._budget()
            peer_info = self.api.inspect_container(peer)
            nets = (peer_info.get("NetworkSettings") or {}).get("Networks") or {}
            ip = str((nets.get("bridge") or {}).get("IPAddress") or "")
            if ip:
                peer_target = (ip, PEER_PORT)
                targets.append(peer_target)
        if not targets:
            why = Unknown("no address to try (the canary has no gateway)")
            return why, why
        out, _, _ = self._exec(cid, network_script(targets), "network")
        found, notool = parse_network(out)
        if notool and not found:
            why = Unknown("the image has no nc, nor bash with timeout, to try connections")
            return why, why
        engine = tuple(found.get(t, Attempt(t[0], t[1], Reach.SILENT))
                       for t in targets if t != peer_target)
        peer_reach: Fact[Attempt] | None = None
        if peer_target is not None:
            peer_reach = found.get(peer_target, Attempt(*peer_target, Reach.SILENT))
        return engine, peer_reach

    def _write(self, cid: str) -> Fact[WriteTest]:
        quota = self.settings.options.storage_size
        limit = parse_size(quota) if quota else 0
        if quota and limit is None:
            return Unknown(f"--storage-opt size={clean(quota)} is not a size probe can read")
        target = (limit or 0) + self.settings.write_extra
        if target > MAX_WRITE:
            return Unknown(f"the quota (size={clean(quota or '')}) is above what probe "
                           f"writes ({MAX_WRITE >> 20} MiB in all)")
        mib = max(1, target >> 20)
        out, err, _ = self._exec(cid, write_script(mib), "write test")
        return parse_write(out, err, mib, quota)

    def _log(self, cid: str, info: dict[str, Any]) -> Fact[LogTest]:
        config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        driver = str(config.get("Type") or "")
        options = {str(k): str(v) for k, v in (config.get("Config") or {}).items()}
        if driver not in ("json-file", "local"):
            return LogTest(driver=driver, options=options, written=0, file_before=None,
                           file_after=None, rotated=(), note="driver not measured")
        max_size = parse_size(options.get("max-size", "")) if options.get("max-size") else None
        if max_size is not None and max_size <= 0:
            max_size = None
        kib = 256 if max_size is None else max(1, (max_size * 3 // 2) >> 10) + 1
        path = str(info.get("LogPath") or "")
        readable = driver == "json-file" and self.scheme == "unix" and bool(path) \
            and os.path.isfile(path)
        if kib > 8192 or not readable:
            note = ("max-size above what probe writes (8 MiB)" if kib > 8192 else
                    "the log file is not readable from here" if driver == "json-file" else
                    "the local driver's files are not measured")
            return LogTest(driver=driver, options=options, written=0, file_before=None,
                           file_after=None, rotated=(), note=note)
        before = os.stat(path).st_size
        self._exec(cid, log_script(kib), "log test")
        after = _settled_size(path, self.deadline)
        rotated = tuple(sorted("log" + p[len(path):] for p in glob.glob(glob.escape(path) + ".*")))
        return LogTest(driver=driver, options=options, written=kib * 1025, file_before=before,
                       file_after=after, rotated=rotated)

    def _fork(self, cid: str) -> ForkTest:
        cap = self.settings.fork_cap
        out, err, code = self._exec(cid, fork_script(cap), "fork test")
        return parse_fork(out, err, cap, code)


def _settled_size(path: str, deadline: Deadline) -> int | None:
    """The file's size once it has stopped growing (the driver writes behind)."""
    size, stable, end = -1, 0, time.monotonic() + min(5.0, deadline.remaining())
    while time.monotonic() < end:
        try:
            now = os.stat(path).st_size
        except OSError:
            return None
        stable = stable + 1 if now == size else 0
        size = now
        if stable >= 3:
            break
        time.sleep(0.1)
    return size if size >= 0 else None


def _hold_signals() -> Callable[[], None]:
    """Ignore SIGINT and SIGTERM until the returned function is called (the main
    thread only): a second Ctrl-C must not stop the removal of the canaries."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, handler in saved.items():
            signal.signal(s, handler)

    return restore
