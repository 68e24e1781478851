"""`dockwarden inside` (DW801-DW806): the probe's parsers on recorded /proc text, its judges
on built facts, a fuzz-style test that hostile /proc-like text never raises, the Engine
port probe against a fake Engine on 127.0.0.1, the CLI on a facts file, and the single
file run in containers the test makes on the real Engine (labelled, removed after)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dockwarden.inside as probe
from conftest import RUN_ID, run_cli, test_labels

PROBE_FILE = str(Path(probe.__file__).resolve())

# --------------------------------------------------------------------- recorded text

STATUS_DEFAULT = """Name:\tcat
Umask:\t0022
State:\tR (running)
Tgid:\t7
NSpid:\t28211\t7
Uid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t2
Seccomp_filters:\t1
"""

# From a container started with `-v /:/host -v /var/run/docker.sock:/var/run/docker.sock
# -v data:/data`, shortened; one mount point with an escaped space.
MOUNTINFO = r"""15277 123 0:82 / / rw,relatime master:9 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/Q:/var/lib/docker/overlay2/l/6,upperdir=/var/lib/docker/overlay2/77/diff,workdir=/var/lib/docker/overlay2/77/work
15278 15277 0:88 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
15279 15277 0:89 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
15334 15277 0:93 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
15336 15335 0:29 /docker/770d /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
2664 15277 254:0 /var/lib/docker/containers/770d94568564188aa8d4900954279055f2aae078379bf35ecbd88b4b6aed4150/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard
2665 15277 254:0 /var/lib/docker/containers/770d94568564188aa8d4900954279055f2aae078379bf35ecbd88b4b6aed4150/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard
2667 15277 254:0 /run/docker.sock /run/docker.sock rw,relatime - ext4 /dev/vda rw,discard
2668 15277 254:0 / /host rw,relatime - ext4 /dev/vda rw,discard
2669 15277 254:0 /etc /host\040etc ro,relatime - ext4 /dev/vda rw,discard
2670 15277 254:0 /var/lib/docker/volumes/data/_data /data rw,relatime - ext4 /dev/vda rw,discard
2671 15277 254:0 /srv/app /app rw,relatime - ext4 /dev/vda rw,discard
"""  # noqa: E501 (recorded text)

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
"""

DOCKER_DEFAULT_CAPS = {
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}


def test_status_and_capabilities_decoded() -> None:
    status = probe.parse_status(STATUS_DEFAULT)
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "0"
    assert status["NSpid"].split() == ["28211", "7"]
    assert set(probe.decode_caps(status["CapEff"]) or ()) == DOCKER_DEFAULT_CAPS
    assert probe.decode_caps("0000000000000000") == ()
    full = probe.decode_caps("000001ffffffffff") or ()
    assert len(full) == 41 and full[-1] == "CHECKPOINT_RESTORE"
    assert probe.decode_caps("ffffffffffffffff")[-1] == "CAP_63"  # type: ignore[index]
    assert probe.decode_caps("zz") is None and probe.decode_caps("") is None


def test_mountinfo_parsed_and_host_paths_found() -> None:
    mounts = probe.parse_mountinfo(MOUNTINFO + "garbage line\n1 2 3 - x\n")
    assert len(mounts) == 12
    spaced = next(m for m in mounts if m.mount_id == 2669)
    assert spaced.mountpoint == "/host etc" and spaced.root == "/etc"
    assert not spaced.read_write
    hosts = {h.mountpoint: h for h in probe.host_mounts(mounts)}
    # the host's / and /etc; never the Engine's own files, a named volume or /srv/app
    assert set(hosts) == {"/host", "/host etc"}
    assert hosts["/host"].host_path == "/" and hosts["/host etc"].host_path == "/etc"
    assert not hosts["/host etc"].writable


def test_default_gateway_from_route() -> None:
    assert probe.parse_route(ROUTE) == "172.17.0.1"
    assert probe.parse_route(ROUTE.splitlines()[0] + "\n" + ROUTE.splitlines()[1]) is None
    assert probe.parse_route("") is None
    hosts = "127.0.0.1 localhost\n192.168.65.254 host.docker.internal # docker\n::1 x\n"
    assert probe.parse_hosts(hosts, "host.docker.internal") == ["192.168.65.254"]


def test_engine_ping_answer_recognised() -> None:
    ok = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
    assert probe.is_engine_ping(ok) == (True, "1.41")
    assert probe.is_engine_ping(b"HTTP/1.1 404 Not Found\r\n\r\nno") == (False, "")
    assert probe.is_engine_ping(b"SSH-2.0-OpenSSH_9.2\r\n") == (False, "")


# ------------------------------------------------------------------------------ judges

HARDENED = probe.Facts(
    uid=0, caps_effective=(), caps_permitted=(), caps_bounding=(), cap_last_cap=40,
    no_new_privs=True, seccomp=2, lsm="docker-default (enforce)", pid1="python3 /inside.py",
    kthreadd=False, processes=1, host_mounts=(), sockets=(), writable=(),
    gateway="172.17.0.1", ports=(probe.PortFact("172.17.0.1", 2375, False, "closed", False),),
)


def _ids(facts: probe.Facts) -> set[str]:
    return {f["check"] for f in probe.judge(facts)["findings"]}


def test_hardened_facts_have_no_finding() -> None:
    assert probe.judge(HARDENED) == {"findings": [], "skipped": []}


def test_each_judge_fires_on_its_fact() -> None:
    from dataclasses import replace

    cases = {
        "DW801": replace(HARDENED, sockets=(probe.SocketFact("/var/run/docker.sock",
                                                             "docker", "ok", True, "1.41"),)),
        "DW802": replace(HARDENED, caps_effective=("SYS_ADMIN", "CHOWN")),
        "DW803": replace(HARDENED, kthreadd=True),
        "DW804": replace(HARDENED, ports=(probe.PortFact("172.17.0.1", 2375, False, "open",
                                                         True, "API 1.41"),)),
        "DW805": replace(HARDENED, host_mounts=(probe.HostMount("/host", "/", "ext4", True),)),
        "DW806": replace(HARDENED, seccomp=0),
    }
    for check_id, facts in cases.items():
        assert _ids(facts) == {check_id}, check_id
    # a read-only host mount, a closed port, a socket-shaped file we cannot open as root
    quiet = replace(HARDENED, host_mounts=(probe.HostMount("/host", "/", "ext4", False),))
    assert _ids(quiet) == set()
    denied = replace(HARDENED, sockets=(probe.SocketFact("/run/docker.sock", "docker",
                                                         "permission denied", False),))
    assert [f["severity"] for f in probe.judge(denied)["findings"]] == ["high"]


def test_capabilities_severity_and_setuid_route() -> None:
    from dataclasses import replace

    net_admin = probe.judge(replace(HARDENED, caps_effective=("NET_ADMIN",)))["findings"]
    assert [f["severity"] for f in net_admin] == ["high"]
    full = probe.judge(replace(HARDENED, caps_effective=probe.CAPABILITIES))["findings"]
    assert full[0]["severity"] == "critical" and "full_set" in full[0]["evidence"]
    # non-root without capabilities, but a bounding set a setuid program could gain
    setuid = replace(HARDENED, uid=1000, caps_bounding=("SYS_ADMIN",), no_new_privs=False)
    assert probe.judge(setuid)["findings"][0]["evidence"]["dangerous_via_setuid"] == \
        ["SYS_ADMIN"]
    assert _ids(replace(setuid, no_new_privs=True)) == set()


def test_unknown_fact_is_skipped_with_reason() -> None:
    from dataclasses import replace

    facts = replace(HARDENED, seccomp=None, ports=None,
                    unknown={"seccomp": "no Seccomp line", "ports": "network probe off"})
    assert probe.judge(facts)["skipped"] == [
        {"check": "DW804", "reason": "network probe off"},
        {"check": "DW806", "reason": "no Seccomp line"}]


def test_facts_round_trip_through_json() -> None:
    facts = probe.gather(network=False)
    again = probe.Facts.from_dict(json.loads(json.dumps(facts.as_dict())))
    assert again == facts


# ------------------------------------------------------------------- hostile input


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000)
       | st.lists(st.sampled_from([" ", " - ", "\\", "\\040", "\\777", "\x00", "\n", "\t",
                                   "0", "1", "-1", "ffffffff", "00000000", "0003", ":",
                                   "/", "rw", "ro", "cgroup", "/var/lib/docker", "\u202e",
                                   "HTTP/1.1 200", "\r\n\r\n", "OK", "99999999999999999"]),
                  max_size=200).map("".join))
@example("1 2 0:1 \\000 /\\012x rw - ext4 \\134 rw\n")
@example("eth0\t00000000\tFFFFFFFFF\t0003\n" * 3)
def test_hostile_proc_text_never_raises(text: str) -> None:
    probe.parse_status(text)
    for value in text.split()[:5]:
        probe.decode_caps(value)
    mounts = probe.parse_mountinfo(text)
    probe.host_mounts(mounts)
    probe.parse_route("header\n" + text)
    probe.parse_hosts(text, "host.docker.internal")
    probe.is_engine_ping(text.encode("utf-8", "surrogatepass"))
    probe.render_text(HARDENED, {"findings": [{"check": "DW805", "severity": "critical",
                                              "title": "t", "message": text,
                                              "evidence": {text[:20]: [text]}}],
                                 "skipped": []})


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=20)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from([f.name for f in probe.dataclasses.fields(probe.Facts)]
                                      + ["other"]), _json, max_size=8) | _json)
def test_hostile_facts_json_is_facts_or_value_error(data: Any) -> None:
    try:
        facts = probe.Facts.from_dict(data)
    except ValueError:
        return
    probe.judge(facts)


def test_cli_facts_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"facts": HARDENED.as_dict()}))
    code, out, err = run_cli(["inside", "--facts", str(path), "--format", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["findings"] == [] and report["targets"][0]["kind"] == "self"
    bad = replace(HARDENED, seccomp=0, kthreadd=True)
    path.write_text(json.dumps(bad.as_dict()))
    code, out, _ = run_cli(["inside", "--facts", str(path), "--format", "json"], capsys)
    found = json.loads(out)["findings"]
    assert code == 1 and {f["check"] for f in found} == {"DW803", "DW806"}
    assert {f["source"] for f in found} == {"inside"}
    path.write_text('{"facts": {"seccomp": "zero"}}')
    code, _, err = run_cli(["inside", "--facts", str(path)], capsys)
    assert code == 2 and "seccomp" in err and err.count("\n") <= 2


def test_cli_runs_the_probe_here(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["inside", "--no-network", "--format", "json"], capsys)
    report = json.loads(out)
    assert code in (0, 1), err
    assert report["targets"][0]["kind"] == "self"
    assert {"check": "DW804"} .items() <= report["skipped"][0].items()


# --------------------------------------------------------- the Engine port probe


@contextlib.contextmanager
def _fake_engine() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"OK" if self.path == "/_ping" else b"{}"
            self.send_response(200)
            self.send_header("Api-Version", "1.45")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_port_probe_finds_an_engine_and_a_closed_port() -> None:
    with _fake_engine() as port:
        fact = probe.probe_port("127.0.0.1", port, False, 2.0)
    assert fact.state == "open" and fact.engine and fact.detail == "API 1.45"
    facts = probe.Facts(ports=(fact,), gateway="127.0.0.1")
    finding = probe.judge(facts)["findings"]
    assert [f["check"] for f in finding if f["check"] == "DW804"] == ["DW804"]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert probe.probe_port("127.0.0.1", free, False, 1.0).state == "closed"


def test_tls_port_that_speaks_plain_http_is_not_an_engine() -> None:
    with _fake_engine() as port:
        fact = probe.probe_port("127.0.0.1", port, True, 2.0)
    assert fact.state == "open" and not fact.engine


# ---------------------------------------------------------------- live containers



@pytest.fixture(scope="module")
def python_image(api: Any) -> str:
    """The harness's Debian image with python3 added (built once, kept by tag)."""
    from harness.debian import python3_image

    image = python3_image(api)
    if image is None:
        pytest.skip("could not build the Debian image with python3 (apt needs the Debian mirror)")
    return image


def _inside(api: Any, image: str, case: str, **host: Any) -> dict[str, Any]:
    """Run the single-file probe in a new labelled container; its JSON output."""
    binds = {PROBE_FILE: {"bind": "/inside.py", "mode": "ro"}, **host.pop("binds", {})}
    cid = api.create_container(
        image, command=["python3", "/inside.py", "--format", "json", "--timeout", "1"],
        name=f"dw-inside-{RUN_ID}-{case}", labels=test_labels(case=case),
        host_config=api.create_host_config(binds=binds, **host))["Id"]
    try:
        api.start(cid)
        code = api.wait(cid, timeout=120)["StatusCode"]
        out = api.logs(cid, stdout=True, stderr=False).decode()
        err = api.logs(cid, stdout=False, stderr=True).decode()
        assert code in (0, 1), err
        result: dict[str, Any] = json.loads(out)
        result["exit"] = code
        return result
    finally:
        api.remove_container(cid, force=True)


def _found(result: dict[str, Any]) -> set[str]:
    return {f["check"] for f in result["findings"]}


CASES = {
    "sys-admin": ({"cap_add": ["SYS_ADMIN"]}, {"DW802"}),
    "socket": ({"binds": {"/var/run/docker.sock": {"bind": "/var/run/docker.sock",
                                                  "mode": "rw"}}}, {"DW801"}),
    "pid-host": ({"pid_mode": "host"}, {"DW803"}),
    "seccomp": ({"security_opt": ["seccomp=unconfined"]}, {"DW806"}),
    "host-root": ({"binds": {"/": {"bind": "/host", "mode": "rw"}}}, {"DW805"}),
}


@pytest.mark.live
@pytest.mark.parametrize("case", sorted(CASES))
def test_inside_a_container(api: Any, python_image: str, case: str) -> None:
    host, expected = CASES[case]
    result = _inside(api, python_image, case, **dict(host))
    assert _found(result) == expected, result["findings"]
    assert result["exit"] == 1


@pytest.mark.live
def test_hardened_container_has_no_finding(api: Any, python_image: str) -> None:
    result = _inside(api, python_image, "hardened", cap_drop=["ALL"], read_only=True,
                     security_opt=["no-new-privileges"])
    assert result["findings"] == [] and result["exit"] == 0
    facts = result["facts"]
    assert facts["caps_effective"] == [] and facts["no_new_privs"] is True
    assert facts["seccomp"] == 2 and facts["ports"] is not None  # the gateway was asked


@pytest.mark.live
def test_container_facts_judged_by_the_cli(api: Any, python_image: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The single file's JSON, judged by `dockwarden inside --facts`: the same ids."""
    result = _inside(api, python_image, "facts", cap_add=["SYS_ADMIN"], pid_mode="host")
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(result))
    code, out, _ = run_cli(["inside", "--facts", str(path), "--format", "json"], capsys)
    assert code == 1
    assert {f["check"] for f in json.loads(out)["findings"]} == _found(result) \
        == {"DW802", "DW803"}


@pytest.mark.live
def test_privileged_container(api: Any, python_image: str) -> None:
    import docker

    try:
        result = _inside(api, python_image, "privileged", privileged=True)
    except docker.errors.APIError as exc:
        pytest.skip(f"this machine cannot start a privileged container: "
                    f"{exc.explanation or exc}")
    assert {"DW802", "DW805", "DW806"} <= _found(result)
