"""Finding the files a command reads under a folder (symlinks leaving it and FIFOs are
reported, never read)."""

from __future__ import annotations

import os

from dockwarden.errors import InputError
from dockwarden.model.finding import ReportError
from dockwarden.sanitize import clean


def script_files(root: str, passed_over: list[ReportError] | None = None) -> list[str]:
    """The files to read under `root` (or `root` itself when it is not a directory; a
    FIFO, device or symlink given by name is refused when it is opened). Entries of a
    directory that are not read (a symlink leaving `root`, a FIFO) are added to
    `passed_over`."""
    from dockwarden.safeio import walk_files

    if not os.path.isdir(root):
        if not os.path.lexists(root):
            raise InputError(f"{clean(root)}: no such file or directory")
        return [root]
    out: list[str] = []
    for path, why in walk_files(root):
        if why is None:
            out.append(path)
        elif passed_over is not None:
            passed_over.append(ReportError(path, why))
    return out


def is_dockerfile(path: str) -> bool:
    name = os.path.basename(path).lower()
    return "dockerfile" in name or "containerfile" in name
