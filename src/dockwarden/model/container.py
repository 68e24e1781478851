"""`ContainerSpec`: the one container model.

A live container's inspect data, a compose service and a `docker run` command
line all become a `ContainerSpec`, so each DW2xx check is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockwarden.model.common import Fact, Source, Unknown
from dockwarden.model.finding import Target


@dataclass(frozen=True, slots=True)
class Mount:
    type: str  # bind, volume, tmpfs, npipe
    source: str  # host path for bind, volume name for volume, "" for tmpfs
    destination: str
    read_only: bool
    propagation: str = ""  # "", private, rprivate, shared, rshared, slave, rslave
    volume_driver: str = ""
    # For a volume: does its driver bound its size (tmpfs size=, a quota option)?
    size_limit: Fact[str | None] = None


@dataclass(frozen=True, slots=True)
class PortBinding:
    """One published port, or a range of `count` consecutive ports kept as one binding
    (`-p 1-65535:1-65535` is one object, never 65,535): container ports
    `container_port`.. and host ports `host_port`.. (or Engine-chosen when None)."""

    container_port: str  # "80/tcp": the first port of a range
    host_ip: str  # "" means all interfaces
    host_port: int | None  # None: chosen by the Engine
    count: int = 1

    @property
    def protocol(self) -> str:
        return self.container_port.partition("/")[2] or "tcp"

    @property
    def container_ports(self) -> range:
        """The container ports as a range (empty when the port is not a number)."""
        number = self.container_port.partition("/")[0]
        if not (number.isascii() and number.isdigit()) or len(number) > 5:
            return range(0)
        return range(int(number), int(number) + self.count)

    @property
    def host_ports(self) -> range | None:
        """The host ports as a range; None when the Engine chooses them."""
        if self.host_port is None:
            return None
        return range(self.host_port, self.host_port + self.count)


@dataclass(frozen=True, slots=True)
class ExecSession:
    id: str
    user: str
    privileged: bool
    running: bool
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    target: Target
    source: Source
    image: str = ""
    running: bool = False
    privileged: bool = False
    pid_mode: str = ""
    ipc_mode: str = ""
    network_mode: str = ""
    uts_mode: str = ""
    userns_mode: str = ""
    mounts: tuple[Mount, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    apparmor_profile: str | None = None  # what the Engine applied (live only)
    pids_limit: int | None = None  # None / <= 0: unlimited
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    storage_opt: Mapping[str, str] = field(default_factory=dict)
    log_driver: str = ""  # "" means the daemon's default
    log_options: Mapping[str, str] = field(default_factory=dict)
    read_only_rootfs: bool = False
    user: str = ""
    devices: tuple[str, ...] = ()  # "host:container:perms"
    ports: tuple[PortBinding, ...] = ()
    restart_policy: str = ""
    restart_max_retries: int = 0
    healthcheck: tuple[str, ...] | None = None  # None: none defined
    networks: tuple[str, ...] = ()
    cgroup_parent: str = ""
    ulimits: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    exec_sessions: Fact[tuple[ExecSession, ...]] = ()
    processes: Fact[tuple[str, ...]] = Unknown("process list not gathered")
    # Line of each field in the file it came from (compose); empty for live containers.
    # Items of lists and mappings have their own keys: `env:NAME`, `mounts:3` (index in
    # `mounts`), `ports:0`, `devices:1`, `cap_add:2`.
    lines: Mapping[str, int] = field(default_factory=dict)
    # The user the image sets when `user` is empty, as far as the files tell (compose: a
    # service built from a local Dockerfile, its target stage's last USER). None: not
    # looked for (a live container's `user` is already the effective one); Unknown: the
    # Dockerfile sets none and the base image's user is not known from the files.
    image_user: Fact[str | None] = None
    image_user_from: str = ""  # where it was read (`Dockerfile:12`), or the base image
    # "" when `image_user` comes from a Dockerfile; else the image's own configured user
    # (a service or `docker run` line naming only an image): "image (local Engine)",
    # "image (registry)" or "unknown"
    image_user_source: str = ""

    def security_options(self) -> dict[str, str]:
        """`--security-opt` entries as key -> value (`seccomp=x` and `seccomp:x` alike)."""
        out: dict[str, str] = {}
        for opt in self.security_opt:
            for sep in ("=", ":"):
                if sep in opt:
                    key, value = opt.split(sep, 1)
                    out[key.strip().lower()] = value.strip()
                    break
            else:
                out[opt.strip().lower()] = "true"
        return out


@dataclass(frozen=True, slots=True)
class ContainerContext:
    """Engine-wide facts that container checks need (unknown for files)."""

    host_apparmor: Fact[bool] = Unknown("host security modules not known")
    host_selinux: Fact[bool] = Unknown("host security modules not known")
    daemon_no_new_privileges: Fact[bool] = Unknown("daemon configuration not known")
    daemon_log_driver: Fact[str] = Unknown("daemon configuration not known")
    daemon_log_options: Fact[Mapping[str, str]] = Unknown("daemon configuration not known")
    docker_socket: str = "/var/run/docker.sock"
