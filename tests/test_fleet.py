"""Many Engines in one run: the main Engine and two extra dockerd (own sockets, data
roots and bridges), one of them stopped: one report, one target per Engine, findings
carrying their Engine, the stopped one an error entry (exit 3); --hosts FILE.

"Stopped mid-run" is made deterministic with a small unix-socket proxy (a thread of the
test) in front of a third extra dockerd: it forwards the run's first requests (`/_ping`,
`/version`: the Engine is reached and its API negotiated), and on the first other
request (the audit proper) stops that dockerd (SIGTERM, waits for its exit) and closes
the connection unanswered; later connections are closed at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import test_labels
from harness.daemons import ExtraDaemon
from harness.images import busybox_image

pytestmark = [pytest.mark.live, pytest.mark.slow]

MAIN = "unix:///var/run/docker.sock"


def run(*args: str, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    proc = subprocess.run([sys.executable, "-m", "dockwarden", *args, "--no-progress",
                           "--fail-on", "none"], capture_output=True, text=True,
                          timeout=timeout, env=env)
    data = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return proc.returncode, data, proc.stderr


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[ExtraDaemon, ExtraDaemon, str]]:
    """Two extra Engines with one labelled container each, and the address of a third
    that was started and stopped (its socket gone: unreachable)."""
    with ExtraDaemon({"iptables": False}) as a, ExtraDaemon({"iptables": False}) as b:
        for d in (a, b):
            api = d.client()
            image = busybox_image(api)
            c = api.create_container(image, ["sleep", "600"], name="dw-fleet",
                                     labels=test_labels(),
                                     host_config=api.create_host_config(network_mode="none"))
            api.start(c)
        with ExtraDaemon({"iptables": False}) as stopped:
            gone = stopped.url
        yield a, b, gone


class StopOnRequest:
    """A unix-socket proxy to `upstream` that calls `stop` (once) on the first request
    whose path (without the /vX.Y prefix and the query) is not in `harmless`, before
    answering it: that request and every later connection are closed unanswered."""

    HEAD_CAP = 64 * 1024

    def __init__(self, upstream: str, stop: Callable[[], None],
                 harmless: tuple[str, ...] = ("/_ping", "/version")) -> None:
        self.upstream, self.stop, self.harmless = upstream, stop, harmless
        self.dir = tempfile.mkdtemp(prefix="dw-fleet-proxy-", dir="/tmp")
        self.path = os.path.join(self.dir, "proxy.sock")
        self.url = f"unix://{self.path}"
        self.seen: list[str] = []  # the request paths, in order
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _fire(self, path: str) -> bool:
        """True when this request is the one that stops the Engine (or comes after)."""
        with self._lock:
            self.seen.append(path)
            if self.stopped.is_set():
                return True
            if re.sub(r"^/v[0-9.]+", "", path.split("?", 1)[0]) in self.harmless:
                return False
            self.stop()  # the Engine is gone before this request is answered
            self.stopped.set()
            return True

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            buf = b""
            while True:  # one request head at a time (the audit's requests have no body)
                while b"\r\n\r\n" not in buf:
                    data = client.recv(65536)
                    if not data or len(buf) > self.HEAD_CAP:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                parts = line.split(" ")
                if self._fire(parts[1] if len(parts) > 2 else ""):
                    return
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                need = int(length.group(1)) if length else 0
                while len(buf) < need:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:need], buf[need:]
                if upstream is None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                    threading.Thread(target=self._pipe, args=(upstream, client),
                                     daemon=True).start()
                upstream.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _findings(report: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(f, sort_keys=True) for f in report["findings"])


def test_fleet_three_engines_one_stopped(engines: Any) -> None:
    a, b, gone = engines
    code, rep, err = run("daemon", "-H", MAIN, "-H", a.url, "-H", gone, "-H", b.url,
                         "--format", "json")
    assert code == 3, err
    targets = {t["ref"]: t["complete"] for t in rep["targets"]}
    assert targets == {MAIN: True, a.url: True, b.url: True, gone: False}
    assert [e["target"] for e in rep["errors"]] == [gone]
    assert "cannot reach the Docker Engine" in rep["errors"][0]["message"]
    engines_seen = {f["evidence"]["engine"] for f in rep["findings"]}
    assert engines_seen <= {MAIN, a.url, b.url}
    assert {a.url, b.url} <= engines_seen  # the extra daemons run with weak defaults
    assert f"{gone}" in err.splitlines()[0]


def test_fleet_engine_stopped_mid_run(engines: Any) -> None:
    """Three Engines (the main one, an extra one, and a third behind StopOnRequest): the
    third is reached, then stopped as its audit starts. One report: two complete
    targets, one error entry for the third (one line), exit 3."""
    a, _b, _gone = engines
    with ExtraDaemon({"iptables": False}) as third:
        proxy = StopOnRequest(third.socket, third.stop)
        try:
            code, rep, err = run("daemon", "-H", MAIN, "-H", a.url, "-H", proxy.url,
                                 "--format", "json", "--parallel", "3")
        finally:
            proxy.close()
        assert proxy.stopped.is_set(), proxy.seen  # stopped during the run, by the run
        assert any(p.split("?")[0].endswith("/version") for p in proxy.seen), proxy.seen
    assert code == 3, err
    assert {t["ref"]: t["complete"] for t in rep["targets"]} == \
        {MAIN: True, a.url: True, proxy.url: False}
    assert [e["target"] for e in rep["errors"]] == [proxy.url], rep["errors"]
    message = rep["errors"][0]["message"]
    assert message.strip() and "\n" not in message, message
    assert "Docker Engine" in message, message
    assert proxy.url in err.splitlines()[0], err
    assert "Traceback" not in err
    assert {f["evidence"]["engine"] for f in rep["findings"]} <= {MAIN, a.url}


def test_fleet_containers_carry_their_engine(engines: Any) -> None:
    a, b, _ = engines
    code, rep, err = run("containers", "-H", a.url, "-H", b.url, "--no-images",
                         "--format", "json", "dw-fleet")
    assert code == 0, err
    by_engine: dict[str, set[str]] = {}
    for f in rep["findings"]:
        if f["target"]["kind"] == "container":
            assert f["target"]["ref"] == "dw-fleet"
            by_engine.setdefault(f["evidence"]["engine"], set()).add(f["check"])
    assert set(by_engine) == {a.url, b.url}
    assert by_engine[a.url] == by_engine[b.url]


def test_hosts_file_comments_and_blank_lines(engines: Any, tmp_path: Path) -> None:
    a, b, gone = engines
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# the fleet\n\n{a.url}   # first\n\n   \n# {gone} is commented out\n"
                     f"{b.url}\n")
    code, rep, err = run("daemon", "--hosts", str(hosts), "--format", "json", "--parallel",
                         "2")
    assert code == 0, err
    assert [t["ref"] for t in rep["targets"]] == [a.url, b.url]
    assert all(t["complete"] for t in rep["targets"])


def test_hosts_file_bad_line_exit_2(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("unix:///run/x.sock\nftp://nope\n")
    code, _, err = run("daemon", "--hosts", str(hosts), "--format", "json")
    assert code == 2
    assert "line 2" in err.splitlines()[0]


def test_fleet_text_summary_orders_hosts(engines: Any) -> None:
    a, b, gone = engines
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    proc = subprocess.run([sys.executable, "-m", "dockwarden", "daemon", "-H", gone, "-H",
                           a.url, "-H", b.url, "--no-progress"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    at = lines.index("Engines, worst first")
    block = [ln.strip() for ln in lines[at + 1: at + 4]]
    assert {ln.split(": ")[0] for ln in block[:2]} == {a.url, b.url}
    assert block[-1] == f"{gone}: no findings  (INCOMPLETE)"
    assert "high" in block[0] or "medium" in block[0]
    # worst first: the first Engine's worst severity is at least the second's
    order = ["critical", "high", "unknown", "medium", "low", "info"]

    def worst(line: str) -> int:
        return min((order.index(w) for w in line.split(": ", 1)[1].split() if w in order),
                   default=len(order))

    assert worst(block[0]) <= worst(block[1])


def test_merge_three_reports_equal_fleet(engines: Any, tmp_path: Path) -> None:
    a, _b, gone = engines
    paths = []
    for i, host in enumerate((MAIN, a.url, gone)):
        out = tmp_path / f"r{i}.json"
        run("daemon", "-H", host, "--format", "json", "-o", str(out))
        assert out.exists()
        paths.append(str(out))
    _, fleet, _ = run("daemon", "-H", MAIN, "-H", a.url, "-H", gone, "--format", "json")
    code, merged, err = run("merge", *paths, "--format", "json")
    assert code == 3, err  # the stopped Engine's report is incomplete
    assert _findings(merged) == _findings(fleet)
    assert {(t["ref"], t["complete"]) for t in merged["targets"]} == \
        {(t["ref"], t["complete"]) for t in fleet["targets"]}
    # the same report twice: its findings once
    code, twice, err = run("merge", paths[1], paths[1], "--format", "json")
    assert code == 0, err
    assert _findings(twice) == sorted(
        f for f in _findings(fleet) if json.loads(f)["evidence"]["engine"] == a.url)
    # any output format
    code, _, err = run("merge", *paths[:2], "--format", "sarif")
    assert code == 0, err
