"""Compose equivalence on the real Engine (issue 5): a compose file, the containers
docker-compose creates on the Engine from that file, and the equivalent `docker run`
lines produce the same DW2xx ids (and severities) for every service.

docker-compose is Debian's 1.29.2 (`apt-get install docker-compose`; `scripts/test`
installs it). The project name is unique to the run (`dwtest-cmp-<run id>`) and every
container, network and volume carries the run's test labels; teardown runs
`docker-compose down -v` for the project, then removes whatever still carries this
module's labels, and nothing else. All services are created with `up --no-start`, then
all but `privileged` are started (privileged containers cannot start on these VMs; their
inspect data is the same). The image is the local `dwtest/busybox:1` (nothing is pulled).

The three reports come from the command line: `dockwarden compose FILE`, `dockwarden
containers NAME... --host URL` and `dockwarden run-command LINE...`.

Excluded from the comparison, because they are not decidable from all three sources:

- DW211, DW212 (AppArmor / SELinux confinement disabled): whether that weakens anything
  depends on the host's security modules, which neither a file nor a command line shows.
  The Engine also records `label=disable` for privileged and host-namespace containers,
  which no file says: on this host (neither module) the live view skips both; the
  run-command view adds `label=disable` for `--privileged` as the Engine does and, the
  host being unknown, fails DW212; the compose view does not.
- DW225 (sshd running): only a running container has processes; files skip it.
- DW231 (exec sessions): exist only on a live Engine; files skip it.

Compared, because the test pins what they depend on:

- DW213 and DW218 depend on the daemon's defaults (no-new-privileges, log options), which
  files assume are Docker's: compared only while `dockwarden daemon` reports DW112 and
  DW111 for this Engine (it keeps Docker's defaults), dropped otherwise.
- DW220 and DW227 depend on the image's USER and HEALTHCHECK, which a file does not show:
  `dwtest/busybox:1` has neither, so all three views agree (the compose and run-command
  views read the image's configured user from the local Engine, as the live one has it).
- DW228: compose attaches services to `<project>_default` (a user-defined bridge), so
  the equivalent `docker run` lines say `--network <project>_default`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from conftest import RUN_ID, test_labels
from harness import images

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("docker-compose") is None,
                       reason="docker-compose not on PATH (apt-get install docker-compose)"),
]

PROJECT = f"dwtest-cmp-{RUN_ID}"
CASE = {"dockwarden.case": "compose-equivalence"}
IMAGE = images.BUSYBOX_TAG
SECRET = "s3cr3t-Value-Never-Printed-42"
NOT_DECIDABLE = {
    "DW211": "AppArmor on the host",
    "DW212": "SELinux on the host",
    "DW225": "processes of a running container",
    "DW231": "exec sessions on a live Engine",
}
DAEMON_DEFAULTS = {"DW213": "DW112", "DW218": "DW111"}  # container id -> daemon id


def _low_loopback_port() -> int:
    """A free loopback port below 1024 (DW223), found by binding it."""
    for port in range(1023, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free loopback port below 1024")


def compose_text(low_port: int) -> str:
    labels = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in test_labels(**CASE).items())
    return f"""\
x-labels: &labels
{labels}
services:
  privileged:
    image: {IMAGE}
    labels: *labels
    privileged: true
  host-access:
    image: {IMAGE}
    labels: *labels
    cap_add: [SYS_ADMIN, NET_ADMIN]
    pid: host
    network_mode: host
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
  hardened:
    image: {IMAGE}
    labels: *labels
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    pids_limit: 100
    mem_limit: 64m
    cpus: 0.5
    restart: on-failure:3
    logging:
      driver: json-file
      options: {{max-size: 1m}}
    healthcheck:
      test: [CMD, "true"]
      interval: 30s
    networks: [back]
  web:
    image: {IMAGE}
    labels: *labels
    ports:
      - "127.0.0.1:{low_port}:80"
      - "8080"
      - "2375"
      - "127.0.0.1::2376"
      - target: 9000
        protocol: tcp
  scratch:
    image: {IMAGE}
    labels: *labels
    tmpfs:
      - /tmp:size=64m
    volumes:
      - data:/data
      - /etc/localtime:/etc/localtime:ro
    ulimits:
      nofile: {{soft: 1024, hard: 2048}}
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "0"
    environment:
      DB_PASSWORD: "{SECRET}"
    restart: always
    security_opt: ["seccomp:unconfined"]
    ipc: host
    devices: ["/dev/zero:/dev/zero"]
networks:
  default:
    labels: *labels
  back:
    labels: *labels
volumes:
  data:
    labels: *labels
"""


def run_lines(low_port: int) -> list[str]:
    """The `docker run` line of each service, as docker-compose would create it."""
    net = f"--network {PROJECT}_default"
    return [
        f"docker run -d --name privileged {net} --privileged {IMAGE}",
        "docker run -d --name host-access --cap-add SYS_ADMIN --cap-add NET_ADMIN --pid host"
        f" --network host -v /var/run/docker.sock:/var/run/docker.sock:ro {IMAGE}",
        "docker run -d --name hardened --user 1000:1000 --read-only --cap-drop ALL"
        " --security-opt no-new-privileges:true --pids-limit 100 --memory 64m --cpus 0.5"
        " --restart on-failure:3 --log-driver json-file --log-opt max-size=1m"
        f" --health-cmd true --health-interval 30s --network {PROJECT}_back {IMAGE}",
        f"docker run -d --name web {net} -p 127.0.0.1:{low_port}:80 -p 8080 -p 2375"
        f" -p 127.0.0.1::2376 -p 9000 {IMAGE}",
        f"docker run -d --name scratch {net} --tmpfs /tmp:size=64m -v {PROJECT}_data:/data"
        " -v /etc/localtime:/etc/localtime:ro --ulimit nofile=1024:2048"
        " --sysctl net.ipv4.ip_unprivileged_port_start=0"
        f" -e DB_PASSWORD={SECRET} --restart always --security-opt seccomp:unconfined"
        f" --ipc host --device /dev/zero:/dev/zero {IMAGE}",
    ]


# Ids each service must show in every view (so that agreement is not agreement on nothing).
MUST = {
    "privileged": {"DW201"},
    "host-access": {"DW202", "DW204", "DW208", "DW209"},
    "hardened": {"DW234"},
    "web": {"DW223", "DW224", "DW237"},
    "scratch": {"DW203", "DW210", "DW221", "DW226", "DW230", "DW232", "DW233"},
}


def _compose(engine_url: str, compose_file: Path, *args: str) -> None:
    env = {**os.environ, "DOCKER_HOST": engine_url}
    proc = subprocess.run(["docker-compose", "-p", PROJECT, "-f", str(compose_file), *args],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, f"docker-compose {' '.join(args)}: {proc.stderr[-2000:]}"


def _dockwarden(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "dockwarden", *args, "--format", "json",
                           "--fail-on", "none"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: dict[str, Any] = json.loads(proc.stdout)
    out["_raw"] = proc.stdout
    return out


@pytest.fixture(scope="module")
def views(api: Any, busybox: str, engine_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The three reports, keyed by view, plus the project's containers."""
    low_port = _low_loopback_port()
    compose_file = tmp_path_factory.mktemp("compose-live") / "compose.yaml"
    compose_file.write_text(compose_text(low_port))
    try:
        _compose(engine_url, compose_file, "up", "--no-start")
        _compose(engine_url, compose_file, "start", *(s for s in MUST if s != "privileged"))
        made = api.containers(all=True, filters={"label": [
            f"com.docker.compose.project={PROJECT}", f"dockwarden.run={RUN_ID}"]})
        names = {c["Labels"]["com.docker.compose.service"]: c["Names"][0].lstrip("/")
                 for c in made}
        assert set(names) == set(MUST), names
        daemon = _dockwarden("daemon", "--host", engine_url, "--check", "DW111,DW112")
        yield {
            "compose": _dockwarden("compose", str(compose_file)),
            "engine": _dockwarden("containers", *names.values(), "--host", engine_url,
                                  "--no-progress"),
            "run-command": _dockwarden("run-command", *run_lines(low_port)),
            "names": names,
            "daemon_ids": {f["check"] for f in daemon["findings"]},
            "compose_file": compose_file,
        }
    finally:
        subprocess.run(["docker-compose", "-p", PROJECT, "-f", str(compose_file), "down", "-v",
                        "--remove-orphans"], capture_output=True, timeout=300, check=False,
                       env={**os.environ, "DOCKER_HOST": engine_url})
        images.cleanup(api, **{"dockwarden.run": RUN_ID}, **CASE)


def _by_service(views: dict[str, Any], view: str) -> dict[str, set[tuple[str, str]]]:
    """Service -> {(check, severity)} of the DW2xx findings of one view."""
    service_of = {name: svc for svc, name in views["names"].items()}
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in views[view]["findings"]:
        if not f["check"].startswith("DW2"):
            continue
        target = f["target"]
        service = (target.get("service") if view == "compose"
                   else service_of.get(target["ref"], target["ref"]))
        out[service].add((f["check"], f["severity"]))
    return out


def _excluded(views: dict[str, Any]) -> set[str]:
    dropped = {cid for cid, did in DAEMON_DEFAULTS.items() if did not in views["daemon_ids"]}
    return set(NOT_DECIDABLE) | dropped


def test_every_view_audited_every_service_without_errors(views: dict[str, Any]) -> None:
    for view in ("compose", "engine", "run-command"):
        report = views[view]
        assert report["errors"] == [], (view, report["errors"])
        assert set(_by_service(views, view)) == set(MUST), view


def test_this_engine_keeps_dockers_defaults(views: dict[str, Any]) -> None:
    """Not an assertion about dockwarden: says which DAEMON_DEFAULTS ids were compared."""
    if not {"DW111", "DW112"} <= views["daemon_ids"]:
        pytest.skip(f"daemon defaults changed here: {sorted(views['daemon_ids'])}; "
                    "DW213/DW218 left out of the comparison")


@pytest.mark.parametrize("service", sorted(MUST))
def test_same_dw2xx_ids_from_compose_engine_and_run_command(views: dict[str, Any],
                                                            service: str) -> None:
    excluded = _excluded(views)
    got = {view: {(c, s) for c, s in _by_service(views, view)[service] if c not in excluded}
           for view in ("compose", "engine", "run-command")}
    assert got["compose"] == got["engine"], (
        f"compose only {sorted(got['compose'] - got['engine'])}, "
        f"engine only {sorted(got['engine'] - got['compose'])}")
    assert got["run-command"] == got["engine"], (
        f"run-command only {sorted(got['run-command'] - got['engine'])}, "
        f"engine only {sorted(got['engine'] - got['run-command'])}")
    assert MUST[service] <= {c for c, _ in got["engine"]}


def test_engine_api_port_on_all_interfaces_is_critical_in_every_view(
        views: dict[str, Any]) -> None:
    for view in ("compose", "engine", "run-command"):
        assert ("DW237", "critical") in _by_service(views, view)["web"], view


def test_only_the_undecidable_checks_differ(views: dict[str, Any]) -> None:
    """The exclusion list is not wider than it must be: every other DW2xx id agrees, and
    what differs is among NOT_DECIDABLE (or skipped there)."""
    differ = set()
    for service in MUST:
        per_view = [{c for c, _ in _by_service(views, v)[service]}
                    for v in ("compose", "engine", "run-command")]
        differ |= (per_view[0] | per_view[1] | per_view[2]) - (
            per_view[0] & per_view[1] & per_view[2])
    assert differ <= _excluded(views), sorted(differ)


def test_compose_findings_carry_file_lines(views: dict[str, Any]) -> None:
    lines = views["compose_file"].read_text().splitlines()
    for f in views["compose"]["findings"]:
        line = f.get("line")
        assert line, f
        svc = f["target"]["service"]
        block = next(i for i, text in enumerate(lines, 1) if text == f"  {svc}:")
        assert line >= block, (f["check"], svc, line)
    [port] = [f for f in views["compose"]["findings"] if f["check"] == "DW237"]
    assert lines[port["line"] - 1].strip() == '- "2375"'  # the item's own line


def test_secret_never_printed(views: dict[str, Any]) -> None:
    for view in ("compose", "engine", "run-command"):
        assert SECRET not in views[view]["_raw"], view
