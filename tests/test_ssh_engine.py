"""ssh:// Engines through the system ssh client and `docker system dial-stdio`, against an
sshd this test starts on 127.0.0.1 (its own port, host key, authorised key and config)
in front of the Engine of this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import test_labels
from harness.daemons import free_port
from harness.images import busybox_image

pytestmark = [pytest.mark.live, pytest.mark.slow]

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH = shutil.which("ssh")


@dataclass
class Sshd:
    port: int
    home: Path  # holds the keys, configs and the `ssh` wrapper (first on PATH)
    bin: Path

    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def env(self, config: str = "ssh_config") -> dict[str, str]:
        """The environment of a dockwarden run whose `ssh` uses `config` (a wrapper
        first on PATH: the client reads ~/.ssh of the passwd entry, not $HOME)."""
        wrapper = self.bin / "ssh"
        wrapper.write_text(f"#!/bin/sh\nexec {SSH} -F {self.home / config} \"$@\"\n")
        wrapper.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["PATH"] = f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}"
        return env


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)


def _client_config(sshd: Sshd, name: str, key: Path, known: Path) -> None:
    (sshd.home / name).write_text(
        "Host 127.0.0.1\n"
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  PasswordAuthentication no\n"
        "  ConnectTimeout 10\n  LogLevel ERROR\n")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if SSH is None or not os.path.exists(SSHD):
        pytest.skip("openssh-server / openssh-client not installed (scripts/test installs them)")
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI here to run `docker system dial-stdio`")
    home = tmp_path_factory.mktemp("sshd")
    home.chmod(0o700)
    bin_dir = home / "bin"
    bin_dir.mkdir()
    port = free_port()
    for name in ("host_key", "client_key", "other_key", "other_host_key"):
        _keygen(home / name)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\n"
        "UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nStrictModes no\nLogLevel ERROR\n")
    host_pub = (home / "host_key.pub").read_text().split()
    other_pub = (home / "other_host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (home / "wrong_known_hosts").write_text(
        f"[127.0.0.1]:{port} {other_pub[0]} {other_pub[1]}\n")
    (home / "empty_known_hosts").write_text("")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation
    log = open(home / "sshd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
                            stdout=log, stderr=subprocess.STDOUT)
    sshd = Sshd(port, home, bin_dir)
    _client_config(sshd, "ssh_config", home / "client_key", home / "known_hosts")
    _client_config(sshd, "wrong_key", home / "other_key", home / "known_hosts")
    _client_config(sshd, "unknown_host", home / "client_key", home / "empty_known_hosts")
    _client_config(sshd, "changed_host", home / "client_key", home / "wrong_known_hosts")
    try:
        deadline = time.monotonic() + 20
        while True:
            probe = subprocess.run(["ssh", "127.0.0.1", "-p", str(port), "-l", "root", "true"],
                                   env=sshd.env(), capture_output=True, timeout=30)
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"sshd did not start: {probe.stderr!r} "
                            f"{(home / 'sshd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield sshd
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _run(args: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "dockwarden", *args, "--format", "json",
                           "--no-progress", "--fail-on", "none"],
                          capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, report, proc.stderr


@pytest.fixture(scope="module")
def container(sshd: Sshd) -> Iterator[str]:
    import docker

    client = docker.from_env()
    image = busybox_image(client.api)
    name = f"dw-ssh-{os.getpid()}"
    c = client.containers.run(image, ["sleep", "600"], name=name, detach=True,
                              labels=test_labels(), pid_mode="host",
                              volumes={"/etc": {"bind": "/host-etc", "mode": "ro"}},
                              network_mode="none")
    try:
        yield name
    finally:
        c.remove(force=True)


def _container_findings(report: dict[str, Any]) -> list[str]:
    return sorted(json.dumps({k: v for k, v in f.items() if k != "evidence"}
                             | {"evidence": {k: v for k, v in f["evidence"].items()
                                             if k != "engine"}}, sort_keys=True)
                  for f in report["findings"] if f["target"]["kind"] == "container")


def test_ssh_same_container_findings_as_unix(sshd: Sshd, container: str) -> None:
    env = sshd.env()
    # --no-local: local facts (daemon.json's no-new-privileges...) are out of ssh's reach
    code_unix, unix, err_unix = _run(["containers", "-H", "unix:///var/run/docker.sock",
                                      "--no-images", "--no-local", container], env)
    code_ssh, ssh, err_ssh = _run(["containers", "-H", sshd.url(), "--no-images",
                                   container], env)
    assert code_unix == 0, err_unix
    assert code_ssh == 0, err_ssh
    assert ssh["targets"] == [{"kind": "engine", "ref": sshd.url(), "complete": True}]
    got = _container_findings(ssh)
    assert got, "the host-PID container has findings"
    assert got == _container_findings(unix)
    _, with_local, _ = _run(["containers", "--no-images", container], env)
    assert {(f["check"], f["target"]["ref"]) for f in with_local["findings"]} == \
        {(f["check"], f["target"]["ref"]) for f in ssh["findings"]}
    assert {f["check"] for f in ssh["findings"]} >= {"DW202"}


def test_ssh_local_facts_skipped_with_reason(sshd: Sshd, container: str) -> None:
    code, rep, err = _run(["daemon", "-H", sshd.url()], sshd.env())
    assert code == 0, err
    reasons = {s["reason"] for s in rep["skipped"]}
    assert any("remote Engine" in r and sshd.url() in r for r in reasons), reasons


def test_ssh_images_in_use_read_over_ssh(sshd: Sshd, container: str) -> None:
    code, rep, err = _run(["containers", "-H", sshd.url(), container, "--skip", "DW309,DW310"],
                          sshd.env())
    assert code == 0, err
    assert any(t["kind"] == "image" for t in rep["targets"]), rep["targets"]
    assert rep["complete"] is True


@pytest.mark.parametrize(("config", "words"), [
    ("wrong_key", "authentication failed"),
    ("unknown_host", "host key"),
    ("changed_host", "host key"),
])
def test_ssh_refused_one_line_reason(sshd: Sshd, config: str, words: str) -> None:
    code, _, err = _run(["containers", "-H", sshd.url(), "--no-images"], sshd.env(config))
    assert code == 3, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert f"cannot reach the Docker Engine at {sshd.url()}: " in lines[0], err
    assert words in lines[0], err
    assert "Traceback" not in err
    assert len(lines) <= 2, err  # the reason, and the hint


def test_ssh_not_installed(sshd: Sshd, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PATH"] = str(tmp_path)  # no ssh there
    proc = subprocess.run([sys.executable, "-m", "dockwarden", "containers", "-H", sshd.url(),
                           "--no-images", "--format", "json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "ssh not installed" in proc.stderr.splitlines()[0]


def test_ssh_docker_missing_remotely(sshd: Sshd) -> None:
    """A remote whose PATH has no docker: the remote shell's "not found" becomes the
    reason (sshd runs the command through root's shell; `env PATH=` drops docker)."""
    env = sshd.env()
    wrapper = sshd.bin / "ssh"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# replace `docker` with a command the remote does not have\n"
        "args=''\nfor a; do\n  if [ \"$a\" = docker ]; then a=dockerr-missing; fi\n"
        "  args=\"$args '$a'\"\ndone\n"
        f"eval exec {SSH} -F {sshd.home / 'ssh_config'} $args\n")
    code, _, err = _run(["containers", "-H", sshd.url(), "--no-images"], env)
    assert code == 3, err
    assert "not installed on the remote host" in err.splitlines()[0], err


def test_ssh_deadline_kills_the_process(sshd: Sshd, tmp_path: Path) -> None:
    """An ssh that never answers (the remote command sleeps) ends within --timeout, its
    process killed: exit 3 with the deadline named."""
    env = sshd.env()
    (sshd.bin / "ssh").write_text("#!/bin/sh\nexec sleep 600\n")
    start = time.monotonic()
    code, _, err = _run(["containers", "-H", sshd.url(), "--no-images", "--timeout", "2"],
                        env)
    assert code == 3, err
    assert time.monotonic() - start < 60  # a hang guard, not a timing assertion
    assert "Traceback" not in err


# -- the connection pool, with a stand-in `ssh` that dials this machine's Engine ----------
def _fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A fake `ssh` first on PATH that logs each dial (one line) and runs `body`."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI here to run `docker system dial-stdio`")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "dials.log"
    script = bin_dir / "ssh"
    script.write_text(f"#!/bin/sh\necho dial >> {log}\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    return log


def _dials(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_ssh_pool_opens_its_spare_on_the_second_request(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """The second connection of the pool is dialled when the second request comes (its
    handshake then overlaps the run's other requests), not before the host answered,
    and never more than the pool's size; shutdown ends every ssh process."""
    from concurrent.futures import ThreadPoolExecutor

    from dockwarden.collect.sshdial import SSHGetter

    log = _fake_ssh(tmp_path, monkeypatch,
                    "exec docker -H unix:///var/run/docker.sock system dial-stdio")
    getter = SSHGetter("ssh://root@127.0.0.1:1", None, 60.0, connections=2)
    try:
        assert getter.get("/version")[0] == 200
        assert _dials(log) == 1
        assert getter.get("/version")[0] == 200
        assert _dials(log) == 2
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda _: getter.get("/version")[0], range(20)))
        assert statuses == [200] * 20
        assert _dials(log) == 2
        procs = [c.proc for c in getter._all if c.proc is not None]
        assert len(procs) == 2
    finally:
        getter.shutdown()
    for proc in procs:
        assert proc.wait(timeout=10) is not None


def test_ssh_refused_host_is_dialled_once(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that refuses the login sees one attempt per run: no spare connection
    before an answer, and a new connection that failed is not retried (only a kept-alive
    one that went stale is)."""
    from dockwarden.collect.sshdial import SSHGetter
    from dockwarden.collect.unixhttp import EngineGone

    log = _fake_ssh(tmp_path, monkeypatch,
                    "echo 'root@127.0.0.1: Permission denied (publickey).' >&2\nexit 255")
    getter = SSHGetter("ssh://root@127.0.0.1:1", None, 60.0, connections=2)
    try:
        with pytest.raises(EngineGone, match="authentication failed"):
            getter.get("/version")
    finally:
        getter.shutdown()
    assert _dials(log) == 1


def test_ssh_spare_that_failed_to_dial_is_dialled_again(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A spare connection whose dial failed (here: the second dial is closed by the
    "remote", as sshd's MaxStartups does) costs one more dial, not the request: the
    Engine has answered on the first connection already."""
    from dockwarden.collect.sshdial import SSHGetter

    log = tmp_path / "dials.log"
    _fake_ssh(tmp_path, monkeypatch,
              f"if [ \"$(wc -l < {log})\" -eq 2 ]; then\n"
              "  echo 'kex_exchange_identification: Connection closed by remote host' >&2\n"
              "  exit 255\nfi\n"
              "exec docker -H unix:///var/run/docker.sock system dial-stdio")
    getter = SSHGetter("ssh://root@127.0.0.1:1", None, 60.0, connections=2)
    try:
        assert getter.get("/version")[0] == 200
        assert getter.get("/version")[0] == 200  # starts the spare (the second dial)
        assert _dials(log) == 2
        warm = getter._borrow()  # hold the first connection: the next request takes the spare
        try:
            assert getter.get("/version")[0] == 200
        finally:
            getter._give_back(warm, True)
        assert _dials(log) == 3
    finally:
        getter.shutdown()


def test_ssh_no_new_process_after_shutdown(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Once shut down (the run's end, or a fleet Engine's deadline) the pool dials no
    more: a request then fails at once, and one waiting for a connection is woken and
    fails too, so no ssh process outlives the getter."""
    import threading

    from dockwarden.collect.sshdial import SSHGetter
    from dockwarden.collect.unixhttp import EngineGone

    log = _fake_ssh(tmp_path, monkeypatch,
                    "exec docker -H unix:///var/run/docker.sock system dial-stdio")
    getter = SSHGetter("ssh://root@127.0.0.1:1", None, 60.0, connections=1)
    assert getter.get("/version")[0] == 200
    held = getter._borrow()  # the pool's one connection: the next request must wait
    waited: list[BaseException] = []

    def wait() -> None:
        try:
            getter.get("/version")
        except EngineGone as exc:
            waited.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    getter.shutdown()
    waiter.join(timeout=30)
    assert not waiter.is_alive() and len(waited) == 1
    getter._give_back(held, True)  # given back after the shutdown: its ssh is ended
    assert held is not None and held.proc is None
    with pytest.raises(EngineGone, match="closed"):
        getter.get("/version")
    assert _dials(log) == 1
