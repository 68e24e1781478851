"""Compose files -> ContainerSpec: DW2xx per key with its line, interpolation, extends,
profiles, -f merges, the real corpus, and hostile input."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from dockwarden.checks import Scope, Selection, run
from dockwarden.checks.registry import Results, checks_for
from dockwarden.collect.compose import (
    MAX_FILE_BYTES,
    find_compose_files,
    load,
    load_project,
    parse_size,
)
from dockwarden.errors import InputError
from dockwarden.model.common import Severity, Source, TargetKind, Unknown
from dockwarden.model.container import ContainerContext, ContainerSpec

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "data" / "compose"
DATA = Path(__file__).resolve().parent / "data" / "compose"
CHECKS = checks_for(Scope.CONTAINER, Selection())

# A service that passes every DW2xx check a file can settle.
HARDENED = """\
image: nginx:1.25.3
user: "1000:1000"
read_only: true
security_opt: [no-new-privileges:true]
pids_limit: 100
mem_limit: 256m
cpus: 0.5
logging: {driver: local}
healthcheck: {test: [CMD, "true"]}
network_mode: none
"""


def write(tmp_path: Path, text: str, name: str = "compose.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def service_file(tmp_path: Path, body: str, extra: str = "") -> str:
    """`services:` on line 1, `app:` on line 2, `body` from line 3."""
    body = textwrap.dedent(body)
    text = "services:\n  app:\n" + textwrap.indent(body, "    ") + textwrap.dedent(extra)
    return write(tmp_path, text)


def check_spec(spec: ContainerSpec) -> Results:
    return run(CHECKS, (spec, ContainerContext()), spec.target, spec.source, dict(spec.lines))


def results_for(tmp_path: Path, body: str, extra: str = "") -> Results:
    [spec] = load_project([service_file(tmp_path, body, extra)], env={})
    return check_spec(spec)


def fires(tmp_path: Path, check_id: str, body: str, line: int, extra: str = "") -> None:
    res = results_for(tmp_path, body, extra)
    hits = [f for f in res.findings if f.check == check_id]
    assert hits, f"{check_id} did not fire on:\n{body}"
    assert line in [f.target.line for f in hits], [f.target.line for f in hits]
    assert all(f.source is Source.COMPOSE and f.target.kind is TargetKind.COMPOSE
               and f.target.service == "app" for f in hits)
    assert not res.errors


def silent(tmp_path: Path, check_id: str, body: str, extra: str = "") -> None:
    res = results_for(tmp_path, body, extra)
    assert not [f for f in res.findings if f.check == check_id], body
    assert not res.errors


# (check, bad service body, line of the offending key; 2 = the service's own key)
BAD = [
    ("DW201", "image: a:1\nprivileged: true\n", 4),
    ("DW202", "pid: host\n", 3),
    ("DW203", "ipc: host\n", 3),
    ("DW204", "network_mode: host\n", 3),
    ("DW205", "uts: host\n", 3),
    ("DW206", "userns_mode: host\n", 3),
    ("DW207", "image: a:1\nvolumes:\n  - /etc:/host-etc\n", 5),
    ("DW207", "volumes:\n  - type: bind\n    source: /\n    target: /host\n    read_only: true\n",
     4),
    ("DW208", "volumes:\n  - /var/run/docker.sock:/var/run/docker.sock:ro\n", 4),
    ("DW208", "volumes:\n  - type: bind\n    source: /run/docker.sock\n    target: /s\n", 4),
    ("DW209", "cap_add: [SYS_ADMIN]\n", 3),
    ("DW209", "cap_add:\n  - ALL\n", 4),
    ("DW210", "image: a:1\nsecurity_opt:\n  - seccomp:unconfined\n", 4),
    ("DW210", "security_opt: [seccomp=unconfined]\n", 3),
    ("DW211", "security_opt: [apparmor:unconfined]\n", 3),
    ("DW212", "security_opt: [label:disable]\n", 3),
    ("DW213", "image: a:1\n", 2),
    ("DW213", "security_opt: [no-new-privileges:false]\n", 3),
    ("DW214", "image: a:1\n", 2),
    ("DW214", "image: a:1\npids_limit: -1\n", 4),
    ("DW215", "image: a:1\n", 2),
    ("DW216", "image: a:1\n", 2),
    ("DW217", "image: a:1\n", 2),
    ("DW218", "image: a:1\n", 2),
    ("DW218", "logging:\n  driver: json-file\n  options:\n    max-file: '3'\n", 4),
    ("DW219", "image: a:1\n", 2),
    ("DW219", "read_only: false\n", 3),
    ("DW220", "image: a:1\n", 2),
    ("DW220", "user: root\n", 3),
    ("DW220", "user: '0:0'\n", 3),
    ("DW221", "devices:\n  - /dev/sda:/dev/sda\n", 4),
    ("DW221", "devices:\n  - source: /dev/kvm\n    target: /dev/kvm\n", 4),
    ("DW222", "volumes:\n  - /mnt:/mnt:rshared\n", 4),
    ("DW222", "volumes:\n  - type: bind\n    source: /mnt\n    target: /mnt\n"
     "    bind:\n      propagation: shared\n", 4),
    ("DW223", "image: a:1\nports:\n  - 80:8080\n", 5),
    ("DW223", "ports:\n  - target: 80\n    published: 443\n    host_ip: 127.0.0.1\n", 4),
    ("DW224", "ports: ['8080:80']\n", 3),
    ("DW224", "ports:\n  - '3000'\n", 4),
    ("DW224", "ports:\n  - target: 80\n    published: '8080'\n", 4),
    ("DW226", "restart: always\n", 3),
    ("DW226", "restart: unless-stopped\n", 3),
    ("DW226", "deploy:\n  restart_policy:\n    condition: any\n", 4),
    ("DW227", "image: a:1\n", 2),
    ("DW227", "healthcheck:\n  test: [CMD, 'true']\n  disable: true\n", 3),
    ("DW227", "healthcheck:\n  test: [NONE]\n", 3),
    ("DW228", "network_mode: bridge\n", 3),
    ("DW229", "cgroup_parent: /custom\n", 3),
    ("DW230", "ulimits:\n  nofile:\n    soft: 1024\n    hard: 2048\n", 3),
    ("DW230", "ulimits:\n  nproc: 65535\n", 3),
    ("DW232", "image: a:1\nvolumes:\n  - data:/data\n", 5),
    ("DW232", "volumes:\n  - ./src:/src\n", 4),
    ("DW232", "volumes:\n  - /data\n", 4),
    ("DW233", "image: a:1\nenvironment:\n  DB_PASSWORD: hunter2hunter2\n", 5),
    ("DW233", "environment:\n  - DB_PASSWORD=hunter2hunter2\n", 4),
    ("DW234", "image: a:1\n", 2),
    ("DW234", "networks: [front]\n", 3),
    ("DW235", "image: nginx\n", 3),
    ("DW235", "image: nginx:latest\n", 3),
    ("DW236", "network_mode: host\nsysctls:\n  net.ipv4.ip_forward: 1\n", 4),
    ("DW236", "sysctls:\n  - kernel.panic=1\n", 3),
    ("DW237", "image: docker:27-dind\nports: ['2375:2375']\n", 4),
    ("DW237", "ports:\n  - '8080:80'\n  - 2370-2380:2370-2380\n", 5),
    ("DW237", "ports:\n  - target: 2376\n    published: 2376\n    host_ip: 127.0.0.1\n", 4),
    ("DW237", "ports:\n  - '2375'\n", 4),
]

GOOD = [
    ("DW201", "privileged: false\n"),
    ("DW202", "pid: service:db\n"),
    ("DW203", "ipc: shareable\n"),
    ("DW204", "network_mode: none\n"),
    ("DW205", "image: a:1\n"),
    ("DW206", "image: a:1\n"),
    ("DW207", "volumes:\n  - /opt/data:/data\n  - /etc/localtime:/etc/localtime:ro\n"),
    ("DW208", "volumes:\n  - ./app:/app\n"),
    ("DW209", "cap_drop: [ALL]\ncap_add: [NET_BIND_SERVICE]\n"),
    ("DW209", "cap_add: [SYS_ADMIN]\ncap_drop: [SYS_ADMIN]\n"),
    ("DW210", "security_opt: [no-new-privileges:true]\n"),
    ("DW211", "security_opt: [apparmor:docker-default]\n"),
    ("DW212", "security_opt: ['label:type:svirt_apache_t']\n"),
    ("DW213", "security_opt:\n  - no-new-privileges:true\n"),
    ("DW213", "security_opt: [no-new-privileges]\n"),
    ("DW214", "pids_limit: 100\n"),
    ("DW214", "deploy:\n  resources:\n    limits:\n      pids: 100\n"),
    ("DW215", "mem_limit: 512m\n"),
    ("DW215", "deploy:\n  resources:\n    limits:\n      memory: 1G\n"),
    ("DW216", "cpus: 0.5\n"),
    ("DW216", "cpu_shares: 512\n"),
    ("DW216", "deploy:\n  resources:\n    limits:\n      cpus: '0.25'\n"),
    ("DW216", "cpuset: '0,1'\n"),
    ("DW217", "storage_opt:\n  size: 1G\n"),
    ("DW217", "read_only: true\n"),
    ("DW218", "logging:\n  options:\n    max-size: 10m\n"),
    ("DW218", "logging:\n  driver: local\n"),
    ("DW219", "read_only: true\n"),
    ("DW220", "user: '1000:1000'\n"),
    ("DW220", "user: app\n"),
    ("DW221", "image: a:1\n"),
    ("DW222", "volumes:\n  - /mnt:/mnt:rslave\n"),
    ("DW223", "ports: ['8080:80', '127.0.0.1:8443:443']\n"),
    ("DW224", "ports: ['127.0.0.1:8080:80', '[::1]:8081:80']\n"),
    ("DW224", "expose: ['80']\n"),
    ("DW226", "restart: on-failure:3\n"),
    ("DW226", "restart: no\n"),
    ("DW226", "deploy:\n  restart_policy:\n    condition: on-failure\n    max_attempts: 3\n"),
    ("DW227", "healthcheck:\n  test: [CMD, curl, -f, http://localhost]\n"),
    ("DW227", "healthcheck:\n  test: curl -f http://localhost\n"),
    ("DW228", "image: a:1\n"),
    ("DW228", "networks: [front, back]\n"),
    ("DW229", "image: a:1\n"),
    ("DW230", "image: a:1\n"),
    ("DW232", "volumes:\n  - data:/data:ro\n  - type: tmpfs\n    target: /tmp\n"),
    ("DW233", "environment:\n  DB_PASSWORD_FILE: /run/secrets/db\n  DB_PASSWORD:\n"),
    ("DW233", "environment:\n  - DB_PASSWORD\n"),
    ("DW234", "network_mode: none\n"),
    ("DW234", "network_mode: service:vpn\n"),
    ("DW235", "image: nginx:1.25.3\n"),
    ("DW235", "image: nginx@sha256:" + "a" * 64 + "\n"),
    ("DW236", "sysctls:\n  net.ipv4.ip_unprivileged_port_start: 0\n"),
    ("DW237", "image: docker:27-dind\nexpose: ['2375', '2376']\n"),
    ("DW237", "ports: ['2375:8080', '2375:2375/udp']\n"),
]

EXTRA = {"DW232": "volumes:\n  data: {}\n"}


@pytest.mark.parametrize(("check_id", "body", "line"), BAD)
def test_bad_fires_with_line(tmp_path: Path, check_id: str, body: str, line: int) -> None:
    fires(tmp_path, check_id, body, line, EXTRA.get(check_id, ""))


@pytest.mark.parametrize(("check_id", "body"), GOOD)
def test_good_is_silent(tmp_path: Path, check_id: str, body: str) -> None:
    silent(tmp_path, check_id, body, EXTRA.get(check_id, ""))


def test_every_applicable_dw2xx_check_has_bad_and_good() -> None:
    covered = {c for c, _, _ in BAD} & {c for c, _ in GOOD}
    applicable = {c.meta.id for c in CHECKS} - {"DW225", "DW231"}
    assert applicable <= covered, sorted(applicable - covered)


def test_hardened_service_has_no_findings(tmp_path: Path) -> None:
    res = results_for(tmp_path, HARDENED)
    assert [f.check for f in res.findings] == []
    assert {s.check for s in res.skipped} == {"DW225", "DW231"}  # processes, exec sessions


def test_named_volume_bounded_by_tmpfs_driver_opts(tmp_path: Path) -> None:
    extra = """\
    volumes:
      data:
        driver_opts: {type: tmpfs, device: tmpfs, o: "size=100m,uid=1000"}
      ext:
        external: true
    """
    silent(tmp_path, "DW232", "volumes:\n  - data:/data\n", extra)
    [spec] = load_project([service_file(tmp_path, "volumes: [data:/d, ext:/e, anon:/a]\n",
                                        extra)], env={})
    data, ext, anon = spec.mounts
    assert (data.type, data.size_limit) == ("volume", "size=100m")
    assert isinstance(ext.size_limit, Unknown)
    assert anon.size_limit is None


# ------------------------------------------------------------------- conversion


def test_service_semantics_match_a_live_container(tmp_path: Path) -> None:
    [spec] = load_project([service_file(tmp_path, "image: a:1\n")], env={})
    assert spec.network_mode == "" and spec.networks == ("default",)
    assert spec.pids_limit is None and spec.healthcheck is None and spec.user == ""
    assert spec.target == spec.target.__class__(TargetKind.COMPOSE, spec.target.ref,
                                                 service="app")
    assert spec.target.ref.endswith("compose.yaml")


def test_fields(tmp_path: Path) -> None:
    body = """\
    image: app:1
    mem_limit: 1.5g
    cpus: "1.5"
    cpu_quota: 50000
    cpuset: "0-1"
    ports:
      - "127.0.0.1:8080:80/udp"
      - "9000-9002:9000-9002"
      - "[::1]:5000:5000"
      - 22:22
      - target: 443
        published: "8443"
        host_ip: 10.0.0.1
        protocol: tcp
    restart: "on-failure:3"
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: 3}
    ulimits: {nofile: {soft: 1, hard: 2}}
    devices: ["/dev/fuse"]
    tmpfs: ["/run:size=64m"]
    environment: [A=1, B, "C=x=y"]
    labels: {com.example: "yes"}
    storage_opt: {size: 2G}
    healthcheck: {test: "curl -f localhost"}
    """
    [s] = load_project([service_file(tmp_path, body)], env={})
    assert s.memory == int(1.5 * 2**30) and s.nano_cpus == 1_500_000_000
    assert (s.cpu_quota, s.cpuset_cpus) == (50000, "0-1")
    assert [(p.container_port, p.host_ip, p.host_port, p.count) for p in s.ports] == [
        ("80/udp", "127.0.0.1", 8080, 1), ("9000/tcp", "", 9000, 3),  # a range: one binding
        ("5000/tcp", "::1", 5000, 1), ("22/tcp", "", 22, 1), ("443/tcp", "10.0.0.1", 8443, 1)]
    assert (s.restart_policy, s.restart_max_retries) == ("on-failure", 3)
    assert s.log_driver == "json-file" and s.log_options == {"max-size": "10m", "max-file": "3"}
    assert s.ulimits == ("nofile=1:2",) and s.devices == ("/dev/fuse",)
    assert [(m.type, m.destination) for m in s.mounts] == [("tmpfs", "/run")]
    assert s.env == (("A", "1"), ("B", ""), ("C", "x=y"))
    assert s.labels == {"com.example": "yes"} and s.storage_opt == {"size": "2G"}
    assert s.healthcheck == ("CMD-SHELL", "curl -f localhost")
    assert s.lines["ports"] == 8 and s.lines["restart_policy"] == 17
    assert s.lines["log_driver"] == 19 and s.lines["log_options"] == 20


@pytest.mark.parametrize(("text", "size"), [
    ("512m", 512 << 20), ("1g", 1 << 30), ("1GB", 1 << 30), ("100k", 100 << 10),
    (1048576, 1048576), ("2048", 2048), ("bogus", 0), (None, 0)])
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_build_without_image_and_env_file_are_noted(tmp_path: Path) -> None:
    path = service_file(tmp_path, "build: .\nenv_file: .env.app\n")
    project = load([path], env={})
    assert project.specs[0].image == ""
    assert any("build" in n for n in project.notes)
    assert any("env_file" in n for n in project.notes)


def test_legacy_version_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: "3.8"
        services:
          web:
            image: nginx:1
            privileged: yes
        """)
    [spec] = load_project([path], env={})
    # YAML 1.2 reads `yes` as a string, which Compose then casts to a boolean (true)
    assert spec.name == "web" and spec.privileged is True


def test_no_services(tmp_path: Path) -> None:
    path = write(tmp_path, "version: '2'\n")
    with pytest.raises(InputError, match=r"compose.yaml:1: invalid compose file: no `services`"):
        load_project([path], env={})


# ----------------------------------------------------------------- interpolation


def test_interpolation(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        services:
          app:
            image: "${REPO}/app:${TAG:-1.0}"
            user: $APP_USER
            environment:
              A: "${EMPTY-dash}"
              B: "${EMPTY:-colon}"
              C: "$${NOT_A_VAR} costs $$5"
              D: "${UNSET:-${NESTED:-deep}}"
              E: "${REPO:+set}"
        """)
    [spec] = load_project([path], env={"REPO": "reg", "APP_USER": "1000", "EMPTY": ""})
    assert spec.image == "reg/app:1.0" and spec.user == "1000"
    assert dict(spec.env) == {"A": "", "B": "colon", "C": "${NOT_A_VAR} costs $5",
                              "D": "deep", "E": "set"}


def test_dotenv_beside_first_file_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('# comment\nTAG=2.0\nexport USERID="1001"\nIMG=x\n')
    path = write(tmp_path, "services:\n  app:\n    image: ${IMG}:${TAG}\n    user: ${USERID}\n")
    [spec] = load_project([path], env={"IMG": "nginx"})
    assert spec.image == "nginx:2.0" and spec.user == "1001"


def test_unset_variable_is_blank_and_noted(tmp_path: Path) -> None:
    project = load([write(tmp_path, "services:\n  app:\n    image: ${NOPE}img:1\n")], env={})
    assert project.specs[0].image == "img:1"
    assert any("NOPE" in n for n in project.notes)


@pytest.mark.parametrize("ref", ["${DB_PASS:?set DB_PASS first}", "${DB_PASS?set DB_PASS first}"])
def test_required_variable(tmp_path: Path, ref: str) -> None:
    path = write(tmp_path, f"services:\n  app:\n    image: a:1\n    environment: [\"P={ref}\"]\n")
    with pytest.raises(InputError, match="set DB_PASS first") as err:
        load_project([path], env={})
    assert path in err.value.message and "\n" not in err.value.message
    load_project([path], env={"DB_PASS": "x"})


def test_colon_question_rejects_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: ${I:?need I}\n")
    with pytest.raises(InputError, match="need I"):
        load_project([path], env={"I": ""})
    path = write(tmp_path, "services:\n  app:\n    image: ${I?need I}\n")
    assert load_project([path], env={"I": ""})[0].image == ""


def test_bad_interpolation_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="interpolation"):
        load_project([write(tmp_path, "services:\n  app:\n    image: ${OOPS\n")], env={})


# --------------------------------------------------------- extends, profiles, merge


def test_extends_same_file_and_other_file(tmp_path: Path) -> None:
    write(tmp_path, """\
        services:
          base:
            image: base:1
            cap_add: [NET_ADMIN]
            environment: {A: "1"}
        """, "common.yaml")
    path = write(tmp_path, """\
        services:
          tmpl:
            privileged: true
            pids_limit: 10
          web:
            extends: tmpl
            pids_limit: 20
          api:
            extends:
              file: common.yaml
              service: base
            environment: {B: "2"}
        """)
    specs = {s.name: s for s in load_project([path], env={})}
    web, api = specs["web"], specs["api"]
    assert web.privileged and web.pids_limit == 20
    assert web.lines["privileged"] == 3  # from the base service in the same file
    assert web.lines["pids_limit"] == 7
    assert api.image == "base:1" and api.cap_add == ("NET_ADMIN",)
    assert dict(api.env) == {"A": "1", "B": "2"}
    assert api.lines["cap_add"] == 8  # set in common.yaml: the service's own line


def test_circular_extends(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    with pytest.raises(InputError, match="circular"):
        load_project([path], env={})


def test_profiles(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        services:
          app: {image: a:1}
          debug: {image: d:1, profiles: [debug]}
          tools: {image: t:1, profiles: [tools, debug]}
        """)
    names = lambda **kw: sorted(s.name for s in load_project([path], **kw))  # noqa: E731
    assert names(env={}) == ["app"]
    assert names(env={}, profiles=["tools"]) == ["app", "tools"]
    assert names(env={}, profiles=["debug"]) == ["app", "debug", "tools"]
    assert names(env={}, profiles=["*"]) == ["app", "debug", "tools"]
    assert names(env={"COMPOSE_PROFILES": "tools"}) == ["app", "tools"]


def test_merge_like_compose_dash_f(tmp_path: Path) -> None:
    a = write(tmp_path, """\
        services:
          web:
            image: web:1
            cap_add: [CHOWN]
            volumes: ["./a:/data", "logs:/logs"]
            environment: [A=1, B=1]
            ports: ["8080:80"]
            privileged: true
            command: [run, a]
          db:
            image: db:1
        """, "a.yaml")
    b = write(tmp_path, """\
        services:
          web:
            image: web:2
            cap_add: [SYS_ADMIN]
            volumes: ["/srv:/data:ro"]
            environment: {B: "2"}
            ports: ["8080:80", "127.0.0.1:9090:90"]
        """, "b.yaml")
    specs = {s.name: s for s in load_project([a, b], env={})}
    web, db = specs["web"], specs["db"]
    assert web.image == "web:2" and web.privileged
    assert web.cap_add == ("CHOWN", "SYS_ADMIN")
    assert sorted((m.source, m.destination, m.read_only) for m in web.mounts) == [
        ("/srv", "/data", True), ("logs", "/logs", False)]
    assert dict(web.env) == {"A": "1", "B": "2"}
    assert len(web.ports) == 2
    # target.ref is the last file defining the service; lines from that file only.
    assert web.target.ref == b and db.target.ref == a
    assert web.lines["image"] == 3 and web.lines["cap_add"] == 4
    assert web.lines["privileged"] == 2  # set in a.yaml: the service's line in b.yaml
    res = check_spec(web)
    assert {f.target.line for f in res.findings if f.check == "DW209"} == {4}


def test_reset_and_override_tags(tmp_path: Path) -> None:
    a = write(tmp_path, "services:\n  web:\n    image: w:1\n    ports: ['80:80']\n"
              "    cap_add: [CHOWN]\n", "a.yaml")
    b = write(tmp_path, "services:\n  web:\n    ports: !reset []\n"
              "    cap_add: !override [KILL]\n", "b.yaml")
    [web] = load_project([a, b], env={})
    assert web.ports == () and web.cap_add == ("KILL",)


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        x-common: &common
          restart: always
          privileged: true
        services:
          one:
            <<: *common
            image: one:1
          two:
            <<: *common
            image: two:1
            restart: "no"
        """)
    one, two = load_project([path], env={})
    assert (one.restart_policy, two.restart_policy) == ("always", "no")
    assert one.privileged and two.privileged
    assert one.lines["privileged"] == 3  # the anchored key it came from
    assert (one.lines["restart_policy"], two.lines["restart_policy"]) == (2, 11)


# ------------------------------------------------------------------ real corpus


def test_real_compose_files_load_and_lint() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"compose corpus not present at {CORPUS}")
    files = find_compose_files(str(CORPUS))
    assert len(files) == 39
    total = 0
    for path in files:
        specs = load_project([path], env={})
        assert specs, path
        for spec in specs:
            res = check_spec(spec)
            assert not res.errors, (path, res.errors)
            assert all(f.target.line for f in res.findings), path
            total += 1
    assert total >= 39


def test_find_compose_files(tmp_path: Path) -> None:
    for rel in ["compose.yaml", "a/docker-compose.yml", "b/prod.compose.yml",
                "b/docker-compose.override.yaml", ".git/compose.yaml",
                "node_modules/x/compose.yml", "c/notes.yaml", "c/Compose.YML"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("services: {}\n")
    found = [os.path.relpath(p, tmp_path) for p in find_compose_files(str(tmp_path))]
    assert found == sorted(["compose.yaml", "a/docker-compose.yml", "b/prod.compose.yml",
                            "b/docker-compose.override.yaml", "c/Compose.YML"])


# ------------------------------------------------------------------------ safety

BILLION_LAUGHS = "\n".join(
    [f'l0: &l0 ["{"lol" * 3}"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
) + "\nservices: {app: {image: *l9}}\n"


def test_billion_laughs_refused_fast(tmp_path: Path) -> None:
    path = write(tmp_path, BILLION_LAUGHS)
    start = time.perf_counter()
    with pytest.raises(InputError, match="billion laughs") as err:
        load_project([path], env={})
    assert time.perf_counter() - start < 1.0
    assert err.value.message.startswith(path) and err.value.exit_code == 2


def test_many_aliases_refused(tmp_path: Path) -> None:
    text = "x: &x 1\nlist:\n" + "".join("  - *x\n" for _ in range(5000))
    with pytest.raises(InputError, match="aliases"):
        load_project([write(tmp_path, text)], env={})


def test_recursive_alias_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="recursive"):
        load_project([write(tmp_path, "a: &a [*a]\n")], env={})


def test_huge_file_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    with open(path, "wb") as fh:
        fh.write(b"services: {}\n# " + b"x" * MAX_FILE_BYTES + b"\n")
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"too large|larger than"):
        load_project([str(path)], env={})
    assert time.perf_counter() - start < 0.5


def test_binary_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_bytes(b"services:\n\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        load_project([str(path)], env={})


@pytest.mark.parametrize("text", [
    "services:\n  a: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "services: !!python/name:os.system\n",
    "x: !!python/object:builtins.object {}\n",
])
def test_hostile_tags_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="constructor") as err:
        load_project([write(tmp_path, text)], env={})
    assert "\n" not in err.value.message


@pytest.mark.parametrize(("text", "match"), [
    ("", "top level must be a mapping"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("services: [a, b]\n", ":1: invalid compose file: services: must be a mapping"),
    ("services:\n  app: nginx\n", ":2: invalid compose file: services.app: must be a mapping"),
    ("services:\n  app: {image: [\n", "invalid YAML"),
])
def test_malformed_files(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=match) as err:
        load_project([path], env={})
    assert err.value.message.startswith(path) and "\n" not in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_project([str(tmp_path / "nope.yaml")], env={})


def test_fixture_files_load() -> None:
    files = find_compose_files(str(DATA))
    assert files, DATA
    for path in files:
        assert load_project([path], env={})


def test_fixtures_bad_and_good() -> None:
    [bad] = load_project([str(DATA / "bad.compose.yaml")], env={})
    found = {f.check for f in check_spec(bad).findings}
    assert {"DW201", "DW202", "DW203", "DW204", "DW205", "DW206", "DW207", "DW208", "DW209",
            "DW210", "DW211", "DW212", "DW221", "DW222", "DW223", "DW226", "DW229", "DW230",
            "DW233", "DW235", "DW236"} <= found
    [good] = load_project([str(DATA / "good.compose.yaml")], env={})
    # DW234 (info) holds for any networked container: Docker has no bandwidth control.
    assert [f.check for f in check_spec(good).findings] == ["DW234"]


@pytest.mark.parametrize("body", [
    "ports: {a: b}\n", "ports: [[1]]\n", "ports: ['a:b:c:d']\n", "cap_add: 5\n",
    "healthcheck: 5\n", "healthcheck: {test: 5}\n", "deploy: 5\n",
    "deploy: {resources: {limits: {memory: [1], pids: x, cpus: y}}}\n",
    "ulimits: {nofile: [1]}\n", "volumes: [{}]\n", "volumes: [{type: bind}]\n",
    "volumes: ['C:\\\\data:/data']\n", "logging: {options: [a]}\n", "environment: 5\n",
    "profiles: x\n", "restart: 5\n", "mem_limit: [1]\n", "networks: 5\n", "sysctls: x\n",
    "user: 1000\n", "image: 2001-12-14\n", "devices: [{}]\n", "tmpfs: 5\n",
    "ports: ['65000-65535:80-90']\n", "labels: [a, b=]\n", "storage_opt: 3\n",
])
def test_odd_values_never_crash(tmp_path: Path, body: str) -> None:
    """A value of the wrong type is a schema error with its line (as `docker compose`
    refuses it); any other value is judged without a check crashing."""
    try:
        res = results_for(tmp_path, body)
    except InputError as exc:
        assert ":3: invalid compose file: services.app." in exc.message, exc.message
        assert "\n" not in exc.message
        return
    assert not res.errors


# ------------------------------------------------------------- compose-level risks

DIND = """\
services:
  dind:
    image: docker:27-dind
    privileged: true
    ports:
      - "2375:2375"
    environment:
      DOCKER_TLS_CERTDIR: ""
  dind-tls:
    image: docker:27-dind
    ports:
      - target: 2376
        published: 2376
        host_ip: 127.0.0.1
  proxy:
    image: tecnativa/docker-socket-proxy:0.3
    ports: ["127.0.0.1:2370-2380:2370-2380"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
  ci:
    image: gitlab/gitlab-runner:v17.5.0
    volumes:
      - type: bind
        source: /run/docker.sock
        target: /var/run/docker.sock
    environment:
      - CI_SERVER_TOKEN=glrt-Zx8vQ2mN4pL7rT1yW9kB
      - DOCKER_HOST=tcp://dind:2375
"""


def test_compose_level_risks_engine_port_socket_and_inline_secret(tmp_path: Path) -> None:
    """The three compose-level risks of issue 5 (Engine API port published, docker.sock
    mounted, secrets inline in `environment:`), each with its severity and item's line."""
    specs = load_project([write(tmp_path, DIND)], env={})
    got = {(f.target.service, f.check): (f.severity.value, f.target.line)
           for s in specs for f in check_spec(s).findings
           if f.check in ("DW208", "DW233", "DW237")}
    assert got == {
        ("dind", "DW237"): ("critical", 6),  # each at its item's line
        ("dind-tls", "DW237"): ("medium", 12),
        ("proxy", "DW237"): ("high", 17),  # 2375 inside the range, on loopback
        ("proxy", "DW208"): ("critical", 19),
        ("ci", "DW208"): ("critical", 23),
        ("ci", "DW233"): ("high", 27),
    }
    proxy = next(s for s in specs if s.name.endswith("proxy"))
    [hit] = [f for f in check_spec(proxy).findings if f.check == "DW237"]
    assert hit.evidence["bindings"] == ["127.0.0.1:2375->2375/tcp (plain HTTP)",
                                        "127.0.0.1:2376->2376/tcp (TLS)"]
    # the secret's value is never shown whole
    [secret] = [f for s in specs for f in check_spec(s).findings if f.check == "DW233"]
    assert "Zx8vQ2mN4pL7rT1yW9kB" not in str(secret.evidence)


# --- DW220 on a service built from a local Dockerfile: the model's USER walk -------------------


def _built_service(tmp_path: Path, dockerfile: str, build: str = "./app") -> tuple[
        ContainerSpec, tuple[str, ...]]:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "Dockerfile").write_text(dockerfile)
    project = load_project([service_file(tmp_path, f"build: {build}\n")], env={})
    [spec] = project
    return spec, project.warnings


def _dw220(spec: ContainerSpec) -> list[Any]:
    return [f for f in check_spec(spec).findings if f.check == "DW220"]


def test_dw220_built_dockerfile_ending_in_user_app(tmp_path: Path) -> None:
    spec, _ = _built_service(tmp_path, "FROM python:3.12-slim\nRUN useradd app\nUSER app\n")
    assert spec.image_user == "app" and spec.image_user_from.endswith("Dockerfile:3")
    assert _dw220(spec) == []


def test_dw220_final_stage_inherits_user_from_an_earlier_stage(tmp_path: Path) -> None:
    text = ("FROM debian:12 AS base\nRUN useradd app\nUSER app\n"
            "FROM golang:1.22 AS build\nUSER root\nRUN go build\n"
            "FROM base\nCOPY --from=build /out /out\n")
    spec, _ = _built_service(tmp_path, text)
    assert spec.image_user == "app" and spec.image_user_from.endswith("Dockerfile:3")
    assert _dw220(spec) == []


def test_dw220_agrees_with_dw501_on_every_shape(tmp_path: Path) -> None:
    """compose asks the model's `user_of`, as DW501 does: the same USER each time."""
    from dockwarden.collect.dockerfile import parse_text

    for text in ("FROM a:1\nUSER app\n", "FROM a:1 AS b\nUSER 1000\nFROM b\nRUN true\n",
                 "FROM a:1 AS b\nUSER app\nFROM b\nUSER root\n", "FROM a:1\nRUN true\n",
                 "FROM a:1 AS b\nUSER app\nFROM c:1\n"):
        spec, _ = _built_service(tmp_path, text)
        found = parse_text("Dockerfile", text).final_user()
        if found is None:
            assert isinstance(spec.image_user, Unknown), text
        else:
            assert spec.image_user == found[1].args[0], text
            assert spec.image_user_from.endswith(f"Dockerfile:{found[1].line}"), text


def test_dw220_bare_user_is_unknown_not_root(tmp_path: Path) -> None:
    # `docker build` rejects `USER` without an argument ("USER requires exactly one
    # argument"): the image's user is unknown, neither root nor an earlier USER
    spec, warnings = _built_service(tmp_path, "FROM debian:12\nUSER app\nUSER\n")
    assert isinstance(spec.image_user, Unknown)
    assert "USER without an argument" in spec.image_user.reason
    assert any("Dockerfile:3: USER without an argument" in w for w in warnings)
    [hit] = _dw220(spec)
    assert hit.severity is Severity.LOW and hit.evidence["user"] == "unknown"
