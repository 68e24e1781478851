"""CycloneDX 1.6 JSON SBOM of one or more image snapshots, built with cyclonedx-python-lib.

The renderer is pure: snapshots in, one JSON document out, byte-identical for the same
input (no clock, no randomness: the caller passes the timestamp, and the serial number
is a uuid5 over the image ids).

Shape of the document:

* one image: ``metadata.component`` is the image (type ``container``, name = the
  reference, version = the image id, purl ``pkg:oci/NAME@sha256:...`` when the id is a
  digest); ``components`` is the flat list of its packages plus one ``operating-system``
  component for ``/etc/os-release``; ``dependencies`` says the image depends on each of
  them, and each package on the packages of the same image its metadata says it needs
  (dpkg Depends, apk D:, npm dependencies, Python Requires-Dist, resolved to what is
  installed).
* several images: no ``metadata.component``; each image is a top-level ``container``
  component with its packages nested in its own ``components`` (CycloneDX's assembly
  relation, "this image contains these packages"), and each image depends on its
  packages in ``dependencies``. Nesting keeps "which image holds which package" explicit
  even when two images share a package.

Each package is a ``library`` component with its purl, version, licenses and the
properties ``dockwarden:layer`` (layer index), ``dockwarden:path`` (the database or
metadata file it was read from) and ``dockwarden:source_name`` /
``dockwarden:source_version`` when the package has a separate source package. Its first
CPE (a shipped table of well-known products) is the component's ``cpe``, any others are
``dockwarden:cpe`` properties.

The image is named by the names it carries (RepoTags, OCI ref.name), else the
reference the user gave, else its id: an archive's file name is not its name
(`spdx.image_name`).

Licenses: a single valid SPDX id becomes ``license.id``; a single valid compound SPDX
expression becomes ``expression``; several strings that are all valid SPDX become one
``expression`` joined with AND when any of them is compound, else a list of ids; any
string that is not valid SPDX becomes a named license (``license.name``) so nothing is
lost and nothing crashes.

bom-refs are the purl when it is unique in the document, else the purl (or a
``dockwarden:`` key) plus ``#`` and a short hash of what distinguishes the occurrence
(image, layer, path), so they are stable from run to run.

What is the library's and what is not: components, metadata, licenses and properties
are cyclonedx-python-lib model objects, serialised through the library's CycloneDX 1.6
JSON view, and SPDX ids and expressions are recognised by the library. The top-level
envelope (``$schema``, ``bomFormat``, ``specVersion``, ``serialNumber``, ``version``) and
the flat ``dependencies`` list are assembled here rather than by ``Bom`` +
``JsonV1Dot6``: that path keeps every component in a sorted set with an expensive
comparison and re-checks the dependency graph in quadratic time (13-22 s for an image
with 3,000 npm packages, against about 3 s this way, nearly all of it the library's
per-object serialiser). A test checks that this module's
output equals the library's full ``Bom`` output for the same input. Components are
ordered OS first, then by name, version and bom-ref; dependencies by ref.

The image purl and the text clean-up are shared with `report.spdx` so both formats
name an image the same way.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema.schema import SCHEMA_VERSIONS
from cyclonedx.spdx import fixup_id, is_expression
from packageurl import PackageURL

from dockwarden.model.common import Unknown
from dockwarden.model.image import ImageSnapshot, OSRelease, Package
from dockwarden.report.spdx import clean_text as _text
from dockwarden.report.spdx import image_name, oci_purl, parse_timestamp

SPEC_VERSION = "1.6"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_VIEW = SCHEMA_VERSIONS[SchemaVersion.V1_6]
PROPERTY_PREFIX = "dockwarden:"
# Fixed namespace for the uuid5 serial numbers (uuid5 of the URL below); never change it,
# or every report's serial number changes.
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://dockwarden.invalid/sbom/cyclonedx")

_License = LicenseExpression | DisjunctiveLicense


def render(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str) -> str:
    """The CycloneDX 1.6 JSON document (UTF-8 text, trailing newline) for `images`.

    `timestamp` is an ISO 8601 date-time (``2024-05-01T12:00:00Z``); a naive one is
    taken as UTC. Raises ValueError if it is not a date-time or `images` is empty.
    """
    return json.dumps(as_dict(images, tool_version=tool_version, timestamp=timestamp),
                      indent=2, ensure_ascii=False) + "\n"


def as_dict(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str
            ) -> dict[str, Any]:
    """The document as JSON-ready data (see `render`)."""
    doc = _document(images, tool_version=tool_version, timestamp=timestamp)
    if doc.nest:  # children serialised here, in our order, not by the library's sorted set
        components = [
            {**_serialise(image), "components": [_serialise(e.component)
                                                 for e in _ordered(plan.entries)]}
            if plan.entries else _serialise(image)
            for plan, image in zip(doc.plans, doc.images, strict=True)
        ]
    else:
        components = [_serialise(e.component) for e in _ordered(doc.plans[0].entries)]
    dependencies: list[dict[str, Any]] = []
    for plan in doc.plans:
        refs = sorted(str(e.component.bom_ref) for e in plan.entries)
        dependencies.append({"ref": plan.ref, **({"dependsOn": refs} if refs else {})})
        targets = _package_targets(plan)
        for entry in plan.entries:
            ref = str(entry.component.bom_ref)
            needs = sorted({str(t.component.bom_ref) for t in targets.get(ref, ())})
            dependencies.append({"ref": ref, **({"dependsOn": needs} if needs else {})})
    dependencies.sort(key=lambda d: str(d["ref"]))
    return {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(images).urn,
        "version": 1,
        "metadata": _serialise(doc.metadata),
        "components": components,
        "dependencies": dependencies,
    }


def build_bom(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str) -> Bom:
    """The same document as a library `Bom` (same components, refs and dependencies).

    For the library's own outputs (XML, other spec versions) and for the test that
    checks `render` against ``JsonV1Dot6``; slow on large images (module docstring).
    """
    doc = _document(images, tool_version=tool_version, timestamp=timestamp)
    bom = Bom(serial_number=serial_number(images), version=1, metadata=doc.metadata)
    for plan, image in zip(doc.plans, doc.images, strict=True):
        children = [e.component for e in plan.entries]
        if doc.nest:
            image.components = children
            bom.components.add(image)
        else:
            bom.components.update(children)
        bom.register_dependency(image, children)
        by_ref = {str(e.component.bom_ref): e for e in plan.entries}
        for ref, needs in _package_targets(plan).items():
            bom.register_dependency(by_ref[ref].component, [t.component for t in needs])
    return bom


def _package_targets(plan: _ImagePlan) -> dict[str, list[_Entry]]:
    """bom-ref of each package -> the entries of the packages it depends on."""
    by_key: dict[str, _Entry] = {}
    for entry in plan.entries:
        if entry.package_key:
            by_key.setdefault(entry.package_key, entry)
    out: dict[str, list[_Entry]] = {}
    for entry in plan.entries:
        needs = [by_key[k] for k in entry.depends if k in by_key and by_key[k] is not entry]
        if needs:
            out[str(entry.component.bom_ref)] = list({id(n): n for n in needs}.values())
    return out


@dataclass(slots=True)
class _Document:
    plans: list[_ImagePlan]
    images: list[Component]  # one container component per plan
    metadata: BomMetaData
    nest: bool  # several images: packages nested in their image component


def _document(images: Sequence[ImageSnapshot], *, tool_version: str, timestamp: str
              ) -> _Document:
    if not images:
        raise ValueError("an SBOM needs at least one image")
    created = parse_timestamp(timestamp)
    plans = [_plan_image(img) for img in images]
    _assign_refs(plans)
    nest = len(plans) > 1
    image_components = [_image_component(p) for p in plans]
    tool = Component(type=ComponentType.APPLICATION, name="dockwarden",
                     version=_text(tool_version))
    metadata = BomMetaData(
        timestamp=created,
        tools=ToolRepository(components=[tool]),
        component=None if nest else image_components[0],
    )
    return _Document(plans=plans, images=image_components, metadata=metadata, nest=nest)


def _serialise(obj: Component | BomMetaData) -> dict[str, Any]:
    """One model object through the library's CycloneDX 1.6 JSON view."""
    as_json: Callable[..., str] = obj.as_json  # type: ignore[union-attr]
    data: dict[str, Any] = json.loads(as_json(view_=_VIEW))
    return data


def _ordered(entries: Iterable[_Entry]) -> list[_Entry]:
    """The operating system first, then packages by name, version and bom-ref."""
    return sorted(entries, key=lambda e: (e.component.type is not ComponentType.OPERATING_SYSTEM,
                                          e.component.name.casefold(), e.component.version or "",
                                          str(e.component.bom_ref)))


def serial_number(images: Sequence[ImageSnapshot]) -> uuid.UUID:
    """uuid5 over the image ids (the reference when an id is unknown), in order."""
    key = "\n".join(img.id or f"ref:{img.ref}" for img in images)
    return uuid.uuid5(SERIAL_NAMESPACE, _text(key))


# --- planning: decide every component and its bom-ref before building anything ---


@dataclass(slots=True)
class _Entry:
    """One package (or the OS release) of one image, waiting for its bom-ref."""

    key: str  # purl, or a dockwarden: key when there is none
    discriminator: str  # what tells two occurrences of the same key apart
    build: Callable[[str], Component]  # bom-ref -> the component
    package_key: str = ""  # Package.key of the package, "" for the OS
    depends: tuple[str, ...] = ()  # Package.key of the packages it depends on
    component: Component = field(init=False)


@dataclass(slots=True)
class _ImagePlan:
    image: ImageSnapshot
    key: str
    purl: PackageURL | None
    entries: list[_Entry]
    ref: str = ""


def _plan_image(img: ImageSnapshot) -> _ImagePlan:
    purl = image_purl(img)
    key = purl.to_string() if purl else f"{PROPERTY_PREFIX}image:{_text(img.id or img.ref)}"
    entries: list[_Entry] = []
    os_release = img.os_release
    if not isinstance(os_release, Unknown) and os_release is not None:
        entries.append(_os_entry(os_release))
    packages = img.packages
    if not isinstance(packages, Unknown):
        entries.extend(_package_entry(pkg) for pkg in packages)
    return _ImagePlan(image=img, key=key, purl=purl, entries=entries)


def _assign_refs(plans: list[_ImagePlan]) -> None:
    """Give every image and entry a bom-ref unique in the document and stable per input."""
    keys = Counter([p.key for p in plans] + [e.key for p in plans for e in p.entries])
    used: set[str] = set()

    def unique(key: str, discriminator: str) -> str:
        ref = key if keys[key] == 1 else f"{key}#{_short_hash(discriminator)}"
        candidate, n = ref, 1
        while candidate in used:  # the very same package listed twice: number the repeats
            n += 1
            candidate = f"{ref}-{n}"
        used.add(candidate)
        return candidate

    for plan in plans:
        plan.ref = unique(plan.key, f"image\0{plan.image.id}\0{plan.image.ref}")
        for entry in plan.entries:
            ref = unique(entry.key, f"{plan.image.id}\0{plan.image.ref}\0{entry.discriminator}")
            entry.component = entry.build(ref)


def _image_component(plan: _ImagePlan) -> Component:
    img = plan.image
    props = [Property(name=f"{PROPERTY_PREFIX}source", value=_text(img.source))]
    props += [Property(name=f"{PROPERTY_PREFIX}layer:{layer.index}", value=_text(layer.digest))
              for layer in img.layers]
    if isinstance(img.packages, Unknown):
        props.append(Property(name=f"{PROPERTY_PREFIX}packages",
                              value=_text(f"unknown: {img.packages.reason}")))
    if isinstance(img.os_release, Unknown):
        props.append(Property(name=f"{PROPERTY_PREFIX}os_release",
                              value=_text(f"unknown: {img.os_release.reason}")))
    props += [Property(name=f"{PROPERTY_PREFIX}skipped", value=_text(f"{what}: {why}"))
              for what, why in img.skipped]
    if not img.complete:
        props.append(Property(name=f"{PROPERTY_PREFIX}complete", value="false"))
    return Component(
        type=ComponentType.CONTAINER,
        name=_text(image_name(img) or img.id),
        version=_text(img.id) or None,
        bom_ref=plan.ref,
        purl=plan.purl,
        properties=props,
    )


def _os_entry(osr: OSRelease) -> _Entry:
    key = f"{PROPERTY_PREFIX}os:{_text(osr.id)}@{_text(osr.version_id)}"

    def build(ref: str) -> Component:
        props = []
        if osr.version_codename:
            props.append(Property(name=f"{PROPERTY_PREFIX}version_codename",
                                  value=_text(osr.version_codename)))
        if osr.id_like:
            props.append(Property(name=f"{PROPERTY_PREFIX}id_like",
                                  value=_text(" ".join(osr.id_like))))
        return Component(
            type=ComponentType.OPERATING_SYSTEM,
            name=_text(osr.id) or "unknown",
            version=_text(osr.version_id) or None,
            description=_text(osr.pretty_name) or None,
            bom_ref=ref,
            properties=props,
        )

    return _Entry(key=key, discriminator="os-release", build=build)


def _package_entry(pkg: Package) -> _Entry:
    purl = _parse_purl(pkg.purl)
    key = purl.to_string() if purl else (
        f"{PROPERTY_PREFIX}pkg:{_text(pkg.type)}/{_text(pkg.name)}@{_text(pkg.version)}")
    discriminator = f"{pkg.type}\0{pkg.name}\0{pkg.version}\0{pkg.arch}\0{pkg.layer}\0{pkg.path}"

    def build(ref: str) -> Component:
        props = [
            Property(name=f"{PROPERTY_PREFIX}layer", value=str(pkg.layer)),
            Property(name=f"{PROPERTY_PREFIX}path", value=_text(pkg.path)),
        ]
        if pkg.source_name:
            props.append(Property(name=f"{PROPERTY_PREFIX}source_name",
                                  value=_text(pkg.source_name)))
        if pkg.source_version:
            props.append(Property(name=f"{PROPERTY_PREFIX}source_version",
                                  value=_text(pkg.source_version)))
        if pkg.purl and purl is None:
            props.append(Property(name=f"{PROPERTY_PREFIX}invalid_purl", value=_text(pkg.purl)))
        cpes = [_text(c) for c in pkg.cpes if c]
        props += [Property(name=f"{PROPERTY_PREFIX}cpe", value=c) for c in cpes[1:]]
        return Component(
            type=ComponentType.LIBRARY,
            name=_text(pkg.name) or "unknown",
            version=_text(pkg.version) or None,
            bom_ref=ref,
            purl=purl,
            licenses=licenses(pkg.licenses),
            properties=props,
            cpe=cpes[0] if cpes else None,
        )

    return _Entry(key=key, discriminator=discriminator, build=build, package_key=pkg.key,
                  depends=pkg.depends)


# --- licenses ---


def licenses(values: Iterable[str]) -> list[_License]:
    """CycloneDX licenses for a package's license strings (see the module docstring)."""
    return list(_licenses(tuple(values)))


@functools.lru_cache(maxsize=4096)
def _licenses(values: tuple[str, ...]) -> tuple[_License, ...]:
    return tuple(_make_licenses(values))


def _make_licenses(values: tuple[str, ...]) -> list[_License]:
    texts = [t for t in (_text(v).strip() for v in values) if t]
    if not texts:
        return []
    factory = LicenseFactory()
    if len(texts) == 1:
        try:
            return [factory.make_from_string(texts[0])]
        except Exception:  # the SPDX parser is not hardened against junk
            return [DisjunctiveLicense(name=texts[0])]
    ids = [_spdx_id(t) for t in texts]
    if all(ids):
        return [DisjunctiveLicense(id=i) for i in ids if i]
    if all(i or _is_expression(t) for i, t in zip(ids, texts, strict=True)):
        joined = " AND ".join(i or f"({t})" for i, t in zip(ids, texts, strict=True))
        return [LicenseExpression(joined)]
    return [DisjunctiveLicense(id=i) if i else DisjunctiveLicense(name=t)
            for i, t in zip(ids, texts, strict=True)]


def _spdx_id(text: str) -> str | None:
    try:
        return fixup_id(text)
    except Exception:
        return None


def _is_expression(text: str) -> bool:
    try:
        return bool(is_expression(text))
    except Exception:
        return False


# --- purls ---


def image_purl(img: ImageSnapshot) -> PackageURL | None:
    """The image's ``pkg:oci`` purl (see `spdx.oci_purl`), or None."""
    text = oci_purl(img)
    return PackageURL.from_string(text) if text else None


def _parse_purl(text: str) -> PackageURL | None:
    if not text:
        return None
    try:
        return PackageURL.from_string(_text(text))
    except ValueError:
        return None


# --- small helpers ---




def _short_hash(text: str) -> str:
    return hashlib.sha256(_text(text).encode("utf-8")).hexdigest()[:12]

