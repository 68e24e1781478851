"""DW101-DW137 as pure functions over `EngineSnapshot`: a bad and a good case for each.

Snapshots are built directly (see `snap()`): the defaults describe a well-configured
daemon and host on which no DW1xx check fires, and each test changes only the facts
its check reads. Recorded `/info` + `/version` answers of real 20.10.24 daemons
(tests/data/engine/*.json) are parsed with the collector's own `engine_info()`.
DW131 and DW132 are also gathered by `gather_host()` from a fake host root.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dockwarden.checks import REGISTRY, Fail, Selection, Skip
from dockwarden.checks.host import AUDIT_TARGETS, KERNEL_LIMIT_FLOORS
from dockwarden.checks.judge import judge_engine
from dockwarden.collect.engine import bridge_facts, engine_info
from dockwarden.collect.host import gather_host
from dockwarden.model.common import Severity, TargetKind, Unknown
from dockwarden.model.container import ContainerContext
from dockwarden.model.engine import (
    BridgeFacts,
    CertFacts,
    DaemonSettings,
    EngineInfo,
    EngineSnapshot,
    FileFacts,
    HostSnapshot,
    MountFacts,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "SPEC.md"
RECORDED = Path(__file__).parent / "data" / "engine"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

DAEMON_IDS = [f"DW{n}" for n in range(101, 122)]
HOST_IDS = [f"DW{n}" for n in range(130, 138)]
ALL_IDS = DAEMON_IDS + HOST_IDS

# --------------------------------------------------------------------------- builder

GOOD_INFO = EngineInfo(
    server_version="29.1.0",
    api_version="1.52",
    os_type="linux",
    kernel_version="6.1.0-28-amd64",
    operating_system="Debian GNU/Linux 12 (bookworm)",
    driver="overlay2",
    driver_status=(("Backing Filesystem", "xfs"), ("Supports d_type", "true")),
    logging_driver="json-file",
    cgroup_driver="systemd",
    cgroup_version="2",
    security_options=("name=seccomp,profile=builtin", "name=userns", "name=cgroupns"),
    live_restore=True,
    experimental=False,
    debug=False,
    swarm_state="inactive",
    root_dir="/var/lib/docker",
    insecure_cidrs=("127.0.0.0/8", "::1/128"),
    insecure_registries=(),
    authorization_plugins=("opa-docker-authz",),
    pids_limit_supported=True,
    name="host1",
)

GOOD_SETTINGS: dict[str, Any] = {
    "hosts": ["unix:///var/run/docker.sock"],
    "icc": False,
    "no-new-privileges": True,
    "live-restore": True,
    "userland-proxy": False,
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "default-ulimits": {"nofile": "64000:64000"},
    "userns-remap": "default",
    "authorization-plugins": ["opa-docker-authz"],
}

GOOD_BRIDGE = BridgeFacts(name="bridge", icc=False, gateway="172.17.0.1", interface="docker0")


def ffacts(path: str, role: str, mode: int, *, uid: int = 0, gid: int = 0,
           owner: str = "root", group: str = "root", is_socket: bool = False) -> FileFacts:
    return FileFacts(path=path, role=role, uid=uid, gid=gid, mode=mode, owner=owner,
                     group=group, is_socket=is_socket)


def cert(*, days: float = 365, key_type: str = "EC", key_bits: int = 256,
         signature_hash: str = "sha256",
         path: str = "/etc/docker/tls/server-cert.pem") -> CertFacts:
    return CertFacts(path=path, subject="CN=docker.example.test",
                     not_after=NOW + timedelta(days=days), key_type=key_type,
                     key_bits=key_bits, signature_hash=signature_hash)


ALL_AUDIT_RULES = tuple(f"-w {alts[0]} -p wa -k docker" for alts in AUDIT_TARGETS)
XFS_MOUNT = MountFacts(path="/var/lib/docker", mountpoint="/var/lib/docker", fstype="xfs",
                       options=("rw", "relatime", "attr2", "inode64", "prjquota"))

GOOD_HOST = HostSnapshot(
    kernel_release="6.1.0-28-amd64",
    cgroup_version=2,
    cgroup_controllers=frozenset({"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}),
    socket=ffacts("/var/run/docker.sock", "docker.sock", 0o660, gid=998, group="docker",
                  is_socket=True),
    docker_group="docker",
    docker_group_members=(),
    audit_rules=ALL_AUDIT_RULES,
    data_root_mount=XFS_MOUNT,
    backing_mount=XFS_MOUNT,
    files=(
        ffacts("/etc/docker/daemon.json", "daemon.json", 0o644),
        ffacts("/lib/systemd/system/docker.service", "docker.service", 0o644),
        ffacts("/lib/systemd/system/docker.socket", "docker.socket", 0o644),
        ffacts("/etc/docker", "docker config dir", 0o755),
        ffacts("/etc/docker/tls/ca.pem", "tls ca", 0o444),
        ffacts("/etc/docker/tls/server-cert.pem", "tls cert", 0o444),
        ffacts("/etc/docker/tls/server-key.pem", "tls key", 0o400),
    ),
    certificates=(cert(), cert(path="/etc/docker/tls/ca.pem", days=3650)),
    kernel_limits={"kernel.pid_max": 4194304, "kernel.threads-max": 191958,
                   "fs.inotify.max_user_instances": 8192,
                   "fs.inotify.max_user_watches": 524288},
)


def settings(values: dict[str, Any] | None = None, *, drop: Iterable[str] = (),
             **extra: Any) -> DaemonSettings:
    """GOOD_SETTINGS with `values`/`extra` merged over them and `drop` keys removed."""
    merged = {k: v for k, v in GOOD_SETTINGS.items() if k not in set(drop)}
    merged.update(values or {})
    merged.update({k.replace("_", "-"): v for k, v in extra.items()})
    return DaemonSettings(pid=1234, cmdline=("/usr/bin/dockerd",),
                          config_file="/etc/docker/daemon.json", values=merged,
                          sources=("test",))


def snap(*, info: EngineInfo | dict[str, Any] | None = None,
         daemon: DaemonSettings | Unknown | None = None,
         host: HostSnapshot | dict[str, Any] | None = None,
         bridge: BridgeFacts | Unknown | None = None,
         scheme: str = "unix", tls: bool = False, client_cert: bool = False,
         endpoint: str = "unix:///var/run/docker.sock",
         gathered_at: datetime = NOW) -> EngineSnapshot:
    """A snapshot of a well-configured Engine, with the given parts replaced.

    `info` and `host` may be dicts of fields to replace in GOOD_INFO / GOOD_HOST.
    """
    if info is None or isinstance(info, dict):
        info = dataclasses.replace(GOOD_INFO, **(info or {}))
    if host is None or isinstance(host, dict):
        host = dataclasses.replace(GOOD_HOST, **(host or {}))
    return EngineSnapshot(
        endpoint=endpoint,
        gathered_at=gathered_at,
        connection_scheme=scheme,
        connection_tls=tls,
        connection_client_cert=client_cert,
        local=not isinstance(daemon, Unknown),
        info=info,
        bridge=GOOD_BRIDGE if bridge is None else bridge,
        daemon=settings() if daemon is None else daemon,
        host=host,
        containers=(),
        context=ContainerContext(),
    )


def run(check_id: str, s: EngineSnapshot) -> list[Fail]:
    return list(REGISTRY[check_id].func(s))


def fires(check_id: str, s: EngineSnapshot, severity: Severity | None = None) -> Fail:
    """The one Fail of `check_id`, checked against the expected severity."""
    fails = run(check_id, s)
    assert len(fails) == 1, f"{check_id} should fire once, got {fails}"
    meta = REGISTRY[check_id].meta
    got = fails[0].severity or meta.severity
    assert got == (severity or meta.severity), (check_id, got)
    return fails[0]


def silent(check_id: str, s: EngineSnapshot) -> None:
    assert run(check_id, s) == [], f"{check_id} should not fire"


def recorded(name: str, **info_over: Any) -> EngineInfo:
    data = json.loads((RECORDED / f"{name}.json").read_text())
    return engine_info({**data["info"], **info_over}, data["version"])


# --------------------------------------------------------------------------- catalogue


def test_every_spec_dw1xx_check_is_registered_with_its_severity() -> None:
    if not SPEC.exists():
        pytest.skip("shared/spec/SPEC.md not beside the checkout")
    text = SPEC.read_text()
    section = text[text.index("### Daemon and host (DW1xx)"):text.index("### Containers")]
    rows = dict(re.findall(r"^\| (DW1\d\d) \| (\w+) \|", section, re.M))
    assert sorted(rows) == ALL_IDS
    for cid, sev in rows.items():
        assert cid in REGISTRY, f"{cid} in SPEC.md but not registered"
        assert REGISTRY[cid].meta.severity == Severity(sev), cid


def test_no_unexpected_dw1xx_checks() -> None:
    assert sorted(c for c in REGISTRY if c.startswith("DW1")) == ALL_IDS


def test_well_configured_engine_fires_nothing_but_the_rootful_note() -> None:
    s = snap()
    assert {cid for cid in ALL_IDS if run(cid, s)} == {"DW118"}  # rootful: info only
    rootless = snap(info={"security_options": ("name=seccomp,profile=builtin",
                                               "name=rootless", "name=cgroupns")})
    assert {cid for cid in ALL_IDS if run(cid, rootless)} == set()


def test_target_kinds_daemon_and_host() -> None:
    """Daemon checks report against the daemon, host checks against the host (by name)."""
    bad = snap(info={"experimental": True},
               host={"kernel_limits": {"kernel.pid_max": 32768}})
    results = judge_engine(bad, Selection(("DW1",)), containers=False)
    kinds = {f.check: (f.target.kind, f.target.ref) for f in results.findings}
    assert kinds["DW115"] == (TargetKind.DAEMON, "unix:///var/run/docker.sock")
    assert kinds["DW137"] == (TargetKind.HOST, "host1")
    for cid in DAEMON_IDS:
        assert REGISTRY[cid].meta.target_kind is TargetKind.DAEMON, cid
    for cid in HOST_IDS:
        assert REGISTRY[cid].meta.target_kind is TargetKind.HOST, cid


def test_remote_engine_skips_what_needs_local_facts() -> None:
    """Unknown daemon settings / host facts skip a check: never a silent pass."""
    u = Unknown("remote Engine")
    host = HostSnapshot(*([u] * len(dataclasses.fields(HostSnapshot))))
    s = snap(daemon=u, host=host, scheme="tcp", tls=True, client_cert=True,
             endpoint="tcp://docker.example.test:2376")
    results = judge_engine(s, Selection(("DW1",)), containers=False)
    skipped = {k.check for k in results.skipped}
    assert {"DW103", "DW105", "DW108", "DW112", "DW114", "DW130", "DW131", "DW132",
            "DW133", "DW134", "DW136", "DW137"} <= skipped
    assert not results.errors


# --------------------------------------------------------------------------- DW101-DW103


def test_dw101_tcp_without_tls_in_config() -> None:
    f = fires("DW101", snap(daemon=settings(hosts=["unix:///var/run/docker.sock",
                                                   "tcp://0.0.0.0:2375"])),
              Severity.CRITICAL)
    assert f.evidence["hosts"] == ["tcp://0.0.0.0:2375"]


def test_dw101_reached_over_plain_tcp() -> None:
    f = fires("DW101", snap(daemon=Unknown("remote"), scheme="tcp",
                            endpoint="tcp://10.0.0.5:2375"))
    assert f.evidence == {"connected_to": "tcp://10.0.0.5:2375", "tls": False}
    assert "plain TCP" in f.message


@pytest.mark.parametrize("values", [
    {},
    {"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True, "tls": True},
    {"hosts": ["tcp://0.0.0.0:2376"], "tls": True},  # DW102's business, not DW101's
])
def test_dw101_silent(values: dict[str, Any]) -> None:
    silent("DW101", snap(daemon=settings(values)))


def test_dw102_tls_without_verify() -> None:
    f = fires("DW102", snap(daemon=settings(hosts=["tcp://127.0.0.1:2376"], tls=True,
                                            tlsverify=False)), Severity.CRITICAL)
    assert f.evidence["tlsverify"] is False


def test_dw102_remote_tls_without_client_certificate() -> None:
    s = snap(daemon=Unknown("remote"), scheme="tcp", tls=True, client_cert=False,
             endpoint="tcp://docker.example.test:2376")
    assert "without a client certificate" in fires("DW102", s).message
    silent("DW102", dataclasses.replace(s, connection_client_cert=True))


def test_dw102_silent_with_tlsverify() -> None:
    silent("DW102", snap(daemon=settings(hosts=["tcp://127.0.0.1:2376"], tls=True,
                                         tlsverify=True)))


@pytest.mark.parametrize("host", ["tcp://0.0.0.0:2375", "tcp://172.17.0.1:2375",
                                  "tcp://:2375", "tcp://[::]:2376", "192.168.1.10:2375"])
def test_dw103_reachable_from_containers(host: str) -> None:
    f = fires("DW103", snap(daemon=settings(hosts=["unix:///var/run/docker.sock", host])),
              Severity.CRITICAL)
    assert f.evidence["bridge_gateway"] == "172.17.0.1"
    assert len(f.evidence["hosts"]) == 1


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:2375", "tcp://localhost:2375",
                                  "tcp://[::1]:2375", "unix:///run/docker.sock", "fd://"])
def test_dw103_loopback_and_unix_silent(host: str) -> None:
    silent("DW103", snap(daemon=settings(hosts=[host])))


# --------------------------------------------------------------------------- DW104-DW121


def test_dw104_icc() -> None:
    bridge = bridge_facts({"Name": "bridge", "Options": {
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.name": "docker0"},
        "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}})
    assert fires("DW104", snap(bridge=bridge)).evidence["network"] == "bridge"
    silent("DW104", snap())
    with pytest.raises(Skip):
        run("DW104", snap(bridge=Unknown("no default bridge")))


def test_dw105_iptables() -> None:
    fires("DW105", snap(daemon=settings(iptables=False)), Severity.MEDIUM)
    silent("DW105", snap(daemon=settings(iptables=True)))
    silent("DW105", snap(daemon=settings(drop=["iptables"])))


@pytest.mark.parametrize(("registries", "cidrs", "expected"), [
    (("registry.corp:5000",), (), ["registry.corp:5000"]),
    ((), ("10.0.0.0/8",), ["10.0.0.0/8"]),
])
def test_dw106_insecure_registries(registries: tuple[str, ...], cidrs: tuple[str, ...],
                                   expected: list[str]) -> None:
    s = snap(info={"insecure_registries": registries,
                   "insecure_cidrs": ("127.0.0.0/8", "::1/128", *cidrs)})
    assert fires("DW106", s, Severity.HIGH).evidence["insecure_registries"] == expected


def test_dw106_loopback_registry_and_defaults_silent() -> None:
    silent("DW106", snap(info={"insecure_registries": ("localhost:5000", "127.0.0.1:5000")}))
    silent("DW106", snap())


def test_dw107_aufs() -> None:
    info = recorded("main-20.10.24", Driver="aufs", DriverStatus=[
        ["Root Dir", "/var/lib/docker/aufs"], ["Backing Filesystem", "extfs"],
        ["Dirs", "0"], ["Dirperm1 Supported", "true"]])
    assert fires("DW107", snap(info=info), Severity.HIGH).evidence == {"Driver": "aufs"}
    silent("DW107", snap(info=recorded("main-20.10.24")))


def test_dw108_default_ulimits() -> None:
    f = fires("DW108", snap(daemon=settings(drop=["default-ulimits"])), Severity.LOW)
    assert "pids" in f.message  # nproc is no fork-bomb defence
    silent("DW108", snap())


def test_dw109_userns() -> None:
    fires("DW109", snap(info={"security_options": ("name=seccomp,profile=builtin",)}),
          Severity.MEDIUM)
    silent("DW109", snap())
    silent("DW109", snap(info={"security_options": ("name=seccomp,profile=builtin",
                                                    "name=rootless")}))


def test_dw110_authorization_plugin() -> None:
    fires("DW110", snap(info={"authorization_plugins": ()}), Severity.LOW)
    silent("DW110", snap())


def test_dw111_log_rotation() -> None:
    f = fires("DW111", snap(daemon=settings(drop=["log-opts"])), Severity.MEDIUM)
    assert f.evidence["LoggingDriver"] == "json-file"
    fires("DW111", snap(daemon=settings({"log-opts": {"max-file": "3"}})))
    silent("DW111", snap())
    silent("DW111", snap(info={"logging_driver": "local"}, daemon=settings(drop=["log-opts"])))


def test_dw112_no_new_privileges() -> None:
    fires("DW112", snap(daemon=settings(drop=["no-new-privileges"])), Severity.MEDIUM)
    silent("DW112", snap())


def test_dw113_live_restore() -> None:
    fires("DW113", snap(info={"live_restore": False}), Severity.LOW)
    silent("DW113", snap())


def test_dw114_userland_proxy() -> None:
    fires("DW114", snap(daemon=settings(drop=["userland-proxy"])), Severity.LOW)
    fires("DW114", snap(daemon=settings({"userland-proxy": True})))
    silent("DW114", snap())


def test_dw115_experimental() -> None:
    fires("DW115", snap(info={"experimental": True}), Severity.MEDIUM)
    silent("DW115", snap())


def test_dw116_debug() -> None:
    fires("DW116", snap(info={"debug": True}), Severity.LOW)
    silent("DW116", snap())


def test_dw117_seccomp() -> None:
    f = fires("DW117", snap(info={"security_options": ("name=seccomp,profile=unconfined",
                                                       "name=userns")}), Severity.HIGH)
    assert f.evidence["seccomp"]["profile"] == "unconfined"
    f = fires("DW117", snap(info={"security_options": ("name=userns",)}))
    assert "not available" in f.message
    silent("DW117", snap())
    silent("DW117", snap(info={"security_options": ("name=seccomp,profile=default",)}))


def test_dw118_rootless() -> None:
    fires("DW118", snap(info={"security_options": ("name=seccomp,profile=builtin",)}),
          Severity.INFO)
    silent("DW118", snap(info={"security_options": (
        "name=seccomp,profile=builtin", "name=rootless", "name=cgroupns")}))


def test_dw119_recorded_20_10_24_is_eol_and_vulnerable() -> None:
    f = fires("DW119", snap(info=recorded("main-20.10.24")), Severity.MEDIUM)
    assert f.evidence["ServerVersion"] == "20.10.24+dfsg1"
    assert f.evidence["end_of_life"] == "2023-12-10"
    assert any(v.startswith("CVE-2024-41110") for v in f.evidence["vulnerabilities"])


def test_dw119_vulnerable_but_still_maintained() -> None:
    early = datetime(2024, 6, 1, tzinfo=UTC)
    f = fires("DW119", snap(info={"server_version": "27.1.0"}, gathered_at=early))
    assert "end_of_life" not in f.evidence
    assert f.evidence["vulnerabilities"] == ["CVE-2024-41110 (fixed in 27.1.1)"]
    silent("DW119", snap(info={"server_version": "27.1.1"}, gathered_at=early))


def test_dw119_current_release_silent() -> None:
    silent("DW119", snap(info={"server_version": "29.1.0"}))


@pytest.mark.parametrize(("driver", "backing", "mount", "expect"), [
    ("overlay2", "extfs", None, True),
    ("overlay2", "xfs", dataclasses.replace(XFS_MOUNT, options=("rw", "noquota")), True),
    ("vfs", "extfs", None, True),
    ("overlay2", "xfs", XFS_MOUNT, False),
    ("overlay2", "xfs", dataclasses.replace(XFS_MOUNT, options=("rw", "pquota")), False),
    ("btrfs", "", None, False),
    ("zfs", "", None, False),
])
def test_dw120_quota(driver: str, backing: str, mount: MountFacts | None, expect: bool) -> None:
    status = (("Backing Filesystem", backing),) if backing else ()
    host = {"backing_mount": mount or Unknown("n/a")}
    s = snap(info={"driver": driver, "driver_status": status}, host=host)
    if expect:
        f = fires("DW120", s, Severity.MEDIUM)
        assert f.evidence["Driver"] == driver
        if mount is not None:
            assert "noquota" in f.evidence["mount_options"]
    else:
        silent("DW120", s)


def test_dw120_overlay_on_xfs_of_a_remote_engine_is_skipped() -> None:
    s = snap(host={"backing_mount": Unknown("remote Engine")})
    with pytest.raises(Skip):
        run("DW120", s)


def test_dw121_swarm() -> None:
    fires("DW121", snap(info=recorded("authz-swarm-20.10.24")), Severity.INFO)
    silent("DW121", snap(info=recorded("main-20.10.24")))


# recorded answers of real daemons: what each one must and must not trigger
RECORDED_EXPECTATIONS = {
    "main-20.10.24": ({"DW109", "DW110", "DW113", "DW119", "DW120"},
                      {"DW106", "DW107", "DW115", "DW116", "DW117", "DW121"}),
    "weak-20.10.24": ({"DW106", "DW115", "DW116"}, {"DW107", "DW117", "DW121"}),
    "hardened-userns-20.10.24": ({"DW119"}, {"DW109", "DW113", "DW115", "DW116"}),
    "authz-swarm-20.10.24": ({"DW121"}, {"DW110", "DW106"}),
    "btrfs-20.10.24": ({"DW110"}, {"DW120", "DW107"}),
}


@pytest.mark.parametrize("name", sorted(RECORDED_EXPECTATIONS))
def test_recorded_daemons(name: str) -> None:
    must, must_not = RECORDED_EXPECTATIONS[name]
    s = snap(info=recorded(name), host={"backing_mount": Unknown("recorded /info only")})
    fired = {cid for cid in must | must_not if run(cid, s)}
    assert must <= fired, must - fired
    assert not must_not & fired, must_not & fired


def test_recorded_weak_daemon_insecure_registry_evidence() -> None:
    f = fires("DW106", snap(info=recorded("weak-20.10.24")))
    assert f.evidence["insecure_registries"] == ["registry.example.test:5000"]


# --------------------------------------------------------------------------- DW130-DW137


def test_dw130_data_root_partition() -> None:
    on_root = MountFacts(path="/var/lib/docker", mountpoint="/", fstype="ext4", options=("rw",))
    f = fires("DW130", snap(host={"data_root_mount": on_root}), Severity.LOW)
    assert f.evidence == {"DockerRootDir": "/var/lib/docker", "mountpoint": "/",
                          "fstype": "ext4"}
    silent("DW130", snap())


def test_dw131_docker_group_members() -> None:
    f = fires("DW131", snap(host={"docker_group_members": ("alice", "bob")}), Severity.MEDIUM)
    assert f.evidence == {"group": "docker", "members": ["alice", "bob"]}
    silent("DW131", snap())


def _fake_root(tmp_path: Path, group: str, passwd: str, rules: dict[str, str]) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "audit" / "rules.d").mkdir(parents=True)
    (root / "etc" / "group").write_text(group)
    (root / "etc" / "passwd").write_text(passwd)
    for name, text in rules.items():
        (root / "etc" / "audit" / "rules.d" / name).write_text(text)
    return root


PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "alice:x:1000:1000::/home/alice:/bin/bash\n"
          "ci:x:1001:998::/home/ci:/bin/sh\n")


def _gathered(root: Path) -> EngineSnapshot:
    host = gather_host(Unknown("not needed"), None, "/var/lib/docker", root=str(root))
    return snap(host=host)


def test_dw131_gathered_from_a_host_root(tmp_path: Path) -> None:
    """Explicit members and users whose primary group is docker both count."""
    root = _fake_root(tmp_path, "root:x:0:\ndocker:x:998:alice\nusers:x:100:\n", PASSWD, {})
    f = fires("DW131", _gathered(root))
    assert f.evidence["members"] == ["alice", "ci"]


def test_dw131_gathered_empty_group_silent(tmp_path: Path) -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
    root = _fake_root(tmp_path, "root:x:0:\ndocker:x:998:\n", passwd, {})
    silent("DW131", _gathered(root))


def test_dw132_audit_rules() -> None:
    f = fires("DW132", snap(host={"audit_rules": ()}), Severity.LOW)
    assert f.evidence["not_watched"] == [alts[0] for alts in AUDIT_TARGETS]
    partial = ALL_AUDIT_RULES[1:]
    assert fires("DW132", snap(host={"audit_rules": partial})).evidence["not_watched"] == [
        "/usr/bin/dockerd"]
    silent("DW132", snap())
    # the alternative locations count too
    alt = tuple(r.replace("/usr/bin/", "/usr/sbin/") for r in ALL_AUDIT_RULES)
    silent("DW132", snap(host={"audit_rules": alt}))


def test_dw132_gathered_from_rule_files(tmp_path: Path) -> None:
    rules = "\n".join(["# docker", *ALL_AUDIT_RULES]) + "\n"
    root = _fake_root(tmp_path, "docker:x:998:\n", PASSWD, {"docker.rules": rules})
    silent("DW132", _gathered(root))
    (root / "etc" / "audit" / "rules.d" / "docker.rules").write_text(
        "-w /usr/bin/dockerd -k docker\n")
    f = fires("DW132", _gathered(root))
    assert "/usr/bin/dockerd" not in f.evidence["not_watched"]
    assert "/etc/docker/daemon.json" in f.evidence["not_watched"]


def test_dw132_watch_on_a_child_does_not_cover_the_parent() -> None:
    rules = tuple(r for r in ALL_AUDIT_RULES if not r.startswith("-w /etc/docker "))
    assert any("/etc/docker/daemon.json" in r for r in rules)
    f = fires("DW132", snap(host={"audit_rules": rules}))
    assert f.evidence["not_watched"] == ["/etc/docker"]


@pytest.mark.parametrize(("sock", "problem"), [
    (ffacts("/var/run/docker.sock", "docker.sock", 0o666, gid=998, group="docker",
            is_socket=True), "accessible to other users"),
    (ffacts("/var/run/docker.sock", "docker.sock", 0o660, uid=1000, owner="alice",
            gid=998, group="docker", is_socket=True), "owned by alice"),
    (ffacts("/var/run/docker.sock", "docker.sock", 0o660, gid=100, group="users",
            is_socket=True), "group users"),
])
def test_dw133_socket(sock: FileFacts, problem: str) -> None:
    f = fires("DW133", snap(host={"socket": sock}), Severity.HIGH)
    assert problem in f.message
    assert f.evidence["path"] == "/var/run/docker.sock"


def test_dw133_socket_silent() -> None:
    silent("DW133", snap())
    root_group = ffacts("/var/run/docker.sock", "docker.sock", 0o660, is_socket=True)
    silent("DW133", snap(host={"socket": root_group}))


def _with_file(f: FileFacts) -> EngineSnapshot:
    """GOOD_HOST's files with `f` added (or replacing the file of the same path)."""
    assert isinstance(GOOD_HOST.files, tuple)
    files = (*(x for x in GOOD_HOST.files if x.path != f.path), f)
    return snap(host={"files": files})


@pytest.mark.parametrize(("f", "severity", "problem"), [
    (ffacts("/etc/docker/daemon.json", "daemon.json", 0o666), Severity.MEDIUM,
     "mode 0o666 wider than 0o644"),
    (ffacts("/lib/systemd/system/docker.service", "docker.service", 0o644, uid=1000,
            owner="alice"), Severity.MEDIUM, "owned by alice"),
    (ffacts("/etc/docker/tls/server-key.pem", "tls key", 0o600), Severity.MEDIUM,
     "mode 0o600 wider than 0o400"),
    (ffacts("/etc/docker/tls/server-key.pem", "tls key", 0o644), Severity.HIGH,
     "mode 0o644 wider than 0o400"),
    (ffacts("/etc/docker", "docker config dir", 0o777), Severity.MEDIUM, "wider than 0o755"),
])
def test_dw134_file_permissions(f: FileFacts, severity: Severity, problem: str) -> None:
    fail = fires("DW134", _with_file(f), severity)
    assert problem in fail.message
    assert fail.evidence["path"] == f.path


def test_dw134_good_files_silent() -> None:
    silent("DW134", snap())
    # the socket is DW133's business
    sock = ffacts("/var/run/docker.sock", "docker.sock", 0o666, is_socket=True)
    silent("DW134", _with_file(sock))


def test_dw134_world_readable_registry_key() -> None:
    key = ffacts("/etc/docker/certs.d/registry.corp:5000/client.key", "registry key", 0o644)
    fails = run("DW134", _with_file(key))
    assert [f.evidence["path"] for f in fails] == [key.path]


@pytest.mark.parametrize(("info", "host", "message"), [
    ({"kernel_version": "3.10.0-1160.el7.x86_64"}, {}, "kernel older than 4.2"),
    ({"pids_limit_supported": False}, {}, "no pids limit support"),
    ({}, {"cgroup_version": 1, "cgroup_controllers": frozenset({"cpu", "memory"})},
     "pids controller not enabled"),
])
def test_dw135_pids_cgroup(info: dict[str, Any], host: dict[str, Any], message: str) -> None:
    f = fires("DW135", snap(info=info, host=host), Severity.HIGH)
    assert message in f.message


def test_dw135_silent() -> None:
    silent("DW135", snap())
    silent("DW135", snap(info={"kernel_version": "4.2.0"},
                         host={"cgroup_controllers": Unknown("no cgroupfs")}))


@pytest.mark.parametrize(("c", "severity", "problem"), [
    (cert(days=-1), Severity.HIGH, "expired"),
    (cert(days=5.5), Severity.MEDIUM, "expires in 5 days"),
    (cert(key_type="RSA", key_bits=1024), Severity.MEDIUM, "weak RSA 1024-bit key"),
    (cert(key_type="EC", key_bits=224), Severity.MEDIUM, "weak EC 224-bit key"),
    (cert(signature_hash="sha1"), Severity.MEDIUM, "sha1 signature"),
    (cert(signature_hash="md5"), Severity.MEDIUM, "md5 signature"),
])
def test_dw136_certificate(c: CertFacts, severity: Severity, problem: str) -> None:
    f = fires("DW136", snap(host={"certificates": (c,)}), severity)
    assert problem in f.message


def test_dw136_all_problems_in_one_finding() -> None:
    c = cert(days=5.5, key_type="RSA", key_bits=1024, signature_hash="sha1")
    f = fires("DW136", snap(host={"certificates": (c,)}))
    assert f.message == "expires in 5 days; weak RSA 1024-bit key; sha1 signature"


def test_dw136_silent() -> None:
    silent("DW136", snap())
    good = (cert(key_type="RSA", key_bits=2048), cert(key_type="Ed25519", key_bits=256,
                                                      signature_hash="none"))
    silent("DW136", snap(host={"certificates": good}))
    silent("DW136", snap(host={"certificates": ()}))  # no TLS at all


def test_dw137_kernel_limits() -> None:
    low = {"kernel.pid_max": 32768, "kernel.threads-max": 191958,
           "fs.inotify.max_user_instances": 128, "fs.inotify.max_user_watches": 524288}
    f = fires("DW137", snap(host={"kernel_limits": low}), Severity.LOW)
    assert f.evidence["low"] == {"kernel.pid_max": 32768, "fs.inotify.max_user_instances": 128}
    assert f.evidence["recommended_at_least"] == {
        k: KERNEL_LIMIT_FLOORS[k] for k in ("kernel.pid_max", "fs.inotify.max_user_instances")}


def test_dw137_silent() -> None:
    silent("DW137", snap())
    # only some limits readable: judged on those
    silent("DW137", snap(host={"kernel_limits": {"kernel.pid_max": 4194304}}))
