"""DW301-DW308, DW312-DW318: one image, judged from its config, history and final
filesystem as gathered in one pass over its layers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any, NamedTuple

from dockwarden import read_data, secrets
from dockwarden.checks.common import is_root_user
from dockwarden.checks.registry import Fail, Scope, check, require
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.image import ImageSnapshot

I = Scope.IMAGE  # noqa: E741
IMG = TargetKind.IMAGE


class ImageContext(NamedTuple):
    """Thresholds and the audit date (checks stay pure)."""

    today: date
    max_files: int = 100_000
    max_size: int = 2 << 30


def _listing(paths: list[str], limit: int = 4) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _step(created_by: str) -> str:
    """A build step as shown in evidence: secrets redacted first, then shortened."""
    return secrets.redact_command(created_by)[:200]


def _layer_evidence(snap: ImageSnapshot, layer: int | None) -> dict[str, Any]:
    if layer is None or layer >= len(snap.layers):
        return {}
    facts = snap.layers[layer]
    out: dict[str, Any] = {"layer": layer, "layer_digest": facts.digest}
    if facts.created_by:
        out["created_by"] = _step(facts.created_by)
    return out


@check(
    id="DW301", title="Image runs as root", severity=Severity.MEDIUM, scope=I, target_kind=IMG,
    rationale="Without USER, every container of the image runs as root unless the operator "
    "remembers --user.",
    remediation="Add a USER instruction with an unprivileged user in the final stage.",
    references=("CIS-DI-0001",),
    bad=("no USER instruction",), good=("USER 10001:10001",),
)
def image_root(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if is_root_user(snap.config.user):
        yield Fail({"Config.User": snap.config.user})


@check(
    id="DW302", title="No HEALTHCHECK", severity=Severity.LOW, scope=I, target_kind=IMG,
    rationale="Without a health check the Engine cannot tell a hung service from a "
    "working one.",
    remediation="Add a HEALTHCHECK instruction.", references=("CIS-DI-0006",),
    bad=("no HEALTHCHECK",), good=("HEALTHCHECK CMD curl -f http://localhost/ || exit 1",),
)
def no_healthcheck(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    hc = snap.config.healthcheck
    if hc is None or hc[0] == "NONE":
        yield Fail({"Config.Healthcheck": list(hc) if hc else None})


@check(
    id="DW303", title="Secret in ENV, labels or build history", severity=Severity.HIGH,
    scope=I, target_kind=IMG,
    rationale="ENV, labels and every build step's command line are stored in the image "
    "config: anyone who can pull the image can read them.",
    remediation="Pass secrets at run time, or use build secrets (RUN --mount=type=secret); "
    "rotate the exposed secret.",
    references=("CIS-DI-0010",),
    bad=("ENV AWS_SECRET_ACCESS_KEY=...",), good=("RUN --mount=type=secret,id=aws ...",),
)
def config_secrets(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    for hit in secrets.scan_env(snap.config.env):
        yield Fail({"where": f"ENV {hit.name}", "rule": hit.rule.title, "value": hit.redacted})
    for hit in secrets.scan_labels(snap.config.labels):
        yield Fail({"where": f"LABEL {hit.name}", "rule": hit.rule.title,
                    "value": hit.redacted})
    for i, step in enumerate(snap.history):
        for match in secrets.scan_history(step.created_by):
            yield Fail({"where": f"history[{i}]", "rule": match.rule.title,
                        "value": match.redacted, **_layer_evidence(snap, step.layer)})


@check(
    id="DW304", title="Secret file in the filesystem", severity=Severity.HIGH, scope=I,
    target_kind=IMG,
    rationale="Private keys, cloud credentials and tokens baked into a layer are readable "
    "by anyone who can pull the image, and stay in the layer even if a later step "
    "deletes them.",
    remediation="Remove the file from the build context (.dockerignore), use build "
    "secrets, and rotate the credential.",
    references=("CIS-DI-0010", "DKL-DI-0005"),
    bad=("COPY id_rsa /root/.ssh/",), good=("RUN --mount=type=ssh git clone ...",),
)
def secret_files(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    for hit in snap.secrets:
        rule = secrets.ALL_RULES.get(hit.rule)
        evidence: dict[str, Any] = {"path": hit.path, "rule": rule.title if rule else hit.rule,
                                    "value": hit.redacted}
        if hit.line is not None:
            evidence["line"] = hit.line
        yield Fail({**evidence, **_layer_evidence(snap, hit.layer)})


@check(
    id="DW305", title="setuid / setgid files", severity=Severity.MEDIUM, scope=I,
    target_kind=IMG,
    rationale="setuid and setgid binaries are how an unprivileged process becomes root "
    "after a bug in them; few containers need any.",
    remediation="Strip the bits in the build (chmod a-s) or remove the binaries; run with "
    "no-new-privileges.",
    references=("CIS-DI-0008",),
    bad=("-rwsr-xr-x /usr/bin/passwd",), good=("RUN chmod a-s /usr/bin/* /bin/*",),
)
def setuid_files(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if snap.setuid_files:
        yield Fail({"count": len(snap.setuid_files), "files": [
            {"path": f.path, "mode": oct(f.mode & 0o7777), "layer": f.layer}
            for f in snap.setuid_files[:50]]},
            message=f"{len(snap.setuid_files)} files: "
            + _listing([f.path for f in snap.setuid_files]))


@check(
    id="DW306", title="World-writable files or directories without sticky bit",
    severity=Severity.LOW, scope=I, target_kind=IMG,
    rationale="Any user in the container can change a world-writable file, or replace "
    "files in a world-writable directory without the sticky bit.",
    remediation="chmod o-w, or set the sticky bit on shared directories (chmod +t).",
    bad=("chmod 777 /app",), good=("chmod 755 /app",),
)
def world_writable(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if snap.world_writable:
        yield Fail({"count": len(snap.world_writable), "files": [
            {"path": f.path, "kind": f.kind, "mode": oct(f.mode & 0o7777), "layer": f.layer}
            for f in snap.world_writable[:50]]},
            message=f"{len(snap.world_writable)} entries: "
            + _listing([f.path for f in snap.world_writable]))


@check(
    id="DW307", title="File count above threshold", severity=Severity.MEDIUM, scope=I,
    target_kind=IMG,
    rationale="Every file of every pulled image takes an inode on the host: images with "
    "hundreds of thousands of files exhaust a filesystem's inodes long before its space.",
    remediation="Remove caches, tests and docs in the same layer that creates them; use "
    "multi-stage builds.",
    bad=("200,000 files",), good=("6,000 files",),
)
def file_count(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if snap.file_count > ctx.max_files:
        yield Fail({"files": snap.file_count, "threshold": ctx.max_files})


@check(
    id="DW308", title="Image size above threshold", severity=Severity.LOW, scope=I,
    target_kind=IMG,
    rationale="Large images slow every pull and fill the host's data root.",
    remediation="Use a slimmer base, multi-stage builds and per-layer cleanup.",
    bad=("3 GiB image",), good=("80 MiB image",),
)
def image_size(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if snap.total_size > ctx.max_size:
        yield Fail({"bytes": snap.total_size, "threshold": ctx.max_size})


# `ADD` as an instruction: at the start (BuildKit history) or after the classic builder's
# "#(nop)" marker; never the word inside a RUN command (`ALTER TABLE t ADD COLUMN`).
_ADD = re.compile(r"(?:^|#\(nop\)\s*)ADD\s+(?:--\S+\s+)*(\S+)")


@check(
    id="DW312", title="ADD used, or remote ADD in history", severity=Severity.LOW, scope=I,
    target_kind=IMG,
    rationale="ADD fetches URLs and unpacks archives implicitly; COPY does only what it says.",
    remediation="Use COPY; download with a checksum-verified RUN step.",
    references=("CIS-DI-0009",),
    bad=("ADD https://example.com/app.tgz /app",), good=("COPY app /app",),
)
def add_in_history(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    for i, step in enumerate(snap.history):
        m = _ADD.search(step.created_by)
        if not m:
            continue
        src = m.group(1)
        remote = src.startswith(("http://", "https://"))
        if not remote and i == 0 and src.startswith("file:"):
            continue  # the base image's root filesystem
        yield Fail({"history": i, "created_by": _step(step.created_by), "remote": remote},
                   severity=Severity.MEDIUM if remote else None)


@check(
    id="DW313", title="apt-get update alone, or package caches left", severity=Severity.LOW,
    scope=I, target_kind=IMG,
    rationale="Package lists and caches left in a layer bloat every pull, and an "
    "`apt-get update` cached in its own layer installs stale packages later.",
    remediation="RUN apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*",
    references=("DKL-DI-0005",),
    bad=("RUN apt-get update",), good=("RUN apt-get update && apt-get install -y x && "
                                       "rm -rf /var/lib/apt/lists/*",),
)
def package_caches(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    for i, step in enumerate(snap.history):
        cmd = step.created_by
        if re.search(r"\bapt(-get)?\s+(-\S+\s+)*update\b", cmd) and not re.search(
                r"\bapt(-get)?\s+(-\S+\s+)*(install|upgrade|dist-upgrade)\b", cmd):
            yield Fail({"history": i, "created_by": _step(cmd)},
                       message="apt-get update in a step of its own")
    if snap.cache_files:
        yield Fail({"cache_files": dict(snap.cache_files)}, message="package caches left: "
                   + ", ".join(f"{d} ({n} files)" for d, n in sorted(snap.cache_files.items())))


@check(
    id="DW314", title="sudo present or used", severity=Severity.LOW, scope=I, target_kind=IMG,
    rationale="sudo in a container hides privilege changes and needs setuid; root-ness "
    "belongs to USER.",
    remediation="Remove sudo; switch users with USER, or gosu/su-exec at start-up.",
    references=("DL3004",),
    bad=("RUN apt-get install -y sudo",), good=("USER app",),
)
def sudo(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    found = [p for p in ("/usr/bin/sudo", "/bin/sudo") if p in snap.present]
    used = [i for i, h in enumerate(snap.history) if re.search(r"(^|[\s;&|])sudo\s", h.created_by)]
    if found or used:
        yield Fail({"paths": found, "history": used})


@check(
    id="DW315", title="Layer entry escapes the root", severity=Severity.HIGH, scope=I,
    target_kind=IMG,
    rationale="An entry with '..', an absolute path or a link pointing outside the root "
    "writes outside the extraction directory of naive tools: a hostile image.",
    remediation="Do not run or extract this image; find out who built it.",
    bad=("tar entry ../../etc/cron.d/x",), good=("normal layers",),
)
def escapes(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    for e in snap.escapes[:100]:
        evidence: dict[str, Any] = {"entry": e.name, "reason": e.reason, "layer": e.layer}
        if e.linkname:
            evidence["link"] = e.linkname
        yield Fail(evidence)


@check(
    id="DW316", title="Device nodes in the image", severity=Severity.MEDIUM, scope=I,
    target_kind=IMG,
    rationale="Device nodes shipped in a layer give raw device access if the container's "
    "device cgroup ever allows it; images have no reason to carry them.",
    remediation="Remove the device files from the build.",
    bad=("mknod /dev/sda b 8 0",), good=("no device files",),
)
def device_nodes(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    if snap.devices:
        yield Fail({"devices": [{"path": f.path, "kind": f.kind, "layer": f.layer}
                                for f in snap.devices[:50]]},
                   message=f"{len(snap.devices)} device nodes: "
                   + _listing([f.path for f in snap.devices]))


@check(
    id="DW317", title="SSH server installed or port 22 exposed", severity=Severity.LOW,
    scope=I, target_kind=IMG,
    rationale="An SSH daemon is another way in and another service to patch.",
    remediation="Remove openssh-server; use docker exec for access.",
    references=("DS004",),
    bad=("EXPOSE 22",), good=("no sshd",),
)
def sshd(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    found = [p for p in ("/usr/sbin/sshd", "/usr/bin/sshd") if p in snap.present]
    exposed = [p for p in snap.config.exposed_ports if p.split("/")[0] == "22"]
    if found or exposed:
        yield Fail({"paths": found, "exposed": exposed})


_EOL: dict[str, dict[str, str]] = json.loads(
    read_data("os_eol.json"))["releases"]


@check(
    id="DW318", title="Base OS release end-of-life", severity=Severity.HIGH, scope=I,
    target_kind=IMG,
    rationale="A release past its end of security support gets no more fixes: every new "
    "vulnerability in it stays.",
    remediation="Rebuild on a supported release of the distribution.",
    bad=("debian 9",), good=("debian 12",),
)
def os_eol(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    release = require(snap.os_release)
    if release is None:
        return
    table = _EOL.get(release.id)
    if table is None:
        return
    version = release.version_id
    if release.id == "alpine":
        version = ".".join(version.split(".")[:2])
    elif release.id in ("centos", "rhel"):
        version = version.split(".")[0]
    eol = table.get(version)
    if eol and date.fromisoformat(eol) <= ctx.today:
        yield Fail({"os": release.id, "version": release.version_id, "end_of_life": eol,
                    "pretty_name": release.pretty_name})
