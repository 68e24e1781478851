"""`docker run` command lines -> ContainerSpec -> DW2xx: parsing, every check's bad/good
line, every check's own examples, scripts, hostile input, and equivalence with the
container the same arguments create on the real Engine."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import uuid
from typing import Any

import pytest

from dockwarden.checks import REGISTRY, Scope, Selection, run
from dockwarden.checks.registry import checks_for
from dockwarden.collect.inspect import spec_from_inspect
from dockwarden.collect.runcmd import find_run_commands, parse_run
from dockwarden.errors import InputError
from dockwarden.model.common import Source, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec, Mount, PortBinding

CTX = ContainerContext(host_apparmor=True, host_selinux=True, daemon_no_new_privileges=False,
                       daemon_log_driver="json-file", daemon_log_options={})
CONTAINER_CHECKS = checks_for(Scope.CONTAINER, Selection())


def fired(spec: ContainerSpec, ctx: ContainerContext = CTX,
          checks: Any = CONTAINER_CHECKS) -> set[str]:
    res = run(checks, (spec, ctx), spec.target, spec.source)
    assert not res.errors, res.errors
    return {f.check for f in res.findings}


def fires(check_id: str, command: str) -> bool:
    return check_id in fired(parse_run(command), checks=[REGISTRY[check_id]])


# --- parsing ---------------------------------------------------------------------------------

def test_defaults_match_inspect_semantics() -> None:
    s = parse_run("docker run busybox")
    assert (s.image, s.name, s.source) == ("busybox", "busybox", Source.RUN_COMMAND)
    assert s.network_mode == "default" and s.networks == ("bridge",)
    assert s.pids_limit is None and s.healthcheck is None and s.user == ""
    assert s.log_driver == "" and s.restart_policy == "no" and s.mounts == ()
    assert isinstance(s.processes, Unknown) and s.lines == {}
    assert s.target.ref == "busybox" and s.target.line is None


@pytest.mark.parametrize("prefix", [
    "docker run", "docker container run", "docker create", "docker container create",
    "sudo docker run", "sudo -E -u root docker run", "DOCKER_HOST=x FOO=1 docker run",
    "docker --host tcp://h:2376 --tlsverify run", "docker -H unix:///x.sock -D run",
    "/usr/bin/docker run", "sudo -- docker --context prod container run",
])
def test_command_prefixes(prefix: str) -> None:
    s = parse_run(f"{prefix} --privileged --name web busybox:1 sh -c 'echo hi'")
    assert s.privileged and s.name == "web" and s.image == "busybox:1"
    assert s.target.ref == "web"


@pytest.mark.parametrize("args", [
    "-dit --rm -u 1000 busybox", "-d -i -t --user=1000 busybox", "-itd -u1000 busybox",
    "--interactive --tty --user 1000 busybox", "-u=1000 --privileged=false busybox",
])
def test_flag_forms(args: str) -> None:
    s = parse_run(f"docker run {args}")
    assert s.user == "1000" and not s.privileged and s.image == "busybox"


def test_flags_end_at_the_image() -> None:
    s = parse_run("docker run busybox ls --privileged -v /:/x")
    assert not s.privileged and s.mounts == ()
    s = parse_run("docker run -- busybox -x")
    assert s.image == "busybox"


def test_values() -> None:
    s = parse_run(
        "docker run -m 256m --memory-swap 1g --cpus 1.5 -c 512 --cpu-quota 50000 "
        "--cpuset-cpus 0-1 --pids-limit=100 --storage-opt size=1G --log-driver json-file "
        "--log-opt max-size=10m --log-opt max-file=3 --read-only --restart on-failure:3 "
        "--health-cmd 'curl -f localhost' --cgroup-parent /x --ulimit nofile=1024 "
        "--ulimit nproc=10:20 -e A=1 -e PASSTHROUGH --env-file ./env -l a=b --label c "
        "--sysctl net.core.somaxconn=1024 --cap-add sys_admin --cap-drop ALL "
        "--security-opt seccomp=unconfined --device /dev/sda --device /dev/fuse:r "
        "--device /dev/a:/dev/b --pid host --ipc=host --uts host --userns host --net app "
        "--network other busybox")
    assert s.memory == 256 << 20 and s.nano_cpus == 1_500_000_000
    assert (s.cpu_shares, s.cpu_quota, s.cpuset_cpus) == (512, 50000, "0-1")
    assert s.pids_limit == 100 and s.storage_opt == {"size": "1G"}
    assert s.log_driver == "json-file" and s.log_options == {"max-size": "10m", "max-file": "3"}
    assert s.read_only_rootfs and (s.restart_policy, s.restart_max_retries) == ("on-failure", 3)
    assert s.healthcheck == ("CMD-SHELL", "curl -f localhost")
    assert s.cgroup_parent == "/x" and s.ulimits == ("nofile=1024:1024", "nproc=10:20")
    assert s.env == (("A", "1"),) and s.labels == {"a": "b", "c": ""}
    assert s.sysctls == {"net.core.somaxconn": "1024"}
    assert s.cap_add == ("sys_admin",) and s.cap_drop == ("ALL",)
    assert s.security_opt == ("seccomp=unconfined",)
    assert s.devices == ("/dev/sda:/dev/sda:rwm", "/dev/fuse:/dev/fuse:r", "/dev/a:/dev/b:rwm")
    assert (s.pid_mode, s.ipc_mode, s.uts_mode, s.userns_mode) == ("host",) * 4
    assert s.network_mode == "app" and s.networks == ("app", "other")


@pytest.mark.parametrize("value,bindings", [
    ("80", [PortBinding("80/tcp", "", None)]),
    ("8080:80", [PortBinding("80/tcp", "", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortBinding("80/udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortBinding("80/tcp", "127.0.0.1", None)]),
    ("[::1]:8080:80", [PortBinding("80/tcp", "::1", 8080)]),
    ("8000-8001:80-81", [PortBinding("80/tcp", "", 8000, count=2)]),  # a range is one binding
    ("1-65535:1-65535", [PortBinding("1/tcp", "", 1, count=65535)]),
    ("100-200", [PortBinding("100/tcp", "", None, count=101)]),
    ("8000-8010:80", [PortBinding("80/tcp", "", None)]),
])
def test_publish(value: str, bindings: list[PortBinding]) -> None:
    assert list(parse_run(f"docker run -p {value} busybox").ports) == bindings
    assert list(parse_run(f"docker run -p{value} busybox").ports) == bindings


def test_publish_all_publishes_exposed_ports() -> None:
    s = parse_run("docker run -P --expose 80 --expose 53/udp busybox")
    assert s.ports == (PortBinding("80/tcp", "", None), PortBinding("53/udp", "", None))


@pytest.mark.parametrize("arg,mount", [
    ("-v /srv:/data", Mount("bind", "/srv", "/data", False, "rprivate")),
    ("-v /srv:/data:ro,rshared", Mount("bind", "/srv", "/data", True, "rshared")),
    ("-v ./x:/x:z", Mount("bind", "./x", "/x", False, "rprivate")),
    ("-v /anon", Mount("volume", "", "/anon", False, "", "local", None)),
    ("--mount type=bind,source=/mnt,target=/mnt,readonly,bind-propagation=shared",
     Mount("bind", "/mnt", "/mnt", True, "shared")),
    ("--mount type=volume,src=v,dst=/v,volume-opt=o=size=10m",
     Mount("volume", "v", "/v", False, "", "local", "size=10m")),
    ("--mount type=tmpfs,destination=/t,tmpfs-size=64m",
     Mount("tmpfs", "", "/t", False, size_limit="size=64m")),
    ("--tmpfs /run:size=64m,noexec", Mount("tmpfs", "", "/run", False, size_limit="size=64m")),
    ("--tmpfs /run", Mount("tmpfs", "", "/run", False)),
    ("--use-api-socket",
     Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock", False, "rprivate")),
])
def test_mounts(arg: str, mount: Mount) -> None:
    assert parse_run(f"docker run {arg} busybox").mounts == (mount,)


def test_named_volume_options_are_unknown() -> None:
    (m,) = parse_run("docker run -v data:/data busybox").mounts
    assert (m.type, m.source, m.destination) == ("volume", "data", "/data")
    assert isinstance(m.size_limit, Unknown)


def test_line_gives_file_target_and_field_lines() -> None:
    s = parse_run("docker run --privileged --name web busybox", origin="deploy.sh", line=7)
    assert (s.target.ref, s.target.line, s.target.service) == ("deploy.sh", 7, "web")
    assert s.lines["privileged"] == 7 and s.lines["mounts"] == 7
    res = run([REGISTRY["DW201"]], (s, CTX), s.target, s.source, dict(s.lines))
    assert [(f.check, f.target.line) for f in res.findings] == [("DW201", 7)]


# --- errors and hostile input ------------------------------------------------------------------

@pytest.mark.parametrize("command,words", [
    ("docker run --frobnicate busybox", "--frobnicate"),
    ("docker run -Z busybox", "-Z"),
    ("docker run -dZ busybox", "-Z"),
    ("docker run --name", "--name needs a value"),
    ("docker run -d", "no image"),
    ("docker ps -a", "subcommand: ps"),
    ("podman run busybox", "not a docker command"),
    ("docker --bogus run busybox", "--bogus"),
    ("docker run 'busybox", "cannot split"),
    ('docker run "busybox', "cannot split"),
    ("docker run busybox\x00sh", "NUL"),
    ("docker run -v a:b:c:d busybox", "volume specification"),
    ("docker run -v /x:rel busybox", "not an absolute path"),
    ("docker run -v /x:/y:bogus busybox", "volume mode"),
    ("docker run -p 80:80/icmp busybox", "protocol"),
    ("docker run -p 70000 busybox", "port"),
    ("docker run -p 1-3:1-2 busybox", "ranges differ"),
    ("docker run -m lots busybox", "--memory"),
    ("docker run --cpus x busybox", "--cpus"),
    ("docker run --pids-limit many busybox", "--pids-limit"),
    ("docker run --restart sometimes busybox", "--restart"),
    ("docker run --ulimit nofile busybox", "--ulimit"),
    ("docker run --privileged=maybe busybox", "maybe"),
    ("docker run --mount type=bind,target=/x busybox", "needs a source"),
    ("docker run --mount type=weird,target=/x busybox", "mount type"),
    ("docker run --mount src=v busybox", "no target"),
    ("docker run --mount 'type=bind,\"src=/x' busybox", "--mount"),
    ("docker run --no-healthcheck --health-cmd true busybox", "conflicts"),
    ("", "not a docker command"),
])
def test_input_errors(command: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        parse_run(command)
    assert words in err.value.message and "\n" not in err.value.message


def test_huge_line_is_refused_quickly() -> None:
    with pytest.raises(InputError, match="longer than"):
        parse_run("docker run " + "-e A=B " * 15000 + "busybox")
    with pytest.raises(InputError):
        parse_run("x" * 100_000)


@pytest.mark.parametrize("junk", [
    "\x00" * 10, "'" * 1001, "\\", "docker", "docker run", "docker run -", "docker run --",
    "docker run -e", "docker run -p : busybox", "docker run -p ::: busybox",
    "docker run --device : busybox", "docker run -v : busybox", "docker run --tmpfs x busybox",
    "docker run --mount '' busybox", "docker run --cpus 1e400000 busybox",
    "docker run -m 99999999999999999999999999p busybox", "docker \udcff run x",
])
def test_hostile_input_never_tracebacks(junk: str) -> None:
    with contextlib.suppress(InputError):
        parse_run(junk)


# --- every DW2xx check expressible on a command line: bad line fires, hardened is silent -------

HARDENED = ("docker run --read-only --user 1000:1000 --pids-limit 200 --memory 256m --cpus 1 "
            "--security-opt no-new-privileges --cap-drop ALL --network none --health-cmd true "
            "--log-driver json-file --log-opt max-size=10m --restart on-failure:3 "
            "--tmpfs /tmp:size=64m -v /opt/data:/data:ro busybox:1.36.1")

CASES = [
    ("DW201", "docker run --privileged busybox", "docker run --privileged=false busybox"),
    ("DW202", "docker run --pid=host busybox", "docker run --pid container:db busybox"),
    ("DW203", "docker run --ipc host busybox", "docker run --ipc private busybox"),
    ("DW204", "docker run --net=host busybox", "docker run --net app busybox"),
    ("DW205", "docker run --uts host busybox", "docker run busybox"),
    ("DW206", "docker run --userns=host busybox", "docker run busybox"),
    ("DW207", "docker run -v /etc:/etc:ro busybox", "docker run -v /srv/etc:/etc busybox"),
    ("DW207", "docker run --mount type=bind,src=/,dst=/host busybox",
     "docker run --mount type=volume,src=etc,dst=/etc busybox"),
    ("DW208", "docker run -v /var/run/docker.sock:/var/run/docker.sock:ro busybox",
     "docker run -v /srv/docker.sock:/x busybox"),
    ("DW208", "docker run --use-api-socket busybox", "docker run busybox"),
    ("DW209", "docker run --cap-add=CAP_SYS_PTRACE busybox",
     "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE busybox"),
    ("DW210", "docker run --security-opt seccomp:unconfined busybox",
     "docker run --security-opt seccomp=/etc/profile.json busybox"),
    ("DW211", "docker run --security-opt apparmor=unconfined busybox",
     "docker run --security-opt apparmor=docker-default busybox"),
    ("DW212", "docker run --security-opt label=disable busybox",
     "docker run --security-opt label=type:svirt_t busybox"),
    ("DW213", "docker run --security-opt no-new-privileges=false busybox",
     "docker run --security-opt no-new-privileges:true busybox"),
    ("DW214", "docker run --pids-limit -1 busybox", "docker run --pids-limit=100 busybox"),
    ("DW215", "docker run --memory-swap 1g busybox", "docker run -m 512m busybox"),
    ("DW216", "docker run -m 1g busybox", "docker run -c 512 busybox"),
    ("DW216", "docker run busybox", "docker run --cpuset-cpus 0 busybox"),
    ("DW217", "docker run --storage-opt dm.basesize=1G busybox",
     "docker run --storage-opt size=10G busybox"),
    ("DW218", "docker run --log-opt max-file=3 busybox",
     "docker run --log-driver journald busybox"),
    ("DW219", "docker run --read-only=false busybox", "docker run --read-only busybox"),
    ("DW220", "docker run -u root:root busybox", "docker run -u nobody busybox"),
    ("DW220", "docker run --user 0 busybox", "docker run --user=1000 busybox"),
    ("DW221", "docker run --device=/dev/mem:/dev/mem:r busybox", "docker run busybox"),
    ("DW222", "docker run --mount type=bind,src=/mnt,dst=/mnt,bind-propagation=shared busybox",
     "docker run -v /mnt:/mnt:rslave busybox"),
    ("DW223", "docker run -p 443:8443 busybox", "docker run -p 8443:8443 busybox"),
    ("DW224", "docker run -p 0.0.0.0:8080:80 busybox", "docker run -p 10.0.0.1:8080:80 busybox"),
    ("DW224", "docker run -p 8080 busybox", "docker run -p 127.0.0.1::8080 busybox"),
    ("DW226", "docker run --restart unless-stopped busybox",
     "docker run --restart no busybox"),
    ("DW226", "docker run --restart on-failure busybox",
     "docker run --restart on-failure:5 busybox"),
    ("DW227", "docker run --no-healthcheck busybox",
     "docker run --health-cmd 'wget -q -O- localhost' busybox"),
    ("DW228", "docker run --network bridge busybox", "docker run --network app busybox"),
    ("DW229", "docker run --cgroup-parent=/evil busybox", "docker run busybox"),
    ("DW230", "docker run --ulimit nproc=65535 busybox", "docker run busybox"),
    ("DW232", "docker run -v data:/data busybox", "docker run -v data:/data:ro busybox"),
    ("DW232", "docker run -v /srv/data:/data busybox",
     "docker run --mount type=volume,src=d,dst=/d,volume-opt=size=1G busybox"),
    ("DW233", "docker run --env API_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789AB busybox",
     "docker run -e API_TOKEN_FILE=/run/secrets/token busybox"),
    ("DW234", "docker run --network app busybox", "docker run --network container:db busybox"),
    ("DW235", "docker run registry:5000/team/app busybox",
     "docker run registry:5000/team/app:1.2 sh"),
    ("DW236", "docker run --ipc host --sysctl kernel.shmmax=1 busybox",
     "docker run --sysctl kernel.shmmax=1 busybox"),
    ("DW237", "docker run -d -p 2370-2380:2370-2380 docker:27-dind",
     "docker run -d --expose 2375 docker:27-dind"),
    ("DW237", "docker run --publish=[::1]:2376:2376/tcp docker:27-dind",
     "docker run -p 2375:2375/udp busybox"),
]


@pytest.mark.parametrize("check_id,bad,good", CASES, ids=[c[0] for c in CASES])
def test_bad_line_fires_good_line_silent(check_id: str, bad: str, good: str) -> None:
    assert fires(check_id, bad), f"{check_id} silent on {bad!r}"
    assert not fires(check_id, good), f"{check_id} fired on {good!r}"


def test_every_line_expressible_check_has_a_case() -> None:
    # DW225 needs the process list, DW231 exec sessions: both exist only on a live Engine.
    expressible = {c.meta.id for c in CONTAINER_CHECKS} - {"DW225", "DW231"}
    assert expressible == {c[0] for c in CASES}


def test_hardened_line_is_silent() -> None:
    res = run(CONTAINER_CHECKS, (parse_run(HARDENED), CTX), parse_run(HARDENED).target,
              Source.RUN_COMMAND)
    assert [f.check for f in res.findings] == []
    assert {s.check for s in res.skipped} == {"DW225", "DW231"} and not res.errors


# --- every check's own examples (CONVENTIONS habit 10) -------------------------------------------

# Examples that are not `docker run` lines or need facts a command line cannot carry.
NOT_RUN_LINES = {
    ("DW225", "bad"): "needs the live process list (a command line only names the command)",
    ("DW231", "bad"): "a `docker exec` line, not `docker run`",
    ("DW231", "good"): "a `docker exec` line, not `docker run`",
}
EXAMPLES = [(c.meta.id, kind, ex) for c in CONTAINER_CHECKS
            for kind, exs in (("bad", c.meta.bad), ("good", c.meta.good)) for ex in exs]


@pytest.mark.parametrize("check_id,kind,example", EXAMPLES,
                         ids=[f"{e[0]}-{e[1]}-{i}" for i, e in enumerate(EXAMPLES)])
def test_check_examples(check_id: str, kind: str, example: str) -> None:
    if (check_id, kind) in NOT_RUN_LINES:
        pytest.skip(NOT_RUN_LINES[check_id, kind])
    assert fires(check_id, example) is (kind == "bad"), example


# --- scripts -------------------------------------------------------------------------------

SCRIPT = """#!/bin/sh
set -e
# docker run --privileged commented-out
docker build -t run .
sudo docker run \\
    --privileged \\
    -v /:/host \\
    busybox   # trailing comment
echo "$(docker run --rm busybox:1 id)"
docker pull busybox && docker run -d --name web nginx:1 && echo ok
"""
MAKEFILE = "deploy:\n\t@docker run --rm -p 80:80 app:1\n\t-docker create --pid host app:1\n"
CI_YAML = """jobs:
  test:
    steps:
      - run: docker run --rm app:1 pytest
      - run: |
          docker --host tcp://dind:2375 container run \\
            --cap-add SYS_ADMIN app:1
      # - run: docker run --privileged app:1
      - docker run --network host app:1
"""


def test_find_in_shell_script() -> None:
    assert find_run_commands(SCRIPT) == [
        (5, "docker run      --privileged      -v /:/host      busybox"),
        (9, "docker run --rm busybox:1 id"),
        (10, "docker run -d --name web nginx:1"),
    ]


def test_find_in_makefile_and_yaml() -> None:
    assert find_run_commands(MAKEFILE) == [(2, "docker run --rm -p 80:80 app:1"),
                                           (3, "docker create --pid host app:1")]
    got = find_run_commands(CI_YAML)
    assert [line for line, _ in got] == [4, 6, 9]
    assert got[1][1].startswith("docker --host tcp://dind:2375 container run")


def test_found_commands_parse_and_carry_their_line() -> None:
    ids = set()
    for line, cmd in find_run_commands(SCRIPT + MAKEFILE + CI_YAML):
        spec = parse_run(cmd, origin="all.txt", line=line)
        assert spec.target.line == line
        ids |= fired(spec)
    assert {"DW201", "DW207", "DW202", "DW204", "DW209"} <= ids


def test_find_is_linear_on_hostile_text() -> None:
    text = "docker " + "-x " * 50_000 + "\n" + "\\\n" * 10_000 + "#" * 100_000
    assert find_run_commands(text) == []


# --- equivalence with the real Engine --------------------------------------------------------

EQUIVALENT = [
    "docker run --privileged --pid host --ipc host -v /:/host "
    "-v /var/run/docker.sock:/var/run/docker.sock --cap-add SYS_ADMIN "
    "--security-opt seccomp=unconfined --security-opt apparmor=unconfined -p 80:8080 "
    "--restart always --cgroup-parent /custom --ulimit nofile=1024:2048 "
    "-e DB_PASSWORD=correct-horse-battery --device /dev/null IMAGE",
    "docker run --read-only --user 1000:1000 --pids-limit 200 --memory 256m --cpus 1 "
    "--security-opt no-new-privileges --cap-drop ALL --network none --health-cmd true "
    "--log-driver local --restart on-failure:3 --tmpfs /tmp:size=64m -v /opt/data:/data:ro "
    "IMAGE",
    "docker run -v VOLUME:/data -v /anon "
    "--mount type=bind,source=/mnt,target=/mnt,bind-propagation=rshared --uts host "
    "--userns host --network host --sysctl net.ipv4.ip_forward=1 --log-driver json-file "
    "--restart unless-stopped -u 0 IMAGE",
    "docker create -p 127.0.0.1:8080:80 -p 9000 --log-opt max-size=10m -c 512 "
    "--health-cmd 'true' IMAGE",
]


@pytest.mark.live
@pytest.mark.parametrize("template", EQUIVALENT, ids=[str(i) for i in range(len(EQUIVALENT))])
def test_same_checks_fire_as_on_the_engine(template: str, engine_url: str, busybox: str,
                                           api: Any) -> None:
    volume = f"dwtest-runcmd-{uuid.uuid4().hex[:8]}"
    command = template.replace("IMAGE", busybox).replace("VOLUME", volume)
    args = shlex.split(command)[2:]
    env = dict(os.environ, DOCKER_HOST=engine_url)
    created = subprocess.run(["docker", "create", "--label", "dockwarden.test=1", *args],
                             env=env, capture_output=True, text=True, timeout=60)
    if created.returncode != 0 and "storage-opt" in created.stderr.lower() + command:
        pytest.skip(f"the Engine refuses this line here: {created.stderr.strip()[:200]}")
    assert created.returncode == 0, created.stderr
    cid = created.stdout.strip()
    try:
        data = json.loads(subprocess.run(["docker", "inspect", cid], env=env, check=True,
                                         capture_output=True, text=True).stdout)[0]
        live = spec_from_inspect(data)
        from_line = parse_run(command)
        assert fired(live) == fired(from_line)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], env=env, capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", volume], env=env, capture_output=True)
