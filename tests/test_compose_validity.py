"""Compose validity and completeness (issue 16): the Compose Specification's schema with
file and line, string booleans cast as Compose does, env_file variables judged at their
own lines, warnings in the report, per-item lines in every format, DW233's reference
values, and DW220 from a local Dockerfile's USER."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockwarden.checks import Scope, Selection, run
from dockwarden.checks.registry import checks_for
from dockwarden.collect.compose import find_compose_files, load_project
from dockwarden.errors import InputError
from dockwarden.model.common import Severity
from dockwarden.model.container import ContainerContext, ContainerSpec
from dockwarden.model.finding import Finding

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "compose"
CHECKS = checks_for(Scope.CONTAINER, Selection())
SECRET = "Qz7mW2xR9pL4vN8k"


def write(where: Path, text: str, name: str = "compose.yaml") -> str:
    path = where / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def findings(spec: ContainerSpec, check_id: str) -> list[Finding]:
    res = run(CHECKS, (spec, ContainerContext()), spec.target, spec.source, dict(spec.lines))
    assert not res.errors, res.errors
    return [f for f in res.findings if f.check == check_id]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockwarden", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd)


# ----------------------------------------------------------------------- the schema

INVALID = {
    "no-services": ("version: '3.8'\nvolumes:\n  data: {}\n", 1, "no `services`"),
    "typo": ("services:\n  app:\n    image: a:1\n    enviroment:\n      A: b\n", 4,
             "services.app: unknown key 'enviroment'"),
    "ports-80": ("services:\n  app:\n    image: a:1\n    ports: 80\n", 4,
                 "services.app.ports: must be a list"),
    "yes-please": ("services:\n  app:\n    image: a:1\n    privileged: yes please\n", 4,
                   "services.app.privileged: must be a boolean"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_compose_is_an_error_with_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, message = INVALID[case]
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_project([path], env={})
    assert err.value.message.startswith(f"{path}:{line}: invalid compose file: {message}")
    proc = cli("compose", path)
    assert proc.returncode == 2, proc
    assert f"{path}:{line}: invalid compose file: {message}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_schema_error_never_echoes_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, f"services:\n  app:\n    image: a:1\n    user: [{SECRET}]\n")
    with pytest.raises(InputError, match=r":4: invalid compose file: services.app.user: "
                       r"must be a string") as err:
        load_project([path], env={})
    assert SECRET not in err.value.message


def test_an_invalid_project_among_several_is_an_error_entry(tmp_path: Path) -> None:
    bad = write(tmp_path, INVALID["typo"][0], "bad/compose.yaml")
    good = write(tmp_path, "services:\n  web:\n    image: a:1\n    privileged: true\n",
                 "good/compose.yaml")
    proc = cli("compose", bad, good, "--format", "json")
    report = json.loads(proc.stdout)
    assert [e["target"] for e in report["errors"]] == [bad]
    assert "4: invalid compose file: services.app: unknown key" in report["errors"][0]["message"]
    assert any(f["check"] == "DW201" and f["target"]["ref"] == good
               for f in report["findings"])


def test_the_shared_corpus_is_valid() -> None:
    files = find_compose_files(str(CORPUS)) if CORPUS.is_dir() else []
    if not files:
        pytest.skip("the shared compose corpus is not here")
    assert len(files) == 39
    for path in files:
        load_project([path], env={})  # each one is valid for `docker compose config`


def test_current_compose_keys_are_accepted(tmp_path: Path) -> None:
    """Keys the Compose Specification added after the shipped schema."""
    (tmp_path / "a.env").write_text("A=1\n")
    path = write(tmp_path, """\
        name: demo
        services:
          app:
            image: a:1
            uts: host
            env_file: [{path: a.env, required: true}, {path: b.env, required: false}]
            ports: [{target: 80, published: "8080", host_ip: 127.0.0.1}]
            devices: [{source: /dev/kvm, target: /dev/kvm, permissions: rwm}]
            depends_on: {db: {condition: service_healthy, restart: true}}
            deploy: {resources: {limits: {pids: 100, memory: 64m}}}
            environment: {DEBUG: true}
          db:
            image: b:1
        """)
    specs = load_project([path], env={})
    assert [s.name for s in specs] == ["app", "db"] and specs[0].pids_limit == 100


@pytest.mark.parametrize(("value", "env"), [
    ('"true"', {}), ("'yes'", {}), ("${PRIV:-true}", {}), ("${PRIV}", {"PRIV": "on"}),
    ("True", {}),
])
def test_string_booleans_are_cast_as_compose_does(tmp_path: Path, value: str,
                                                   env: dict[str, str]) -> None:
    path = write(tmp_path, f"services:\n  app:\n    image: a:1\n    privileged: {value}\n"
                 "    read_only: 'false'\n")
    [spec] = load_project([path], env=env)
    assert spec.privileged is True and spec.read_only_rootfs is False
    [hit] = findings(spec, "DW201")
    assert hit.target.line == 4


def test_string_false_is_false(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: a:1\n    privileged: ${P:-no}\n")
    [spec] = load_project([path], env={})
    assert spec.privileged is False and not findings(spec, "DW201")


# ------------------------------------------------------------------------- env_file


def test_env_file_secret_found_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "db.env").write_text(
        f"# database\nMYSQL_DATABASE=app\n\nMYSQL_ROOT_PASSWORD={SECRET}\n")
    path = write(tmp_path, "services:\n  db:\n    image: mysql:8.4\n"
                 "    env_file: conf/db.env\n")
    project = load_project([path], env={})
    [env_spec] = project.env_specs
    assert env_spec.target.ref == str(tmp_path / "conf" / "db.env")
    [hit] = findings(env_spec, "DW233")
    assert hit.target.line == 4 and hit.evidence["variable"] == "MYSQL_ROOT_PASSWORD"
    assert SECRET not in str(hit.evidence)
    proc = cli("compose", path, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "DW233"]
    assert finding["target"]["ref"] == str(tmp_path / "conf" / "db.env")
    assert finding["line"] == 4 and finding["target"]["service"] == "db"


def test_env_file_relative_to_the_file_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  base:\n    image: a:1\n    env_file: base.env\n",
          "lib/base.yaml")
    (tmp_path / "lib" / "base.env").write_text(f"API_TOKEN={SECRET}\n")
    path = write(tmp_path, "services:\n  app:\n    extends: {file: lib/base.yaml, "
                 "service: base}\n")
    [env_spec] = load_project([path], env={}).env_specs
    assert env_spec.target.ref == str(tmp_path / "lib" / "base.env")


def test_missing_env_file_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: a:1\n"
                 "    env_file: [missing.env, {path: optional.env, required: false}]\n")
    project = load_project([path], env={})
    assert [w for w in project.warnings if "env_file" in w] == [
        f"{path}: service app: env_file {tmp_path / 'missing.env'} not found: its "
        "variables are not checked"]
    report = json.loads(cli("compose", path, "--format", "json").stdout)
    assert [(w["target"], "missing.env" in w["message"]) for w in report["warnings"]] == [
        (path, True)]
    text = " ".join(cli("compose", path).stdout.split())
    assert "warning" in text and "service app: env_file" in text
    assert "missing.env not found" in text
    assert "optional.env" not in text


# ------------------------------------------------------------------ per-item lines


ITEMS = """\
services:
  app:
    image: a:1
    environment:
      LOG_LEVEL: info
      DB_PASSWORD: hunter2hunter2
      AIRFLOW__API__AUTH_BACKEND: 'airflow.api.auth.backend.default'
    volumes:
      - /etc:/etc
      - /var/run/docker.sock:/var/run/docker.sock
      - /root:/root:ro
      - type: bind
        source: /usr
        target: /usr
      - /home:/home
    ports:
      - "127.0.0.1:8080:80"
      - "443:443"
    cap_add:
      - NET_BIND_SERVICE
      - SYS_ADMIN
    devices:
      - /dev/sda:/dev/sda
  list:
    image: a:1
    environment:
      - A=1
      - API_TOKEN=hunter2hunter2
"""


def test_each_item_at_its_own_line(tmp_path: Path) -> None:
    app, lst = load_project([write(tmp_path, ITEMS)], env={})
    [secret] = findings(app, "DW233")  # the module path is not a secret
    assert (secret.evidence["variable"], secret.target.line) == ("DB_PASSWORD", 6)
    mounts = {f.evidence["source"]: f.target.line for f in findings(app, "DW207")}
    assert mounts == {"/etc": 9, "/root": 11, "/usr": 12, "/home": 15}
    assert [f.target.line for f in findings(app, "DW208")] == [10]
    assert [f.target.line for f in findings(app, "DW223")] == [18]
    assert [f.target.line for f in findings(app, "DW224")] == [18]
    assert [f.target.line for f in findings(app, "DW209")] == [21]
    assert [f.target.line for f in findings(app, "DW221")] == [23]
    [token] = findings(lst, "DW233")
    assert token.target.line == 28


def test_item_lines_in_json_and_sarif(tmp_path: Path) -> None:
    path = write(tmp_path, ITEMS)
    report = json.loads(cli("compose", path, "--format", "json").stdout)
    got = sorted((f["check"], f["line"]) for f in report["findings"]
                 if f["check"] in ("DW207", "DW233"))
    assert got == [("DW207", 9), ("DW207", 11), ("DW207", 12), ("DW207", 15),
                   ("DW233", 6), ("DW233", 28)]
    sarif = json.loads(cli("compose", path, "--format", "sarif").stdout)
    regions = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
                     for r in sarif["runs"][0]["results"] if r["ruleId"] in ("DW207", "DW233"))
    assert regions == got


def test_items_from_another_file_fall_back_to_the_key(tmp_path: Path) -> None:
    base = write(tmp_path, "services:\n  app:\n    image: a:1\n    volumes:\n"
                 "      - /etc:/etc\n", "a.yaml")
    over = write(tmp_path, "services:\n  app:\n    volumes:\n      - /data:/data\n"
                 "      - /root:/root\n", "b.yaml")
    [spec] = load_project([base, over], env={})
    lines = {f.evidence["source"]: f.target.line for f in findings(spec, "DW207")}
    assert lines == {"/etc": 3, "/root": 5}  # /etc's item is in a.yaml: the service's line


# ------------------------------------------------------------------ DW233 references


@pytest.mark.parametrize(("name", "value"), [
    ("AIRFLOW__API__AUTH_BACKEND", "airflow.api.auth.backend.default"),
    ("AIRFLOW__API__AUTH_BACKENDS", "airflow.api.auth.backend.session"),
    ("SECRET_KEY_CLASS", "SecretKeyAuthenticator"),
    ("TOKEN_STORE_MODULE", "app.tokens:Store"),
    ("SECRET_KEY_PATH", "conf/secret.key"),
    ("PASSWORD_FILE", "secrets/password.txt"),
    ("VAULT_TOKEN_URL", "https://vault.example.com/v1/token"),
])
def test_dw233_silent_on_references(tmp_path: Path, name: str, value: str) -> None:
    path = write(tmp_path, f"services:\n  app:\n    image: a:1\n    environment:\n"
                 f"      {name}: '{value}'\n")
    [spec] = load_project([path], env={})
    assert not findings(spec, "DW233")


@pytest.mark.parametrize(("name", "value"), [
    ("DATABASE_URL", "postgres://app:hunter2hunter2@db:5432/app"),
    ("LDAP_BACKEND_URL", "ldap://admin:hunter2hunter2@ldap:389"),
    ("AUTH_BACKEND", "hunter2hunter2!"),  # not a module path
    ("DB_PASSWORD", "airflow.api.auth"),  # the name says it is the secret itself
])
def test_dw233_still_fires(tmp_path: Path, name: str, value: str) -> None:
    path = write(tmp_path, f"services:\n  app:\n    image: a:1\n    environment:\n"
                 f"      {name}: '{value}'\n")
    [spec] = load_project([path], env={})
    [hit] = findings(spec, "DW233")
    assert hit.target.line == 5 and value not in str(hit.evidence)


# ---------------------------------------------------------- DW220 from a Dockerfile


def _built(tmp_path: Path, dockerfile: str, build: str = "./app") -> ContainerSpec:
    write(tmp_path, dockerfile, "app/Dockerfile")
    [spec] = load_project([write(tmp_path, f"services:\n  app:\n    build: {build}\n")],
                          env={})
    return spec


def test_dw220_silent_for_a_dockerfile_ending_in_user_app(tmp_path: Path) -> None:
    spec = _built(tmp_path, "FROM python:3.12-slim\nRUN useradd app\nUSER app\n")
    assert spec.image_user == "app"
    assert not findings(spec, "DW220")


def test_dw220_only_the_final_stage_counts(tmp_path: Path) -> None:
    spec = _built(tmp_path, "FROM golang:1.22 AS build\nUSER nobody\nRUN go build\n"
                  "FROM debian:12\nUSER root\n")
    [hit] = findings(spec, "DW220")
    assert hit.severity is Severity.MEDIUM and hit.evidence["Config.User"] == "root"


def test_dw220_follows_a_stage_and_a_build_target(tmp_path: Path) -> None:
    df = ("FROM debian:12 AS base\nUSER app\nFROM base AS final\nRUN true\n"
          "FROM base AS dev\nUSER 0\n")
    assert not findings(_built(tmp_path, df, "{context: ./app, target: final}"), "DW220")
    assert findings(_built(tmp_path, df, "{context: ./app, target: dev}"), "DW220")


def test_dw220_unknown_base_user_is_low(tmp_path: Path) -> None:
    spec = _built(tmp_path, "FROM grafana/grafana:11.1.0\nCOPY x /x\n")
    [hit] = findings(spec, "DW220")
    assert hit.severity is Severity.LOW
    assert hit.evidence["inherited_from"] == "grafana/grafana:11.1.0"


def test_dw220_explicit_user_wins(tmp_path: Path) -> None:
    write(tmp_path, "FROM debian:12\nUSER app\n", "app/Dockerfile")
    [spec] = load_project([write(tmp_path, "services:\n  app:\n    build: ./app\n"
                                 "    user: root\n")], env={})
    assert findings(spec, "DW220")


def test_missing_dockerfile_is_a_warning(tmp_path: Path) -> None:
    project = load_project([write(tmp_path, "services:\n  app:\n    build: ./nope\n")],
                           env={})
    assert any("not there" in w for w in project.warnings)

