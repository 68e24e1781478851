"""Test harness: the main Docker Engine, a tiny offline busybox image, extra dockerds.

Import as ``from harness import ...`` (tests run with ``PYTHONPATH=src:tests``).
"""

from harness.daemons import DaemonStartError, ExtraDaemon, free_port, make_tls, reap_stale
from harness.engine import (
    EngineUnavailable,
    api_client,
    ensure_engine,
    make_client,
    ping,
    tls_config,
)
from harness.images import (
    BUSYBOX_TAG,
    LABEL,
    busybox_image,
    cleanup,
    labels,
    run_container,
)

__all__ = [
    "BUSYBOX_TAG",
    "LABEL",
    "DaemonStartError",
    "EngineUnavailable",
    "ExtraDaemon",
    "api_client",
    "busybox_image",
    "cleanup",
    "ensure_engine",
    "free_port",
    "labels",
    "make_client",
    "make_tls",
    "ping",
    "reap_stale",
    "run_container",
    "tls_config",
]
