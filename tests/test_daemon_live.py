"""DW101-DW137 against real daemons and the real host.

Extra dockerds (tests/harness/daemons.py) are configured weak or hardened and audited
with `dockwarden daemon --host unix://<socket> --format json`, in-process. Each daemon
is started once per module; the ones that touch shared host state (iptables, swarm's
docker_gwbridge, the dockremap user, a plugin socket in /run/docker/plugins, loop
filesystems) are audited straight away and stopped again inside their fixture.
Nothing listens beyond 127.0.0.1: DW103 firing is covered by test_daemon_unit.py.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import socketserver
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import docker
import pytest

from conftest import findings, run_json
from dockwarden import cli
from dockwarden.checks.host import AUDIT_TARGETS, KERNEL_LIMIT_FLOORS
from harness import DaemonStartError, ExtraDaemon, busybox_image, free_port, make_tls

pytestmark = [pytest.mark.live, pytest.mark.slow]

WEAK_CONFIG: dict[str, Any] = {
    "experimental": True,
    "debug": True,
    "insecure-registries": ["registry.example.test:5000"],
    "iptables": False,
    "log-driver": "json-file",
    "icc": True,
}
HARDENED_CONFIG: dict[str, Any] = {
    "icc": False,  # needs iptables: the harness restores the main Engine's rules after
    "iptables": True,
    "no-new-privileges": True,
    "live-restore": True,
    "userland-proxy": False,
    "log-opts": {"max-size": "10m"},
    "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
    # "seccomp-profile" is left out: it already is the default, and dockerd 20.10 reads
    # any value ("default" too) as a file name.
}
LOOP_FS_BYTES = 512 << 20


# --------------------------------------------------------------------------- helpers


def audit(*args: str) -> tuple[int, dict[str, Any]]:
    """Run the CLI in-process with a JSON report written to a file (no capsys needed)."""
    fd, path = tempfile.mkstemp(prefix="dw-report-", suffix=".json")
    os.close(fd)
    try:
        code = cli.main([*args, "--format", "json", "--no-progress", "--output", path])
        with open(path, encoding="utf-8") as fh:
            return code, json.load(fh)
    finally:
        os.unlink(path)


def audit_daemon(url: str, *extra: str) -> dict[str, Any]:
    code, report = audit("daemon", "--host", url, *extra)
    report["_exit"] = code
    assert report["errors"] == [], report["errors"]
    return report


def one(report: dict[str, Any], check: str, severity: str | None = None,
        kind: str = "daemon") -> dict[str, Any]:
    found = findings(report, check)
    assert len(found) == 1, f"{check}: expected one finding, got {found}"
    f = found[0]
    if severity:
        assert f["severity"] == severity, f
    assert f["target"]["kind"] == kind, f
    return f


def silent(report: dict[str, Any], check: str) -> None:
    """Judged and passed: no finding, and not skipped for want of facts."""
    assert findings(report, check) == [], findings(report, check)
    skipped = {s["check"]: s["reason"] for s in report["skipped"]}
    assert check not in skipped, f"{check} skipped: {skipped.get(check)}"


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {res.stderr.strip()}")
    return res


def _ensure_tool(tool: str, package: str) -> None:
    if shutil.which(tool):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package],
                   env=env, capture_output=True)
    if not shutil.which(tool):
        pytest.skip(f"{tool} missing and `apt-get install {package}` failed")


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    return sorted((p for p in points if p == path or p.startswith(path + "/")),
                  key=len, reverse=True)


@contextlib.contextmanager
def loop_filesystem(fstype: str, options: tuple[str, ...] = ()) -> Iterator[tuple[str, bool]]:
    """A fresh `fstype` on a loop device; yields (mountpoint, mounted with `options`).

    If the kernel refuses `options` (e.g. xfs quotas compiled out), the filesystem is
    mounted without them. Mounts, loop device and image are removed on exit.
    """
    mkfs = {"xfs": ("mkfs.xfs", "xfsprogs"), "btrfs": ("mkfs.btrfs", "btrfs-progs")}[fstype]
    _ensure_tool(*mkfs)
    base = tempfile.mkdtemp(prefix=f"dw-{fstype}-", dir="/tmp")
    image, mnt = f"{base}/fs.img", f"{base}/mnt"
    os.mkdir(mnt)
    with open(image, "wb") as fh:
        fh.truncate(LOOP_FS_BYTES)
    loop = ""
    try:
        _sh(mkfs[0], "-q", image)
        loop = _sh("losetup", "--find", "--show", image).stdout.strip()
        with_options = bool(options)
        if options and _sh("mount", "-o", ",".join(options), loop, mnt,
                           check=False).returncode != 0:
            with_options = False
        if not with_options:
            _sh("mount", loop, mnt)
        yield mnt, with_options
    finally:
        for point in _mounts_under(mnt):
            if _sh("umount", point, check=False).returncode != 0:
                _sh("umount", "-l", point, check=False)
        if loop:
            _sh("losetup", "-d", loop, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _weak_tls(directory: Path) -> dict[str, str]:
    """Server certificate expiring in 5 days, RSA 1024, SHA-1 signature."""
    try:
        return make_tls(directory, server_days=5, server_key_size=1024, hash_name="sha1")
    except Exception as exc:  # cryptography >= 45 refuses to sign with SHA-1
        if "sha1" not in str(exc).lower() or not shutil.which("openssl"):
            raise
    paths = make_tls(directory, server_days=5, server_key_size=1024)
    _sh("openssl", "req", "-x509", "-newkey", "rsa:1024", "-sha1", "-days", "5", "-nodes",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", paths["key"], "-out", paths["cert"])
    os.chmod(paths["key"], 0o600)
    return paths


# --------------------------------------------------------------------------- daemons


@pytest.fixture(scope="module")
def weak(engine_url: str) -> Iterator[ExtraDaemon]:
    port = free_port()
    with ExtraDaemon({**WEAK_CONFIG, "hosts": [f"tcp://127.0.0.1:{port}"]}) as d:
        yield d


@pytest.fixture(scope="module")
def weak_report(weak: ExtraDaemon) -> dict[str, Any]:
    return audit_daemon(weak.url)


@pytest.fixture(scope="module")
def main_report(engine_url: str) -> dict[str, Any]:
    return audit_daemon(engine_url)


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dw-tls")


@pytest.fixture(scope="module")
def tls_weak(tls_dir: Path, engine_url: str) -> Iterator[tuple[ExtraDaemon, dict[str, str]]]:
    """TLS without client verification, and a weak, expiring server certificate."""
    certs = _weak_tls(tls_dir / "weak")
    with ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"],
                     tls={"cert": certs["cert"], "key": certs["key"]}, tlsverify=False) as d:
        yield d, certs


@pytest.fixture(scope="module")
def tls_good(tls_dir: Path, engine_url: str) -> Iterator[tuple[ExtraDaemon, dict[str, str]]]:
    """--tlsverify with a CA, and a sound certificate valid for a year."""
    certs = make_tls(tls_dir / "good", server_days=365)
    with ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"],
                     tls={"cert": certs["cert"], "key": certs["key"], "ca": certs["ca"]},
                     tlsverify=True) as d:
        yield d, certs


@pytest.fixture(scope="module")
def hardened_report(engine_url: str) -> dict[str, Any]:
    """Audited and stopped at once: with iptables on it rebuilds the shared DOCKER chains."""
    with ExtraDaemon(HARDENED_CONFIG) as d:
        info = d.client().info()
        assert info["LiveRestoreEnabled"] is True
        return audit_daemon(d.url)


@pytest.fixture(scope="module")
def userns_report(engine_url: str) -> Iterator[dict[str, Any]]:
    try:
        pwd.getpwnam("dockremap")
        had_dockremap = True
    except KeyError:
        had_dockremap = False
    try:
        with ExtraDaemon({"userns-remap": "default"}) as d:
            info = d.client().info()
            assert "name=userns" in info["SecurityOptions"], info["SecurityOptions"]
            report = audit_daemon(d.url)
    except DaemonStartError as exc:
        pytest.skip(f"userns-remap=default does not work on this host: {str(exc)[-300:]}")
    finally:
        if not had_dockremap:  # dockerd created it (and its subuid/subgid ranges)
            _sh("userdel", "dockremap", check=False)
    yield report


class _AuthzHandler(BaseHTTPRequestHandler):
    """A Docker authorization plugin that allows everything and remembers each call."""

    protocol_version = "HTTP/1.1"
    calls: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def address_string(self) -> str:  # a unix socket peer has no address
        return "unix"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.calls.append(self.path)
        answer = {"Implements": ["authz"]} if self.path == "/Plugin.Activate" else {
            "Allow": True}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def authz_report(engine_url: str) -> dict[str, Any]:
    name = f"dwtestauthz{os.getpid()}"
    os.makedirs("/run/docker/plugins", exist_ok=True)
    path = f"/run/docker/plugins/{name}.sock"
    handler = type("Handler", (_AuthzHandler,), {"calls": []})
    server = _UnixHTTPServer(path, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with ExtraDaemon({"authorization-plugins": [name]}) as d:
            assert d.client().info()["Plugins"]["Authorization"] == [name]
            report = audit_daemon(d.url)
    finally:
        server.shutdown()
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    report["_plugin"] = name
    report["_calls"] = list(handler.calls)
    return report


@pytest.fixture(scope="module")
def swarm_report(engine_url: str) -> dict[str, Any]:
    if _sh("ip", "link", "show", "dev", "docker_gwbridge", check=False).returncode == 0:
        pytest.skip("docker_gwbridge exists already (another swarm daemon): the harness "
                    "teardown would delete it")
    with ExtraDaemon({}) as d:
        api = d.client()
        try:
            api.init_swarm(advertise_addr="127.0.0.1",
                           listen_addr=f"127.0.0.1:{free_port()}")
        except docker.errors.APIError as exc:
            pytest.skip(f"swarm init refused: {exc.explanation}")
        # docker_gwbridge appears a moment later; wait for it so that the harness sees
        # (and deletes) it at teardown rather than leaving the bridge on the host.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                n["Name"] == "docker_gwbridge" for n in api.networks()):
            time.sleep(0.2)
        return audit_daemon(d.url)


@pytest.fixture(scope="module")
def seccomp_allow_all(tmp_path_factory: pytest.TempPathFactory,
                      engine_url: str) -> tuple[dict[str, Any], str]:
    """A daemon-wide seccomp profile that allows every system call (20.10 knows no
    "unconfined" keyword: this is how such an Engine is left unconfined)."""
    profile = tmp_path_factory.mktemp("dw-seccomp") / "allow-all.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}))
    with ExtraDaemon({"seccomp-profile": str(profile)}) as d:
        options = d.client().info()["SecurityOptions"]
        assert f"name=seccomp,profile={profile}" in options, options
        return audit_daemon(d.url), str(profile)


def _storage_opt_container(api: Any) -> tuple[int | None, str]:
    """Run a busybox container with `--storage-opt size=20M`: (exit code, error)."""
    image = busybox_image(api)
    try:
        cid = api.create_container(image, command=["true"], host_config=api.create_host_config(
            storage_opt={"size": "20M"}))["Id"]
    except docker.errors.APIError as exc:
        return None, str(exc.explanation)
    try:
        api.start(cid)
        return int(api.wait(cid, timeout=60)["StatusCode"]), ""
    finally:
        api.remove_container(cid, force=True)


@pytest.fixture(scope="module")
def xfs_daemon(engine_url: str) -> dict[str, Any]:
    with loop_filesystem("xfs", ("pquota",)) as (mnt, pquota), \
            ExtraDaemon({"data-root": f"{mnt}/docker"}) as d:
        api = d.client()
        assert dict(api.info()["DriverStatus"])["Backing Filesystem"] == "xfs"
        report = audit_daemon(d.url)
        code, error = _storage_opt_container(api)
    return {"report": report, "pquota": pquota, "code": code, "error": error}


@pytest.fixture(scope="module")
def btrfs_daemon(engine_url: str) -> dict[str, Any]:
    with loop_filesystem("btrfs") as (mnt, _), \
            ExtraDaemon({"data-root": f"{mnt}/docker", "storage-driver": "btrfs"}) as d:
        api = d.client()
        assert api.info()["Driver"] == "btrfs"
        report = audit_daemon(d.url)
        code, error = _storage_opt_container(api)
    return {"report": report, "code": code, "error": error}


# --------------------------------------------------------------------------- weak daemon


def test_weak_daemon_plain_tcp_is_dw101(weak: ExtraDaemon,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(["daemon", "--host", weak.url], capsys)
    assert code == 1  # critical >= the default --fail-on high
    assert report["complete"] is True and report["errors"] == []
    f = one(report, "DW101", "critical", kind="daemon")
    assert f["target"]["ref"] == weak.url
    assert f["evidence"]["hosts"] == weak.tcp_hosts
    assert f["evidence"]["tls"] is False
    silent(report, "DW103")  # 127.0.0.1: containers cannot reach it
    silent(report, "DW102")


WEAK_FIRES = [
    ("DW104", "medium"), ("DW105", "medium"), ("DW106", "high"), ("DW108", "low"),
    ("DW109", "medium"), ("DW110", "low"), ("DW111", "medium"), ("DW112", "medium"),
    ("DW113", "low"), ("DW114", "low"), ("DW115", "medium"), ("DW116", "low"),
    ("DW118", "info"), ("DW120", "medium"),
]


@pytest.mark.parametrize(("check", "severity"), WEAK_FIRES, ids=[c for c, _ in WEAK_FIRES])
def test_weak_daemon_fires(check: str, severity: str, weak: ExtraDaemon,
                           weak_report: dict[str, Any]) -> None:
    f = one(weak_report, check, severity)
    assert f["target"]["ref"] == weak.url


def test_weak_daemon_evidence(weak_report: dict[str, Any]) -> None:
    ev = {f["check"]: f["evidence"] for f in weak_report["findings"]}
    assert ev["DW106"] == {"insecure_registries": ["registry.example.test:5000"]}
    assert ev["DW105"] == {"iptables": False}
    assert ev["DW115"] == {"ExperimentalBuild": True}
    assert ev["DW116"] == {"Debug": True}
    assert ev["DW104"]["com.docker.network.bridge.enable_icc"] == "true"
    assert ev["DW111"]["LoggingDriver"] == "json-file"
    assert ev["DW120"]["Driver"] == "overlay2"  # data root under /tmp: ext4 on this VM


@pytest.mark.parametrize("check", ["DW102", "DW103", "DW107", "DW117", "DW121", "DW133",
                                   "DW134", "DW136"])
def test_weak_daemon_silent(check: str, weak_report: dict[str, Any]) -> None:
    silent(weak_report, check)


def test_weak_daemon_reached_over_plain_tcp(weak: ExtraDaemon,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = weak.tcp_hosts[0]
    code, report = run_json(["daemon", "--host", url], capsys)
    assert code == 1
    f = one(report, "DW101", "critical")
    assert f["target"]["ref"] == url
    assert f["message"] == "dockwarden itself reached the API over plain TCP"
    silent(report, "DW103")  # the local dockerd was found by its TCP port


def test_dw133_socket_mode(weak: ExtraDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    before = stat.S_IMODE(os.stat(weak.socket).st_mode)
    try:
        os.chmod(weak.socket, 0o666)
        _, report = run_json(["daemon", "--host", weak.url], capsys)
        f = one(report, "DW133", "high", kind="host")
        assert f["evidence"]["path"] == weak.socket
        assert f["evidence"]["mode"] == "0o666"
        assert f["message"] == "accessible to other users"
        os.chmod(weak.socket, 0o660)
        _, report = run_json(["daemon", "--host", weak.url], capsys)
        silent(report, "DW133")
    finally:
        os.chmod(weak.socket, before)


def test_dw134_daemon_json_mode(weak: ExtraDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    before = stat.S_IMODE(os.stat(weak.config_path).st_mode)
    try:
        os.chmod(weak.config_path, 0o666)
        _, report = run_json(["daemon", "--host", weak.url], capsys)
        mine = [f for f in findings(report, "DW134")
                if f["evidence"]["path"] == weak.config_path]
        assert len(mine) == 1, findings(report, "DW134")
        assert mine[0]["severity"] == "medium"
        assert mine[0]["evidence"]["role"] == "daemon.json"
        assert mine[0]["message"] == "mode 0o666 wider than 0o644"
        os.chmod(weak.config_path, 0o644)
        _, report = run_json(["daemon", "--host", weak.url], capsys)
        silent(report, "DW134")
    finally:
        os.chmod(weak.config_path, before)


def test_dw130_data_root_on_the_root_filesystem(weak: ExtraDaemon,
                                                weak_report: dict[str, Any]) -> None:
    if os.stat(weak.data_root).st_dev != os.stat("/").st_dev:
        pytest.skip("/tmp is not on the root filesystem here")
    assert os.path.exists(os.path.join(weak.exec_root, "unmount-on-shutdown"))
    f = one(weak_report, "DW130", "low", kind="host")
    assert f["evidence"]["DockerRootDir"] == weak.data_root


# --------------------------------------------------------------------------- TLS


def test_dw102_tls_without_client_verification(
        tls_weak: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, _ = tls_weak
    report = audit_daemon(d.url)
    f = one(report, "DW102", "critical")
    assert f["evidence"] == {"hosts": d.tcp_hosts, "tls": True, "tlsverify": False}
    silent(report, "DW101")
    silent(report, "DW103")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_dw102_reached_over_tls(tls_weak: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, _ = tls_weak
    url = d.tcp_hosts[0]
    report = audit_daemon(url, "--tls")
    f = one(report, "DW102", "critical")
    assert f["target"]["ref"] == url
    silent(report, "DW101")


def test_dw136_weak_expiring_certificate(tls_weak: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, certs = tls_weak
    report = audit_daemon(d.url)
    mine = [f for f in findings(report, "DW136") if f["evidence"]["path"] == certs["cert"]]
    assert len(mine) == 1, findings(report, "DW136")
    f = mine[0]
    assert f["severity"] == "medium" and f["target"]["kind"] == "host"
    assert f["message"].startswith("expires in 4 days") or f["message"].startswith(
        "expires in 5 days"), f["message"]
    assert "weak RSA 1024-bit key" in f["message"]
    assert "sha1 signature" in f["message"]
    assert f["evidence"]["key"] == "RSA 1024"


def test_tlsverify_daemon_passes_dw101_dw102_dw136(
        tls_good: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, _ = tls_good
    report = audit_daemon(d.url)
    for check in ("DW101", "DW102", "DW103", "DW136"):
        silent(report, check)


def test_tlsverify_daemon_reached_with_a_client_certificate(
        tls_good: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, certs = tls_good
    report = audit_daemon(d.tcp_hosts[0], "--tlsverify", "--tlscacert", certs["ca"],
                          "--tlscert", certs["client_cert"], "--tlskey", certs["client_key"])
    assert report["complete"] is True
    for check in ("DW101", "DW102", "DW136"):
        silent(report, check)


def test_dw134_tls_key_modes(tls_good: tuple[ExtraDaemon, dict[str, str]]) -> None:
    d, certs = tls_good
    key = certs["key"]

    def key_finding() -> dict[str, Any] | None:
        found = [f for f in findings(audit_daemon(d.url), "DW134")
                 if f["evidence"]["path"] == key]
        assert len(found) <= 1
        return found[0] if found else None

    try:
        os.chmod(key, 0o600)
        f = key_finding()
        assert f is not None and f["severity"] == "medium"
        assert f["evidence"]["role"] == "tls key"
        assert f["message"] == "mode 0o600 wider than 0o400"
        os.chmod(key, 0o644)  # readable by everyone: raised to high
        f = key_finding()
        assert f is not None and f["severity"] == "high"
        os.chmod(key, 0o400)
        assert key_finding() is None
    finally:
        os.chmod(key, 0o600)


# --------------------------------------------------------------------------- hardened


HARDENED_SILENT = ["DW101", "DW102", "DW103", "DW104", "DW105", "DW106", "DW108", "DW111",
                   "DW112", "DW113", "DW114", "DW115", "DW116", "DW117", "DW121"]


@pytest.mark.parametrize("check", HARDENED_SILENT)
def test_hardened_daemon_silent(check: str, hardened_report: dict[str, Any]) -> None:
    silent(hardened_report, check)


def test_userns_remap_daemon_dw109_silent(userns_report: dict[str, Any]) -> None:
    silent(userns_report, "DW109")


def test_authorization_plugin_daemon_dw110_silent(authz_report: dict[str, Any]) -> None:
    silent(authz_report, "DW110")
    # the plugin was really in the request path
    assert "/Plugin.Activate" in authz_report["_calls"]
    assert "/AuthZPlugin.AuthZReq" in authz_report["_calls"]
    assert "/AuthZPlugin.AuthZRes" in authz_report["_calls"]
    assert not os.path.exists(f"/run/docker/plugins/{authz_report['_plugin']}.sock")


def test_swarm_daemon_dw121(swarm_report: dict[str, Any],
                            weak_report: dict[str, Any]) -> None:
    f = one(swarm_report, "DW121", "info")
    assert f["evidence"] == {"Swarm.LocalNodeState": "active"}
    silent(weak_report, "DW121")


def test_dw117_allow_all_seccomp_profile(seccomp_allow_all: tuple[dict[str, Any], str]) -> None:
    report, _ = seccomp_allow_all
    one(report, "DW117", "high")


def test_dw117_default_profile_silent(weak_report: dict[str, Any],
                                      hardened_report: dict[str, Any]) -> None:
    silent(weak_report, "DW117")
    silent(hardened_report, "DW117")


# --------------------------------------------------------------------------- storage


def test_dw120_overlay2_on_xfs(xfs_daemon: dict[str, Any]) -> None:
    report = xfs_daemon["report"]
    if xfs_daemon["pquota"]:
        silent(report, "DW120")
        assert xfs_daemon["code"] == 0, xfs_daemon["error"]
    else:
        # this kernel has no xfs quota support: overlay2 on xfs without pquota is the
        # bad case, and the Engine indeed refuses --storage-opt size
        f = one(report, "DW120", "medium")
        assert f["evidence"]["BackingFilesystem"] == "xfs"
        assert "pquota" not in f["evidence"]["mount_options"]
        assert xfs_daemon["code"] is None
        assert "pquota" in xfs_daemon["error"]
    silent(report, "DW130")  # the data root is its own filesystem


def test_dw120_btrfs_enforces_quotas(btrfs_daemon: dict[str, Any]) -> None:
    report = btrfs_daemon["report"]
    silent(report, "DW120")
    silent(report, "DW130")
    assert btrfs_daemon["code"] == 0, btrfs_daemon["error"]


# --------------------------------------------------------------------------- main Engine


def test_main_engine_is_judged_on_every_host_check(main_report: dict[str, Any]) -> None:
    skipped = {s["check"]: s["reason"] for s in main_report["skipped"]}
    assert not {c for c in skipped if c.startswith("DW1")}, skipped


def test_main_engine_dw119_end_of_life(main_report: dict[str, Any], api: Any) -> None:
    version = api.version()["Version"]
    f = one(main_report, "DW119", "medium")
    assert f["evidence"]["ServerVersion"] == version
    if version.startswith("20.10."):
        assert f["evidence"]["end_of_life"] == "2023-12-10"


def test_main_engine_dw120(main_report: dict[str, Any], api: Any) -> None:
    info = api.info()
    backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
    if info["Driver"] == "overlay2" and backing != "xfs":
        f = one(main_report, "DW120", "medium")
        assert f["evidence"] == {"Driver": "overlay2", "BackingFilesystem": backing}
    else:
        pytest.skip(f"main Engine uses {info['Driver']} on {backing or '?'}")


def _pids_controller() -> bool:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "pids" in Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
    for line in Path("/proc/cgroups").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "pids":
            return fields[3] == "1"
    return False


def test_main_engine_dw135_pids(main_report: dict[str, Any]) -> None:
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if (major, minor) >= (4, 2) and _pids_controller():
        silent(main_report, "DW135")
    else:
        one(main_report, "DW135", "high", kind="host")


def test_main_engine_dw137_reads_the_real_limits(main_report: dict[str, Any]) -> None:
    real = {key: int(Path("/proc/sys", key.replace(".", "/")).read_text().split()[0])
            for key in KERNEL_LIMIT_FLOORS}
    low = {k: v for k, v in real.items() if v < KERNEL_LIMIT_FLOORS[k]}
    if low:
        f = one(main_report, "DW137", "low", kind="host")
        assert f["evidence"]["low"] == low
    else:
        silent(main_report, "DW137")


def test_main_engine_dw131_docker_group(main_report: dict[str, Any]) -> None:
    gid = os.stat("/var/run/docker.sock").st_gid
    members = set(grp.getgrgid(gid).gr_mem) | {
        p.pw_name for p in pwd.getpwall() if p.pw_gid == gid}
    if members:
        f = one(main_report, "DW131", "medium", kind="host")
        assert f["evidence"]["members"] == sorted(members)
    else:
        silent(main_report, "DW131")


def test_main_engine_dw132_audit_rules(main_report: dict[str, Any]) -> None:
    auditctl = shutil.which("auditctl")
    res = _sh(auditctl, "-l", check=False) if auditctl else None
    if res is None or res.returncode != 0 or res.stdout.strip() != "No rules":
        pytest.skip("auditctl unusable here, or rules are loaded")
    f = one(main_report, "DW132", "low", kind="host")
    assert f["evidence"] == {"not_watched": [alts[0] for alts in AUDIT_TARGETS], "rules": 0}


def test_main_engine_dw133_dw134_dw136_silent(main_report: dict[str, Any]) -> None:
    st = os.stat("/var/run/docker.sock")
    if st.st_uid != 0 or st.st_mode & 0o007:
        pytest.skip("the main socket is not root-owned 0660 on this host")
    silent(main_report, "DW133")
    silent(main_report, "DW136")  # no TLS: nothing to judge, and nothing wrong
