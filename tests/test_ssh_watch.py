"""`dockwarden watch -H ssh://...`: the event stream (`GET /events`) over one
`ssh HOST docker system dial-stdio` process, and the inspects over the ssh getter,
against the sshd of tests/test_ssh_engine.py (its own port, host key and authorised key
on 127.0.0.1) in front of the Engine of this machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from conftest import RUN_ID, test_labels
from harness.watcher import HANG_GUARD, Watcher
from test_ssh_engine import Sshd, sshd  # noqa: F401 - the module-scoped sshd fixture

pytestmark = [pytest.mark.live, pytest.mark.slow]



def _watcher(server: Sshd) -> Watcher:
    """`dockwarden watch -H ssh://...` bounded by its own --for."""
    return Watcher(["-H", server.url(), "--for", "5m"], env=server.env())


def test_watch_over_ssh_sees_an_event(sshd: Sshd, api: Any, busybox: str) -> None:  # noqa: F811
    """A container the test starts after "watching" (host / mounted: DW901) is seen
    through the ssh event stream and inspected over ssh; Ctrl-C ends it with exit 0 and
    no ssh process left behind."""
    name = f"dw-ssh-watch-{RUN_ID}"
    watcher = _watcher(sshd)
    cid = None
    try:
        watcher.ready()
        assert f"watching {sshd.url()}" in watcher.err, watcher.err
        cid = api.create_container(busybox, ["sleep", "600"], name=name, labels=test_labels(),
                                   host_config=api.create_host_config(binds=["/:/host:ro"],
                                                                      network_mode="none"))["Id"]
        api.start(cid)
        alert = watcher.wait_for("DW901", name)
    finally:
        if cid is not None:
            api.remove_container(cid, force=True)
        code, err = watcher.stop()
    assert alert["container"]["id"] == cid and alert["severity"] == "critical"
    assert code == 0, err
    assert "Traceback" not in err and "unreachable" not in err, err
    ended = [ln for ln in err.splitlines() if "ended after" in ln]
    assert ended and " 0 events" not in ended[0], err
    # the watch's ssh processes (ssh -F <this sshd's config> ...) are gone
    # the watch's ssh processes end with it (a request in flight at the end may finish
    # first: waited for within the hang guard)
    end = time.monotonic() + HANG_GUARD
    while _ssh_pids(sshd.port):
        assert time.monotonic() < end, _ssh_pids(sshd.port)
        time.sleep(0.1)


def _ssh_pids(port: int) -> list[int]:
    """The ssh client processes dialling this test's sshd (the watch's only: the test
    runs one watch at a time and its own ssh commands have ended)."""
    out = subprocess.run(["pgrep", "-f", "--", f"-p {port} "], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


def _wait_for_line(watcher: Watcher, words: str) -> None:
    end = time.monotonic() + HANG_GUARD
    while words not in watcher.err:
        assert watcher.proc.poll() is None, watcher.err
        assert time.monotonic() < end, watcher.err
        time.sleep(0.05)


def test_watch_over_ssh_reconnects_when_ssh_dies(sshd: Sshd, api: Any,  # noqa: F811
                                                 busybox: str) -> None:
    """The ssh processes of the watch are killed (the connection to the remote host is
    lost): the watch says so, dials again, and a container started meanwhile is still
    seen (the new stream asks for the events it missed with since=)."""
    name = f"dw-ssh-rewatch-{RUN_ID}"
    watcher = _watcher(sshd)
    cid = None
    try:
        watcher.ready()
        pids = _ssh_pids(sshd.port)
        assert pids, "the watch's event stream runs over ssh"
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_for_line(watcher, "lost the Engine")
        cid = api.create_container(busybox, ["sleep", "600"], name=name, labels=test_labels(),
                                   host_config=api.create_host_config(binds=["/:/host:ro"],
                                                                      network_mode="none"))["Id"]
        api.start(cid)
        alert = watcher.wait_for("DW901", name)
        assert "reconnected to the Engine" in watcher.err, watcher.err
    finally:
        if cid is not None:
            api.remove_container(cid, force=True)
        code, err = watcher.stop()
    assert alert["container"]["id"] == cid
    assert code == 0, err
    assert "Traceback" not in err, err
