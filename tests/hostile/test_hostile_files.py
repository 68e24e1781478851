"""Hostile Dockerfiles, compose files and `docker run` lines (issue 11, defects 4, 8, 10
and 11): symlinks out of the scanned directory, FIFOs, values of the wrong type, deep
interpolation, port ranges and inputs that were quadratic. Each runs dockwarden in a
child process under a memory limit and a generous hang-guard timeout."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from dockwarden.collect.compose import find_compose_files, load_project
from dockwarden.collect.dockerfile import parse_dockerfile
from dockwarden.errors import InputError
from hostile.conftest import assert_no_raw_controls, run_dockwarden

MARKER = "dw11-marker-7f3a9c"
# The Go runtime of the `dockerfile` parser reserves over 1 GiB of address space when it
# loads (not memory it uses), so runs that parse a Dockerfile get a larger RLIMIT_AS.
GO_MIB = 2048


def _one_line_error(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, err  # the message, and at most a hint
    assert_no_raw_controls(err)


# ---------------------------------------------------------------- symlinks (defect 4)


def test_dockerfile_symlink_out_of_repo_never_echoes_the_target(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(f"root:{MARKER}:19000:0:99999:7:::\n")
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "Dockerfile").write_text("FROM alpine:3.20\nUSER nobody\n")
    (repo / "sub" / "Dockerfile").symlink_to(secret)
    for args in (["dockerfile", str(repo)], ["dockerfile", str(repo), "--format", "json"]):
        run = run_dockwarden(args, timeout=60, memory_mib=GO_MIB)
        assert MARKER not in run.out and MARKER not in run.err
    with pytest.raises(InputError, match="leaves"):
        parse_dockerfile(str(repo / "sub" / "Dockerfile"), root=str(repo))


def test_not_a_dockerfile_is_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(f"root:{MARKER}:19000:0:99999:7:::\n")
    run = run_dockwarden(["dockerfile", str(path), "--format", "json"], timeout=60,
                         memory_mib=GO_MIB)
    assert run.code == 2
    assert MARKER not in run.out and MARKER not in run.err
    _one_line_error(run.err)


def test_compose_symlink_out_of_the_scanned_directory_is_skipped(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(f"services:\n  {MARKER}:\n    image: a\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "compose.yaml").write_text("services:\n  web:\n    image: nginx:1\n")
    (repo / "docker-compose.yml").symlink_to(secret)
    skipped: list[tuple[str, str]] = []
    assert find_compose_files(str(repo), skipped) == [str(repo / "compose.yaml")]
    assert [p for p, _ in skipped] == [str(repo / "docker-compose.yml")]
    run = run_dockwarden(["compose", str(repo), "--format", "json"], timeout=60)
    assert MARKER not in run.out and MARKER not in run.err
    with pytest.raises(InputError, match="leaves"):
        load_project([str(repo / "docker-compose.yml")], env={}, root=str(repo))


def test_dotenv_symlink_out_of_root_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text(f"X={MARKER}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "compose.yaml").write_text("services:\n  web:\n    image: a\n"
                                       "    environment: [TOKEN=${X}]\n")
    (repo / ".env").symlink_to(secret)
    with pytest.raises(InputError, match="leaves") as info:
        load_project([str(repo / "compose.yaml")], env={}, root=str(repo))
    assert MARKER not in info.value.message


# ------------------------------------------------------------------- FIFOs (defect 4)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _unblock_later(path: Path) -> threading.Timer:
    """If dockwarden opened the FIFO blocking, open its other end after the guard so the
    test fails on the assertion rather than leaving a child stuck for ever."""
    def opener() -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
    timer = threading.Timer(50, opener)
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.parametrize("where", ["compose", "extends", "env_file", "dotenv"])
def test_fifo_in_compose_inputs_is_a_clear_error(tmp_path: Path, where: str) -> None:
    compose = tmp_path / "compose.yaml"
    if where == "compose":
        fifo = _fifo(compose)
    else:
        fifo = _fifo(tmp_path / {"extends": "base.yaml", "env_file": "app.env",
                                 "dotenv": ".env"}[where])
        body = "services:\n  web:\n    image: a:1\n"
        if where == "extends":
            body += "    extends: {file: base.yaml, service: web}\n"
        elif where == "env_file":
            body += "    env_file: app.env\n"
        compose.write_text(body)
    timer = _unblock_later(fifo)
    try:
        run = run_dockwarden(["compose", str(compose)], timeout=60, memory_mib=1024)
    finally:
        timer.cancel()
    assert run.code == 2, run
    assert "FIFO" in run.err or "regular file" in run.err
    _one_line_error(run.err)


def test_fifo_dockerfile_is_a_clear_error(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "Dockerfile")
    timer = _unblock_later(fifo)
    try:
        with pytest.raises(InputError, match=r"FIFO|regular file"):
            parse_dockerfile(str(fifo))
    finally:
        timer.cancel()


# ------------------------------------------------------ tracebacks (defect 8, compose)


def _compose(tmp_path: Path, body: str) -> str:
    path = tmp_path / "compose.yaml"
    path.write_text(body)
    return str(path)


def test_compose_cpus_1e400_never_crashes(tmp_path: Path) -> None:
    path = _compose(tmp_path, "services:\n  web:\n    image: a:1\n    cpus: 1e400\n"
                    "    mem_limit: 1e400\n"
                    "    deploy: {resources: {limits: {cpus: '1e400', memory: 9e999g}}}\n")
    run = run_dockwarden(["compose", path, "--format", "json"], timeout=60)
    assert run.code in (0, 1)
    json.loads(run.out)


def test_compose_interpolation_nested_3000_deep(tmp_path: Path) -> None:
    for tail in ("", "}" * 3000):
        path = _compose(tmp_path, "services:\n  web:\n    image: a:1\n    environment:\n"
                        "      X: \"" + "${A:-" * 3000 + "x" + tail + "\"\n")
        run = run_dockwarden(["compose", path], timeout=60)
        assert run.code == 2
        assert "interpolation" in run.err
        _one_line_error(run.err)
        assert len(run.err) < 600


WRONG_TYPES = [
    "services: 5\n", "services: {web: 5}\n", "services: {web: {image: [1]}}\n",
    "services:\n  web:\n    ports: 5\n", "services:\n  web:\n    ports: [{target: [1]}]\n",
    "services:\n  web:\n    volumes: {a: 1}\n", "services:\n  web:\n    environment: [[1]]\n",
    "services:\n  web:\n    logging: {driver: [1], options: 5}\n",
    "services:\n  web:\n    extends: 5\n", "services:\n  web:\n    extends: {service: [1]}\n",
    "services:\n  web:\n    profiles: {a: 1}\n", "services:\n  web:\n    networks: [[1]]\n",
    "services:\n  web:\n    env_file: [5, {path: 7}]\n", "volumes: 5\nservices: {}\n",
    "services:\n  web:\n    ulimits: {nofile: {soft: [1]}}\n",
    "services:\n  web:\n    healthcheck: {test: {a: 1}}\n",
    "services:\n  web:\n    restart: {a: 1}\n", "services:\n  web:\n    pids_limit: 1e400\n",
    "x: " + "[" * 5000 + "]" * 5000 + "\nservices: {}\n",
]


@pytest.mark.parametrize("body", WRONG_TYPES, ids=[str(i) for i in range(len(WRONG_TYPES))])
def test_compose_wrong_types_end_in_a_result_or_one_line(tmp_path: Path, body: str) -> None:
    run = run_dockwarden(["compose", _compose(tmp_path, body)], timeout=60)
    assert run.code in (0, 1, 2)
    if run.code == 2:
        _one_line_error(run.err)


# ------------------------------------------------------ memory amplification (defect 10)


def test_run_command_port_ranges_stay_ranges() -> None:
    line = "docker run " + " ".join(["-p 1-65535:1-65535"] * 200) + " busybox"
    run = run_dockwarden(["run-command", line, "--format", "json"], timeout=120,
                         memory_mib=512)
    assert run.code in (0, 1)
    json.loads(run.out)


def test_compose_port_ranges_stay_ranges(tmp_path: Path) -> None:
    ports = "".join(f"      - \"{i % 60000 + 1}-65535:{i % 60000 + 1}-65535\"\n"
                    for i in range(7000))
    path = _compose(tmp_path, "services:\n  web:\n    image: a:1\n    ports:\n" + ports)
    assert os.path.getsize(path) > 200_000
    run = run_dockwarden(["compose", path, "--format", "json"], timeout=120, memory_mib=512)
    assert run.code in (0, 1)
    json.loads(run.out)


# ------------------------------------------------------------ quadratic work (defect 11)


def test_long_continuation_lines_end(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo a \\\n" + "  && x y \\\n" * 240_000
                    + "  && done\n")
    assert path.stat().st_size > 2_400_000
    run = run_dockwarden(["dockerfile", str(path)], timeout=120, memory_mib=GO_MIB)
    assert run.code == 2
    assert "continu" in run.err
    _one_line_error(run.err)


def test_twenty_thousand_stages_end(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20 AS s0\n" + "".join(
        f"FROM s{i} AS s{i + 1}\nCOPY --from=s{i} /a /b\n" for i in range(20_000)))
    run = run_dockwarden(["dockerfile", str(path), "--format", "json"], timeout=300,
                         memory_mib=GO_MIB)
    assert run.code in (0, 1)
    json.loads(run.out)
