"""Pick the source of an image from what the user named, and run the one pass."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from dockwarden.collect.image.analyzer import Analyzer
from dockwarden.collect.image.source import ImageSource, OCILayoutSource, TarSource
from dockwarden.collect.image.walker import Limits, walk
from dockwarden.errors import InputError, UsageError
from dockwarden.model.image import ImageSnapshot
from dockwarden.sanitize import excerpt


class ImageRequest(NamedTuple):
    ref: str | None = None
    tar: str | None = None
    oci: str | None = None
    platform: str | None = None
    remote: bool = False
    insecure: bool = False
    timeout: float = 30.0  # seconds for each registry request (`--timeout`)
    username: str | None = None  # `--username` / `--password-stdin` for the registry
    password: str | None = None  # never shown: see __repr__

    def __repr__(self) -> str:
        shown = self._replace(password="<redacted>" if self.password else None)
        return "ImageRequest(" + ", ".join(
            f"{k}={v!r}" for k, v in zip(self._fields, tuple(shown), strict=True)) + ")"


def default_analyzers() -> list[Analyzer]:
    from dockwarden.collect.image.pkg import package_analyzers
    from dockwarden.collect.image.secrets import SecretAnalyzer

    return [*package_analyzers(), SecretAnalyzer()]


def _has_registry_host(ref: str) -> bool:
    """Whether `ref` names a registry other than Docker Hub (Docker's own rule, shared
    with the registry source)."""
    from dockwarden.collect.image.registry import parse_reference

    return parse_reference(ref).registry != "docker.io"


def open_source(req: ImageRequest, engine: Callable[[], Any] | None) -> ImageSource:
    """`engine` returns a connected docker.APIClient, or raises if none is reachable."""
    chosen = [x for x in (req.ref, req.tar, req.oci) if x]
    if len(chosen) != 1:
        raise UsageError("name exactly one image: REF, --tar FILE or --oci PATH")
    if req.tar:
        if not os.path.isfile(req.tar):
            raise InputError(f"{req.tar}: no such file")
        return TarSource(req.tar, ref=req.ref or os.path.basename(req.tar))
    if req.oci:
        if os.path.isdir(req.oci):
            return OCILayoutSource(req.oci, ref="", platform=req.platform)
        if os.path.isfile(req.oci):
            return TarSource(req.oci, ref=os.path.basename(req.oci), kind="oci")
        raise InputError(f"{req.oci}: no such file or directory")
    from dockwarden.collect.image.registry import RegistrySource, parse_reference

    ref = str(req.ref)
    parse_reference(ref)  # a malformed reference is an InputError saying what is wrong
    if not req.remote and engine is not None:
        import docker.errors

        from dockwarden.collect.image.source import EngineSource
        from dockwarden.errors import EngineUnreachable
        try:
            api = engine()
            api.inspect_image(ref)
            return EngineSource(api, ref)
        except docker.errors.ImageNotFound:
            if not _has_registry_host(ref):
                raise InputError(f"image {ref} not found in the Engine",
                                 "pull it, or use --tar / --oci / --remote") from None
        except EngineUnreachable:
            if not _has_registry_host(ref):
                raise
        except docker.errors.APIError as exc:
            why = excerpt(exc.explanation or str(exc), 160)
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise InputError(f"image {ref}: the Engine refused it: {why}") from None
            raise EngineUnreachable(f"image {ref}: the Engine failed: {why}") from None
    return RegistrySource(ref, platform=req.platform, insecure=req.insecure,
                          timeout=req.timeout, username=req.username,
                          password=req.password)


def collect_image(req: ImageRequest, engine: Callable[[], Any] | None, *,
                  analyzers: list[Analyzer] | None = None, limits: Limits | None = None,
                  progress: Callable[[str], None] | None = None,
                  meanwhile: Callable[[], None] | None = None) -> ImageSnapshot:
    """The snapshot of the image `req` names (`meanwhile`: see `walk`)."""
    source = open_source(req, engine)
    return walk(source, default_analyzers() if analyzers is None else analyzers,
                platform=req.platform, limits=limits, progress=progress, offload=True,
                meanwhile=meanwhile)


def collect_engine_image(api: Any, image_id: str, ref: str, *,
                         analyzers: list[Analyzer] | None = None,
                         limits: Limits | None = None,
                         progress: Callable[[str], None] | None = None) -> ImageSnapshot:
    """The snapshot of the Engine's image `image_id` (an image a container runs, or one
    `image --all` lists), named `ref` in the report. It is exported by its id, not by a
    name: a tag moved to another image meanwhile must not change what is read. `api` is
    a connected docker.APIClient."""
    from dataclasses import replace

    from dockwarden.collect.image.source import EngineSource

    snap = walk(EngineSource(api, image_id), default_analyzers() if analyzers is None
                else analyzers, limits=limits, progress=progress, offload=True)
    return replace(snap, ref=ref)
