"""`dockwarden sbom`: the package inventory of images (CycloneDX or SPDX JSON)."""

from __future__ import annotations

import argparse

from dockwarden import __version__
from dockwarden.commands import image, output
from dockwarden.commands import options as opts


def options(p: argparse.ArgumentParser) -> None:
    opts.image_options(p, many=True)
    p.add_argument("--format", choices=("cyclonedx", "spdx"), default="cyclonedx",
                   help="CycloneDX 1.6 JSON (default) or SPDX 2.3 JSON")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the SBOM here (default stdout), once it is complete")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    opts.engine_options(p, containers=False)


def run(ns: argparse.Namespace) -> int:
    from dockwarden.collect.image.open import collect_image

    snaps = [collect_image(req, image.engine_factory(ns), progress=image.image_progress(ns))
             for req in image.image_requests(ns)]
    if ns.format == "spdx":
        from dockwarden.report import spdx
        text = spdx.render(snaps, tool_version=__version__, timestamp=output.now())
    else:
        from dockwarden.report import cyclonedx
        text = cyclonedx.render(snaps, tool_version=__version__, timestamp=output.now())
    output.write(ns.output, text)
    return 0
