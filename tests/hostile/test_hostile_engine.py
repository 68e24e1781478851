"""A hostile Engine: a fake Docker Engine API on a unix socket in a temporary directory
(threads, in the test process) answers with wrong types, deep nesting, huge bodies, a
trickle of one byte a second, lone surrogates and ESC in names. dockwarden must end with a
one-line error per bad document (the container it was about named), the other containers
still audited, exit 3, within its --timeout and a memory bound, never a traceback. Also:
bad -H addresses (exit 2) and `containers NAME` with an unknown name (exit 2)."""

from __future__ import annotations

import json
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from hostile.conftest import assert_no_raw_controls, run_dockwarden

Route = bytes | tuple[int, bytes] | Callable[[BaseHTTPRequestHandler], None]


def cid(n: int) -> str:
    return f"{n:064x}".replace("0", "a", 1)


def inspect_doc(n: int, name: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": cid(n), "Name": "/" + name, "State": {"Running": False},
        "Config": {"Image": "busybox", "Env": ["A=1"], "Labels": {}},
        "HostConfig": {"Privileged": True, "CapAdd": None, "PortBindings": {}},
        "NetworkSettings": {"Ports": {}, "Networks": {"bridge": {}}}, "Mounts": [],
        "ExecIDs": None,
    }
    doc.update(over)
    return doc


VERSION = {"ApiVersion": "1.43", "Version": "24.0.0", "Experimental": False}
INFO = {"ServerVersion": "24.0.0", "OSType": "linux", "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"]], "SecurityOptions": [],
        "Name": "fake", "KernelVersion": "6.1.0"}


class FakeEngine:
    """Routes are paths without the /vX.Y prefix (the query string ignored)."""

    def __init__(self, sock: str, routes: dict[str, Route], tcp: bool = False) -> None:
        self.routes = {"/_ping": b"OK", "/version": json.dumps(VERSION).encode(),
                       "/info": json.dumps(INFO).encode(),
                       "/networks/bridge": json.dumps({"Name": "bridge"}).encode(), **routes}
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path.startswith("/v1."):
                    path = "/" + path.split("/", 2)[2]
                route = engine.routes.get(path)
                try:
                    if callable(route):
                        route(self)
                        return
                    status, body = (404, b'{"message":"no such thing"}') if route is None \
                        else route if isinstance(route, tuple) else (200, route)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (what a trickle or a huge body asks for)

            def log_message(self, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True

        self.server: socketserver.BaseServer = (
            TCPServer(("127.0.0.1", 0), Handler) if tcp else Server(sock, Handler))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def engine_with(tmp_path: Path, containers: list[tuple[dict[str, Any], Route]],
                **routes: Route) -> FakeEngine:
    """A fake Engine listing `containers` (list row, inspect route) plus `routes`."""
    rows = [row for row, _ in containers]
    table: dict[str, Route] = {"/containers/json": json.dumps(rows).encode()}
    for row, route in containers:
        table[f"/containers/{row['Id']}/json"] = route
    table.update({k.replace("__", "/"): v for k, v in routes.items()})
    return FakeEngine(str(tmp_path / "engine.sock"), table)


def row(n: int, name: str, **over: Any) -> dict[str, Any]:
    return {"Id": cid(n), "Names": ["/" + name], "State": "exited", "Mounts": [], **over}


def good(n: int, name: str) -> tuple[dict[str, Any], Route]:
    return row(n, name), json.dumps(inspect_doc(n, name)).encode()


@pytest.fixture
def tmp_sock_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to ~107 bytes: pytest's tmp_path can be longer.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dwfake") as d:
        yield Path(d)


def audit(sock_dir: Path, *extra: str, command: str = "engine") -> tuple[int, dict[str, Any], str]:
    run = run_dockwarden([command, "-H", f"unix://{sock_dir / 'engine.sock'}", "--no-local",
                          "--format", "json", "--no-progress", "--timeout", "2",
                          "--fail-on", "none", *extra], timeout=90, memory_mib=1500)
    assert_no_raw_controls(run.err)
    report = json.loads(run.out) if run.out.strip() else {}
    return run.code, report, run.err


def audited(report: dict[str, Any]) -> set[str]:
    return {f["target"]["ref"] for f in report["findings"] if f["target"]["kind"] == "container"}


def error_targets(report: dict[str, Any]) -> dict[str, str]:
    return {e["target"]: e["message"] for e in report["errors"]}


# -- one bad container among good ones -------------------------------------------------------
BAD_INSPECTS: dict[str, Any] = {
    "names_not_list": None,  # the list row is bad (below)
    "execids_int": {"ExecIDs": 5},
    "execids_path": {"ExecIDs": ["../../info"]},
    "hostconfig_list": {"HostConfig": [1, 2]},
    "env_int": {"Config": {"Env": 5}},
    "labels_nested": {"Config": {"Labels": {"a": {"b": 1}}}},
    "privileged_str": {"HostConfig": {"Privileged": "yes"}},
    "portbindings_str": {"HostConfig": {"PortBindings": {"80/tcp": "x"}}},
    "memory_float_str": {"HostConfig": {"Memory": "lots"}},
}


@pytest.mark.parametrize("case", sorted(BAD_INSPECTS))
def test_wrong_types_cost_one_container(tmp_sock_dir: Path, case: str) -> None:
    if case == "names_not_list":
        bad = (row(2, "victim", Names=5), json.dumps(inspect_doc(2, "victim")).encode())
    else:
        doc = inspect_doc(2, "victim", **BAD_INSPECTS[case])
        bad = (row(2, "victim"), json.dumps(doc).encode())
    eng = engine_with(tmp_sock_dir, [good(1, "alpha"), bad, good(3, "omega")])
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert rep["complete"] is False
    assert {"alpha", "omega"} <= audited(rep)
    assert "victim" not in audited(rep)
    errors = error_targets(rep)
    target = "victim" if case != "names_not_list" else cid(2)[:12]
    assert target in errors, rep["errors"]
    assert "malformed" in errors[target]
    assert "dockwarden:" in err and len(err.strip().splitlines()) <= 5


def test_hostport_superscript_digit_is_not_a_crash(tmp_sock_dir: Path) -> None:
    doc = inspect_doc(1, "sup", HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "",
                                                                         "HostPort": "²"}]}})
    eng = engine_with(tmp_sock_dir, [(row(1, "sup"), json.dumps(doc).encode())])
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 0, err
    assert "sup" in audited(rep)


def test_top_processes_of_wrong_type(tmp_sock_dir: Path) -> None:
    doc = inspect_doc(1, "toppy", State={"Running": True})
    top = json.dumps({"Titles": ["PID", "CMD"], "Processes": [5]}).encode()
    eng = engine_with(tmp_sock_dir, [(row(1, "toppy", State="running"),
                                      json.dumps(doc).encode()), good(2, "fine")],
                      **{f"__containers__{cid(1)}__top": top})
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert {"toppy", "fine"} <= audited(rep)  # the rest of toppy is still judged
    assert "malformed" in error_targets(rep)["toppy"]


def test_exec_inspect_of_wrong_type(tmp_sock_dir: Path) -> None:
    exec_id = "e" * 64
    doc = inspect_doc(1, "execy", ExecIDs=[exec_id])
    eng = engine_with(tmp_sock_dir, [(row(1, "execy"), json.dumps(doc).encode())],
                      **{f"__exec__{exec_id}__json": b'{"ProcessConfig": {"arguments": 7}}'})
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert "execy" in audited(rep)
    assert "exec inspect" in error_targets(rep)["execy"]


def test_deep_nesting(tmp_sock_dir: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    eng = engine_with(tmp_sock_dir, [(row(1, "deep"), deep), good(2, "fine")])
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert "fine" in audited(rep)
    assert "nested too deeply" in error_targets(rep)["deep"]


def test_huge_inspect_is_an_error_for_that_container(tmp_sock_dir: Path) -> None:
    doc = inspect_doc(1, "huge")
    doc["Config"]["Env"] = [f"V{i}=" + "x" * 400 for i in range(105_000)]  # ~40 MB
    body = json.dumps(doc).encode()
    assert len(body) > 40 << 20
    containers = [(row(1, "huge"), body)] + [good(n, f"c{n}") for n in range(2, 10)]
    eng = engine_with(tmp_sock_dir, containers)
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert {f"c{n}" for n in range(2, 10)} <= audited(rep)
    assert "larger than 16 MiB" in error_targets(rep)["huge"]


def trickle(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.flush()
        for i in range(len(body)):
            handler.wfile.write(body[i:i + 1])
            handler.wfile.flush()
            time.sleep(1)

    return send


def test_trickle_is_cut_at_the_timeout(tmp_sock_dir: Path) -> None:
    body = json.dumps(inspect_doc(1, "slow")).encode()
    eng = engine_with(tmp_sock_dir, [(row(1, "slow"), trickle(body)), good(2, "fine")])
    try:
        started = time.monotonic()
        code, rep, err = audit(tmp_sock_dir)
        took = time.monotonic() - started
    finally:
        eng.close()
    assert code == 3, err
    assert "fine" in audited(rep)
    assert "no complete answer within 2 s" in error_targets(rep)["slow"]
    assert took < 60  # a hang guard (the body alone would take minutes)


def _trickled_headers(handler: BaseHTTPRequestHandler) -> None:
    """An answer whose header lines come one a second, for ten minutes."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):
        handler.wfile.write(b"X: y\r\n")
        handler.wfile.flush()
        time.sleep(1)


def test_trickled_headers_are_cut_too(tmp_sock_dir: Path) -> None:
    eng = engine_with(tmp_sock_dir, [(row(1, "slowhead"), _trickled_headers),
                                     good(2, "fine")])
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert "fine" in audited(rep)
    assert "no complete answer" in error_targets(rep)["slowhead"]


def test_bad_info_is_an_error_for_the_daemon_part(tmp_sock_dir: Path) -> None:
    eng = engine_with(tmp_sock_dir, [good(1, "fine")],
                      __info=json.dumps({**INFO, "DriverStatus": 5}).encode())
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert "fine" in audited(rep)
    assert any("DriverStatus" in e["message"] for e in rep["errors"])


@pytest.mark.parametrize("version", [b'{"ApiVersion": 5}', b'{"ApiVersion": "../x"}',
                                     b"[" * 50_000, b'"\\ud800"'])
def test_bad_version_is_a_clear_error(tmp_sock_dir: Path, version: bytes) -> None:
    eng = engine_with(tmp_sock_dir, [good(1, "fine")], __version=version)
    try:
        code, _, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert "does not answer like a Docker Engine" in err


def test_container_list_of_wrong_type(tmp_sock_dir: Path) -> None:
    eng = engine_with(tmp_sock_dir, [], **{"__containers__json": b'{"a": 1}'})
    try:
        code, rep, err = audit(tmp_sock_dir)
    finally:
        eng.close()
    assert code == 3, err
    assert any("container list" in e["message"] for e in rep["errors"])


def test_lone_surrogate_and_esc_in_names(tmp_sock_dir: Path) -> None:
    sur = b'{"Id": "%s", "Name": "/bad\\ud800name\\u001b]0;pwned\\u0007"}' % cid(1).encode()
    lst = json.dumps([row(1, "x"), row(2, "esc")]).encode().replace(
        b'"/x"', b'"/bad\\ud800name\\u001b]0;pwned\\u0007"')
    esc = json.dumps(inspect_doc(2, "esc\x1b[2J")).encode()
    eng = engine_with(tmp_sock_dir, [(row(1, "x"), sur), (row(2, "esc"), esc)],
                      **{"__containers__json": lst})
    try:
        for fmt in ("json", "text"):
            run = run_dockwarden(["engine", "-H", f"unix://{tmp_sock_dir / 'engine.sock'}",
                                  "--no-local", "--format", fmt, "--no-progress",
                                  "--timeout", "2", "--fail-on", "none"],
                                 timeout=90, memory_mib=1500)
            assert run.code == 0, run.err
            assert_no_raw_controls(run.err)
            if fmt == "json":
                report = json.loads(run.out)
                assert any("ud800" in r for r in audited(report))
    finally:
        eng.close()


def test_trickle_over_tcp_is_cut_at_the_timeout(tmp_sock_dir: Path) -> None:
    """The SDK path (tcp://): a /version whose headers trickle, then an inspect body."""
    for routes in ({"/version": _trickled_headers},
                   {"/containers/json": json.dumps([row(1, "slow")]).encode(),
                    f"/containers/{cid(1)}/json":
                        trickle(json.dumps(inspect_doc(1, "slow")).encode())}):
        eng = FakeEngine("", routes, tcp=True)  # type: ignore[arg-type]
        port = eng.server.server_address[1]  # type: ignore[attr-defined]
        try:
            run = run_dockwarden(["engine", "-H", f"tcp://127.0.0.1:{port}", "--no-local",
                                  "--format", "json", "--no-progress", "--timeout", "2"],
                                 timeout=90, memory_mib=1500)
        finally:
            eng.close()
        assert run.code == 3, run.err
        assert "no complete answer within 2 s" in run.err


# -- connection options --------------------------------------------------------------------
@pytest.mark.parametrize("host", ["tcp://127.0.0.1:99999", "tcp://[::1", "nope://x",
                                  "tcp://127.0.0.1:port"])
def test_bad_host_address_is_a_usage_error(host: str) -> None:
    run = run_dockwarden(["engine", "-H", host, "--no-progress"], timeout=60)
    assert run.code == 2, run.err
    assert "invalid Engine address" in run.err


# -- names that match nothing -------------------------------------------------------------
def test_unknown_container_name_against_a_fake_engine(tmp_sock_dir: Path) -> None:
    eng = engine_with(tmp_sock_dir, [good(1, "webserver"), good(2, "database")])
    try:
        code, _, err = audit(tmp_sock_dir, "webservr", command="containers")
        code_some, _, err_some = audit(tmp_sock_dir, "database", "nothere",
                                       command="containers")
        code_ok, rep, err_ok = audit(tmp_sock_dir, "database", command="containers")
    finally:
        eng.close()
    assert code == 2, err
    assert "no such container" in err and "webserver" in err  # the close match
    assert code_some == 2 and "nothere" in err_some
    assert code_ok == 0, err_ok
    assert audited(rep) == {"database"}


@pytest.mark.live
def test_unknown_container_name_on_the_real_engine(engine_url: str) -> None:
    name = f"dw-no-such-{uuid.uuid4().hex[:10]}"
    run = run_dockwarden(["containers", name, "--no-progress", "--format", "json"],
                         timeout=120)
    assert run.code == 2, run.err
    assert "no such container" in run.err and name in run.err
