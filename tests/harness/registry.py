"""A real registry for tests: Debian's `docker-registry` (distribution 2.8) on
127.0.0.1:<free port>, open or with htpasswd auth, in a temp dir removed at teardown; and
`push()`, which pushes an Engine image there through the Engine API and removes the tag it
made; and `FakeRegistry`, a scripted HTTP server on 127.0.0.1 for misbehaving registries.

The htpasswd file needs bcrypt: the `bcrypt` package (a test extra) or, failing that,
`htpasswd -B` from apache2-utils.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

import yaml

REGISTRY_BIN = "/usr/bin/docker-registry"
START_TIMEOUT = 20.0


class RegistryUnavailable(RuntimeError):
    """docker-registry could not be installed or started."""


def _registry_binary() -> str:
    found = REGISTRY_BIN if os.path.exists(REGISTRY_BIN) else shutil.which("docker-registry")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "docker-registry"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RegistryUnavailable(f"apt-get install docker-registry failed:\n"
                                      f"{res.stderr[-2000:]}")
    found = REGISTRY_BIN if os.path.exists(REGISTRY_BIN) else shutil.which("docker-registry")
    if not found:
        raise RegistryUnavailable("docker-registry installed but not found")
    return found


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash that Go's x/crypto/bcrypt (the registry's htpasswd) accepts."""
    try:
        import bcrypt
    except ImportError:
        tool = shutil.which("htpasswd")
        if tool is None:
            raise RegistryUnavailable(
                "need the bcrypt package (pip install bcrypt) or htpasswd (apache2-utils)"
            ) from None
        out = subprocess.run([tool, "-nbB", "-C", "4", "u", password], capture_output=True,
                             text=True, check=True).stdout
        return out.strip().split(":", 1)[1]
    hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    return hashed.decode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """`with Registry(auth=True) as reg:` -> reg.url ("127.0.0.1:PORT"), reg.username,
    reg.password (None without auth), reg.root (the storage dir), reg.log_path."""

    def __init__(self, auth: bool = False, tls: tuple[str, str] | None = None,
                 min_tls: str | None = None) -> None:
        """`tls`: (certificate, key) PEM files to serve HTTPS with; `min_tls`: the
        lowest version it accepts ("tls1.0", "tls1.1", "tls1.2"; the registry's default
        is tls1.2)."""
        self.auth = auth
        self.tls = tls
        self.min_tls = min_tls
        self.username: str | None = "dwtest" if auth else None
        self.password: str | None = secrets.token_urlsafe(12) if auth else None
        self.dir = ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.url}"

    @property
    def root(self) -> str:
        return os.path.join(self.dir, "data")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "registry.log")

    def auth_config(self) -> dict[str, str] | None:
        if not self.auth:
            return None
        assert self.username and self.password
        return {"username": self.username, "password": self.password,
                "serveraddress": self.url}

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": self.root},
                        "delete": {"enabled": True}},
            "http": {"addr": self.url, "secret": secrets.token_hex(16)},
        }
        if self.tls:
            tls: dict[str, str] = {"certificate": self.tls[0], "key": self.tls[1]}
            if self.min_tls:
                tls["minimumtls"] = self.min_tls
            config["http"]["tls"] = tls
        if self.auth:
            htpasswd = os.path.join(self.dir, "htpasswd")
            assert self.password
            with open(htpasswd, "w") as fh:
                fh.write(f"{self.username}:{bcrypt_hash(self.password)}\n")
            config["auth"] = {"htpasswd": {"realm": "dockwarden-test", "path": htpasswd}}
        return config

    def _ready(self) -> bool:
        context = None
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"{self.base}/v2/", timeout=2, context=context):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False

    def start(self) -> Registry:
        binary = _registry_binary()
        self.dir = tempfile.mkdtemp(prefix="dw-registry-")
        os.makedirs(self.root)
        for _attempt in range(3):  # the free port may be taken before the registry binds
            self.port = free_port()
            cfg = os.path.join(self.dir, "config.yml")
            with open(cfg, "w") as fh:
                yaml.safe_dump(self._config(), fh)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([binary, "serve", cfg], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._ready():
                    return self
                time.sleep(0.1)
            self._kill()
        log_tail = ""
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as fh:
            log_tail = "".join(fh.readlines()[-20:])
        self.close()
        raise RegistryUnavailable(f"docker-registry did not start:\n{log_tail}")

    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def push(api: Any, registry: Registry, source: str, repository: str, tag: str) -> str:
    """Push the Engine image `source` to `registry` as repository:tag; return the manifest
    digest the Engine reports. The tag made on the Engine for the push is removed again
    (only the tag: the image stays)."""
    target = f"{registry.url}/{repository}"
    api.tag(source, target, tag)
    digest = ""
    try:
        for event in api.push(target, tag, auth_config=registry.auth_config(),
                              stream=True, decode=True):
            if event.get("error"):
                raise RuntimeError(f"push of {target}:{tag} failed: {event['error']}")
            aux = event.get("aux") or {}
            if aux.get("Digest"):
                digest = str(aux["Digest"])
    finally:
        api.remove_image(f"{target}:{tag}", noprune=True)
    if not digest:
        raise RuntimeError(f"push of {target}:{tag} reported no digest")
    return digest


# --- a scripted fake registry -------------------------------------------------------------

Handler = Callable[["_FakeHandler"], None]


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.owner.requests.append(
            FakeRequest(self.command, self.path, dict(self.headers.items()), body))
        route = self.server.owner.routes.get((self.command, path)) \
            or self.server.owner.routes.get(("*", path))
        if route is None:
            self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}',
                       {"Content-Type": "application/json"})
        else:
            route(self)

    do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              *, length: bool = True) -> None:
        """Answer; with length=False no Content-Length: the body ends with the connection."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)


@dataclasses.dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class FakeRegistry:
    """An HTTP (or, given `tls`, HTTPS) server on 127.0.0.1:<free port> in a thread
    answering from `routes` ((method or "*", path) -> handler(request_handler)) and
    recording `requests`.
    `serve(path, status, body, headers)` adds a canned answer."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[FakeRequest] = []
        self._server = _FakeServer(("127.0.0.1", 0), _FakeHandler)
        self._server.owner = self
        if tls is not None:  # HTTPS: the handshake runs as each connection is accepted
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serve(self, path: str, status: int = 200, body: bytes = b"",
              headers: dict[str, str] | None = None, method: str = "*",
              length: bool = True) -> None:
        def handler(h: _FakeHandler) -> None:
            h.reply(status, body, headers, length=length)
        self.routes[(method, path)] = handler

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# --- certificates for TLS registries ------------------------------------------------------


@dataclasses.dataclass
class Issued:
    """A certificate and its key as PEM files; `ca` holds the CA objects when it is one."""

    cert: str
    key: str
    ca: tuple[Any, Any] | None = None  # (x509.Certificate, private key) of a CA


def make_ca(directory: str, name: str = "dockwarden test CA") -> Issued:
    """A CA certificate (EC P-256, valid for a day around now) in `directory`."""
    return _issue(directory, "ca", subject=name, hosts=(), issuer=None, is_ca=True)


def make_cert(directory: str, stem: str, *, hosts: tuple[str, ...] = ("127.0.0.1",),
              issuer: Issued | None = None, days: tuple[int, int] = (-1, 30)) -> Issued:
    """A server certificate for `hosts` (IP addresses or DNS names), signed by `issuer`
    (a `make_ca` result) or self-signed, valid from now+days[0] to now+days[1] days."""
    return _issue(directory, stem, subject=hosts[0] if hosts else stem, hosts=hosts,
                  issuer=issuer, is_ca=False, days=days)


def _issue(directory: str, stem: str, *, subject: str, hosts: tuple[str, ...],
           issuer: Issued | None, is_ca: bool, days: tuple[int, int] = (-1, 1)) -> Issued:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    if issuer is not None:
        assert issuer.ca is not None
        issuer_cert, signer = issuer.ca
        issuer_name = issuer_cert.subject
    else:
        signer, issuer_name = key, name
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + dt.timedelta(days=days[0]))
               .not_valid_after(now + dt.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None),
                              critical=True))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True,
            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    cert_path = os.path.join(directory, f"{stem}.crt")
    key_path = os.path.join(directory, f"{stem}.key")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return Issued(cert_path, key_path, (cert, key) if is_ca else None)
