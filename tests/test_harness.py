"""Self-tests of the live-Docker test harness."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import docker
import pytest

from harness import (
    LABEL,
    ExtraDaemon,
    api_client,
    busybox_image,
    ensure_engine,
    free_port,
    make_tls,
    ping,
    run_container,
    tls_config,
)

pytestmark = pytest.mark.live

WEAK_CONFIG = {
    "experimental": True,
    "debug": True,
    "insecure-registries": ["registry.example.test:5000"],
    "iptables": False,
    "log-driver": "json-file",
}


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def engine_url() -> str:
    return ensure_engine()


@pytest.fixture(scope="module")
def api(engine_url: str) -> docker.APIClient:
    return api_client(engine_url)


def test_main_engine_reachable(engine_url: str, api: docker.APIClient) -> None:
    assert ensure_engine() == engine_url  # idempotent
    assert api.ping()
    assert api.version()["ApiVersion"]


def test_busybox_echo(api: docker.APIClient) -> None:
    image = busybox_image(api)
    assert image == "dwtest/busybox:1"
    cfg = api.inspect_image(image)["Config"]
    assert cfg["Cmd"] == ["/bin/sleep", "3600"]
    assert cfg["Labels"]["dockwarden.test"] == "1"
    cid, code, logs = run_container(api, ["echo", "hi"])
    try:
        assert code == 0
        assert logs.strip() == b"hi"
        assert api.inspect_container(cid)["Config"]["Labels"].items() >= LABEL.items()
    finally:
        api.remove_container(cid, force=True)
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(cid)


@pytest.mark.slow
def test_extra_daemon_weak_config(engine_url: str) -> None:
    with ExtraDaemon(WEAK_CONFIG) as d:
        assert d.startup_seconds is not None and d.startup_seconds < 60
        info = d.client().info()
        assert info["ExperimentalBuild"] is True
        assert info["Debug"] is True
        assert info["DockerRootDir"] == d.data_root
        assert "registry.example.test:5000" in str(info["RegistryConfig"])
        assert _link_exists(d.bridge)
        bridge, dir_ = d.bridge, d.dir
    assert not _link_exists(bridge)
    assert not os.path.exists(dir_)
    assert _link_exists("docker0")
    assert ping(engine_url)


@pytest.mark.slow
def test_extra_daemon_tcp_plain(engine_url: str) -> None:
    port = free_port()
    with ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{port}"]) as d:
        assert d.tcp_hosts == [f"tcp://127.0.0.1:{port}"]
        assert ping(f"tcp://127.0.0.1:{port}")
        assert d.tcp_client().info()["ID"] == d.client().info()["ID"]
        assert docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", version="auto").ping()
    assert ping(engine_url)


@pytest.mark.slow
def test_extra_daemon_tls_no_client_cert(tmp_path, engine_url: str) -> None:
    certs = make_tls(tmp_path / "certs")
    port = free_port()
    with ExtraDaemon(
        {"iptables": False},
        hosts=[f"tcp://127.0.0.1:{port}"],
        tls={"cert": certs["cert"], "key": certs["key"]},
        tlsverify=False,
    ) as d:
        assert d.config["tls"] is True and d.config["tlsverify"] is False
        # verified against our CA, no client cert
        assert d.tcp_client(tls_config(ca=certs["ca"])).ping()
        assert ping(f"https://127.0.0.1:{port}", tls=tls_config(ca=certs["ca"]))
        # plain HTTP against the TLS port must fail
        assert not ping(f"tcp://127.0.0.1:{port}", timeout=3)
    assert ping(engine_url)


@pytest.mark.slow
def test_extra_daemon_import_run_and_clean_teardown(engine_url: str) -> None:
    """Import busybox into a fresh daemon, leave a container + network behind; teardown copes."""
    with ExtraDaemon({"iptables": False, "live-restore": True}) as d:
        api = d.client()
        assert api.images() == []
        assert busybox_image(api) == "dwtest/busybox:1"
        _cid, code, logs = run_container(api, ["id", "-u"])
        assert (code, logs.strip()) == (0, b"0")
        net = api.create_network("dwtestnet", driver="bridge", labels=LABEL)["Id"]
        bridge_link = f"br-{net[:12]}"
        assert _link_exists(bridge_link)
        sleeper, _, _ = run_container(api, None, wait=False)
        api.connect_container_to_network(sleeper, net)
        assert api.inspect_container(sleeper)["State"]["Running"]
        root, namespace = d.dir, d.namespace
    assert not _link_exists(bridge_link)
    assert not os.path.exists(root)
    with open("/proc/self/mountinfo") as fh:
        assert root not in fh.read()
    leftovers = subprocess.run(["pgrep", "-f", namespace], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
    assert ping(engine_url)


@pytest.mark.slow
def test_extra_daemon_iptables_enabled_restores_main_rules(engine_url: str) -> None:
    def rules() -> set[str]:
        out = ""
        for table in ("filter", "nat"):
            out += subprocess.run(
                ["iptables", "-t", table, "-S"], capture_output=True, text=True
            ).stdout
        return {ln for ln in out.splitlines() if ln.startswith("-A ")}

    before = rules()
    with ExtraDaemon({"iptables": True}) as d:
        assert d.iptables_enabled
        during = rules()
        assert any(d.bridge in r for r in during)
        bridge = d.bridge
    after = rules()
    assert not any(bridge in r for r in after)
    assert before <= after, sorted(before - after)
    assert ping(engine_url)


def test_bad_hosts_rejected() -> None:
    with pytest.raises(ValueError):
        ExtraDaemon(hosts=["tcp://0.0.0.0:2375"])
    with pytest.raises(ValueError):
        ExtraDaemon(hosts=["tcp://:2375"])
    with pytest.raises(ValueError):
        ExtraDaemon({"bridge": "none"})


def test_make_tls_variants(tmp_path) -> None:
    from cryptography import x509

    p = make_tls(tmp_path / "weak", server_days=-1, server_key_size=1024)
    cert = x509.load_pem_x509_certificate(Path(p["cert"]).read_bytes())
    assert cert.public_key().key_size == 1024
    assert cert.not_valid_after_utc.timestamp() < time.time()
    p = make_tls(tmp_path / "soon", server_days=0.5)
    cert = x509.load_pem_x509_certificate(Path(p["cert"]).read_bytes())
    assert 0 < cert.not_valid_after_utc.timestamp() - time.time() < 86400
