"""Importers: one small module per advisory source, each turning input bytes into
normalised `Advisory` records (see `dockwarden.model.vuln`)."""

from dockwarden.vuln.importers.base import ImportStats

__all__ = ["ImportStats"]
