"""A real Debian image for tests: `debootstrap --variant=minbase bookworm` once, the root
filesystem tarball cached between runs, imported into the Engine with `docker import`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import docker

CACHE = os.environ.get("DOCKWARDEN_TEST_CACHE", "/var/cache/dockwarden-test")
TARBALL = os.path.join(CACHE, "debian-bookworm-minbase.tar")
TAG = "dwtest/debian:bookworm"
MIRROR = os.environ.get("DOCKWARDEN_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rootfs_tarball() -> str:
    """The cached tarball of a bookworm minbase root (debootstrap takes about 40 s)."""
    with _lock():
        if os.path.exists(TARBALL):
            return TARBALL
        if shutil.which("debootstrap") is None:
            subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True,
                           capture_output=True)
        root = tempfile.mkdtemp(prefix="dw-debootstrap-")
        try:
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR],
                           check=True, capture_output=True, timeout=900)
            partial = TARBALL + ".partial"
            subprocess.run(["tar", "--numeric-owner", "-C", root, "-cf", partial, "."],
                           check=True)
            os.replace(partial, TARBALL)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return TARBALL


def debian_image(api: docker.APIClient) -> str:
    """`dwtest/debian:bookworm` in the Engine behind `api`, imported if missing."""
    try:
        api.inspect_image(TAG)
        return TAG
    except docker.errors.ImageNotFound:
        pass
    tarball = rootfs_tarball()
    with _lock():
        try:
            api.inspect_image(TAG)
            return TAG
        except docker.errors.ImageNotFound:
            pass
        repo, tag = TAG.split(":")
        with open(tarball, "rb") as fh:
            api.import_image_from_data(fh.read(), repository=repo, tag=tag,
                                       changes=['CMD ["/bin/bash"]', 'LABEL dockwarden.test="1"'])
    return TAG


PYTHON_TAG = "dwtest/debian-python3:bookworm"


def python3_image(api: docker.APIClient) -> str | None:
    """The Debian image with python3 added (built once, kept by tag and labelled like the
    Debian image itself), or None when it cannot be built (apt needs the Debian mirror)."""
    import io

    def present() -> bool:
        try:
            api.inspect_image(PYTHON_TAG)
            return True
        except docker.errors.ImageNotFound:
            return False

    if present():
        return PYTHON_TAG
    base = debian_image(api)
    dockerfile = (f"FROM {base}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                  "apt-get install -y -qq --no-install-recommends python3 "
                  "&& rm -rf /var/lib/apt/lists/*\n")
    with _lock():
        if present():
            return PYTHON_TAG
        try:
            for _ in api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=PYTHON_TAG,
                               rm=True, forcerm=True, labels={"dockwarden.test": "1"},
                               decode=True):
                pass
        except docker.errors.DockerException:
            return None
    return PYTHON_TAG if present() else None

