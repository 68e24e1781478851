"""npm packages: `package.json` directly inside `node_modules/NAME/` or
`node_modules/@SCOPE/NAME/` (at any depth, so nested `node_modules` count; a
`package.json` deeper inside a package, such as a test fixture, does not).

The file is read with the standard `json` module. Hostile files are ignored: larger than
`max_bytes` (then truncated, so not valid JSON), nested deeper than the decoder allows
(RecursionError), or not an object with string `name` and `version`.
Licenses: `license` as a string or a legacy `{"type": ...}` object, or the legacy
`licenses` list.

Dependencies: the names in `dependencies`, `optionalDependencies` and
`peerDependencies`, resolved as Node's `require` finds them: the package's own
`node_modules/NAME`, then each enclosing directory's `node_modules/NAME` up to the root.
A dependency not installed is left out. (Debian's `/usr/share/nodejs` modules are not in
a `node_modules` directory and are listed by dpkg, not here: not counted twice.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import NamedTuple

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.collect.image.pkg._common import depending, make_purl, plausible, sort_packages
from dockwarden.model.image import Package

MAX_PACKAGE_JSON = 4 * 1024 * 1024
_PATH = re.compile(r".*/node_modules/(?:@[^/@.][^/]*/)?[^/@.][^/]*/package\.json")
_NAME = re.compile(r"(?:@[a-z0-9][\w.~-]*/)?[a-z0-9_][\w.~-]*", re.IGNORECASE)
_MAX_LICENSE = 256
_MAX_LICENSES = 16
_MAX_DEPENDENCIES = 1024
_DEPENDENCY_KEYS = ("dependencies", "optionalDependencies", "peerDependencies")


class NpmRecord(NamedTuple):
    name: str  # "@scope/name" or "name"
    version: str
    licenses: tuple[str, ...]
    dependencies: tuple[str, ...] = ()


def _dependencies(doc: dict[str, object]) -> tuple[str, ...]:
    names: list[str] = []
    for key in _DEPENDENCY_KEYS:
        value = doc.get(key)
        if isinstance(value, dict):
            names.extend(n for n in value if isinstance(n, str) and _NAME.fullmatch(n))
    return tuple(dict.fromkeys(names))[:_MAX_DEPENDENCIES]


def _license_of(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and 0 < len(value.strip()) <= _MAX_LICENSE:
        return value.strip()
    return ""


def _licenses(doc: dict[str, object]) -> tuple[str, ...]:
    single = _license_of(doc.get("license"))
    if single:
        return (single,)
    legacy = doc.get("licenses")
    if isinstance(legacy, list):
        found = [_license_of(item) for item in legacy[:_MAX_LICENSES]]
        return tuple(dict.fromkeys(x for x in found if x))
    return ()


def parse_package_json(data: bytes) -> NpmRecord | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    if not _NAME.fullmatch(name) or not plausible(name, version):
        return None
    return NpmRecord(name, version, _licenses(doc), _dependencies(doc))


def purl_of(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return make_purl("npm", bare, version, scope)


class NpmAnalyzer:
    name: str = "npm"
    selector = Selector(suffixes=("/package.json",))
    max_bytes: int = MAX_PACKAGE_JSON

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.endswith("/package.json") and "/node_modules/" in path and bool(
            _PATH.fullmatch(path)
        )

    def analyze(self, path: str, data: bytes) -> object | None:
        return parse_package_json(data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        packages = []
        wanted: dict[str, tuple[str, ...]] = {}
        for found in results.values():
            rec = found.value
            if isinstance(rec, NpmRecord):
                wanted[found.path] = rec.dependencies
                packages.append(
                    Package(
                        type="npm",
                        name=rec.name,
                        version=rec.version,
                        layer=found.layer,
                        path=found.path,
                        licenses=rec.licenses,
                        purl=purl_of(rec.name, rec.version),
                    )
                )
        return AnalysisOutput(packages=sort_packages(_link(packages, wanted)))


def resolve(package_json: str, dependency: str, present: Mapping[str, object]) -> str:
    """The `package.json` path Node would load for `dependency` required from the
    package whose `package.json` is at `package_json`; "" if none is installed."""
    directory = package_json.rsplit("/", 1)[0]
    while True:
        if not directory.endswith("/node_modules"):
            candidate = f"{directory}/node_modules/{dependency}/package.json"
            if candidate in present:
                return candidate
        if not directory:
            return ""
        directory = directory.rsplit("/", 1)[0]


def _link(packages: list[Package], wanted: Mapping[str, tuple[str, ...]]) -> list[Package]:
    by_path = {pkg.path: pkg for pkg in packages}
    out = []
    for pkg in packages:
        targets = []
        for name in wanted.get(pkg.path, ()):
            found = resolve(pkg.path, name, by_path)
            if found and found != pkg.path:
                targets.append(by_path[found].key)
        out.append(depending(pkg, targets))
    return out
