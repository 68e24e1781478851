"""Snapshot of one image: its configuration, layers, final filesystem facts and
package inventory, as gathered in one streaming pass over its layers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dockwarden.model.common import Fact, Unknown

if TYPE_CHECKING:  # an annotation only: the matcher's model loads when it runs
    from dockwarden.model.vuln import VulnMatch


@dataclass(frozen=True, slots=True)
class HistoryStep:
    created_by: str
    empty_layer: bool
    layer: int | None  # index into ImageSnapshot.layers, None for empty steps
    created: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class LayerFacts:
    index: int
    digest: str  # diff id (sha256 of the uncompressed layer) when known, else blob digest
    created_by: str  # the history step (Dockerfile instruction) that made it
    size: int  # uncompressed bytes of file content
    entries: int


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One entry of the final filesystem (as a container would see it)."""

    path: str  # absolute, e.g. "/usr/bin/passwd"
    kind: str  # file, dir, symlink, hardlink, char, block, fifo
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    size: int
    layer: int
    linkname: str = ""


@dataclass(frozen=True, slots=True)
class Escape:
    """A layer entry that would land outside the root if extracted naively (DW315)."""

    layer: int
    name: str  # the raw name in the layer tar
    reason: str  # "'..' in path", "absolute path", "link target outside the root"
    linkname: str = ""


@dataclass(frozen=True, slots=True)
class Package:
    type: str  # deb, apk, rpm, pypi, npm, golang
    name: str
    version: str
    layer: int
    path: str  # the database or metadata file it was read from
    source_name: str = ""  # dpkg Source: / apk origin / rpm source rpm; "" = same as name
    source_version: str = ""
    arch: str = ""
    licenses: tuple[str, ...] = ()
    purl: str = ""
    cpes: tuple[str, ...] = ()  # CPE 2.3 names (data/cpe.json: well-known products only)
    # `key` of each package of the same image this one depends on (dpkg Depends, apk D:,
    # npm nesting, Requires-Dist), resolved to what is installed
    depends: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What tells this package from every other one of the same image."""
        return f"{self.type}:{self.name}@{self.version}:{self.arch}:{self.path}"


@dataclass(frozen=True, slots=True)
class OSRelease:
    id: str  # "debian", "alpine", "ubuntu", ...
    version_id: str  # "12", "3.19.1"
    version_codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SecretHit:
    rule: str  # which detector matched, e.g. "AWS access key id", "private key"
    path: str  # file path, or "ENV:NAME", "LABEL:key", "history[3]"
    layer: int | None
    line: int | None
    redacted: str


@dataclass(frozen=True, slots=True)
class ImageConfigFacts:
    user: str = ""
    env: tuple[tuple[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    healthcheck: tuple[str, ...] | None = None  # None: not defined; ("NONE",) disabled
    exposed_ports: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    os: str = ""
    architecture: str = ""
    created: str = ""


class SignatureStatus(StrEnum):
    """What one cosign signature of an image came to (collect/image/signature.py)."""

    VERIFIED = "verified"  # verifies with the --key given, payload names this image
    INVALID = "invalid"  # malformed, tampered, or names another image
    OTHER_KEY = "other-key"  # well formed, but does not verify with the --key given
    UNVERIFIED = "unverified"  # well formed; no --key to verify it with


@dataclass(frozen=True, slots=True)
class CosignSignature:
    """One layer of a cosign `.sig` manifest: a simple-signing payload and its signature
    (the layer annotation), as read and checked."""

    layer: int
    payload_digest: str  # the payload blob's digest
    status: SignatureStatus
    reason: str  # one line: why this status
    claimed_digest: str = ""  # the payload's critical.image.docker-manifest-digest
    docker_reference: str = ""  # the payload's critical.identity.docker-reference


@dataclass(frozen=True, slots=True)
class SignatureFacts:
    """The cosign signature of an image in a registry: the `sha256-<hex>.sig` tag of
    its manifest (or of the index it was chosen from) in the same repository.
    `signatures` empty: no such tag (unsigned)."""

    repository: str  # registry/repository looked in
    subject: str  # the digest whose signature was judged
    tags: tuple[str, ...]  # the tags looked up, in order
    signatures: tuple[CosignSignature, ...] = ()
    key: str = ""  # the --key file, "" without one
    key_id: str = ""  # its kind and fingerprint, e.g. "ECDSA P-256 sha256:1a2b..."
    content_trust: bool = False  # DOCKER_CONTENT_TRUST enables trust for this client
    not_judged: int = 0  # signatures past the cap, not read


@dataclass(frozen=True, slots=True)
class ImageSnapshot:
    ref: str
    id: str  # config digest ("sha256:...")
    source: str  # engine, tar, oci, registry
    config: ImageConfigFacts
    history: tuple[HistoryStep, ...]
    layers: tuple[LayerFacts, ...]
    file_count: int  # entries in the final filesystem
    total_size: int  # bytes of file content in the final filesystem
    setuid_files: tuple[ImageFile, ...] = ()  # setuid or setgid regular files
    world_writable: tuple[ImageFile, ...] = ()  # o+w files and dirs without the sticky bit
    devices: tuple[ImageFile, ...] = ()
    escapes: tuple[Escape, ...] = ()
    secrets: tuple[SecretHit, ...] = ()
    packages: Fact[tuple[Package, ...]] = Unknown("not gathered")
    os_release: Fact[OSRelease | None] = Unknown("not gathered")
    present: Mapping[str, ImageFile] = field(default_factory=dict)  # notable paths that exist
    cache_files: Mapping[str, int] = field(default_factory=dict)  # cache dir -> file count
    skipped: tuple[tuple[str, str], ...] = ()  # (what, why) that could not be analysed
    complete: bool = True
    # Filled after collection by the vulnerability matcher (the CLI wires it in).
    vulnerabilities: Fact[tuple[VulnMatch, ...]] = Unknown("not gathered")
    # ("os" | "language", why) for a family of packages no advisory data could judge
    vulnerability_gaps: tuple[tuple[str, str], ...] = ()
    # Looked up after collection for an image read from a registry (DW311).
    signature: Fact[SignatureFacts] = Unknown(
        "not read from a registry: no signature looked up")
    # The names the image itself carries: a `docker save` archive's RepoTags, an OCI
    # index's org.opencontainers.image.ref.name (the SBOM names the image by these
    # before `ref`, which for an archive is only its file name)
    names: tuple[str, ...] = ()
