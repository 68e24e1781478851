"""Debian packages: `/var/lib/dpkg/status` and distroless images' `/var/lib/dpkg/status.d/`
(one file per package, one or more paragraphs each; `*.md5sums` files beside them are
not status files).

The status file is a sequence of RFC 822 style paragraphs. Only the five fields we need
are kept, so the parser is a short loop (python-debian's deb822 would also do, but it
brings a dependency for what is a line split here, and it keeps every field).

A package is listed when its files are on disk: the third word of `Status:` is
`installed`, `unpacked`, `half-configured`, `triggers-awaiting` or `triggers-pending`
(whatever the selection: `hold ok installed` and `deinstall ok installed` packages are
still there). `config-files`, `half-installed` and `not-installed` are not listed. In
`status.d/` a paragraph without `Status:` counts as installed (distroless omits it).

The source package is `Source:` ("glibc" or "glibc (2.36-9+deb12u4)"), else the binary
package itself; its version is the one in parentheses, else `Version:`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import (
    Origins,
    make_purl,
    plausible,
    sort_packages,
    text,
)
from dockwarden.collect.image.pkg.osrelease import (
    OS_FILES,
    choose_os_release,
    distro_qualifier,
    parse_os_file,
)
from dockwarden.model.image import Package

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"

_ON_DISK = frozenset(
    {"installed", "unpacked", "half-configured", "triggers-awaiting", "triggers-pending"}
)
_FIELDS = frozenset({"package", "status", "version", "architecture", "source"})
_SOURCE = re.compile(r"(\S+)\s*\(\s*(\S+)\s*\)\s*")


class DebRecord(NamedTuple):
    name: str
    version: str
    arch: str
    source_name: str
    source_version: str


def paragraphs(content: str, fields: frozenset[str]) -> Iterator[dict[str, str]]:
    """RFC 822 paragraphs, keeping the first occurrence of each wanted (lowercased)
    single-line field; continuation lines are skipped."""
    current: dict[str, str] = {}
    for raw in content.split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            if current:
                yield current
                current = {}
            continue
        if line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in fields and key not in current:
            current[key] = value.strip()
    if current:
        yield current


def _on_disk(status: str | None, *, default: bool) -> bool:
    if status is None:
        return default
    words = status.split()
    return len(words) == 3 and words[2] in _ON_DISK


def _record(fields: dict[str, str]) -> DebRecord | None:
    name = fields.get("package", "")
    version = fields.get("version", "")
    arch = fields.get("architecture", "")
    if not plausible(name, version) or (arch and not plausible(arch)):
        return None
    source_name, source_version = name, version
    source = fields.get("source", "")
    if source:
        match = _SOURCE.fullmatch(source)
        if match:
            source_name, source_version = match.group(1), match.group(2)
        else:
            source_name = source.split()[0]
        if not plausible(source_name, source_version):
            source_name, source_version = name, version
    return DebRecord(name, version, arch, source_name, source_version)


def parse_status(data: bytes, *, status_required: bool = True) -> tuple[DebRecord, ...]:
    """The installed packages of a dpkg status file (or one `status.d/` file)."""
    records: list[DebRecord] = []
    for fields in paragraphs(text(data), _FIELDS):
        if not _on_disk(fields.get("status"), default=not status_required):
            continue
        record = _record(fields)
        if record is not None:
            records.append(record)
    return tuple(records)


def _is_status_d(path: str) -> bool:
    if not path.startswith(STATUS_D):
        return False
    name = path[len(STATUS_D):]
    return bool(name) and "/" not in name and not name.endswith(".md5sums")


class DpkgAnalyzer:
    name: str = "dpkg"
    selector = Selector(frozenset((STATUS, *OS_FILES)), prefixes=(STATUS_D,))
    max_bytes: int = 64 * 1024 * 1024

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path == STATUS or path in OS_FILES or _is_status_d(path)

    def analyze(self, path: str, data: bytes) -> object | None:
        if path in OS_FILES:
            return parse_os_file(path, data)
        return parse_status(data, status_required=path == STATUS)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        os_release = choose_os_release(results, view)
        namespace = os_release.id if os_release is not None else "debian"
        distro = distro_qualifier(os_release)
        packages: dict[tuple[str, str, str], Package] = {}
        for path in sorted(results):  # status before status.d/*: the first one wins
            if path not in OS_FILES:
                found = results[path]
                if isinstance(found.value, tuple):
                    origins = Origins(found, _keys)
                    for rec in found.value:
                        if isinstance(rec, DebRecord):
                            key = (rec.name, rec.arch, rec.version)
                            if key not in packages:
                                packages[key] = _package(rec, found, origins, namespace, distro)
        return AnalysisOutput(packages=sort_packages(packages.values()))


def _package(rec: DebRecord, found: FileResult, origins: Origins, namespace: str,
             distro: str) -> Package:
    return Package(
        type="deb",
        name=rec.name,
        version=rec.version,
        layer=origins.layer((rec.name, rec.arch, rec.version)),
        path=found.path,
        source_name=rec.source_name,
        source_version=rec.source_version,
        arch=rec.arch,
        purl=make_purl(
            "deb", rec.name, rec.version, namespace, {"arch": rec.arch, "distro": distro}
        ),
    )


def _keys(value: object) -> set[object]:
    if not isinstance(value, tuple):
        return set()
    return {(r.name, r.arch, r.version) for r in value if isinstance(r, DebRecord)}
