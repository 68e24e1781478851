"""A tiny busybox image built offline (no registry) and label-scoped cleanup."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import threading
import time
from typing import Any

import docker

BUSYBOX_TAG = "dwtest/busybox:1"
BUSYBOX_BIN = "/usr/bin/busybox"
LABEL_KEY = "dockwarden.test"
LABEL = {LABEL_KEY: "1"}
# the required applets, then a few more that are handy in tests and cost nothing
REQUIRED_APPLETS = ("sh", "sleep", "ls", "cat", "id", "echo", "ps", "top", "true", "env")
EXTRA_APPLETS = ("false", "mkdir", "rm", "touch", "grep", "wget", "nc", "whoami", "stat")
APPLETS = (*REQUIRED_APPLETS, *EXTRA_APPLETS)
IMAGE_CHANGES = ['CMD ["/bin/sleep","3600"]', f'LABEL {LABEL_KEY}="1"']

_lock = threading.Lock()


def _ensure_busybox_binary() -> str:
    if os.path.exists(BUSYBOX_BIN):
        return BUSYBOX_BIN
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "busybox-static"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    if not os.path.exists(BUSYBOX_BIN):
        raise RuntimeError(f"busybox-static installed but {BUSYBOX_BIN} is missing")
    return BUSYBOX_BIN


def _rootfs_tar() -> bytes:
    """An uncompressed tar of a minimal root: /bin/busybox + applet symlinks."""
    busybox = _ensure_busybox_binary()
    buf = io.BytesIO()
    now = int(time.time())

    def add_dir(tf: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        ti.mode = mode
        ti.mtime = now
        tf.addfile(ti)

    def add_file(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = mode
        ti.mtime = now
        tf.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for d in ("bin", "etc", "root", "var", "home"):
            add_dir(tf, d)
        add_dir(tf, "tmp", 0o1777)
        with open(busybox, "rb") as fh:
            add_file(tf, "bin/busybox", fh.read(), 0o755)
        for applet in APPLETS:
            ti = tarfile.TarInfo(f"bin/{applet}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            ti.mode = 0o777
            ti.mtime = now
            tf.addfile(ti)
        add_file(
            tf,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        )
        add_file(tf, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def busybox_image(api: docker.APIClient) -> str:
    """Return ``dwtest/busybox:1`` on the engine behind ``api``, importing it if missing."""
    with _lock:
        try:
            api.inspect_image(BUSYBOX_TAG)
            return BUSYBOX_TAG
        except docker.errors.ImageNotFound:
            pass
        repo, tag = BUSYBOX_TAG.rsplit(":", 1)
        api.import_image_from_data(_rootfs_tar(), repository=repo, tag=tag, changes=IMAGE_CHANGES)
        cfg = api.inspect_image(BUSYBOX_TAG)["Config"]
        if (cfg.get("Labels") or {}).get(LABEL_KEY) != "1" or cfg.get("Cmd") != [
            "/bin/sleep",
            "3600",
        ]:
            raise RuntimeError(f"import of {BUSYBOX_TAG} ignored LABEL/CMD changes: {cfg}")
        return BUSYBOX_TAG


def labels(**extra: str) -> dict[str, str]:
    """LABEL plus extra labels, for resources a test creates."""
    return {**LABEL, **extra}


def run_container(
    api: docker.APIClient,
    cmd: list[str] | None = None,
    *,
    wait: bool = True,
    host_config: dict[str, Any] | None = None,
    **create_kwargs: Any,
) -> tuple[str, int | None, bytes]:
    """Create+start a labelled busybox container.

    With ``wait=True`` returns (id, exit code, logs) after it exits; otherwise (id, None, b"").
    The caller removes it (``api.remove_container(id, force=True)``).
    """
    image = busybox_image(api)
    create_kwargs["labels"] = labels(**create_kwargs.get("labels", {}))
    cid = api.create_container(
        image, command=cmd, host_config=host_config or api.create_host_config(), **create_kwargs
    )["Id"]
    api.start(cid)
    if not wait:
        return cid, None, b""
    code = api.wait(cid, timeout=120)["StatusCode"]
    return cid, code, api.logs(cid, stdout=True, stderr=True)


def cleanup(api: docker.APIClient, **extra_labels: str) -> None:
    """Remove containers, volumes and networks carrying LABEL (and ``extra_labels``).

    Never removes images. Other test runs may share the main engine, so prefer
    passing a run-specific extra label (e.g. ``cleanup(api, **{"dockwarden.run": id})``).
    """
    wanted = {**LABEL, **extra_labels}
    filt = [f"{k}={v}" for k, v in wanted.items()]
    for c in api.containers(all=True, filters={"label": filt}):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(c["Id"], force=True, v=True)
    for v in (api.volumes(filters={"label": filt}) or {}).get("Volumes") or []:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(v["Name"], force=True)
    for n in api.networks(filters={"label": filt}):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(n["Id"])
