"""Importers: one small module per advisory source, each turning input bytes into
normalised `Advisory` records (see `dockwarden.model.vuln`):

* `osv`: OSV documents (osv.dev `all.zip`, a folder of JSON files, one file);
* `debian_tracker`: the Debian security tracker's JSON;
* `alpine_secdb`: Alpine secdb JSON;
* `detect.import_any(path)`: recognises which of these a path is and names its source.
"""

from dockwarden.vuln.importers.base import ImportStats
from dockwarden.vuln.importers.detect import Imported, describe, expand, import_any

__all__ = ["ImportStats", "Imported", "describe", "expand", "import_any"]
