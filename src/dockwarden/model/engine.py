"""Snapshot of one Docker Engine: the daemon, its host and its containers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockwarden.model.common import Fact, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """The fields of `/info` and `/version` that checks read."""

    server_version: str
    api_version: str
    os_type: str
    kernel_version: str
    operating_system: str
    driver: str
    driver_status: tuple[tuple[str, str], ...]
    logging_driver: str
    cgroup_driver: str
    cgroup_version: str
    security_options: tuple[str, ...]
    live_restore: bool
    experimental: bool
    debug: bool
    swarm_state: str
    root_dir: str
    insecure_cidrs: tuple[str, ...]
    insecure_registries: tuple[str, ...]  # index names marked not secure
    authorization_plugins: tuple[str, ...]
    pids_limit_supported: bool
    name: str = ""

    def security_option(self, name: str) -> dict[str, str] | None:
        """The `name=X,k=v` entry of SecurityOptions for `name`, as a dict."""
        for opt in self.security_options:
            parts = dict(p.split("=", 1) for p in opt.split(",") if "=" in p)
            if parts.get("name") == name:
                return parts
        return None


@dataclass(frozen=True, slots=True)
class Listener:
    """One `-H` / `hosts` address of the daemon."""

    scheme: str  # unix, tcp, fd, npipe
    address: str  # host:port or path
    host: str = ""
    port: int | None = None


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """Effective daemon configuration: daemon.json merged with dockerd's flags.

    Keys are daemon.json's names. `sources` says where they came from.
    """

    pid: int | None
    cmdline: tuple[str, ...]
    config_file: str | None
    values: Mapping[str, Any]
    sources: tuple[str, ...]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        out = []
        for raw in self.values.get("hosts", []) or []:
            out.append(parse_listener(str(raw)))
        return tuple(out)


def parse_listener(raw: str) -> Listener:
    if "://" not in raw:
        if raw.startswith("/"):
            return Listener("unix", raw)
        raw = "tcp://" + raw
    scheme, rest = raw.split("://", 1)
    if scheme == "tcp":
        hostport = rest.split("/", 1)[0]
        if hostport.startswith("["):
            host, _, port = hostport[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        return Listener("tcp", hostport, host or "0.0.0.0", int(port) if port.isdigit() else 2375)
    return Listener(scheme, rest)


@dataclass(frozen=True, slots=True)
class BridgeFacts:
    name: str
    icc: bool
    gateway: str
    interface: str


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: str
    role: str  # "daemon.json", "docker.service", "tls key", ...
    uid: int
    gid: int
    mode: int  # permission bits only
    owner: str
    group: str
    is_socket: bool = False


@dataclass(frozen=True, slots=True)
class CertFacts:
    path: str
    subject: str
    not_after: datetime
    key_type: str
    key_bits: int
    signature_hash: str


@dataclass(frozen=True, slots=True)
class MountFacts:
    path: str  # the path asked about
    mountpoint: str
    fstype: str
    options: tuple[str, ...]
    device: str = ""  # major:minor of the filesystem holding `path`
    root_device: str = ""  # major:minor of the filesystem mounted at /

    @property
    def on_root_filesystem(self) -> bool:
        """True when `path` lives on the same filesystem as / (a bind mount of a directory
        of the root filesystem, as dockerd makes of its data root, does not count as a
        partition of its own)."""
        if self.device and self.root_device:
            return self.device == self.root_device
        return self.mountpoint == "/"


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    kernel_release: Fact[str] = Unknown("not gathered")
    cgroup_version: Fact[int] = Unknown("not gathered")
    cgroup_controllers: Fact[frozenset[str]] = Unknown("not gathered")
    socket: Fact[FileFacts] = Unknown("not gathered")
    docker_group: Fact[str] = Unknown("not gathered")
    docker_group_members: Fact[tuple[str, ...]] = Unknown("not gathered")
    audit_rules: Fact[tuple[str, ...]] = Unknown("not gathered")
    data_root_mount: Fact[MountFacts] = Unknown("not gathered")
    backing_mount: Fact[MountFacts] = Unknown("not gathered")
    files: Fact[tuple[FileFacts, ...]] = Unknown("not gathered")
    certificates: Fact[tuple[CertFacts, ...]] = Unknown("not gathered")
    kernel_limits: Fact[Mapping[str, int]] = Unknown("not gathered")
    # The daemon-wide seccomp-profile file: does it allow every system call?
    # None when the daemon uses its built-in profile.
    seccomp_profile_allows_all: Fact[bool | None] = Unknown("not gathered")


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    endpoint: str
    gathered_at: datetime
    connection_scheme: str  # unix, tcp, ssh, npipe
    connection_tls: bool
    connection_client_cert: bool
    local: bool
    info: EngineInfo
    bridge: Fact[BridgeFacts]
    daemon: Fact[DaemonSettings]
    host: HostSnapshot
    containers: tuple[ContainerSpec, ...]
    context: ContainerContext
    errors: tuple[tuple[str, str], ...] = ()  # (target, message) of facts that failed
    complete: bool = True
    skipped_containers: tuple[str, ...] = field(default=())
    # Why /info or /version could not be used (malformed, too large, too slow): `info`
    # then holds no fact and the daemon checks have nothing to judge.
    info_error: str | None = None
