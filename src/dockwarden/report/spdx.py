"""SPDX 2.3 JSON SBOM of one or more image snapshots, written by hand with `json`.

Why not spdx-tools: it is the reference implementation, but it pulls in rdflib, ply,
click, beartype, semantic_version, uritools and xmltodict (a dozen packages, ~4 MB of
wheels) to write a document that is a handful of plain JSON objects here, and its
runtime type checking (beartype on every model constructor) costs time on images with
thousands of packages. The fields we emit are few and fixed, so this module builds them
directly and the tests validate the output against the official SPDX 2.3 JSON schema.
License expressions are checked with license-expression (already a dependency of
cyclonedx-python-lib) against the SPDX license list.

Shape of the document:

* ``SPDXRef-DOCUMENT`` DESCRIBES each image; each image is a package with
  ``primaryPackagePurpose: CONTAINER`` (name = reference, versionInfo = image id, purl
  ``pkg:oci/...`` when the id is a digest);
* the image CONTAINS the operating system (``OPERATING-SYSTEM``, name = os-release ID,
  versionInfo = VERSION_ID) and each package (``LIBRARY``) with its purl as a
  PACKAGE-MANAGER external reference;
* ``downloadLocation`` and ``licenseConcluded`` are NOASSERTION (nothing was downloaded
  or concluded), ``filesAnalyzed`` is false; ``licenseDeclared`` is the package's
  licenses when they form a valid SPDX expression (several are joined with AND), else
  NOASSERTION; ``sourceInfo`` names the database file and layer, ``comment`` the source
  package (dpkg Source:, apk origin, source rpm) when there is one;
* a package's CPEs (a shipped table of well-known products) are SECURITY ``cpe23Type``
  external references, next to the purl;
* a package DEPENDS_ON each package of the same image its own metadata says it needs
  (dpkg Depends, apk D:, npm dependencies, Python Requires-Dist, resolved to what is
  installed);
* ``LicenseRef-<name>`` licences (a Debian copyright file's licence that has no SPDX id)
  are declared in ``hasExtractedLicensingInfos``, as SPDX requires;
* the image is named by the names it carries (RepoTags, OCI ref.name), else the
  reference the user gave; an archive's file name is not its name.

The document is byte-identical for the same input: the caller passes the timestamp and
the ``documentNamespace`` is built from the image digest and a uuid5 over the image ids.

Every string taken from an image (names, versions, paths, licences, references, reasons)
goes through `clean_text` (`sanitize.clean`) first: an image is attacker-controlled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from license_expression import get_spdx_licensing  # type: ignore[import-untyped]
from packageurl import PackageURL

from dockwarden import sanitize
from dockwarden.model.common import Unknown
from dockwarden.model.image import ImageSnapshot, OSRelease, Package

SPDX_VERSION = "SPDX-2.3"
DATA_LICENSE = "CC0-1.0"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
NOASSERTION = "NOASSERTION"
NAMESPACE_BASE = "https://dockwarden.invalid/spdx/"
# Fixed namespace for the uuid5 in documentNamespace; never change it.
NAMESPACE_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://dockwarden.invalid/sbom/spdx")

_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


def render(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str) -> str:
    """The SPDX 2.3 JSON document (UTF-8 text, trailing newline) for `images`.

    `timestamp` is an ISO 8601 date-time; it is written in UTC to the second, as SPDX
    requires (``2024-05-01T12:00:00Z``); a naive one is taken as UTC. Raises ValueError
    if it is not a date-time or `images` is empty.
    """
    return json.dumps(as_dict(images, tool_version=tool_version, timestamp=timestamp),
                      indent=2, ensure_ascii=False) + "\n"


def as_dict(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str
            ) -> dict[str, Any]:
    """The document as JSON-ready data (see `render`); packages in input order."""
    if not images:
        raise ValueError("an SBOM needs at least one image")
    ids = _IdMaker()
    packages: list[dict[str, Any]] = []
    relationships: list[dict[str, str]] = []
    for img in images:
        image_id = ids.make("Image", image_name(img) or img.id, f"{img.id}\0{img.ref}")
        packages.append(_image_package(img, image_id))
        relationships.append(_rel(DOCUMENT_ID, "DESCRIBES", image_id))
        contained: list[tuple[str, dict[str, Any]]] = []
        osr = img.os_release
        if not isinstance(osr, Unknown) and osr is not None:
            os_id = ids.make("OS", f"{osr.id}-{osr.version_id}", f"{img.id}\0{img.ref}\0os")
            contained.append((os_id, _os_package(osr, os_id)))
        depends: list[tuple[str, tuple[str, ...]]] = []
        id_of: dict[str, str] = {}
        if not isinstance(img.packages, Unknown):
            for pkg in img.packages:
                pkg_id = ids.make(
                    "Package", f"{pkg.type}-{pkg.name}-{pkg.version}",
                    f"{img.id}\0{img.ref}\0{pkg.type}\0{pkg.name}\0{pkg.version}\0{pkg.arch}"
                    f"\0{pkg.layer}\0{pkg.path}",
                )
                contained.append((pkg_id, _package(pkg, pkg_id, img)))
                id_of.setdefault(pkg.key, pkg_id)
                if pkg.depends:
                    depends.append((pkg_id, pkg.depends))
        for spdx_id, package in contained:
            packages.append(package)
            relationships.append(_rel(image_id, "CONTAINS", spdx_id))
        for spdx_id, keys in depends:
            targets = dict.fromkeys(id_of[k] for k in keys if k in id_of)
            relationships.extend(_rel(spdx_id, "DEPENDS_ON", t) for t in targets if t != spdx_id)
    refs = sorted({ref for p in packages for ref in _license_refs(p.get("licenseDeclared", ""))})

    return {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": DATA_LICENSE,
        "SPDXID": DOCUMENT_ID,
        "name": _document_name(images),
        "documentNamespace": document_namespace(images),
        "creationInfo": {
            "created": _spdx_timestamp(timestamp),
            "creators": [f"Tool: dockwarden-{clean_text(tool_version)}"],
        },
        **({"hasExtractedLicensingInfos": [_extracted(ref) for ref in refs]} if refs else {}),
        "packages": packages,
        "relationships": relationships,
    }


_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


def _license_refs(expression: str) -> list[str]:
    return _LICENSE_REF.findall(expression)


def _extracted(ref: str) -> dict[str, str]:
    name = ref.removeprefix("LicenseRef-")
    return {
        "licenseId": ref,
        "name": name,
        "extractedText": f"The licence named {name} in the package's own licence "
                         "information (its text is not copied into this document).",
    }


def document_namespace(images: Sequence[ImageSnapshot]) -> str:
    """``https://dockwarden.invalid/spdx/<digest>-<uuid5 over the image ids>``.

    <digest> is the hex of the image id for one image whose id is a digest, else a slug
    of the reference, or ``images`` for several images.
    """
    key = "\n".join(img.id or f"ref:{img.ref}" for img in images)
    tag = uuid.uuid5(NAMESPACE_UUID, clean_text(key))
    if len(images) == 1:
        img = images[0]
        algo, _, hexpart = img.id.partition(":")
        if algo and re.fullmatch(r"[0-9a-f]{32,128}", hexpart):
            slug = hexpart
        else:
            slug = _slug(image_name(img) or img.id)[:64] or "image"
    else:
        slug = "images"
    return f"{NAMESPACE_BASE}{slug}-{tag}"


# --- packages ---


def _image_package(img: ImageSnapshot, spdx_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": clean_text(image_name(img) or img.id) or "image",
    }
    if img.id:
        out["versionInfo"] = clean_text(img.id)
    out.update(
        downloadLocation=NOASSERTION,
        filesAnalyzed=False,
        licenseConcluded=NOASSERTION,
        licenseDeclared=NOASSERTION,
        primaryPackagePurpose="CONTAINER",
    )
    purl = oci_purl(img)
    if purl:
        out["externalRefs"] = [_purl_ref(purl)]
    notes = []
    if isinstance(img.packages, Unknown):
        notes.append(f"package inventory unknown: {img.packages.reason}")
    if isinstance(img.os_release, Unknown):
        notes.append(f"os-release unknown: {img.os_release.reason}")
    notes += [f"skipped {what}: {why}" for what, why in img.skipped]
    if not img.complete:
        notes.append("the image could not be read completely")
    if notes:
        out["comment"] = clean_text("; ".join(notes))
    return out


def _os_package(osr: OSRelease, spdx_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"SPDXID": spdx_id, "name": clean_text(osr.id) or "unknown"}
    if osr.version_id:
        out["versionInfo"] = clean_text(osr.version_id)
    out.update(
        downloadLocation=NOASSERTION,
        filesAnalyzed=False,
        licenseConcluded=NOASSERTION,
        licenseDeclared=NOASSERTION,
        primaryPackagePurpose="OPERATING-SYSTEM",
    )
    if osr.pretty_name:
        out["description"] = clean_text(osr.pretty_name)
    out["sourceInfo"] = "acquired from /etc/os-release"
    return out


def _package(pkg: Package, spdx_id: str, img: ImageSnapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"SPDXID": spdx_id, "name": clean_text(pkg.name) or "unknown"}
    if pkg.version:
        out["versionInfo"] = clean_text(pkg.version)
    out.update(
        downloadLocation=NOASSERTION,
        filesAnalyzed=False,
        licenseConcluded=NOASSERTION,
        licenseDeclared=license_expression(pkg.licenses) or NOASSERTION,
        primaryPackagePurpose="LIBRARY",
    )
    purl = canonical_purl(pkg.purl)
    refs = [_purl_ref(purl)] if purl else []
    refs += [{"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
              "referenceLocator": clean_text(cpe)} for cpe in pkg.cpes if _is_cpe(cpe)]
    if refs:
        out["externalRefs"] = refs
    layer = _layer_name(img, pkg.layer)
    out["sourceInfo"] = clean_text(f"acquired package info from {pkg.path} in {layer}")
    notes = []
    if pkg.source_name or pkg.source_version:
        source = " ".join(p for p in (pkg.source_name or pkg.name, pkg.source_version) if p)
        notes.append(f"source package: {source}")
    if pkg.purl and not purl:
        notes.append(f"invalid purl: {pkg.purl}")
    if notes:
        out["comment"] = clean_text("; ".join(notes))
    return out


def canonical_purl(text: str) -> str | None:
    """`text` as packageurl-python writes it (the form CycloneDX gets), None if invalid."""
    if not text:
        return None
    try:
        return str(PackageURL.from_string(clean_text(text)).to_string())
    except ValueError:
        return None


_CPE23 = re.compile(r"cpe:2\.3:[aho\*\-](?::(?:[^:\s\\]|\\.)+){10}")


def _is_cpe(value: str) -> bool:
    """A CPE 2.3 formatted string (the shape SPDX's schema asks of cpe23Type)."""
    return bool(_CPE23.fullmatch(value))


def _layer_name(img: ImageSnapshot, index: int) -> str:
    for layer in img.layers:
        if layer.index == index:
            return f"layer {index} ({layer.digest})" if layer.digest else f"layer {index}"
    return f"layer {index}"


def _purl_ref(purl: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }


def _rel(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


# --- licenses ---


def license_expression(values: Iterable[str]) -> str | None:
    """The licenses as one valid SPDX expression (normalised), or None if any is not.

    Several strings are joined with AND. Identifiers of the SPDX license list and
    ``LicenseRef-<idstring>`` are accepted (the document declares each LicenseRef in
    ``hasExtractedLicensingInfos``).
    """
    parts = []
    for value in values:
        text = clean_text(value).strip()
        if not text:
            continue
        normalised = _normalise(text)
        if normalised is None:
            return None
        parts.append(normalised)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(p if _is_simple(p) else f"({p})" for p in parts)


@functools.cache
def _licensing() -> Any:
    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def _normalise(text: str) -> str | None:
    if _LICENSE_REF.fullmatch(text):
        return text
    try:
        parsed = _licensing().parse(text, validate=True, strict=True)
    except Exception:  # the parser raises assorted errors on junk input
        return None
    if parsed is None:
        return None
    rendered = parsed.render()
    return rendered if isinstance(rendered, str) and rendered else None


def _is_simple(expression: str) -> bool:
    return " " not in expression


# --- ids, names, purls, text ---


class _IdMaker:
    """SPDX ids ``SPDXRef-<kind>-<slug>-<hash>``: readable, unique, stable for the input."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def make(self, kind: str, label: str, identity: str) -> str:
        digest = hashlib.sha256(clean_text(identity).encode("utf-8")).hexdigest()[:10]
        slug = _slug(label)[:80]
        base = f"SPDXRef-{kind}-{slug}-{digest}" if slug else f"SPDXRef-{kind}-{digest}"
        candidate, n = base, 1
        while candidate in self._used:  # the very same package listed twice
            n += 1
            candidate = f"{base}-{n}"
        self._used.add(candidate)
        return candidate


def _slug(text: str) -> str:
    return _NOT_ID_CHARS.sub("-", clean_text(text)).strip("-.")


def _document_name(images: Sequence[ImageSnapshot]) -> str:
    names = ", ".join(clean_text(image_name(img) or img.id) for img in images)
    return f"dockwarden SBOM of {names}"


def oci_purl(img: ImageSnapshot) -> str | None:
    """``pkg:oci/NAME@sha256:...?arch=...&repository_url=...&tag=...`` when the id is a digest.

    The digest is the image id (the config digest): the snapshot does not carry the
    manifest digest. ``repository_url`` is the reference's repository with Docker Hub's
    implicit ``docker.io`` and ``library/`` made explicit. Shared with the CycloneDX
    renderer.
    """
    algo, _, hexpart = img.id.partition(":")
    if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexpart):
        return None
    repository, tag = split_reference(image_name(img))
    if not repository:
        return None
    qualifiers = {"repository_url": repository}
    if tag:
        qualifiers["tag"] = tag
    if img.config.architecture:
        qualifiers["arch"] = clean_text(img.config.architecture)
    name = repository.rsplit("/", 1)[-1].lower()
    try:
        return str(PackageURL(type="oci", name=name, version=img.id,
                              qualifiers=qualifiers).to_string())
    except ValueError:
        return None


def image_name(img: ImageSnapshot) -> str:
    """The image's name: the first name the image carries (a `docker save` archive's
    RepoTags, an OCI index's ref.name), else the reference the user gave; "" for an
    archive or layout without a name (its file name is no name of the image)."""
    for name in img.names:
        if clean_text(name).strip():
            return name
    if img.source in ("tar", "oci"):
        return ""
    return img.ref if img.ref != img.id else ""


def split_reference(ref: str) -> tuple[str, str]:
    """("docker.io/library/debian", "12") for "debian:12"; ("", "") for a bare id."""
    ref = clean_text(ref).strip()
    if not ref or ref.startswith("sha256:") or any(c.isspace() for c in ref):
        return "", ""
    ref = ref.split("@", 1)[0]
    tag = ""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    parts = ref.split("/")
    if not parts[0]:
        return "", ""
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if len(parts) == 1:
            parts = ["library", *parts]
        parts = ["docker.io", *parts]
    return "/".join(parts), tag


def parse_timestamp(timestamp: str) -> datetime:
    """An ISO 8601 date-time in UTC, to the second (both SBOM formats use it)."""
    try:
        when = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {timestamp!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def _spdx_timestamp(timestamp: str) -> str:
    return parse_timestamp(timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_text(value: str) -> str:
    """`value` through the one sanitising sink (`sanitize.clean`): control characters,
    bidi overrides and lone surrogates (os.fsdecode's stand-ins for undecodable bytes)
    shown as visible escapes, so nothing an image holds reaches a terminal or a consumer
    raw. Shared with the CycloneDX renderer, which cleans every string of a snapshot
    with it."""
    return sanitize.clean(value)
