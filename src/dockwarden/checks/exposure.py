"""DW701-DW703: what an open HOST:PORT lets a client without credentials do (pure; the
facts come from `collect/exposure.py`).

Each check is `f(ep: Endpoint) -> Iterator[Fail]`, run once per open endpoint with
target kind `endpoint`, ref `HOST:PORT`, source `network`. Closed, filtered and
unreachable ports are never judged: nothing answered there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockwarden.checks.registry import Fail, Scope, check
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.exposure import Endpoint, EngineFacts, Service

E = Scope.ENDPOINT
EP = TargetKind.ENDPOINT


def _engine_evidence(ep: Endpoint, facts: EngineFacts) -> dict[str, Any]:
    evidence: dict[str, Any] = {"url": ep.url, "answered": "GET /_ping, GET /version"}
    if ep.host != ep.address:
        evidence["address"] = ep.address
    for key, value in (("version", facts.version), ("api_version", facts.api_version),
                       ("os", facts.os), ("arch", facts.arch), ("kernel", facts.kernel)):
        if value:
            evidence[key] = value
    return evidence


@check(
    id="DW701", severity=Severity.CRITICAL, scope=E, target_kind=EP,
    title="Engine API answers without authentication at HOST:PORT",
    rationale="Whoever reaches this port can drive the Engine: start a privileged "
    "container that mounts the host's / and so become root on the host. Scanners find "
    "open 2375 ports within minutes of them appearing on the Internet.",
    remediation="Stop listening on TCP (remove -H tcp://... / \"hosts\" in daemon.json) "
    "and use the unix socket or ssh://; if remote access is needed, use --tlsverify with "
    "client certificates and firewall the port.",
    references=("https://docs.docker.com/engine/security/protect-access/",),
    bad=("dockerd -H tcp://0.0.0.0:2375 (GET http://host:2375/version answers)",),
    good=("dockerd -H unix:///var/run/docker.sock (port 2375 closed)",),
)
def engine_without_auth(ep: Endpoint) -> Iterator[Fail]:
    if ep.service is Service.ENGINE and not ep.tls and ep.engine is not None \
            and ep.engine.version_status == 200:
        yield Fail(_engine_evidence(ep, ep.engine))


@check(
    id="DW702", severity=Severity.CRITICAL, scope=E, target_kind=EP,
    title="Engine API on TLS accepts clients without a certificate",
    rationale="TLS without client-certificate verification encrypts the traffic but "
    "lets anyone who reaches the port drive the Engine, which is root on the host.",
    remediation="Run dockerd with --tlsverify and --tlscacert so that only clients with "
    "a certificate signed by your CA are accepted.",
    references=("https://docs.docker.com/engine/security/protect-access/",),
    bad=("dockerd --tls --tlscert ... --tlskey ... -H tcp://0.0.0.0:2376",),
    good=("dockerd --tlsverify --tlscacert ca.pem --tlscert ... -H tcp://0.0.0.0:2376",),
)
def engine_tls_without_client_cert(ep: Endpoint) -> Iterator[Fail]:
    if ep.service is Service.ENGINE and ep.tls and ep.engine is not None \
            and ep.engine.version_status == 200:
        evidence = _engine_evidence(ep, ep.engine)
        evidence["client_certificate"] = "not required"
        yield Fail(evidence)


@check(
    id="DW703", severity=Severity.HIGH, scope=E, target_kind=EP,
    title="Registry answers anonymously at HOST:PORT",
    rationale="A registry that answers /v2/ without credentials lets anyone list and "
    "pull its images (and often push: anyone could then poison them).",
    remediation="Turn on authentication (htpasswd, a token server) and serve it over "
    "TLS only; run `dockwarden registry URL` for the transport, catalog, pull and push "
    "checks (DW401-DW406).",
    references=("https://distribution.github.io/distribution/about/configuration/#auth",),
    bad=("registry:2 with no auth section (GET /v2/ is 200 anonymously)",),
    good=("registry:2 with auth: htpasswd (GET /v2/ is 401 with a Basic challenge)",),
)
def registry_anonymous(ep: Endpoint) -> Iterator[Fail]:
    reg = ep.registry
    if ep.service is not Service.REGISTRY or reg is None or reg.status != 200:
        return
    evidence: dict[str, Any] = {"url": f"{ep.url}/v2/", "v2": "200 without credentials"}
    if ep.host != ep.address:
        evidence["address"] = ep.address
    if reg.catalog_status == 200:
        names = ", ".join(reg.repositories)
        more = "" if reg.repository_count <= len(reg.repositories) else ", ..."
        evidence["catalog"] = (f"listable: {reg.repository_count} repositories"
                               + (f" ({names}{more})" if names else ""))
    elif reg.catalog_status is not None:
        evidence["catalog"] = f"refused ({reg.catalog_status})"
    if reg.tags_status == 200:
        evidence["pull"] = f"tags of {reg.tags_repository} readable"
    elif reg.tags_status is not None:
        evidence["pull"] = f"tags of {reg.tags_repository} refused ({reg.tags_status})"
    evidence["push"] = "not tried (exposure only reads): see `dockwarden registry`"
    yield Fail(evidence, severity=None)
