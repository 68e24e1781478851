"""Python distributions: `NAME.dist-info/METADATA`, `NAME.egg-info/PKG-INFO`, a plain
`NAME.egg-info` file, and `NAME.egg/EGG-INFO/PKG-INFO`, in a `site-packages` or
`dist-packages` directory (the metadata directory or file must sit directly in it, as
for the interpreter's import system: copies deeper down are vendored files or test data,
not installed distributions).

Only the header block of the core metadata (RFC 822 style, up to the first blank line)
is read; `importlib.metadata` parses the same format but only for a live interpreter's
own paths, and the `email` parser would also decode the (possibly huge) description.

`Package.name` is the name normalised as in PEP 503 (lowercase, runs of `-`, `_` and `.`
become one `-`), so that it matches vulnerability databases and the purl
(`pkg:pypi/django@2.2.0`) without further work. Licenses: `License-Expression`
(metadata 2.4), else a short one-line `License:`, else the `License ::` classifiers'
last part ("MIT License").

Dependencies: each `Requires-Dist` name (normalised), resolved to an installed
distribution of that name, in the same site directory first. A requirement behind an
`extra == ...` marker is optional and left out; other markers (python_version,
sys_platform...) are not evaluated: the edge is kept when the target is installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import (
    depending,
    make_purl,
    plausible,
    sort_packages,
    text,
)
from dockwarden.model.image import Package

SITE_DIRS = frozenset({"site-packages", "dist-packages"})
MAX_METADATA = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_MAX_LICENSE = 100
_UNKNOWN = frozenset({"", "unknown", "none", "n/a"})
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EXTRA = re.compile(r"\bextra\s*==")
_MAX_REQUIRES = 256


class PyRecord(NamedTuple):
    name: str  # PEP 503 normalised
    version: str
    licenses: tuple[str, ...]
    requires: tuple[str, ...] = ()  # normalised names of non-optional Requires-Dist


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()



def is_metadata_path(path: str) -> bool:
    """True for the metadata file of a distribution installed in a site directory."""
    parts = path.split("/")
    if len(parts) < 3:
        return False
    if parts[-1] == "METADATA":
        return parts[-2].endswith(".dist-info") and parts[-3] in SITE_DIRS
    if parts[-1] == "PKG-INFO":
        if parts[-2].endswith(".egg-info"):
            return parts[-3] in SITE_DIRS
        return (
            parts[-2] == "EGG-INFO"
            and len(parts) >= 4
            and parts[-3].endswith(".egg")
            and parts[-4] in SITE_DIRS
        )
    return parts[-1].endswith(".egg-info") and parts[-2] in SITE_DIRS


def headers(content: str) -> list[tuple[str, str]]:
    """The header block as (lowercased name, value) pairs; continuation lines join
    their header's value with a newline."""
    found: list[tuple[str, str]] = []
    for raw in content.split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            break
        if line[0] in " \t":
            if found:
                key, value = found[-1]
                found[-1] = (key, value + "\n" + line.strip())
            continue
        key, sep, value = line.partition(":")
        if sep:
            found.append((key.strip().lower(), value.strip()))
    return found


def _licenses(fields: list[tuple[str, str]]) -> tuple[str, ...]:
    first = {key: value for key, value in reversed(fields)}
    expression = first.get("license-expression", "").strip()
    if expression and "\n" not in expression and len(expression) <= _MAX_LICENSE:
        return (expression,)
    plain = first.get("license", "").strip()
    if plain.lower() not in _UNKNOWN and "\n" not in plain and len(plain) <= _MAX_LICENSE:
        return (plain,)
    classified = []
    for key, value in fields:
        if key == "classifier" and value.startswith("License ::"):
            last = value.rsplit("::", 1)[-1].strip()
            if last and last != "OSI Approved" and len(last) <= _MAX_LICENSE:
                classified.append(last)
    return tuple(dict.fromkeys(classified))


def parse_metadata(data: bytes) -> PyRecord | None:
    fields = headers(text(data[:MAX_METADATA]))
    first = {key: value for key, value in reversed(fields)}
    name, version = first.get("name", ""), first.get("version", "")
    if not _NAME.fullmatch(name) or not plausible(name, version):
        return None
    return PyRecord(normalize(name), version, _licenses(fields), _requires(fields))


def _requires(fields: list[tuple[str, str]]) -> tuple[str, ...]:
    names: list[str] = []
    for key, value in fields:
        if key != "requires-dist" or len(names) >= _MAX_REQUIRES:
            continue
        requirement, _, marker = value.partition(";")
        if _EXTRA.search(marker):
            continue
        match = _REQUIREMENT.match(requirement)
        if match is not None:
            names.append(normalize(match.group(1)))
    return tuple(dict.fromkeys(names))


def site_dir(path: str) -> str:
    """The site directory a metadata path sits in ("" if none)."""
    parts = path.split("/")
    for index in range(len(parts) - 2, 0, -1):
        if parts[index] in SITE_DIRS:
            return "/".join(parts[: index + 1])
    return ""


class PythonAnalyzer:
    name: str = "python"
    selector = Selector(suffixes=("/METADATA", "/PKG-INFO", ".egg-info"))
    max_bytes: int = MAX_METADATA

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.endswith(("/METADATA", "/PKG-INFO", ".egg-info")) and is_metadata_path(path)

    def analyze(self, path: str, data: bytes) -> object | None:
        return parse_metadata(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        packages = []
        requires: dict[str, tuple[str, ...]] = {}
        for found in results.values():
            rec = found.value
            if isinstance(rec, PyRecord):
                requires[found.path] = rec.requires
                packages.append(
                    Package(
                        type="pypi",
                        name=rec.name,
                        version=rec.version,
                        layer=found.layer,
                        path=found.path,
                        licenses=rec.licenses,
                        purl=make_purl("pypi", rec.name, rec.version),
                    )
                )
        return AnalysisOutput(packages=sort_packages(_link(packages, requires)))


def _link(packages: list[Package], requires: Mapping[str, tuple[str, ...]]) -> list[Package]:
    by_name: dict[str, list[Package]] = {}
    for pkg in sorted(packages, key=lambda p: p.path):
        by_name.setdefault(pkg.name, []).append(pkg)
    out = []
    for pkg in packages:
        here = site_dir(pkg.path)
        targets = []
        for name in requires.get(pkg.path, ()):
            candidates = by_name.get(name)
            if not candidates:
                continue
            same = [c for c in candidates if site_dir(c.path) == here]
            target = (same or candidates)[0]
            if target is not pkg:
                targets.append(target.key)
        out.append(depending(pkg, targets))
    return out
