"""The snapshot of one registry's transport and access control (`dockwarden registry`).

Every string here came from the audited registry or names it; renderers escape them. A
fact that could not be gathered is an `Unknown` with the reason, so that the check that
needs it is skipped rather than passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwarden.model.common import Fact


@dataclass(frozen=True, slots=True)
class Attempt:
    """One access tried (list the catalog, pull a manifest, open an upload)."""

    allowed: bool
    status: int | None  # the final HTTP status (None: refused before any answer)
    detail: str = ""  # what was done or why it was refused, one line
    url: str = ""  # the path tried, e.g. /v2/_catalog


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """The certificate the registry presents and the TLS versions it accepts."""

    version: str  # negotiated by default, e.g. "TLSv1.3"
    cipher: str
    verified: bool  # the chain and host name check out against the trusted CAs
    verify_error: str  # OpenSSL's reason when not verified ("certificate has expired")
    subject: str
    issuer: str
    not_before: str  # ISO 8601, UTC
    not_after: str
    days_left: int  # negative once expired
    self_signed: bool
    hostname_matches: bool
    names: tuple[str, ...]  # subjectAltName DNS names and IP addresses
    key: str  # "RSA 2048", "EC secp256r1", ...
    signature_hash: str  # "sha256", "sha1", ...
    # ("TLSv1", True) accepted, False refused, None not testable here (the local
    # OpenSSL cannot offer it)
    versions: tuple[tuple[str, bool | None], ...]
    trusted_cas: tuple[str, ...]  # extra CA files used: certs.d and --ca-cert


@dataclass(frozen=True, slots=True)
class Login:
    """What the credentials given (`--username`, or Docker's config.json) allow."""

    origin: str  # where they came from; never the secret itself
    accepted: Fact[bool]
    catalog: Fact[Attempt]
    pull: Fact[Attempt]
    push: Fact[Attempt]


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    ref: str  # the registry URL without credentials: scheme://host:port
    host: str  # host:port
    scheme: str  # "http" or "https" as actually spoken
    loopback: bool  # 127.0.0.0/8, ::1, localhost: traffic does not cross a network
    api_version: str  # Docker-Distribution-Api-Version header ("" when absent)
    tls: TlsFacts | None  # None over plain HTTP
    auth_scheme: str  # "none", "basic", "bearer" or the scheme named
    challenge: str  # the WWW-Authenticate header of /v2/ ("" for none)
    realm: str  # the bearer token service (or the basic realm)
    catalog: Fact[Attempt]
    repositories: tuple[str, ...]  # as listed (anonymously or with credentials), capped
    repository: Fact[str]  # the repository pull and push were tried on
    tag: str | None  # the tag pulled
    pull: Fact[Attempt]
    push: Fact[Attempt]
    login: Login | None  # None: no credentials were available
    notes: tuple[str, ...] = ()  # what the reader should know (TLS 1.0 offered, ...)
    errors: tuple[str, ...] = ()  # probes cut off (timeout, 5xx): the audit is incomplete
