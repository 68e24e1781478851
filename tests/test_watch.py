"""`dockwarden watch`: alerts DW901-DW906.

Live tests run one `dockwarden watch --format json` child on the real Engine and trigger
events with the SDK on containers of their own (labelled, named per run); they read
only the alerts of those names (other tests may run beside). A fake Engine on an
AF_UNIX socket in a temp folder covers what a real one cannot be made to do: hostile
event fields, overlong lines, a stream that breaks (the watch reconnects and asks for
what it missed with `since=`), restart loops.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import RUN_ID, test_labels
from dockwarden.checks.watch import (
    ExecObs,
    GrowthObs,
    PidsObs,
    RestartObs,
    exec_session,
    growing_fast,
    pids_climbing,
    restart_loop,
)
from dockwarden.collect.watch import parse_event, since_arg, split_lines
from harness.watcher import Watcher
from hostile.conftest import assert_no_raw_controls, run_dockwarden

HANG_GUARD = 60.0  # seconds to wait for an alert before failing (a hang, not a timing)
LATENCY = 5.0  # the issue: each alert within 5 seconds of its event


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- pure parts ---------------------------------------------------------------------------
def test_split_lines_drops_overlong_lines_whole() -> None:
    chunks = [b'{"a":1}\n{"b":', b"2}\n" + b"x" * 50, b"x" * 60 + b"\nlast\n", b"tail"]
    assert list(split_lines(chunks, max_len=40)) == [b'{"a":1}', b'{"b":2}', None, b"last"]


def test_parse_event_cleans_hostile_fields_and_refuses_bad_ids() -> None:
    cid = "a" * 64
    raw = {"Type": "container", "Action": "exec_create: sh \x1b[2J", "timeNano": 5,
           "Actor": {"ID": cid, "Attributes": {"name": "\x1b]0;pwned\x07x\u202e",
                                               "execID": "../../etc"}}}
    ev = parse_event(json.dumps(raw).encode())
    assert ev is not None and ev.action == "exec_create" and ev.id == cid
    assert "\x1b" not in ev.name and "\u202e" not in ev.name and "\x07" not in ev.name
    assert ev.exec_id is None  # not an id: never put into a request path
    raw["Actor"]["ID"] = "../containers/x"  # type: ignore[index]
    assert parse_event(json.dumps(raw).encode()) is None
    assert parse_event(b"[1, 2]") is None and parse_event(b"not json") is None
    assert parse_event(b"[" * 100_000) is None


def test_since_argument() -> None:
    assert since_arg(1_796_524_848_849_368_687) == "1796524848.849368687"
    assert since_arg(5) == "0.000000005"


def test_pids_rules() -> None:
    assert list(pids_climbing(PidsObs(60, 64)))
    assert not list(pids_climbing(PidsObs(10, 64)))
    assert list(pids_climbing(PidsObs(2000, 0, previous=100, seconds=2.0)))  # fast, no limit
    assert not list(pids_climbing(PidsObs(2000, 0, previous=1990, seconds=2.0)))
    assert not list(pids_climbing(PidsObs(300, 0, previous=10, seconds=1.0)))  # below floor


def test_exec_rules_redact_and_rank() -> None:
    (root,) = exec_session(ExecObs("e" * 64, "", "", False, ("mysql", "-pSecretPw1")))
    assert root.severity == "high" and "SecretPw1" not in root.evidence["command"]
    (user,) = exec_session(ExecObs("e" * 64, "1000", "", False, ("ps",)))
    assert user.severity == "medium"
    (priv,) = exec_session(ExecObs("e" * 64, "1000", "", True, ("ps",)))
    assert priv.severity == "high"
    (inherited,) = exec_session(ExecObs("e" * 64, "", "app", False, ("ps",)))
    assert inherited.severity == "medium" and inherited.evidence["user"] == "app"


def test_growth_and_restart_rules() -> None:
    mib = 1 << 20
    assert list(growing_fast(GrowthObs("log file", 0, 300 * mib, 60.0)))
    assert not list(growing_fast(GrowthObs("log file", 0, 5 * mib, 1.0)))  # under minimum
    assert not list(growing_fast(GrowthObs("writable layer", 0, 50 * mib, 60.0)))
    assert list(restart_loop(RestartObs(4, 60.0, 3)))
    assert not list(restart_loop(RestartObs(3, 60.0, 3)))


# -- a fake Engine --------------------------------------------------------------------------
A = "a" * 64  # a container started privileged, with a hostile name
B = "b" * 64  # a container in a restart loop
E = "e" * 64  # an exec id
HOSTILE_NAME = "/evil\x1b]0;pwned\x07\x1b[2J\u202eeman"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _event(action: str, cid: str, name: str, t: int, **attrs: str) -> bytes:
    return json.dumps({"Type": "container", "Action": action, "status": action, "id": cid,
                       "timeNano": t, "time": t // 10**9,
                       "Actor": {"ID": cid, "Attributes": {"name": name, **attrs}}}).encode()


class FakeEngine:
    def __init__(self, path: str) -> None:
        self.path = path
        self.event_queries: list[str] = []
        self.done = threading.Event()
        engine = self
        self.now = 0  # the time of the first /events request (after the watch started)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/version":
                    return self._json(200, {"ApiVersion": "1.41"})
                if path.endswith("/info"):
                    return self._json(200, {"MemTotal": 8 << 30})
                if path.endswith("/containers/json"):
                    return self._json(200, [])
                if path.endswith(f"/containers/{A}/json"):
                    return self._json(200, {"Id": A, "Name": HOSTILE_NAME,
                                            "State": {"Running": True},
                                            "Config": {"User": "", "Image": "x"},
                                            "HostConfig": {"Privileged": True}})
                if path.endswith(f"/exec/{E}/json"):
                    return self._json(200, {"ID": E, "Running": True, "ProcessConfig": {
                        "user": "", "privileged": True, "entrypoint": "sh",
                        "arguments": ["-c", "echo \x1b[31mred"]}})
                if path.endswith("/events"):
                    engine.event_queries.append(self.path)
                    engine.now = engine.now or time.time_ns()
                    now = engine.now
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if len(engine.event_queries) == 1:
                        self._chunk(_event("start", A, HOSTILE_NAME, now + 1) + b"\n")
                        self._chunk(b'{"x": "' + b"y" * 200_000 + b'"}\n')  # overlong
                        self._chunk(b"not json\n")
                        self._chunk(_event("exec_create: sh -c x", A, HOSTILE_NAME, now + 2,
                                           execID=E) + b"\n")
                        for i in range(4):
                            self._chunk(_event("die", B, "looper", now + 10 + 2 * i,
                                               exitCode="1") + b"\n")
                            self._chunk(_event("start", B, "looper", now + 11 + 2 * i)
                                        + b"\n")
                        time.sleep(1.0)
                        self.close_connection = True  # it breaks: an Engine restart
                        return
                    # a reconnection: the missed event, and an old one again
                    self._chunk(_event("start", B, "looper", now + 17) + b"\n")
                    self._chunk(_event("oom", A, HOSTILE_NAME, now + 30) + b"\n")
                    engine.done.wait(30)
                    self.close_connection = True
                    return
                return self._json(404, {"message": "no such thing \x1b[2J"})

        self.server = _Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeEngine:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        _Hook.received.put(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[FakeEngine]:
    sock = tmp_path / "e.sock"
    with FakeEngine(str(sock)) as engine:
        yield engine


def test_fake_engine_hostile_events_reconnect_and_webhook(fake_engine: FakeEngine) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        run = run_dockwarden(["watch", "-H", f"unix://{fake_engine.path}", "--format", "json",
                              "--for", "6s", "--webhook",
                              f"http://127.0.0.1:{hook.server_address[1]}/hook"],
                             timeout=HANG_GUARD)
    finally:
        hook.shutdown()
    assert run.code == 0, run.err
    assert_no_raw_controls(run.out)
    assert_no_raw_controls(run.err)
    alerts = [json.loads(line) for line in run.out.splitlines()]
    ids = [(a["id"], a["container"]["id"]) for a in alerts]
    assert ("DW901", A) in ids and ("DW902", A) in ids
    assert ("DW904", A) in ids  # the oom event fetched after the reconnection
    assert ids.count(("DW906", B)) == 1  # a restart loop, alerted once (cooldown)
    dw901 = next(a for a in alerts if a["id"] == "DW901")
    assert dw901["severity"] == "critical" and "DW201" in dw901["message"]
    assert "\\x1b" in dw901["container"]["name"]  # shown escaped, not dropped
    dw902 = next(a for a in alerts if a["id"] == "DW902")
    assert dw902["severity"] == "high" and dw902["evidence"]["privileged"] is True
    for alert in alerts:
        assert {"id", "severity", "event_time", "alert_time", "container", "evidence",
                "fix"} <= set(alert)
    # reconnected, and asked for what it missed
    assert len(fake_engine.event_queries) >= 2
    assert "since=" not in fake_engine.event_queries[0]
    assert "since=" in fake_engine.event_queries[1]
    assert "lost the Engine" in run.err and "reconnected" in run.err
    assert "1 event lines too long, skipped" in run.err
    posted = []
    while not _Hook.received.empty():
        posted.append(_Hook.received.get())
    assert sorted(a["id"] for a in posted) == sorted(a["id"] for a in alerts)
    assert f"webhook: {len(alerts)} posted, 0 failed" in run.err


def test_engine_gone_at_the_end_is_exit_3(tmp_path: Path) -> None:
    sock = str(tmp_path / "e.sock")
    engine = FakeEngine(sock)
    engine.__enter__()
    proc = subprocess.Popen([sys.executable, "-m", "dockwarden", "watch", "-H",
                             f"unix://{sock}", "--for", "8s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    engine.__exit__()
    os.unlink(sock)
    _out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 3, err
    assert "unreachable at the end" in err and "Traceback" not in err


def test_webhook_failures_are_counted_never_blocking(fake_engine: FakeEngine) -> None:
    run = run_dockwarden(["watch", "-H", f"unix://{fake_engine.path}", "--for", "4s",
                          "--webhook", "http://127.0.0.1:9/closed"], timeout=HANG_GUARD)
    assert run.code == 0, run.err
    assert "DW901" in run.out
    assert "0 posted" in run.err and "failed" in run.err


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///etc/passwd", "http://", "x"])
def test_webhook_must_be_http(url: str) -> None:
    run = run_dockwarden(["watch", "--webhook", url], timeout=HANG_GUARD)
    assert run.code == 2 and "http(s)" in run.err


def test_bad_duration_is_a_usage_error() -> None:
    run = run_dockwarden(["watch", "--for", "soon"], timeout=HANG_GUARD)
    assert run.code == 2 and "not a duration" in run.err


# -- the real Engine ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def watcher(api: Any, busybox: str) -> Iterator[Watcher]:
    w = Watcher(["--for", "600s"])
    w.ready()
    yield w
    w.proc.send_signal(signal.SIGINT)
    w.proc.wait(timeout=HANG_GUARD)
    assert w.proc.returncode == 0, w.err


def _start(api: Any, busybox: str, name: str, cmd: list[str], **host: Any) -> tuple[str, float]:
    cid = api.create_container(busybox, command=cmd, name=name, labels=test_labels(),
                               host_config=api.create_host_config(**host))["Id"]
    started = time.time()
    api.start(cid)
    return cid, started


def _name(what: str) -> str:
    return f"dwwatch-{RUN_ID}-{what}"


def test_live_host_root_mount_is_dw901(watcher: Watcher, api: Any, busybox: str) -> None:
    name = _name("rootmount")
    cid, _ = _start(api, busybox, name, ["sleep", "600"], binds=["/:/host:ro"])
    try:
        alert = watcher.wait_for("DW901", name)
    finally:
        api.remove_container(cid, force=True)
    assert alert["container"]["id"] == cid and alert["severity"] == "critical"
    assert "DW207" in alert["message"]
    assert _t(alert["alert_time"]) - _t(alert["event_time"]) <= LATENCY


def test_live_exec_as_root_is_dw902(watcher: Watcher, api: Any, busybox: str) -> None:
    name = _name("exec")
    cid, _ = _start(api, busybox, name, ["sleep", "600"])
    try:
        exec_id = api.exec_create(cid, ["id"], user="0")["Id"]
        api.exec_start(exec_id)
        alert = watcher.wait_for("DW902", name)
    finally:
        api.remove_container(cid, force=True)
    assert alert["severity"] == "high" and alert["evidence"]["exec_id"] == exec_id
    assert alert["evidence"]["user"] == "0" and alert["evidence"]["command"] == "id"
    assert _t(alert["alert_time"]) - _t(alert["event_time"]) <= LATENCY
    assert not [a for a in watcher.seen if a["id"] == "DW901" and
                a["container"]["name"] == name]  # a plain container is no DW901


def test_live_fork_bomb_is_dw903_and_contained(watcher: Watcher, api: Any,
                                               busybox: str) -> None:
    name = _name("forkbomb")
    # the inner shell forks until the limit stops it, then the outer one becomes a
    # sleep (exec, no fork) so the container lives on with its pids at the limit
    bomb = ["sh", "-c", "sh -c 'while :; do sleep 60 & done' 2>/dev/null; exec sleep 600"]
    cid, started = _start(api, busybox, name, bomb, pids_limit=64)
    try:
        alert = watcher.wait_for("DW903", name)
    finally:
        api.remove_container(cid, force=True)
    assert alert["evidence"]["pids.limit"] == 64
    assert 0.8 * 64 <= alert["evidence"]["pids.current"] <= 64  # contained by the limit
    assert _t(alert["alert_time"]) - started <= LATENCY


def test_live_memory_hog_killed_is_dw904(watcher: Watcher, api: Any, busybox: str) -> None:
    name = _name("memhog")
    cid, _ = _start(api, busybox, name, ["sh", "-c", "a=x; while :; do a=$a$a; done"],
                    mem_limit="16m", memswap_limit="16m")
    try:
        alert = watcher.wait_for("DW904", name)
    finally:
        api.remove_container(cid, force=True)
    assert alert["evidence"].get("event") == "oom" or alert["evidence"].get("share", 0) >= 0.9
    assert _t(alert["alert_time"]) - _t(alert["event_time"]) <= LATENCY


def test_sigterm_ends_with_exit_0(api: Any) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dockwarden", "watch", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "ended after" in err and "Traceback" not in err
