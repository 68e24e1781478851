"""Engine connection as the docker CLI: DOCKER_HOST, DOCKER_TLS_VERIFY/DOCKER_CERT_PATH,
--tls* flags and Docker contexts, against real daemons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockwarden.collect.connection import EngineOptions, resolve
from harness.daemons import ExtraDaemon, free_port, make_tls

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _audit(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("DOCKER_", "REQUESTS_CA", "SSL_CERT"))}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "dockwarden", "daemon", "--format", "json",
                           "--no-progress", "--fail-on", "none", *args],
                          capture_output=True, text=True, timeout=120, env=full_env)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, report, proc.stderr


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory) -> Any:
    certs = tmp_path_factory.mktemp("certs")
    paths = make_tls(certs)
    port = free_port()
    with ExtraDaemon(hosts=[f"tcp://127.0.0.1:{port}"],
                     tls={"cert": paths["cert"], "key": paths["key"], "ca": paths["ca"]},
                     tlsverify=True) as d:
        client_dir = certs / "client"
        client_dir.mkdir()
        shutil.copy(paths["ca"], client_dir / "ca.pem")
        shutil.copy(paths["client_cert"], client_dir / "cert.pem")
        shutil.copy(paths["client_key"], client_dir / "key.pem")
        yield d, port, paths, client_dir


def _checks(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"]}


def test_docker_host_env_unix(tls_daemon: Any) -> None:
    d, *_ = tls_daemon
    code, rep, err = _audit(env={"DOCKER_HOST": d.url})
    assert code == 0, err
    assert rep["targets"][0]["ref"] == d.url
    # The local dockerd behind this socket was found: its own daemon.json was read.
    assert not any(s["check"] == "DW112" for s in rep["skipped"])


def test_tls_verify_env(tls_daemon: Any) -> None:
    _, port, _, client_dir = tls_daemon
    code, rep, err = _audit(env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}",
                                 "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(client_dir)})
    assert code == 0, err
    assert rep["targets"][0]["ref"] == f"tcp://127.0.0.1:{port}"
    assert not {"DW101", "DW102"} & _checks(rep)


def test_tls_flags(tls_daemon: Any) -> None:
    _, port, paths, _ = tls_daemon
    code, rep, err = _audit("--host", f"tcp://127.0.0.1:{port}", "--tlsverify",
                            "--tlscacert", paths["ca"], "--tlscert", paths["client_cert"],
                            "--tlskey", paths["client_key"])
    assert code == 0, err
    assert not {"DW101", "DW102"} & _checks(rep)


def test_tls_daemon_refuses_client_without_certificate(tls_daemon: Any) -> None:
    _, port, paths, _ = tls_daemon
    code, _, err = _audit("--host", f"tcp://127.0.0.1:{port}", "--tlsverify",
                          "--tlscacert", paths["ca"])
    assert code == 3
    assert "Traceback" not in err and "cannot reach" in err


def test_docker_context(tls_daemon: Any, tmp_path: Path) -> None:
    d, port, _, client_dir = tls_daemon
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config)}
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed")
    base = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}, **env}
    subprocess.run([docker, "context", "create", "dwunix", "--docker", f"host={d.url}"],
                   check=True, env=base, capture_output=True)
    subprocess.run([docker, "context", "create", "dwtls", "--docker",
                    f"host=tcp://127.0.0.1:{port},ca={client_dir}/ca.pem,"
                    f"cert={client_dir}/cert.pem,key={client_dir}/key.pem"],
                   check=True, env=base, capture_output=True)
    code, rep, err = _audit("--context", "dwunix", env=env)
    assert code == 0, err
    assert rep["targets"][0]["ref"] == d.url
    code, rep, err = _audit("--context", "dwtls", env=env)
    assert code == 0, err
    assert rep["targets"][0]["ref"] == f"tcp://127.0.0.1:{port}"
    # The current context from config.json, as `docker context use` sets it.
    subprocess.run([docker, "context", "use", "dwunix"], check=True, env=base,
                   capture_output=True)
    code, rep, err = _audit(env=env)
    assert code == 0 and rep["targets"][0]["ref"] == d.url, err
    code, _, err = _audit("--context", "nosuch", env=env)
    assert code == 2 and "does not exist" in err


def test_resolve_precedence(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "tcp://127.0.0.1:1", "DOCKER_CONFIG": str(tmp_path)}
    assert resolve(EngineOptions(host="unix:///x.sock"), env)[0] == "unix:///x.sock"
    assert resolve(EngineOptions(), env)[0] == "tcp://127.0.0.1:1"
    assert resolve(EngineOptions(), {"DOCKER_CONFIG": str(tmp_path)})[0] == \
        "unix:///var/run/docker.sock"
    (tmp_path / "config.json").write_text("{garbage")
    assert resolve(EngineOptions(), {"DOCKER_CONFIG": str(tmp_path)})[0] == \
        "unix:///var/run/docker.sock"
