"""Turn Engine inspect data into the `ContainerSpec` model.

Pure conversion of the JSON the Engine returns; kept in `collect/` because it is
the last place raw dicts are allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockwarden.model.common import Fact, Source, TargetKind, Unknown
from dockwarden.model.container import ContainerSpec, ExecSession, Mount, PortBinding
from dockwarden.model.finding import Target


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def volume_size_limit(options: Mapping[str, Any] | None) -> str | None:
    """The size bound a local-driver volume's options give, if any."""
    opts = options or {}
    for key in ("size", "quota"):
        if opts.get(key):
            return f"{key}={opts[key]}"
    mount_opts = str(opts.get("o", ""))
    for part in mount_opts.split(","):
        if part.startswith("size="):
            return part
    return None


def mounts_from_inspect(raw: list[Any], volumes: Mapping[str, Mapping[str, Any]]) -> list[Mount]:
    out = []
    for m in raw:
        m = _dict(m)
        kind = _str(m.get("Type")) or "bind"
        size: Fact[str | None] = None
        if kind == "volume":
            vol = volumes.get(_str(m.get("Name")))
            if vol is None:
                size = Unknown("volume not listed by the Engine")
            else:
                size = volume_size_limit(_dict(vol.get("Options")))
        out.append(
            Mount(
                type=kind,
                source=_str(m.get("Source")) if kind == "bind" else _str(m.get("Name")),
                destination=_str(m.get("Destination")),
                read_only=not m.get("RW", True),
                propagation=_str(m.get("Propagation")),
                volume_driver=_str(m.get("Driver")),
                size_limit=size,
            )
        )
    return out


def spec_from_inspect(
    data: Mapping[str, Any],
    *,
    volumes: Mapping[str, Mapping[str, Any]] | None = None,
    execs: Fact[list[Mapping[str, Any]]] | None = None,
    processes: Fact[list[str]] | None = None,
) -> ContainerSpec:
    """Build the spec of one live (or created) container from `GET /containers/{id}/json`."""
    host = _dict(data.get("HostConfig"))
    cfg = _dict(data.get("Config"))
    state = _dict(data.get("State"))
    name = _str(data.get("Name")).lstrip("/") or _str(data.get("Id"))[:12]
    cid = _str(data.get("Id"))

    ports = []
    for cport, bindings in sorted(_dict(host.get("PortBindings")).items()):
        for b in _list(bindings):
            b = _dict(b)
            hp = _str(b.get("HostPort"))
            ports.append(
                PortBinding(cport, _str(b.get("HostIp")), int(hp) if hp.isdigit() else None)
            )
    # Ports the Engine actually bound (covers -P / PublishAllPorts).
    for cport, bindings in sorted(_dict(_dict(data.get("NetworkSettings")).get("Ports")).items()):
        for b in _list(bindings):
            b = _dict(b)
            hp = _str(b.get("HostPort"))
            pb = PortBinding(cport, _str(b.get("HostIp")), int(hp) if hp.isdigit() else None)
            if not any(p.container_port == cport and p.host_port == pb.host_port for p in ports):
                ports.append(pb)

    devices = tuple(
        ":".join(
            x
            for x in (
                _str(_dict(d).get("PathOnHost")),
                _str(_dict(d).get("PathInContainer")),
                _str(_dict(d).get("CgroupPermissions")),
            )
        )
        for d in _list(host.get("Devices"))
    )
    health = _dict(cfg.get("Healthcheck"))
    test = tuple(str(x) for x in _list(health.get("Test")))
    healthcheck = None if not test or test[0] == "NONE" else test

    env = []
    for item in _list(cfg.get("Env")):
        key, _, value = str(item).partition("=")
        env.append((key, value))

    ulimits = tuple(
        f"{_str(_dict(u).get('Name'))}={_dict(u).get('Soft')}:{_dict(u).get('Hard')}"
        for u in _list(host.get("Ulimits"))
    )
    restart = _dict(host.get("RestartPolicy"))
    log = _dict(host.get("LogConfig"))
    pids = host.get("PidsLimit")

    exec_sessions: Fact[tuple[ExecSession, ...]]
    if execs is None:
        exec_sessions = ()
    elif isinstance(execs, Unknown):
        exec_sessions = execs
    else:
        exec_sessions = tuple(
            ExecSession(
                id=_str(e.get("ID")),
                user=_str(_dict(e.get("ProcessConfig")).get("user")),
                privileged=bool(_dict(e.get("ProcessConfig")).get("privileged")),
                running=bool(e.get("Running")),
                command=(
                    _str(_dict(e.get("ProcessConfig")).get("entrypoint")),
                    *[str(a) for a in _list(_dict(e.get("ProcessConfig")).get("arguments"))],
                ),
            )
            for e in execs
        )

    return ContainerSpec(
        name=name,
        target=Target(TargetKind.CONTAINER, name, cid or None),
        source=Source.ENGINE,
        image=_str(cfg.get("Image")),
        running=bool(state.get("Running")),
        privileged=bool(host.get("Privileged")),
        pid_mode=_str(host.get("PidMode")),
        ipc_mode=_str(host.get("IpcMode")),
        network_mode=_str(host.get("NetworkMode")),
        uts_mode=_str(host.get("UTSMode")),
        userns_mode=_str(host.get("UsernsMode")),
        mounts=tuple(mounts_from_inspect(_list(data.get("Mounts")), volumes or {})),
        cap_add=tuple(str(c) for c in _list(host.get("CapAdd"))),
        cap_drop=tuple(str(c) for c in _list(host.get("CapDrop"))),
        security_opt=tuple(str(s) for s in _list(host.get("SecurityOpt"))),
        apparmor_profile=_str(data.get("AppArmorProfile")),
        pids_limit=pids if isinstance(pids, int) and not isinstance(pids, bool) else None,
        memory=_int(host.get("Memory")),
        nano_cpus=_int(host.get("NanoCpus")),
        cpu_shares=_int(host.get("CpuShares")),
        cpu_quota=_int(host.get("CpuQuota")),
        cpuset_cpus=_str(host.get("CpusetCpus")),
        storage_opt={str(k): str(v) for k, v in _dict(host.get("StorageOpt")).items()},
        log_driver=_str(log.get("Type")),
        log_options={str(k): str(v) for k, v in _dict(log.get("Config")).items()},
        read_only_rootfs=bool(host.get("ReadonlyRootfs")),
        user=_str(cfg.get("User")),
        devices=devices,
        ports=tuple(ports),
        restart_policy=_str(restart.get("Name")),
        restart_max_retries=_int(restart.get("MaximumRetryCount")),
        healthcheck=healthcheck,
        networks=tuple(sorted(_dict(_dict(data.get("NetworkSettings")).get("Networks")))),
        cgroup_parent=_str(host.get("CgroupParent")),
        ulimits=ulimits,
        env=tuple(env),
        sysctls={str(k): str(v) for k, v in _dict(host.get("Sysctls")).items()},
        labels={str(k): str(v) for k, v in _dict(cfg.get("Labels")).items()},
        exec_sessions=exec_sessions,
        processes=(Unknown("process list not gathered") if processes is None else
                   processes if isinstance(processes, Unknown) else tuple(processes)),
    )
