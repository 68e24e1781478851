"""dockwarden: audit Docker deployments end to end."""

from __future__ import annotations

import os

__version__ = "0.1.0"


def read_data(name: str) -> str:
    """The text of `data/<name>`, a file shipped in the package, read through the
    package's own loader (a plain directory or a zip alike). Not `importlib.resources`:
    importing it brings pathlib, tempfile, zipfile and urllib, about 15 ms of every
    command's start, for three small JSON files."""
    loader = __spec__.loader if __spec__ is not None else None
    path = os.path.join(os.path.dirname(__file__), "data", name)
    if loader is None or not hasattr(loader, "get_data"):
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    data: bytes = loader.get_data(path)
    return data.decode("utf-8")
