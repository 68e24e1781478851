"""DW401-DW406: one registry's transport and access control, judged from the snapshot
`dockwarden registry URL` gathers (collect/registry_audit.py).

A registry on a loopback address (127.0.0.0/8, ::1, localhost) is still judged, since
the checks are about its configuration, but DW401 and DW406 are lowered one step there:
its traffic does not cross a network at the address audited (the evidence says so)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockwarden.checks.registry import Fail, Scope, check, require
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.registry import Attempt, RegistrySnapshot

R = Scope.REGISTRY
REG = TargetKind.REGISTRY
EXPIRY_WARNING_DAYS = 30


def _attempt(a: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {"request": a.url, "status": a.status}
    if a.detail:
        out["detail"] = a.detail
    return out


def _auth(snap: RegistrySnapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"authentication": snap.auth_scheme}
    if snap.challenge:
        out["WWW-Authenticate"] = snap.challenge
    return out


@check(
    id="DW401", title="Registry served over plain HTTP", severity=Severity.HIGH, scope=R,
    target_kind=REG,
    rationale="Without TLS anyone on the path can read and rewrite what is pulled and "
    "pushed (images, manifests, tokens), and every Engine that uses the registry must be "
    "configured with it as an insecure registry.",
    remediation="Serve the registry over HTTPS (e.g. `http.tls` in the registry's config, "
    "or a TLS-terminating proxy) with a certificate the clients trust.",
    bad=("dockwarden registry http://registry.example:5000 -> /v2/ answers over HTTP",),
    good=("https://registry.example with a certificate from a trusted CA",),
)
def plain_http(snap: RegistrySnapshot) -> Iterator[Fail]:
    if snap.scheme != "http":
        return
    evidence: dict[str, Any] = {"url": snap.ref, "scheme": "http"}
    if snap.loopback:
        evidence["loopback"] = True
        yield Fail(evidence, Severity.MEDIUM, "on a loopback address: its traffic stays on "
                   "this host at that address, but the registry is configured without TLS")
        return
    yield Fail(evidence)


@check(
    id="DW402", title="TLS certificate invalid, expired or self-signed",
    severity=Severity.MEDIUM, scope=R, target_kind=REG,
    rationale="A certificate clients cannot verify teaches them to skip verification (or "
    "to list the registry as insecure), after which anyone on the path can impersonate it.",
    remediation="Use a certificate from a CA the clients trust (or distribute your CA to "
    "/etc/docker/certs.d/HOST:PORT/ca.crt), valid for the registry's host name, and renew "
    "it before it expires.",
    bad=("self-signed certificate", "certificate expired", "issued for another host name"),
    good=("certificate chained to a trusted CA, for this host, valid for months",),
)
def bad_certificate(snap: RegistrySnapshot) -> Iterator[Fail]:
    tls = snap.tls
    if tls is None:
        return
    problems: list[str] = []
    if tls.self_signed:
        problems.append("self-signed")
    if tls.days_left < 0:
        problems.append("expired")
    if not tls.hostname_matches:
        problems.append(f"not valid for {snap.host.rsplit(':', 1)[0].strip('[]')}")
    if not tls.verified and not problems:
        problems.append("not trusted")
    weak = tls.signature_hash in ("md5", "sha1") or (
        tls.key.startswith("RSA ") and tls.key[4:].isdigit() and int(tls.key[4:]) < 2048)
    soon = 0 <= tls.days_left < EXPIRY_WARNING_DAYS
    if not (problems or weak or soon or not tls.verified):
        return
    evidence: dict[str, Any] = {
        "subject": tls.subject, "issuer": tls.issuer, "not_after": tls.not_after,
        "days_left": tls.days_left, "names": list(tls.names), "key": tls.key,
        "signature_hash": tls.signature_hash, "verified": tls.verified,
    }
    if tls.verify_error:
        evidence["verify_error"] = tls.verify_error
    if tls.trusted_cas:
        evidence["trusted_cas"] = list(tls.trusted_cas)
    if problems or not tls.verified:
        evidence["problems"] = problems
        yield Fail(evidence, message=", ".join(problems))
        return
    why = [f"expires in {tls.days_left} days"] if soon else []
    if weak:
        why.append(f"weak {tls.key} / {tls.signature_hash}")
    evidence["problems"] = why
    yield Fail(evidence, Severity.LOW, ", ".join(why))


@check(
    id="DW403", title="Catalog listable without authentication", severity=Severity.MEDIUM,
    scope=R, target_kind=REG,
    rationale="An anonymous catalog tells anyone every repository name the registry holds: "
    "a map of what to pull and what to poison.",
    remediation="Require authentication for the catalog (token or htpasswd auth), or "
    "disable the catalog endpoint in front of the registry.",
    bad=("GET /v2/_catalog without credentials -> 200 with repositories",),
    good=("GET /v2/_catalog without credentials -> 401",),
)
def anonymous_catalog(snap: RegistrySnapshot) -> Iterator[Fail]:
    attempt = require(snap.catalog)
    if attempt.allowed:
        evidence = _attempt(attempt) | _auth(snap)
        evidence["repositories"] = list(snap.repositories[:20])
        yield Fail(evidence)


@check(
    id="DW404", title="Pull without authentication", severity=Severity.MEDIUM, scope=R,
    target_kind=REG,
    rationale="Anyone who reaches the registry can download its images: the code, "
    "configuration and any secret baked into their layers.",
    remediation="Require authentication to pull (unless the registry is meant to be "
    "public); serve public images from a separate registry or repository.",
    bad=("GET /v2/team/app/manifests/latest without credentials -> 200",),
    good=("the same request -> 401 UNAUTHORIZED",),
)
def anonymous_pull(snap: RegistrySnapshot) -> Iterator[Fail]:
    attempt = require(snap.pull)
    if attempt.allowed:
        evidence = _attempt(attempt) | _auth(snap)
        evidence["repository"] = require(snap.repository)
        yield Fail(evidence)


@check(
    id="DW405", title="Push without authentication (anyone can poison images)",
    severity=Severity.CRITICAL, scope=R, target_kind=REG,
    rationale="Anyone who reaches the registry can replace an image that hosts pull and "
    "run: a direct path to code execution wherever it is deployed.",
    remediation="Require authentication for every write (htpasswd or token auth with "
    "push scopes for CI only); never run an open registry outside a throw-away lab.",
    bad=("POST /v2/team/app/blobs/uploads/ without credentials -> 201/202",),
    good=("the same request -> 401 UNAUTHORIZED",),
)
def anonymous_push(snap: RegistrySnapshot) -> Iterator[Fail]:
    attempt = require(snap.push)
    if attempt.allowed:
        yield Fail(_attempt(attempt) | _auth(snap))


@check(
    id="DW406", title="Credentials accepted over plain HTTP", severity=Severity.HIGH,
    scope=R, target_kind=REG,
    rationale="A registry that asks for credentials over plain HTTP (Basic auth, or a "
    "token service on http://) receives every client's password in clear text.",
    remediation="Serve the registry and its token service over HTTPS only.",
    bad=("http://registry:5000 answers 401 WWW-Authenticate: Basic realm=...",),
    good=("https://registry with Basic or token auth",),
)
def credentials_over_http(snap: RegistrySnapshot) -> Iterator[Fail]:
    realm_http = snap.auth_scheme == "bearer" and snap.realm.lower().startswith("http://")
    if not ((snap.scheme == "http" and snap.auth_scheme in ("basic", "bearer"))
            or realm_http):
        return
    evidence: dict[str, Any] = {"url": snap.ref, **_auth(snap)}
    if realm_http:
        evidence["token_service"] = snap.realm
    if snap.login is not None:
        accepted = snap.login.accepted
        evidence["credentials_accepted"] = accepted if isinstance(accepted, bool) else None
        evidence["credentials_from"] = snap.login.origin
    where = snap.realm if realm_http and snap.scheme == "https" else snap.ref
    if snap.loopback and not realm_http:
        evidence["loopback"] = True
        yield Fail(evidence, Severity.MEDIUM, "on a loopback address: credentials stay on "
                   "this host at that address, but the registry asks for them over HTTP")
        return
    yield Fail(evidence, message=f"credentials go in clear text to {where}")
