# ruff: noqa: E501  (one-line rule tests in hadolint style: a rule per line reads best)
"""DW501-DW513 and the Dockerfile collector: one-line rule tests in hadolint's style
(`fires(id, dockerfile, line=N)` / `silent(id, dockerfile)`), every check's own
examples, hostile inputs, and the 565 real Dockerfiles of shared/data."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import dockwarden.checks.dockerfile as dfchecks
from dockwarden.checks.registry import REGISTRY, Results, Scope, Selection, checks_for, run
from dockwarden.collect.dockerfile import parse_dockerfile, parse_shell
from dockwarden.errors import InputError
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.dockerfile import DockerfileSnapshot
from dockwarden.model.finding import Finding, Target

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dockerfiles"
DW5 = sorted(k for k in REGISTRY if k.startswith("DW5"))


def parse(tmp_path: Path, text: str | bytes) -> DockerfileSnapshot:
    path = tmp_path / "Dockerfile"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return parse_dockerfile(str(path))


def lint(df: DockerfileSnapshot, ids: list[str]) -> Results:
    checks = [REGISTRY[i] for i in ids]
    return run(checks, (df,), Target(TargetKind.DOCKERFILE, df.path), Source.DOCKERFILE,
               lines=dfchecks.line_map(df))


def findings(tmp_path: Path, check_id: str, text: str) -> list[Finding]:
    res = lint(parse(tmp_path, text), [check_id])
    assert not res.errors, res.errors
    return res.findings


def fires(tmp_path: Path, check_id: str, text: str, line: int | None = None,
          severity: Severity | None = None, **evidence: Any) -> Finding:
    found = findings(tmp_path, check_id, text)
    assert found, f"{check_id} silent on:\n{text}"
    f = found[0]
    assert f.target.line == f.evidence["line"]
    if line is not None:
        assert f.target.line == line
    if severity is not None:
        assert f.severity is severity
    for key, value in evidence.items():
        assert f.evidence[key] == value
    return f


def silent(tmp_path: Path, check_id: str, text: str) -> None:
    found = findings(tmp_path, check_id, text)
    assert not found, f"{check_id} fired: {[f.evidence for f in found]}"


@pytest.fixture
def t(tmp_path: Path) -> Any:
    class Helpers:
        def fires(self, *a: Any, **k: Any) -> Finding:
            return fires(tmp_path, *a, **k)

        def silent(self, *a: Any) -> None:
            silent(tmp_path, *a)

    return Helpers()


# --- every check's own examples ----------------------------------------------------------

def test_nineteen_checks_registered() -> None:
    assert [f"DW5{n:02d}" for n in range(1, 20)] == DW5
    assert [c.meta.id for c in checks_for(Scope.DOCKERFILE, Selection())] == DW5


@pytest.mark.parametrize("check_id", DW5)
def test_own_examples(t: Any, check_id: str) -> None:
    meta = REGISTRY[check_id].meta
    assert meta.bad and meta.good and meta.rationale and meta.remediation
    for bad in meta.bad:
        t.fires(check_id, bad)
    for good in meta.good:
        t.silent(check_id, good)


# --- DW501 root -------------------------------------------------------------------------

def test_dw501_no_user_fires_at_from(t: Any) -> None: t.fires("DW501", "FROM debian:12\nRUN true\n", line=1)
def test_dw501_root_user(t: Any) -> None: t.fires("DW501", "FROM debian:12\nUSER app\nUSER root\n", line=3)
def test_dw501_uid_zero(t: Any) -> None: t.fires("DW501", "FROM debian:12\nUSER 0:0\n", line=2)
def test_dw501_user_set(t: Any) -> None: t.silent("DW501", "FROM debian:12\nUSER 10001:10001\n")
def test_dw501_only_final_stage(t: Any) -> None: t.silent("DW501", "FROM golang:1.23 AS b\nUSER root\nFROM debian:12\nUSER app\n")
def test_dw501_final_stage_root(t: Any) -> None: t.fires("DW501", "FROM golang:1.23 AS b\nUSER app\nFROM debian:12\n", line=3, stage="1")
def test_dw501_inherits_from_stage(t: Any) -> None: t.silent("DW501", "FROM debian:12 AS base\nUSER app\nFROM base\nRUN true\n")


# --- DW502 base pin ---------------------------------------------------------------------

def test_dw502_no_tag(t: Any) -> None: t.fires("DW502", "FROM debian\n", line=1, image="debian")
def test_dw502_latest(t: Any) -> None: t.fires("DW502", "FROM debian:12 AS a\nFROM node:latest\n", line=2, stage="1")
def test_dw502_registry_port(t: Any) -> None: t.fires("DW502", "FROM registry:5000/team/app\n", line=1)
def test_dw502_tag(t: Any) -> None: t.silent("DW502", "FROM registry:5000/team/app:1.2\n")
def test_dw502_digest(t: Any) -> None: t.silent("DW502", "FROM debian@sha256:" + "0" * 64 + "\n")
def test_dw502_scratch(t: Any) -> None: t.silent("DW502", "FROM scratch\n")
def test_dw502_stage_ref(t: Any) -> None: t.silent("DW502", "FROM debian:12 AS Build\nFROM build\n")
def test_dw502_arg_default(t: Any) -> None: t.fires("DW502", "ARG BASE=debian\nFROM ${BASE}\n", line=2, image="debian")
def test_dw502_arg_default_tag(t: Any) -> None: t.silent("DW502", "ARG V=12\nFROM debian:${V}\n")
def test_dw502_arg_no_default(t: Any) -> None: t.silent("DW502", "ARG BASE\nFROM $BASE\n")
def test_dw502_from_index_is_an_image(t: Any) -> None: t.fires("DW502", "FROM debian:12\nFROM 0\n", line=2, image="0")
def test_dw501_from_index_is_not_a_stage(t: Any) -> None: t.fires("DW501", "FROM debian:12\nUSER 1000\nFROM 0\n", line=3)


# --- DW503 / DW504 ADD -------------------------------------------------------------------

def test_dw503_add_dir(t: Any) -> None: t.fires("DW503", "FROM debian:12\nADD . /app\n", line=2)
def test_dw503_tar_exempt(t: Any) -> None: t.silent("DW503", "FROM scratch\nADD rootfs.tar.xz /\n")
def test_dw503_url_not_local(t: Any) -> None: t.silent("DW503", "FROM debian:12\nADD https://x.example/a /a\n")
def test_dw503_json_form(t: Any) -> None: t.fires("DW503", 'FROM debian:12\nADD ["a b", "/app/"]\n', line=2)
def test_dw503_heredoc(t: Any) -> None: t.silent("DW503", "FROM debian:12\nADD <<EOF /x\nhi\nEOF\n")
def test_dw504_url(t: Any) -> None: t.fires("DW504", "FROM debian:12\nADD http://x.example/a.sh /a\n", line=2)
def test_dw504_git(t: Any) -> None: t.fires("DW504", "FROM debian:12\nADD git@github.com:a/b.git /src\n", line=2)
def test_dw504_checksum_low(t: Any) -> None: t.fires("DW504", "FROM debian:12\nADD --checksum=sha256:" + "a" * 64 + " https://x.example/a /a\n", severity=Severity.LOW)
def test_dw504_local(t: Any) -> None: t.silent("DW504", "FROM debian:12\nADD a /a\n")


# --- DW505 secrets in ENV/ARG ------------------------------------------------------------

def test_dw505_env_value(t: Any) -> None: t.fires("DW505", "FROM debian:12\nENV TOKEN=ghp_" + "a1B2" * 9 + "\n", line=2, severity=Severity.HIGH)
def test_dw505_env_legacy(t: Any) -> None: t.fires("DW505", "FROM debian:12\nENV DB_PASSWORD hunter2hunter2\n", line=2)
def test_dw505_env_quoted(t: Any) -> None: t.fires("DW505", 'FROM debian:12\nENV A=1 API_KEY="zx81Qw99plM"\n', name="API_KEY")
def test_dw505_redacted(t: Any) -> None:
    f = t.fires("DW505", "FROM debian:12\nENV DB_PASSWORD=hunter2hunter2\n")
    assert "hunter2hunter2" not in repr(f.evidence)
def test_dw505_arg_default(t: Any) -> None: t.fires("DW505", "FROM debian:12\nARG API_TOKEN=zx81Qw99plMk\n", severity=Severity.HIGH)
def test_dw505_arg_no_default_medium(t: Any) -> None: t.fires("DW505", "FROM debian:12\nARG GITHUB_TOKEN\n", line=2, severity=Severity.MEDIUM)
def test_dw505_global_arg(t: Any) -> None: t.fires("DW505", "ARG NPM_TOKEN\nFROM node:22\n", line=1)
def test_dw505_env_from_arg(t: Any) -> None: t.fires("DW505", "FROM debian:12\nARG X\nENV DB_PASSWORD=${X}\n", line=3, severity=Severity.MEDIUM)
def test_dw505_placeholder_env(t: Any) -> None: t.silent("DW505", "FROM debian:12\nENV DB_PASSWORD=changeme\n")
def test_dw505_file_var(t: Any) -> None: t.silent("DW505", "FROM debian:12\nENV DB_PASSWORD_FILE=/run/secrets/db\nARG TOKEN_PATH\n")


# --- DW506 package caches ----------------------------------------------------------------

def test_dw506_update_alone(t: Any) -> None: t.fires("DW506", "FROM debian:12\nRUN apt-get update\nRUN apt-get install -y x && rm -rf /var/lib/apt/lists/*\n", line=2)
def test_dw506_no_cleanup(t: Any) -> None: t.fires("DW506", "FROM debian:12\nRUN apt-get update \\\n && apt-get install -y x\n", line=2)
def test_dw506_cleanup_continued(t: Any) -> None: t.silent("DW506", "FROM debian:12\nRUN apt-get update \\\n && apt-get install -y x \\\n && rm -rf /var/lib/apt/lists/*\n")
def test_dw506_cache_mount(t: Any) -> None: t.silent("DW506", "FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt apt-get update && apt-get install -y x\n")
def test_dw506_apk(t: Any) -> None: t.fires("DW506", "FROM alpine:3.20\nRUN apk update && apk add x\n", line=2)
def test_dw506_yum(t: Any) -> None: t.fires("DW506", "FROM rockylinux:9\nRUN yum install -y x\n", line=2)
def test_dw506_yum_clean(t: Any) -> None: t.silent("DW506", "FROM rockylinux:9\nRUN yum install -y x && yum clean all\n")
def test_dw506_heredoc(t: Any) -> None: t.fires("DW506", "FROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y x\nEOF\n", line=2)
def test_dw506_heredoc_clean(t: Any) -> None: t.silent("DW506", "FROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y x\nrm -rf /var/lib/apt/lists/*\nEOF\n")


# --- DW507 curl | sh ----------------------------------------------------------------------

def test_dw507_pipe(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN curl -fsSL https://x.example/i | bash -s --\n", line=2, form="pipe")
def test_dw507_wget_sudo(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN wget -qO- https://x.example/i | sudo -E sh\n", line=2)
def test_dw507_substitution(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN sh -c \"$(wget -O- https://x.example/i)\"\n", form="substitution")
def test_dw507_process_subst(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN bash <(curl -s https://x.example/i)\n")
def test_dw507_continuation(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN set -e; \\\n    curl -sL https://x.example/i \\\n    | bash\n", line=2)
def test_dw507_in_if(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN if true; then curl -s https://x | sh; fi\n")
def test_dw507_heredoc(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN echo hi\nRUN <<EOF\nset -e\ncurl -s https://x.example/i | sh\nEOF\n", line=3)
def test_dw507_to_file(t: Any) -> None: t.silent("DW507", "FROM debian:12\nRUN curl -so i.sh https://x.example/i && echo ok | sh\n")
def test_dw507_pipe_to_tar(t: Any) -> None: t.silent("DW507", "FROM debian:12\nRUN curl -sL https://x.example/a.tgz | tar xz\n")


# --- DW508 sudo ---------------------------------------------------------------------------

def test_dw508_sudo(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN sudo apt-get install x\n", line=2)
def test_dw508_after_and(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN true && \\\n  sudo ls\n", line=2)
def test_dw508_json(t: Any) -> None: t.fires("DW508", 'FROM debian:12\nRUN ["sudo", "ls"]\n', line=2)
def test_dw508_behind_env(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN env DEBIAN_FRONTEND=noninteractive sudo apt-get install -y x\n", line=2)
def test_dw508_env_without_sudo(t: Any) -> None: t.silent("DW508", "FROM debian:12\nRUN env -i PATH=/bin sh -e ./install\n")
def test_dw508_sh_c(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN sh -c 'sudo ls'\n", line=2)
def test_dw508_bash_ec(t: Any) -> None: t.fires("DW508", 'FROM debian:12\nRUN bash -o pipefail -ec "cd /x && sudo make"\n', line=2)
def test_dw508_nested_sh_c(t: Any) -> None: t.fires("DW508", """FROM debian:12\nRUN sh -c "bash -c 'sudo ls'"\n""", line=2)
def test_dw508_sh_script_file(t: Any) -> None: t.silent("DW508", "FROM debian:12\nRUN sh ./sudo\n")
def test_dw508_json_sh_c_string(t: Any) -> None: t.silent("DW508", 'FROM debian:12\nRUN ["sh", "-c", "echo sudo"]\n')
def test_dw508_json_sh_c(t: Any) -> None: t.fires("DW508", 'FROM debian:12\nRUN ["/bin/sh", "-c", "true && sudo ls"]\n', line=2)
def test_dw508_escape_backtick(t: Any) -> None: t.fires("DW508", "# escape=`\nFROM debian:12\nRUN echo a `\n  && sudo ls\n", line=3)
def test_dw508_heredoc(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN <<EOF bash\nsudo ls\nEOF\n", line=2)
def test_dw508_onbuild(t: Any) -> None: t.fires("DW508", "FROM debian:12\nONBUILD RUN sudo ls\n", line=2)
def test_dw508_word(t: Any) -> None: t.silent("DW508", "FROM debian:12\nRUN apt-get install -y sudo && echo sudo\n")
def test_dw508_cmd_not_run(t: Any) -> None: t.silent("DW508", "FROM debian:12\nCMD sudo ls\n")
def test_dw508_arithmetic_fallback(t: Any) -> None: t.fires("DW508", "FROM debian:12\nRUN echo $((1+2)) && sudo ls\n", line=2)
def test_dw508_stage(t: Any) -> None: t.fires("DW508", "FROM debian:12 AS build\nRUN sudo ls\nFROM scratch\n", line=2, stage="build")


# --- DW509 healthcheck -------------------------------------------------------------------

def test_dw509_none(t: Any) -> None: t.fires("DW509", "FROM nginx:1.27\nRUN true\n", line=1)
def test_dw509_only_earlier_stage(t: Any) -> None: t.fires("DW509", "FROM nginx:1.27 AS a\nHEALTHCHECK CMD true\nFROM nginx:1.27\n", line=3)
def test_dw509_inherited(t: Any) -> None: t.silent("DW509", "FROM nginx:1.27 AS a\nHEALTHCHECK CMD true\nFROM a\n")
def test_dw509_json(t: Any) -> None: t.silent("DW509", 'FROM nginx:1.27\nHEALTHCHECK --interval=5s CMD ["curl", "-f", "http://localhost"]\n')


# --- DW510 port 22 ------------------------------------------------------------------------

def test_dw510_22(t: Any) -> None: t.fires("DW510", "FROM debian:12\nEXPOSE 80\nEXPOSE 22/tcp\n", line=3, ports=["22/tcp"])
def test_dw510_range(t: Any) -> None: t.fires("DW510", "FROM debian:12\nEXPOSE 20-25\n", line=2)
def test_dw510_2222(t: Any) -> None: t.silent("DW510", "FROM debian:12\nEXPOSE 2222 220\n")
def test_dw510_earlier_stage(t: Any) -> None: t.silent("DW510", "FROM debian:12 AS a\nEXPOSE 22\nFROM debian:12\n")


# --- DW511 chmod --------------------------------------------------------------------------

def test_dw511_777(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod 777 /x\n", line=2)
def test_dw511_a_rwx(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod -R a+rwx /x\n", line=2)
def test_dw511_o_w(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod o+w /x\n")
def test_dw511_setuid_octal(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod 4755 /x\n", reasons=["setuid/setgid"])
def test_dw511_setgid_octal(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod 2755 /x\n")
def test_dw511_plus_s(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod +s /x\n")
def test_dw511_g_s(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN chmod g+s /x\n")
def test_dw511_sudo_chmod(t: Any) -> None: t.fires("DW511", "FROM debian:12\nRUN sudo chmod 0777 /x\n")
def test_dw511_copy_chmod(t: Any) -> None: t.fires("DW511", "FROM debian:12\nCOPY --chmod=4755 a /a\n", line=2)
def test_dw511_sticky(t: Any) -> None: t.silent("DW511", "FROM debian:12\nRUN chmod 1777 /tmp\n")
def test_dw511_remove_s(t: Any) -> None: t.silent("DW511", "FROM debian:12\nRUN chmod u-s,g-s /x && chmod 755 /y && chmod +x /z\n")


# --- DW512 secret files ------------------------------------------------------------------

def test_dw512_id_rsa(t: Any) -> None: t.fires("DW512", "FROM debian:12\nCOPY id_rsa /root/.ssh/\n", line=2, severity=Severity.HIGH)
def test_dw512_pem(t: Any) -> None: t.fires("DW512", "FROM debian:12\nCOPY certs/server.key tls.pem /etc/\n", line=2)
def test_dw512_aws(t: Any) -> None: t.fires("DW512", "FROM debian:12\nCOPY .aws/credentials /root/.aws/\n")
def test_dw512_git_credentials(t: Any) -> None: t.fires("DW512", "FROM debian:12\nADD .git-credentials /root/\n")
def test_dw512_env(t: Any) -> None: t.fires("DW512", "FROM node:22\nCOPY package.json .env ./\n", files=[".env"])
def test_dw512_ssh_dir(t: Any) -> None: t.fires("DW512", "FROM debian:12\nCOPY .ssh /root/.ssh\n")
def test_dw512_env_example(t: Any) -> None: t.silent("DW512", "FROM node:22\nCOPY .env.example ./\n")
def test_dw512_unused_stage_medium(t: Any) -> None: t.fires("DW512", "FROM debian:12 AS a\nCOPY id_rsa /root/\nFROM debian:12\nRUN true\n", line=2, severity=Severity.MEDIUM, stage="a")
def test_dw512_copied_stage_high(t: Any) -> None: t.fires("DW512", "FROM debian:12 AS a\nCOPY id_rsa /root/\nFROM debian:12\nCOPY --from=a /out /out\n", line=2, severity=Severity.HIGH)
def test_dw512_base_stage_high(t: Any) -> None: t.fires("DW512", "FROM debian:12 AS a\nCOPY .npmrc /root/\nFROM a\n", severity=Severity.HIGH)
def test_dw512_heredoc(t: Any) -> None: t.silent("DW512", "FROM debian:12\nCOPY <<EOF /app/.env\nA=1\nEOF\n")


# --- DW513 pinning ------------------------------------------------------------------------

def test_dw513_apt(t: Any) -> None: t.fires("DW513", "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl=7.88 git\n", line=2, packages={"apt-get": ["git"]})
def test_dw513_apt_pinned(t: Any) -> None: t.silent("DW513", "FROM debian:12\nRUN apt-get install -y -t bookworm-backports curl=7.88 ./local.deb\n")
def test_dw513_apk(t: Any) -> None: t.fires("DW513", "FROM alpine:3.20\nRUN apk add --no-cache --virtual .deps gcc\n", packages={"apk": ["gcc"]})
def test_dw513_apk_pinned(t: Any) -> None: t.silent("DW513", "FROM alpine:3.20\nRUN apk add --no-cache gcc=13.2.1-r0 musl~1.2\n")
def test_dw513_pip(t: Any) -> None: t.fires("DW513", "FROM python:3.12\nRUN python3 -m pip install --no-cache-dir 'flask>=3'\n")
def test_dw513_pip_pinned(t: Any) -> None: t.silent("DW513", "FROM python:3.12\nRUN pip install -U pip && pip install -r req.txt flask==3.0.3 ./pkg\n")
def test_dw513_pip_constraints(t: Any) -> None: t.silent("DW513", "FROM python:3.12\nRUN pip install -c constraints.txt flask\n")
def test_dw513_npm_global(t: Any) -> None: t.fires("DW513", "FROM node:22\nRUN npm i -g @angular/cli\n", packages={"npm": ["@angular/cli"]})
def test_dw513_npm_scoped_pinned(t: Any) -> None: t.silent("DW513", "FROM node:22\nRUN npm install -g @angular/cli@18.2.0 && npm ci\n")
def test_dw513_variable(t: Any) -> None: t.silent("DW513", "FROM debian:12\nRUN apt-get install -y $PKGS\n")


# --- parser behaviour ---------------------------------------------------------------------

def test_stages_and_names(tmp_path: Path) -> None:
    df = parse(tmp_path, "ARG V=12\nFROM debian:${V} AS Build\nRUN a\nFROM build\nCOPY x y\n")
    assert [s.name for s in df.stages] == ["build", None]
    assert df.stages[0].base_resolved == "debian:12"
    assert df.global_args[0].line == 1
    assert df.stages[1].instructions[1].line == 5


def test_continuation_lines(tmp_path: Path) -> None:
    df = parse(tmp_path, "FROM a:1\nRUN echo a \\\n  # a comment\n  && echo b\nUSER x\n")
    run_ = df.final.instructions[1]
    assert (run_.line, run_.end_line) == (2, 4)
    assert run_.commands == (("echo", "a"), ("echo", "b"))
    assert df.final.instructions[2].line == 5


def test_heredoc_instruction(tmp_path: Path) -> None:
    df = parse(tmp_path, "FROM a:1\nRUN <<EOF\nset -e\ncurl x | sh\nEOF\nUSER x\n")
    inst = df.final.instructions[1]
    assert inst.heredocs and inst.heredocs[0].name == "EOF"
    assert (("curl", "x"), ("sh",)) in inst.pipes
    assert df.final.instructions[2].line == 6


def test_heredoc_stdin_of_python_not_shell(tmp_path: Path) -> None:
    df = parse(tmp_path, "FROM a:1\nRUN python3 <<EOF\nimport sudo\nEOF\n")
    assert df.final.instructions[1].commands == (("python3",),)


def test_powershell_not_parsed(tmp_path: Path) -> None:
    df = parse(tmp_path, 'FROM w:1\nSHELL ["powershell", "-Command"]\nRUN sudo x\n')
    assert df.final.instructions[2].commands == ()
    assert df.final.instructions[2].shell_parser == ""


def test_shell_parser_fallback() -> None:
    pipes, parser = parse_shell("case $x in a) sudo y;; esac && curl z | sh")
    assert parser == "shlex"
    assert (("curl", "z"), ("sh",)) in pipes


def test_line_map_sets_target_line(tmp_path: Path) -> None:
    df = parse(tmp_path, "FROM debian\n\n\nRUN sudo x\n")
    res = lint(df, DW5)
    assert not res.errors
    lines = {f.check: f.target.line for f in res.findings}
    assert lines["DW502"] == 1 and lines["DW508"] == 4


# --- hostile input ------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary"),
    (b"FROM a\nRUN echo \x00\n", "NUL"),
    (b"\x01\x02\x03\xff\xfe" * 400, "binary"),
    (b"FROM a\nRUN <<EOF\necho never ends\n", "line 2: unterminated heredoc"),
    (b"", "no instructions"),
    (b"# only a comment\n", "no instructions"),
    (b"RUN echo no from\n", "line 1: RUN before the first FROM"),
    (b"ARG A=1\n", "no FROM"),
    (b"FROM a\nRUN " + b"x" * 70000 + b"\n", "line 2:"),
    (b"# escape=x\nFROM a\n", "invalid escape"),
])
def test_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    with pytest.raises(InputError) as err:
        parse(tmp_path, content)
    message = err.value.message
    assert needle in message and "\n" not in message and message.startswith(str(tmp_path))


def test_huge_file_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM a\n" + b"RUN true\n" * (5 * 1024 * 1024 // 9))
    start = time.perf_counter()
    with pytest.raises(InputError, match="4 MiB"):
        parse_dockerfile(str(path))
    assert time.perf_counter() - start < 1


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        parse_dockerfile(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="directory"):
        parse_dockerfile(str(tmp_path))


def test_latin1_comment_accepted(tmp_path: Path) -> None:
    df = parse(tmp_path, b"# caf\xe9\nFROM debian:12\n")
    assert df.final.base_image == "debian:12"


def test_bom_accepted(tmp_path: Path) -> None:
    assert parse(tmp_path, "\ufeffFROM debian:12\n").final.line == 1


# --- the real corpus ----------------------------------------------------------------------

def test_real_dockerfiles() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus absent: {CORPUS}")
    checks = [REGISTRY[i] for i in DW5]
    parsed, refused = 0, []
    start = time.perf_counter()
    for path in sorted(CORPUS.iterdir()):
        if path.name == "MANIFEST.tsv":
            continue
        try:
            df = parse_dockerfile(str(path))
        except InputError as exc:
            assert "\n" not in exc.message
            refused.append(exc.message)
            continue
        parsed += 1
        res = run(checks, (df,), Target(TargetKind.DOCKERFILE, str(path)), Source.DOCKERFILE,
                  lines=dfchecks.line_map(df))
        assert not res.errors, res.errors
        assert all(f.target.line is not None for f in res.findings)
    elapsed = time.perf_counter() - start
    print(f"\n{parsed} parsed, {len(refused)} refused, {elapsed:.2f} s")
    assert parsed + len(refused) == len(os.listdir(CORPUS)) - 1
    assert parsed >= 500


# --- many files: forked workers ------------------------------------------------------------

_LINT = """\
import json, sys
from dockwarden import cli
from dockwarden.commands import dockerfile
if sys.argv[2] == "serial":
    dockerfile.PARALLEL_MIN_FILES = 10 ** 9
rc = cli.main(["dockerfile", sys.argv[1], "--format", "json", "-o", sys.argv[3],
               "--fail-on", "none"])
print(json.dumps({"rc": rc, "go_loaded_here": "dockerfile" in sys.modules}))
"""


def test_many_files_in_workers_give_the_serial_report(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from dockwarden.commands.dockerfile import PARALLEL_MIN_FILES

    files = tmp_path / "files"
    files.mkdir()
    for i in range(PARALLEL_MIN_FILES + 6):
        (files / f"{i:03d}_Dockerfile").write_text(
            f"FROM debian{':12' if i % 3 else ''}\nRUN sudo apt-get install -y p{i}\n"
            + ("USER 1000\n" if i % 2 else ""))
    (files / "050_bad_Dockerfile").write_bytes(b"FROM debian\n\x00\xff" * 50)
    reports, runs = {}, {}
    for mode in ("parallel", "serial"):
        out = tmp_path / f"{mode}.json"
        proc = subprocess.run([sys.executable, "-c", _LINT, str(files), mode, str(out)],
                              capture_output=True, text=True, timeout=120, check=True)
        runs[mode] = json.loads(proc.stdout.splitlines()[-1])
        report = json.loads(out.read_text())
        reports[mode] = {k: report[k] for k in ("targets", "findings", "errors", "skipped")}
    assert runs["parallel"]["rc"] == runs["serial"]["rc"] == 3  # the binary file
    assert reports["parallel"] == reports["serial"]
    assert [e["target"] for e in reports["serial"]["errors"]] == [str(files / "050_bad_Dockerfile")]
    assert len(reports["serial"]["targets"]) == PARALLEL_MIN_FILES + 7
    if len(os.sched_getaffinity(0)) >= 2:  # the workers, not this process, parsed the files
        assert runs["parallel"]["go_loaded_here"] is False
    assert runs["serial"]["go_loaded_here"] is True


@pytest.mark.parametrize("script", [
    'set -eux; a="$(b | c)"; apt-get update && apt-get install -y d',
    "if x; then y; fi; z", 'for i in 1 2; do v "$i"; done && w',
    "x=$(if a; then b; fi); c", "{ a; b; } || c", "echo `a; b`; c", "a &&\\\n b & c",
])
def test_cut_scripts_read_as_bashlex_reads_the_whole(script: str) -> None:
    """A RUN script cut at its top-level separators reads as bashlex reads it whole."""
    from dockwarden.collect.dockerfile import _bashlex_pipes, _top_level_parts, parse_shell

    assert len(_top_level_parts(script) or ()) > 1
    assert parse_shell.__wrapped__(script) == (_bashlex_pipes(script), "bashlex")


@pytest.mark.parametrize("script", ["a; ; b", "a &&", "x=$(a; b", "a <<EOF\nb\nEOF",
                                    "case $x in a) b;; esac; c", "fi; a"])
def test_scripts_not_cut(script: str) -> None:
    """Heredocs, case, unclosed and stray operators are never cut: bashlex reads them."""
    from dockwarden.collect.dockerfile import _top_level_parts

    assert _top_level_parts(script) is None
