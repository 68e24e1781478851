"""Pieces shared by the package analyzers: the value that tells `finish` a file could not
be read, bounded text decoding, package URLs (through packageurl-python) and the order in
which packages are reported."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

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
