"""Connect to a Docker Engine the way the docker CLI does.

Precedence: `--host` > `DOCKER_HOST` > `--context` / `DOCKER_CONTEXT` / the current
context of ~/.docker/config.json > the default socket. TLS from `--tls*` flags, or
`DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH`, or the context's TLS material.

Contexts are read here rather than with the SDK's ContextAPI, which finds the context
store only when a config.json exists (the CLI does not need one) and ignores a context's
SkipTLSVerify. The store's format: $DOCKER_CONFIG (or ~/.docker)/contexts/meta/
<sha256 of the name>/meta.json, TLS files in contexts/tls/<sha256>/docker/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dockwarden.collect.unixhttp import EngineGone, SDKGetter, UnixGetter, watch_sdk
from dockwarden.errors import DockwardenError, EngineUnreachable, UsageError
from dockwarden.sanitize import clean

DEFAULT_HOST = "unix:///var/run/docker.sock"
MIN_API = "1.24"
MAX_API = "1.45"  # the newest Engine API this code was written against


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
    api: Any  # docker.APIClient, or None on the SDK-free unix-socket path
    getter: UnixGetter | SDKGetter  # an SSHGetter is a UnixGetter
    url: str
    scheme: str
    tls: bool
    client_cert: bool
    version: Any = None  # the /version answer connect() negotiated with (asked once)

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


def _tls_from_paths(ca: str | None, cert: str | None, key: str | None, verify: bool) -> Any:
    import docker.tls

    for path in (ca, cert, key):
        if path and not os.path.isfile(path):
            raise UsageError(f"TLS file not found: {path}")
    client_cert = (cert, key) if cert and key else None
    return docker.tls.TLSConfig(client_cert=client_cert, ca_cert=ca if verify else None,
                                verify=verify)


def _config_dir(env: dict[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _current_context(env: dict[str, str]) -> str | None:
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"]
    try:
        with open(os.path.join(_config_dir(env), "config.json"), encoding="utf-8") as fh:
            data = json.loads(fh.read(1 << 20))
    except (OSError, ValueError):
        return None  # no or unreadable config.json: the default context, as the CLI does
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _context(name: str, env: dict[str, str]) -> tuple[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    store = os.path.join(_config_dir(env), "contexts")
    meta_path = os.path.join(store, "meta", digest, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.loads(fh.read(1 << 20))
        endpoint = meta["Endpoints"]["docker"]
        host = str(endpoint["Host"])
    except FileNotFoundError:
        raise UsageError(f"Docker context {name!r} does not exist",
                         hint="list contexts with `docker context ls`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read Docker context {name!r}: {exc}") from None
    tls_dir = os.path.join(store, "tls", digest, "docker")
    files = {n: os.path.join(tls_dir, f"{n}.pem") for n in ("ca", "cert", "key")}
    present = {n: p for n, p in files.items() if os.path.isfile(p)}
    skip_verify = bool(endpoint.get("SkipTLSVerify"))
    if not present and not skip_verify:
        return host, False
    return host, _tls_from_paths(present.get("ca"), present.get("cert"), present.get("key"),
                                 verify=not skip_verify)


def resolve(opts: EngineOptions, env: dict[str, str] | None = None) -> tuple[str, Any]:
    """The Engine URL and TLS config (False, or a TLSConfig) to use."""
    env = dict(os.environ) if env is None else env
    host = opts.host or env.get("DOCKER_HOST") or None
    tls: Any = False
    if host is None:
        name = opts.context or _current_context(env)
        if name and name != "default":
            host, tls = _context(name, env)
    host = host or DEFAULT_HOST
    if opts.tls or opts.tlsverify or opts.tlscacert or opts.tlscert:
        tls = _tls_from_paths(opts.tlscacert, opts.tlscert, opts.tlskey,
                              opts.tlsverify or bool(opts.tlscacert))
    elif env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_CERT_PATH"):
        path = env.get("DOCKER_CERT_PATH") or _config_dir(env)
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        tls = _tls_from_paths(
            os.path.join(path, "ca.pem") if verify else None,
            os.path.join(path, "cert.pem"), os.path.join(path, "key.pem"), verify,
        )
    check_host(host)
    if host.startswith("tcp://") and tls:
        host = "https://" + host[len("tcp://"):]
    return host, tls


_SCHEMES = ("unix", "tcp", "http", "https", "ssh", "npipe")


def check_host(host: str) -> None:
    """UsageError (exit 2) unless `host` is an Engine address the docker CLI would take:
    unix:///path, tcp://HOST[:PORT] (port 1-65535), ssh://[USER@]HOST[:PORT], npipe://."""
    hint = "expected unix:///path/to/socket, tcp://HOST:PORT or ssh://[USER@]HOST"
    shown = clean(host)
    if host.startswith("/"):
        return
    scheme = host.split("://", 1)[0] if "://" in host else ""
    if scheme not in _SCHEMES:
        raise UsageError(f"invalid Engine address {shown!r}: unknown scheme", hint)
    if scheme in ("unix", "npipe"):
        if not host[len(scheme) + 3:]:
            raise UsageError(f"invalid Engine address {shown!r}: no path", hint)
        return
    try:
        parts = urlsplit(host)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise UsageError(f"invalid Engine address {shown!r}: {clean(exc)}", hint) from None
    if port == 0:
        raise UsageError(f"invalid Engine address {shown!r}: port 0", hint)


def _display(url: str) -> tuple[str, str]:
    if url.startswith("unix://") or url.startswith("/"):
        return "unix", url if url.startswith("unix://") else "unix://" + url
    if url.startswith(("tcp://", "http://", "https://")):
        return "tcp", "tcp://" + url.split("://", 1)[1]
    return (url.split("://", 1)[0] if "://" in url else "other"), url


def connect(opts: EngineOptions, max_pool_size: int = 16, *, sdk: bool = False) -> Connection:
    """Connect and negotiate the API version. A unix socket is spoken to directly (the
    Docker SDK and requests cost a third of a second to import, more than auditing
    hundreds of containers) unless `sdk` asks for a docker.APIClient (image export)."""
    url, tls = resolve(opts)
    scheme, shown = _display(url)
    if scheme == "unix" and not sdk:
        path = shown[len("unix://"):]
        probe = UnixGetter(path, None, opts.timeout)
        try:
            status, version = probe.get("/version")
        except EngineGone as exc:
            raise unreachable(shown, exc) from None
        except DockwardenError as exc:
            raise _not_engine(shown, exc.message) from None
        finally:
            probe.close()
        api_version = min(_api_version(shown, status, version), MAX_API, key=_api_key)
        return Connection(api=None, getter=UnixGetter(path, api_version, opts.timeout),
                          url=shown, scheme=scheme, tls=False, client_cert=False,
                          version=version)
    if scheme == "ssh":
        conn = _connect_ssh(url, opts)
        if not sdk:
            return conn
        from dockwarden.collect.sshdial import SSHGetter, sdk_client

        assert isinstance(conn.getter, SSHGetter) and conn.getter.version
        conn.getter.shutdown()
        api = sdk_client(url, conn.getter.version, opts.timeout, max_pool_size)
        return Connection(api=api, getter=SDKGetter(api, opts.timeout), url=url,
                          scheme="ssh", tls=False, client_cert=False, version=conn.version)
    import docker
    import docker.errors
    import requests

    try:
        api = docker.APIClient(base_url=url, version=MIN_API, tls=tls, timeout=opts.timeout,
                               max_pool_size=max_pool_size)
        # requests lets REQUESTS_CA_BUNDLE and proxy variables override the CA chosen
        # above; the docker CLI ignores them for the Engine, and so do we.
        api.trust_env = False
        watch_sdk(api)
        getter = SDKGetter(api, opts.timeout)
        status, version = getter.request("/version", versioned=False)
        api._version = _api_version(shown, status, version)
    except EngineGone as exc:
        raise unreachable(url, exc) from None
    except DockwardenError as exc:
        raise _not_engine(shown, exc.message) from None
    except docker.errors.DockerException as exc:
        raise unreachable(url, exc) from None
    except requests.exceptions.RequestException as exc:
        raise unreachable(url, exc) from None
    except ValueError as exc:  # an address the SDK or urllib3 cannot use
        raise UsageError(f"invalid Engine address {clean(url)!r}: {clean(exc)}") from None
    return Connection(
        api=api, getter=getter, url=shown, scheme=scheme, tls=bool(tls),
        client_cert=bool(tls) and getattr(tls, "cert", None) is not None, version=version,
    )


def _connect_ssh(url: str, opts: EngineOptions) -> Connection:
    """An ssh:// Engine through `ssh HOST docker system dial-stdio` (collect/sshdial.py):
    the first connection (its /version answer negotiates the API) is kept for the
    calling thread."""
    from dockwarden.collect.sshdial import SSHGetter

    getter = SSHGetter(url, None, opts.timeout)
    try:
        status, version = getter.get("/version", what="GET /version")
    except EngineGone as exc:
        getter.shutdown()
        raise ssh_unreachable(url, str(exc)) from None
    except DockwardenError as exc:
        getter.shutdown()
        raise _not_engine(url, exc.message) from None
    getter.version = min(_api_version(url, status, version), MAX_API, key=_api_key)
    return Connection(api=None, getter=getter, url=url, scheme="ssh", tls=False,
                      client_cert=False, version=version)


def ssh_unreachable(url: str, why: str) -> EngineUnreachable:
    low = why.lower()
    if "not installed" in low and "ssh" in low and "remote" not in low:
        hint = "install the OpenSSH client (Debian: apt-get install openssh-client)"
    elif "host key" in low:
        hint = "connect once with `ssh HOST` to check and accept its key (known_hosts)"
    elif "authentication" in low:
        hint = "load the key into ssh-agent or name it (IdentityFile) in ~/.ssh/config"
    elif "docker is not installed" in low or "dial-stdio" in low:
        hint = "the remote host needs the docker CLI (docker system dial-stdio)"
    else:
        hint = "check that `ssh HOST docker system dial-stdio` works from here"
    first = why.splitlines()[0] if why else "connection closed"
    return EngineUnreachable(f"cannot reach the Docker Engine at {clean(url)}: "
                             f"{clean(first[:300])}", hint)


_API_VERSION = re.compile(r"1\.[0-9]{1,3}")


def _api_version(shown: str, status: int, version: Any) -> str:
    """The ApiVersion of a /version answer, or EngineUnreachable (not an Engine)."""
    raw = version.get("ApiVersion") if isinstance(version, dict) else None
    if status != 200 or not isinstance(raw, str) or not _API_VERSION.fullmatch(raw):
        raise _not_engine(shown, f"HTTP {status}" if status != 200 else
                          "no valid ApiVersion in its /version answer")
    return raw


def _not_engine(shown: str, why: str) -> EngineUnreachable:
    return EngineUnreachable(f"{clean(shown)} does not answer like a Docker Engine ({why})",
                             "check --host / DOCKER_HOST")


def _api_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


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


# -- many Engines ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Engine of a fleet: an address (`host`) or a Docker context, with its TLS files."""

    host: str | None = None
    context: str | None = None
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None

    @property
    def label(self) -> str:
        return self.host if self.host else f"context {self.context}"


def context_names(env: dict[str, str] | None = None) -> list[str]:
    """Every Docker context of the store (`docker context ls`), `default` first: the
    default context is the local Engine (DOCKER_HOST or the default socket)."""
    env = dict(os.environ) if env is None else env
    meta = os.path.join(_config_dir(env), "contexts", "meta")
    names = []
    try:
        entries = sorted(os.listdir(meta))
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(os.path.join(meta, entry, "meta.json"), encoding="utf-8") as fh:
                name = json.loads(fh.read(1 << 20)).get("Name")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str) and name and name != "default":
            names.append(name)
    return ["default", *sorted(names)]


_HOSTS_KEYS = ("tlscacert", "tlscert", "tlskey", "tlsverify", "context")
MAX_HOSTS_FILE = 1 << 20


def read_hosts(path: str) -> list[Endpoint]:
    """The Engines of a hosts file: one per line, blank lines and `#` comments (whole
    lines, or after a space) ignored. A line is an Engine address (unix://, tcp://,
    ssh://) or `context=NAME`, then optional `key=value` words: tlscacert=FILE,
    tlscert=FILE, tlskey=FILE (TLS with those files), tlsverify (verify the Engine's
    certificate; implied by tlscacert). A malformed line is an InputError (exit 2) that
    names its line."""
    from dockwarden.errors import InputError
    from dockwarden.safeio import read_text

    text = read_text(path, what="hosts file", max_bytes=MAX_HOSTS_FILE)
    out: list[Endpoint] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        where = f"hosts file {clean(path)} line {number}"
        words = line.split()
        fields: dict[str, str] = {}
        host: str | None = None
        for i, word in enumerate(words):
            key, eq, value = word.partition("=")
            if i == 0 and not (eq and key in _HOSTS_KEYS):
                host = word
                continue
            if key not in _HOSTS_KEYS or (key != "tlsverify" and not value):
                raise InputError(f"{where}: unknown word {clean(word)!r}",
                                 "expected ADDRESS or context=NAME, then tlscacert=FILE "
                                 "tlscert=FILE tlskey=FILE tlsverify")
            fields[key] = value
        context = fields.pop("context", None)
        if (host is None) == (context is None):
            raise InputError(f"{where}: give one Engine address or context=NAME")
        if host is not None:
            try:
                check_host(host)
            except UsageError as exc:
                raise InputError(f"{where}: {exc.message}") from None
        out.append(Endpoint(host=host, context=context,
                            tlsverify="tlsverify" in fields or "tlscacert" in fields,
                            tlscacert=fields.get("tlscacert") or None,
                            tlscert=fields.get("tlscert") or None,
                            tlskey=fields.get("tlskey") or None))
    if not out:
        raise InputError(f"hosts file {clean(path)} names no Engine")
    return out
