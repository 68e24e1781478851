"""Defect 7 (issue 11): secrets on command lines shown whole.

A `docker exec` with `--token ghp_...` or `mysql -pSECRET` on its command line appeared
in full in DW231's evidence, and a process line in DW225's, in every report format. Now
every command line in evidence passes through `secrets.redact_command`/`redact_argv`.
The live test audits only the container it made (`containers NAME`); the unit tests run
the redaction over many command lines, harmful and harmless.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import RUN_ID, findings, run_cli, run_json, test_labels
from dockwarden import secrets

TOKEN = "ghp_" + "R3dactMeT0kenValue" + "q" * 18  # a GitHub token's shape, not a real one
MYSQL_PW = "Sq1Secret-Value"
FLAG_PW = "Fl4gPassw0rdValue"
URL_PW = "Url-Passw0rd-Value"
SECRETS = (TOKEN, MYSQL_PW, FLAG_PW, URL_PW, TOKEN[4:24])


def _sshd_script() -> bytes:
    """A tar holding /usr/sbin/sshd, a shell script that sleeps: busybox has no sshd, and
    DW225 reads the process's command line, which is what matters here."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("usr", "usr/sbin"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
        data = b"#!/bin/sh\nsleep 3600\n"
        ti = tarfile.TarInfo("usr/sbin/sshd")
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def leaky(api: Any, busybox: str) -> Iterator[str]:
    """A running container of ours whose main process (named sshd: DW225) and a root
    exec session (DW231) carry a token, a mysql password, a --password flag and a URL
    with a password on their command lines."""
    name = f"dw-{RUN_ID}-leaky-cmdline"
    cid = api.create_container(
        busybox, name=name, labels=test_labels(purpose="hostile-secrets"),
        command=["/bin/sh", "/usr/sbin/sshd", "-D", "--token", TOKEN, "mysql",
                 f"-p{MYSQL_PW}"],
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    try:
        api.put_archive(cid, "/", _sshd_script())
        api.start(cid)
        exec_id = api.exec_create(
            cid, ["/bin/sh", "-c", "sleep 300", "app", "--token", TOKEN, "mysql",
                  f"-p{MYSQL_PW}", f"--password={FLAG_PW}",
                  f"https://deploy:{URL_PW}@git.example/x.git"],
            user="root")["Id"]
        api.exec_start(exec_id, detach=True)
        time.sleep(0.5)
        yield name
    finally:
        api.remove_container(cid, force=True, v=True)


def _no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} shown: {text[:2000]!r}"


@pytest.mark.live
@pytest.mark.parametrize("local", [True, False], ids=["proc", "api-top"])
def test_command_line_secrets_redacted_in_every_format(
        leaky: str, engine_url: str, local: bool, capsys: pytest.CaptureFixture[str]) -> None:
    extra = [] if local else ["--no-local"]
    base = ["containers", leaky, "--host", engine_url, *extra, "--fail-on", "none",
            "--no-images"]
    code, report = run_json(base, capsys)
    assert code == 0
    assert {f["target"]["ref"] for f in report["findings"]} == {leaky}
    (exec_hit,) = findings(report, "DW231", leaky)
    command = exec_hit["evidence"]["command"]
    assert "--token ghp" in command and "-pSq1" in command and "--password=Fl4" in command
    assert "deploy:" in command  # the user stays, the password goes
    (sshd_hit,) = findings(report, "DW225", leaky)
    assert any("sshd" in p and "--token ghp" in p for p in sshd_hit["evidence"]["processes"])
    _no_secret(json_text := str(report))
    assert "*" in json_text
    for fmt in ("text", "sarif", "junit"):
        code, out, err = run_cli([*base, "--format", fmt, "--no-progress"], capsys)
        assert code == 0, err
        assert "DW231" in out and "DW225" in out
        _no_secret(out, err)


# --- the redaction function -------------------------------------------------------------

GH = "ghp_" + "a" * 30 + "Zq9XYZ"
REDACTED: list[tuple[str, str]] = [
    (f"app --token {GH}", f"app --token {secrets.redact(GH)}"),
    (f"app --token={GH}", f"app --token={secrets.redact(GH)}"),
    ("app --token hunter2hunter2", "app --token hun*********r2"),
    ("app --api-key=abcd1234xyz --verbose", "app --api-key=abc******yz --verbose"),
    ("app --client-secret 'p4ss w0rd!'", "app --client-secret 'p4s*****d!'"),
    ("svc --db-password s3cr3tpw", "svc --db-password ********"),
    ("svc -password s3cr3tpw", "svc -password ********"),
    ("keytool -storepass s3cr3tpw -keypass k3ypass1", "keytool -storepass ******** "
     "-keypass ********"),
    ("mysql -uroot -pS3cretPass db", "mysql -uroot -pS3c*****ss db"),
    ("/usr/bin/mysqldump -phunter22 --all-databases", "/usr/bin/mysqldump -p******** "
     "--all-databases"),
    ("mariadb --password=hunter22 -h db", "mariadb --password=******** -h db"),
    ("sshpass -p hunter22 ssh host", "sshpass -p ******** ssh host"),
    ("redis-cli -a hunter22 ping", "redis-cli -a ******** ping"),
    ("mongosh -u admin -p hunter22", "mongosh -u admin -p ********"),
    ("docker login -u bob -p hunter22 registry", "docker login -u bob -p ******** registry"),
    ("curl -u bob:hunter22 https://x", "curl -u bob:******** https://x"),
    ("curl --user bob:hunter22 https://x", "curl --user bob:******** https://x"),
    ('curl -H "Authorization: Bearer abcdefghijkl" x',
     'curl -H "Authorization: Bearer abc*******kl" x'),
    ("git clone https://bob:hunter22@git.example/x", "git clone https://bob:********@git.example/x"),
    ("psql postgresql://app:pass@db/app", "psql postgresql://app:****@db/app"),
    ('sh -c "mysql -phunter22 && app --secret=abcdef123"',
     'sh -c "mysql -p******** && app --secret=abc****23"'),
    ("export DB_PASSWORD=hunter22hunter", "export DB_PASSWORD=hun*********er"),
    ("openssl enc -k hunter22 -pass pass:hunter22", "openssl enc -k hunter22 -pass pas********22"),
    (f"worker {GH}", f"worker {secrets.redact(GH)}"),
]

UNCHANGED = [
    "sleep 3600",
    "/usr/sbin/sshd -D",
    "nginx: master process nginx -g daemon off;",
    "docker run -p 8080:80 -u 1000:1000 busybox",
    "docker run --rm -p 127.0.0.1:5432:5432 postgres:16",
    "mysql -p dbname",  # -p alone prompts; dbname is the database
    "app --password-file /run/secrets/db",
    "docker login --password-stdin registry.example",
    "ansible-playbook --ask-pass site.yml",
    "psql --no-password -h db",
    "app --token-ttl 3600 --secret-name db",
    "app --password $DB_PASSWORD --token ${TOKEN}",
    "dockerd --tlskey /etc/docker/key.pem --tlscert /etc/docker/cert.pem",
    "docker build --secret id=npm,src=/run/npm .",
    "python -m http.server 8000",
    "java -Xmx512m -jar app.jar --server.port=8080",
    "curl https://example.com/path?x=1",
    "tar -xpf archive.tar",  # -p is not a password for tar
    "sh -c 'echo [/] hello'",
    "",
]


@pytest.mark.parametrize(("line", "expected"), REDACTED, ids=[r[0][:40] for r in REDACTED])
def test_redact_command(line: str, expected: str) -> None:
    assert secrets.redact_command(line) == expected


@pytest.mark.parametrize("line", UNCHANGED, ids=repr)
def test_harmless_command_lines_stay_unchanged(line: str) -> None:
    assert secrets.redact_command(line) == line
    assert secrets.redact_argv(line.split()) == line.split()


def test_redact_argv_words() -> None:
    argv = ["/bin/sh", "-c", f"mysql -phunter22 && app --token {GH}", "--password",
            "two words", "mysql", "-pS3cretPass", f"--api-key={GH}"]
    out = secrets.redact_argv(argv)
    assert out == ["/bin/sh", "-c", f"mysql -p******** && app --token {secrets.redact(GH)}",
                   "--password", "two****ds", "mysql", "-pS3c*****ss",
                   f"--api-key={secrets.redact(GH)}"]
    assert secrets.redact_argv(["docker", "run", "-p", "8080:80", "x"]) == [
        "docker", "run", "-p", "8080:80", "x"]


def test_redact_mapping() -> None:
    opts = {"splunk-token": "abcd-1234-efgh-5678", "max-size": "10m",
            "env": "DB_PASSWORD=hunter22hunter", "password": "hunter22", "labels": "a,b"}
    assert secrets.redact_mapping(opts) == {
        "splunk-token": "abc************78", "max-size": "10m",
        "env": "DB_PASSWORD=hun*********er", "password": "********", "labels": "a,b"}


@pytest.mark.parametrize("seed", ["-p", "--token ", "'", '"', "\\", "a:b@", "://a:b@",
                                  "mysql -p", "sh -c '", "--password=\"", " "])
def test_adversarial_command_lines_are_linear(seed: str) -> None:
    """1 MB of a repeated seed: one pass, no backtracking blow-up (a hang guard only)."""
    text = (seed * ((1 << 20) // len(seed) + 1))[:1 << 20]
    secrets.redact_command(text)
    secrets.redact_argv(text.split(" ")[:5000])
