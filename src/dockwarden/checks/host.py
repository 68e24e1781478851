"""DW130-DW137: the host the daemon runs on (local Engines only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from dockwarden.checks.registry import Fail, Scope, check, require
from dockwarden.model.common import Severity, TargetKind, Unknown
from dockwarden.model.engine import EngineSnapshot

E = Scope.ENGINE
H = TargetKind.HOST

# What the audit rules should watch (CIS 1.1.3-1.1.18); each entry lists alternatives
# (binaries live in /usr/bin or /usr/sbin depending on the distribution).
AUDIT_TARGETS = (
    ("/usr/bin/dockerd", "/usr/sbin/dockerd"), ("/var/lib/docker",), ("/etc/docker",),
    ("docker.service",), ("docker.socket",), ("/etc/default/docker", "/etc/sysconfig/docker"),
    ("/etc/docker/daemon.json",), ("/usr/bin/containerd", "/usr/sbin/containerd"),
    ("/usr/bin/runc", "/usr/sbin/runc"), ("/run/containerd",),
)
# The reason collect/host.py gives when auditd is absent (its AUDITD_ABSENT): the words
# are the contract between the two modules, which do not import each other.
AUDITD_ABSENT = "auditd not installed"
KERNEL_LIMIT_FLOORS = {
    "kernel.pid_max": 65536,
    "kernel.threads-max": 65536,
    "fs.inotify.max_user_instances": 512,
    "fs.inotify.max_user_watches": 65536,
}


@check(
    id="DW130", title="Docker data root not on its own partition", severity=Severity.LOW,
    scope=E, target_kind=H,
    rationale="Images, layers, volumes and json logs live under the data root: on the root "
    "partition, filling it stops the host itself.",
    remediation="Mount a dedicated filesystem (or LVM volume) at the data root.",
    bad=("/var/lib/docker on /",), good=("/var/lib/docker on its own mount",),
)
def data_root_partition(snap: EngineSnapshot) -> Iterator[Fail]:
    mount = require(snap.host.data_root_mount)
    if mount.on_root_filesystem:
        evidence = {"DockerRootDir": mount.path, "mountpoint": mount.mountpoint,
                    "fstype": mount.fstype}
        if mount.device:
            evidence["device"] = mount.device  # same device as /
        yield Fail(evidence)


@check(
    id="DW131", title="Members of the docker group", severity=Severity.MEDIUM, scope=E,
    target_kind=H,
    rationale="Every member of the socket's group can drive the Engine and so is root on "
    "the host without a password or an audit trail.",
    remediation="Remove users from the group; grant access through sudo with logging, or "
    "rootless Docker.",
    bad=("docker:x:998:alice",), good=("docker:x:998:",),
)
def docker_group(snap: EngineSnapshot) -> Iterator[Fail]:
    members = require(snap.host.docker_group_members)
    if members:
        yield Fail({"group": require(snap.host.docker_group), "members": list(members)})


_RULE_PATH = re.compile(r"(?:-w\s+|-F\s+(?:path|dir)=)(\S+)")


def _watched(rules: tuple[str, ...], target: str) -> bool:
    """A rule covers a target if it watches that path or a directory above it (audit
    directory watches are recursive); unit names match the watched file's name."""
    for rule in rules:
        for path in _RULE_PATH.findall(rule):
            path = path.rstrip("/") or "/"
            if "/" not in target:
                if path.rsplit("/", 1)[-1] == target:
                    return True
            elif target == path or target.startswith(path + "/"):
                return True
    return False


@check(
    id="DW132", title="No audit rules for Docker files and binaries", severity=Severity.LOW,
    scope=E, target_kind=H,
    rationale="Without audit rules, changes to the daemon, its configuration and data "
    "leave no trace.",
    remediation="Install auditd and add watches, e.g. `-w /usr/bin/dockerd -k docker`, for "
    "each path.",
    bad=("no -w rules",), good=("-w /usr/bin/dockerd -k docker ...",),
)
def audit_rules(snap: EngineSnapshot) -> Iterator[Fail]:
    facts = snap.host.audit_rules
    if isinstance(facts, Unknown) and facts.reason.startswith(AUDITD_ABSENT):
        # No auditd, no audit rule can exist: a failure for CIS 1.1.3-1.1.18 and
        # docker-bench, not a fact that could not be gathered.
        yield Fail({"auditd": "not installed",
                    "not_watched": [alts[0] for alts in AUDIT_TARGETS], "rules": 0},
                   message="auditd not installed: no audit rules for Docker files and "
                   "binaries")
        return
    rules = require(facts)
    missing = [alts[0] for alts in AUDIT_TARGETS if not any(_watched(rules, a) for a in alts)]
    if missing:
        yield Fail({"not_watched": missing, "rules": len(rules)})


@check(
    id="DW133", title="Docker socket ownership or mode lets others in", severity=Severity.HIGH,
    scope=E, target_kind=H,
    rationale="Anyone who can write the socket is root on the host: it must be root-owned "
    "and not accessible to other users.",
    remediation="chown root:docker /var/run/docker.sock && chmod 660 /var/run/docker.sock "
    "(set SocketMode/SocketGroup in docker.socket).",
    bad=("srw-rw-rw- root root docker.sock",), good=("srw-rw---- root docker docker.sock",),
)
def socket_perms(snap: EngineSnapshot) -> Iterator[Fail]:
    sock = require(snap.host.socket)
    problems = []
    if sock.uid != 0:
        problems.append(f"owned by {sock.owner}")
    if sock.mode & 0o007:
        problems.append("accessible to other users")
    if sock.group not in ("root", "docker", require(snap.host.docker_group)):
        problems.append(f"group {sock.group}")
    if problems:
        yield Fail({"path": sock.path, "owner": sock.owner, "group": sock.group,
                    "mode": oct(sock.mode)}, message="; ".join(problems))


def _is_key(role: str) -> bool:
    return role.endswith("key")  # "tls key", "registry key"


def _max_mode(role: str) -> int:
    if _is_key(role):
        return 0o400
    if role.endswith(("dir", "directory")):
        return 0o755
    return 0o644


@check(
    id="DW134", title="Ownership or mode of daemon configuration, unit files or TLS files",
    severity=Severity.MEDIUM, scope=E, target_kind=H,
    rationale="Whoever can change daemon.json, the unit files or the TLS files controls the "
    "daemon, and readable private keys let anyone impersonate it.",
    remediation="chown root:root; chmod 644 for configuration and units, 444 for "
    "certificates, 400 for private keys.",
    bad=("-rw-rw-rw- /etc/docker/daemon.json",), good=("-rw-r--r-- root root daemon.json",),
)
def file_perms(snap: EngineSnapshot) -> Iterator[Fail]:
    for f in require(snap.host.files):
        if f.is_socket:
            continue
        allowed = _max_mode(f.role)
        problems = []
        if f.uid != 0:
            problems.append(f"owned by {f.owner}")
        if f.mode & ~allowed & 0o777:
            problems.append(f"mode {oct(f.mode)} wider than {oct(allowed)}")
        if problems:
            severity = Severity.HIGH if _is_key(f.role) and f.mode & 0o044 else None
            yield Fail({"path": f.path, "role": f.role, "owner": f.owner, "group": f.group,
                        "mode": oct(f.mode)}, severity=severity, message="; ".join(problems))


def _kernel_tuple(release: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@check(
    id="DW135", title="Kernel without the pids cgroup", severity=Severity.HIGH, scope=E,
    target_kind=H,
    rationale="Only the pids cgroup bounds the number of processes in a container; without "
    "it --pids-limit does nothing and any container can fork-bomb the host.",
    remediation="Run a kernel of 4.2 or later with the pids controller enabled (cgroup v2 "
    "recommended).",
    bad=("kernel 3.10, no pids controller",), good=("kernel 6.1, cgroup v2 with pids",),
)
def pids_cgroup(snap: EngineSnapshot) -> Iterator[Fail]:
    evidence: dict[str, Any] = {"KernelVersion": snap.info.kernel_version,
                                "PidsLimit": snap.info.pids_limit_supported}
    if _kernel_tuple(snap.info.kernel_version) < (4, 2):
        yield Fail(evidence, message="kernel older than 4.2")
        return
    if not snap.info.pids_limit_supported:
        yield Fail(evidence, message="the Engine reports no pids limit support")
        return
    controllers = snap.host.cgroup_controllers
    if isinstance(controllers, frozenset) and "pids" not in controllers:
        evidence["cgroup_controllers"] = sorted(controllers)
        yield Fail(evidence, message="pids controller not enabled")


@check(
    id="DW136", title="Daemon TLS certificate expired, expiring or weak",
    severity=Severity.MEDIUM, scope=E, target_kind=H,
    rationale="An expired certificate breaks clients (who then disable verification); a "
    "weak key or SHA-1 signature can be forged.",
    remediation="Issue a new certificate: RSA 2048+ or ECDSA P-256+, SHA-256, renewed "
    "before expiry.",
    bad=("RSA 1024, SHA-1, expires in 5 days",), good=("ECDSA P-256, SHA-256, 1 year left",),
)
def tls_cert(snap: EngineSnapshot) -> Iterator[Fail]:
    now = snap.gathered_at
    for cert in require(snap.host.certificates):
        problems = []
        severity = None
        if cert.not_after <= now:
            problems.append("expired")
            severity = Severity.HIGH
        elif cert.not_after - now < timedelta(days=30):
            problems.append(f"expires in {(cert.not_after - now).days} days")
        if (cert.key_type == "RSA" and cert.key_bits < 2048) or (
                cert.key_type == "EC" and cert.key_bits < 256):
            problems.append(f"weak {cert.key_type} {cert.key_bits}-bit key")
        if cert.signature_hash.lower() in ("md5", "sha1"):
            problems.append(f"{cert.signature_hash} signature")
        if problems:
            yield Fail({"path": cert.path, "subject": cert.subject,
                        "not_after": cert.not_after.isoformat(), "key": f"{cert.key_type} "
                        f"{cert.key_bits}", "signature_hash": cert.signature_hash},
                       severity=severity, message="; ".join(problems))


@check(
    id="DW137", title="Host-wide kernel limits shared by all containers are low",
    severity=Severity.LOW, scope=E, target_kind=H,
    rationale="pid_max, threads-max and inotify instances are shared by every container "
    "(all of root's inotify instances count together): one container can exhaust them "
    "for all.",
    remediation="Raise them (sysctl -w kernel.pid_max=4194304 "
    "fs.inotify.max_user_instances=8192) and bound containers with pids limits.",
    bad=("fs.inotify.max_user_instances = 128",), good=("fs.inotify.max_user_instances = 8192",),
)
def kernel_limits(snap: EngineSnapshot) -> Iterator[Fail]:
    limits = require(snap.host.kernel_limits)
    low = {k: v for k, v in limits.items()
           if k in KERNEL_LIMIT_FLOORS and v < KERNEL_LIMIT_FLOORS[k]}
    if low:
        yield Fail({"low": low, "recommended_at_least": {
            k: KERNEL_LIMIT_FLOORS[k] for k in low}})
