"""DW2xx checks on recorded inspect data of a real Engine (fast), plus table tests of the
edge cases each check must get right."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockwarden.checks import REGISTRY, Scope, Selection, run
from dockwarden.checks.registry import checks_for
from dockwarden.collect.inspect import spec_from_inspect
from dockwarden.model.common import Severity, Source, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec, Mount, PortBinding
from dockwarden.model.finding import Target
from dockwarden.secrets import redact

RECORDED = json.loads((Path(__file__).parent / "data/inspect/containers.json").read_text())
CTX = ContainerContext(host_apparmor=False, host_selinux=False,
                       daemon_no_new_privileges=False, daemon_log_driver="json-file",
                       daemon_log_options={})


def fails(check_id: str, spec: ContainerSpec, ctx: ContainerContext = CTX) -> list[Any]:
    return list(REGISTRY[check_id].func(spec, ctx))


@pytest.mark.parametrize("case", [r for r in RECORDED if r["check"]],
                         ids=lambda r: f"{r['check']}-{r['inspect']['Name']}")
def test_recorded_bad_container_fires(case: dict[str, Any]) -> None:
    spec = spec_from_inspect(case["inspect"])
    got = fails(case["check"], spec)
    assert got, f"{case['check']} silent on {spec.name}"
    assert (got[0].severity or REGISTRY[case["check"]].meta.severity) == Severity(
        case["severity"])


def test_recorded_hardened_container_is_silent() -> None:
    case = next(r for r in RECORDED if r["check"] is None)
    spec = spec_from_inspect(case["inspect"], processes=[])
    res = run(checks_for(Scope.CONTAINER, Selection()), (spec, CTX), spec.target,
              Source.ENGINE)
    assert [f.check for f in res.findings] == []
    assert {s.check for s in res.skipped} <= {"DW225"}  # not running: no processes
    assert not res.errors


def spec(**kw: Any) -> ContainerSpec:
    return ContainerSpec(name="c", target=Target(kind="container", ref="c"),  # type: ignore[arg-type]
                         source=kw.pop("source", Source.ENGINE), **kw)


def bind(src: str, dst: str = "/x", ro: bool = False, **kw: Any) -> Mount:
    return Mount("bind", src, dst, ro, **kw)


@pytest.mark.parametrize("mount,check,severity", [
    (bind("/"), "DW207", Severity.CRITICAL),
    (bind("/", ro=True), "DW207", Severity.CRITICAL),
    (bind("/etc"), "DW207", Severity.CRITICAL),
    (bind("/etc/", ro=True), "DW207", Severity.HIGH),
    (bind("/etc/shadow", ro=True), "DW207", Severity.HIGH),
    (bind("/var/lib/docker/volumes"), "DW207", Severity.CRITICAL),
    (bind("/proc/sys"), "DW207", Severity.CRITICAL),
    (bind("/var/run/docker.sock", ro=True), "DW208", Severity.CRITICAL),
    (bind("/run/docker.sock"), "DW208", Severity.CRITICAL),
    (bind("/var/run"), "DW208", Severity.CRITICAL),
    (bind("/var"), "DW208", Severity.CRITICAL),
    (bind("/srv/../var/run/docker.sock"), "DW208", Severity.CRITICAL),
])
def test_sensitive_mounts(mount: Mount, check: str, severity: Severity) -> None:
    got = fails(check, spec(mounts=(mount,)))
    assert got and (got[0].severity or REGISTRY[check].meta.severity) == severity


@pytest.mark.parametrize("mount", [
    bind("/opt/data"), bind("/etc/localtime", ro=True), bind("/srv/etc"),
    Mount("volume", "etc", "/etc", False), bind("/home2/x"),
])
def test_harmless_mounts(mount: Mount) -> None:
    assert not fails("DW207", spec(mounts=(mount,)))
    assert not fails("DW208", spec(mounts=(mount,)))


def test_custom_socket_path_counts_as_docker_socket() -> None:
    ctx = replace(CTX, docker_socket="/srv/engine/docker.sock")
    assert fails("DW208", spec(mounts=(bind("/srv/engine"),)), ctx)


@pytest.mark.parametrize("caps,drop,fires", [
    (("cap_sys_admin",), (), True), (("CAP_SYS_PTRACE",), (), True), (("ALL",), (), True),
    (("NET_BIND_SERVICE",), (), False), (("NET_RAW",), (), False),
    (("SYS_ADMIN",), ("SYS_ADMIN",), False),
])
def test_capabilities(caps: tuple[str, ...], drop: tuple[str, ...], fires: bool) -> None:
    assert bool(fails("DW209", spec(cap_add=caps, cap_drop=drop))) is fires


@pytest.mark.parametrize("env,fires", [
    (("DB_PASSWORD", "correct-horse-battery"), True),
    (("DB_PASSWORD", "changeme"), False),
    (("DB_PASSWORD", ""), False),
    (("DB_PASSWORD_FILE", "/run/secrets/db"), False),
    (("DATABASE_URL", "postgres://app:hunter22@db/app"), True),
    (("GREETING", "AKIAIOSFODNN7EXAMPLE"), True),
    (("PATH", "/usr/bin:/bin"), False),
    (("AUTH_MODE", "oauth"), False),
])
def test_secret_env(env: tuple[str, str], fires: bool) -> None:
    got = fails("DW233", spec(env=(env,)))
    assert bool(got) is fires
    if got:
        assert env[1] not in json.dumps(got[0].evidence)


def test_redaction_never_shows_the_middle() -> None:
    assert redact("hunter2") == "*******"
    shown = redact("ghp_abcdefghijklmnopqrstuvwxyz0123456789AB")
    assert shown.startswith("ghp") and "abcdefghij" not in shown


@pytest.mark.parametrize("image,fires", [
    ("busybox", True), ("busybox:latest", True), ("registry:5000/team/app", True),
    ("registry:5000/team/app:1.2", False), ("app@sha256:" + "a" * 64, False),
    ("sha256:" + "b" * 64, False),
])
def test_moving_tag(image: str, fires: bool) -> None:
    assert bool(fails("DW235", spec(image=image))) is fires


@pytest.mark.parametrize("sysctls,network,ipc,fires", [
    ({"net.ipv4.ip_unprivileged_port_start": "0"}, "bridge", "", False),
    ({"net.ipv4.ip_forward": "1"}, "host", "", True),
    ({"kernel.shmmax": "1"}, "bridge", "private", False),
    ({"kernel.shmmax": "1"}, "bridge", "host", True),
    ({"kernel.domainname": "x"}, "bridge", "", True),
])
def test_sysctls(sysctls: dict[str, str], network: str, ipc: str, fires: bool) -> None:
    got = fails("DW236", spec(sysctls=sysctls, network_mode=network, ipc_mode=ipc))
    assert bool(got) is fires


def test_modules_fire_where_the_host_has_them() -> None:
    s = spec(security_opt=("apparmor=unconfined", "label:disable"))
    assert fails("DW211", s, replace(CTX, host_apparmor=True))
    assert fails("DW212", s, replace(CTX, host_selinux=True))
    unknown = replace(CTX, host_apparmor=Unknown("file"), host_selinux=Unknown("file"))
    assert fails("DW211", s, unknown) and fails("DW212", s, unknown)
    res = run([REGISTRY["DW211"]], (s, CTX), s.target, Source.ENGINE)
    assert res.skipped and "AppArmor" in res.skipped[0].reason


def test_no_new_privileges_from_daemon_default() -> None:
    assert fails("DW213", spec())
    assert not fails("DW213", spec(), replace(CTX, daemon_no_new_privileges=True))
    assert not fails("DW213", spec(security_opt=("no-new-privileges:true",)))
    assert fails("DW213", spec(security_opt=("no-new-privileges=false",)),
                 replace(CTX, daemon_no_new_privileges=False))


def test_log_rotation_from_daemon_options_for_files() -> None:
    compose = dict(source=Source.COMPOSE)
    assert fails("DW218", spec(**compose))
    ctx = replace(CTX, daemon_log_options={"max-size": "10m"})
    assert not fails("DW218", spec(**compose), ctx)
    assert not fails("DW218", spec(log_driver="local", **compose))
    assert not fails("DW218", spec(log_driver="journald"))


@pytest.mark.parametrize("policy,retries,fires", [
    ("always", 0, True), ("unless-stopped", 0, True), ("on-failure", 10, True),
    ("on-failure", 5, False), ("no", 0, False), ("", 0, False),
])
def test_restart_policy(policy: str, retries: int, fires: bool) -> None:
    assert bool(fails("DW226", spec(restart_policy=policy,
                                    restart_max_retries=retries))) is fires


def test_ports() -> None:
    wide = spec(ports=(PortBinding("80/tcp", "", 80),))
    assert fails("DW223", wide) and fails("DW224", wide)
    local = spec(ports=(PortBinding("80/tcp", "127.0.0.1", 8080),))
    assert not fails("DW223", local) and not fails("DW224", local)


def test_unbounded_volume_respects_size_options() -> None:
    bounded = Mount("volume", "v", "/v", False, size_limit="size=1g")
    unknown = Mount("volume", "v", "/v", False, size_limit=Unknown("not listed"))
    assert not fails("DW232", spec(mounts=(bounded,)))
    assert fails("DW232", spec(mounts=(unknown,)))
    assert not fails("DW232", spec(mounts=(Mount("tmpfs", "", "/t", False),)))


def test_sshd_and_exec_need_live_facts() -> None:
    s = spec(running=True)  # processes Unknown by default
    res = run([REGISTRY["DW225"], REGISTRY["DW231"]], (s, CTX), s.target, Source.ENGINE)
    assert {x.check for x in res.skipped} == {"DW225"}
    compose = spec(source=Source.COMPOSE)
    res = run([REGISTRY["DW231"]], (compose, CTX), compose.target, Source.COMPOSE)
    assert res.skipped and "live Engine" in res.skipped[0].reason


def test_crashing_check_is_an_error_not_a_pass() -> None:
    from dockwarden.checks.registry import Check, CheckMeta
    from dockwarden.model.common import TargetKind

    def boom(spec: ContainerSpec, ctx: ContainerContext) -> Any:
        raise ValueError("bad data")

    meta = CheckMeta("DW999", "t", Severity.LOW, Scope.CONTAINER, "r", "f", (),
                     TargetKind.CONTAINER)
    s = spec()
    res = run([Check(meta, boom)], (s, CTX), s.target, Source.ENGINE)
    assert res.passed == 0 and not res.findings
    assert res.errors and "ValueError" in res.errors[0].message


def test_hostile_inspect_data_does_not_crash() -> None:
    for garbage in ({}, {"HostConfig": "x", "Config": [], "Mounts": "y"},
                    {"HostConfig": {"PortBindings": {"80/tcp": "bad"}, "PidsLimit": True,
                                    "Devices": [1, None]}, "Mounts": [None, 3]}):
        s = spec_from_inspect(garbage)
        res = run(checks_for(Scope.CONTAINER, Selection()), (s, CTX), s.target, Source.ENGINE)
        assert not res.errors, res.errors


def port(cport: str, host_ip: str = "", host_port: int | None = None) -> PortBinding:
    return PortBinding(cport, host_ip, host_port)


@pytest.mark.parametrize("ports,severity", [
    ((port("2375/tcp", "", 2375),), Severity.CRITICAL),
    ((port("2375/tcp", "0.0.0.0", 2375), port("2375/tcp", "::", 2375)), Severity.CRITICAL),
    ((port("2375/tcp", "10.0.0.5", 12375),), Severity.CRITICAL),
    ((port("2375/tcp"),), Severity.CRITICAL),  # host port chosen by the Engine
    ((port("2376/tcp", "", 2376),), Severity.HIGH),
    ((port("2375/tcp", "127.0.0.1", 2375),), Severity.HIGH),
    ((port("2375/tcp", "127.0.0.2", 2375),), Severity.HIGH),
    ((port("2376/tcp", "::1", 2376),), Severity.MEDIUM),
    ((port("2376/tcp", "localhost", 2376),), Severity.MEDIUM),
    # the worst binding decides
    ((port("2376/tcp", "127.0.0.1", 2376), port("2375/tcp", "", 2375)), Severity.CRITICAL),
])
def test_engine_api_port_severity(ports: tuple[PortBinding, ...], severity: Severity) -> None:
    [got] = fails("DW237", spec(ports=ports))
    assert got.severity == severity and got.field == "ports"
    assert all("->237" in b for b in got.evidence["bindings"])


@pytest.mark.parametrize("ports", [
    (),
    (port("8080/tcp", "", 2375),),  # host port 2375 for another service: not the Engine API
    (port("2375/udp", "", 2375),),
    (port("2377/tcp", "", 2377), port("2374/tcp", "", 2374)),  # swarm, neighbours
])
def test_engine_api_port_not_published(ports: tuple[PortBinding, ...]) -> None:
    assert fails("DW237", spec(ports=ports)) == []
