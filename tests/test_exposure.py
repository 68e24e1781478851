"""`dockwarden exposure` (DW701-DW703) against real services on 127.0.0.1 only.

Three extra dockerds listen on 127.0.0.1 TCP: plain (DW701), TLS without client
verification (DW702), and --tlsverify (no finding: the server refuses a client without a
certificate). They are started once for the module. Debian's docker-registry,
open (DW703) and with htpasswd auth (no finding), on 127.0.0.1. A closed port, a port
whose listener never answers, and a "filtered" one (a listening socket whose backlog is
full, so that new connections are never completed) end as non-findings within the bound.
Nothing but 127.0.0.1 is ever probed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import findings, run_cli, run_json
from dockwarden.collect.exposure import (
    DEFAULT_PORTS,
    MAX_ADDRESSES,
    parse_ports,
    parse_target,
    plan,
)
from dockwarden.errors import UsageError
from harness import ExtraDaemon, free_port, make_tls
from harness.registry import Registry, RegistryUnavailable, push

TIMEOUT = "2"


def scan(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    return run_json(["exposure", *args, "--timeout", TIMEOUT, "--no-config"], capsys)


# --- unit: targets, ports, the cap ----------------------------------------------------


def test_ports_syntax() -> None:
    assert parse_ports("1-3,8080,2") == (1, 2, 3, 8080)
    for bad in ("0", "70000", "5-1", "x", "1-", ",,"):
        with pytest.raises(UsageError):
            parse_ports(bad)


@pytest.mark.parametrize(("text", "want"), [
    ("127.0.0.1", ("127.0.0.1", None, None)),
    ("127.0.0.1:2375", ("127.0.0.1", None, 2375)),
    ("tcp://127.0.0.1:2376", ("127.0.0.1", None, 2376)),
    ("[::1]:5000", ("::1", None, 5000)),
    ("::1", ("::1", None, None)),
    ("LocalHost:80", (None, "localhost", 80)),
])
def test_target_forms(text: str, want: tuple[Any, ...]) -> None:
    t = parse_target(text)
    assert (t.address, t.name, t.port) == want


@pytest.mark.parametrize("bad", ["127.0.0.1:0", "127.0.0.1:x", "host:99999", "a b",
                                 "bad\x1b[31mname", "[::1", "10.0.0.0/33", ""])
def test_bad_targets_exit_2(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["exposure", bad, "--no-config"], capsys)
    assert code == 2 and not out
    assert err.startswith("dockwarden: error: ") and "\x1b" not in err
    assert "Traceback" not in err


def test_cidr_wider_than_the_cap_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["exposure", "127.0.0.0/19", "--no-config"], capsys)
    assert code == 2 and not out
    assert "8,192 addresses" in err and "at most 4,096" in err
    assert "one's own hosts" in err


def test_cidr_of_4096_addresses_is_planned_not_probed() -> None:
    """A /20 is the cap itself (4,096 addresses): planned, never probed here."""
    planned = asyncio.run(plan([parse_target("127.0.0.0/20")], (2375,), 1.0))
    assert len(planned.addresses) == 4094  # network and broadcast left out
    assert planned.probes == 4094
    with pytest.raises(UsageError, match=f"more than {MAX_ADDRESSES:,}"):
        asyncio.run(plan([parse_target("127.0.0.0/20"), parse_target("127.1.0.0/20")],
                         (2375,), 1.0))


def test_host_port_probes_that_port_only() -> None:
    planned = asyncio.run(plan([parse_target("127.0.0.1:2375"), parse_target("localhost")],
                               DEFAULT_PORTS, 2.0))
    by_address = {a.address: a for a in planned.addresses}
    assert by_address["127.0.0.1"].ports >= {2375}
    assert by_address["127.0.0.1"].ports <= {2375, *DEFAULT_PORTS}
    one = asyncio.run(plan([parse_target("127.0.0.1:2375")], DEFAULT_PORTS, 2.0))
    assert [sorted(a.ports) for a in one.addresses] == [[2375]]


def test_no_port_left_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["exposure", "127.0.0.1", "--no-default-ports", "--no-config"],
                           capsys)
    assert code == 2 and "no port to probe" in err


def test_unresolvable_name_is_incomplete(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = scan("no-such-host.invalid", "--ports", "1", capsys=capsys)
    assert code == 3 and report["complete"] is False
    assert report["errors"][0]["target"] == "no-such-host.invalid"


# --- closed, silent and filtered ports ------------------------------------------------


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """Accepts connections (the kernel completes them) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A listener with a full backlog: new SYNs are dropped, connects never complete."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        port = s.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    c.connect(("127.0.0.1", port))
                fillers.append(c)
            yield port
        finally:
            for c in fillers:
                c.close()


def test_closed_silent_and_filtered_ports_are_not_findings(
        silent_listener: int, filtered_port: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    closed = free_port()
    code, report = scan("127.0.0.1", "--no-default-ports", "--ports",
                        f"{closed},{silent_listener},{filtered_port}", capsys=capsys)
    assert code == 0 and report["complete"] is True
    assert report["findings"] == [] and report["errors"] == []
    refs = {t["ref"] for t in report["targets"]}
    assert f"127.0.0.1:{silent_listener}" in refs  # open, nothing identified
    assert f"127.0.0.1:{closed}" not in refs and f"127.0.0.1:{filtered_port}" not in refs


def test_filtered_port_counts_as_filtered(filtered_port: int) -> None:
    from dockwarden.collect.exposure import collect
    from dockwarden.model.exposure import PortState

    snap = collect(["127.0.0.1"], (filtered_port,), timeout=1.0, concurrency=4)
    assert snap.addresses[0].states == {PortState.FILTERED: 1}
    assert snap.filtered == (f"127.0.0.1:{filtered_port}",)
    assert snap.endpoints == ()


# --- real Engines ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory,
            engine_url: str) -> Iterator[dict[str, ExtraDaemon]]:
    """plain TCP, TLS without client verification, --tlsverify."""
    base: Path = tmp_path_factory.mktemp("dw-exposure-tls")
    certs = make_tls(base, server_days=30)
    made = {
        "plain": ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"]),
        "tls": ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"],
                           tls={"cert": certs["cert"], "key": certs["key"]},
                           tlsverify=False),
        "verify": ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"],
                              tls={"cert": certs["cert"], "key": certs["key"],
                                   "ca": certs["ca"]}, tlsverify=True),
    }
    try:
        # one after the other, in this thread: the harness ties each dockerd's life to
        # the thread that started it (PR_SET_PDEATHSIG), so a pool's threads would end them
        for d in made.values():
            d.start()
        yield made
    finally:
        for d in made.values():
            d.stop()


def _port(d: ExtraDaemon) -> int:
    return int(d.tcp_hosts[0].rsplit(":", 1)[1])




@pytest.fixture(scope="module")
def engines_report(daemons: dict[str, ExtraDaemon]) -> dict[str, Any]:
    import io
    import json
    import sys

    from dockwarden import cli

    ports = ",".join(str(_port(d)) for d in daemons.values())
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        code = cli.main(["exposure", "127.0.0.1", "--ports", ports, "--timeout", TIMEOUT,
                         "--format", "json", "--no-progress", "--no-config"])
    finally:
        sys.stdout = saved
    report: dict[str, Any] = json.loads(out.getvalue())
    report["_exit"] = code
    return report


@pytest.mark.live
@pytest.mark.slow
def test_dw701_plain_tcp_engine(daemons: dict[str, ExtraDaemon],
                                engines_report: dict[str, Any]) -> None:
    ref = f"127.0.0.1:{_port(daemons['plain'])}"
    [f] = findings(engines_report, ref=ref)
    assert f["check"] == "DW701" and f["severity"] == "critical"
    assert f["target"] == {"kind": "endpoint", "ref": ref} and f["source"] == "network"
    version = daemons["plain"].client().version()
    assert f["evidence"]["url"] == f"http://{ref}"
    assert f["evidence"]["version"] == version["Version"]
    assert f["evidence"]["api_version"] == version["ApiVersion"]
    assert engines_report["_exit"] == 1


@pytest.mark.live
@pytest.mark.slow
def test_dw702_tls_without_client_verification(daemons: dict[str, ExtraDaemon],
                                               engines_report: dict[str, Any]) -> None:
    ref = f"127.0.0.1:{_port(daemons['tls'])}"
    [f] = findings(engines_report, ref=ref)
    assert f["check"] == "DW702" and f["severity"] == "critical"
    assert f["evidence"]["url"] == f"https://{ref}"
    assert "client_certificate" in f["evidence"]


@pytest.mark.live
@pytest.mark.slow
def test_tlsverify_engine_is_no_finding(daemons: dict[str, ExtraDaemon],
                                        engines_report: dict[str, Any]) -> None:
    ref = f"127.0.0.1:{_port(daemons['verify'])}"
    assert findings(engines_report, ref=ref) == []
    assert {"kind": "endpoint", "ref": ref, "complete": True} in engines_report["targets"]


@pytest.mark.live
@pytest.mark.slow
def test_tlsverify_engine_identified_as_requiring_a_certificate(
        daemons: dict[str, ExtraDaemon]) -> None:
    from dockwarden.collect.exposure import collect
    from dockwarden.model.exposure import Service

    port = _port(daemons["verify"])
    snap = collect([f"127.0.0.1:{port}"], (), timeout=float(TIMEOUT), concurrency=4)
    [ep] = snap.endpoints
    assert ep.service is Service.TLS_CLIENT_AUTH and ep.tls
    assert ep.client_cert_required is True and ep.tls_refusal


@pytest.mark.live
@pytest.mark.slow
def test_host_port_target_and_the_text_report(daemons: dict[str, ExtraDaemon],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ref = f"127.0.0.1:{_port(daemons['plain'])}"
    code, out, _ = run_cli(["exposure", ref, "--timeout", TIMEOUT, "--no-progress",
                            "--no-config"], capsys)
    assert code == 1
    assert "DW701 Engine API answers without authentication at HOST:PORT" in out
    assert ref in out


# --- real registries ------------------------------------------------------------------


@pytest.fixture(scope="module")
def registries(api: Any, busybox: str) -> Iterator[tuple[Registry, Registry]]:
    try:
        with Registry() as open_reg, Registry(auth=True) as closed_reg:
            push(api, open_reg, busybox, "dwtest/exposure", "v1")
            yield open_reg, closed_reg
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.live
def test_dw703_open_registry_and_the_authenticated_one_passes(
        registries: tuple[Registry, Registry], capsys: pytest.CaptureFixture[str]) -> None:
    open_reg, closed_reg = registries
    code, report = scan("127.0.0.1", "--no-default-ports", "--ports",
                        f"{open_reg.port},{closed_reg.port}", capsys=capsys)
    assert code == 1
    [f] = findings(report, ref=open_reg.url)
    assert f["check"] == "DW703" and f["severity"] == "high"
    ev = f["evidence"]
    assert ev["url"] == f"http://{open_reg.url}/v2/"
    assert ev["catalog"] == "listable: 1 repositories (dwtest/exposure)"
    assert ev["pull"] == "tags of dwtest/exposure readable"
    assert findings(report, ref=closed_reg.url) == []
    # DW701-DW703 passed on the authenticated registry, DW701 and DW702 on the open one
    assert report["summary"]["passed"] == 5


@pytest.mark.live
def test_authenticated_registry_noted(registries: tuple[Registry, Registry]) -> None:
    from dockwarden.collect.exposure import collect
    from dockwarden.model.exposure import Service

    _, closed_reg = registries
    snap = collect([closed_reg.url], (), timeout=float(TIMEOUT), concurrency=4)
    [ep] = snap.endpoints
    assert ep.service is Service.REGISTRY and ep.registry is not None
    assert ep.registry.status == 401
    assert ep.registry.challenge.startswith('Basic realm="dockwarden-test"')


# --- hostile servers ------------------------------------------------------------------


def test_hostile_engine_text_is_shown_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """A fake Engine whose /version holds escape sequences, bidi controls and a long
    string: DW701 fires with the text escaped and cut short, in every format."""
    from harness.registry import FakeRegistry
    from hostile.conftest import assert_no_raw_controls

    evil = "\x1b[31mred\x07\u202eevil\x9b" + "x" * 500
    version = json.dumps({"Version": evil, "ApiVersion": "1.41\x1b]0;title\x07",
                          "Os": "linux"}).encode()
    with FakeRegistry() as fake:
        fake.serve("/_ping", 200, b"OK", {"Api-Version": "1.41",
                                              "Server": "Docker/\x1b[2J\x9b"})
        fake.serve("/version", 200, version, {"Content-Type": "application/json"})
        for fmt in ("text", "json", "markdown", "sarif"):
            code, out, err = run_cli(["exposure", fake.url, "--timeout", TIMEOUT,
                                      "--format", fmt, "--details", "--no-progress",
                                      "--no-config"], capsys)
            assert code == 1, err
            assert "DW701" in out
            assert_no_raw_controls(out)
            assert_no_raw_controls(err)
        code, report = scan(fake.url, capsys=capsys)
    [f] = report["findings"]
    assert f["check"] == "DW701"
    assert f["evidence"]["version"].startswith("\\x1b[31mred\\x07")
    assert len(f["evidence"]["version"]) <= 40


@pytest.fixture
def drip() -> Iterator[int]:
    """Accepts, then sends a byte every 0.2 s and never ends its answer."""
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)

    def serve() -> None:
        conns: list[socket.socket] = []
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conns.append(server.accept()[0])
            for c in conns:
                with contextlib.suppress(OSError):
                    c.send(b"H")
        for c in conns:
            c.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_slow_drip_and_endless_answers_end_within_the_timeout(drip: int) -> None:
    from dockwarden.collect.exposure import collect
    from dockwarden.model.exposure import PortState, Service

    snap = collect([f"127.0.0.1:{drip}"], (), timeout=1.0, concurrency=4)
    [ep] = snap.endpoints
    assert ep.service is Service.UNKNOWN
    assert snap.addresses[0].states == {PortState.OPEN: 1}
