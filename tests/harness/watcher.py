"""A `dockwarden watch --format json` child for live tests: its alert lines and its
stderr as they come, waited for with a hang guard (not a timing)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

HANG_GUARD = 120.0  # seconds to wait for a line, an alert or an exit before failing


class Watcher:
    """`dockwarden watch --format json --interval 1s ARGS...`, bounded by its own --for
    (in `args`)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockwarden", "watch", "--format", "json",
             "--interval", "1s", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.err = ""
        self._out = threading.Thread(target=self._read, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.alerts.put(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err += line

    def ready(self) -> None:
        """Wait for the "watching" line (said once the event stream is open)."""
        end = time.monotonic() + HANG_GUARD
        while "watching" not in self.err:
            assert self.proc.poll() is None, self.err
            assert time.monotonic() < end, self.err
            time.sleep(0.05)

    def wait_for(self, check: str, name: str) -> dict[str, Any]:
        """The first alert `check` for the container `name` (seen before or to come)."""
        for alert in self.seen:
            if alert["id"] == check and alert["container"]["name"] == name:
                return alert
        end = time.monotonic() + HANG_GUARD
        while time.monotonic() < end:
            try:
                alert = self.alerts.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, self.err
                continue
            self.seen.append(alert)
            if alert["id"] == check and alert["container"]["name"] == name:
                return alert
        pytest.fail(f"no {check} alert for {name}: {self.seen} {self.err}")

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, then the exit code and all of stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=HANG_GUARD)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._err.join(timeout=10)
        return self.proc.returncode, self.err
