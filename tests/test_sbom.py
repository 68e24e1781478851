"""SBOM renderers (CycloneDX 1.6 and SPDX 2.3 JSON) on hand-built image snapshots,
validated against the official JSON schemas.

The schemas in tests/data/sbom/ are verbatim copies of the upstream files:

| file | repository: path @ commit | characters |
| --- | --- | --- |
| bom-1.6.schema.json | CycloneDX/specification: schema/bom-1.6.schema.json @ 0031673f | 262,592 |
| spdx.schema.json | CycloneDX/specification: schema/spdx.schema.json @ 09f4dd99 | 9,451 |
| jsf-0.82.schema.json | CycloneDX/specification: schema/jsf-0.82.schema.json @ 07b86aab | 10,946 |
| spdx-schema-2.3.json | spdx/spdx-spec: schemas/spdx-schema.json @ 03e11013 (2.3.1) | 47,594 |

CycloneDX's spdx.schema.json at that commit is the v1.0-3.10 license list, so license
ids used below are ones that list knows.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packageurl import PackageURL
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from dockwarden import sanitize
from dockwarden.model.common import Unknown
from dockwarden.model.image import (
    ImageConfigFacts,
    ImageSnapshot,
    LayerFacts,
    OSRelease,
    Package,
)
from dockwarden.report import cyclonedx, spdx
from hostile.conftest import strings

DATA = Path(__file__).parent / "data" / "sbom"
TIMESTAMP = "2024-05-01T12:30:45Z"
TOOL_VERSION = "0.1.0"

HOSTILE = "ünïcødé ☃ 🐳 \"quoted\" 'single' <tag> & \\ \x00\x01\x07\x1b[31m\x7f\x9b\n\t end"
SURROGATE = "bad-\udcff-bytes"  # what os.fsdecode makes of an undecodable byte

SCHEMAS = {  # file -> (characters, sha256 of the bytes): pins the verbatim copies
    "bom-1.6.schema.json": (
        262592, "aa99ec0d47eb0feef5db2613afc7fcd757a68068f5ff53bc975eb7ac09e3ccf5"),
    "spdx.schema.json": (
        9451, "969bfb027fc7267d7543cc2768bb2e37041fc3730bf7d23624f85a46c4b95823"),
    "jsf-0.82.schema.json": (
        10946, "18cd08121017bdc1f58901775df1f7fd430785671adbf99178e4128e3e12d1b0"),
    "spdx-schema-2.3.json": (
        47594, "4126dc29f15e92feec92e9622f4939131ad58b125d6f578aa93e980a6e6f3212"),
}


# --- snapshots built by hand ---


def purl(type_: str, name: str, version: str, namespace: str | None = None,
         **qualifiers: str) -> str:
    return str(PackageURL(type=type_, namespace=namespace, name=name, version=version,
                          qualifiers=qualifiers or None).to_string())


def pkg(type_: str, name: str, version: str, purl_: str, *, layer: int = 0, path: str = "",
        **kw: Any) -> Package:
    return Package(type=type_, name=name, version=version, layer=layer, path=path,
                   purl=purl_, **kw)


DEB = "/var/lib/dpkg/status"


def debian_packages() -> tuple[Package, ...]:
    return (
        pkg("deb", "zlib1g", "1:1.2.13.dfsg-1", purl("deb", "zlib1g", "1:1.2.13.dfsg-1",
            "debian", arch="amd64", distro="debian-12"), path=DEB, arch="amd64",
            source_name="zlib", source_version="1:1.2.13.dfsg-1", licenses=("Zlib",)),
        pkg("deb", "libc6", "2.36-9+deb12u7", purl("deb", "libc6", "2.36-9+deb12u7", "debian",
            arch="amd64", distro="debian-12"), path=DEB, arch="amd64", source_name="glibc",
            licenses=("LGPL-2.1-or-later", "GPL-2.0-only")),
        pkg("deb", "base-files", "12.4+deb12u5", purl("deb", "base-files", "12.4+deb12u5",
            "debian", arch="amd64", distro="debian-12"), path=DEB, arch="amd64"),
        pkg("pypi", "requests", "2.31.0", purl("pypi", "requests", "2.31.0"), layer=2,
            path="/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
            licenses=("Apache-2.0",)),
        pkg("pypi", "ünïcødé-pkg", "1.0", purl("pypi", "ünïcødé-pkg", "1.0"), layer=2,
            path="/usr/lib/python3/dist-packages/ünïcødé_pkg-1.0.dist-info/METADATA",
            licenses=("MIT OR Apache-2.0",)),
        pkg("npm", "@babel/core", "7.24.0", purl("npm", "core", "7.24.0", "@babel"), layer=3,
            path="/app/node_modules/@babel/core/package.json", licenses=("MIT",)),
        pkg("npm", "left-pad", "1.3.0", purl("npm", "left-pad", "1.3.0"), layer=3,
            path="/app/node_modules/left-pad/package.json",
            licenses=("WTFPL", "MIT OR BSD-3-Clause")),
        pkg("golang", "github.com/spf13/cobra", "v1.8.0",
            purl("golang", "cobra", "v1.8.0", "github.com/spf13"), layer=3,
            path="/usr/local/bin/app", licenses=("Apache-2.0",)),
        pkg("deb", "weird-license", "1.0-1", purl("deb", "weird-license", "1.0-1", "debian",
            arch="all"), path=DEB, licenses=("GPL-2+ with <b>OpenSSL</b> exception\x00",)),
        pkg("deb", "mixed-licenses", "2.0-1", purl("deb", "mixed-licenses", "2.0-1", "debian",
            arch="all"), path=DEB, licenses=("MIT", "public-domain", "LicenseRef-foo")),
        # the same purl twice (two site-packages directories): two entries, two refs
        pkg("pypi", "six", "1.16.0", purl("pypi", "six", "1.16.0"), layer=2,
            path="/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            licenses=("MIT",)),
        pkg("pypi", "six", "1.16.0", purl("pypi", "six", "1.16.0"), layer=4,
            path="/opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
            licenses=("MIT",)),
        pkg("deb", HOSTILE, HOSTILE, purl("deb", "hostile", "1.0", "debian"), path=DEB,
            source_name=HOSTILE, source_version=SURROGATE, licenses=(HOSTILE, SURROGATE)),
        pkg("generic", "no-purl " + SURROGATE, "0", "", layer=1, path="/opt/thing"),
    )


def alpine_packages() -> tuple[Package, ...]:
    return (
        pkg("apk", "musl", "1.2.4-r2", purl("apk", "musl", "1.2.4-r2", "alpine",
            arch="x86_64", distro="3.19.1"), path="/lib/apk/db/installed", arch="x86_64",
            source_name="musl", licenses=("MIT",)),
        pkg("apk", "busybox-binsh", "1.36.1-r15", purl("apk", "busybox-binsh", "1.36.1-r15",
            "alpine", arch="x86_64", distro="3.19.1"), path="/lib/apk/db/installed",
            arch="x86_64", source_name="busybox", licenses=("GPL-2.0-only",)),
        # the same purl as in the Debian image's inventory: refs must still be unique
        pkg("pypi", "requests", "2.31.0", purl("pypi", "requests", "2.31.0"), layer=1,
            path="/usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
            licenses=("Apache-2.0",)),
    )


def fedora_packages() -> tuple[Package, ...]:
    return (
        pkg("rpm", "bash", "5.2.26-3.fc40", purl("rpm", "bash", "5.2.26-3.fc40", "fedora",
            arch="x86_64", epoch="1", distro="fedora-40"), path="/var/lib/rpm/rpmdb.sqlite",
            arch="x86_64", source_name="bash", source_version="5.2.26-3.fc40.src.rpm",
            licenses=("GPL-3.0-or-later",)),
        pkg("rpm", "openssl-libs", "3.2.1-2.fc40", purl("rpm", "openssl-libs", "3.2.1-2.fc40",
            "fedora", arch="x86_64", epoch="1"), path="/var/lib/rpm/rpmdb.sqlite",
            arch="x86_64", licenses=("Apache-2.0",)),
    )


def layers(n: int) -> tuple[LayerFacts, ...]:
    return tuple(
        LayerFacts(index=i, digest="sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
                   created_by=f"RUN step {i}", size=100 * i, entries=i)
        for i in range(n)
    )


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def snapshot(ref: str, packages: Any, os_release: Any, *, seed: str, n_layers: int = 5,
             arch: str = "amd64", **kw: Any) -> ImageSnapshot:
    kw.setdefault("names", (ref,))  # the archive's RepoTags name the image
    return ImageSnapshot(
        ref=ref, id=digest(seed), source="tar",
        config=ImageConfigFacts(architecture=arch, os="linux"),
        history=(), layers=layers(n_layers), file_count=1000, total_size=10**6,
        packages=packages, os_release=os_release, **kw,
    )


def debian_image() -> ImageSnapshot:
    return snapshot("localhost:5000/team/app:1.0", debian_packages(),
                    OSRelease("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)",
                              id_like=()), seed="debian")


def alpine_image() -> ImageSnapshot:
    return snapshot("alpine:3.19", alpine_packages(),
                    OSRelease("alpine", "3.19.1", pretty_name="Alpine Linux v3.19"),
                    seed="alpine", n_layers=2, arch="amd64")


def fedora_image() -> ImageSnapshot:
    return snapshot("registry.fedoraproject.org/fedora@" + digest("fedora"), fedora_packages(),
                    OSRelease("fedora", "40", pretty_name="Fedora Linux 40 (Container Image)",
                              id_like=("rhel", "centos")), seed="fedora", n_layers=1)


def all_packages(images: list[ImageSnapshot]) -> list[Package]:
    out: list[Package] = []
    for img in images:
        assert not isinstance(img.packages, Unknown)
        out.extend(img.packages)
    return out


# --- schemas ---


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cyclonedx_validator() -> Any:
    bom = load("bom-1.6.schema.json")
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))
        for schema in (bom, load("spdx.schema.json"), load("jsf-0.82.schema.json"))
    )
    validator_cls = jsonschema.validators.validator_for(bom)
    assert validator_cls is jsonschema.Draft7Validator
    return validator_cls(bom, registry=registry, format_checker=validator_cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def spdx_validator() -> Any:
    schema = load("spdx-schema-2.3.json")
    validator_cls = jsonschema.validators.validator_for(schema)
    assert validator_cls is jsonschema.Draft201909Validator
    return validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)


def errors(validator: Any, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
            for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_files_are_the_verbatim_upstream_copies(name: str) -> None:
    raw = (DATA / name).read_bytes()
    chars, sha = SCHEMAS[name]
    assert len(raw.decode("utf-8")) == chars
    assert hashlib.sha256(raw).hexdigest() == sha
    schema = json.loads(raw)
    jsonschema.validators.validator_for(schema).check_schema(schema)


# --- rendering helpers ---

IMAGE_SETS = {
    "debian": lambda: [debian_image()],
    "alpine": lambda: [alpine_image()],
    "fedora": lambda: [fedora_image()],
    "three-images": lambda: [debian_image(), alpine_image(), fedora_image()],
}


def render_cdx(images: list[ImageSnapshot]) -> str:
    return cyclonedx.render(images, tool_version=TOOL_VERSION, timestamp=TIMESTAMP)


def render_spdx(images: list[ImageSnapshot]) -> str:
    return spdx.render(images, tool_version=TOOL_VERSION, timestamp=TIMESTAMP)


def walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for c in components:
        yield c
        yield from walk(c.get("components", []))


def props(component: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        out.setdefault(p["name"], []).append(p.get("value", ""))
    return out


def clean(text: str) -> str:
    return spdx.clean_text(text)


# --- CycloneDX ---


@pytest.mark.parametrize("case", sorted(IMAGE_SETS))
def test_cyclonedx_validates_against_the_official_schema(case: str,
                                                          cyclonedx_validator: Any) -> None:
    doc = json.loads(render_cdx(IMAGE_SETS[case]()))
    assert errors(cyclonedx_validator, doc) == []
    assert doc["bomFormat"] == "CycloneDX"
    assert doc["specVersion"] == "1.6"
    assert doc["$schema"] == "http://cyclonedx.org/schema/bom-1.6.schema.json"


def test_schema_validation_is_not_vacuous(cyclonedx_validator: Any, spdx_validator: Any
                                          ) -> None:
    cdx = json.loads(render_cdx([debian_image()]))
    cdx["components"][0]["type"] = "not-a-type"
    cdx["components"][1]["licenses"] = [{"license": {"id": "Not-An-SPDX-Id"}}]
    assert len(errors(cyclonedx_validator, cdx)) >= 2
    doc = json.loads(render_spdx([debian_image()]))
    doc["packages"][1]["SPDXID"] = "SPDXRef-has space"
    del doc["documentNamespace"]
    assert len(errors(spdx_validator, doc)) == 2


@pytest.mark.parametrize("case", sorted(IMAGE_SETS))
def test_cyclonedx_every_package_once_with_its_purl(case: str) -> None:
    images = IMAGE_SETS[case]()
    doc = json.loads(render_cdx(images))
    libraries = [c for c in walk(doc["components"]) if c["type"] == "library"]
    assert len(libraries) == len(all_packages(images))
    seen = Counter(
        (c.get("purl", ""), props(c)["dockwarden:layer"][0], props(c)["dockwarden:path"][0])
        for c in libraries
    )
    expected = Counter((p.purl, str(p.layer), clean(p.path)) for p in all_packages(images))
    assert seen == expected
    assert all(n == 1 for n in seen.values())
    refs = [c["bom-ref"] for c in walk(doc["components"])]
    if "component" in doc["metadata"]:
        refs.append(doc["metadata"]["component"]["bom-ref"])
    assert len(refs) == len(set(refs))


def test_cyclonedx_single_image_shape() -> None:
    img = debian_image()
    doc = json.loads(render_cdx([img]))
    image = doc["metadata"]["component"]
    assert image["type"] == "container"
    assert image["name"] == "localhost:5000/team/app:1.0"
    assert image["version"] == img.id
    assert image["purl"] == (f"pkg:oci/app@{img.id}?arch=amd64"
                             "&repository_url=localhost:5000/team/app&tag=1.0")
    assert image["bom-ref"] == image["purl"]
    assert doc["metadata"]["timestamp"] == "2024-05-01T12:30:45+00:00"
    assert doc["metadata"]["tools"]["components"] == [
        {"name": "dockwarden", "type": "application", "version": TOOL_VERSION}]
    os_component = doc["components"][0]
    assert os_component["type"] == "operating-system"
    assert (os_component["name"], os_component["version"]) == ("debian", "12")
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert sorted(deps[image["bom-ref"]]) == sorted(c["bom-ref"] for c in doc["components"])
    assert all(deps[c["bom-ref"]] == [] for c in doc["components"])


def test_cyclonedx_package_properties_and_licenses() -> None:
    doc = json.loads(render_cdx([debian_image()]))
    by_purl = {c.get("purl"): c for c in doc["components"] if c["type"] == "library"}
    zlib = by_purl[purl("deb", "zlib1g", "1:1.2.13.dfsg-1", "debian", arch="amd64",
                        distro="debian-12")]
    assert zlib["bom-ref"] == zlib["purl"]
    assert props(zlib) == {"dockwarden:layer": ["0"], "dockwarden:path": [DEB],
                           "dockwarden:source_name": ["zlib"],
                           "dockwarden:source_version": ["1:1.2.13.dfsg-1"]}
    assert zlib["licenses"] == [{"license": {"id": "Zlib"}}]
    base = by_purl[purl("deb", "base-files", "12.4+deb12u5", "debian", arch="amd64",
                        distro="debian-12")]
    assert set(props(base)) == {"dockwarden:layer", "dockwarden:path"}
    assert "licenses" not in base
    libc = by_purl[purl("deb", "libc6", "2.36-9+deb12u7", "debian", arch="amd64",
                        distro="debian-12")]
    assert sorted(lic["license"]["id"] for lic in libc["licenses"]) == [
        "GPL-2.0-only", "LGPL-2.1-or-later"]
    unicode_pkg = by_purl[purl("pypi", "ünïcødé-pkg", "1.0")]
    assert unicode_pkg["name"] == "ünïcødé-pkg"
    assert unicode_pkg["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    left_pad = by_purl[purl("npm", "left-pad", "1.3.0")]
    assert left_pad["licenses"] == [{"expression": "WTFPL AND (MIT OR BSD-3-Clause)"}]
    weird = by_purl[purl("deb", "weird-license", "1.0-1", "debian", arch="all")]
    assert weird["licenses"] == [
        {"license": {"name": "GPL-2+ with <b>OpenSSL</b> exception\\x00"}}]
    mixed = by_purl[purl("deb", "mixed-licenses", "2.0-1", "debian", arch="all")]
    assert sorted(json.dumps(lic, sort_keys=True) for lic in mixed["licenses"]) == sorted(
        json.dumps(x, sort_keys=True) for x in (
            {"license": {"id": "MIT"}}, {"license": {"name": "public-domain"}},
            {"license": {"name": "LicenseRef-foo"}}))
    scoped = by_purl["pkg:npm/%40babel/core@7.24.0"]
    assert scoped["name"] == "@babel/core"
    sixes = [c for c in doc["components"] if c.get("purl") == "pkg:pypi/six@1.16.0"]
    assert len(sixes) == 2
    assert all(c["bom-ref"].startswith("pkg:pypi/six@1.16.0#") for c in sixes)


def test_cyclonedx_rpm_epoch_and_digest_reference() -> None:
    img = fedora_image()
    doc = json.loads(render_cdx([img]))
    bash = next(c for c in doc["components"] if c["name"] == "bash")
    assert bash["purl"] == ("pkg:rpm/fedora/bash@5.2.26-3.fc40"
                            "?arch=x86_64&distro=fedora-40&epoch=1")
    assert props(bash)["dockwarden:source_version"] == ["5.2.26-3.fc40.src.rpm"]
    image = doc["metadata"]["component"]
    assert image["purl"] == (f"pkg:oci/fedora@{img.id}?arch=amd64"
                             "&repository_url=registry.fedoraproject.org/fedora")
    osc = next(c for c in doc["components"] if c["type"] == "operating-system")
    assert props(osc)["dockwarden:id_like"] == ["rhel centos"]


def test_cyclonedx_several_images_nest_their_packages() -> None:
    images = [debian_image(), alpine_image(), fedora_image()]
    doc = json.loads(render_cdx(images))
    assert "component" not in doc["metadata"]
    assert [c["type"] for c in doc["components"]] == ["container"] * 3
    assert [c["name"] for c in doc["components"]] == [img.ref for img in images]
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    for image, img in zip(doc["components"], images, strict=True):
        children = image["components"]
        assert children[0]["type"] == "operating-system"
        assert deps[image["bom-ref"]] == {c["bom-ref"] for c in children}
        assert not isinstance(img.packages, Unknown)
        assert len(children) == len(img.packages) + 1
    # requests is in two images: one component in each, distinct refs
    requests = [c for c in walk(doc["components"]) if c.get("purl") == "pkg:pypi/requests@2.31.0"]
    assert len(requests) == 2
    assert len({c["bom-ref"] for c in requests}) == 2


def test_cyclonedx_serial_number_is_uuid5_of_the_image_ids() -> None:
    one = json.loads(render_cdx([debian_image()]))["serialNumber"]
    again = json.loads(render_cdx([debian_image()]))["serialNumber"]
    other = json.loads(render_cdx([alpine_image()]))["serialNumber"]
    both = json.loads(render_cdx([debian_image(), alpine_image()]))["serialNumber"]
    assert one == again
    assert len({one, other, both}) == 3
    assert one == cyclonedx.serial_number([debian_image()]).urn
    assert cyclonedx.serial_number([debian_image()]).version == 5


def test_cyclonedx_equals_the_librarys_own_bom_output() -> None:
    from cyclonedx.output.json import JsonV1Dot6

    def norm(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return sorted((norm(v) for v in x), key=lambda v: json.dumps(v, sort_keys=True))
        return x

    for images in ([debian_image()], [debian_image(), alpine_image(), fedora_image()]):
        ours = cyclonedx.as_dict(images, tool_version=TOOL_VERSION, timestamp=TIMESTAMP)
        bom = cyclonedx.build_bom(images, tool_version=TOOL_VERSION, timestamp=TIMESTAMP)
        library = json.loads(JsonV1Dot6(bom).output_as_string())
        assert norm(ours) == norm(library)


def test_cyclonedx_unknown_inventory_is_said_not_hidden(cyclonedx_validator: Any) -> None:
    img = snapshot("busybox:latest", Unknown("layer 2 is corrupt"), Unknown("not read"),
                   seed="busybox", complete=False, skipped=(("rpmdb", "Berkeley DB"),))
    doc = json.loads(render_cdx([img]))
    assert errors(cyclonedx_validator, doc) == []
    assert doc["components"] == []
    p = props(doc["metadata"]["component"])
    assert p["dockwarden:packages"] == ["unknown: layer 2 is corrupt"]
    assert p["dockwarden:os_release"] == ["unknown: not read"]
    assert p["dockwarden:skipped"] == ["rpmdb: Berkeley DB"]
    assert p["dockwarden:complete"] == ["false"]


# --- SPDX ---


@pytest.mark.parametrize("case", sorted(IMAGE_SETS))
def test_spdx_validates_against_the_official_schema(case: str, spdx_validator: Any) -> None:
    doc = json.loads(render_spdx(IMAGE_SETS[case]()))
    assert errors(spdx_validator, doc) == []
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["creationInfo"] == {"created": "2024-05-01T12:30:45Z",
                                   "creators": [f"Tool: dockwarden-{TOOL_VERSION}"]}


@pytest.mark.parametrize("case", sorted(IMAGE_SETS))
def test_spdx_every_package_once_with_its_purl(case: str) -> None:
    images = IMAGE_SETS[case]()
    doc = json.loads(render_spdx(images))
    libraries = [p for p in doc["packages"] if p["primaryPackagePurpose"] == "LIBRARY"]
    assert len(libraries) == len(all_packages(images))
    purls = Counter(ref["referenceLocator"] for p in libraries for ref in p.get("externalRefs", [])
                    if ref["referenceType"] == "purl")
    assert purls == Counter(p.purl for p in all_packages(images) if p.purl)
    for p in libraries:
        refs = p.get("externalRefs", [])
        assert all(r["referenceCategory"] == "PACKAGE-MANAGER" for r in refs)
        assert (p["downloadLocation"], p["filesAnalyzed"], p["licenseConcluded"]) == (
            "NOASSERTION", False, "NOASSERTION")
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", sorted(IMAGE_SETS))
def test_spdx_relationships(case: str) -> None:
    images = IMAGE_SETS[case]()
    doc = json.loads(render_spdx(images))
    ids = {p["SPDXID"] for p in doc["packages"]}
    purpose = {p["SPDXID"]: p["primaryPackagePurpose"] for p in doc["packages"]}
    rels = doc["relationships"]
    described = [r["relatedSpdxElement"] for r in rels if r["relationshipType"] == "DESCRIBES"]
    assert all(r["spdxElementId"] == "SPDXRef-DOCUMENT"
               for r in rels if r["relationshipType"] == "DESCRIBES")
    assert [purpose[i] for i in described] == ["CONTAINER"] * len(images)
    contains = [r for r in rels if r["relationshipType"] == "CONTAINS"]
    assert {r["spdxElementId"] for r in contains} == set(described)
    contained = [r["relatedSpdxElement"] for r in contains]
    assert sorted(contained) == sorted(i for i in ids if purpose[i] != "CONTAINER")
    assert len(contained) == len(set(contained))
    assert len(rels) == len(described) + len(contains)


def test_spdx_fields() -> None:
    img = debian_image()
    doc = json.loads(render_spdx([img]))
    hexpart = img.id.split(":", 1)[1]
    assert doc["documentNamespace"].startswith(f"https://dockwarden.invalid/spdx/{hexpart}-")
    assert doc["documentNamespace"] == spdx.document_namespace([img])
    image = doc["packages"][0]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert (image["name"], image["versionInfo"]) == ("localhost:5000/team/app:1.0", img.id)
    assert image["externalRefs"] == [{
        "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
        "referenceLocator": (f"pkg:oci/app@{img.id}?arch=amd64"
                             "&repository_url=localhost:5000/team/app&tag=1.0")}]
    os_package = doc["packages"][1]
    assert os_package["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    assert (os_package["name"], os_package["versionInfo"]) == ("debian", "12")
    by_name = {p["name"]: p for p in doc["packages"]}
    zlib = by_name["zlib1g"]
    assert zlib["licenseDeclared"] == "Zlib"
    assert zlib["comment"] == "source package: zlib 1:1.2.13.dfsg-1"
    assert zlib["sourceInfo"] == (
        f"acquired package info from {DEB} in layer 0 ({layers(1)[0].digest})")
    assert by_name["libc6"]["licenseDeclared"] == "LGPL-2.1-or-later AND GPL-2.0-only"
    assert by_name["libc6"]["comment"] == "source package: glibc"
    assert by_name["left-pad"]["licenseDeclared"] == "WTFPL AND (MIT OR BSD-3-Clause)"
    assert by_name["ünïcødé-pkg"]["licenseDeclared"] == "MIT OR Apache-2.0"
    assert by_name["weird-license"]["licenseDeclared"] == "NOASSERTION"
    assert by_name["mixed-licenses"]["licenseDeclared"] == "NOASSERTION"
    assert by_name["base-files"]["licenseDeclared"] == "NOASSERTION"
    assert "comment" not in by_name["base-files"]
    assert "externalRefs" not in by_name["no-purl bad-\\udcff-bytes"]
    assert by_name["@babel/core"]["externalRefs"][0]["referenceLocator"] == (
        "pkg:npm/%40babel/core@7.24.0")


def test_spdx_several_images_namespace_and_names() -> None:
    images = [debian_image(), alpine_image()]
    doc = json.loads(render_spdx(images))
    assert doc["documentNamespace"].startswith("https://dockwarden.invalid/spdx/images-")
    assert doc["name"] == "dockwarden SBOM of localhost:5000/team/app:1.0, alpine:3.19"
    assert doc["documentNamespace"] != json.loads(render_spdx(images[:1]))["documentNamespace"]


def test_spdx_unknown_inventory(spdx_validator: Any) -> None:
    img = snapshot("sha256:" + "0" * 64, Unknown("layer 2 is corrupt"), None, seed="x",
                   complete=False)
    doc = json.loads(render_spdx([img]))
    assert errors(spdx_validator, doc) == []
    assert len(doc["packages"]) == 1
    assert "externalRefs" not in doc["packages"][0]  # a bare id has no repository name
    assert doc["packages"][0]["comment"] == (
        "package inventory unknown: layer 2 is corrupt; the image could not be read completely")


# --- both formats ---

RENDERERS = {"cyclonedx": render_cdx, "spdx": render_spdx}


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_output_is_byte_identical_for_the_same_input(fmt: str) -> None:
    render = RENDERERS[fmt]
    first = render([debian_image(), alpine_image(), fedora_image()])
    assert render([debian_image(), alpine_image(), fedora_image()]) == first
    assert first.endswith("}\n")


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_output_does_not_depend_on_hash_seed(fmt: str) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_sbom as t; "
        f"sys.stdout.write(t.RENDERERS[{fmt!r}]([t.debian_image(), t.alpine_image(), "
        "t.fedora_image()]))"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONIOENCODING": "utf-8"}
        result = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)],
                                capture_output=True, env=env, check=True)
        outputs.add(result.stdout)
    outputs.add(RENDERERS[fmt]([debian_image(), alpine_image(), fedora_image()]).encode())
    assert len(outputs) == 1


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_hostile_strings_survive(fmt: str) -> None:
    text = RENDERERS[fmt]([debian_image()])
    text.encode("utf-8")  # no lone surrogates left
    assert not any(ord(c) < 0x20 and c != "\n" for c in text)  # control chars are escaped
    values = set(strings(json.loads(text)))
    # the package name, its control characters shown escaped (sanitize.clean)
    assert sanitize.clean(HOSTILE) in values
    assert not any(c in v for v in values for c in "\x00\x1b\x7f\x9b")
    assert any("bad-\\udcff-bytes" in v for v in values)
    assert not any(SURROGATE in v for v in values)


def test_hostile_reference_and_ids(cyclonedx_validator: Any, spdx_validator: Any) -> None:
    img = ImageSnapshot(
        ref=HOSTILE + SURROGATE, id="", source="engine", config=ImageConfigFacts(),
        history=(), layers=(), file_count=0, total_size=0,
        packages=(pkg("deb", "x", "1", "not a purl", path=HOSTILE),),
        os_release=OSRelease(HOSTILE, SURROGATE),
    )
    cdx = json.loads(render_cdx([img]))
    assert errors(cyclonedx_validator, cdx) == []
    assert "purl" not in cdx["metadata"]["component"]
    x = next(c for c in cdx["components"] if c["name"] == "x")
    assert props(x)["dockwarden:invalid_purl"] == ["not a purl"]
    doc = json.loads(render_spdx([img]))
    assert errors(spdx_validator, doc) == []
    x_spdx = next(p for p in doc["packages"] if p["name"] == "x")
    assert "externalRefs" not in x_spdx
    assert x_spdx["comment"] == "invalid purl: not a purl"
    assert doc["documentNamespace"].startswith("https://dockwarden.invalid/spdx/")
    assert all(c.isascii() and not c.isspace() for c in doc["documentNamespace"])


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_bad_arguments(fmt: str) -> None:
    module = cyclonedx if fmt == "cyclonedx" else spdx
    with pytest.raises(ValueError, match="at least one image"):
        module.render([], tool_version=TOOL_VERSION, timestamp=TIMESTAMP)
    with pytest.raises(ValueError, match="ISO 8601"):
        module.render([debian_image()], tool_version=TOOL_VERSION, timestamp="yesterday")


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_timestamps_are_normalised_to_utc(fmt: str) -> None:
    module = cyclonedx if fmt == "cyclonedx" else spdx
    a = module.render([alpine_image()], tool_version="1", timestamp="2024-05-01T14:30:45.123+02:00")
    b = module.render([alpine_image()], tool_version="1", timestamp="2024-05-01T12:30:45")
    assert a == b


def test_both_formats_write_the_same_canonical_purl() -> None:
    img = snapshot("app:1", (pkg("pypi", "Django_Rest", "3.0", "pkg:pypi/Django_Rest@3.0",
                                 path="/x"),), None, seed="canon")
    cdx = json.loads(render_cdx([img]))
    doc = json.loads(render_spdx([img]))
    assert cdx["components"][0]["purl"] == "pkg:pypi/django-rest@3.0"
    assert doc["packages"][1]["externalRefs"][0]["referenceLocator"] == "pkg:pypi/django-rest@3.0"


def test_image_purls_for_common_references() -> None:
    def oci(ref: str, **kw: Any) -> str | None:
        return spdx.oci_purl(snapshot(ref, (), None, seed="p", **kw))

    d = digest("p")
    assert oci("debian") == f"pkg:oci/debian@{d}?arch=amd64&repository_url=docker.io/library/debian"
    assert oci("team/app:2") == (
        f"pkg:oci/app@{d}?arch=amd64&repository_url=docker.io/team/app&tag=2")
    assert oci("ghcr.io/Org/Tool:v1@" + d) == (
        f"pkg:oci/tool@{d}?arch=amd64&repository_url=ghcr.io/Org/Tool&tag=v1")
    assert oci("localhost/app") == f"pkg:oci/app@{d}?arch=amd64&repository_url=localhost/app"
    assert oci(d) is None
    assert oci("") is None
    img = ImageSnapshot(ref="debian:12", id="not-a-digest", source="engine",
                        config=ImageConfigFacts(), history=(), layers=(), file_count=0,
                        total_size=0)
    assert spdx.oci_purl(img) is None


def test_large_inventory_renders_in_reasonable_time() -> None:
    import time

    packages = tuple(
        pkg("npm", f"p{i}", "1.0.0", purl("npm", f"p{i}", "1.0.0"), layer=i % 5,
            path=f"/app/node_modules/p{i}/package.json", licenses=("MIT",))
        for i in range(1500)
    )
    img = snapshot("app:1", packages, None, seed="big")
    start = time.monotonic()
    cdx = json.loads(render_cdx([img]))
    doc = json.loads(render_spdx([img]))
    elapsed = time.monotonic() - start
    assert len(cdx["components"]) == len(doc["packages"]) - 1 == 1500
    assert elapsed < 30, elapsed
