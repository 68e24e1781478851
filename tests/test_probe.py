"""`dockwarden probe`: the canaries' measurements on the real Engine (limits absent under
the defaults, holding under --run-flags, the Engine API reached from a canary on an Engine
that listens on its bridge gateway), the flags it refuses, and that no canary outlives a
probe, also one interrupted with SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import findings, run_cli, run_json, test_labels
from dockwarden.collect import probe as cprobe
from dockwarden.errors import UsageError
from dockwarden.model.common import Unknown
from dockwarden.model.probe import Reach

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


# --- units: flags, parsers --------------------------------------------------------------------

def test_run_flags_map_to_create_options() -> None:
    o = cprobe.canary_options("--pids-limit 64 -m 64m --cpus 0.5 --log-opt max-size=1m "
                              "--read-only --user 1000 --cap-drop ALL --storage-opt size=1G "
                              "--tmpfs /run:size=1m --ulimit nproc=100:200 -e A=1 --rm -it")
    h = o.host_config
    assert h["pids_limit"] == 64 and h["mem_limit"] == 64 << 20
    assert h["nano_cpus"] == 500_000_000 and h["read_only"] is True
    assert h["log_config"]["Config"] == {"max-size": "1m"} and h["cap_drop"] == ["ALL"]
    assert h["tmpfs"] == {"/run": "size=1m"} and h["ulimits"][0]["Hard"] == 200
    assert o.user == "1000" and o.environment == ("A=1",) and o.storage_size == "1G"
    assert cprobe.canary_options("").host_config == {}


@pytest.mark.parametrize(("flags", "says"), [
    ("-v /:/host", "--volume is not supported"),
    ("--mount type=bind,src=/,dst=/h", "--mount is not supported"),
    ("-p 80:80", "--publish is not supported"),
    ("--name x", "--name is not supported"),
    ("--pids-limit 64 busybox", "flags only"),
    ("--pids-limit 64; rm -rf /", "no image given"),
    ("--no-such-flag", "unknown docker run flag"),
    ("--memory lots", "invalid size"),
])
def test_unsupported_or_bad_run_flags_are_usage_errors(flags: str, says: str) -> None:
    with pytest.raises(UsageError) as exc:
        cprobe.canary_options(flags)
    assert says in exc.value.message and exc.value.exit_code == 2


def test_unsupported_flag_exits_2_before_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["probe", "--run-flags", "-v /:/host", "-H",
                              "unix:///nonexistent/docker.sock"], capsys)
    assert code == 2 and not out
    assert "--volume is not supported by probe" in err and "Traceback" not in err


@pytest.mark.parametrize("cap", ["0", "4097", "x"])
def test_fork_cap_is_bounded(cap: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(["probe", "--fork-cap", cap], capsys)
    assert exc.value.code == 2


def test_parse_limits_v1_and_v2() -> None:
    v1 = cprobe.parse_limits("/sys/fs/cgroup/pids/pids.max=max\n"
                             "/sys/fs/cgroup/memory/memory.limit_in_bytes=9223372036854771712\n"
                             "/sys/fs/cgroup/cpu/cpu.cfs_quota_us=-1\n"
                             "/sys/fs/cgroup/cpu/cpu.shares=1024\n")
    assert not isinstance(v1, Unknown)
    assert (v1.cgroup_version, v1.pids_max, v1.memory_max, v1.cpu_quota) == (1, None, None, None)
    assert v1.cpu_weight_default
    v2 = cprobe.parse_limits("/sys/fs/cgroup/pids.max=64\n/sys/fs/cgroup/memory.max=67108864\n"
                             "/sys/fs/cgroup/cpu.max=50000 100000\n/sys/fs/cgroup/cpu.weight=100\n")
    assert not isinstance(v2, Unknown)
    assert (v2.cgroup_version, v2.pids_max, v2.memory_max) == (2, 64, 64 << 20)
    assert (v2.cpu_quota, v2.cpu_period) == (50000, 100000)
    assert isinstance(cprobe.parse_limits("garbage\n"), Unknown)


def test_parse_fork_network_and_addresses() -> None:
    done = cprobe.parse_fork("." * 128 + "\nstarted=128\n", "", 128, 0)
    assert not done.stopped and done.started == 128
    cut = cprobe.parse_fork("." * 61, "sh: can't fork: Resource temporarily unavailable\n", 128, 2)
    assert cut.stopped and cut.started == 61 and "can't fork" in cut.error
    found, notool = cprobe.parse_network(
        "@@ 172.17.0.1 2375 engine HTTP/1.0 200 OK\n@@ 172.17.0.1 2376 refused nc: ...\n"
        "@@ 10.0.0.1 2375 silent \n@@ 10.0.0.2 2375 \x1b[31mbogus\n")
    assert found[("172.17.0.1", 2375)].reach is Reach.ENGINE
    assert found[("172.17.0.1", 2376)].reach is Reach.REFUSED
    assert found[("10.0.0.1", 2375)].reach is Reach.SILENT and not notool
    assert ("10.0.0.2", 2375) not in found
    trie = ("Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n        /32 host LOCAL\n"
            "     |-- 172.17.0.1\n        /32 host LOCAL\n     |-- 172.17.255.255\n"
            "        /32 link BROADCAST\n")
    assert cprobe.local_addresses(trie) == ["172.17.0.1"]
    assert cprobe.parse_size("64m") == 64 << 20 and cprobe.parse_size("1.5g") == 3 << 29


# --- live on the Engine --------------------------------------------------------------------------

def _case() -> tuple[str, list[str]]:
    """A label unique to one test, and the --label options that put it (and the test
    session's labels) on every canary."""
    case = uuid.uuid4().hex[:12]
    labels = {**test_labels(), "dwtest.probe-case": case}
    return case, [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]


def _left(api: Any, case: str) -> list[str]:
    return [c["Id"] for c in api.containers(all=True, filters={
        "label": f"dwtest.probe-case={case}"})]


@pytest.fixture
def case(api: Any) -> Iterator[tuple[str, list[str]]]:
    made = _case()
    yield made
    left = _left(api, made[0])
    for cid in left:  # never leave them, even when the assertion below fails
        api.remove_container(cid, force=True)
    assert not left, f"canaries left behind: {left}"


def _one(report: dict[str, Any], check: str) -> dict[str, Any]:
    found = findings(report, check)
    assert len(found) == 1, (check, report["findings"], report.get("errors"))
    assert found[0]["source"] == "probe"
    return found[0]


@pytest.mark.live
def test_defaults_have_no_pids_limit_and_the_fork_test_reaches_its_cap(
        busybox: str, case: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(["probe", "--image", busybox, "--fork-cap", "128", *case[1]],
                            capsys)
    assert code == 1 and report["complete"], report.get("errors")
    pids = _one(report, "DW214")
    assert pids["severity"] == "high" and pids["evidence"]["probe"] == "verified"
    assert pids["evidence"]["pids_max"] == "max"
    assert pids["evidence"]["processes_started"] == 128 == pids["evidence"]["fork_cap"]
    assert pids["target"]["ref"] == "canary: Engine defaults"
    memory = _one(report, "DW215")
    assert memory["evidence"]["probe"] == "verified" and memory["evidence"]["memory_limit"] == "max"
    assert _one(report, "DW216")["evidence"]["probe"] == "verified"
    # the test Engine keeps json-file logs without max-size, and overlay2 has no quota here
    assert _one(report, "DW218")["evidence"]["probe"] == "verified"
    write = _one(report, "DW217")
    assert write["evidence"]["probe"] == "verified"
    assert write["evidence"]["bytes_written"] == 64 << 20
    # icc is on (the Engine's default): canary A reached canary B
    assert _one(report, "DW104")["evidence"]["probe"] == "verified"


@pytest.mark.live
def test_run_flags_limits_hold_and_stop_the_fork_test_near_the_limit(
        busybox: str, case: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    _code, report = run_json(["probe", "--image", busybox, "--fork-cap", "256", "--run-flags",
                             "--pids-limit 64 --memory 64m", *case[1]], capsys)
    assert report["complete"], report.get("errors")
    pids = _one(report, "DW214")
    assert pids["severity"] == "info" and pids["evidence"]["probe"] == "disproved"
    assert pids["evidence"]["pids_max"] == "64"
    # the canary's sleep and the test's shell hold two of the 64
    assert 48 <= pids["evidence"]["processes_started"] < 64
    assert "fork" in pids["evidence"]["fork_error"]
    assert pids["target"]["ref"] == "canary: docker run --pids-limit 64 --memory 64m"
    memory = _one(report, "DW215")
    assert memory["severity"] == "info" and memory["evidence"]["memory_limit"] == 64 << 20
    assert _one(report, "DW216")["evidence"]["probe"] == "verified"  # no CPU flag given


@pytest.mark.live
def test_missing_image_is_a_usage_error(case: tuple[str, list[str]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["probe", "--image", f"dwtest/absent-{case[0]}:1", *case[1]],
                             capsys)
    assert code == 2 and "is not on the Engine" in err and "docker pull" in err


@pytest.mark.live
def test_stale_canaries_are_swept_and_live_ones_kept(
        api: Any, busybox: str, case: tuple[str, list[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """A canary whose expiry has passed (its probe died) is removed by the next probe; one
    of a probe still running (expiry ahead) is not."""
    base = {**test_labels(), "dwtest.probe-case": case[0], cprobe.LABEL: "1",
            cprobe.RUN_LABEL: "dead"}
    stale = api.create_container(busybox, ["true"], labels={
        **base, cprobe.EXPIRES_LABEL: str(int(time.time()) - 10)})["Id"]
    alive = api.create_container(busybox, ["true"], labels={
        **base, cprobe.RUN_LABEL: "alive", cprobe.EXPIRES_LABEL: str(int(time.time()) + 600)})["Id"]
    try:
        run_json(["probe", "--image", busybox, "--fork-cap", "8", "--check", "DW214",
                  *case[1]], capsys)
        left = _left(api, case[0])
        assert stale not in left and alive in left
    finally:
        api.remove_container(alive, force=True)


def _probe_process(args: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.Popen([sys.executable, "-m", "dockwarden", "probe", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_probe_leaves_no_canary(api: Any, busybox: str, sig: signal.Signals,
                                            case: tuple[str, list[str]]) -> None:
    proc = _probe_process(["--image", busybox, "--fork-cap", "4096", "--timeout", "120",
                           "--format", "json", *case[1]])
    try:
        for _ in range(600):  # up to 60 s for the first canary
            if _left(api, case[0]) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert _left(api, case[0]), "no canary appeared"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    assert "interrupted" in err and "Traceback" not in err
    assert not _left(api, case[0])


# --- an Engine listening on its bridge gateway (DW103 verified from the canary) ------------------

@pytest.mark.live
@pytest.mark.slow
def test_engine_on_the_bridge_gateway_is_reached_from_the_canary(
        case: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from harness import ExtraDaemon, busybox_image, daemons, free_port

    # The daemon's bridge (and so its gateway, 10.199.N.1) is chosen when it starts: its
    # TCP listener on that gateway is added as the bridge is made (the harness allows
    # only 127.0.0.1 listeners when it is built; this one is on its own private bridge).
    d = ExtraDaemon({"iptables": False}, hosts=[f"tcp://127.0.0.1:{free_port()}"])
    make_bridge = daemons._create_bridge

    def bridge_with_listener() -> tuple[str, int]:
        name, n = make_bridge()
        d.extra_hosts.append(f"tcp://10.199.{n}.1:2375")
        return name, n

    monkeypatch.setattr(daemons, "_create_bridge", bridge_with_listener)
    with d:
        monkeypatch.setattr(daemons, "_create_bridge", make_bridge)
        gateway = d.subnet.replace(".0/24", ".1")
        # an Engine without any image: probe says how to get one
        code, _out, err = run_cli(["probe", "-H", d.url, *case[1]], capsys)
        assert code == 2 and "no local image with /bin/sh" in err and "docker import" in err
        client = d.client()
        try:
            image = busybox_image(client)
        finally:
            client.close()
        code, report = run_json(["probe", "-H", d.url, "--image", image, "--fork-cap", "16",
                                 *case[1]], capsys)
        api_finding = _one(report, "DW103")
        assert api_finding["evidence"]["probe"] == "verified", api_finding
        assert api_finding["severity"] == "critical"
        assert any(r.startswith(f"{gateway}:2375 engine")
                   for r in api_finding["evidence"]["reached"]), api_finding
        assert f"{gateway}:2375" in api_finding["message"]
        client = d.client()
        try:
            assert not client.containers(all=True, filters={
                "label": f"dwtest.probe-case={case[0]}"})
        finally:
            client.close()
