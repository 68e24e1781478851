"""DW801-DW806: what this container could do to its host, judged from the facts the
probe (`dockwarden.inside`) read inside it.

The probe is a single standard-library file that must also judge on its own when copied
into a container, so each verdict is written once there (`dockwarden.inside.JUDGES`,
pure functions of `Facts`); these checks register the catalogue metadata and hand the
verdicts to the runner. A fact the probe could not read is a skip with its reason.
Each check is `f(facts: Facts) -> Iterator[Fail]`, target kind `self`, source `inside`.
"""

from __future__ import annotations

from collections.abc import Iterator

from dockwarden import inside
from dockwarden.checks.registry import Fail, Scope, Skip, check
from dockwarden.model.common import Severity, TargetKind

INS = Scope.INSIDE
SELF = TargetKind.SELF


def _fails(check_id: str, facts: inside.Facts) -> Iterator[Fail]:
    try:
        verdicts = inside.JUDGES[check_id](facts)
    except inside.NotKnown as exc:
        raise Skip(exc.reason) from None
    for v in verdicts:
        yield Fail(v.evidence, Severity(v.severity) if v.severity else None, v.message)


def _meta(check_id: str) -> tuple[Severity, str]:
    severity, title = inside.CHECKS[check_id]
    return Severity(severity), title


@check(
    id="DW801", severity=_meta("DW801")[0], title=_meta("DW801")[1], scope=INS,
    target_kind=SELF,
    rationale="Whoever can talk to the Engine's socket can start a privileged container "
    "that mounts the host's / : the socket is root on the host. A socket file that this "
    "user cannot open is still reachable by root in the container.",
    remediation="Do not mount the Engine socket into containers. Tools that need the "
    "Engine should use a narrowly scoped proxy, or run outside the container.",
    references=("https://docs.docker.com/engine/security/#docker-daemon-attack-surface",),
    bad=("docker run -v /var/run/docker.sock:/var/run/docker.sock ...",),
    good=("docker run ... (no Engine socket inside)",),
)
def socket_reachable(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW801", facts)


@check(
    id="DW802", severity=_meta("DW802")[0], title=_meta("DW802")[1], scope=INS,
    target_kind=SELF,
    rationale="Read from /proc/self/status: SYS_ADMIN (mount, cgroup release_agent), "
    "SYS_MODULE (kernel modules), SYS_RAWIO and DAC_READ_SEARCH (read any host file by "
    "handle) are ways out on their own; SYS_PTRACE, NET_ADMIN, BPF and the like widen the "
    "kernel surface. A process without them can still gain the bounding set through a "
    "setuid-root program unless no_new_privs is set.",
    remediation="Run with --cap-drop ALL and add back only what the application needs; "
    "never --privileged; set --security-opt no-new-privileges.",
    bad=("docker run --cap-add SYS_ADMIN ...", "docker run --privileged ..."),
    good=("docker run --cap-drop ALL --security-opt no-new-privileges ...",),
)
def capabilities(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW802", facts)


@check(
    id="DW803", severity=_meta("DW803")[0], title=_meta("DW803")[1], scope=INS,
    target_kind=SELF,
    rationale="A kernel thread (kthreadd as pid 2) in /proc means this container shares "
    "the host's PID namespace: it sees, and with enough privilege "
    "signals or traces, every process on the host, and reads their environments and "
    "command lines.",
    remediation="Remove --pid host (pid: host in compose).",
    bad=("docker run --pid host ...",), good=("docker run ... (own PID namespace)",),
)
def host_processes(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW803", facts)


@check(
    id="DW804", severity=_meta("DW804")[0], title=_meta("DW804")[1], scope=INS,
    target_kind=SELF,
    rationale="The default gateway is the host. An Engine API that answers GET /_ping "
    "there on 2375 (plain HTTP) or on 2376 without asking for a client certificate "
    "lets this container drive the Engine, which is root on the host.",
    remediation="Do not bind the Engine API to the bridge or to 0.0.0.0; if TCP is "
    "needed, use --tlsverify with client certificates and firewall it from the bridges.",
    references=("https://docs.docker.com/engine/security/protect-access/",),
    bad=("dockerd -H tcp://0.0.0.0:2375",), good=("dockerd -H unix:///var/run/docker.sock",),
)
def engine_over_network(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW804", facts)


@check(
    id="DW805", severity=_meta("DW805")[0], title=_meta("DW805")[1], scope=INS,
    target_kind=SELF,
    rationale="A writable bind mount of the host's /, /etc, /var/lib/docker and the like "
    "is a way to root on the host; so is a writable cgroup v1 release_agent (run by the "
    "host's kernel as root), a writable core_pattern or uevent_helper, or a writable "
    "host block device. The probe asks with access(2) and the mount's rw flag; it never "
    "writes.",
    remediation="Mount host directories read-only, or not at all; never run privileged; "
    "keep /sys and /proc/sys read-only (Docker's default).",
    bad=("docker run -v /:/host ...", "docker run --privileged ..."),
    good=("docker run -v /srv/app/data:/data ...",),
)
def writable_host_paths(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW805", facts)


@check(
    id="DW806", severity=_meta("DW806")[0], title=_meta("DW806")[1], scope=INS,
    target_kind=SELF,
    rationale="`Seccomp: 0` in /proc/self/status: no system call filter. Docker's default "
    "profile blocks about 50 calls (keyctl, unshare, mount, kexec...) that many kernel "
    "escapes need.",
    remediation="Remove --security-opt seccomp=unconfined (and --privileged); use a "
    "custom profile if one call is really needed.",
    bad=("docker run --security-opt seccomp=unconfined ...",), good=("docker run ...",),
)
def seccomp_disabled(facts: inside.Facts) -> Iterator[Fail]:
    yield from _fails("DW806", facts)
