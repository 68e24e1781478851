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
package itself; its version is the one in parentheses, else `Version:`. It goes into the
purl as the `upstream` qualifier, as syft writes it: `upstream=openssl` when only the
name differs (libssl3), `upstream=glibc@2.36-9+deb12u4` when the version does too.
CPEs come from the shipped table (data/cpe.json) by source name, with the upstream
version (no epoch, no Debian revision).

Dependencies: `Depends:` and `Pre-Depends:` resolved to installed packages: version
constraints and `:any`/`:native` are dropped (dpkg checked them when it installed), an
alternative `a | b` goes to the first one installed, a virtual package to an installed
package that `Provides:` it; a relation nothing installed satisfies is left out.

Licences: from `/usr/share/doc/<package>/copyright` (the first 256 KiB; a doc directory
that is a symlink to another package's is followed). A machine-readable file (DEP-5,
`Format: .../copyright-format/...`) gives the names of its `License:` fields; any other
file gives the `/usr/share/common-licenses/NAME` it points to. Debian's short names
become SPDX identifiers where there is one (GPL-2+ -> GPL-2.0-or-later, Expat -> MIT),
else `LicenseRef-<name>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
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

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"

_ON_DISK = frozenset(
    {"installed", "unpacked", "half-configured", "triggers-awaiting", "triggers-pending"}
)
_FIELDS = frozenset({"package", "status", "version", "architecture", "source", "depends",
                     "pre-depends", "provides"})
_SOURCE = re.compile(r"(\S+)\s*\(\s*(\S+)\s*\)\s*")
DOC = "/usr/share/doc/"
COPYRIGHT_MAX = 256 * 1024  # perl's is 110 KB; a hostile one costs no more
STATUS_MAX = 64 * 1024 * 1024
_MAX_RELATIONS = 512
_MAX_LICENSES = 32


class DebRecord(NamedTuple):
    name: str
    version: str
    arch: str
    source_name: str
    source_version: str
    upstream: str = ""  # the purl's upstream qualifier
    depends: tuple[tuple[str, ...], ...] = ()  # Pre-Depends then Depends, alternatives
    provides: tuple[str, ...] = ()


class Copyright(NamedTuple):
    """The licence names of one copyright file (already SPDX ids or LicenseRef-)."""

    licenses: tuple[str, ...]


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
    upstream = upstream_qualifier(name, version, source_name, source_version)
    depends = tuple(
        group
        for key in ("pre-depends", "depends")
        for group in _relations(fields.get(key, ""))
    )[:_MAX_RELATIONS]
    provides = tuple(p[0] for p in _relations(fields.get("provides", "")))[:_MAX_RELATIONS]
    return DebRecord(name, version, arch, source_name, source_version, upstream, depends,
                     provides)


def _relations(value: str) -> list[tuple[str, ...]]:
    """"libc6 (>= 2.34), debconf | debconf-2.0" -> [("libc6",), ("debconf", "debconf-2.0")]:
    names only, no version constraint or architecture qualifier."""
    groups: list[tuple[str, ...]] = []
    for part in value.split(","):
        names = []
        for alternative in part.split("|"):
            words = alternative.split("(", 1)[0].split("[", 1)[0].split()
            if words:
                name = words[0].split(":", 1)[0]
                if plausible(name):
                    names.append(name)
        if names:
            groups.append(tuple(names))
    return groups


# --- copyright files ---

_FORMAT = re.compile(r"\s*format(?:-specification)?\s*:\s*\S*copyright-format", re.IGNORECASE)
_LICENSE_FIELD = re.compile(r"^license:[ \t]*(\S[^\n]*)$", re.IGNORECASE | re.MULTILINE)
_COMMON = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])")
_SPLIT = re.compile(r"\s+(?:or|and)\s+|\s*,\s*|\s+with\s+\S+\s+exception", re.IGNORECASE)
_GNU = re.compile(r"(A|L)?GPL-?([0-9](?:\.[0-9])?)(\+)?", re.IGNORECASE)
_REF_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
# Debian short names (copyright-format 1.0, "License specification") -> SPDX ids
_SPDX = {name.lower(): name for name in (
    "Apache-1.0", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-2.0", "BSD-2-Clause",
    "BSD-3-Clause", "BSD-4-Clause", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0",
    "CC-BY-SA-4.0", "CDDL-1.0", "EPL-1.0", "EPL-2.0", "ISC", "MIT", "MPL-1.1", "MPL-2.0",
    "OpenSSL", "PSF-2.0", "Python-2.0", "Zlib", "X11", "BSL-1.0", "Unlicense", "WTFPL",
    "Libpng", "curl", "FTL", "IJG", "bzip2-1.0.6", "Sleepycat", "OFL-1.1", "NTP", "TCL",
    "GFDL-1.2", "GFDL-1.3", "Beerware", "0BSD", "MIT-0", "Vim", "W3C", "Unicode-DFS-2016",
    "FSFULLR", "FSFUL", "FSFAP", "GPL-2.0-with-classpath-exception", "Info-ZIP", "HPND",
)}
_SPDX.update({"expat": "MIT", "zlib": "Zlib", "psf-2": "PSF-2.0", "apache-2": "Apache-2.0",
              "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
              "bsd-4-clause": "BSD-4-Clause", "mpl-2": "MPL-2.0", "lppl-1.3c": "LPPL-1.3c",
              "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3+": "GFDL-1.3-or-later",
              "cc0": "CC0-1.0", "public-domain": "LicenseRef-public-domain"})


def license_id(name: str) -> str:
    """A Debian licence short name as an SPDX id, else `LicenseRef-<name>`."""
    name = name.strip().strip("()")
    known = _SPDX.get(name.lower())
    if known is not None:
        return known
    gnu = _GNU.fullmatch(name)
    if gnu is not None:
        prefix = (gnu.group(1) or "").upper()
        number = gnu.group(2)
        if "." not in number:
            number += ".0"
        suffix = "-or-later" if gnu.group(3) else "-only"
        return f"{prefix}GPL-{number}{suffix}"
    ref = _REF_CHARS.sub("-", name.replace("+", "-plus")).strip("-")
    return f"LicenseRef-{ref}" if ref else ""


def parse_copyright(data: bytes) -> Copyright:
    """The licences a copyright file names (module docstring)."""
    content = text(data[:COPYRIGHT_MAX])
    if _FORMAT.match(content):
        names: list[str] = []
        for match in _LICENSE_FIELD.finditer(content):
            names.extend(p for p in _SPLIT.split(match.group(1).strip()) if p)
    else:
        names = _COMMON.findall(content)
    found = [license_id(n) for n in names]
    return Copyright(tuple(dict.fromkeys(f for f in found if f))[:_MAX_LICENSES])


def _is_copyright(path: str) -> bool:
    if not path.startswith(DOC) or not path.endswith("/copyright"):
        return False
    middle = path[len(DOC):-len("/copyright")]
    return bool(middle) and "/" not in middle


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
    """`max_bytes` follows the file `wants` last said yes to (the walker reads the file
    it routed right after asking): 64 MiB for a status file, 256 KiB for a copyright
    file, so a huge copyright file costs no more than its head."""

    name: str = "dpkg"
    selector = Selector(frozenset((STATUS, *OS_FILES)), prefixes=(STATUS_D,),
                        suffixes=("/copyright",))

    def __init__(self) -> None:
        self.max_bytes: int = STATUS_MAX

    def wants(self, path: str, size: int, mode: int) -> bool:
        if _is_copyright(path):
            self.max_bytes = COPYRIGHT_MAX
            return True
        self.max_bytes = STATUS_MAX
        return path == STATUS or path in OS_FILES or _is_status_d(path)

    def analyze(self, path: str, data: bytes) -> object | None:
        if path in OS_FILES:
            return parse_os_file(path, data)
        if _is_copyright(path):
            return parse_copyright(data)
        return parse_status(data, status_required=path == STATUS)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        os_release = choose_os_release(results, view)
        namespace = os_release.id if os_release is not None else "debian"
        distro = distro_qualifier(os_release)
        packages: dict[tuple[str, str, str], Package] = {}
        records: dict[tuple[str, str, str], DebRecord] = {}
        for path in sorted(results):  # status before status.d/*: the first one wins
            if path not in OS_FILES:
                found = results[path]
                if isinstance(found.value, tuple):
                    origins = Origins(found, _keys)
                    for rec in found.value:
                        if isinstance(rec, DebRecord):
                            key = (rec.name, rec.arch, rec.version)
                            if key not in packages:
                                licenses = _licenses_of(rec.name, results, view)
                                packages[key] = _package(rec, found, origins, namespace,
                                                         distro, licenses)
                                records[key] = rec
        linked = _link(packages, records)
        return AnalysisOutput(packages=sort_packages(linked))


def _licenses_of(name: str, results: Mapping[str, FileResult],
                 view: FinalView) -> tuple[str, ...]:
    path = f"{DOC}{name}/copyright"
    found = results.get(path)
    if found is None:  # a doc directory linked to another package's
        target = view.resolve(path)
        found = results.get(target.path) if target is not None else None
    if found is not None and isinstance(found.value, Copyright):
        return found.value.licenses
    return ()


def _link(packages: Mapping[tuple[str, str, str], Package],
          records: Mapping[tuple[str, str, str], DebRecord]) -> list[Package]:
    """Each package with `depends` set to the keys of the installed packages its
    Pre-Depends and Depends resolve to (module docstring)."""
    by_name: dict[str, list[tuple[str, str, str]]] = {}
    provided: dict[str, list[tuple[str, str, str]]] = {}
    for key, rec in records.items():
        by_name.setdefault(rec.name, []).append(key)
        for virtual in rec.provides:
            provided.setdefault(virtual, []).append(key)

    def pick(keys: list[tuple[str, str, str]], arch: str) -> tuple[str, str, str]:
        for key in keys:  # the same architecture (or all) first, as dpkg resolves it
            if key[1] in (arch, "all") or arch == "all":
                return key
        return keys[0]

    out = []
    for key, pkg in packages.items():
        rec = records[key]
        targets: list[str] = []
        for group in rec.depends:
            chosen = None
            for alternative in group:
                if alternative in by_name:
                    chosen = pick(by_name[alternative], rec.arch)
                    break
            if chosen is None:
                for alternative in group:
                    if alternative in provided:
                        chosen = pick(provided[alternative], rec.arch)
                        break
            if chosen is not None and chosen != key:
                targets.append(packages[chosen].key)
        out.append(depending(pkg, targets))
    return out


def _package(rec: DebRecord, found: FileResult, origins: Origins, namespace: str,
             distro: str, licenses: tuple[str, ...]) -> Package:
    return Package(
        type="deb",
        name=rec.name,
        version=rec.version,
        layer=origins.layer((rec.name, rec.arch, rec.version)),
        path=found.path,
        source_name=rec.source_name,
        source_version=rec.source_version,
        arch=rec.arch,
        licenses=licenses,
        purl=make_purl(
            "deb", rec.name, rec.version, namespace,
            {"arch": rec.arch, "distro": distro, "upstream": rec.upstream},
        ),
        cpes=cpes_for(rec.source_name or rec.name, upstream_version(rec.source_version
                                                                    or rec.version)),
    )


def _keys(value: object) -> set[object]:
    if not isinstance(value, tuple):
        return set()
    return {(r.name, r.arch, r.version) for r in value if isinstance(r, DebRecord)}
