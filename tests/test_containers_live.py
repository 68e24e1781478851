"""Every DW2xx check against live containers on the real Engine: a container that makes
it fire, and hardened ones where it stays silent."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import pytest

from conftest import findings, run_cli, run_json, test_labels

pytestmark = pytest.mark.live

SECRET = "s3cr3t-Value-Never-Printed-42"


def _create(api: Any, image: str, name: str, *, start: bool = False,
            command: list[str] | None = None, **host: Any) -> str:
    env = host.pop("environment", None)
    user = host.pop("user", None)
    healthcheck = host.pop("healthcheck", None)
    ports = host.pop("ports", None)
    volumes = host.pop("volumes", None)
    networking = host.pop("networking_config", None)
    cid = api.create_container(
        image, name=name, command=command, labels=test_labels(), environment=env, user=user,
        healthcheck=healthcheck, ports=ports, volumes=volumes, networking_config=networking,
        host_config=api.create_host_config(**host),
    )["Id"]
    if start:
        api.start(cid)
    return str(cid)


# (check id, expected severity, create arguments). Created, not started, unless noted:
# inspect data is the same, and privileged containers cannot start on these VMs.
BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("DW201", "critical", {"privileged": True}),
    ("DW202", "high", {"pid_mode": "host"}),
    ("DW203", "high", {"ipc_mode": "host"}),
    ("DW204", "high", {"network_mode": "host"}),
    ("DW205", "medium", {"uts_mode": "host"}),
    ("DW206", "medium", {"userns_mode": "host"}),
    ("DW207", "critical", {"binds": ["/:/host:ro"]}),
    ("DW207", "critical", {"binds": ["/etc:/hostetc"]}),
    ("DW207", "high", {"binds": ["/etc:/hostetc:ro"]}),
    ("DW208", "critical", {"binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}),
    ("DW209", "critical", {"cap_add": ["SYS_ADMIN"]}),
    ("DW209", "high", {"cap_add": ["NET_ADMIN"]}),
    ("DW210", "high", {"security_opt": ["seccomp=unconfined"]}),
    ("DW213", "medium", {}),
    ("DW214", "medium", {}),
    ("DW215", "medium", {}),
    ("DW216", "low", {}),
    ("DW217", "medium", {}),
    ("DW218", "medium", {"log_config": {"Type": "json-file", "Config": {}}}),
    ("DW219", "low", {}),
    ("DW220", "medium", {}),
    ("DW221", "high", {"devices": ["/dev/zero:/dev/zero:rwm"]}),
    ("DW222", "medium", {"binds": ["/tmp:/mnt:rslave"], "propagation": "rshared"}),
    ("DW223", "low", {"port_bindings": {"8080/tcp": ("127.0.0.1", 81)}, "ports": [8080]}),
    ("DW224", "low", {"port_bindings": {"8080/tcp": 18080}, "ports": [8080]}),
    ("DW226", "low", {"restart_policy": {"Name": "always"}}),
    ("DW227", "low", {}),
    ("DW228", "low", {}),
    ("DW229", "info", {"cgroup_parent": "/dwtest"}),
    ("DW230", "info", {"ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]}),
    ("DW232", "low", {"binds": ["/tmp:/data"]}),
    ("DW233", "high", {"environment": {"DB_PASSWORD": SECRET}}),
    ("DW234", "info", {}),
    ("DW235", "low", {"image": "dwtest/busybox:latest"}),
    ("DW236", "high", {"sysctls": {"kernel.domainname": "x"}}),
    ("DW237", "critical", {"port_bindings": {"2375/tcp": 12375}, "ports": [2375]}),
    ("DW237", "high", {"port_bindings": {"2375/tcp": ("127.0.0.1", 12375)}, "ports": [2375]}),
    ("DW237", "medium", {"port_bindings": {"2376/tcp": ("127.0.0.1", 12376)}, "ports": [2376]}),
]


def _hardened(api: Any, busybox: str, name: str, **extra: Any) -> str:
    args: dict[str, Any] = dict(
        read_only=True, user="1000:1000", pids_limit=100, mem_limit="64m",
        nano_cpus=500_000_000, security_opt=["no-new-privileges"], cap_drop=["ALL"],
        network_mode="none", restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
        log_config={"Type": "json-file", "Config": {"max-size": "1m"}},
        healthcheck={"Test": ["CMD", "true"], "Interval": 30_000_000_000},
    )
    args.update(extra)
    return _create(api, busybox, name, **args)


@pytest.fixture(scope="module")
def containers(api: Any, busybox: str) -> dict[str, Any]:
    """Create every bad and hardened container once, then audit them all in one run."""
    from conftest import RUN_ID
    if not api.images(name="dwtest/busybox:latest"):
        api.tag(busybox, "dwtest/busybox", "latest")
    made: dict[str, Any] = {"bad": [], "ids": [], "names": []}
    for i, (check, sev, args) in enumerate(BAD):
        args = dict(args)
        image = args.pop("image", busybox)
        if "propagation" in args:
            prop = args.pop("propagation")
            args["mounts"] = None
            args["binds"] = {"/tmp": {"bind": "/mnt", "mode": f"rw,{prop}"}}
        name = f"dw-{RUN_ID}-bad-{i}-{check.lower()}"
        made["ids"].append(_create(api, image, name, **args))
        made["bad"].append((check, sev, name))
    # Hardened: no namespaces shared, no mounts, limits set, non-root, read-only.
    made["good"] = f"dw-{RUN_ID}-good"
    made["ids"].append(_hardened(api, busybox, made["good"], start=True))
    # Hardened with a port on loopback >= 1024 on a user-defined network.
    net = api.create_network(f"dw-{RUN_ID}-net", labels=test_labels())["Id"]
    made["good_net"] = f"dw-{RUN_ID}-good-net"
    made["ids"].append(_hardened(
        api, busybox, made["good_net"], network_mode=f"dw-{RUN_ID}-net",
        port_bindings={"8080/tcp": ("127.0.0.1", 18081)}, ports=[8080],
        volumes=["/data"], binds=["/tmp:/data:ro"]))
    made["net"] = net
    # DW225: a process named sshd (a shell script, since busybox has no sshd).
    made["sshd"] = f"dw-{RUN_ID}-sshd"
    cid = _create(api, busybox, made["sshd"], command=["/bin/sh", "/usr/sbin/sshd", "-D"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"#!/bin/sh\nsleep 3600\n"
        for d in ("usr", "usr/sbin"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tf.addfile(ti)
        ti = tarfile.TarInfo("usr/sbin/sshd")
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    api.put_archive(cid, "/", buf.getvalue())
    api.start(cid)
    made["ids"].append(cid)
    # DW231: an exec session as root, still known to the Engine.
    made["exec"] = f"dw-{RUN_ID}-exec"
    cid = _create(api, busybox, made["exec"], start=True)
    exec_id = api.exec_create(cid, ["sleep", "300"], user="root")["Id"]
    api.exec_start(exec_id, detach=True)
    made["ids"].append(cid)
    time.sleep(0.5)
    made["names"] = [n for _, _, n in made["bad"]] + [
        made[k] for k in ("good", "good_net", "sshd", "exec")]
    yield made
    for cid in made["ids"]:
        api.remove_container(cid, force=True, v=True)
    api.remove_network(net)


@pytest.fixture(scope="module")
def report(containers: dict[str, Any], engine_url: str,
           capsysbinary: Any = None) -> dict[str, Any]:
    """One audit of the containers this module made, by name: other containers on the
    Engine (a user's, the session's hostile foreign ones) are not this test's to judge."""
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, "-m", "dockwarden", "containers", *containers["names"], "--host",
         engine_url, "--format", "json", "--no-progress", "--fail-on", "none", "--no-images"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    refs = {f["target"]["ref"] for f in out["findings"]}
    assert refs <= set(containers["names"]), refs - set(containers["names"])
    out["_stdout"] = proc.stdout
    return out


@pytest.mark.parametrize("index", range(len(BAD)),
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD)])
def test_bad_container_fires(index: int, containers: dict[str, Any],
                             report: dict[str, Any]) -> None:
    check, severity, name = containers["bad"][index]
    hits = findings(report, check, name)
    assert hits, f"{check} did not fire on {name}"
    assert hits[0]["severity"] == severity
    assert hits[0]["target"]["kind"] == "container"
    assert hits[0]["source"] == "engine"
    assert len(hits[0]["target"]["id"]) == 64


def test_hardened_containers_are_silent(containers: dict[str, Any],
                                        report: dict[str, Any]) -> None:
    for key in ("good", "good_net"):
        hits = findings(report, ref=containers[key])
        ids = sorted(f["check"] for f in hits)
        # DW234 is informational for any networked container: Docker has no bandwidth limit.
        expected = [] if key == "good" else ["DW234"]
        assert ids == expected, f"{containers[key]} still fires {ids}"


def test_silent_checks_on_hardened_are_passes_not_skips(containers: dict[str, Any],
                                                        report: dict[str, Any]) -> None:
    skipped = {s["check"] for s in report["skipped"]
               if s["target"]["ref"] == containers["good"]}
    # Only the checks that cannot apply here may be skipped: AppArmor / SELinux
    # (not on this host), sshd (needs a running container's processes: it is running).
    assert skipped <= {"DW211", "DW212"}, skipped


def test_sshd_process_detected(containers: dict[str, Any], report: dict[str, Any]) -> None:
    hits = findings(report, "DW225", containers["sshd"])
    assert hits and hits[0]["severity"] == "low"
    assert any("sshd" in p for p in hits[0]["evidence"]["processes"])
    assert not findings(report, "DW225", containers["exec"])


def test_root_exec_session_detected(containers: dict[str, Any], report: dict[str, Any]) -> None:
    hits = findings(report, "DW231", containers["exec"])
    assert hits and hits[0]["severity"] == "medium"
    assert hits[0]["evidence"]["user"] == "root"
    assert not findings(report, "DW231", containers["sshd"])


def test_apparmor_and_selinux_skip_on_hosts_without_them(containers: dict[str, Any],
                                                         report: dict[str, Any]) -> None:
    """This host has neither module: an unconfined option cannot weaken anything, so the
    checks are skipped with that reason rather than passed or fired."""
    name = next(n for c, _, n in containers["bad"] if c == "DW202")  # Docker adds label=disable
    skips = [s for s in report["skipped"] if s["target"]["ref"] == name
             and s["check"] == "DW212"]
    assert skips and "SELinux" in skips[0]["reason"]


def test_secret_value_never_printed(containers: dict[str, Any], report: dict[str, Any],
                                    engine_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert SECRET not in report["_stdout"]
    name = next(n for c, _, n in containers["bad"] if c == "DW233")
    hit = findings(report, "DW233", name)
    assert hit and hit[0]["evidence"]["variable"] == "DB_PASSWORD"
    for fmt in ("text", "sarif", "junit"):
        code, out, err = run_cli(["containers", name, "--host", engine_url, "--format", fmt,
                                  "--no-progress", "--fail-on", "none"], capsys)
        assert code == 0, err
        assert SECRET not in out and SECRET not in err
        assert "DW233" in out


def test_containers_command_limits_to_named(containers: dict[str, Any], engine_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, rep = run_json(["containers", containers["good"], "--host", engine_url,
                          "--fail-on", "none", "--no-images"], capsys)
    refs = {f["target"]["ref"] for f in rep["findings"]} | {
        s["target"]["ref"] for s in rep["skipped"]}
    assert refs <= {containers["good"]}
    assert not any(f["target"]["kind"] in ("daemon", "host") for f in rep["findings"])


def test_sshd_found_through_the_api_when_proc_is_not_used(
        containers: dict[str, Any], engine_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With --no-local (as for a remote Engine) processes come from /containers/{id}/top."""
    _, rep = run_json(["containers", containers["sshd"], containers["good"], "--host",
                       engine_url, "--no-local", "--fail-on", "none"], capsys)
    hits = findings(rep, "DW225", containers["sshd"])
    assert hits and any("sshd" in p for p in hits[0]["evidence"]["processes"])
    assert not findings(rep, "DW225", containers["good"])
