"""Turn Engine inspect data into the `ContainerSpec` model, and check the shape of every
Engine document where it enters.

Pure conversion of the JSON the Engine returns; kept in `collect/` because it is
the last place raw dicts are allowed.

The Engine (or whatever answers on its socket) is not trusted: each JSON document the
collector reads is checked against a declared shape (`check_shape`) before anything is
built from it. A shape names the fields dockwarden reads and their JSON types; `null` is
accepted wherever a value is (Go encodes empty slices and maps as null), fields not named
are not looked at. A document that does not fit is an `EngineAnswerError` naming the
path of the first bad value; the collector turns it into an error entry for that
container (or for the daemon part), never a traceback. Sizes and nesting depth are bounded
before decoding (collect/unixhttp.py). Written by hand: a schema library would cost more
to import than the whole check, and the shapes are a few lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from dockwarden.collect.unixhttp import EngineAnswerError
from dockwarden.model.common import Fact, Source, TargetKind, Unknown
from dockwarden.model.container import ContainerSpec, ExecSession, Mount, PortBinding
from dockwarden.model.finding import Target
from dockwarden.sanitize import clean


class MapOf:
    """A shape: a JSON object with any keys, each value of shape `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


ANY = object()  # a shape: any JSON value (not looked into)

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _key(key: object) -> str:
    text = clean(key)
    return text if len(text) <= 40 else text[:40] + "..."


def check_shape(value: Any, shape: Any, what: str, path: str = "") -> None:
    """Raise EngineAnswerError unless `value` fits `shape`: a type (str, int, bool,
    float = any number), `[S]` (a list of S), `{key: S}` (an object; the keys named are
    checked, others ignored), `MapOf(S)` or `ANY`. `null` fits every shape. The recursion
    follows the shape (a few levels), never the data."""
    if value is None or shape is ANY:
        return
    if isinstance(shape, type):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              if shape is float else
              isinstance(value, int) and not isinstance(value, bool) if shape is int else
              isinstance(value, shape))
        if not ok:
            _bad(what, path, _TYPE_NAMES.get(shape, shape.__name__), value)
        return
    if isinstance(shape, list):
        if not isinstance(value, list):
            _bad(what, path, "a list", value)
        for i, item in enumerate(value):
            check_shape(item, shape[0], what, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        _bad(what, path, "an object", value)
    if isinstance(shape, MapOf):
        for k, item in value.items():
            check_shape(item, shape.value, what, f"{path}[{_key(k)!r}]")
        return
    for k, sub in shape.items():
        if k in value:
            check_shape(value[k], sub, what, f"{path}.{k}" if path else k)


def _bad(what: str, path: str, expected: str, value: Any) -> NoReturn:
    where = f" {path}" if path else " it"
    raise EngineAnswerError(f"the Engine's answer to {what} is malformed:{where} is "
                            f"{_json_type(value)}, expected {expected}")


_PORTS = MapOf([{"HostIp": str, "HostPort": str}])

# The fields of `GET /containers/{id}/json` that spec_from_inspect reads.
INSPECT_SHAPE: dict[str, Any] = {
    "Id": str, "Name": str, "AppArmorProfile": str, "ExecIDs": [str],
    "State": {"Running": bool},
    "Mounts": [{"Type": str, "Name": str, "Source": str, "Destination": str, "RW": bool,
                "Propagation": str, "Driver": str}],
    "Config": {"Image": str, "User": str, "Env": [str], "Labels": MapOf(str),
               "Healthcheck": {"Test": [str]}},
    "HostConfig": {
        "Privileged": bool, "PidMode": str, "IpcMode": str, "NetworkMode": str,
        "UTSMode": str, "UsernsMode": str, "CapAdd": [str], "CapDrop": [str],
        "SecurityOpt": [str], "PidsLimit": int, "Memory": int, "NanoCpus": int,
        "CpuShares": int, "CpuQuota": int, "CpusetCpus": str, "StorageOpt": MapOf(str),
        "LogConfig": {"Type": str, "Config": MapOf(str)}, "ReadonlyRootfs": bool,
        "Devices": [{"PathOnHost": str, "PathInContainer": str, "CgroupPermissions": str}],
        "PortBindings": _PORTS, "RestartPolicy": {"Name": str, "MaximumRetryCount": int},
        "CgroupParent": str, "Ulimits": [{"Name": str, "Soft": int, "Hard": int}],
        "Sysctls": MapOf(str),
    },
    "NetworkSettings": {"Ports": _PORTS, "Networks": MapOf(ANY)},
}
# `GET /exec/{id}/json`.
EXEC_SHAPE: dict[str, Any] = {
    "ID": str, "Running": bool,
    "ProcessConfig": {"user": str, "privileged": bool, "entrypoint": str, "arguments": [str]},
}
# `GET /containers/{id}/top`.
TOP_SHAPE: dict[str, Any] = {"Titles": [str], "Processes": [[str]]}
# One row of `GET /containers/json`.
LIST_ROW_SHAPE: dict[str, Any] = {"Id": str, "Names": [str], "State": str,
                                  "Mounts": [{"Type": str}]}
# `GET /volumes`.
VOLUMES_SHAPE: dict[str, Any] = {"Volumes": [{"Name": str, "Options": MapOf(str)}]}

_ID = re.compile(r"[0-9a-f]{64}")


def is_engine_id(value: object) -> bool:
    """A container or exec id as the Engine makes them (64 lowercase hex digits): the only
    form put in a request path."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def checked(data: Any, shape: Mapping[str, Any], what: str) -> dict[str, Any]:
    """`data` if it is an object of `shape`, else EngineAnswerError: every Engine document
    that must be an object is checked here (inspect, exec, top; /info, /version, the
    bridge and the volume list in collect/engine.py)."""
    if not isinstance(data, dict):
        _bad(what, "", "an object", data)
    check_shape(data, shape, what)
    return data


def check_inspect(data: Any) -> dict[str, Any]:
    """`data` (an inspect document) if its shape is right, else EngineAnswerError."""
    doc = checked(data, INSPECT_SHAPE, "container inspect")
    execs = doc.get("ExecIDs") or []
    for i, exec_id in enumerate(execs):
        if not is_engine_id(exec_id):
            raise EngineAnswerError(f"the Engine's answer to container inspect is malformed: "
                                    f"ExecIDs[{i}] is not an exec id")
    return doc


def check_exec(data: Any) -> dict[str, Any]:
    return checked(data, EXEC_SHAPE, "exec inspect")


def processes_from_top(top: Any) -> list[str]:
    """The command column of each row of `GET /containers/{id}/top` (shape checked)."""
    top = checked(top, TOP_SHAPE, "container top")
    titles = top.get("Titles") or []
    col = titles.index("CMD") if "CMD" in titles else (
        titles.index("COMMAND") if "COMMAND" in titles else len(titles) - 1)
    if col < 0:
        return []
    return [row[col] for row in top.get("Processes") or []
            if isinstance(row, list) and len(row) > col and isinstance(row[col], str)]


def _host_port(value: str) -> int | None:
    """A HostPort string as a port number; None when the Engine chooses (empty) or when
    it is not a plain ASCII number in range ("2²", "8000-8010")."""
    if value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= 65535:
        return int(value)
    return None


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
                PortBinding(cport, _str(b.get("HostIp")), _host_port(hp))
            )
    # Ports the Engine actually bound (covers -P / PublishAllPorts).
    for cport, bindings in sorted(_dict(_dict(data.get("NetworkSettings")).get("Ports")).items()):
        for b in _list(bindings):
            b = _dict(b)
            hp = _str(b.get("HostPort"))
            pb = PortBinding(cport, _str(b.get("HostIp")), _host_port(hp))
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
