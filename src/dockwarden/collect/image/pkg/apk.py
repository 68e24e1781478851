"""Alpine (and Wolfi) packages: `/lib/apk/db/installed`.

The database is a sequence of blocks separated by blank lines, one `K:value` per line
(P name, V version, A arch, o origin, L license, D depends, p provides; the many
F:/R:/Z: file lines are skipped). Every block there is installed. The format is trivial,
so no library is used.

The origin (source package) goes into the purl's `upstream` qualifier when it differs
from the name, as syft writes it; CPEs come from the shipped table by origin.
Dependencies: each `D:` token (`so:libc.musl-x86_64.so.1`, `cmd:sh`, `name>=1.2`) without
its version constraint, resolved through the names and `p:` provides of the installed
packages; `!conflicts` are not dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import (
    Origins,
    cpes_for,
    depending,
    make_purl,
    plausible,
    sort_packages,
    text,
    upstream_qualifier,
    upstream_version,
)
from dockwarden.collect.image.pkg.osrelease import (
    OS_FILES,
    choose_os_release,
    distro_qualifier,
    parse_os_file,
)
from dockwarden.model.image import Package

INSTALLED = "/lib/apk/db/installed"
_KEYS = frozenset("PVAoLDp")
_MAX_LICENSE = 1024
_MAX_RELATIONS = 512
_CONSTRAINT = re.compile(r"[<>=~]")


class ApkRecord(NamedTuple):
    name: str
    version: str
    arch: str
    origin: str
    license: str
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()


def _names(value: str) -> tuple[str, ...]:
    found = []
    for token in value.split()[:_MAX_RELATIONS]:
        if token.startswith("!"):
            continue
        name = _CONSTRAINT.split(token, 1)[0]
        if plausible(name):
            found.append(name)
    return tuple(found)


def _record(fields: dict[str, str]) -> ApkRecord | None:
    name, version = fields.get("P", ""), fields.get("V", "")
    arch, origin = fields.get("A", ""), fields.get("o", "")
    if not plausible(name, version):
        return None
    if arch and not plausible(arch):
        arch = ""
    if origin and not plausible(origin):
        origin = ""
    return ApkRecord(name, version, arch, origin or name, fields.get("L", "")[:_MAX_LICENSE],
                     _names(fields.get("D", "")), _names(fields.get("p", "")))


def parse_installed(data: bytes) -> tuple[ApkRecord, ...]:
    records: list[ApkRecord] = []
    fields: dict[str, str] = {}
    for raw in text(data).split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            record = _record(fields) if fields else None
            if record is not None:
                records.append(record)
            fields = {}
            continue
        if len(line) >= 2 and line[1] == ":" and line[0] in _KEYS and line[0] not in fields:
            fields[line[0]] = line[2:].strip()
    record = _record(fields) if fields else None
    if record is not None:
        records.append(record)
    return tuple(records)


class ApkAnalyzer:
    name: str = "apk"
    selector = Selector(frozenset((INSTALLED, *OS_FILES)))
    max_bytes: int = 64 * 1024 * 1024

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path == INSTALLED or path in OS_FILES

    def analyze(self, path: str, data: bytes) -> object | None:
        if path in OS_FILES:
            return parse_os_file(path, data)
        return parse_installed(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        found = results.get(INSTALLED)
        if found is None or not isinstance(found.value, tuple):
            return AnalysisOutput()
        os_release = choose_os_release(results, view)
        namespace = os_release.id if os_release is not None else "alpine"
        distro = distro_qualifier(os_release)
        packages = []
        records = []
        origins = Origins(found, _keys)
        for rec in found.value:
            if isinstance(rec, ApkRecord):
                records.append(rec)
                packages.append(
                    Package(
                        type="apk",
                        name=rec.name,
                        version=rec.version,
                        layer=origins.layer((rec.name, rec.version)),
                        path=found.path,
                        source_name=rec.origin,
                        source_version=rec.version,
                        arch=rec.arch,
                        licenses=(rec.license,) if rec.license else (),
                        purl=make_purl(
                            "apk", rec.name, rec.version, namespace,
                            {"arch": rec.arch, "distro": distro,
                             "upstream": upstream_qualifier(rec.name, rec.version,
                                                            rec.origin, rec.version)},
                        ),
                        cpes=cpes_for(rec.origin, upstream_version(rec.version)),
                    )
                )
        return AnalysisOutput(packages=sort_packages(_link(packages, records)))


def _link(packages: list[Package], records: list[ApkRecord]) -> list[Package]:
    """`depends` of each package: its D: names resolved through names and provides."""
    owner: dict[str, int] = {}
    for index, rec in enumerate(records):
        for provided in rec.provides:
            owner.setdefault(provided, index)
    for index, rec in enumerate(records):
        owner[rec.name] = index  # a real package name wins over a provide
    out = []
    for index, (pkg, rec) in enumerate(zip(packages, records, strict=True)):
        targets = []
        for name in rec.depends:
            target = owner.get(name)
            if target is not None and target != index:
                targets.append(packages[target].key)
        out.append(depending(pkg, targets))
    return out


def _keys(value: object) -> set[object]:
    if not isinstance(value, tuple):
        return set()
    return {(r.name, r.version) for r in value if isinstance(r, ApkRecord)}
