"""Gather one snapshot of an Engine: /version, /info, the default bridge and the local
daemon and host facts (for the daemon checks), and every container inspected exactly once
(concurrently), with the volume list only when a container mounts a volume.

Every document is bounded in time, size and depth as it is read (collect/unixhttp.py) and
its shape checked before anything is built from it (collect/inspect.py). What a bad
answer was about becomes an error entry and the report is incomplete (exit 3), the rest of
the audit going on: a bad inspect, exec or top answer costs that container (an error entry
named after it), a bad /info or /version the daemon part (`EngineSnapshot.info_error`). The
collector raises nothing but DockwardenError.

Names given to `dockwarden containers NAME...` must all exist: a name (or id prefix) that
matches no container is an input error (exit 2) naming the close matches, even when other
names match, since auditing fewer containers than asked for under exit 0 would hide a typo.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dockwarden.collect import host as hostmod
from dockwarden.collect.connection import Connection
from dockwarden.collect.inspect import (
    LIST_ROW_SHAPE,
    VOLUMES_SHAPE,
    MapOf,
    check_exec,
    check_inspect,
    check_shape,
    checked,
    is_engine_id,
    processes_from_top,
    spec_from_inspect,
)
from dockwarden.collect.unixhttp import (
    MAX_EXEC,
    MAX_INSPECT,
    MAX_LIST,
    MAX_NETWORK,
    MAX_TOP,
    EngineAnswerError,
    EngineGone,
)
from dockwarden.deadline import DeadlineExceeded
from dockwarden.errors import DockwardenError, EngineUnreachable, InputError
from dockwarden.model.common import Fact, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec
from dockwarden.model.engine import (
    BridgeFacts,
    DaemonSettings,
    EngineInfo,
    EngineSnapshot,
    HostSnapshot,
)
from dockwarden.sanitize import clean

Progress = Callable[[int, int], None]
_ID = re.compile(r"[0-9a-f]{64}")


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# The fields of /info, /version and /networks/bridge that engine_info and bridge_facts read.
INFO_SHAPE: dict[str, Any] = {
    "ServerVersion": str, "OSType": str, "KernelVersion": str, "OperatingSystem": str,
    "Driver": str, "DriverStatus": [[str]], "LoggingDriver": str, "CgroupDriver": str,
    "CgroupVersion": str, "SecurityOptions": [str], "LiveRestoreEnabled": bool,
    "ExperimentalBuild": bool, "Debug": bool, "Swarm": {"LocalNodeState": str},
    "DockerRootDir": str, "PidsLimit": bool, "Name": str,
    "RegistryConfig": {"InsecureRegistryCIDRs": [str],
                       "IndexConfigs": MapOf({"Secure": bool})},
    "Plugins": {"Authorization": [str]},
}
VERSION_SHAPE: dict[str, Any] = {"Version": str, "ApiVersion": str, "Experimental": bool}
NETWORK_SHAPE: dict[str, Any] = {"Name": str, "Options": MapOf(str),
                                 "IPAM": {"Config": [{"Gateway": str}]}}


def info_from(info: Any, version: Any) -> EngineInfo:
    """EngineInfo from /info and /version answers checked for shape (EngineAnswerError)."""
    return engine_info(checked(info, INFO_SHAPE, "/info"),
                       checked(version, VERSION_SHAPE, "/version"))


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
    notes: list[str] = field(default_factory=list)  # errors that cost a fact, not the spec


class EngineCollector:
    """Builds an `EngineSnapshot` from one connection. Each fact is fetched once."""

    def __init__(self, conn: Connection, *, names: tuple[str, ...] = (), workers: int = 8,
                 local_facts: bool = True, progress: Progress | None = None,
                 containers: bool = True, daemon: bool = True,
                 host_root: str | None = None,
                 rows_listed: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.conn = conn
        # handed the container list's rows once read, shape-checked and selected by
        # name, before the containers are inspected (the images in use come from them)
        self.rows_listed = rows_listed
        # The host's `/` as mounted here (`--host-root`; None: this is the host): local
        # facts are read under it, the host's processes through the /proc showing them.
        self.host_root = host_root or "/"
        self.proc = "/proc"
        self.want_containers = containers
        self.want_daemon = daemon  # bridge and host facts serve only the daemon/host checks
        self.names = names
        self.workers = workers
        self.local_facts = local_facts
        self.progress = progress
        self.errors: list[tuple[str, str]] = []
        self._incomplete = False  # an error entry that makes the report incomplete
        self._dead = threading.Event()
        self._getter = conn.getter

    # -- the Engine itself -------------------------------------------------------------
    def _get(self, what: str, path: str, max_bytes: int, **params: str) -> tuple[int, Any]:
        try:
            return self._getter.get(path, max_bytes=max_bytes, what=what, **params)
        except EngineGone as exc:
            self._dead.set()
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} stopped answering during {what}",
                "the report written is partial") from exc

    _partial: list[ContainerSpec]

    def collect(self) -> EngineSnapshot:
        """The snapshot; raises only DockwardenError (EngineUnreachable when the Engine
        cannot be reached at all, InputError for names that match no container)."""
        try:
            return self._collect()
        except DockwardenError:
            raise
        except Exception as exc:  # a bug met by a hostile answer: still one clear line
            raise EngineAnswerError(
                f"the audit of the Engine at {self.conn.url} failed on an answer it could "
                f"not handle: {type(exc).__name__}: {clean(exc)[:200]}") from exc

    def _collect(self) -> EngineSnapshot:
        self._partial = []
        gathered_at = datetime.now(UTC)
        info_error: str | None = None
        try:
            status_v, version = ((200, self.conn.version) if self.conn.version is not None
                                 else self._getter.get("/version", what="/version"))
            status_i, info = self._getter.get("/info", what="/info")
        except EngineGone as exc:
            from dockwarden.collect.connection import unreachable
            raise unreachable(self.conn.url, exc) from None
        except (EngineAnswerError, DeadlineExceeded) as exc:
            info_error, status_v, status_i, version, info = exc.message, 200, 200, {}, {}
        if status_v != 200 or status_i != 200:
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} refused: HTTP {status_i}: {_message(info)}",
                "check the API version and your access rights")
        if info_error is None:
            try:
                einfo = info_from(info, version)
            except EngineAnswerError as exc:
                info_error = exc.message
        if info_error is not None:
            einfo = engine_info({}, {})
            self.errors.append((self.conn.url, f"{info_error}: the daemon could not be "
                                                "judged"))

        bridge: Fact[BridgeFacts] = Unknown("not gathered (containers only)")
        if self.want_daemon:
            bridge = self._bridge()

        daemon, host, local = self._local(einfo)
        complete = info_error is None
        try:
            containers, skipped = (self._containers(local) if self.want_containers
                                   else ([], []))
        except (EngineUnreachable, EngineAnswerError, DeadlineExceeded) as exc:
            self.errors.append((self.conn.url, exc.message))
            containers, skipped, complete = self._partial, [], False
        if self._dead.is_set() or self._incomplete:
            complete = False

        unknown_info = Unknown(f"not known: {info_error}") if info_error else None
        context = ContainerContext(
            host_apparmor=(einfo.security_option("apparmor") is not None
                           if unknown_info is None else unknown_info),
            host_selinux=(einfo.security_option("selinux") is not None
                          if unknown_info is None else unknown_info),
            daemon_no_new_privileges=(
                bool(daemon.get("no-new-privileges", False))
                if isinstance(daemon, DaemonSettings) else daemon
            ),
            daemon_log_driver=(einfo.logging_driver if unknown_info is None
                               else unknown_info),
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
            info_error=info_error,
        )

    def _bridge(self) -> Fact[BridgeFacts]:
        try:
            status, net = self._get("bridge network inspect", "/networks/bridge", MAX_NETWORK)
            if status == 200:
                return bridge_facts(checked(net, NETWORK_SHAPE, "bridge network inspect"))
        except (EngineAnswerError, DeadlineExceeded) as exc:
            return Unknown(exc.message)
        if status == 404:
            return Unknown("the Engine has no default bridge network")
        return Unknown(f"bridge network inspect failed: HTTP {status}: {_message(net)}")

    # -- local daemon and host --------------------------------------------------------
    def _local(self, einfo: EngineInfo) -> tuple[Fact[DaemonSettings], HostSnapshot, bool]:
        if not self.local_facts:
            reason = "local facts not requested"
            return Unknown(reason), _unknown_host(reason), False
        if self.conn.scheme == "unix" or (
            self.conn.scheme == "tcp" and re.match(r"tcp://(127\.|localhost|\[::1\])",
                                                   self.conn.url)
        ):
            self.proc = hostmod.host_proc(self.host_root)
            pid = hostmod.find_dockerd(self.conn.socket_path, self.conn.tcp_port, self.proc)
        else:
            reason = f"remote Engine ({self.conn.url}): its host's files cannot be read from here"
            return Unknown(reason), _unknown_host(reason), False
        if pid is None:
            reason = ("the dockerd serving this Engine was not found among this host's "
                      "processes (another namespace, or no permission to read /proc)")
            if self.host_root != "/":
                reason = ("the dockerd serving this Engine was not found among the host's "
                          "processes: run the container with --pid host (or the host's "
                          f"/proc mounted under {self.host_root})")
            return Unknown(reason), _unknown_host(reason), False
        try:
            settings: Fact[DaemonSettings] = hostmod.read_daemon_settings(pid, self.proc,
                                                                         self.host_root)
        except OSError as exc:
            settings = Unknown(f"cannot read dockerd's configuration: {exc}")
        if not self.want_daemon:
            return settings, HostSnapshot(), True
        host = hostmod.gather_host(settings, self.conn.socket_path, einfo.root_dir,
                                   proc=self.proc, root=self.host_root)
        return settings, host, True

    def _volumes(self) -> dict[str, Mapping[str, Any]]:
        try:
            status, listed = self._get("volume list", "/volumes", MAX_LIST)
            if status == 200:
                listed = checked(listed, VOLUMES_SHAPE, "volume list")
                return {str(v.get("Name")): v for v in listed.get("Volumes") or []
                        if isinstance(v, dict)}
            message = f"volume list failed: HTTP {status}: {_message(listed)}"
        except (EngineAnswerError, DeadlineExceeded) as exc:
            message = exc.message
        self.errors.append((self.conn.url, message))
        self._incomplete = True
        return {}

    # -- containers --------------------------------------------------------------------
    def _rows(self) -> list[dict[str, Any]]:
        """The rows of the container list whose shape is right; an error entry for each
        other one."""
        status, listed = self._get("container list", "/containers/json", MAX_LIST, all="1")
        if status != 200:
            raise EngineUnreachable(f"container list failed: HTTP {status}: {_message(listed)}")
        if not isinstance(listed, list):
            raise EngineAnswerError("the Engine's answer to container list is malformed: "
                                    "not a list")
        rows = []
        for i, row in enumerate(listed):
            cid = row.get("Id") if isinstance(row, dict) else None
            label = cid[:12] if isinstance(cid, str) and is_engine_id(cid) else (
                f"container list entry {i}")
            try:
                if not isinstance(row, dict):
                    raise EngineAnswerError("the Engine's answer to container list is "
                                            "malformed: an entry is not an object")
                check_shape(row, LIST_ROW_SHAPE, "container list")
                if not is_engine_id(cid):
                    raise EngineAnswerError("the Engine's answer to container list is "
                                            "malformed: Id is not a container id")
            except EngineAnswerError as exc:
                self.errors.append((label, exc.message))
                self._incomplete = True
                continue
            rows.append(row)
        return rows

    def _select(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows named by `self.names` (all without names); InputError when a name
        matches no container."""
        if not self.names:
            return listed
        wanted = set(self.names)
        rows = []
        for row in listed:
            names = {n.lstrip("/") for n in row.get("Names") or [] if n}
            if names & wanted or any(row["Id"].startswith(w) for w in wanted):
                rows.append(row)
        found = {n.lstrip("/") for r in rows for n in r.get("Names") or [] if n}
        missing = [w for w in self.names
                   if w not in found and not (w and any(r["Id"].startswith(w) for r in rows))]
        if missing:
            every = sorted({n.lstrip("/") for r in listed for n in r.get("Names") or [] if n})
            close = sorted({c for w in missing
                            for c in difflib.get_close_matches(w, every, n=5, cutoff=0.6)})
            shown = ", ".join(repr(clean(w)) for w in missing)
            hint = (f"close names on this Engine: {', '.join(clean(c) for c in close)}"
                    if close else "`docker ps -a` lists the containers of this Engine")
            raise InputError(f"no such container on {self.conn.url}: {shown}", hint)
        return rows

    def _containers(self, local: bool) -> tuple[list[ContainerSpec], list[str]]:
        self._partial = []
        rows = self._select(self._rows())
        if self.rows_listed is not None:
            self.rows_listed(rows)

        # Volume options (their size bounds) are needed only if a container mounts one.
        volumes: Mapping[str, Mapping[str, Any]] = (
            self._volumes() if any(isinstance(m, dict) and m.get("Type") == "volume"
                                   for r in rows for m in r.get("Mounts") or []) else {})
        processes: dict[str, list[str]] | None = None
        if local:
            running = [r["Id"] for r in rows if r.get("State") == "running"]
            try:
                processes = scan_processes(running, self.proc)
            except OSError:
                processes = None

        total = len(rows)
        done = 0
        lock = threading.Lock()
        results: list[_Inspection] = []

        def work(row: Mapping[str, Any]) -> _Inspection:
            nonlocal done
            result = self._inspect_one(row["Id"], volumes, processes)
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
                skipped.append(row["Id"][:12])
                continue
            name = clean(next((n.lstrip("/") for n in row.get("Names") or [] if n),
                              row["Id"][:12]))
            for message in ([res.error] if res.error else []) + res.notes:
                self.errors.append((name, message))
                self._incomplete = True
        if self._dead.is_set():
            raise EngineUnreachable(
                f"the Engine at {self.conn.url} stopped answering while containers were "
                f"inspected ({len(self._partial)} of {total} done)")
        return self._partial, skipped

    def _inspect_one(self, cid: str, volumes: Mapping[str, Mapping[str, Any]],
                     processes: dict[str, list[str]] | None) -> _Inspection:
        if self._dead.is_set():
            return _Inspection(error="not inspected: the Engine stopped answering")
        try:
            return self._inspect(cid, volumes, processes)
        except EngineGone:
            self._dead.set()
            return _Inspection(error="not inspected: the Engine stopped answering")
        except DockwardenError as exc:
            return _Inspection(error=exc.message)
        except Exception as exc:  # a bug met by a hostile answer: that container only
            return _Inspection(error=f"could not be audited: {type(exc).__name__}: "
                                     f"{clean(exc)[:200]}")

    def _inspect(self, cid: str, volumes: Mapping[str, Mapping[str, Any]],
                 processes: dict[str, list[str]] | None) -> _Inspection:
        get = self._getter.get
        short = cid[:12]
        status, data = get(f"/containers/{cid}/json", max_bytes=MAX_INSPECT,
                           what=f"inspect of container {short}")
        if status == 404:
            return _Inspection(gone=True)  # removed between list and inspect
        if status != 200:
            return _Inspection(error=f"inspect failed: HTTP {status}: {_message(data)}")
        data = check_inspect(data)
        notes: list[str] = []
        execs: Fact[list[Mapping[str, Any]]] = []
        try:
            found: list[Mapping[str, Any]] = []
            for exec_id in data.get("ExecIDs") or []:
                status, exec_data = get(f"/exec/{exec_id}/json", max_bytes=MAX_EXEC,
                                        what=f"exec inspect of container {short}")
                if status == 200:
                    found.append(check_exec(exec_data))  # a 404: the session ended meanwhile
            execs = found
        except (EngineAnswerError, DeadlineExceeded) as exc:
            notes.append(exc.message)
            execs = Unknown(exc.message)
        running = bool(_d(data.get("State")).get("Running"))
        procs: Fact[list[str]]
        if not running:
            procs = []
        elif processes is not None:
            procs = processes.get(cid, [])
        else:
            try:
                status, top = get(f"/containers/{cid}/top", max_bytes=MAX_TOP,
                                  what=f"process list of container {short}")
                procs = (processes_from_top(top) if status == 200 else
                         Unknown(f"process list unavailable: HTTP {status}: {_message(top)}"))
            except (EngineAnswerError, DeadlineExceeded) as exc:
                notes.append(exc.message)
                procs = Unknown(exc.message)
        return _Inspection(spec=spec_from_inspect(data, volumes=volumes, execs=execs,
                                                  processes=procs), notes=notes)


def _message(data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return clean(data["message"])[:200]
    return "unexpected response"


def _unknown_host(reason: str) -> HostSnapshot:
    u = Unknown(reason)
    return HostSnapshot(
        kernel_release=u, cgroup_version=u, cgroup_controllers=u, socket=u, docker_group=u,
        docker_group_members=u, audit_rules=u, data_root_mount=u, backing_mount=u, files=u,
        certificates=u, kernel_limits=u,
    )
