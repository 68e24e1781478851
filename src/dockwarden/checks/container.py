"""DW2xx: one logic for live containers, compose services and `docker run` lines."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from posixpath import normpath
from typing import Any

from dockwarden import secrets
from dockwarden.checks.common import is_moving_ref, is_root_user
from dockwarden.checks.registry import Fail, Scope, Skip, check, require
from dockwarden.model.common import Severity, Source
from dockwarden.model.container import ContainerContext, ContainerSpec

C = Scope.CONTAINER

# Host paths whose mount hands the host away (or a large part of it).
SENSITIVE_DIRS = (
    "/", "/etc", "/boot", "/dev", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys",
    "/usr", "/bin", "/sbin", "/root", "/var/lib/docker", "/var/lib/containerd",
    "/var/lib/kubelet", "/run", "/var/run", "/var/log", "/home",
)
# Single files under a sensitive directory that are commonly and harmlessly mounted read-only.
BENIGN_READ_ONLY = ("/etc/localtime", "/etc/timezone", "/etc/machine-id", "/etc/hostname")
DOCKER_SOCKETS = (
    "/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock", "/run/podman/podman.sock",
)
DANGEROUS_CAPS = (
    "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH",
    "NET_ADMIN", "SYS_BOOT", "SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON",
    "SYSLOG", "SYS_RESOURCE", "DAC_OVERRIDE", "LINUX_IMMUTABLE", "NET_RAW",
)
# NET_RAW and DAC_OVERRIDE are in Docker's default set: adding them again changes nothing.
DEFAULT_CAPS = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})


def _is_host(mode: str) -> bool:
    return mode.strip().lower() == "host"


def _item(spec: ContainerSpec, field: str, key: object) -> str:
    """The `lines` key of one item of a list or mapping field (`mounts:3`,
    `env:DB_PASSWORD`): a finding about that item points at its own line; the field's
    key where the item has none (a live container, an item from another file)."""
    name = f"{field}:{key}"
    return name if name in spec.lines else field


@check(
    id="DW201", title="Container runs privileged", severity=Severity.CRITICAL, scope=C,
    rationale="A privileged container has every capability, every host device and no "
    "seccomp or AppArmor confinement: root inside is root on the host.",
    remediation="Remove --privileged; add only the capabilities and devices it needs.",
    bad=("docker run --privileged busybox",), good=("docker run busybox",),
)
def privileged(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.privileged:
        yield Fail({"HostConfig.Privileged": True}, field="privileged")


def _namespace_check(attr: str, key: str, spec: ContainerSpec) -> Iterator[Fail]:
    value = getattr(spec, attr)
    if _is_host(value):
        yield Fail({f"HostConfig.{key}": value}, field=attr)


@check(
    id="DW202", title="Container shares the host's PID namespace", severity=Severity.HIGH,
    scope=C,
    rationale="With --pid host the container sees and can signal or ptrace every host "
    "process, and reads their environments through /proc.",
    remediation="Remove --pid host.",
    bad=("docker run --pid host busybox",), good=("docker run busybox",),
)
def host_pid(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    yield from _namespace_check("pid_mode", "PidMode", spec)


@check(
    id="DW203", title="Container shares the host's IPC namespace", severity=Severity.HIGH,
    scope=C,
    rationale="With --ipc host the container reaches the host's shared memory and "
    "message queues.",
    remediation="Remove --ipc host.",
    bad=("docker run --ipc host busybox",), good=("docker run busybox",),
)
def host_ipc(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    yield from _namespace_check("ipc_mode", "IpcMode", spec)


@check(
    id="DW204", title="Container shares the host's network namespace",
    severity=Severity.HIGH, scope=C,
    rationale="With --network host the container binds host ports, reaches services on "
    "the host's loopback (including a TCP Engine API) and sniffs host traffic with NET_RAW.",
    remediation="Use a user-defined bridge network and publish only the needed ports.",
    bad=("docker run --network host busybox",), good=("docker run --network app busybox",),
)
def host_network(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    yield from _namespace_check("network_mode", "NetworkMode", spec)


@check(
    id="DW205", title="Container shares the host's UTS namespace", severity=Severity.MEDIUM,
    scope=C,
    rationale="With --uts host the container can change the host's hostname.",
    remediation="Remove --uts host.",
    bad=("docker run --uts host busybox",), good=("docker run busybox",),
)
def host_uts(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    yield from _namespace_check("uts_mode", "UTSMode", spec)


@check(
    id="DW206", title="Container opts out of user-namespace remapping (--userns=host)",
    severity=Severity.MEDIUM, scope=C,
    rationale="--userns=host makes root inside the container the host's real root even "
    "where the daemon remaps users.",
    remediation="Remove --userns=host.",
    bad=("docker run --userns host busybox",), good=("docker run busybox",),
)
def host_userns(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    yield from _namespace_check("userns_mode", "UsernsMode", spec)


def _under(path: str, base: str) -> bool:
    return path == base or base == "/" or path.startswith(base.rstrip("/") + "/")


def _is_docker_socket(source: str, ctx: ContainerContext) -> bool:
    sockets = {*DOCKER_SOCKETS, ctx.docker_socket}
    return source in sockets or any(_under(s, source) for s in sockets if source != "/")


@check(
    id="DW207", title="Sensitive host directory mounted", severity=Severity.HIGH, scope=C,
    rationale="Mounting / or a system directory gives the container the host's files: "
    "writable, it can plant cron jobs, keys or binaries and take the host.",
    remediation="Mount only the specific data directory the application needs, read-only "
    "where possible.",
    bad=("docker run -v /:/host busybox", "docker run -v /etc:/etc busybox"),
    good=("docker run -v /opt/data:/data busybox",
          "docker run -v /etc/localtime:/etc/localtime:ro busybox"),
)
def sensitive_mount(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    for i, m in enumerate(spec.mounts):
        if m.type != "bind" or not m.source.startswith("/"):
            continue
        src = normpath(m.source)
        if _is_docker_socket(src, ctx):
            continue  # DW208
        hit = next((d for d in SENSITIVE_DIRS if _under(src, d) and (d != "/" or src == "/")),
                   None)
        if hit is None or (m.read_only and src in BENIGN_READ_ONLY):
            continue
        severity = Severity.CRITICAL if src == "/" or not m.read_only else Severity.HIGH
        yield Fail(
            {"source": m.source, "destination": m.destination, "read_only": m.read_only},
            severity=severity, field=_item(spec, "mounts", i),
            message=f"host {m.source} mounted at {m.destination}"
            + (" read-only" if m.read_only else " writable"),
        )


@check(
    id="DW208", title="Docker socket mounted into the container", severity=Severity.CRITICAL,
    scope=C,
    rationale="Whoever reaches the Engine socket can start a privileged container with / "
    "mounted: a mounted docker.sock is root on the host, read-only or not.",
    remediation="Do not mount the Engine socket; use a narrowly scoped proxy if a tool "
    "really needs the API.",
    bad=("docker run -v /var/run/docker.sock:/var/run/docker.sock busybox",),
    good=("docker run busybox",),
)
def docker_socket(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    for i, m in enumerate(spec.mounts):
        if m.type == "bind" and m.source.startswith("/") and _is_docker_socket(
            normpath(m.source), ctx
        ):
            yield Fail({"source": m.source, "destination": m.destination,
                        "read_only": m.read_only}, field=_item(spec, "mounts", i))


def _cap(name: str) -> str:
    name = name.strip().upper()
    return name[4:] if name.startswith("CAP_") else name


@check(
    id="DW209", title="Dangerous capabilities added", severity=Severity.HIGH, scope=C,
    rationale="Capabilities such as SYS_ADMIN, SYS_MODULE or SYS_PTRACE let root in the "
    "container escape to the host (mount, load kernel modules, inject into processes).",
    remediation="Drop the added capability, or use --cap-drop ALL and add back only what the "
    "application needs.",
    bad=("docker run --cap-add SYS_ADMIN busybox", "docker run --cap-add ALL busybox"),
    good=("docker run --cap-drop ALL --cap-add NET_BIND_SERVICE busybox",),
)
def dangerous_caps(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    dropped = {_cap(c) for c in spec.cap_drop}
    added = [_cap(c) for c in spec.cap_add]
    bad = [c for c in added if c in DANGEROUS_CAPS and c not in DEFAULT_CAPS and c not in dropped]
    if bad:
        sev = Severity.CRITICAL if {"ALL", "SYS_ADMIN", "SYS_MODULE"} & set(bad) else None
        first = added.index(bad[0])
        yield Fail({"HostConfig.CapAdd": sorted(set(bad))}, severity=sev,
                   field=_item(spec, "cap_add", first))


@check(
    id="DW210", title="seccomp disabled (unconfined)", severity=Severity.HIGH, scope=C,
    rationale="Docker's default seccomp profile blocks about 50 dangerous system calls "
    "(keyctl, unshare, mount, kexec...); unconfined exposes the kernel's whole surface.",
    remediation="Remove --security-opt seccomp=unconfined; use a custom profile if a call "
    "is really needed.",
    bad=("docker run --security-opt seccomp=unconfined busybox",), good=("docker run busybox",),
)
def seccomp_unconfined(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.security_options().get("seccomp", "").lower() == "unconfined":
        yield Fail({"HostConfig.SecurityOpt": list(spec.security_opt)}, field="security_opt")


def _module_check(present: object, opt: str, label: str, spec: ContainerSpec) -> Iterator[Fail]:
    value = spec.security_options().get(opt, "").lower()
    disabled = value == "unconfined" if opt == "apparmor" else value == "disable"
    if opt == "apparmor" and spec.apparmor_profile == "unconfined":
        disabled = True
    if not disabled:
        return
    if present is False:
        raise Skip(f"the host does not use {label}")
    yield Fail({"HostConfig.SecurityOpt": list(spec.security_opt),
                "host_" + opt: present if isinstance(present, bool) else "unknown"},
               field="security_opt")


@check(
    id="DW211", title="AppArmor confinement disabled", severity=Severity.MEDIUM, scope=C,
    rationale="On an AppArmor host, docker-default denies writes to /proc and /sys "
    "and mounts; unconfined removes that layer.",
    remediation="Remove --security-opt apparmor=unconfined.",
    bad=("docker run --security-opt apparmor=unconfined busybox",),
    good=("docker run busybox",),
)
def apparmor_unconfined(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    present = None if not isinstance(ctx.host_apparmor, bool) else ctx.host_apparmor
    yield from _module_check(present, "apparmor", "AppArmor", spec)


@check(
    id="DW212", title="SELinux labelling disabled", severity=Severity.MEDIUM, scope=C,
    rationale="On an SELinux host, label=disable runs the container as an unconfined "
    "process type.",
    remediation="Remove --security-opt label=disable.",
    bad=("docker run --security-opt label=disable busybox",), good=("docker run busybox",),
)
def selinux_disabled(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    present = None if not isinstance(ctx.host_selinux, bool) else ctx.host_selinux
    yield from _module_check(present, "label", "SELinux", spec)


@check(
    id="DW213", title="no-new-privileges not set", severity=Severity.MEDIUM, scope=C,
    rationale="Without no-new-privileges a process can gain privileges through setuid "
    "binaries or file capabilities inside the container.",
    remediation="Add --security-opt no-new-privileges (or make it the daemon default).",
    bad=("docker run busybox",), good=("docker run --security-opt no-new-privileges busybox",),
)
def no_new_privileges(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    value = spec.security_options().get("no-new-privileges")
    if value is not None and value.lower() != "false":
        return
    if value is None and ctx.daemon_no_new_privileges is True:
        return
    yield Fail({"HostConfig.SecurityOpt": list(spec.security_opt),
                "daemon_no_new_privileges": ctx.daemon_no_new_privileges
                if isinstance(ctx.daemon_no_new_privileges, bool) else "unknown"},
               field="security_opt")


@check(
    id="DW214", title="No PIDs limit", severity=Severity.MEDIUM, scope=C,
    rationale="The pids cgroup is the only bound on a container's processes: without it a "
    "fork bomb fills the host's process table and no one can start anything (nproc "
    "ulimits count per user across containers and do not stop it).",
    remediation="Set --pids-limit (e.g. 200, or what the workload needs).",
    bad=("docker run busybox",), good=("docker run --pids-limit 200 busybox",),
)
def no_pids_limit(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.pids_limit is None or spec.pids_limit <= 0:
        yield Fail({"HostConfig.PidsLimit": spec.pids_limit}, field="pids_limit")


@check(
    id="DW215", title="No memory limit", severity=Severity.MEDIUM, scope=C,
    rationale="Without a memory limit one container can push the host into OOM and get "
    "other containers or the daemon killed.",
    remediation="Set --memory (and --memory-swap).",
    bad=("docker run busybox",), good=("docker run --memory 256m busybox",),
)
def no_memory_limit(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.memory <= 0:
        yield Fail({"HostConfig.Memory": spec.memory}, field="memory")


@check(
    id="DW216", title="No CPU limit or shares", severity=Severity.LOW, scope=C,
    rationale="Without CPU limits or shares a busy container starves the others.",
    remediation="Set --cpus, or --cpu-shares relative to the other containers.",
    bad=("docker run busybox",), good=("docker run --cpus 1 busybox",),
)
def no_cpu_limit(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if not (spec.nano_cpus > 0 or spec.cpu_quota > 0 or spec.cpu_shares > 0 or spec.cpuset_cpus):
        yield Fail({"HostConfig.NanoCpus": spec.nano_cpus, "HostConfig.CpuShares": spec.cpu_shares,
                    "HostConfig.CpuQuota": spec.cpu_quota}, field="nano_cpus")


@check(
    id="DW217", title="Writable layer without a size quota", severity=Severity.MEDIUM, scope=C,
    rationale="A container writing to its own filesystem without --storage-opt size can "
    "fill the disk (or inodes) under /var/lib/docker for every container and the daemon.",
    remediation="Set --storage-opt size=... (needs overlay2 on xfs with pquota, btrfs or "
    "zfs), or make the root filesystem read-only.",
    bad=("docker run busybox",), good=("docker run --storage-opt size=1G busybox",
                                       "docker run --read-only busybox"),
)
def no_storage_quota(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.read_only_rootfs or spec.storage_opt.get("size"):
        return
    yield Fail({"HostConfig.StorageOpt": dict(spec.storage_opt),
                "HostConfig.ReadonlyRootfs": False}, field="storage_opt")


@check(
    id="DW218", title="Logs kept without rotation", severity=Severity.MEDIUM, scope=C,
    rationale="The json-file driver without max-size keeps everything the container prints "
    "on the host's disk: a chatty or hostile container fills it.",
    remediation="Set --log-opt max-size=10m --log-opt max-file=3 (or the daemon's log-opts), "
    "or use the local driver.",
    bad=("docker run --log-driver json-file busybox",),
    good=("docker run --log-opt max-size=10m busybox", "docker run --log-driver local busybox"),
)
def log_rotation(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    driver, opts = spec.log_driver, dict(spec.log_options)
    if spec.source is not Source.ENGINE:
        # A file leaves the driver to the daemon; the Engine merges the daemon's log-opts
        # into a live container's inspect data, so only files need the merge here.
        daemon_driver = ctx.daemon_log_driver if isinstance(ctx.daemon_log_driver, str) else (
            "json-file")
        driver = driver or daemon_driver
        if driver == daemon_driver and isinstance(ctx.daemon_log_options, Mapping):
            opts = {**ctx.daemon_log_options, **opts}
    if driver == "json-file" and opts.get("max-size") in (None, "", "-1"):
        # log options may hold a token (splunk-token, ...): redacted like any evidence
        yield Fail({"HostConfig.LogConfig": {"Type": driver, "Config": secrets.redact_mapping(
                    spec.log_options)}},
                   field="log_driver")


@check(
    id="DW219", title="Root filesystem writable", severity=Severity.LOW, scope=C,
    rationale="A read-only root filesystem stops an intruder from changing binaries and "
    "bounds what the container can write.",
    remediation="Run with --read-only and mount tmpfs or volumes where writes are needed.",
    bad=("docker run busybox",), good=("docker run --read-only busybox",),
)
def writable_rootfs(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if not spec.read_only_rootfs:
        yield Fail({"HostConfig.ReadonlyRootfs": False}, field="read_only_rootfs")


@check(
    id="DW220", title="Container runs as root", severity=Severity.MEDIUM, scope=C,
    rationale="Root in the container is root on the host's kernel: any escape or writable "
    "host mount is a full compromise.",
    remediation="Run as an unprivileged user (--user 1000:1000, or USER in the image).",
    bad=("docker run busybox",), good=("docker run --user 1000:1000 busybox",),
)
def runs_as_root(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    image_user = spec.image_user
    if spec.user or image_user is None:
        if is_root_user(spec.user):
            yield Fail({"Config.User": spec.user}, field="user")
        return
    # No user set: the image's. A service built from a local Dockerfile (no
    # `image_user_source`): the user its image sets, when the files tell; else
    # (inherited from a base image) unknown, not asserted root. A service or `docker run`
    # line naming only an image: that image's configured user (local Engine, registry),
    # else unknown with the image named.
    source, where = spec.image_user_source, spec.image_user_from
    evidence: dict[str, Any]
    if isinstance(image_user, str):
        if not is_root_user(image_user):
            return
        evidence = {"Config.User": image_user, "user_from": where}
        if source:
            evidence["user_source"] = source
            message = (f"no user set: the image's configured user is {image_user or 'root'} "
                       f"({spec.image}, {source.removeprefix('image (').removesuffix(')')})")
        else:
            message = f"USER {image_user or 'root'} in {where}"
        yield Fail(evidence, field="user", message=message)
        return
    evidence = {"Config.User": "", "user": "unknown"}
    if source:
        evidence |= {"image": spec.image, "user_source": source}
        message = f"no user set: the user is the image's ({spec.image}), unknown"
    else:
        evidence["inherited_from"] = where or "unknown"
        message = (f"no USER in the Dockerfile: the user is inherited from {where}, unknown"
                   if where else "the image's user is unknown")
    evidence["reason"] = image_user.reason
    yield Fail(evidence, severity=Severity.LOW, field="user", message=message)

@check(
    id="DW221", title="Host devices passed in", severity=Severity.HIGH, scope=C,
    rationale="A host block or character device gives raw access: a disk device means "
    "reading and writing the host's filesystems directly.",
    remediation="Remove --device unless the workload truly needs it; never pass disks.",
    bad=("docker run --device /dev/sda busybox",), good=("docker run busybox",),
)
def host_devices(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.devices:
        yield Fail({"HostConfig.Devices": list(spec.devices)}, field=_item(spec, "devices", 0))


@check(
    id="DW222", title="Shared mount propagation", severity=Severity.MEDIUM, scope=C,
    rationale="With shared propagation, mounts made inside the container appear on the "
    "host (and the reverse).",
    remediation="Use the default private propagation.",
    bad=("docker run -v /mnt:/mnt:rshared busybox",), good=("docker run -v /mnt:/mnt busybox",),
)
def shared_propagation(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    for i, m in enumerate(spec.mounts):
        if m.propagation in ("shared", "rshared"):
            yield Fail({"source": m.source, "destination": m.destination,
                        "propagation": m.propagation}, field=_item(spec, "mounts", i))


@check(
    id="DW223", title="Privileged host port mapped", severity=Severity.LOW, scope=C,
    rationale="Host ports below 1024 are reserved for trusted system services.",
    remediation="Map to a host port of 1024 or above, or front it with a proxy.",
    bad=("docker run -p 80:8080 busybox",), good=("docker run -p 127.0.0.1:8080:8080 busybox",),
)
def privileged_port(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    hits = [i for i, p in enumerate(spec.ports) if p.host_port is not None and p.host_port < 1024]
    if hits:
        low = sorted({spec.ports[i].host_port or 0 for i in hits})
        yield Fail({"host_ports": low}, field=_item(spec, "ports", hits[0]))


@check(
    id="DW224", title="Port published on all host interfaces", severity=Severity.LOW, scope=C,
    rationale="Without a host address, Docker publishes the port on every interface and "
    "its iptables rules bypass the host firewall.",
    remediation="Bind to the address that should serve it, e.g. -p 127.0.0.1:8080:8080.",
    bad=("docker run -p 8080:8080 busybox",), good=("docker run -p 127.0.0.1:8080:8080 busybox",),
)
def all_interfaces(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    hits = [i for i, p in enumerate(spec.ports) if p.host_ip in ("", "0.0.0.0", "::")]
    wide = sorted({f"{p.host_ip or '0.0.0.0'}:{p.host_port or '*'}->{p.container_port}"
                   for p in (spec.ports[i] for i in hits)})
    if wide:
        yield Fail({"bindings": wide}, field=_item(spec, "ports", hits[0]))


@check(
    id="DW225", title="sshd running inside the container", severity=Severity.LOW, scope=C,
    rationale="An SSH daemon in a container is another way in and another service to patch; "
    "use docker exec for access.",
    remediation="Remove the SSH server from the image and its command.",
    bad=("docker run debian /usr/sbin/sshd -D",), good=("docker run busybox",),
)
def sshd_running(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if not spec.running and spec.source is Source.ENGINE:
        raise Skip("container is not running")
    procs = require(spec.processes)
    hits = [p for p in procs if re.search(r"(^|/)sshd(\s|$|:)", p)]
    if hits:
        # a process line is a command line: its secrets go before anything shows it
        yield Fail({"processes": [secrets.redact_command(p)[:300] for p in hits[:5]]})


@check(
    id="DW226", title="Restart policy can loop forever", severity=Severity.LOW, scope=C,
    rationale="always / unless-stopped (or many on-failure retries) restart a crashing or "
    "compromised container endlessly, which can starve the host.",
    remediation="Use --restart on-failure:5.",
    bad=("docker run --restart always busybox",),
    good=("docker run --restart on-failure:5 busybox",),
)
def restart_policy(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    p = spec.restart_policy
    if p in ("always", "unless-stopped") or (p == "on-failure" and (
            spec.restart_max_retries > 5 or spec.restart_max_retries == 0)):
        yield Fail({"HostConfig.RestartPolicy": {"Name": p,
                    "MaximumRetryCount": spec.restart_max_retries}}, field="restart_policy")


@check(
    id="DW227", title="No health check", severity=Severity.LOW, scope=C,
    rationale="Without a health check the Engine cannot tell a hung service from a "
    "working one.",
    remediation="Add --health-cmd (or HEALTHCHECK in the image).",
    bad=("docker run busybox",), good=("docker run --health-cmd 'true' busybox",),
)
def no_healthcheck(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.healthcheck is None:
        yield Fail({"Config.Healthcheck": None}, field="healthcheck")


@check(
    id="DW228", title="Default bridge network used", severity=Severity.LOW, scope=C,
    rationale="Every container on docker0 can reach every other (when icc is on) and "
    "ARP-spoof them; user-defined networks isolate applications.",
    remediation="Create a network per application (docker network create) and attach to it.",
    bad=("docker run busybox",), good=("docker run --network app busybox",),
)
def default_bridge(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.network_mode in ("default", "bridge") or "bridge" in spec.networks:
        yield Fail({"HostConfig.NetworkMode": spec.network_mode,
                    "networks": list(spec.networks)}, field="network_mode")


@check(
    id="DW229", title="cgroup parent overridden", severity=Severity.INFO, scope=C,
    rationale="A custom cgroup parent moves the container out from under the limits "
    "Docker's own cgroup applies.",
    remediation="Remove --cgroup-parent unless it is deliberate and bounded.",
    bad=("docker run --cgroup-parent /custom busybox",), good=("docker run busybox",),
)
def cgroup_parent(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.cgroup_parent:
        yield Fail({"HostConfig.CgroupParent": spec.cgroup_parent}, field="cgroup_parent")


@check(
    id="DW230", title="ulimits overridden", severity=Severity.INFO, scope=C,
    rationale="Per-container ulimits replace the daemon defaults; make sure they are not "
    "raised above them.",
    remediation="Rely on the daemon's default-ulimits unless a workload needs more.",
    bad=("docker run --ulimit nofile=1048576:1048576 busybox",), good=("docker run busybox",),
)
def ulimits_override(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.ulimits:
        yield Fail({"HostConfig.Ulimits": list(spec.ulimits)}, field="ulimits")


@check(
    id="DW231", title="exec sessions run privileged or as root", severity=Severity.MEDIUM,
    scope=C,
    rationale="docker exec --privileged (or as root) bypasses the container's own user and "
    "capability restrictions.",
    remediation="Exec as the container's unprivileged user, never with --privileged.",
    bad=("docker exec --privileged c sh",), good=("docker exec -u 1000 c sh",),
)
def exec_sessions(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.source is not Source.ENGINE:
        raise Skip("exec sessions exist only on a live Engine")
    sessions = require(spec.exec_sessions)
    for e in sessions:
        user = e.user or spec.user
        if e.privileged or is_root_user(user):
            # the command line may hold a token or a password: redacted, then cut
            command = " ".join(secrets.redact_argv(e.command))[:200]
            yield Fail({"exec_id": e.id[:12], "privileged": e.privileged,
                        "user": user or "root", "command": command},
                       severity=Severity.HIGH if e.privileged else None)


@check(
    id="DW232", title="Writable volume or bind mount without a size limit",
    severity=Severity.LOW, scope=C,
    rationale="Volumes and bind mounts bypass the container's storage quota: a container "
    "can fill the host filesystem behind them.",
    remediation="Use a tmpfs with size=, a volume driver or filesystem with quotas, or mount "
    "read-only.",
    bad=("docker run -v data:/data busybox",),
    good=("docker run -v data:/data:ro busybox", "docker run --tmpfs /tmp:size=64m busybox"),
)
def unbounded_volume(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    for i, m in enumerate(spec.mounts):
        if m.read_only or m.type not in ("bind", "volume"):
            continue
        if m.type == "bind" and _is_docker_socket(normpath(m.source or "/"), ctx):
            continue
        if m.type == "volume" and isinstance(m.size_limit, str):
            continue
        yield Fail({"type": m.type, "source": m.source, "destination": m.destination,
                    "size_limit": "unknown" if m.size_limit is not None and not isinstance(
                        m.size_limit, str) else None}, field=_item(spec, "mounts", i))


@check(
    id="DW233", title="Secret-looking environment variable", severity=Severity.HIGH, scope=C,
    rationale="Environment variables are readable through docker inspect by anyone with "
    "Engine access, inherited by child processes and often logged.",
    remediation="Pass secrets as files (Docker secrets, a read-only mount) and read them at "
    "start-up.",
    bad=("docker run -e DB_PASSWORD=hunter2hunter2 busybox",),
    good=("docker run -e DB_PASSWORD_FILE=/run/secrets/db busybox",),
)
def env_secrets(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    values = dict(spec.env)
    for hit in secrets.scan_env(spec.env):
        if hit.rule is secrets.SECRET_NAME_RULE and _names_a_reference(
                hit.name, values.get(hit.name, "")):
            continue
        yield Fail({"variable": hit.name, "rule": hit.rule.title, "value": hit.redacted},
                   field=_item(spec, "env", hit.name))


# A variable named for what it points at (AUTH_BACKEND, SECRET_KEY_FILE, VAULT_URL) holds a
# reference, not the secret itself, when its value has that shape.
_REFERENCE_NAME = re.compile(r"(?:BACKEND|CLASS|MODULE|PATH|FILE|URL)S?$", re.IGNORECASE)
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::[A-Za-z_]\w*)?")
_CLASS_NAME = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")  # CamelCase
_FILE_PATH = re.compile(r"(?:~|\.{1,2})?/?[\w.@+-]+(?:/[\w.@+-]*)+|[\w-]+\.[A-Za-z0-9]{1,5}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<auth>[^/@\s]*@)?[^\s]*")


def _names_a_reference(name: str, value: str) -> bool:
    """True for a module path, class name, file path or URL without credentials held by
    a variable whose name says it is one (the name rule alone made it look secret)."""
    if not _REFERENCE_NAME.search(name):
        return False
    text = value.strip()
    url = _URL.fullmatch(text)
    if url is not None:
        return not url.group("auth")  # user:password@ (or a token@) is a credential
    return bool(_DOTTED.fullmatch(text) or _CLASS_NAME.fullmatch(text)
                or _FILE_PATH.fullmatch(text))


@check(
    id="DW234", title="No network bandwidth control", severity=Severity.INFO, scope=C,
    rationale="Docker has no bandwidth limit of its own: one container can saturate the "
    "host's link for all the others unless traffic control is set up outside Docker.",
    remediation="Shape traffic with tc on the container's veth or the bridge, or use a "
    "network plugin with bandwidth limits.",
    bad=("docker run busybox",), good=("docker run --network none busybox",),
)
def no_bandwidth(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if spec.network_mode not in ("none",) and not spec.network_mode.startswith("container:"):
        yield Fail({"HostConfig.NetworkMode": spec.network_mode or "default"},
                   field="network_mode")


@check(
    id="DW235", title="Image referenced by a moving tag", severity=Severity.LOW, scope=C,
    rationale="`latest` (or no tag) means the next pull may run different code than was "
    "reviewed.",
    remediation="Reference the image by digest (name@sha256:...) or an immutable version tag.",
    bad=("docker run busybox:latest",), good=("docker run busybox:1.36.1",),
)
def moving_tag(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    if is_moving_ref(spec.image):
        yield Fail({"Config.Image": spec.image}, field="image")


# Sysctls Docker namespaces per container; others affect the host (and Docker may refuse them).
NAMESPACED_SYSCTLS = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.", "net.")


@check(
    id="DW236", title="Host-affecting sysctls set", severity=Severity.HIGH, scope=C,
    rationale="A sysctl outside the container's own namespaces changes the whole host; with "
    "--network host even net.* settings change the host's stack.",
    remediation="Set only namespaced sysctls, and never with host namespaces.",
    bad=("docker run --network host --sysctl net.ipv4.ip_forward=1 busybox",),
    good=("docker run --sysctl net.ipv4.ip_unprivileged_port_start=0 busybox",),
)
def host_sysctls(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    bad = {}
    for key, value in spec.sysctls.items():
        if key.startswith("net."):
            affects_host = _is_host(spec.network_mode)
        elif key.startswith(("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")):
            affects_host = _is_host(spec.ipc_mode)
        else:
            affects_host = True
        if affects_host:
            bad[key] = value
    if bad:
        yield Fail({"HostConfig.Sysctls": secrets.redact_mapping(bad)}, field="sysctls")


ENGINE_API_PORTS = {2375: "plain HTTP", 2376: "TLS"}


def _loopback(host_ip: str) -> bool:
    if host_ip.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host_ip.strip("[]")).is_loopback
    except ValueError:
        return False


@check(
    id="DW237", title="Engine API port (2375/2376) published", severity=Severity.CRITICAL,
    scope=C,
    rationale="2375 (plain HTTP) and 2376 (TLS) are the Engine API's ports: a docker:dind "
    "service or a socket proxy that publishes them hands an Engine to whoever reaches the "
    "host port, and through it a privileged container with the host's / mounted. Critical "
    "for 2375 on all interfaces or a non-loopback address (no authentication at all); high "
    "for 2376 there (only as safe as its client-certificate verification, which neither "
    "the file nor the container shows) and for 2375 bound to loopback (every local user "
    "and process, and any container on the host network, becomes root without being in "
    "the docker group); medium for 2376 on loopback.",
    remediation="Do not publish the Engine API: let the services that need dind reach it "
    "over a private network (no ports:), or, if it must be published, bind it to 127.0.0.1 "
    "on 2376 with --tlsverify and client certificates.",
    bad=("docker run -p 2375:2375 docker:27-dind",
         "docker run -p 127.0.0.1:2376:2376 docker:27-dind",
         "docker run -p 12375:2375 docker:27-dind"),
    good=("docker run docker:27-dind", "docker run -p 2375:8080 busybox",
          "docker run -p 8080:8080 busybox"),
)
def engine_api_published(spec: ContainerSpec, ctx: ContainerContext) -> Iterator[Fail]:
    bindings: list[str] = []
    worst = Severity.INFO
    first: int | None = None
    for index, p in enumerate(spec.ports):
        if p.protocol.lower() != "tcp":
            continue
        ports = p.container_ports  # a range: `-p 2370-2380:2370-2380` publishes 2375 too
        for number in (n for n in ENGINE_API_PORTS if n in ports):
            local = _loopback(p.host_ip)
            if number == 2375:
                sev = Severity.HIGH if local else Severity.CRITICAL
            else:
                sev = Severity.MEDIUM if local else Severity.HIGH
            worst = sev if sev.rank > worst.rank else worst
            first = index if first is None else first
            host = "*" if p.host_port is None else p.host_port + (number - ports.start)
            bindings.append(f"{p.host_ip or '0.0.0.0'}:{host}->{number}/tcp"
                            f" ({ENGINE_API_PORTS[number]})")
    if bindings:
        yield Fail({"bindings": sorted(set(bindings))}, severity=worst,
                   field=_item(spec, "ports", first if first is not None else 0),
                   message=", ".join(sorted(set(bindings))))
