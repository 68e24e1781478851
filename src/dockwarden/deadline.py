"""Deadlines for network requests: `--timeout` bounds a whole request, not each read.

A socket timeout bounds one read; a hostile server that sends one byte a second keeps
every read short and the request alive for ever. Each network client of dockwarden (the
Engine API, registries, advisory downloads) takes a `Deadline` for a request and

- gives each blocking operation `deadline.timeout()` (the time left, never more than the
  per-read cap) and calls `deadline.check(what)` between chunks it reads, and
- runs the request under `watchdog(deadline, close)`, which calls `close` (shutting the
  socket down) when the time is up, so that even a read inside a library that never
  returns to our code ends.

Written by hand: neither http.client nor httpx has a total-request timeout.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator

from dockwarden.errors import DockwardenError


class DeadlineExceeded(DockwardenError):
    """A request did not complete in time: the audit is incomplete (exit 3)."""

    exit_code = 3


def check_timeout(value: float, option: str = "--timeout") -> float:
    """`value` if it is a usable timeout (finite, above 0), else a ValueError naming
    `option` (the CLI turns it into a usage error)."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a number of seconds above 0, not {value!r}")
    if value > 86_400:
        raise ValueError(f"{option} must be at most 86400 seconds (a day), not {value:g}")
    return float(value)


class Deadline:
    """The end of a request `seconds` from now (monotonic clock)."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def timeout(self, cap: float | None = None) -> float:
        """The timeout for the next blocking operation: the time left (at least 1 ms, so
        that a socket is never made non-blocking by a 0), at most `cap`."""
        left = max(0.001, self.remaining())
        return left if cap is None else min(cap, left)

    def check(self, what: str) -> None:
        """Raise DeadlineExceeded when the time is up."""
        if self.expired():
            raise DeadlineExceeded(f"{what}: no complete answer within {self.seconds:g} s",
                                   "the server may be slow or hostile; raise --timeout if "
                                   "it is only slow")


@contextlib.contextmanager
def watchdog(deadline: Deadline, close: Callable[[], None]) -> Iterator[None]:
    """Run the block; if it is still running when `deadline` passes, call `close` (from
    another thread) to break the blocking read. Errors of `close` are ignored."""

    def fire() -> None:
        with contextlib.suppress(Exception):
            close()

    timer = threading.Timer(deadline.remaining(), fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
