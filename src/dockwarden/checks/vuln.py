"""DW309 (OS packages) and DW310 (language packages): the vulnerabilities the matcher
found in the image's packages, one finding per (package, vulnerability).

Severity comes from the advisory: the distribution's own rating where it gives one,
else the advisory's (CVSS) severity, else the CVSS score another source of the database
gives the same CVE (`vuln.match`). When no source gives one it is `unknown` (shown
between high and medium, weighed as high by `--fail-on` unless `--unknown-severity`
says otherwise): never silently medium. A vulnerability the distribution decided not
to fix in this release (`wont_fix`: Debian no-dsa / ignored / postponed) is one level
lower (never below low): no package update will remove it, and the distribution judged
it minor for this release, but it is still there. That judgement is the only rating an
unscored `wont_fix` has, so it is low, not unknown (its evidence still says
`"severity": "unknown"`).

DW309/DW310 are skipped, not passed, when the database holds no data for the image's
OS release (DW309) or for any ecosystem of its language packages (DW310): the matcher
reports such a gap, naming what to import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dockwarden.checks.image import ImageContext, _layer_evidence
from dockwarden.checks.registry import Fail, Scope, Skip, check, require
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.image import ImageSnapshot

if TYPE_CHECKING:  # matches exist only when the matcher ran, and it loads the model
    from dockwarden.model.vuln import VulnMatch

OS_TYPES = frozenset({"deb", "apk", "rpm"})
_LOWER = {Severity.CRITICAL: Severity.HIGH, Severity.HIGH: Severity.MEDIUM,
          Severity.UNKNOWN: Severity.LOW, Severity.MEDIUM: Severity.LOW,
          Severity.LOW: Severity.LOW, Severity.INFO: Severity.INFO}


def severity_of(m: VulnMatch) -> Severity:
    """The finding's severity: the match's, `unknown` when it has none (or a word that
    is not a severity); one level lower for `wont_fix` (see the module docstring)."""
    try:
        sev = Severity(m.severity) if m.severity else Severity.UNKNOWN
    except ValueError:
        sev = Severity.UNKNOWN
    return _LOWER[sev] if m.status == "wont_fix" else sev  # a StrEnum: equal to its value


def evidence(snap: ImageSnapshot, m: VulnMatch) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id, "ids": list(m.ids), "package": m.package, "package_type": m.package_type,
        "installed": m.installed, "fixed": m.fixed, "status": m.status.value,
        "severity": m.severity or "unknown",
    }
    if m.source_package:
        out["source_package"] = m.source_package
    if m.cvss_score is not None:
        out["cvss_score"] = m.cvss_score
    out["path"] = m.path
    out.update(_layer_evidence(snap, m.layer))
    out.setdefault("layer", m.layer)
    out["sources"] = list(m.sources)
    if m.summary:
        out["summary"] = m.summary[:300]
    if m.references:
        out["references"] = list(m.references[:5])
    return out


def _message(m: VulnMatch) -> str:
    what = f"{m.package} {m.installed}: {m.id}"
    if m.status == "fixed":
        return f"{what} (fixed in {m.fixed})"
    if m.status == "wont_fix":
        return f"{what} (will not be fixed in this release)"
    return f"{what} (no fix yet)"


def _findings(snap: ImageSnapshot, family: str) -> Iterator[Fail]:
    matches = require(snap.vulnerabilities)
    packages = require(snap.packages)
    os_family = family == "os"
    relevant = [p for p in packages if (p.type in OS_TYPES) == os_family]
    for fam, why in snap.vulnerability_gaps:
        if fam == family and relevant:
            raise Skip(why)
    for m in matches:
        if (m.package_type in OS_TYPES) == os_family:
            yield Fail(evidence(snap, m), severity=severity_of(m), message=_message(m))


@check(
    id="DW309", title="Vulnerable OS package", severity=Severity.MEDIUM, scope=Scope.IMAGE,
    target_kind=TargetKind.IMAGE,
    rationale="A distribution package with a published vulnerability: the image carries "
    "it into every container. Debian and Ubuntu are matched by source package, Alpine by "
    "origin, against the data of the image's own release.",
    remediation="Rebuild on an updated base image or upgrade the package to the fixed "
    "version; for vulnerabilities without a fix, remove the package or accept the risk "
    "in the ignore file or a VEX document.",
    bad=("Debian 12 image with openssl 3.0.11-1~deb12u1",),
    good=("the same image rebuilt after `apt-get upgrade`",),
)
def vulnerable_os_package(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    yield from _findings(snap, "os")


@check(
    id="DW310", title="Vulnerable language package", severity=Severity.MEDIUM,
    scope=Scope.IMAGE, target_kind=TargetKind.IMAGE,
    rationale="A Python, npm, Go or other language package with a published "
    "vulnerability, installed in the image.",
    remediation="Upgrade the package to the fixed version (and pin it), then rebuild.",
    bad=("site-packages/Django-2.2.dist-info",), good=("Django 4.2.16",),
)
def vulnerable_language_package(snap: ImageSnapshot, ctx: ImageContext) -> Iterator[Fail]:
    yield from _findings(snap, "language")
