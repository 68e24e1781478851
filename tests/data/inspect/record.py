"""Re-record the inspect JSON used by tests/test_checks_container.py from a real Engine.

Run as root with an Engine at DOCKER_HOST or the default socket:
    PYTHONPATH=tests python tests/data/inspect/record.py
Creates (without starting) one labelled container per bad case of the live table and
the hardened one, saves their inspect data, and removes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.engine import api_client
from harness.images import busybox_image
from test_containers_live import BAD, _create, _hardened

OUT = Path(__file__).parent / "containers.json"


def main() -> None:
    api = api_client()
    image = busybox_image(api)
    if not api.images(name="dwtest/busybox:latest"):
        api.tag(image, "dwtest/busybox", "latest")
    recorded = []
    ids = []
    try:
        for i, (check, severity, args) in enumerate(BAD):
            args = dict(args)
            img = args.pop("image", image)
            if "propagation" in args:
                prop = args.pop("propagation")
                args["binds"] = {"/tmp": {"bind": "/mnt", "mode": f"rw,{prop}"}}
            cid = _create(api, img, f"rec-{i}-{check.lower()}", **args)
            ids.append(cid)
            recorded.append({"check": check, "severity": severity,
                             "inspect": api.inspect_container(cid)})
        cid = _hardened(api, image, "rec-hardened")
        ids.append(cid)
        recorded.append({"check": None, "severity": None, "inspect": api.inspect_container(cid)})
    finally:
        for cid in ids:
            api.remove_container(cid, force=True)
    OUT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(recorded)} containers into {OUT}")


if __name__ == "__main__":
    main()
