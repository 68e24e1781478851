"""What a network probe found at each HOST:PORT (`dockwarden exposure`): frozen facts that
the DW70x checks judge. Built by `collect/exposure.py`; nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PortState(StrEnum):
    OPEN = "open"  # a TCP connection was accepted
    CLOSED = "closed"  # refused (RST)
    FILTERED = "filtered"  # no answer within the timeout
    UNREACHABLE = "unreachable"  # no route, host down (ICMP error)


class Service(StrEnum):
    ENGINE = "engine"  # answered /_ping as a Docker Engine
    REGISTRY = "registry"  # answered /v2/ as a Docker distribution registry
    TLS_CLIENT_AUTH = "tls-client-auth"  # TLS that refuses clients without a certificate
    UNKNOWN = "unknown"  # open, neither of the above


@dataclass(frozen=True, slots=True)
class EngineFacts:
    """An Engine API found: whether /version answered without credentials, and what it
    said (version strings are the server's own words, already cut short)."""

    version_status: int | None  # HTTP status of GET /version; None: no answer
    version: str = ""
    api_version: str = ""
    os: str = ""
    arch: str = ""
    kernel: str = ""


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    """A registry found at /v2/: its status, its challenge when it asks for credentials,
    and what an anonymous client could read (push is never tried here)."""

    status: int
    challenge: str = ""  # WWW-Authenticate, when 401
    catalog_status: int | None = None  # GET /v2/_catalog; None: not tried
    repositories: tuple[str, ...] = ()  # the first few names the catalog listed
    repository_count: int = 0
    tags_status: int | None = None  # GET /v2/<first repository>/tags/list
    tags_repository: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One open HOST:PORT and what answered there."""

    host: str  # as shown: the name the user gave (one address) or the address
    address: str
    port: int
    service: Service
    tls: bool  # the service was reached over TLS
    # TLS only: whether the server refused a client that offered no certificate, and how
    client_cert_required: bool | None = None
    tls_refusal: str = ""
    engine: EngineFacts | None = None
    registry: RegistryFacts | None = None
    server: str = ""  # the Server header, when one was sent

    @property
    def ref(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class AddressScan:
    """One address probed: how many of its ports ended in each state."""

    host: str  # as shown (see Endpoint.host)
    address: str
    ports: int
    states: dict[PortState, int] = field(default_factory=dict)
    # a host name that did not resolve: no address, the reason here
    error: str = ""


@dataclass(frozen=True, slots=True)
class ExposureSnapshot:
    addresses: tuple[AddressScan, ...]
    endpoints: tuple[Endpoint, ...]  # the open ports, in address then port order
    filtered: tuple[str, ...] = ()  # HOST:PORT refs that did not answer in time
