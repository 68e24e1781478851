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
from typing import Any

from dockwarden import inside
from dockwarden.checks.registry import Fail, Scope, Skip, check
from dockwarden.model.common import Severity, TargetKind


def _judged(check_id: str, **doc: Any) -> None:
    """Register `check_id` with the probe's severity and title (`inside.CHECKS`) and the
    probe's verdict (`inside.JUDGES`) as its function."""
    severity, title = inside.CHECKS[check_id]

    def judge(facts: inside.Facts) -> Iterator[Fail]:
        try:
            verdicts = inside.JUDGES[check_id](facts)
        except inside.NotKnown as exc:
            raise Skip(exc.reason) from None
        for v in verdicts:
            yield Fail(v.evidence, Severity(v.severity) if v.severity else None, v.message)

    check(id=check_id, severity=Severity(severity), title=title, scope=Scope.INSIDE,
          target_kind=TargetKind.SELF, **doc)(judge)


_judged(
    "DW801",
    rationale="Whoever can talk to the Engine's socket can start a privileged container "
    "that mounts the host's / : the socket is root on the host. A socket file that this "
    "user cannot open is still reachable by root in the container.",
    remediation="Do not mount the Engine socket into containers. Tools that need the "
    "Engine should use a narrowly scoped proxy, or run outside the container.",
    references=("https://docs.docker.com/engine/security/#docker-daemon-attack-surface",),
    bad=("docker run -v /var/run/docker.sock:/var/run/docker.sock ...",),
    good=("docker run ... (no Engine socket inside)",),
)


_judged(
    "DW802",
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


_judged(
    "DW803",
    rationale="A kernel thread (kthreadd as pid 2) in /proc means this container shares "
    "the host's PID namespace: it sees, and with enough privilege "
    "signals or traces, every process on the host, and reads their environments and "
    "command lines.",
    remediation="Remove --pid host (pid: host in compose).",
    bad=("docker run --pid host ...",), good=("docker run ... (own PID namespace)",),
)


_judged(
    "DW804",
    rationale="The default gateway is the host. An Engine API that answers GET /_ping "
    "there on 2375 (plain HTTP) or on 2376 without asking for a client certificate "
    "lets this container drive the Engine, which is root on the host.",
    remediation="Do not bind the Engine API to the bridge or to 0.0.0.0; if TCP is "
    "needed, use --tlsverify with client certificates and firewall it from the bridges.",
    references=("https://docs.docker.com/engine/security/protect-access/",),
    bad=("dockerd -H tcp://0.0.0.0:2375",), good=("dockerd -H unix:///var/run/docker.sock",),
)


_judged(
    "DW805",
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


_judged(
    "DW806",
    rationale="`Seccomp: 0` in /proc/self/status: no system call filter. Docker's default "
    "profile blocks about 50 calls (keyctl, unshare, mount, kexec...) that many kernel "
    "escapes need.",
    remediation="Remove --security-opt seccomp=unconfined (and --privileged); use a "
    "custom profile if one call is really needed.",
    bad=("docker run --security-opt seccomp=unconfined ...",), good=("docker run ...",),
)
