"""Gather one snapshot of an Engine: /version, /info, the default bridge and the local
daemon and host facts (for the daemon checks), and every container inspected exactly once
(concurrently), with the volume list only when a container mounts a volume.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockwarden.collect import host as hostmod
from dockwarden.collect.connection import Connection
from dockwarden.collect.inspect import spec_from_inspect
from dockwarden.collect.unixhttp import EngineGone
from dockwarden.errors import EngineUnreachable
from dockwarden.model.common import Fact, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec
from dockwarden.model.engine import (
    BridgeFacts,
    DaemonSettings,
    EngineInfo,
    EngineSnapshot,
    HostSnapshot,
)

Progress = Callable[[int, int], None]
_ID = re.compile(r"[0-9a-f]{64}")


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def engine_info(info: Mapping[str, Any], version: Mapping[str, Any]) -> EngineInfo:
    reg = _d(info.get("RegistryConfig"))
    insecure = tuple(
        str(name) for name, cfg in sorted(_d(reg.get("IndexConfigs")).items())
        if not _d(cfg).get("Secure", True)
    )
    plugins = _d(info.get("Plugins"))
    return EngineInfo(
        server_version=str(info.get("ServerVersion") or version.get("Version") or ""),
        api_version=str(version.get("ApiVersion", "")),
        os_type=str(info.get("OSType", "")),
        kernel_version=str(info.get("KernelVersion", "")),
        operating_system=str(info.get("OperatingSystem", "")),
        driver=str(info.get("Driver", "")),
        driver_status=tuple(
            (str(p[0]), str(p[1])) for p in info.get("DriverStatus") or []
            if isinstance(p, list) and len(p) == 2
        ),
        logging_driver=str(info.get("LoggingDriver", "")),
        cgroup_driver=str(info.get("CgroupDriver", "")),
        cgroup_version=str(info.get("CgroupVersion", "")),
        security_options=tuple(str(s) for s in info.get("SecurityOptions") or []),
        live_restore=bool(info.get("LiveRestoreEnabled")),
        experimental=bool(info.get("ExperimentalBuild") or version.get("Experimental")),
        debug=bool(info.get("Debug")),
        swarm_state=str(_d(info.get("Swarm")).get("LocalNodeState", "")),
        root_dir=str(info.get("DockerRootDir", "")),
        insecure_cidrs=tuple(str(c) for c in reg.get("InsecureRegistryCIDRs") or []),
        insecure_registries=insecure,
        authorization_plugins=tuple(str(p) for p in plugins.get("Authorization") or []),
        pids_limit_supported=bool(info.get("PidsLimit")),
        name=str(info.get("Name", "")),
    )


def bridge_facts(net: Mapping[str, Any]) -> BridgeFacts:
    opts = _d(net.get("Options"))
    gateways = [str(_d(c).get("Gateway", "")) for c in _d(net.get("IPAM")).get("Config") or []]
    return BridgeFacts(
        name=str(net.get("Name", "bridge")),
        icc=str(opts.get("com.docker.network.bridge.enable_icc", "true")).lower() != "false",
        gateway=next((g for g in gateways if g), ""),
        interface=str(opts.get("com.docker.network.bridge.name", "")),
    )


def scan_processes(ids: Iterable[str], proc: str = "/proc") -> dict[str, list[str]]:
    """Command lines of every process per container, from one pass over /proc.

    A process belongs to the container whose id appears in its cgroup path (both the
    cgroupfs `/docker/<id>` and systemd `docker-<id>.scope` layouts).
    """
    wanted = set(ids)
    out: dict[str, list[str]] = {i: [] for i in wanted}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{proc}/{entry.name}/cgroup", encoding="utf-8", errors="replace") as fh:
                cgroup = fh.read(8192)
            cid = next((m for m in _ID.findall(cgroup) if m in wanted), None)
            if cid is None:
                continue
            with open(f"{proc}/{entry.name}/cmdline", "rb") as fh:
                cmd = fh.read(4096).replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue  # the process exited meanwhile
        out[cid].append(cmd)
    return out


@dataclass
class _Inspection:
    spec: ContainerSpec | None = None
    gone: bool = False
    error: str | None = None


class EngineCollector:
    """Builds an `EngineSnapshot` from one connection. Each fact is fetched once."""

    def __init__(self, conn: Connection, *, names: tuple[str, ...] = (), workers: int = 8,
                 local_facts: bool = True, progress: Progress | None = None,
                 containers: bool = True, daemon: bool = True) -> None:
        self.conn = conn
        self.want_containers = containers
        self.want_daemon = daemon  # bridge and host facts serve only the daemon/host checks
        self.names = names
        self.workers = workers
        self.local_facts = local_facts
        self.progress = progress
        self.errors: list[tuple[str, str]] = []
        self._dead = threading.Event()
        self._getter = conn.getter

    # -- the Engine itself -------------------------------------------------------------
    def _get(self, what: str, path: str, **params: str) -> tuple[int, Any]:
        try:
            return self._getter.get(path, **params)
        except EngineGone as exc:
            self._dead.set()
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} stopped answering during {what}",
                "the report written is partial") from exc

    _partial: list[ContainerSpec]

    def collect(self) -> EngineSnapshot:
        self._partial = []
        gathered_at = datetime.now(UTC)
        try:
            status_v, version = self._getter.get("/version")
            status_i, info = self._getter.get("/info")
        except EngineGone as exc:
            from dockwarden.collect.connection import unreachable
            raise unreachable(self.conn.url, exc) from None
        if status_v != 200 or status_i != 200 or not isinstance(info, dict) or not isinstance(
                version, dict):
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} refused: HTTP {status_i}: {_message(info)}",
                "check the API version and your access rights")
        einfo = engine_info(info, version)

        bridge: Fact[BridgeFacts] = Unknown("not gathered (containers only)")
        if self.want_daemon:
            status, net = self._get("bridge inspect", "/networks/bridge")
            if status == 200 and isinstance(net, dict):
                bridge = bridge_facts(net)
            elif status == 404:
                bridge = Unknown("the Engine has no default bridge network")
            else:
                bridge = Unknown(f"bridge network inspect failed: HTTP {status}: "
                                 f"{_message(net)}")

        daemon, host, local = self._local(einfo)
        complete = True
        try:
            containers, skipped = (self._containers(local) if self.want_containers
                                   else ([], []))
        except EngineUnreachable as exc:
            self.errors.append((self.conn.url, exc.message))
            containers, skipped, complete = self._partial, [], False
        if self._dead.is_set():
            complete = False

        context = ContainerContext(
            host_apparmor=einfo.security_option("apparmor") is not None,
            host_selinux=einfo.security_option("selinux") is not None,
            daemon_no_new_privileges=(
                bool(daemon.get("no-new-privileges", False))
                if isinstance(daemon, DaemonSettings) else daemon
            ),
            daemon_log_driver=einfo.logging_driver,
            daemon_log_options=(
                dict(daemon.get("log-opts") or {}) if isinstance(daemon, DaemonSettings)
                else daemon
            ),
            docker_socket=self.conn.socket_path or "/var/run/docker.sock",
        )
        return EngineSnapshot(
            endpoint=self.conn.url,
            gathered_at=gathered_at,
            connection_scheme=self.conn.scheme,
            connection_tls=self.conn.tls,
            connection_client_cert=self.conn.client_cert,
            local=local,
            info=einfo,
            bridge=bridge,
            daemon=daemon,
            host=host,
            containers=tuple(containers),
            context=context,
            errors=tuple(self.errors),
            complete=complete,
            skipped_containers=tuple(skipped),
        )

    # -- local daemon and host --------------------------------------------------------
    def _local(self, einfo: EngineInfo) -> tuple[Fact[DaemonSettings], HostSnapshot, bool]:
        if not self.local_facts:
            reason = "local facts not requested"
            return Unknown(reason), _unknown_host(reason), False
        if self.conn.scheme == "unix" or (
            self.conn.scheme == "tcp" and re.match(r"tcp://(127\.|localhost|\[::1\])",
                                                   self.conn.url)
        ):
            pid = hostmod.find_dockerd(self.conn.socket_path, self.conn.tcp_port)
        else:
            reason = f"remote Engine ({self.conn.url}): its host's files cannot be read from here"
            return Unknown(reason), _unknown_host(reason), False
        if pid is None:
            reason = ("the dockerd serving this Engine was not found among this host's "
                      "processes (another namespace, or no permission to read /proc)")
            return Unknown(reason), _unknown_host(reason), False
        try:
            settings: Fact[DaemonSettings] = hostmod.read_daemon_settings(pid)
        except OSError as exc:
            settings = Unknown(f"cannot read dockerd's configuration: {exc}")
        if not self.want_daemon:
            return settings, HostSnapshot(), True
        host = hostmod.gather_host(settings, self.conn.socket_path, einfo.root_dir)
        return settings, host, True

    def _volumes(self) -> dict[str, Mapping[str, Any]]:
        status, listed = self._get("volume list", "/volumes")
        if status == 200 and isinstance(listed, dict):
            return {str(v.get("Name")): v for v in listed.get("Volumes") or []
                    if isinstance(v, dict)}
        self.errors.append((self.conn.url,
                            f"volume list failed: HTTP {status}: {_message(listed)}"))
        return {}

    # -- containers --------------------------------------------------------------------
    def _containers(self, local: bool) -> tuple[list[ContainerSpec], list[str]]:
        self._partial = []
        status, listed = self._get("container list", "/containers/json", all="1")
        if status != 200 or not isinstance(listed, list):
            raise EngineUnreachable(f"container list failed: HTTP {status}: {_message(listed)}")
        listed = [row for row in listed if isinstance(row, dict) and row.get("Id")]
        wanted = set(self.names)
        rows = []
        for row in listed:
            names = {str(n).lstrip("/") for n in row.get("Names") or []}
            cid = str(row.get("Id", ""))
            if wanted and not (names & wanted or any(cid.startswith(w) for w in wanted)):
                continue
            rows.append(row)
        if wanted:
            found = {str(n).lstrip("/") for r in rows for n in r.get("Names") or []}
            missing = [w for w in sorted(wanted)
                       if w not in found and not any(str(r["Id"]).startswith(w) for r in rows)]
            for name in missing:
                self.errors.append((name, "no such container"))

        # Volume options (their size bounds) are needed only if a container mounts one.
        volumes: Mapping[str, Mapping[str, Any]] = (
            self._volumes() if any(isinstance(m, dict) and m.get("Type") == "volume"
                                   for r in rows for m in r.get("Mounts") or []) else {})
        processes: dict[str, list[str]] | None = None
        if local:
            running = [str(r["Id"]) for r in rows if r.get("State") == "running"]
            try:
                processes = scan_processes(running)
            except OSError:
                processes = None

        total = len(rows)
        done = 0
        lock = threading.Lock()
        results: list[_Inspection] = []

        def work(row: Mapping[str, Any]) -> _Inspection:
            nonlocal done
            result = self._inspect_one(str(row["Id"]), volumes, processes)
            with lock:
                done += 1
                if self.progress:
                    self.progress(done, total)
            return result

        if self.progress:
            self.progress(0, total)
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for res in pool.map(work, rows):
                results.append(res)
                if res.spec is not None:
                    self._partial.append(res.spec)
        skipped = []
        for row, res in zip(rows, results, strict=True):
            if res.gone:
                skipped.append(str(row["Id"])[:12])
            elif res.error:
                name = (row.get("Names") or [str(row["Id"])[:12]])[0].lstrip("/")
                self.errors.append((name, res.error))
        if self._dead.is_set():
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} stopped answering while containers were "
                f"inspected ({len(self._partial)} of {total} done)")
        return self._partial, skipped

    def _inspect_one(self, cid: str, volumes: Mapping[str, Mapping[str, Any]],
                     processes: dict[str, list[str]] | None) -> _Inspection:
        if self._dead.is_set():
            return _Inspection(error="not inspected: the Engine stopped answering")
        get = self._getter.get
        try:
            status, data = get(f"/containers/{cid}/json")
            if status == 404:
                return _Inspection(gone=True)  # removed between list and inspect
            if status != 200 or not isinstance(data, dict):
                return _Inspection(error=f"inspect failed: HTTP {status}: {_message(data)}")
            execs: list[Mapping[str, Any]] = []
            for exec_id in data.get("ExecIDs") or []:
                status, exec_data = get(f"/exec/{exec_id}/json")
                if status == 200 and isinstance(exec_data, dict):
                    execs.append(exec_data)  # a 404 means the session ended meanwhile
            running = bool(_d(data.get("State")).get("Running"))
            procs: Fact[list[str]]
            if not running:
                procs = []
            elif processes is not None:
                procs = processes.get(cid, [])
            else:
                status, top = get(f"/containers/{cid}/top")
                if status != 200 or not isinstance(top, dict):
                    procs = Unknown(f"process list unavailable: HTTP {status}: {_message(top)}")
                else:
                    titles = [str(t) for t in top.get("Titles") or []]
                    col = titles.index("CMD") if "CMD" in titles else (
                        titles.index("COMMAND") if "COMMAND" in titles else len(titles) - 1)
                    procs = [str(p[col]) for p in top.get("Processes") or [] if len(p) > col]
        except EngineGone:
            self._dead.set()
            return _Inspection(error="not inspected: the Engine stopped answering")
        return _Inspection(spec=spec_from_inspect(data, volumes=volumes, execs=execs,
                                                  processes=procs))


def _message(data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:200]
    return "unexpected response"


def _unknown_host(reason: str) -> HostSnapshot:
    u = Unknown(reason)
    return HostSnapshot(
        kernel_release=u, cgroup_version=u, cgroup_controllers=u, socket=u, docker_group=u,
        docker_group_members=u, audit_rules=u, data_root_mount=u, backing_mount=u, files=u,
        certificates=u, kernel_limits=u,
    )
