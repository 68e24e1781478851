"""DW101-DW121: the daemon's configuration, judged from /info and its effective config."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from dockwarden import read_data, secrets
from dockwarden.checks.registry import Fail, Scope, Skip, check, require
from dockwarden.model.common import Severity
from dockwarden.model.engine import BridgeFacts, DaemonSettings, EngineSnapshot, Listener

E = Scope.ENGINE
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$")


def _settings(snap: EngineSnapshot) -> DaemonSettings:
    return require(snap.daemon)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _tcp_listeners(snap: EngineSnapshot) -> list[Listener]:
    """TCP listeners from the daemon's config, or the one we connected to."""
    listeners: list[Listener] = []
    if not isinstance(snap.daemon, DaemonSettings):
        if snap.connection_scheme == "tcp":
            return listeners  # handled by the caller from the connection itself
        raise Skip(snap.daemon.reason)
    return [x for x in snap.daemon.listeners if x.scheme == "tcp"]


@check(
    id="DW101", title="Engine API listens on TCP without TLS", severity=Severity.CRITICAL,
    scope=E,
    rationale="The Engine API has no authentication of its own: anyone who reaches a plain "
    "TCP port can start a privileged container with / mounted, i.e. is root on the host.",
    remediation="Remove the tcp:// host, or enable --tlsverify with a CA, server certificate "
    "and client certificates (or use ssh://).",
    bad=('{"hosts": ["tcp://0.0.0.0:2375"]}',),
    good=('{"hosts": ["unix:///var/run/docker.sock"]}',),
)
def tcp_without_tls(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.connection_scheme == "tcp" and not snap.connection_tls:
        yield Fail({"connected_to": snap.endpoint, "tls": False},
                   message="dockwarden itself reached the API over plain TCP")
        return
    listeners = _tcp_listeners(snap)
    settings = require(snap.daemon)
    tls = _truthy(settings.get("tls")) or _truthy(settings.get("tlsverify"))
    if listeners and not tls:
        yield Fail({"hosts": [f"tcp://{x.address}" for x in listeners], "tls": False,
                    "tlsverify": False})


@check(
    id="DW102", title="Engine API on TCP with TLS but no client-certificate verification",
    severity=Severity.CRITICAL, scope=E,
    rationale="--tls without --tlsverify encrypts the connection but lets any client in: "
    "it is as open as plain TCP.",
    remediation="Use --tlsverify with --tlscacert so only clients with a certificate from "
    "your CA are accepted.",
    bad=('{"hosts": ["tcp://0.0.0.0:2376"], "tls": true}',),
    good=('{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true, '
          '"tlscacert": "/etc/docker/ca.pem"}',),
)
def tls_without_verify(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.connection_scheme == "tcp" and snap.connection_tls and not isinstance(
        snap.daemon, DaemonSettings
    ):
        if not snap.connection_client_cert:
            yield Fail({"connected_to": snap.endpoint, "client_certificate": False},
                       message="dockwarden connected over TLS without a client certificate")
        return
    listeners = _tcp_listeners(snap)
    settings = require(snap.daemon)
    if (listeners and _truthy(settings.get("tls")) and not _truthy(settings.get("tlsverify"))):
        yield Fail({"hosts": [f"tcp://{x.address}" for x in listeners], "tls": True,
                    "tlsverify": False})


@check(
    id="DW103", title="Engine API reachable from containers", severity=Severity.CRITICAL,
    scope=E,
    rationale="A TCP listener on 0.0.0.0 or on an address containers can route to (the "
    "bridge gateway, the host's own addresses) lets any container drive the Engine.",
    remediation="Bind the TCP listener to a management address containers cannot reach, "
    "or use the unix socket / ssh://.",
    bad=('{"hosts": ["tcp://0.0.0.0:2375"]}', '{"hosts": ["tcp://172.17.0.1:2375"]}'),
    good=('{"hosts": ["tcp://127.0.0.1:2375"]}',),
)
def reachable_from_containers(snap: EngineSnapshot) -> Iterator[Fail]:
    if not isinstance(snap.daemon, DaemonSettings):
        raise Skip(snap.daemon.reason)
    exposed = [x for x in snap.daemon.listeners
               if x.scheme == "tcp" and not LOOPBACK.match(x.host)]
    if exposed:
        gateway = snap.bridge.gateway if isinstance(snap.bridge, BridgeFacts) else None
        yield Fail({"hosts": [f"tcp://{x.address}" for x in exposed],
                    "bridge_gateway": gateway})


@check(
    id="DW104", title="Inter-container communication allowed on the default bridge",
    severity=Severity.MEDIUM, scope=E,
    rationale="With icc on, every container on docker0 can talk to every other on any port.",
    remediation='Set "icc": false in daemon.json and link containers through user-defined '
    "networks.",
    bad=('{"icc": true}',), good=('{"icc": false}',),
)
def icc(snap: EngineSnapshot) -> Iterator[Fail]:
    bridge = require(snap.bridge)
    if bridge.icc:
        yield Fail({"network": bridge.name,
                    "com.docker.network.bridge.enable_icc": "true"})


@check(
    id="DW105", title="Docker may not manage iptables", severity=Severity.MEDIUM, scope=E,
    rationale="With iptables off, Docker adds no isolation or NAT rules: published ports and "
    "inter-network isolation depend on rules nobody maintains.",
    remediation='Remove "iptables": false.',
    bad=('{"iptables": false}',), good=("{}",),
)
def iptables_off(snap: EngineSnapshot) -> Iterator[Fail]:
    value = _settings(snap).get("iptables", True)
    if not _truthy(value):
        yield Fail({"iptables": False})


@check(
    id="DW106", title="Insecure registries configured", severity=Severity.HIGH, scope=E,
    rationale="Images from an insecure registry come over plain HTTP or unverified TLS: "
    "anyone on the path can replace them.",
    remediation="Remove insecure-registries; give the registry a valid certificate (or its "
    "CA in /etc/docker/certs.d).",
    bad=('{"insecure-registries": ["registry.corp:5000"]}',), good=("{}",),
)
def insecure_registries(snap: EngineSnapshot) -> Iterator[Fail]:
    default = {"127.0.0.0/8", "::1/128"}
    cidrs = [c for c in snap.info.insecure_cidrs if c not in default]
    names = [n for n in snap.info.insecure_registries
             if not LOOPBACK.match(n.rsplit(":", 1)[0]) and n not in cidrs]
    if cidrs or names:
        yield Fail({"insecure_registries": sorted(set(names) | set(cidrs))})


@check(
    id="DW107", title="aufs storage driver", severity=Severity.HIGH, scope=E,
    rationale="aufs is unmaintained, removed from current kernels and Docker, and has known "
    "kernel crashes.",
    remediation="Move to overlay2.",
    bad=('{"storage-driver": "aufs"}',), good=('{"storage-driver": "overlay2"}',),
)
def aufs(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.driver == "aufs":
        yield Fail({"Driver": "aufs"})


@check(
    id="DW108", title="No default ulimits", severity=Severity.LOW, scope=E,
    rationale="default-ulimits bound open files and similar per-process resources for every "
    "container. Note that an nproc ulimit counts per user across all containers and does "
    "not stop a fork bomb: only the pids cgroup (--pids-limit) does.",
    remediation='Set "default-ulimits" (e.g. nofile) in daemon.json, and --pids-limit on '
    "containers.",
    bad=("{}",), good=('{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 64000, '
                       '"Hard": 64000}}}',),
)
def default_ulimits(snap: EngineSnapshot) -> Iterator[Fail]:
    if not _settings(snap).get("default-ulimits"):
        yield Fail({"default-ulimits": None},
                   message="nproc ulimits would not stop a fork bomb anyway: use pids limits")


@check(
    id="DW109", title="User-namespace remapping off", severity=Severity.MEDIUM, scope=E,
    rationale="Without userns-remap, root in a container is uid 0 on the host.",
    remediation='Set "userns-remap": "default" (check volume ownership first).',
    bad=("{}",), good=('{"userns-remap": "default"}',),
)
def userns_off(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.security_option("userns") is None and snap.info.security_option(
            "rootless") is None:
        yield Fail({"SecurityOptions": list(snap.info.security_options)})


@check(
    id="DW110", title="No authorization plugin", severity=Severity.LOW, scope=E,
    rationale="Without an authorization plugin every API client is all-powerful.",
    remediation="Add an authorization plugin if several people or tools share the Engine.",
    bad=("{}",), good=('{"authorization-plugins": ["opa-docker-authz"]}',),
)
def no_authz(snap: EngineSnapshot) -> Iterator[Fail]:
    if not snap.info.authorization_plugins:
        yield Fail({"Plugins.Authorization": None})


@check(
    id="DW111", title="Default log driver keeps logs without rotation", severity=Severity.MEDIUM,
    scope=E,
    rationale="json-file without max-size lets every container fill the host's disk with "
    "its output.",
    remediation='Set "log-opts": {"max-size": "10m", "max-file": "3"} or "log-driver": "local".',
    bad=('{"log-driver": "json-file"}',),
    good=('{"log-driver": "json-file", "log-opts": {"max-size": "10m"}}',
          '{"log-driver": "local"}'),
)
def log_rotation(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.logging_driver != "json-file":
        return
    opts = _settings(snap).get("log-opts") or {}
    if not isinstance(opts, dict) or not opts.get("max-size"):
        yield Fail({"LoggingDriver": "json-file",
                    "log-opts": secrets.redact_mapping(opts) if isinstance(opts, dict) else opts})


@check(
    id="DW112", title="no-new-privileges not the daemon default", severity=Severity.MEDIUM,
    scope=E,
    rationale="Making no-new-privileges the default stops setuid escalation in every container "
    "that does not opt out.",
    remediation='Set "no-new-privileges": true in daemon.json.',
    bad=("{}",), good=('{"no-new-privileges": true}',),
)
def no_new_privs(snap: EngineSnapshot) -> Iterator[Fail]:
    if not _truthy(_settings(snap).get("no-new-privileges", False)):
        yield Fail({"no-new-privileges": False})


@check(
    id="DW113", title="live-restore off", severity=Severity.LOW, scope=E,
    rationale="Without live-restore, restarting or upgrading the daemon stops every "
    "container, which discourages prompt patching.",
    remediation='Set "live-restore": true.',
    bad=("{}",), good=('{"live-restore": true}',),
)
def live_restore(snap: EngineSnapshot) -> Iterator[Fail]:
    if not snap.info.live_restore:
        yield Fail({"LiveRestoreEnabled": False})


@check(
    id="DW114", title="userland proxy on", severity=Severity.LOW, scope=E,
    rationale="docker-proxy runs one process per published port and widens the attack "
    "surface; hairpin NAT does the same job in the kernel.",
    remediation='Set "userland-proxy": false.',
    bad=("{}",), good=('{"userland-proxy": false}',),
)
def userland_proxy(snap: EngineSnapshot) -> Iterator[Fail]:
    if _truthy(_settings(snap).get("userland-proxy", True)):
        yield Fail({"userland-proxy": True})


@check(
    id="DW115", title="Experimental features on", severity=Severity.MEDIUM, scope=E,
    rationale="Experimental features are unsupported and less reviewed.",
    remediation='Remove "experimental": true in production.',
    bad=('{"experimental": true}',), good=("{}",),
)
def experimental(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.experimental:
        yield Fail({"ExperimentalBuild": True})


@check(
    id="DW116", title="Debug logging on", severity=Severity.LOW, scope=E,
    rationale="Debug logs are voluminous (disk) and can record request details.",
    remediation='Remove "debug": true (use "log-level": "info").',
    bad=('{"debug": true}',), good=("{}",),
)
def debug(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.debug:
        yield Fail({"Debug": True})


def _custom_seccomp_profile(snap: EngineSnapshot) -> bool:
    return isinstance(snap.daemon, DaemonSettings) and snap.daemon.get("seccomp-profile") not in (
        None, "", "builtin", "default")


@check(
    id="DW117", title="Default seccomp profile replaced by unconfined", severity=Severity.HIGH,
    scope=E,
    rationale="With seccomp unconfined (or unavailable) every container reaches the whole "
    "system-call surface of the host kernel.",
    remediation='Remove "seccomp-profile": "unconfined"; use the default or a stricter profile.',
    bad=('{"seccomp-profile": "unconfined"}',), good=("{}",),
)
def seccomp_unconfined(snap: EngineSnapshot) -> Iterator[Fail]:
    opt = snap.info.security_option("seccomp")
    if opt is None:
        yield Fail({"SecurityOptions": list(snap.info.security_options)},
                   message="seccomp is not available to the Engine")
    elif opt.get("profile") == "unconfined":
        yield Fail({"seccomp": opt})
    elif _custom_seccomp_profile(snap) and require(snap.host.seccomp_profile_allows_all):
        # Engines before 23 have no "unconfined" keyword: an allow-everything profile
        # file is how the default profile gets switched off there.
        yield Fail({"seccomp": opt, "seccomp-profile": _settings(snap).get("seccomp-profile")},
                       message="the daemon's seccomp profile allows every call")


@check(
    id="DW118", title="Daemon runs as root", severity=Severity.INFO, scope=E,
    rationale="A rootless daemon limits what a daemon or container escape can do.",
    remediation="Consider rootless mode where its limitations are acceptable.",
    bad=("dockerd (as root)",), good=("dockerd-rootless.sh",),
)
def rootful(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.security_option("rootless") is None:
        yield Fail({"SecurityOptions": list(snap.info.security_options)})


def _version(text: str) -> tuple[int, ...]:
    m = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        raise Skip(f"unrecognised Engine version {text!r}")
    return tuple(int(x) for x in m.groups(default="0"))


_RELEASES: dict[str, Any] = json.loads(
    read_data("engine_releases.json")
)


def _series(version: tuple[int, ...], keys: Any) -> str | None:
    for key in (f"{version[0]}.{version[1]}", f"{version[0]}", f"{version[0]}.{version[1]:02d}"):
        if key in keys:
            return key
    return None


@check(
    id="DW119", title="Engine version end-of-life or with known vulnerabilities",
    severity=Severity.MEDIUM, scope=E,
    rationale="An Engine no longer patched upstream keeps its known vulnerabilities.",
    remediation="Upgrade to a maintained Docker Engine release.",
    bad=("Docker Engine 20.10.24",), good=("Docker Engine 29.1.0",),
)
def engine_eol(snap: EngineSnapshot) -> Iterator[Fail]:
    raw = snap.info.server_version
    version = _version(raw)
    today = snap.gathered_at.date()
    series = _series(version, _RELEASES["series"])
    evidence: dict[str, Any] = {"ServerVersion": raw}
    if series is not None:
        eol = date.fromisoformat(_RELEASES["series"][series])
        if eol <= today:
            evidence["end_of_life"] = eol.isoformat()
    vulns = []
    for vuln in _RELEASES["vulnerabilities"]:
        key = _series(version, vuln["fixed"])
        if key is None:
            continue
        fixed = vuln["fixed"][key]
        if fixed is None or version < _version(fixed):
            vulns.append(vuln["id"] + (f" (fixed in {fixed})" if fixed else " (no fix in series)"))
    if vulns:
        evidence["vulnerabilities"] = vulns
    if len(evidence) > 1:
        yield Fail(evidence)


def _backing_fs(snap: EngineSnapshot) -> str:
    return dict(snap.info.driver_status).get("Backing Filesystem", "")


@check(
    id="DW120", title="Storage driver cannot enforce per-container disk quotas",
    severity=Severity.MEDIUM, scope=E,
    rationale="Without quota support, --storage-opt size is refused and any container can "
    "fill the data root for everyone.",
    remediation="Put /var/lib/docker on xfs mounted with pquota (overlay2), or use btrfs/zfs.",
    bad=("overlay2 on ext4",), good=("overlay2 on xfs,pquota", "btrfs"),
)
def no_quota(snap: EngineSnapshot) -> Iterator[Fail]:
    driver = snap.info.driver
    if driver in ("btrfs", "zfs", "devicemapper", "windowsfilter"):
        return
    evidence: dict[str, Any] = {"Driver": driver, "BackingFilesystem": _backing_fs(snap)}
    if driver == "overlay2" and _backing_fs(snap) == "xfs":
        mount = require(snap.host.backing_mount)
        opts = set(mount.options)
        if opts & {"pquota", "prjquota"}:
            return
        evidence["mount_options"] = sorted(opts)
    yield Fail(evidence)


@check(
    id="DW121", title="Swarm mode active", severity=Severity.INFO, scope=E,
    rationale="Swarm opens management ports (2377, 7946, 4789) and keeps cluster secrets; "
    "leave it off where it is not used.",
    remediation="docker swarm leave, if swarm is not needed.",
    bad=("docker swarm init",), good=("swarm inactive",),
)
def swarm(snap: EngineSnapshot) -> Iterator[Fail]:
    if snap.info.swarm_state == "active":
        yield Fail({"Swarm.LocalNodeState": "active"})
