# dockwarden as a container image.
#
# Built from wheels made on the host, so the build itself needs no network:
#
#   pip wheel -w dist/wheels . pip        # dockwarden, its dependencies, and pip
#   docker build -t dockwarden .          # .dockerignore sends only dist/wheels/
#
# BASE is any image with Python >= 3.11 and its venv module at /usr/local/bin/python3
# or /usr/bin/python3 (python:3.11-slim by default; a Debian bookworm with python3 works).
#
# Run it (the socket read-only; the host's / read-only at /host for the daemon and host
# files; --pid host to find dockerd's process, its flags and mount table; --group-add so
# the non-root user may use the socket):
#
#   docker run --rm --pid host \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v /:/host:ro \
#     dockwarden engine --host-root /host
ARG BASE=python:3.11-slim

FROM ${BASE} AS install
COPY dist/wheels/ /wheels/
# pip runs from its own wheel: the base needs no pip, and none is left in the image.
RUN python3 -m venv --without-pip /opt/dockwarden \
 && set -- /wheels/pip-*.whl \
 && /opt/dockwarden/bin/python3 "$1/pip" --disable-pip-version-check --no-cache-dir \
      install --no-index --find-links /wheels dockwarden \
 && /opt/dockwarden/bin/dockwarden --version

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="dockwarden" \
      org.opencontainers.image.description="Audit Docker deployments end to end: daemon, host, containers, images, registries, build files." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=install /opt/dockwarden /opt/dockwarden
# A user of its own; the socket's group is added at run time (--group-add). Only the
# copied venv is new: no compiler, no wheel, no pip cache in the image.
RUN groupadd --system --gid 10001 dockwarden \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/dockwarden --create-home \
      --shell /usr/sbin/nologin dockwarden
ENV PATH=/opt/dockwarden/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/dockwarden
ENTRYPOINT ["dockwarden"]
CMD ["--help"]
