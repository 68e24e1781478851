"""collect/host.py against a fake /proc and host root built in tmp_path, plus a live test."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from dockwarden.checks import REGISTRY, Skip
from dockwarden.checks import host as host_checks
from dockwarden.collect import host as host_mod
from dockwarden.collect.host import find_dockerd, gather_host, read_daemon_settings
from dockwarden.model.common import Unknown
from dockwarden.model.engine import (
    CertFacts,
    DaemonSettings,
    FileFacts,
    HostSnapshot,
    MountFacts,
)

UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path\n"
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"


class FakeProc:
    """A directory shaped like /proc, enough for collect/host.py."""

    def __init__(self, base: Path) -> None:
        self.path = base / "proc"
        (self.path / "net").mkdir(parents=True)
        (self.path / "self").mkdir()

    def __str__(self) -> str:
        return str(self.path)

    def process(
        self,
        pid: int,
        argv: Sequence[str],
        *,
        comm: str | None = None,
        sockets: Sequence[int] = (),
        environ: dict[str, str] | None = None,
        uid: int = 0,
        root: Path | None = None,
    ) -> Path:
        pdir = self.path / str(pid)
        (pdir / "fd").mkdir(parents=True)
        (pdir / "comm").write_text((comm or Path(argv[0]).name) + "\n")
        (pdir / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
        env = environ or {}
        (pdir / "environ").write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in env.items()))
        (pdir / "status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        os.symlink("/dev/null", pdir / "fd" / "0")
        for fd, inode in enumerate(sockets, start=3):
            os.symlink(f"socket:[{inode}]", pdir / "fd" / str(fd))
        if root is not None:
            os.symlink(root, pdir / "root")
        return pdir

    def unix(self, entries: Sequence[tuple[int, str]]) -> None:
        lines = [
            f"0000000000000000: 00000002 00000000 00010000 0001 01 {inode} {path}\n"
            for inode, path in entries
        ]
        (self.path / "net" / "unix").write_text(UNIX_HEADER + "".join(lines))

    def tcp(self, entries: Sequence[tuple[int, int, str]], name: str = "tcp") -> None:
        lines = [
            f"   {n}: 00000000:{port:04X} 00000000:0000 {state} 00000000:00000000 "
            f"00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
            for n, (inode, port, state) in enumerate(entries)
        ]
        (self.path / "net" / name).write_text(TCP_HEADER + "".join(lines))

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc" / "docker").mkdir(parents=True)
    (r / "sys" / "fs" / "cgroup").mkdir(parents=True)
    return r


def settings_of(proc: FakeProc, root: Path, argv: Sequence[str], **kw: object) -> DaemonSettings:
    proc.process(100, argv, root=root, **kw)  # type: ignore[arg-type]
    return read_daemon_settings(100, str(proc))


def write_json(root: Path, data: object, name: str = "etc/docker/daemon.json") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------ find_dockerd


def test_find_dockerd_matches_socket_inode_among_several(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"], sockets=[111])
    proc.process(20, ["dockerd", "-H", "unix:///run/other.sock"], sockets=[222])
    proc.unix([(111, "/var/run/docker.sock"), (222, "/run/other.sock")])
    assert find_dockerd("/run/other.sock", None, str(proc)) == 20


def test_find_dockerd_treats_run_and_var_run_alike(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"], sockets=[111])
    proc.process(20, ["dockerd"], sockets=[222])
    proc.unix([(222, "/var/run/docker.sock")])
    assert find_dockerd("/run/docker.sock", None, str(proc)) == 20


def test_find_dockerd_ignores_other_processes_holding_the_socket(proc: FakeProc) -> None:
    proc.process(5, ["containerd"], sockets=[111])
    proc.process(10, ["dockerd", "-H", "unix:///x.sock"], sockets=[999])
    proc.unix([(111, "/tmp/custom.sock")])
    assert find_dockerd("/tmp/custom.sock", None, str(proc)) is None


def test_find_dockerd_matches_listening_tcp_port(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"], sockets=[111])
    proc.process(20, ["dockerd"], sockets=[333])
    proc.tcp([(333, 2376, "0A"), (111, 2376, "01")])
    assert find_dockerd(None, 2376, str(proc)) == 20


def test_find_dockerd_matches_tcp6(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"], sockets=[444])
    proc.process(20, ["dockerd"], sockets=[555])
    proc.tcp([(555, 2375, "0A")], name="tcp6")
    assert find_dockerd(None, 2375, str(proc)) == 20


def test_find_dockerd_falls_back_to_host_flag(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"])
    proc.process(20, ["dockerd", "--host=unix:///srv/d.sock"])
    assert find_dockerd("/srv/d.sock", None, str(proc)) == 20


def test_find_dockerd_falls_back_to_tcp_host_flag(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"])
    proc.process(20, ["dockerd", "-H", "tcp://0.0.0.0:2376"])
    assert find_dockerd(None, 2376, str(proc)) == 20


def test_find_dockerd_default_socket_picks_the_one_without_hosts(proc: FakeProc) -> None:
    proc.process(10, ["dockerd", "-H", "unix:///srv/d.sock"])
    proc.process(20, ["dockerd", "--debug"])
    assert find_dockerd("/var/run/docker.sock", None, str(proc)) == 20


def test_find_dockerd_single_daemon_default_socket(proc: FakeProc) -> None:
    proc.process(10, ["/usr/bin/dockerd", "-H", "fd://"])
    assert find_dockerd("/run/docker.sock", None, str(proc)) == 10


def test_find_dockerd_single_daemon_other_socket_is_not_assumed(proc: FakeProc) -> None:
    proc.process(10, ["dockerd"])
    assert find_dockerd("/srv/other.sock", None, str(proc)) is None


def test_find_dockerd_none_running(proc: FakeProc) -> None:
    proc.process(10, ["containerd"])
    assert find_dockerd("/var/run/docker.sock", None, str(proc)) is None


def test_find_dockerd_missing_proc(tmp_path: Path) -> None:
    assert find_dockerd("/var/run/docker.sock", None, str(tmp_path / "nope")) is None


# ------------------------------------------------------------------ read_daemon_settings


def test_flags_both_value_forms(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--log-driver=journald", "--data-root", "/srv/docker"])
    assert (s.get("log-driver"), s.get("data-root")) == ("journald", "/srv/docker")


def test_flags_booleans(proc: FakeProc, root: Path) -> None:
    argv = ["dockerd", "--icc=false", "--live-restore", "--userland-proxy=0", "--iptables=true"]
    s = settings_of(proc, root, argv)
    assert [s.get(k) for k in ("icc", "live-restore", "userland-proxy", "iptables")] == [
        False,
        True,
        False,
        True,
    ]


def test_flags_boolean_does_not_swallow_next_argument(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--experimental", "--group", "staff"])
    assert (s.get("experimental"), s.get("group")) == (True, "staff")


def test_flags_short_and_combined(proc: FakeProc, root: Path) -> None:
    argv = ["dockerd", "-DH", "tcp://0.0.0.0:2375", "-Hunix:///a.sock", "-s=overlay2", "-G", "g"]
    s = settings_of(proc, root, argv)
    assert (s.get("debug"), s.get("hosts"), s.get("storage-driver"), s.get("group")) == (
        True,
        ["tcp://0.0.0.0:2375", "unix:///a.sock"],
        "overlay2",
        "g",
    )


def test_flags_repeated_lists_and_maps(proc: FakeProc, root: Path) -> None:
    argv = [
        "dockerd",
        "--insecure-registry", "reg:5000",
        "--insecure-registry=10.0.0.0/8",
        "--authorization-plugin", "authz",
        "--log-opt", "max-size=10m",
        "--log-opt=max-file=3",
        "--default-ulimit", "nofile=1024:2048",
        "--storage-opt", "dm.basesize=20G",
    ]  # fmt: skip
    s = settings_of(proc, root, argv)
    assert s.get("insecure-registries") == ["reg:5000", "10.0.0.0/8"]
    assert s.get("authorization-plugins") == ["authz"]
    assert s.get("log-opts") == {"max-size": "10m", "max-file": "3"}
    assert s.get("default-ulimits") == {"nofile": "1024:2048"}
    assert s.get("storage-opts") == ["dm.basesize=20G"]


def test_flags_remaining_names(proc: FakeProc, root: Path) -> None:
    argv = [
        "dockerd", "--userns-remap=default", "--seccomp-profile", "unconfined",
        "--exec-root=/run/x", "-b", "br0", "-p", "/run/d.pid", "--containerd=/run/c.sock",
        "--selinux-enabled", "--default-runtime", "runc", "--no-new-privileges",
        "--ip6tables", "--tlscacert=/c", "--tlscert=/t", "--tlskey=/k",
    ]  # fmt: skip
    s = settings_of(proc, root, argv)
    assert {k: s.get(k) for k in s.values} == {
        "userns-remap": "default",
        "seccomp-profile": "unconfined",
        "exec-root": "/run/x",
        "bridge": "br0",
        "pidfile": "/run/d.pid",
        "containerd": "/run/c.sock",
        "selinux-enabled": True,
        "default-runtime": "runc",
        "no-new-privileges": True,
        "ip6tables": True,
        "tlscacert": "/c",
        "tlscert": "/t",
        "tlskey": "/k",
    }


def test_flags_unknown_and_bad_values_are_noted_not_fatal(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--mtu", "1400", "--icc=maybe", "-Z", "--tls"])
    assert (s.get("icc"), s.get("tls"), s.get("mtu")) == (None, True, None)
    assert any("--mtu" in n for n in s.sources) and any("--icc" in n for n in s.sources)


def test_flags_missing_value_at_end(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--log-driver"])
    assert "log-driver" not in s.values and any("missing value" in n for n in s.sources)


def test_tlsverify_implies_tls(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--tlsverify", "--tlscert=/c.pem", "--tlskey=/k"])
    assert s.get("tls") is True


def test_tlsverify_false_still_turns_tls_on(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--tlsverify=false"])
    assert (s.get("tls"), s.get("tlsverify")) == (True, False)


def test_tls_file_defaults_follow_docker_cert_path(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--tls"], environ={"DOCKER_CERT_PATH": "/certs"})
    assert (s.get("tlscert"), s.get("tlskey"), s.get("tlscacert")) == (
        "/certs/cert.pem",
        "/certs/key.pem",
        None,
    )


def test_docker_tls_verify_environment(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd"], environ={"DOCKER_TLS_VERIFY": "1", "HOME": "/h"})
    assert (s.get("tlsverify"), s.get("tls"), s.get("tlscacert")) == (
        True,
        True,
        "/h/.docker/ca.pem",
    )


def test_listeners_from_parsed_hosts(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2375"])
    assert [(li.scheme, li.port) for li in s.listeners] == [("fd", None), ("tcp", 2375)]


def test_daemon_json_read_through_process_root(proc: FakeProc, root: Path) -> None:
    write_json(root, {"icc": False, "log-driver": "local", "hosts": ["unix:///x.sock"]})
    s = settings_of(proc, root, ["dockerd"])
    assert (s.get("icc"), s.get("log-driver"), s.get("hosts")) == (
        False,
        "local",
        ["unix:///x.sock"],
    )
    assert "/etc/docker/daemon.json" in s.sources


def test_config_file_flag(proc: FakeProc, root: Path) -> None:
    write_json(root, {"experimental": True}, "srv/d.json")
    s = settings_of(proc, root, ["dockerd", "--config-file", "/srv/d.json"])
    assert (s.config_file, s.get("experimental")) == ("/srv/d.json", True)


def test_explicit_config_file_missing_is_noted(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--config-file=/srv/none.json"])
    assert "/srv/none.json: missing" in s.sources


def test_default_config_missing_is_fine(proc: FakeProc, root: Path) -> None:
    s = settings_of(proc, root, ["dockerd", "--icc=false"])
    assert (s.values, s.config_file) == ({"icc": False}, "/etc/docker/daemon.json")


def test_rootless_default_config_file(proc: FakeProc, root: Path) -> None:
    write_json(root, {"debug": True}, "home/u/.config/docker/daemon.json")
    s = settings_of(proc, root, ["dockerd"], uid=1000, environ={"HOME": "/home/u"})
    assert (s.config_file, s.get("debug")) == ("/home/u/.config/docker/daemon.json", True)


def test_flags_win_over_daemon_json_and_conflict_noted(proc: FakeProc, root: Path) -> None:
    write_json(root, {"icc": True, "log-opts": {"max-size": "1m", "max-file": "2"}})
    s = settings_of(proc, root, ["dockerd", "--icc=false", "--log-opt", "max-size=9m"])
    assert (s.get("icc"), s.get("log-opts")) == (False, {"max-size": "9m", "max-file": "2"})
    assert any(n.startswith("conflict: 'icc'") for n in s.sources)


def test_daemon_json_ulimits_become_soft_hard(proc: FakeProc, root: Path) -> None:
    write_json(root, {"default-ulimits": {"nproc": {"Name": "nproc", "Soft": 512, "Hard": 1024}}})
    s = settings_of(proc, root, ["dockerd"])
    assert s.get("default-ulimits") == {"nproc": "512:1024"}


def test_daemon_json_wrong_types_dropped_with_note(proc: FakeProc, root: Path) -> None:
    write_json(root, {"icc": "no", "hosts": "tcp://x", "log-opts": [1], "debug": True})
    s = settings_of(proc, root, ["dockerd"])
    assert s.values == {"debug": True}
    assert sum("ignored" in n for n in s.sources) == 3


def test_daemon_json_unknown_keys_pass_through(proc: FakeProc, root: Path) -> None:
    write_json(root, {"features": {"buildkit": True}})
    s = settings_of(proc, root, ["dockerd"])
    assert s.get("features") == {"buildkit": True}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{ not json", "invalid JSON"),
        (b"\xff\xfe\x00garbage", "invalid JSON: not UTF-8"),
        (b"[1, 2]", "invalid JSON: top level is not an object"),
        (b"", "invalid JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "invalid JSON"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "invalid JSON"),
    ],
    ids=["garbage", "binary", "array", "empty", "nested-arrays", "nested-objects"],
)
def test_hostile_daemon_json_keeps_flags(
    proc: FakeProc, root: Path, content: bytes, expected: str
) -> None:
    (root / "etc/docker/daemon.json").write_bytes(content)
    s = settings_of(proc, root, ["dockerd", "--icc=false"])
    assert s.values == {"icc": False}
    assert any(n.startswith("/etc/docker/daemon.json: " + expected) for n in s.sources)


def test_huge_daemon_json_refused(proc: FakeProc, root: Path) -> None:
    big = {"labels": ["x" * 1000] * 5000}  # about 5 MB
    write_json(root, big)
    s = settings_of(proc, root, ["dockerd", "--debug"])
    assert s.values == {"debug": True}
    assert any("too large" in n for n in s.sources)


def test_unreadable_cmdline_raises_oserror(proc: FakeProc) -> None:
    with pytest.raises(OSError):
        read_daemon_settings(4242, str(proc))


def test_empty_cmdline_raises_oserror(proc: FakeProc, root: Path) -> None:
    pdir = proc.process(100, ["dockerd"], root=root)
    (pdir / "cmdline").write_bytes(b"")
    with pytest.raises(OSError):
        read_daemon_settings(100, str(proc))


# ------------------------------------------------------------------ gather_host


def make_cert(
    path: Path,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    days: int,
    algorithm: hashes.SHA256 | hashes.SHA384 | None,
) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockerd")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, algorithm)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def docker_sock(tmp_path: Path, root: Path) -> Iterator[str]:
    """A real unix socket at <root>/s.sock (short path: AF_UNIX names are limited)."""
    path = root / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError:
        pytest.skip("cannot bind a unix socket under tmp_path")
    os.chmod(path, 0o660)
    yield "/s.sock"
    sock.close()


def gather(
    proc: FakeProc,
    root: Path,
    settings: DaemonSettings | Unknown,
    socket_path: str | None = None,
    root_dir: str = "/var/lib/docker",
) -> HostSnapshot:
    return gather_host(settings, socket_path, root_dir, str(proc), str(root))


UNKNOWN = Unknown("no daemon")


def test_kernel_release_from_proc(proc: FakeProc, root: Path) -> None:
    proc.write("sys/kernel/osrelease", "5.15.0-test\n")
    assert gather(proc, root, UNKNOWN).kernel_release == "5.15.0-test"


def test_kernel_release_falls_back_to_uname(proc: FakeProc, root: Path) -> None:
    assert gather(proc, root, UNKNOWN).kernel_release == os.uname().release


def test_cgroup_v2_controllers(proc: FakeProc, root: Path) -> None:
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    h = gather(proc, root, UNKNOWN)
    assert (h.cgroup_version, h.cgroup_controllers) == (
        2,
        frozenset({"cpuset", "cpu", "io", "memory", "pids"}),
    )


def test_cgroup_v1_enabled_controllers(proc: FakeProc, root: Path) -> None:
    proc.write(
        "cgroups",
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
        "cpu\t1\t3\t1\nmemory\t2\t3\t1\npids\t0\t1\t0\n",
    )
    h = gather(proc, root, UNKNOWN)
    assert (h.cgroup_version, h.cgroup_controllers) == (1, frozenset({"cpu", "memory"}))


def test_cgroup_v1_unreadable_is_unknown(proc: FakeProc, root: Path) -> None:
    h = gather(proc, root, UNKNOWN)
    assert h.cgroup_version == 1 and isinstance(h.cgroup_controllers, Unknown)


def test_no_cgroup_filesystem_is_unknown(proc: FakeProc, tmp_path: Path) -> None:
    h = gather_host(UNKNOWN, None, "/x", str(proc), str(tmp_path / "empty"))
    assert isinstance(h.cgroup_version, Unknown) and isinstance(h.cgroup_controllers, Unknown)


def test_socket_facts(proc: FakeProc, root: Path, docker_sock: str) -> None:
    st = os.stat(root / "s.sock")
    (root / "etc/group").write_text(f"docker:x:{st.st_gid}:\n")
    (root / "etc/passwd").write_text(f"dock:x:{st.st_uid}:{st.st_gid}::/:/bin/sh\n")
    sock = gather(proc, root, UNKNOWN, docker_sock).socket
    assert sock == FileFacts(
        path="/s.sock",
        role="docker.sock",
        uid=st.st_uid,
        gid=st.st_gid,
        mode=0o660,
        owner="dock",
        group="docker",
        is_socket=True,
    )


def test_socket_names_fall_back_to_numbers(proc: FakeProc, root: Path, docker_sock: str) -> None:
    sock = gather(proc, root, UNKNOWN, docker_sock).socket
    assert isinstance(sock, FileFacts) and (sock.owner, sock.group) == (
        str(sock.uid),
        str(sock.gid),
    )


def test_socket_missing_is_unknown(proc: FakeProc, root: Path) -> None:
    h = gather(proc, root, UNKNOWN, "/var/run/docker.sock")
    assert isinstance(h.socket, Unknown) and "/var/run/docker.sock" in h.socket.reason


def test_socket_not_given_is_unknown(proc: FakeProc, root: Path) -> None:
    assert isinstance(gather(proc, root, UNKNOWN, None).socket, Unknown)


def test_docker_group_members_from_group_and_passwd(
    proc: FakeProc, root: Path, docker_sock: str
) -> None:
    gid = os.stat(root / "s.sock").st_gid
    (root / "etc/group").write_text(f"docker:x:{gid}:bob,alice,bob\nstaff:x:50:zed\n")
    (root / "etc/passwd").write_text(
        f"carol:x:1003:{gid}::/home/carol:/bin/sh\ndan:x:1004:1004::/:/bin/sh\n"
    )
    h = gather(proc, root, UNKNOWN, docker_sock)
    assert (h.docker_group, h.docker_group_members) == ("docker", ("alice", "bob", "carol"))


def test_docker_group_from_settings_when_socket_unknown(proc: FakeProc, root: Path) -> None:
    (root / "etc/group").write_text("ops:x:700:eve\ndocker:x:999:mallory\n")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    settings = settings_of(proc, root, ["dockerd", "-G", "ops"])
    h = gather(proc, root, settings, None)
    assert (h.docker_group, h.docker_group_members) == ("ops", ("eve",))


def test_docker_group_absent_is_empty(proc: FakeProc, root: Path) -> None:
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    h = gather(proc, root, UNKNOWN, None)
    assert (h.docker_group, h.docker_group_members) == ("docker", ())


def test_docker_group_members_unknown_without_group_file(proc: FakeProc, root: Path) -> None:
    assert isinstance(gather(proc, root, UNKNOWN).docker_group_members, Unknown)


def test_audit_rules_from_files(proc: FakeProc, root: Path) -> None:
    rules_d = root / "etc/audit/rules.d"
    rules_d.mkdir(parents=True)
    (root / "etc/audit/audit.rules").write_text("## generated\n-D\n-w /usr/bin/dockerd -k docker\n")
    (rules_d / "docker.rules").write_text(
        "# docker\n\n-w /usr/bin/dockerd -k docker\n-w /etc/docker\n"
    )
    (rules_d / "notes.txt").write_text("-w /ignored\n")
    assert gather(proc, root, UNKNOWN).audit_rules == (
        "-D",
        "-w /usr/bin/dockerd -k docker",
        "-w /etc/docker",
    )


def test_audit_rules_unknown_without_auditd(proc: FakeProc, root: Path) -> None:
    rules = gather(proc, root, UNKNOWN).audit_rules
    assert isinstance(rules, Unknown) and rules.reason.startswith(host_mod.AUDITD_ABSENT)


def _dw132(rules: tuple[str, ...] | Unknown) -> list[Any]:
    snap = SimpleNamespace(host=HostSnapshot(audit_rules=rules))
    return list(REGISTRY["DW132"].func(snap))


def test_dw132_fires_when_auditd_is_absent(proc: FakeProc, root: Path) -> None:
    """No auditctl (under the host root) and no /etc/audit: no audit rule can exist, a
    failure for CIS and docker-bench, so DW132 fires rather than being skipped."""
    assert host_mod.AUDITD_ABSENT == host_checks.AUDITD_ABSENT  # the two sides agree
    rules = gather(proc, root, UNKNOWN).audit_rules
    (fail,) = _dw132(rules)
    assert fail.message == "auditd not installed: no audit rules for Docker files and binaries"
    assert fail.evidence == {"auditd": "not installed", "rules": 0,
                             "not_watched": [alts[0] for alts in host_checks.AUDIT_TARGETS]}


def test_dw132_absent_auditctl_on_the_search_path(root: Path) -> None:
    """The search path is a parameter: one that holds no auditctl, and no /etc/audit
    under the root, is auditd absent."""
    rules = host_mod._audit_rules(str(root), bin_dirs=("/nonexistent-bin",))
    assert isinstance(rules, Unknown) and rules.reason.startswith(host_mod.AUDITD_ABSENT)
    assert len(_dw132(rules)) == 1


def test_dw132_skipped_when_auditctl_exists_but_rules_cannot_be_read(root: Path) -> None:
    """auditctl installed but no /etc/audit (and not run: a fake root): the rules are
    unknown, not absent, and DW132 is skipped with that reason."""
    bin_dir = root / "usr/sbin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "auditctl").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "auditctl").chmod(0o755)
    rules = host_mod._audit_rules(str(root))
    assert isinstance(rules, Unknown)
    assert not rules.reason.startswith(host_mod.AUDITD_ABSENT)
    with pytest.raises(Skip):
        _dw132(rules)


def test_dw132_with_auditd_and_no_docker_rules_fires_as_before(root: Path) -> None:
    (root / "etc/audit").mkdir(parents=True)
    (root / "etc/audit/audit.rules").write_text("-D\n")
    (fail,) = _dw132(host_mod._audit_rules(str(root)))
    assert "auditd" not in fail.evidence and fail.evidence["rules"] == 1


MOUNTINFO = (
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "40 27 254:1 / /var/lib rw,nosuid shared:5 - ext4 /dev/vdb rw\n"
    "42 40 254:2 / /var/lib/docker rw,relatime shared:1 master:2 - xfs /dev/vdc rw,prjquota\n"
    "43 40 254:3 / /var/lib/docker2 rw - ext4 /dev/vdd rw\n"
    "44 27 0:50 / /mnt/my\\040disk rw - tmpfs tmp\\040fs rw,size=10k\n"
    "garbage line without separator\n"
    "1 2 3\n"
)


def test_data_root_mount_longest_prefix_with_super_options(proc: FakeProc, root: Path) -> None:
    proc.write("self/mountinfo", MOUNTINFO)
    h = gather(proc, root, UNKNOWN, root_dir="/var/lib/docker")
    assert h.data_root_mount == MountFacts(
        path="/var/lib/docker",
        mountpoint="/var/lib/docker",
        fstype="xfs",
        options=("rw", "relatime", "prjquota"),
        device="254:2",
        root_device="254:0",
    )
    assert h.backing_mount == h.data_root_mount
    assert not h.data_root_mount.on_root_filesystem  # type: ignore[union-attr]


def test_data_root_mount_not_fooled_by_name_prefix(proc: FakeProc, root: Path) -> None:
    proc.write("self/mountinfo", MOUNTINFO)
    mount = gather(proc, root, UNKNOWN, root_dir="/var/lib/dockerx/sub").data_root_mount
    assert isinstance(mount, MountFacts) and mount.mountpoint == "/var/lib"


def test_data_root_mount_octal_escapes(proc: FakeProc, root: Path) -> None:
    proc.write("self/mountinfo", MOUNTINFO)
    mount = gather(proc, root, UNKNOWN, root_dir="/mnt/my disk/docker").data_root_mount
    assert isinstance(mount, MountFacts) and (mount.mountpoint, mount.fstype) == (
        "/mnt/my disk",
        "tmpfs",
    )


def test_data_root_mount_prefers_daemon_namespace(proc: FakeProc, root: Path) -> None:
    proc.write("self/mountinfo", MOUNTINFO)
    settings = settings_of(proc, root, ["dockerd"])
    proc.write("100/mountinfo", "1 0 8:1 / / rw - btrfs /dev/sda rw,space_cache\n")
    mount = gather(proc, root, settings).data_root_mount
    assert isinstance(mount, MountFacts) and mount.fstype == "btrfs"


def test_data_root_mount_unknown_without_mountinfo(proc: FakeProc, root: Path) -> None:
    assert isinstance(gather(proc, root, UNKNOWN).data_root_mount, Unknown)


def test_files_found_with_roles(proc: FakeProc, root: Path) -> None:
    write_json(root, {"tls": True, "tlscert": "/etc/docker/tls/cert.pem"})
    (root / "etc/docker/tls").mkdir()
    (root / "etc/docker/tls/cert.pem").write_text("x")
    units = root / "lib/systemd/system"
    units.mkdir(parents=True)
    (units / "docker.service").write_text("[Service]\n")
    dropins = root / "etc/systemd/system/docker.service.d"
    dropins.mkdir(parents=True)
    (dropins / "override.conf").write_text("[Service]\n")
    certs = root / "etc/docker/certs.d/reg:5000"
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_text("x")
    (certs / "client.key").write_text("x")
    os.chmod(certs / "client.key", 0o600)
    settings = settings_of(proc, root, ["dockerd"])
    files = gather(proc, root, settings).files
    assert isinstance(files, tuple)
    assert {(f.path, f.role) for f in files} == {
        ("/etc/docker/daemon.json", "daemon.json"),
        ("/lib/systemd/system/docker.service", "docker.service"),
        ("/etc/systemd/system/docker.service.d/override.conf", "docker.service drop-in"),
        ("/etc/docker", "docker config dir"),
        ("/etc/docker/certs.d", "registry certs dir"),
        ("/etc/docker/certs.d/reg:5000", "registry certs dir"),
        ("/etc/docker/certs.d/reg:5000/ca.crt", "registry cert"),
        ("/etc/docker/certs.d/reg:5000/client.key", "registry key"),
        ("/etc/docker/tls/cert.pem", "tls cert"),
    }
    key = next(f for f in files if f.role == "registry key")
    assert key.mode == 0o600 and not key.is_socket


def test_files_same_inode_reported_once(proc: FakeProc, root: Path) -> None:
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/docker.service").write_text("[Service]\n")
    os.symlink("usr/lib", root / "lib")
    files = gather(proc, root, UNKNOWN).files
    assert isinstance(files, tuple)
    assert [f.path for f in files if f.role == "docker.service"] == [
        "/lib/systemd/system/docker.service"
    ]


def test_files_root_docker_client_certs(proc: FakeProc, root: Path) -> None:
    (root / "root/.docker").mkdir(parents=True)
    (root / "root/.docker/key.pem").write_text("x")
    files = gather(proc, root, UNKNOWN).files
    assert isinstance(files, tuple)
    assert ("/root/.docker/key.pem", "tls key") in {(f.path, f.role) for f in files}


def test_files_stat_error_is_unknown(
    proc: FakeProc, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stat = os.stat

    def fake_stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).endswith("etc/docker"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path)

    monkeypatch.setattr(os, "stat", fake_stat)
    files = gather(proc, root, UNKNOWN).files
    assert isinstance(files, Unknown) and "/etc/docker: permission denied" in files.reason


def test_certificates_rsa_and_ec(proc: FakeProc, root: Path) -> None:
    make_cert(root / "tls/cert.pem", rsa.generate_private_key(65537, 2048), 10, hashes.SHA256())
    make_cert(root / "tls/ca.pem", ec.generate_private_key(ec.SECP384R1()), 400, hashes.SHA384())
    argv = ["dockerd", "--tlsverify", "--tlscert=/tls/cert.pem", "--tlscacert=/tls/ca.pem"]
    certs = gather(proc, root, settings_of(proc, root, argv)).certificates
    assert isinstance(certs, tuple)
    assert [(c.path, c.subject, c.key_type, c.key_bits, c.signature_hash) for c in certs] == [
        ("/tls/cert.pem", "CN=dockerd", "RSA", 2048, "sha256"),
        ("/tls/ca.pem", "CN=dockerd", "EC", 384, "sha384"),
    ]
    left = certs[0].not_after - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=9) < left <= dt.timedelta(days=10)


def test_certificates_ed25519_has_no_hash(proc: FakeProc, root: Path) -> None:
    make_cert(root / "tls/cert.pem", ed25519.Ed25519PrivateKey.generate(), 30, None)
    settings = settings_of(proc, root, ["dockerd", "--tls", "--tlscert", "/tls/cert.pem"])
    certs = gather(proc, root, settings).certificates
    assert isinstance(certs, tuple) and len(certs) == 1
    assert isinstance(certs[0], CertFacts)
    assert (certs[0].key_type, certs[0].key_bits, certs[0].signature_hash) == (
        "Ed25519",
        256,
        "none",
    )


def test_certificates_empty_without_tls(proc: FakeProc, root: Path) -> None:
    settings = settings_of(proc, root, ["dockerd", "--tlscert=/tls/cert.pem"])
    assert gather(proc, root, settings).certificates == ()


def test_certificates_unknown_without_settings(proc: FakeProc, root: Path) -> None:
    assert isinstance(gather(proc, root, UNKNOWN).certificates, Unknown)


@pytest.mark.parametrize("content", [b"not a certificate", b"\x00" * 100, b"-" * (2 << 20)])
def test_certificates_hostile_file_is_unknown(proc: FakeProc, root: Path, content: bytes) -> None:
    (root / "c.pem").write_bytes(content)
    settings = settings_of(proc, root, ["dockerd", "--tls", "--tlscert=/c.pem"])
    assert isinstance(gather(proc, root, settings).certificates, Unknown)


def test_certificates_missing_file_is_unknown(proc: FakeProc, root: Path) -> None:
    settings = settings_of(proc, root, ["dockerd", "--tls", "--tlscert=/none.pem"])
    certs = gather(proc, root, settings).certificates
    assert isinstance(certs, Unknown) and "/none.pem" in certs.reason


def test_kernel_limits(proc: FakeProc, root: Path) -> None:
    proc.write("sys/kernel/pid_max", "4194304\n")
    proc.write("sys/kernel/threads-max", "63000\n")
    proc.write("sys/fs/inotify/max_user_instances", "128\n")
    proc.write("sys/fs/inotify/max_user_watches", "garbage\n")
    assert gather(proc, root, UNKNOWN).kernel_limits == {
        "kernel.pid_max": 4194304,
        "kernel.threads-max": 63000,
        "fs.inotify.max_user_instances": 128,
    }


def test_kernel_limits_unknown_when_none_readable(proc: FakeProc, root: Path) -> None:
    assert isinstance(gather(proc, root, UNKNOWN).kernel_limits, Unknown)


def test_everything_unknown_never_raises(tmp_path: Path) -> None:
    h = gather_host(UNKNOWN, "/nope.sock", "", str(tmp_path / "p"), str(tmp_path / "r"))
    assert isinstance(h.socket, Unknown) and isinstance(h.data_root_mount, Unknown)


# ------------------------------------------------------------------ live


def _running_dockerd() -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if Path(f"/proc/{name}/comm").read_text().strip() == "dockerd":
                    pids.append(int(name))
            except OSError:
                continue
    return pids


@pytest.mark.live
def test_live_dockerd_and_host() -> None:
    sock = "/var/run/docker.sock"
    if not os.path.exists(sock) or not stat.S_ISSOCK(os.stat(sock).st_mode):
        pytest.skip("no Docker socket at /var/run/docker.sock")
    pids = _running_dockerd()
    if not pids:
        pytest.skip("no dockerd running")
    pid = find_dockerd(sock, None)
    assert pid in pids
    assert pid is not None
    settings = read_daemon_settings(pid)
    assert settings.cmdline[0].endswith("dockerd")
    h = gather_host(settings, sock, "/var/lib/docker")
    assert isinstance(h.socket, FileFacts) and h.socket.is_socket
    assert h.kernel_release == os.uname().release
    assert h.cgroup_version in (1, 2)
    assert isinstance(h.cgroup_controllers, frozenset) and h.cgroup_controllers
    assert isinstance(h.kernel_limits, dict) and h.kernel_limits["kernel.pid_max"] > 0
