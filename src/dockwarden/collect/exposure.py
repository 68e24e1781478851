"""The network probe of `dockwarden exposure`: which of the named hosts' ports answer as a
Docker Engine API or a registry, with and without TLS, and what they let a client with no
credentials do.

For one's own hosts. It probes only what the user names: a host name becomes only the
addresses it resolves to; a CIDR is expanded only up to `MAX_ADDRESSES` (a wider one is
refused before anything is sent); nothing else is discovered or followed. Every request
is a read (GET /_ping, /version, /v2/, /v2/_catalog, one repository's tag list): nothing
is written to an Engine or a registry.

Written by hand on asyncio streams rather than with an HTTP client: each probe is one
short request on a connection that may be plain or TLS, may never answer, or may refuse
the TLS handshake for want of a client certificate, and that failure is the fact sought,
not an error; thousands of them run concurrently under one bound (`concurrency`), each
connection under its own deadline (`timeout`: connect, handshake, request and answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import re
import resource
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dockwarden.errors import UsageError
from dockwarden.model.exposure import (
    AddressScan,
    Endpoint,
    EngineFacts,
    ExposureSnapshot,
    PortState,
    RegistryFacts,
    Service,
)
from dockwarden.sanitize import clean, excerpt

# The Docker Engine API's ports (plain, TLS) and the ports registries are usually
# served on: distribution's default 5000, HTTPS 443, 5001 (a second local registry),
# 5050 (GitLab's container registry), 8443 (HTTPS on an unprivileged port).
ENGINE_PORTS = (2375, 2376)
REGISTRY_PORTS = (443, 5000, 5001, 5050, 8443)
DEFAULT_PORTS = (*ENGINE_PORTS, *REGISTRY_PORTS)
MAX_ADDRESSES = 4096  # a wider CIDR (or more addresses in all) is refused
DEFAULT_CONCURRENCY = 256
DEFAULT_TIMEOUT = 3.0
MAX_REPLY = 64 << 10  # bytes of an answer read at most
_HEADER_LIMIT = 16 << 10
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
# TLS alerts that mean "you offered no (acceptable) client certificate"
_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "HANDSHAKE_FAILURE",
                "PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_UNKNOWN")


# --- what the user named -------------------------------------------------------------


def parse_ports(text: str) -> tuple[int, ...]:
    """`1-1024,8080` as sorted, unique ports; a UsageError naming the bad part."""
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            a = int(low)
            b = int(high) if sep else a
        except ValueError:
            raise UsageError(f"--ports: not a port or range: {excerpt(part)!r}",
                             "e.g. --ports 1-1024,8080") from None
        if not (1 <= a <= 65535 and 1 <= b <= 65535) or a > b:
            raise UsageError(f"--ports: {excerpt(part)!r} is not within 1-65535 (low-high)",
                             "e.g. --ports 1-1024,8080")
        ports.update(range(a, b + 1))
    if not ports:
        raise UsageError("--ports names no port", "e.g. --ports 1-1024,8080")
    return tuple(sorted(ports))


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One TARGET argument: a host name, an address, or a network; with or without a
    port."""

    text: str  # as given (for messages)
    name: str | None = None  # a host name to resolve
    address: str | None = None  # an IP address
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"{clean(whole)}: {excerpt(text)!r} is not a port (1-65535)")
    return int(text)


def parse_target(text: str) -> TargetSpec:
    """HOST, ADDRESS, HOST:PORT, [IPV6]:PORT or a CIDR (`tcp://`, `http://`, `https://`
    prefixes, as in DOCKER_HOST, are read as HOST:PORT)."""
    raw = text.strip()
    for prefix in ("tcp://", "http://", "https://"):
        if raw.lower().startswith(prefix):
            raw = raw[len(prefix):].rstrip("/")
            break
    if not raw or len(raw) > 300:
        raise UsageError(f"not a target: {excerpt(text)!r}",
                         "name a host, an address, HOST:PORT or a CIDR such as 10.0.0.0/28")
    if "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise UsageError(f"not a network (CIDR): {excerpt(text)!r}",
                             "e.g. 10.0.0.0/28; name ports with --ports") from None
        if net.num_addresses > MAX_ADDRESSES:
            raise UsageError(
                f"{clean(raw)} holds {net.num_addresses:,} addresses; exposure probes at most "
                f"{MAX_ADDRESSES:,} (a /20 of IPv4)",
                "name a narrower network: exposure is for probing one's own hosts")
        return TargetSpec(text, network=net)
    port: int | None = None
    host = raw
    if raw.startswith("["):
        inner, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"not a target: {excerpt(text)!r}", "e.g. [2001:db8::1]:2375")
        host = inner
        if rest:
            port = _port(rest[1:], raw)
    elif raw.count(":") == 1:
        host, _, tail = raw.partition(":")
        port = _port(tail, raw)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return TargetSpec(text, address=str(address), port=port)
    if not _NAME.fullmatch(host) or ".." in host:
        raise UsageError(f"not a host name or address: {excerpt(text)!r}",
                         "name a host, an address, HOST:PORT or a CIDR such as 10.0.0.0/28")
    return TargetSpec(text, name=host.lower().rstrip("."), port=port)


@dataclass(slots=True)
class Planned:
    """One address to probe and the ports to probe on it."""

    host: str  # shown in refs
    address: str
    ports: set[int] = field(default_factory=set)
    name: str | None = None  # the name the user gave (Host header, TLS SNI)


@dataclass(frozen=True, slots=True)
class Plan:
    addresses: tuple[Planned, ...]
    unresolved: tuple[tuple[str, str], ...] = ()  # (name, why)

    @property
    def probes(self) -> int:
        return sum(len(a.ports) for a in self.addresses)


async def _resolve(name: str, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen[str(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))] = None
    return list(seen)


async def plan(targets: list[TargetSpec], ports: tuple[int, ...], timeout: float) -> Plan:
    """The addresses and ports to probe: each name resolved (to its own addresses only),
    each network expanded; `ports` for targets without a port, the given port alone for
    HOST:PORT. More than MAX_ADDRESSES addresses in all is a UsageError."""
    for t in targets:
        if t.port is None and not ports:
            raise UsageError(f"{clean(t.text)}: no port to probe (--no-default-ports "
                             "without --ports)", "name ports with --ports, or the target "
                             "as HOST:PORT")
    by_address: dict[str, Planned] = {}
    unresolved: list[tuple[str, str]] = []

    def add(address: str, host: str, wanted: tuple[int, ...], name: str | None) -> None:
        entry = by_address.get(address)
        if entry is None:
            if len(by_address) >= MAX_ADDRESSES:
                raise UsageError(f"the targets hold more than {MAX_ADDRESSES:,} addresses",
                                 "probe fewer hosts at a time: exposure is for one's own "
                                 "hosts")
            entry = by_address[address] = Planned(host, address, name=name)
        entry.ports.update(wanted)

    names = sorted({t.name for t in targets if t.name})
    resolved: dict[str, list[str] | str] = {}
    if names:
        outcomes = await asyncio.gather(*(_resolve(n, timeout) for n in names),
                                        return_exceptions=True)
        for n, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                why = ("no answer within the timeout" if isinstance(outcome, TimeoutError)
                       else excerpt(getattr(outcome, "strerror", None) or outcome, 120))
                resolved[n] = why
            else:
                resolved[n] = outcome or "resolves to no address"
    for t in targets:
        wanted = (t.port,) if t.port is not None else ports
        if t.network is not None:
            hosts = list(t.network.hosts()) or [t.network.network_address]
            for member in hosts:
                add(str(member), str(member), wanted, None)
        elif t.address is not None:
            add(t.address, t.address, wanted, None)
        elif t.name is not None:
            found = resolved[t.name]
            if isinstance(found, str):
                if (t.name, found) not in unresolved:
                    unresolved.append((t.name, found))
                continue
            for address in found:
                add(address, t.name if len(found) == 1 else address, wanted, t.name)
    return Plan(tuple(by_address.values()), tuple(unresolved))


# --- one HTTP exchange ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class NotHTTP(Exception):
    """The peer answered something other than HTTP, or nothing."""


def _parse(data: bytes) -> Reply:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not data.startswith(b"HTTP/") or not sep:
        raise NotHTTP(excerpt(data[:40]) if data else "closed without an answer")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise NotHTTP(f"bad status line {excerpt(lines[0])!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return Reply(int(parts[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, sep, rest = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if not sep or size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


def _complete(data: bytes) -> bool:
    """Whether `data` holds a whole answer (the connection may stay open after it)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lower = head.lower()
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
    if m:
        return len(body) >= int(m.group(1))
    if b"\r\ntransfer-encoding:" in lower and b"chunked" in lower:
        return body.endswith(b"0\r\n\r\n")
    return head.startswith((b"HTTP/1.1 204", b"HTTP/1.1 304"))


def _cert_refusal(exc: BaseException) -> str | None:
    """The TLS alert, when `exc` says the server wanted a client certificate."""
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper()
    for alert in _CERT_ALERTS:
        if alert in text:
            return alert.lower().replace("_", " ")
    return None


class TLSRefused(Exception):
    """The TLS server refused us for want of a client certificate."""

    def __init__(self, alert: str) -> None:
        super().__init__(alert)
        self.alert = alert


class Prober:
    """The probes of one run: its TLS context, timeout and counters."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # No certificate verification: this asks what the server lets an anonymous client
        # do, not whether to trust it. No client certificate is ever offered.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.tls = ctx

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        host: str, path: str) -> Reply:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockwarden\r\n"
                     "Accept: application/json\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = b""
        while len(data) < MAX_REPLY:
            chunk = await reader.read(MAX_REPLY - len(data))
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
            if b"\r\n\r\n" not in data and len(data) > _HEADER_LIMIT:
                break
        return _parse(data)

    async def get(self, address: str, port: int, host: str, path: str, *, tls: bool,
                  sni: str | None) -> Reply:
        """One GET on a new connection, within the timeout. Raises NotHTTP, TLSRefused,
        TimeoutError or OSError."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    reader, writer = await asyncio.open_connection(
                        address, port, ssl=self.tls if tls else None,
                        server_hostname=(sni or "") if tls else None)
                    return await self._exchange(reader, writer, host, path)
                except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
                    alert = _cert_refusal(exc) if tls else None
                    if alert:
                        raise TLSRefused(alert) from None
                    if isinstance(exc, ssl.SSLError):
                        raise NotHTTP(f"TLS: {excerpt(exc.reason or exc, 80)}") from None
                    raise
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 0.5)

    # --- one port ----------------------------------------------------------------------

    async def connect(self, address: str, port: int) -> tuple[PortState, Any]:
        """Open a plain connection: its state, and (reader, writer) when open."""
        try:
            async with asyncio.timeout(self.timeout):
                pair = await asyncio.open_connection(address, port)
        except TimeoutError:
            return PortState.FILTERED, None
        except ConnectionRefusedError:
            return PortState.CLOSED, None
        except OSError as exc:
            if exc.errno in (errno.ETIMEDOUT,):
                return PortState.FILTERED, None
            return PortState.UNREACHABLE, None
        return PortState.OPEN, pair

    async def probe(self, target: Planned, port: int) -> tuple[PortState, Endpoint | None]:
        state, pair = await self.connect(target.address, port)
        if state is not PortState.OPEN:
            return state, None
        host = target.name or (f"[{target.address}]" if ":" in target.address
                               else target.address)
        host_header = f"{host}:{port}"
        reader, writer = pair
        plain: Reply | None = None
        try:
            async with asyncio.timeout(self.timeout):
                plain = await self._exchange(reader, writer, host_header, "/_ping")
        except (NotHTTP, TimeoutError, OSError, ssl.SSLError):
            plain = None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 0.5)
        base: dict[str, Any] = {"host": target.host, "address": target.address, "port": port}
        if plain is not None and not _asks_for_tls(plain):
            return state, await self._identify(base, plain, host_header, tls=False, sni=None)
        try:
            ping = await self.get(target.address, port, host_header, "/_ping", tls=True,
                                  sni=target.name)
        except TLSRefused as refused:
            return state, Endpoint(**base, service=Service.TLS_CLIENT_AUTH, tls=True,
                                   client_cert_required=True, tls_refusal=refused.alert)
        except (NotHTTP, TimeoutError, OSError):
            # neither plain HTTP nor TLS: some other service
            server = plain.headers.get("server", "") if plain is not None else ""
            return state, Endpoint(**base, service=Service.UNKNOWN, tls=False,
                                   server=excerpt(server))
        return state, await self._identify(base, ping, host_header, tls=True,
                                           sni=target.name)

    async def _identify(self, base: dict[str, Any], ping: Reply, host_header: str, *,
                        tls: bool, sni: str | None) -> Endpoint:
        address, port = base["address"], base["port"]
        server = excerpt(ping.headers.get("server", ""))
        cert = False if tls else None
        if _is_engine(ping):
            return Endpoint(**base, service=Service.ENGINE, tls=tls, client_cert_required=cert,
                            engine=await self._engine(address, port, host_header, tls, sni),
                            server=server)
        registry = await self._registry(address, port, host_header, tls, sni)
        if registry is not None:
            return Endpoint(**base, service=Service.REGISTRY, tls=tls,
                            client_cert_required=cert, registry=registry, server=server)
        return Endpoint(**base, service=Service.UNKNOWN, tls=tls, client_cert_required=cert,
                        server=server)

    async def _get(self, address: str, port: int, host: str, path: str, tls: bool,
                   sni: str | None) -> Reply | None:
        try:
            return await self.get(address, port, host, path, tls=tls, sni=sni)
        except (NotHTTP, TLSRefused, TimeoutError, OSError):
            return None

    async def _engine(self, address: str, port: int, host: str, tls: bool,
                      sni: str | None) -> EngineFacts:
        reply = await self._get(address, port, host, "/version", tls, sni)
        if reply is None:
            return EngineFacts(version_status=None)
        if reply.status != 200:
            return EngineFacts(version_status=reply.status)
        doc = _json(reply.body)
        return EngineFacts(
            version_status=200,
            version=excerpt(doc.get("Version", ""), 40),
            api_version=excerpt(doc.get("ApiVersion", ""), 20),
            os=excerpt(doc.get("Os", ""), 20),
            arch=excerpt(doc.get("Arch", ""), 20),
            kernel=excerpt(doc.get("KernelVersion", ""), 60),
        )

    async def _registry(self, address: str, port: int, host: str, tls: bool,
                        sni: str | None) -> RegistryFacts | None:
        v2 = await self._get(address, port, host, "/v2/", tls, sni)
        if v2 is None or not _is_registry(v2):
            return None
        if v2.status != 200:
            return RegistryFacts(status=v2.status,
                                 challenge=excerpt(v2.headers.get("www-authenticate", ""), 160))
        catalog = await self._get(address, port, host, "/v2/_catalog?n=100", tls, sni)
        if catalog is None:
            return RegistryFacts(status=200)
        repos: list[str] = []
        if catalog.status == 200:
            listed = _json(catalog.body).get("repositories")
            if isinstance(listed, list):
                repos = [r for r in listed if isinstance(r, str)]
        shown = tuple(excerpt(r, 60) for r in repos[:5])
        first = next((r for r in repos if _REPOSITORY.fullmatch(r) and len(r) <= 255), "")
        tags_status: int | None = None
        if first:
            tags = await self._get(address, port, host, f"/v2/{first}/tags/list", tls, sni)
            tags_status = None if tags is None else tags.status
        return RegistryFacts(status=200, catalog_status=catalog.status, repositories=shown,
                             repository_count=len(repos), tags_status=tags_status,
                             tags_repository=excerpt(first, 60))


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _asks_for_tls(reply: Reply) -> bool:
    """Go's and nginx's answer to plain HTTP sent to a TLS port."""
    text = reply.body[:300].lower()
    return reply.status == 400 and (b"https" in text or b"tls" in text or b"ssl" in text)


def _is_engine(ping: Reply) -> bool:
    h = ping.headers
    return "api-version" in h or h.get("server", "").startswith("Docker/")


def _is_registry(v2: Reply) -> bool:
    version = v2.headers.get("docker-distribution-api-version", "").lower()
    if version.startswith("registry/2"):
        return True
    # a registry that omits the header: 200 with a JSON object, or a 401 challenge
    challenge = v2.headers.get("www-authenticate", "").lower()
    return v2.status == 401 and challenge.startswith(("basic", "bearer"))


# --- the scan --------------------------------------------------------------------------

Progress = Callable[[int, int, int], None]  # (done, total, open so far)


def concurrency_bound(wanted: int) -> int:
    """`wanted`, lowered to what the open-files limit leaves room for."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - 64))


async def scan(planned: Plan, *, timeout: float, concurrency: int,
               progress: Progress | None = None) -> ExposureSnapshot:
    prober = Prober(timeout)
    total = planned.probes
    jobs: Iterator[tuple[Planned, int]] = (
        (target, port) for target in planned.addresses for port in sorted(target.ports))
    states: dict[str, dict[PortState, int]] = {a.address: {} for a in planned.addresses}
    endpoints: list[Endpoint] = []
    filtered: list[str] = []
    done = 0

    async def worker() -> None:
        nonlocal done
        for target, port in jobs:  # one shared iterator: each job is taken once
            state, endpoint = await prober.probe(target, port)
            counts = states[target.address]
            counts[state] = counts.get(state, 0) + 1
            if endpoint is not None:
                endpoints.append(endpoint)
            elif state is PortState.FILTERED:
                host = f"[{target.host}]" if ":" in target.host else target.host
                filtered.append(f"{host}:{port}")
            done += 1
            if progress is not None:
                progress(done, total, len(endpoints))

    workers = min(concurrency_bound(concurrency), total)
    if workers:
        await asyncio.gather(*(worker() for _ in range(workers)))
    order = {a.address: i for i, a in enumerate(planned.addresses)}
    endpoints.sort(key=lambda e: (order[e.address], e.port))
    addresses = [AddressScan(a.host, a.address, len(a.ports), dict(states[a.address]))
                 for a in planned.addresses]
    addresses += [AddressScan(name, "", 0, {}, error=why) for name, why in planned.unresolved]
    return ExposureSnapshot(tuple(addresses), tuple(endpoints), tuple(sorted(filtered)))


def collect(targets: list[str], ports: tuple[int, ...], *, timeout: float,
            concurrency: int, progress: Progress | None = None) -> ExposureSnapshot:
    """Parse, resolve and probe `targets` (UsageError for a bad target or too many
    addresses, before anything is sent)."""
    specs = [parse_target(t) for t in targets]

    async def run() -> ExposureSnapshot:
        planned = await plan(specs, ports, timeout)
        return await scan(planned, timeout=timeout, concurrency=concurrency,
                          progress=progress)

    return asyncio.run(run())
