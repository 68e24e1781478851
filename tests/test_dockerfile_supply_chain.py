# ruff: noqa: E501  (one-line rule tests in hadolint style: a rule per line reads best)
"""DW507 (extended) and DW514-DW519, and DW506's stage rule: fires/silent pairs in
hadolint's one-line style, over multi-line RUNs, heredocs, `&&` chains, a checksum
verified later in the same RUN, and stages that never reach the final image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dockwarden.checks.dockerfile as dfchecks
from dockwarden.checks.registry import REGISTRY, run
from dockwarden.collect.dockerfile import parse_dockerfile
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import Finding, Target

SHA = "0" * 64
UNUSED = "FROM debian:12 AS unused\n{run}\nFROM debian:12\nUSER 1000\n"  # never built
BUILDER = "FROM debian:12 AS b\n{run}\nFROM debian:12\nCOPY --from=b /x /x\nUSER 1000\n"


def _findings(tmp_path: Path, check_id: str, text: str) -> list[Finding]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    df = parse_dockerfile(str(path))
    res = run([REGISTRY[check_id]], (df,), Target(TargetKind.DOCKERFILE, df.path),
              Source.DOCKERFILE, lines=dfchecks.line_map(df))
    assert not res.errors, res.errors
    return res.findings


@pytest.fixture
def t(tmp_path: Path) -> Any:
    class Helpers:
        def fires(self, check_id: str, text: str, line: int | None = None,
                  severity: Severity | None = None, **evidence: Any) -> Finding:
            found = _findings(tmp_path, check_id, text)
            assert found, f"{check_id} silent on:\n{text}"
            f = found[0]
            assert f.target.line == f.evidence["line"]
            if line is not None:
                assert f.target.line == line
            if severity is not None:
                assert f.severity is severity
            for key, value in evidence.items():
                assert f.evidence[key] == value, (key, f.evidence)
            return f

        def silent(self, check_id: str, text: str) -> None:
            found = _findings(tmp_path, check_id, text)
            assert not found, f"{check_id} fired: {[f.evidence for f in found]}"

    return Helpers()


def test_metadata_complete() -> None:
    for cid in ("DW514", "DW515", "DW516", "DW517", "DW518", "DW519"):
        meta = REGISTRY[cid].meta
        assert meta.title and meta.rationale and meta.remediation and meta.bad and meta.good


# --- DW514: download without an integrity check --------------------------------------------

def test_dw514_pipe_to_tar(t: Any) -> None: t.fires("DW514", "FROM debian:12\nRUN curl -fsSL https://x.example/t.tgz | tar xz\n", line=2, urls=["https://x.example/t.tgz"])
def test_dw514_wget_chain(t: Any) -> None: t.fires("DW514", "FROM debian:12\nRUN apt-get update && \\\n    wget -q https://x.example/t.tgz && \\\n    tar xf t.tgz\n", line=2)
def test_dw514_heredoc(t: Any) -> None: t.fires("DW514", "FROM debian:12\nRUN <<EOF\nset -e\ncurl -fsSLo t.tgz https://x.example/t.tgz\ntar xf t.tgz\nEOF\n", line=2)
def test_dw514_verified_later_same_run(t: Any) -> None: t.silent("DW514", f"FROM debian:12\nRUN curl -fsSLo t.tgz https://x.example/t.tgz \\\n && echo \"{SHA}  t.tgz\" | sha256sum -c - \\\n && tar xf t.tgz\n")
def test_dw514_verified_in_heredoc(t: Any) -> None: t.silent("DW514", f"FROM debian:12\nRUN <<EOF\ncurl -fsSLo t.tgz https://x.example/t.tgz\necho \"{SHA}  t.tgz\" | sha256sum --check\nEOF\n")
def test_dw514_gpg_verify(t: Any) -> None: t.silent("DW514", "FROM debian:12\nRUN curl -fsSLO https://x.example/t.tgz && curl -fsSLO https://x.example/t.tgz.asc && gpg --verify t.tgz.asc t.tgz\n")
def test_dw514_checksum_flag(t: Any) -> None: t.silent("DW514", "FROM debian:12\nRUN curl -fsSLo t https://x.example/t && fetch-verify --checksum=sha256:abc t\n")
def test_dw514_verify_before_is_not_enough(t: Any) -> None: t.fires("DW514", f"FROM debian:12\nRUN echo \"{SHA}  a\" | sha256sum -c - && curl -fsSLo b https://x.example/b\n")
def test_dw514_in_separate_run_not_counted(t: Any) -> None: t.fires("DW514", f"FROM debian:12\nRUN curl -fsSLo t https://x.example/t\nRUN echo \"{SHA}  t\" | sha256sum -c -\n", line=2)
def test_dw514_localhost(t: Any) -> None: t.silent("DW514", "FROM debian:12\nRUN curl -fsS http://localhost:8080/health\n")
def test_dw514_head(t: Any) -> None: t.silent("DW514", "FROM debian:12\nRUN curl -I https://x.example/\n")
def test_dw514_builder_stage(t: Any) -> None: t.fires("DW514", BUILDER.format(run="RUN curl -fsSL https://x.example/t.tgz | tar xz"), line=2, stage="b")
def test_dw514_unused_stage(t: Any) -> None: t.silent("DW514", UNUSED.format(run="RUN curl -fsSL https://x.example/t.tgz | tar xz"))
def test_dw514_mounted_stage_is_built(t: Any) -> None: t.fires("DW514", "FROM debian:12 AS m\nRUN curl -fsSLo /t https://x.example/t\nFROM debian:12\nRUN --mount=type=bind,from=m,source=/t,target=/t cp /t /u\nUSER 1000\n", line=2)


# --- DW515: plain http -------------------------------------------------------------------------

def test_dw515_curl_http(t: Any) -> None: t.fires("DW515", "FROM debian:12\nRUN curl -fsSLo /a.deb http://x.example/a.deb\n", line=2, severity=Severity.MEDIUM)
def test_dw515_add_http(t: Any) -> None: t.fires("DW515", "FROM debian:12\nADD http://x.example/a.tgz /a.tgz\n", line=2)
def test_dw515_verified_low(t: Any) -> None: t.fires("DW515", f"FROM debian:12\nRUN wget -O a http://x.example/a && echo \"{SHA}  a\" | sha256sum -c\n", severity=Severity.LOW)
def test_dw515_https(t: Any) -> None: t.silent("DW515", "FROM debian:12\nRUN curl -fsSLo /a https://x.example/a\n")
def test_dw515_apt_source_http(t: Any) -> None: t.silent("DW515", "FROM debian:12\nRUN echo 'deb http://deb.example/ stable main' > /etc/apt/sources.list\n")
def test_dw515_multiline(t: Any) -> None: t.fires("DW515", "FROM debian:12\nRUN set -e; \\\n  cd /tmp && \\\n  wget http://x.example/a.tgz\n", line=2)
def test_dw515_unused_stage(t: Any) -> None: t.silent("DW515", UNUSED.format(run="RUN wget http://x.example/a.tgz"))


# --- DW507: downloads into a shell or an installer ----------------------------------------------

def test_dw507_dpkg_fetched(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN wget http://x.example/a_1.0_all.deb && \\\n    dpkg -i a_1.0_all.deb\n", line=2, form="installer")
def test_dw507_dpkg_glob(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN curl -fsSLO https://x.example/a.deb && dpkg -i *.deb\n", form="installer")
def test_dw507_dpkg_verified(t: Any) -> None: t.silent("DW507", f"FROM debian:12\nRUN curl -fsSLO https://x.example/a.deb && echo \"{SHA}  a.deb\" | sha256sum -c - && dpkg -i a.deb\n")
def test_dw507_dpkg_local(t: Any) -> None: t.silent("DW507", "FROM debian:12\nCOPY a.deb /a.deb\nRUN dpkg -i /a.deb\n")
def test_dw507_run_fetched_script(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN curl -fsSLo i.sh https://x.example/i.sh && sh i.sh\n", form="run")
def test_dw507_php(t: Any) -> None: t.fires("DW507", "FROM php:8\nRUN curl -sS https://x.example/installer | php -- --install-dir=/usr/bin\n", form="pipe")
def test_dw507_python_dash_c(t: Any) -> None: t.silent("DW507", "FROM python:3.12\nRUN curl -s https://x.example/v.json | python3 -c 'import json,sys; print(json.load(sys.stdin))'\n")
def test_dw507_heredoc_installer(t: Any) -> None: t.fires("DW507", "FROM debian:12\nRUN <<EOF\nwget -O /tmp/x.deb https://x.example/x.deb\ndpkg -i /tmp/x.deb\nEOF\n", line=2)
def test_dw507_unused_stage(t: Any) -> None: t.silent("DW507", UNUSED.format(run="RUN curl -s https://x.example/i | sh"))


# --- DW516: verification turned off ----------------------------------------------------------

@pytest.mark.parametrize(("run_line", "word"), [
    ("RUN curl -kfsSLo a https://x.example/a", "-kfsSLo"),
    ("RUN curl --insecure -o a https://x.example/a", "--insecure"),
    ("RUN wget --no-check-certificate https://x.example/a", "--no-check-certificate"),
    ("RUN apt-get install -y --allow-unauthenticated x", "--allow-unauthenticated"),
    ("RUN apt-get install -y --force-yes x", "--force-yes"),
    ("RUN echo 'deb [trusted=yes] https://x.example/ ./' > /etc/apt/sources.list.d/x.list", "[trusted=yes]"),
    ("RUN apt-get -o Acquire::Check-Valid-Until=false update", "Acquire::Check-Valid-Until=false"),
    ("RUN pip install --trusted-host pypi.example x==1", "--trusted-host"),
    ("RUN npm config set strict-ssl false", "strict-ssl false"),
    ("RUN GIT_SSL_NO_VERIFY=true git clone https://x.example/r.git", "GIT_SSL_NO_VERIFY=true"),
    ("RUN git config --global http.sslVerify false", "http.sslVerify false"),
    ("RUN yum install -y --nogpgcheck x", "--nogpgcheck"),
])
def test_dw516_fires(t: Any, run_line: str, word: str) -> None:
    f = t.fires("DW516", f"FROM debian:12\n{run_line}\n", line=2, severity=Severity.HIGH)
    assert word in f.evidence["words"]


def test_dw516_env(t: Any) -> None: t.fires("DW516", "FROM debian:12\nENV GIT_SSL_NO_VERIFY=1\n", line=2)
def test_dw516_chain(t: Any) -> None: t.fires("DW516", "FROM debian:12\nRUN apt-get update \\\n && curl -sSLk https://x.example/a -o a\n", line=2, words=["-sSLk"])
def test_dw516_heredoc(t: Any) -> None: t.fires("DW516", "FROM debian:12\nRUN <<EOF\nwget --no-check-certificate https://x.example/a\nEOF\n", line=2)
def test_dw516_clean(t: Any) -> None: t.silent("DW516", "FROM debian:12\nRUN curl -fsSLo a https://x.example/a && wget -q https://x.example/b\n")
def test_dw516_curl_K_config(t: Any) -> None: t.silent("DW516", "FROM debian:12\nRUN curl -K /etc/curlrc https://x.example/a\n")
def test_dw516_sed_turning_on(t: Any) -> None: t.silent("DW516", "FROM rockylinux:9\nRUN sed -i 's/gpgcheck=0/gpgcheck=1/' /etc/yum.conf\n")
def test_dw516_builder_stage(t: Any) -> None: t.fires("DW516", BUILDER.format(run="RUN wget --no-check-certificate https://x.example/a"), stage="b")
def test_dw516_unused_stage(t: Any) -> None: t.silent("DW516", UNUSED.format(run="RUN wget --no-check-certificate https://x.example/a"))


# --- DW517: fixed credentials ----------------------------------------------------------------

def test_dw517_chpasswd(t: Any) -> None:
    f = t.fires("DW517", "FROM debian:12\nRUN echo 'root:hunter2' | chpasswd\n", line=2, severity=Severity.HIGH)
    assert f.evidence["words"] == ["chpasswd root:******"]
    assert "hunter2" not in str(f.evidence)


def test_dw517_sql_redacted(t: Any) -> None:
    f = t.fires("DW517", "FROM mysql:8\nRUN mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY 'pw123456'; SET PASSWORD FOR root = PASSWORD('123456');\"\n", line=2)
    assert "pw123456" not in str(f.evidence) and "123456" not in str(f.evidence)
    assert "IDENTIFIED BY '******'" in f.evidence["words"]
    assert "PASSWORD('******')" in f.evidence["words"]


def test_dw517_assignment(t: Any) -> None: t.fires("DW517", "FROM python:3.12\nRUN PGADMIN_SETUP_PASSWORD=admin123 python setup.py\n", words=["PGADMIN_SETUP_PASSWORD=******"])
def test_dw517_multiline_chain(t: Any) -> None: t.fires("DW517", "FROM debian:12\nRUN useradd -m app && \\\n    echo \"app:s3cret\" | chpasswd\n", line=2)
def test_dw517_heredoc(t: Any) -> None: t.fires("DW517", "FROM debian:12\nRUN <<EOF\nuseradd -m app\necho 'app:s3cret' | chpasswd\nEOF\n", line=2)
def test_dw517_useradd_hash(t: Any) -> None: t.fires("DW517", "FROM debian:12\nRUN useradd -p '$6$salt$abcdef' app\n")
def test_dw517_from_secret(t: Any) -> None: t.silent("DW517", "FROM debian:12\nRUN --mount=type=secret,id=pw echo \"root:$(cat /run/secrets/pw)\" | chpasswd\n")
def test_dw517_from_variable(t: Any) -> None: t.silent("DW517", "FROM debian:12\nARG PW\nRUN echo \"app:$PW\" | chpasswd && DB_PASSWORD=$DB_PW ./x\n")
def test_dw517_builder_stage(t: Any) -> None: t.silent("DW517", BUILDER.format(run="RUN echo 'root:hunter2' | chpasswd"))
def test_dw517_other_checks_redact_too(tmp_path: Path) -> None:
    f = _findings(tmp_path, "DW513", "FROM debian:12\nRUN echo 'root:hunter2' | chpasswd && apt-get install -y x\n")[0]
    assert "hunter2" not in f.evidence["instruction"]


# --- DW518 / DW519 --------------------------------------------------------------------------

def test_dw518_sed(t: Any) -> None: t.fires("DW518", "FROM debian:12\nRUN apt-get install -y openssh-server && \\\n    sed -i 's/#PermitRootLogin prohibit-password/PermitRootLogin yes/' /etc/ssh/sshd_config\n", line=2)
def test_dw518_echo_heredoc(t: Any) -> None: t.fires("DW518", "FROM debian:12\nRUN <<EOF\necho 'PermitRootLogin yes' >> /etc/ssh/sshd_config\nEOF\n", line=2)
def test_dw518_sed_turning_off(t: Any) -> None: t.silent("DW518", "FROM debian:12\nRUN sed -i 's/PermitRootLogin yes/PermitRootLogin no/' /etc/ssh/sshd_config\n")
def test_dw518_builder_stage(t: Any) -> None: t.silent("DW518", BUILDER.format(run="RUN echo 'PermitRootLogin yes' >> /etc/ssh/sshd_config"))
def test_dw519_nopasswd(t: Any) -> None: t.fires("DW519", "FROM debian:12\nRUN useradd app && \\\n    echo 'app ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers\n", line=2, words=["app ALL=(ALL) NOPASSWD: ALL"])
def test_dw519_inherited_stage(t: Any) -> None: t.fires("DW519", "FROM debian:12 AS base\nRUN echo 'app ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/app\nFROM base\nUSER app\n", line=2, stage="base")
def test_dw519_sudo_with_password(t: Any) -> None: t.silent("DW519", "FROM debian:12\nRUN echo 'app ALL=(ALL) ALL' >> /etc/sudoers\n")
def test_dw519_unused_stage(t: Any) -> None: t.silent("DW519", UNUSED.format(run="RUN echo 'app ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers"))


# --- DW506: only stages that reach the final image ---------------------------------------------

def test_dw506_builder_lists_not_judged(t: Any) -> None: t.silent("DW506", BUILDER.format(run="RUN apt-get update && apt-get install -y gcc"))
def test_dw506_final_chain_base_judged(t: Any) -> None: t.fires("DW506", "FROM debian:12 AS base\nRUN apt-get update && apt-get install -y x\nFROM base\nUSER 1000\n", line=2, stage="base")
def test_dw506_final_judged(t: Any) -> None: t.fires("DW506", "FROM debian:12 AS b\nRUN true\nFROM debian:12\nRUN apt-get update && \\\n    apt-get install -y x\n", line=4)
def test_dw506_update_alone_in_builder(t: Any) -> None: t.fires("DW506", BUILDER.format(run="RUN apt-get update"), line=2, reasons=["apt-get update without an install in the same RUN"])
def test_dw506_unused_stage(t: Any) -> None: t.silent("DW506", UNUSED.format(run="RUN apt-get update"))


# --- fixed credentials never shown, whatever rule quotes the RUN, in every format ------------

LITERALS = ("Zq7xW3vP", "Kp4sN8mQ", "Lm5tR2wY", "Hx6vB1nC", "Jy3uT9eF", "Wd2cF5gA")
SECRET_RUNS = (
    "FROM debian:12 AS builder\n"
    "RUN echo 'root:Zq7xW3vP' | chpasswd && apt-get install -y gcc && curl -fsSL https://x.example/t.tgz | tar xz\n"
    "FROM debian:latest\n"
    "RUN mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY 'Kp4sN8mQ'\" && apt-get update && apt-get install -y x && curl -k https://x.example/i | sh\n"
    "RUN PGADMIN_SETUP_PASSWORD=Lm5tR2wY sudo pip install x && useradd -p 'Hx6vB1nC' app\n"
    "RUN echo Jy3uT9eF | passwd root && echo 'PermitRootLogin yes' >> /etc/ssh/sshd_config \\\n"
    " && echo 'app ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers && chmod 777 /srv\n"
    "RUN mysqladmin -u root password Wd2cF5gA && wget http://x.example/a.deb && dpkg -i a.deb\n"
    "COPY --from=builder /x /x\n"
)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "markdown", "html"])
def test_no_rule_shows_a_fixed_credential(tmp_path: Path, capsys: Any, fmt: str) -> None:
    from tests.conftest import run_cli

    path = tmp_path / "Dockerfile"
    path.write_text(SECRET_RUNS)
    code, out, err = run_cli(["dockerfile", str(path), "--no-engine", "--format", fmt,
                              "--details", "--no-progress", "--severity", "low,medium,high,critical"],
                             capsys)
    assert code == 1, err
    for literal in LITERALS:
        assert literal not in out and literal not in err, (literal, fmt)


def test_every_run_quoting_rule_redacts(tmp_path: Path, capsys: Any) -> None:
    from tests.conftest import findings, run_json

    path = tmp_path / "Dockerfile"
    path.write_text(SECRET_RUNS)
    _code, report = run_json(["dockerfile", str(path), "--no-engine"], capsys)
    quoting = {f["check"] for f in findings(report)
               if str(f["evidence"].get("instruction", "")).startswith("RUN")}
    # many rules quote the RUN lines: each shows them redacted
    assert {"DW507", "DW513", "DW514", "DW515", "DW516", "DW517", "DW518", "DW519"} <= quoting
    assert not any(lit in str(report) for lit in LITERALS)
    [f517] = [f for f in findings(report, "DW517") if f["evidence"]["line"] == 4]
    assert f517["evidence"]["words"] == ["IDENTIFIED BY '******'"]
