"""The package inventory analyzers: the OS release, dpkg, apk, rpm, Python, npm, Go
binaries and the binary classifier (binary.py). Each is independent (the OS package
analyzers read os-release themselves for
their package URLs) and all run during the one streaming pass over the layers."""

from __future__ import annotations

from dockwarden.collect.image.analyzer import Analyzer
from dockwarden.collect.image.pkg.apk import ApkAnalyzer
from dockwarden.collect.image.pkg.binary import BinaryClassifier
from dockwarden.collect.image.pkg.dpkg import DpkgAnalyzer
from dockwarden.collect.image.pkg.golang import GoBinaryAnalyzer
from dockwarden.collect.image.pkg.npm import NpmAnalyzer
from dockwarden.collect.image.pkg.osrelease import OSReleaseAnalyzer
from dockwarden.collect.image.pkg.pypi import PythonAnalyzer
from dockwarden.collect.image.pkg.rpm import RpmAnalyzer

__all__ = [
    "ApkAnalyzer",
    "BinaryClassifier",
    "DpkgAnalyzer",
    "GoBinaryAnalyzer",
    "NpmAnalyzer",
    "OSReleaseAnalyzer",
    "PythonAnalyzer",
    "RpmAnalyzer",
    "package_analyzers",
]


def package_analyzers() -> list[Analyzer]:
    """One fresh instance of each package analyzer, in a fixed order."""
    return [
        OSReleaseAnalyzer(),
        DpkgAnalyzer(),
        ApkAnalyzer(),
        RpmAnalyzer(),
        PythonAnalyzer(),
        NpmAnalyzer(),
        GoBinaryAnalyzer(),
        BinaryClassifier(),
    ]
