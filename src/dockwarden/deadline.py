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
import heapq
import itertools
import math
import os
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


class _Watch:
    """One thread for every watched request: calls `close` of each request whose
    `Deadline` passes before it is cancelled. A deadline's end may move later while it is
    watched (a download earns time as bytes arrive): it is read again when it comes due.
    (A timer thread per request costs 0.5 ms to start, more than an Engine inspect.)"""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No watched request and no thread (also in a forked child: it has no watchdog
        thread, and the lock may have been held at the fork)."""
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, tuple[Deadline, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, close: Callable[[], None]) -> int:
        with self._cond:
            seq = next(self._seq)
            heapq.heappush(self._heap, (deadline.end, seq))
            self._live[seq] = (deadline, close)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dockwarden-watchdog",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][1] == seq:
                self._cond.notify()
        return seq

    def cancel(self, seq: int) -> None:
        with self._cond:
            self._live.pop(seq, None)
            if len(self._heap) > 2 * len(self._live) + 256:  # drop the cancelled entries
                self._heap = [e for e in self._heap if e[1] in self._live]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                end, seq = self._heap[0]
                delay = end - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                deadline, close = self._live[seq]
                if deadline.end > end:  # moved later while watched: wait for the new end
                    heapq.heappush(self._heap, (deadline.end, seq))
                    continue
                del self._live[seq]
            with contextlib.suppress(Exception):
                close()


_WATCH = _Watch()
os.register_at_fork(after_in_child=_WATCH.reset)


@contextlib.contextmanager
def watchdog(deadline: Deadline, close: Callable[[], None]) -> Iterator[None]:
    """Run the block; if it is still running when `deadline` passes, call `close` (from
    the shared watchdog thread) to break the blocking read. Errors of `close` are
    ignored; `close` must not block, since one thread serves every request."""
    seq = _WATCH.watch(deadline, close)
    try:
        yield
    finally:
        _WATCH.cancel(seq)
