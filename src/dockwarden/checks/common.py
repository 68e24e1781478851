"""Small judgements shared by check modules of several scopes (container, image,
Dockerfile). Kept in their own module so that loading one scope's checks does not load
another's."""

from __future__ import annotations

import re

_IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{12,64}")


def is_root_user(user: str) -> bool:
    """`USER` / `--user` / `Config.User` that means root: empty, `root`, `0`, `0:x`."""
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def is_moving_ref(image: str) -> bool:
    """An image reference whose content can change: no tag, or `latest` (a digest or an
    image id does not move)."""
    if not image or "@sha256:" in image or _IMAGE_ID.fullmatch(image):
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")
