"""`--host-root PATH`: the host's `/` mounted (read-only) at PATH, as in a container run
with `-v /:/host:ro`. Local facts are read under PATH (collect/host.py `host_path`), the
host's processes through the /proc that shows them (`host_proc`). Fake roots built in
tmp_path; one live test against this machine's Engine with a fake root's /etc."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockwarden import cli
from dockwarden.collect import host as hostmod
from dockwarden.collect.host import gather_host, host_path, host_proc, read_daemon_settings
from dockwarden.model.common import Unknown
from dockwarden.model.engine import DaemonSettings, FileFacts


def _proc(base: Path, *, host_pidns: bool) -> Path:
    """A /proc: PID 2 is kthreadd only in the host's PID namespace."""
    proc = base
    (proc / "2").mkdir(parents=True)
    (proc / "2" / "comm").write_text("kthreadd\n" if host_pidns else "sleep\n")
    return proc


def _dockerd(proc: Path, pid: int, argv: list[str]) -> None:
    """A dockerd seen as a container sees it: its command line is readable, its
    /proc/PID/root is not (no link here: a container has no ptrace right on it)."""
    pdir = proc / str(pid)
    (pdir / "fd").mkdir(parents=True)
    (pdir / "comm").write_text("dockerd\n")
    (pdir / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (pdir / "status").write_text("Name:\tdockerd\nUid:\t0\t0\t0\t0\n")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Path]:
    """A host root: /etc (docker, group, passwd, audit), a docker.sock, cgroup v2, and
    its /proc (the host's PID namespace) with sysctls and one dockerd."""
    root = tmp_path / "host"
    (root / "etc" / "docker").mkdir(parents=True)
    (root / "etc" / "docker" / "daemon.json").write_text(json.dumps(
        {"icc": False, "log-driver": "journald", "no-new-privileges": True}))
    (root / "etc" / "group").write_text("root:x:0:\ndocker:x:4242:alice,bob\n")
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                         "carol:x:1000:4242::/home/carol:/bin/sh\n")
    (root / "etc" / "audit" / "rules.d").mkdir(parents=True)
    (root / "etc" / "audit" / "rules.d" / "docker.rules").write_text(
        "# docker\n-w /usr/bin/dockerd -k docker\n-w /var/lib/docker -k docker\n")
    (root / "sys" / "fs" / "cgroup").mkdir(parents=True)
    (root / "sys" / "fs" / "cgroup" / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "var" / "run").mkdir(parents=True)
    proc = _proc(root / "proc", host_pidns=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "pid_max").write_text("77777\n")
    (proc / "sys" / "kernel" / "osrelease").write_text("6.1.0-fake\n")
    _dockerd(proc, 321, ["/usr/bin/dockerd", "-H", "fd://", "--userns-remap", "default"])
    sock = socket.socket(socket.AF_UNIX)
    path = root / "var" / "run" / "docker.sock"
    if len(str(path)) > 100:
        pytest.skip("tmp_path too long for a unix socket path")
    sock.bind(str(path))
    os.chmod(path, 0o660)
    if os.geteuid() == 0:
        os.chown(path, 0, 4242)  # the host's docker group, by its gid
    try:
        yield root
    finally:
        sock.close()


# ------------------------------------------------------------------ the one prefixing function

def test_host_path_prefixes_absolute_paths_only() -> None:
    assert host_path("/host", "/etc/docker/daemon.json") == "/host/etc/docker/daemon.json"
    assert host_path("/host/", "/etc/group") == "/host/etc/group"
    assert host_path("/", "/etc/group") == "/etc/group"
    assert host_path("", "/etc/group") == "/etc/group"
    assert host_path("/host", "relative/daemon.json") == "relative/daemon.json"


def test_every_host_file_goes_through_host_path() -> None:
    """No other helper joins a root to a path: the old private one is gone."""
    assert not hasattr(hostmod, "_under")
    source = Path(hostmod.__file__).read_text()
    assert source.count("os.path.join(root,") == 1  # inside host_path itself


# ------------------------------------------------------------------ which /proc

def test_host_proc_on_the_live_root_is_proc(tmp_path: Path) -> None:
    assert host_proc("/") == "/proc"
    assert host_proc("/", str(tmp_path)) == str(tmp_path)


def test_host_proc_prefers_our_proc_in_the_hosts_pid_namespace(tmp_path: Path) -> None:
    ours = _proc(tmp_path / "ours", host_pidns=True)  # docker run --pid host
    root = tmp_path / "host"
    _proc(root / "proc", host_pidns=True)
    assert host_proc(str(root), str(ours)) == str(ours)


def test_host_proc_falls_back_to_the_hosts_procfs_under_the_root(tmp_path: Path) -> None:
    ours = _proc(tmp_path / "ours", host_pidns=False)  # the container's own PID namespace
    root = tmp_path / "host"
    _proc(root / "proc", host_pidns=True)
    assert host_proc(str(root), str(ours)) == str(root / "proc")


def test_host_proc_with_no_view_of_the_host_keeps_ours(tmp_path: Path) -> None:
    ours = _proc(tmp_path / "ours", host_pidns=False)
    (tmp_path / "host").mkdir()
    assert host_proc(str(tmp_path / "host"), str(ours)) == str(ours)


# ------------------------------------------------------------------ facts under the root

def test_daemon_json_read_under_the_root_when_proc_root_is_closed(host: Path) -> None:
    settings = read_daemon_settings(321, str(host / "proc"), str(host))
    assert settings.get("icc") is False
    assert settings.get("log-driver") == "journald"
    assert settings.get("userns-remap") == "default"  # the flag, from /proc/PID/cmdline
    assert "/etc/docker/daemon.json" in settings.sources


def test_without_the_root_the_containers_own_etc_is_not_taken(host: Path) -> None:
    """The same process read with the live root: daemon.json is looked for at the
    container's own /etc/docker, never the host root's."""
    settings = read_daemon_settings(321, str(host / "proc"), str(host / "nowhere"))
    assert settings.get("icc") is None
    assert any("not present" in s for s in settings.sources)


def test_host_facts_come_from_the_root(host: Path) -> None:
    proc = str(host / "proc")
    settings = read_daemon_settings(321, proc, str(host))
    h = gather_host(settings, "/var/run/docker.sock", "/var/lib/docker", proc=proc,
                    root=str(host))
    assert isinstance(h.socket, FileFacts)
    assert h.socket.path == "/var/run/docker.sock"  # named as on the host
    assert h.socket.is_socket and h.socket.mode == 0o660
    if os.geteuid() == 0:
        assert h.docker_group == "docker"  # the socket's gid named by the root's /etc/group
        assert h.docker_group_members == ("alice", "bob", "carol")  # group + passwd
    assert h.audit_rules == ("-w /usr/bin/dockerd -k docker", "-w /var/lib/docker -k docker")
    assert h.cgroup_version == 2
    assert h.cgroup_controllers == frozenset({"cpu", "memory", "pids"})
    assert h.kernel_release == "6.1.0-fake"
    assert isinstance(h.kernel_limits, dict) and h.kernel_limits["kernel.pid_max"] == 77777
    assert isinstance(h.files, tuple)
    assert "/etc/docker/daemon.json" in {f.path for f in h.files}


def test_data_root_mount_under_a_root_reads_the_hosts_init_table_first(host: Path) -> None:
    """Our own mountinfo is the container's: under a host root the host's PID 1 stands
    in for a dockerd whose table is closed (the fake /proc here also has a `self`)."""
    proc = host / "proc"
    (proc / "self").mkdir()
    (proc / "self" / "mountinfo").write_text("1 0 0:1 / / rw - overlay overlay rw\n")
    (proc / "1").mkdir()
    (proc / "1" / "mountinfo").write_text(
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "40 22 8:2 / /var/lib/docker rw,relatime - xfs /dev/sda2 rw\n")
    settings = read_daemon_settings(321, str(proc), str(host))
    h = gather_host(settings, None, "/var/lib/docker", proc=str(proc), root=str(host))
    assert not isinstance(h.data_root_mount, Unknown)
    assert (h.data_root_mount.fstype, h.data_root_mount.mountpoint) == ("xfs",
                                                                        "/var/lib/docker")


# ------------------------------------------------------------------ the option

def test_option_refuses_a_path_that_is_not_a_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["daemon", "--host-root", str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "--host-root" in err and "not a directory" in err
    assert "Traceback" not in err


def test_option_parses_to_an_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    import argparse

    from dockwarden.commands import options

    monkeypatch.chdir(tmp_path)
    (tmp_path / "h").mkdir()
    p = argparse.ArgumentParser()
    options.engine_options(p)
    assert p.parse_args(["--host-root", "h"]).host_root == str(tmp_path / "h")
    assert p.parse_args([]).host_root is None


# ------------------------------------------------------------------ live: the collector

@pytest.mark.live
def test_collector_reads_host_files_under_the_root(host: Path) -> None:
    """The real Engine, a fake root: the daemon is found through this host's /proc (we
    share its PID namespace) and the group file, audit rules and cgroups come from the
    root, not from this machine."""
    if not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no Docker socket at /var/run/docker.sock")
    from dockwarden.collect.connection import EngineOptions, connect
    from dockwarden.collect.engine import EngineCollector

    conn = connect(EngineOptions(host="unix:///var/run/docker.sock"))
    snap = EngineCollector(conn, containers=False, host_root=str(host)).collect()
    if not isinstance(snap.daemon, DaemonSettings):
        pytest.skip(f"this machine's dockerd is not readable: {snap.daemon}")
    assert snap.local
    if os.geteuid() == 0:
        assert snap.host.docker_group == "docker"
        assert snap.host.docker_group_members == ("alice", "bob", "carol")
    assert snap.host.audit_rules == ("-w /usr/bin/dockerd -k docker",
                                     "-w /var/lib/docker -k docker")
    assert snap.host.cgroup_controllers == frozenset({"cpu", "memory", "pids"})
