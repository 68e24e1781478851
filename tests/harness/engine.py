"""Locate (or, as a last resort, install and start) the main Docker Engine.

``ensure_engine()`` is idempotent: the result is cached per process and a file
lock serialises concurrent pytest processes so at most one dockerd gets started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import docker

DEFAULT_SOCKET_URL = "unix:///var/run/docker.sock"
DOCKERD = "/usr/sbin/dockerd"
DOCKERD_LOG = "/tmp/dockwarden-main-dockerd.log"
LOCK_PATH = "/tmp/dockwarden-engine.lock"
START_TIMEOUT = 60.0

_cached_url: str | None = None
_thread_lock = threading.Lock()


class EngineUnavailable(RuntimeError):
    """The main Docker Engine could not be found or started."""


def make_client(
    url: str,
    *,
    tls: docker.tls.TLSConfig | bool | None = None,
    timeout: float = 60.0,
    version: str = "auto",
) -> docker.APIClient:
    """An APIClient that ignores proxy / CA-bundle environment variables.

    requests lets $REQUESTS_CA_BUNDLE (set on this machine) override a session's
    ``verify``, which silently replaces the CA given via ``TLSConfig``; so build the
    client with a fixed version, turn ``trust_env`` off, then negotiate the version.
    """
    api = docker.APIClient(base_url=url, version="1.41", timeout=timeout, tls=tls or False)
    api.trust_env = False
    if version == "auto":
        api._version = api._retrieve_server_version()
    else:
        api._version = version
    return api


def tls_config(
    ca: str | None = None, client_cert: str | None = None, client_key: str | None = None
) -> docker.tls.TLSConfig:
    """TLSConfig verifying the server against ``ca`` (or not verifying if ca is None)."""
    cert = (client_cert, client_key) if client_cert and client_key else None
    return docker.tls.TLSConfig(client_cert=cert, ca_cert=ca, verify=bool(ca))


def ping(url: str, timeout: float = 5.0, tls: docker.tls.TLSConfig | None = None) -> bool:
    """True if GET /_ping on ``url`` answers OK."""
    try:
        # A fixed version avoids the /version round trip that version='auto' makes.
        api = make_client(url, tls=tls, timeout=timeout, version="1.41")
    except Exception:
        return False
    try:
        return bool(api.ping())
    except Exception:
        return False
    finally:
        api.close()


def api_client(url: str | None = None, timeout: float = 60.0) -> docker.APIClient:
    """An ``APIClient`` (version='auto') for ``url`` or the main engine."""
    url = url or ensure_engine()
    tls = None
    if url == os.environ.get("DOCKER_HOST"):
        tls = docker.utils.kwargs_from_env().get("tls")
    return make_client(url, tls=tls, timeout=timeout)


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _apt_install(*packages: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update"], env=env, capture_output=True)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise EngineUnavailable(
            f"apt-get install {' '.join(packages)} failed:\n{res.stderr[-2000:]}"
        )


def _log_tail(path: str, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return "(no log)"


def _start_main_dockerd() -> str:
    if not os.path.exists(DOCKERD) and shutil.which("dockerd") is None:
        _apt_install("docker.io")
    dockerd = DOCKERD if os.path.exists(DOCKERD) else shutil.which("dockerd")
    assert dockerd is not None
    with open(DOCKERD_LOG, "ab") as log:
        # New session: the engine must outlive the test process that started it.
        subprocess.Popen(
            [dockerd],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ping(DEFAULT_SOCKET_URL, timeout=2.0):
            return DEFAULT_SOCKET_URL
        time.sleep(0.5)
    raise EngineUnavailable(
        f"dockerd did not answer /_ping within {START_TIMEOUT:.0f}s; log {DOCKERD_LOG}:\n"
        + _log_tail(DOCKERD_LOG)
    )


def _find_engine() -> str | None:
    env_url = os.environ.get("DOCKER_HOST")
    if env_url:
        # Honour DOCKER_TLS_VERIFY / DOCKER_CERT_PATH like the docker CLI does.
        tls = docker.utils.kwargs_from_env().get("tls") or None
        if ping(env_url, tls=tls):
            return env_url
    if ping(DEFAULT_SOCKET_URL):
        return DEFAULT_SOCKET_URL
    return None


def find_engine() -> str | None:
    """The url of a main Engine that answers now, or None (never starts one)."""
    return _find_engine()


def ensure_engine() -> str:
    """Return a DOCKER_HOST url for a reachable main Engine, starting one if needed."""
    global _cached_url
    with _thread_lock:
        if _cached_url is not None and ping(_cached_url):
            return _cached_url
        url = _find_engine()
        if url is None:
            with _file_lock(LOCK_PATH):
                url = _find_engine() or _start_main_dockerd()
        _cached_url = url
        return url
