"""Connect to a Docker Engine the way the docker CLI does.

Precedence: `--host` > `DOCKER_HOST` > `--context` / `DOCKER_CONTEXT` / the current
context of ~/.docker/config.json > the default socket. TLS from `--tls*` flags, or
`DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH`, or the context's TLS material.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import docker
import docker.context
import docker.errors
import docker.tls
import requests

from dockwarden.errors import EngineUnreachable, UsageError

DEFAULT_HOST = "unix:///var/run/docker.sock"
MIN_API = "1.24"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    host: str | None = None
    context: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Connection:
    api: Any  # docker.APIClient
    url: str
    scheme: str
    tls: bool
    client_cert: bool

    @property
    def socket_path(self) -> str | None:
        return self.url[len("unix://"):] if self.scheme == "unix" else None

    @property
    def tcp_port(self) -> int | None:
        if self.scheme != "tcp":
            return None
        hostport = self.url.split("://", 1)[1].split("/", 1)[0]
        port = hostport.rsplit(":", 1)[-1]
        return int(port) if port.isdigit() else None


def _tls_from_paths(ca: str | None, cert: str | None, key: str | None,
                    verify: bool) -> docker.tls.TLSConfig:
    for path in (ca, cert, key):
        if path and not os.path.isfile(path):
            raise UsageError(f"TLS file not found: {path}")
    client_cert = (cert, key) if cert and key else None
    return docker.tls.TLSConfig(client_cert=client_cert, ca_cert=ca if verify else None,
                                verify=ca if verify and ca else verify)


def resolve(opts: EngineOptions, env: dict[str, str] | None = None) -> tuple[str, Any]:
    """The Engine URL and TLS config (False, or a TLSConfig) to use."""
    env = dict(os.environ) if env is None else env
    host = opts.host or env.get("DOCKER_HOST") or None
    tls: Any = False
    if host is None and (opts.context or env.get("DOCKER_CONTEXT") or _current_context()):
        name = opts.context or env.get("DOCKER_CONTEXT") or _current_context()
        if name and name != "default":
            try:
                ctx = docker.context.ContextAPI.get_context(name)
            except docker.errors.DockerException as exc:
                raise UsageError(f"cannot read Docker context {name!r}: {exc}") from None
            if ctx is None:
                raise UsageError(f"Docker context {name!r} does not exist",
                                 hint="list contexts with `docker context ls`")
            host = ctx.Host
            tls = ctx.TLSConfig or False
    host = host or DEFAULT_HOST
    if opts.tls or opts.tlsverify or opts.tlscacert or opts.tlscert:
        tls = _tls_from_paths(opts.tlscacert, opts.tlscert, opts.tlskey,
                              opts.tlsverify or bool(opts.tlscacert))
    elif env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_CERT_PATH"):
        path = env.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        tls = _tls_from_paths(
            os.path.join(path, "ca.pem") if verify else None,
            os.path.join(path, "cert.pem"), os.path.join(path, "key.pem"), verify,
        )
    if host.startswith("tcp://") and tls:
        host = "https://" + host[len("tcp://"):]
    return host, tls


def _current_context() -> str | None:
    try:
        return str(docker.context.ContextAPI.get_current_context_name())
    except Exception:  # an unreadable config.json means "default", as the CLI does
        return None


def connect(opts: EngineOptions, max_pool_size: int = 16) -> Connection:
    url, tls = resolve(opts)
    try:
        api = docker.APIClient(base_url=url, version=MIN_API, tls=tls, timeout=opts.timeout,
                               max_pool_size=max_pool_size)
        # requests lets REQUESTS_CA_BUNDLE and proxy variables override the CA chosen
        # above; the docker CLI ignores them for the Engine, and so do we.
        api.trust_env = False
        api._version = api._retrieve_server_version()
    except docker.errors.DockerException as exc:
        raise unreachable(url, exc) from None
    except requests.exceptions.RequestException as exc:
        raise unreachable(url, exc) from None
    if url.startswith("unix://") or url.startswith("/"):
        scheme, shown = "unix", url if url.startswith("unix://") else "unix://" + url
    elif url.startswith(("tcp://", "http://", "https://")):
        scheme = "tcp"
        shown = "tcp://" + url.split("://", 1)[1]
    else:
        scheme, shown = url.split("://", 1)[0] if "://" in url else "other", url
    return Connection(
        api=api, url=shown, scheme=scheme, tls=bool(tls),
        client_cert=bool(tls) and getattr(tls, "cert", None) is not None,
    )


def unreachable(url: str, exc: BaseException) -> EngineUnreachable:
    text = str(exc)
    if "Permission denied" in text:
        hint = "you lack access to the socket: run as root or a member of its group"
    elif "No such file" in text or "FileNotFoundError" in text:
        hint = "is dockerd running? start it, or point DOCKER_HOST / --host at the Engine"
    elif "SSL" in text or "certificate" in text.lower():
        hint = "check --tlscacert/--tlscert/--tlskey or DOCKER_CERT_PATH"
    else:
        hint = "is dockerd running and listening there? set DOCKER_HOST or --host"
    first = text.splitlines()[0] if text else type(exc).__name__
    if len(first) > 200:
        first = first[:200] + "..."
    return EngineUnreachable(f"cannot reach the Docker Engine at {url}: {first}", hint)
