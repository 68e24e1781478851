"""The OS release of the image: `/etc/os-release`, `/usr/lib/os-release` and, as a last
resort, `/etc/alpine-release`.

On Debian (and most systemd distributions) `/etc/os-release` is a symlink to
`../usr/lib/os-release`; the walker only hands regular files to analyzers, so `finish`
follows the link itself through the final view. The OS package analyzers (dpkg, apk,
rpm) read the same files to fill their package URLs' namespace and `distro` qualifier,
through `choose_os_release` here, so that every analyzer stays independent.

The parser follows os-release(5): one `KEY=value` per line, values quoted as in a shell.
It is a few lines of `shlex`, so no library is needed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView, Selector
from dockwarden.model.image import OSRelease

ETC_OS_RELEASE = "/etc/os-release"
USR_OS_RELEASE = "/usr/lib/os-release"
ALPINE_RELEASE = "/etc/alpine-release"
OS_FILES = frozenset((ETC_OS_RELEASE, USR_OS_RELEASE, ALPINE_RELEASE))
OS_FILE_MAX = 64 * 1024

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_VALUE = 256


def _unquote(raw: str) -> str:
    try:
        return " ".join(shlex.split(raw, comments=False, posix=True))
    except ValueError:  # unbalanced quotes: keep what is there, without the quotes
        return raw.strip().strip("\"'")


def parse_os_release(data: bytes) -> OSRelease | None:
    """An os-release file -> OSRelease; None when it has no ID and no VERSION_ID."""
    values: dict[str, str] = {}
    for line in data[:OS_FILE_MAX].decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            continue
        values[key.upper()] = _unquote(raw)[:_MAX_VALUE]
    if not values.get("ID") and not values.get("VERSION_ID"):
        return None
    return OSRelease(
        id=(values.get("ID") or "linux").lower(),  # os-release(5): ID defaults to "linux"
        version_id=values.get("VERSION_ID", ""),
        version_codename=values.get("VERSION_CODENAME", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=tuple(v.lower() for v in values.get("ID_LIKE", "").split()),
    )


def parse_alpine_release(data: bytes) -> OSRelease | None:
    """`/etc/alpine-release` holds the version alone ("3.19.1")."""
    first = data[:_MAX_VALUE].decode("utf-8", errors="replace").strip().split("\n")[0].strip()
    if not re.fullmatch(r"[0-9][0-9A-Za-z._-]*", first):
        return None
    return OSRelease(id="alpine", version_id=first, pretty_name=f"Alpine Linux v{first}")


def parse_os_file(path: str, data: bytes) -> OSRelease | None:
    if path == ALPINE_RELEASE:
        return parse_alpine_release(data)
    return parse_os_release(data)


def _result(results: Mapping[str, FileResult], path: str) -> OSRelease | None:
    found = results.get(path)
    if found is not None and isinstance(found.value, OSRelease):
        return found.value
    return None


def choose_os_release(results: Mapping[str, FileResult], view: FinalView) -> OSRelease | None:
    """/etc/os-release when it is a regular file; else what its symlink resolves to;
    else /usr/lib/os-release; else /etc/alpine-release."""
    chosen = _result(results, ETC_OS_RELEASE)
    if chosen is not None:
        return chosen
    target = view.resolve(ETC_OS_RELEASE)
    if target is not None and target.path != ETC_OS_RELEASE:
        chosen = _result(results, target.path)
        if chosen is not None:
            return chosen
    return _result(results, USR_OS_RELEASE) or _result(results, ALPINE_RELEASE)


def distro_qualifier(os_release: OSRelease | None) -> str:
    """The purl `distro` qualifier: "debian-12", "alpine-3.19.1"; "" when unknown."""
    if os_release is None or not os_release.version_id:
        return ""
    return f"{os_release.id}-{os_release.version_id}"


class OSReleaseAnalyzer:
    name: str = "os-release"
    selector = Selector(OS_FILES)
    max_bytes: int = OS_FILE_MAX

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in OS_FILES

    def analyze(self, path: str, data: bytes) -> object | None:
        return parse_os_file(path, data)

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        return AnalysisOutput(os_release=choose_os_release(results, view))
