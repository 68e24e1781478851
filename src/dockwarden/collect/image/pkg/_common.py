"""Pieces shared by the package analyzers: the value that tells `finish` a file could not
be read, bounded text decoding, package URLs (through packageurl-python) and the order in
which packages are reported."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from packageurl import PackageURL

from dockwarden.collect.image.analyzer import FileResult
from dockwarden.model.image import Package

MAX_FIELD = 512  # longer names or versions are not real: such a record is dropped


class Unreadable:
    """Returned by `analyze` for a file that is there but could not be read; `finish`
    turns it into an `AnalysisOutput.skipped` entry. Not a tuple (the parsers' records
    come in tuples) and not a dataclass (defining one costs a millisecond at start)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(self.reason)

    def __repr__(self) -> str:
        return f"Unreadable({self.reason!r})"


def text(data: bytes) -> str:
    """Decode file bytes without ever failing: invalid UTF-8 becomes U+FFFD."""
    return data.decode("utf-8", errors="replace")


# whitespace (`\s` is what str.isspace() says) or a control character
_NOT_IN_FIELD = re.compile(r"[\s\x00-\x1f\x7f]")


def plausible(*values: str) -> bool:
    """A name or version: non-empty, bounded, no whitespace or control characters."""
    for value in values:
        if not value or len(value) > MAX_FIELD or _NOT_IN_FIELD.search(value):
            return False
    return True


def make_purl(
    type: str,
    name: str,
    version: str,
    namespace: str = "",
    qualifiers: Mapping[str, str] | None = None,
) -> str:
    """The package URL, or "" when the parts cannot make a valid one (a hostile name
    with "/" would otherwise silently become a namespace)."""
    if not name or "/" in name:
        return ""
    quals = {k: v for k, v in (qualifiers or {}).items() if v}
    try:
        return str(
            PackageURL(
                type=type,
                namespace=namespace or None,
                name=name,
                version=version or None,
                qualifiers=quals or None,
            ).to_string()
        )
    except (ValueError, TypeError):
        return ""


def sort_packages(packages: Iterable[Package]) -> tuple[Package, ...]:
    """A stable order, whatever order the layers and results arrived in."""
    return tuple(sorted(packages, key=lambda p: (p.type, p.name, p.version, p.arch, p.path)))


def depending(pkg: Package, keys: Iterable[str]) -> Package:
    """`pkg` with `depends` set to `keys` (in order, each once); `pkg` itself when there
    are none (the analyzers' dependency edges)."""
    targets = tuple(dict.fromkeys(keys))
    return replace(pkg, depends=targets) if targets else pkg


def skipped_entries(
    what: str, results: Iterable[tuple[str, object]]
) -> tuple[tuple[str, str], ...]:
    """(what, "path: reason") for every result that is an `Unreadable`."""
    return tuple(
        sorted(
            (what, f"{path}: {value.reason}")
            for path, value in results
            if isinstance(value, Unreadable)
        )
    )


class Origins:
    """The layer that first installed each package still present in the visible database
    `found`: walk down the earlier copies of the database while they list the same
    package. Each earlier copy's keys are worked out once, not once per package (a
    database of n packages rewritten in k layers: n*k lookups, not n*n*k)."""

    def __init__(self, found: FileResult, keys_of: Callable[[object], set[object]]) -> None:
        self.layer_of_visible = found.layer
        self.earlier = [(layer, keys_of(value)) for layer, value in reversed(found.earlier)]

    def layer(self, key: object) -> int:
        layer = self.layer_of_visible
        for earlier_layer, keys in self.earlier:
            if key in keys:
                layer = earlier_layer
            else:
                break
        return layer


# --- CPEs: a shipped table of the NVD dictionary's vendor/product (data/cpe.json) ---

_CPE_TABLE: dict[str, tuple[str, str]] | None = None
# a product name with its major version glued on: python3.11, postgresql-15, openjdk-17
_VERSIONED = re.compile(r"(python|postgresql|openjdk|ruby|php|golang|perl|nodejs)-?[0-9][0-9.]*")
# characters CPE 2.3's formatted string takes as they are; any other is backslash-quoted
_CPE_PLAIN = re.compile(r"[A-Za-z0-9._-]")


def _cpe_table() -> dict[str, tuple[str, str]]:
    global _CPE_TABLE
    if _CPE_TABLE is None:
        import json

        from dockwarden import read_data

        products = json.loads(read_data("cpe.json")).get("products", {})
        _CPE_TABLE = {str(k): (str(v[0]), str(v[1])) for k, v in products.items()
                      if isinstance(v, list) and len(v) == 2}
    return _CPE_TABLE


def upstream_version(version: str) -> str:
    """The upstream part of a distribution version: no epoch, no packaging revision,
    no repack or backport suffix ("1:1.2.13.dfsg-1" -> "1.2.13", "3.0.11-1~deb12u2" ->
    "3.0.11", "3.1.4-r5" -> "3.1.4")."""
    _, _, version = version.rpartition(":")
    if "-" in version:
        version = version.rsplit("-", 1)[0]
    for cut in ("+dfsg", ".dfsg", "~", "+"):
        index = version.find(cut)
        if index > 0:
            version = version[:index]
    return version


def cpe_quote(value: str) -> str:
    return "".join(c if _CPE_PLAIN.fullmatch(c) else "\\" + c for c in value)


def cpes_for(product: str, version: str) -> tuple[str, ...]:
    """`cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*` for a product of the table
    (`product`: a source package name or a classified binary's name), else ()."""
    name = product.lower()
    entry = _cpe_table().get(name)
    if entry is None:
        match = _VERSIONED.fullmatch(name)
        if match is not None:
            entry = _cpe_table().get(match.group(1))
    if entry is None or not plausible(version):
        return ()
    vendor, prod = entry
    return (f"cpe:2.3:a:{vendor}:{cpe_quote(prod)}:{cpe_quote(version)}:*:*:*:*:*:*:*",)


def upstream_qualifier(name: str, version: str, source_name: str, source_version: str) -> str:
    """The purl `upstream` qualifier of a distribution package built from another source
    package: "openssl" when only the name differs, "glibc@2.36-9" when the version does
    too; "" when the source is the package itself."""
    if not source_name:
        return ""
    if source_version and source_version != version:
        return f"{source_name}@{source_version}"
    return source_name if source_name != name else ""
