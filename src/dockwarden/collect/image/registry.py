"""An image read from a registry over the Registry HTTP API v2 (the OCI distribution API).

`RegistrySource` resolves a reference (Docker's naming rules) to one image manifest,
following an OCI index or a Docker manifest list to one platform, then streams the config
and each layer blob, checking each blob's size and sha256 as its bytes are read.

Written by hand on httpx, the project's HTTP client for registries: the Python registry
clients (python-dxf, oras-py) are built on requests, and what is needed here is small and
follows Docker's own code: the reference grammar, the `WWW-Authenticate` challenge (Basic,
or Bearer through a token service), Docker's `config.json` credentials (inline `auth`,
`identitytoken`, credential helpers) and `/etc/docker/certs.d/<host>/` CAs. Plain HTTP
is used with `insecure=True` and, as Docker does, for loopback hosts (127.0.0.0/8,
localhost, ::1); HTTPS everywhere else.

Errors, as the CLI turns them into exit codes:
- `InputError` (2) for what the user asked: a malformed reference, an image or tag the
  registry does not have, a platform the index does not offer, a schema 1 manifest,
  missing or refused credentials (`RegistryAuthError`): running again will not help
  until the input changes;
- `RegistryError` (3) when the audit could not complete: registry unreachable, refused
  connection, timeout, TLS failure, a 5xx or an HTML error page, a manifest that is not
  JSON or is too large, a blob whose size or digest does not match its descriptor, a blob
  the registry lacks although its manifest names it.
Credentials never appear in a message, a repr or a log line.

Hostile registries (the registry is as untrusted as the image):
- Credentials (Basic, or to a token service) go only over https, or over plain HTTP to a
  loopback host; never to an http token realm named by a TLS registry (refused with a
  one-line error). A token realm on another https host is allowed, as Docker does for
  Docker Hub, and noted in the debug log.
- `--timeout` bounds each whole request: a `Deadline` per request and a `watchdog` that
  shuts the socket down when it passes, so a server sending one byte a second cannot hold
  the audit. A blob may legitimately take long: its body must arrive at
  `MIN_BLOB_RATE` or faster, measured over each window of `timeout` seconds spent
  waiting for the network (time the consumer spends is not counted), so a trickling blob
  ends within about twice the timeout and a blob of S bytes within S / MIN_BLOB_RATE.
- Every JSON document enters through `_json_document`: a size cap (`MAX_MANIFEST` for
  manifests and indexes, `MAX_CONFIG` for image configs, `MAX_SMALL_BODY` for token
  answers), a nesting cap (`MAX_JSON_DEPTH`) and a shape check of the fields dockwarden
  reads (`check_shape`); a document that fails is a one-line `RegistryError`.
- Bodies are read raw (`Accept-Encoding: identity`), never decompressed by the client.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from dockwarden.collect.image.source import INDEX_TYPES, Blob, choose_manifest
from dockwarden.deadline import Deadline, DeadlineExceeded, watchdog
from dockwarden.errors import DockwardenError, InputError

log = logging.getLogger(__name__)

MAX_MANIFEST = 4 << 20  # manifests and indexes larger than this are refused
MAX_CONFIG = 8 << 20  # image configs (long histories) larger than this are refused
MAX_SMALL_BODY = 1 << 20  # token responses; error bodies are read up to 64 KiB
MAX_JSON_DEPTH = 32  # nesting of any registry JSON document (real ones reach 5)
MAX_REFERENCE = 1024  # characters of an image reference
MIN_BLOB_RATE = 32 << 10  # bytes/s a blob body must keep up, per window of `timeout` s
HELPER_TIMEOUT = 10.0
CHUNK = 1 << 20

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
CERTS_DIR = "/etc/docker/certs.d"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))


class RegistryError(DockwardenError):
    """The registry could not be read to the end: the audit is incomplete."""

    exit_code = 3


class RegistryTimeout(RegistryError, DeadlineExceeded):
    """A request or a blob did not complete within its deadline (exit 3)."""

    exit_code = 3


def _deadline_check(deadline: Deadline, what: str) -> None:
    if deadline.expired():
        raise RegistryTimeout(f"{what}: no complete answer within {deadline.seconds:g}s",
                              "the registry may be slow or hostile; raise --timeout if it "
                              "is only slow")


class RegistryAuthError(InputError):
    """Credentials are missing or were refused: fix them and run again."""

    exit_code = 2


# --- references --------------------------------------------------------------------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference: `registry/repository[:tag][@digest]`."""

    registry: str  # host[:port]; "docker.io" for Docker Hub
    repository: str  # "library/busybox", "team/app"
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if given, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def host(self) -> str:
        """The host[:port] actually contacted."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(ref: str) -> Reference:
    """Parse `ref` the way Docker does: the first component is a registry host when it
    contains `.` or `:` or is `localhost`; otherwise the image is on Docker Hub
    (`docker.io`), under `library/` when it has a single component. The repository name
    must be lower-case (as the Engine says, "repository name must be lowercase"; upper
    case is allowed only in a host with a `.` or a port). The tag defaults to `latest`
    unless a digest is given. Any other text is an InputError naming what is wrong."""
    if not isinstance(ref, str):
        raise InputError("invalid image reference: not text")
    text = ref.strip()
    shown = _one_line(repr(text), 120)
    bad = f"invalid image reference {shown}"
    expected = "expected [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST]"
    if not text:
        raise InputError("invalid image reference: empty", expected)
    if len(text) > MAX_REFERENCE:
        raise InputError(f"invalid image reference: longer than {MAX_REFERENCE} characters",
                         expected)
    if any(c.isspace() or not c.isprintable() for c in text) or "://" in text:
        raise InputError(f"{bad}: spaces, control characters and URLs are not allowed",
                         expected)
    name, _, digest = text.partition("@")
    if digest:
        if not digest.startswith("sha256:"):
            what = "unsupported" if _DIGEST_RE.fullmatch(digest) else "invalid"
            raise InputError(f"{bad}: {what} digest, only sha256 digests are supported",
                             "a digest is sha256: and 64 lower-case hex digits")
        if not _SHA256_RE.fullmatch(digest):
            raise InputError(f"{bad}: invalid digest, a sha256 digest is 64 lower-case hex "
                             "digits", "a digest is sha256: and 64 lower-case hex digits")
    if not name:
        raise InputError(f"{bad}: no repository name", expected)
    tag: str | None = None
    colon, slash = name.rfind(":"), name.rfind("/")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise InputError(f"{bad}: invalid tag {_one_line(repr(tag), 60)}",
                             "a tag is up to 128 letters, digits, '_', '.' and '-', not "
                             "starting with '.' or '-'")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
        if not _HOST_RE.fullmatch(registry):
            raise InputError(f"{bad}: invalid registry host {_one_line(repr(registry), 80)}",
                             expected)
    else:
        registry, repository = DOCKER_HUB, name
    if repository != repository.lower():
        raise InputError(f"{bad}: repository name must be lowercase", expected)
    if registry.lower() in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and repository and "/" not in repository:
        repository = f"library/{repository}"
    if not REPOSITORY_RE.fullmatch(repository):
        raise InputError(f"{bad}: invalid repository name {_one_line(repr(repository), 80)}",
                         "path components are lower-case letters and digits separated by "
                         "'.', '_', '__' or '-', joined by '/'")
    if len(registry) + 1 + len(repository) > 255:
        raise InputError(f"{bad}: name longer than 255 characters")
    if tag is None and not digest:
        tag = "latest"
    return Reference(registry, repository, tag, digest or None)


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1, with or without a port."""
    hostname = _hostname(host)
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# --- credentials -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password, or an identity (refresh) token. Never shown."""

    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    origin: str = ""  # where they came from, for messages

    def __repr__(self) -> str:
        return f"Credentials(origin={self.origin!r}, <redacted>)"

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def _auth_keys(registry: str) -> set[str]:
    """The config.json keys that may name `registry`, normalised to host[:port]."""
    if registry == DOCKER_HUB:
        return {"index.docker.io", "docker.io", "registry-1.docker.io"}
    return {registry}


def _key_host(key: str) -> str:
    """Docker's ConvertToHostname: drop the scheme and any path."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.split("/", 1)[0]


def _config_path(docker_config: str | None) -> tuple[str, bool]:
    if docker_config:
        path = docker_config
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        return path, True
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"),
                                                                 ".docker")
    return os.path.join(directory, "config.json"), False


def load_credentials(registry: str, docker_config: str | None = None) -> Credentials | None:
    """Credentials for `registry` from Docker's config.json (`docker_config` file or
    directory, else $DOCKER_CONFIG, else ~/.docker): a credential helper named by
    `credHelpers`/`credsStore` when its binary exists, else the `auths` entry."""
    path, explicit = _config_path(docker_config)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SMALL_BODY + 1)
    except FileNotFoundError:
        if explicit:
            raise InputError(f"Docker config {path} does not exist") from None
        return None
    except OSError as exc:
        raise InputError(f"cannot read Docker config {path}: {exc.strerror}") from None
    try:
        config = json.loads(data)
        if not isinstance(config, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):
        if explicit:
            raise InputError(f"Docker config {path} is not a JSON object") from None
        return None  # as Docker: an unreadable default config means no credentials
    keys = _auth_keys(registry)
    server = DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else registry
    helpers = config.get("credHelpers")
    helpers = helpers if isinstance(helpers, dict) else {}
    helper = next((v for k, v in helpers.items() if _key_host(str(k)) in keys), None)
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        creds = _from_helper(helper, server)
        if creds is not None:
            return creds
    auths = config.get("auths")
    auths = auths if isinstance(auths, dict) else {}
    for key, entry in auths.items():
        if _key_host(str(key)) in keys and isinstance(entry, dict):
            return _from_entry(entry, f"{path} (auths[{key!r}])")
    return None


def _from_entry(entry: dict[str, Any], origin: str) -> Credentials | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InputError(f"{origin}: the auth field is not base64 of user:password") \
                from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise InputError(f"{origin}: the auth field is not base64 of user:password")
    token = str(entry.get("identitytoken") or "")
    if not (username or token):
        return None
    return Credentials(username, password, token, origin)


def _from_helper(name: str, server: str) -> Credentials | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(f"invalid credential helper name {name!r} in Docker config")
    binary = shutil.which(f"docker-credential-{name}")
    if binary is None:
        return None
    origin = f"docker-credential-{name}"
    try:
        res = subprocess.run([binary, "get"], input=server.encode(), capture_output=True,
                             timeout=HELPER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{origin} get did not answer within {HELPER_TIMEOUT:.0f}s",
                            "check the credential helper, or pass --username") from None
    except OSError as exc:
        raise RegistryError(f"cannot run {origin}: {exc.strerror}") from None
    if res.returncode != 0:
        return None  # "credentials not found in native keychain"
    try:
        answer = json.loads(res.stdout)
        username, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise RegistryError(f"{origin} get printed no credentials JSON") from None
    if username == "<token>":
        return Credentials(identity_token=secret, origin=origin)
    return Credentials(username, secret, origin=origin)


# --- challenges --------------------------------------------------------------------------

# A key starts a word (the look-behind keeps a long word from being tried at each of its
# characters, which would be quadratic); values are quoted strings or tokens.
_PARAM_RE = re.compile(r'(?<![\w-])([A-Za-z_][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
MAX_CHALLENGE = 8 << 10  # characters of a WWW-Authenticate header looked at


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {realm, service, scope}).
    Garbage gives an unknown scheme or missing parameters, never an exception."""
    scheme, _, rest = str(header)[:MAX_CHALLENGE].strip().partition(" ")
    params: dict[str, str] = {}
    for key, value in _PARAM_RE.findall(rest):
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
        params[key.lower()] = value
    return scheme.lower(), params


# --- document shapes ---------------------------------------------------------------------


class _Map:
    """An object with any keys, each value of one shape (annotations, labels)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _List:
    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item


class _OneOf:
    __slots__ = ("shapes",)

    def __init__(self, *shapes: Any) -> None:
        self.shapes = shapes


# A shape is `str`, `int`, `bool`, `object` (anything), a dict of the fields read (each
# optional, other fields ignored), `_Map`, `_List` or `_OneOf`. JSON null is accepted
# anywhere, as Go's decoder (Docker's) takes it for a zero value; readers treat it as absent.
_PLATFORM: dict[str, Any] = {
    "architecture": str, "os": str, "variant": str, "os.version": str,
    "os.features": _List(str), "features": _List(str),
}
_DESCRIPTOR: dict[str, Any] = {
    "mediaType": str, "digest": str, "size": int, "urls": _List(str),
    "annotations": _Map(str), "platform": _PLATFORM, "artifactType": str, "data": str,
}
MANIFEST_SHAPE: dict[str, Any] = {
    "schemaVersion": int, "mediaType": str, "artifactType": str,
    "config": _DESCRIPTOR, "layers": _List(_DESCRIPTOR), "manifests": _List(_DESCRIPTOR),
    "subject": _DESCRIPTOR, "annotations": _Map(str),
}
_STRINGS = _OneOf(_List(str), str)  # Docker's StrSlice: a list, or one string
_CONTAINER_CONFIG: dict[str, Any] = {
    "User": str, "Env": _List(str), "Cmd": _STRINGS, "Entrypoint": _STRINGS,
    "Shell": _STRINGS, "OnBuild": _List(str), "Labels": _Map(str),
    "ExposedPorts": _Map(object), "Volumes": _Map(object), "WorkingDir": str,
    "StopSignal": str, "ArgsEscaped": bool,
    "Healthcheck": {"Test": _List(str), "Interval": int, "Timeout": int,
                    "StartPeriod": int, "StartInterval": int, "Retries": int},
}
CONFIG_SHAPE: dict[str, Any] = {
    "architecture": str, "os": str, "variant": str, "os.version": str, "created": str,
    "author": str, "config": _CONTAINER_CONFIG, "Config": _CONTAINER_CONFIG,
    "rootfs": {"type": str, "diff_ids": _List(str)},
    "history": _List({"created": str, "created_by": str, "author": str, "comment": str,
                      "empty_layer": bool}),
}
TOKEN_SHAPE: dict[str, Any] = {
    "token": str, "access_token": str, "expires_in": int, "issued_at": str,
    "refresh_token": str,
}
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number",
               float: "a number", bool: "a boolean"}


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _expected(shape: Any) -> str:
    if isinstance(shape, dict | _Map):
        return "an object"
    if isinstance(shape, _List):
        return "a list"
    if isinstance(shape, _OneOf):
        return " or ".join(_expected(s) for s in shape.shapes)
    if shape is int:
        return "an integer"
    return _TYPE_NAMES.get(shape, "a value")


def _fits(value: Any, shape: Any) -> bool:
    if shape is object or value is None:
        return True
    if shape is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if shape is str or shape is bool:
        return type(value) is shape
    if isinstance(shape, dict | _Map):
        return isinstance(value, dict)
    if isinstance(shape, _List):
        return isinstance(value, list)
    if isinstance(shape, _OneOf):
        return any(_fits(value, s) for s in shape.shapes)
    return False


def check_shape(doc: Any, shape: Any, what: str) -> None:
    """Check that `doc` (decoded JSON) has the types `shape` names, and is nested at most
    MAX_JSON_DEPTH deep; else a one-line RegistryError naming the first bad field.
    Iterative: no recursion on untrusted depth."""
    stack: list[tuple[Any, Any, str, int]] = [(doc, shape, "", 0)]
    while stack:
        value, sh, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise RegistryError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
                                "the registry serves a corrupt or hostile document")
        if isinstance(sh, _OneOf) and value is not None:
            sh = next((s for s in sh.shapes if _fits(value, s)), sh)
        if not _fits(value, sh):
            raise RegistryError(f"{what}: malformed document: {path or 'the document'} is "
                                f"{_kind(value)}, expected {_expected(sh)}",
                                "the registry serves a corrupt or hostile document")
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(sh, dict):
                    sub = sh.get(key, object)
                elif isinstance(sh, _Map):
                    sub = sh.value
                else:
                    sub = object
                stack.append((item, sub, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(value, list):
            sub = sh.item if isinstance(sh, _List) else object
            stack.extend((item, sub, f"{path}[{i}]", depth + 1)
                         for i, item in enumerate(value))


def _json_document(body: bytes, what: str, shape: Any) -> dict[str, Any]:
    """The JSON object in `body` (already size-capped by the reader), checked against
    `shape`; a RegistryError for anything else."""
    try:
        doc = json.loads(body)
    except RecursionError:
        raise RegistryError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
                            "the registry serves a corrupt or hostile document") from None
    except ValueError:  # UnicodeDecodeError included
        raise RegistryError(f"{what}: the registry answered something that is not JSON",
                            "is this address a registry?") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{what}: the document is {_kind(doc)}, not a JSON object",
                            "the registry serves a corrupt or hostile document")
    check_shape(doc, shape, what)
    return doc


# --- requests ----------------------------------------------------------------------------


class _Call:
    """One request's deadline and, once known, its socket: the watchdog shuts that
    socket down when the deadline passes (or, for a pooled connection whose socket is not
    known yet, closes the client), which ends even a read blocked inside httpx."""

    __slots__ = ("client", "deadline", "sock")

    def __init__(self, client: httpx.Client, seconds: float) -> None:
        self.client = client
        self.deadline = Deadline(seconds)
        self.sock: socket.socket | None = None

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` extension: note the socket of each new connection."""
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._note(info.get("return_value"))

    def _note(self, stream: Any) -> None:
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self.sock = sock

    def answered(self, resp: httpx.Response) -> None:
        self._note(resp.extensions.get("network_stream"))

    def abort(self) -> None:
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(Exception):
                # the plain socket's shutdown, also under TLS: it wakes a blocked recv
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            with contextlib.suppress(Exception):
                self.client.close()


# --- blob streams ------------------------------------------------------------------------


class _BlobReader(io.RawIOBase):
    """A file over a streaming response that checks the declared size and sha256 of the
    bytes as they pass; the check runs at end of data (or in `drain()`). The body must
    arrive at MIN_BLOB_RATE or faster over each `window` seconds spent waiting on it."""

    def __init__(self, response: httpx.Response, digest: str, size: int | None,
                 origin: str, window: float) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_raw()
        self._digest = digest
        self._size = size
        self._origin = origin
        self._hash = hashlib.sha256()
        self._seen = 0
        self._pending = memoryview(b"")
        self._done = False
        self._window = window
        self._waited = 0.0
        self._window_bytes = 0

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        started = time.monotonic()
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._finish()
            return False
        except httpx.TimeoutException:
            raise RegistryError(f"{self._origin}: timed out after {self._seen} bytes",
                                "the registry stalled; try again or raise --timeout") from None
        except httpx.HTTPError as exc:
            raise RegistryError(f"{self._origin}: transfer cut off after {self._seen} bytes: "
                                f"{_one_line(str(exc) or type(exc).__name__)}") from None
        self._waited += time.monotonic() - started
        self._window_bytes += len(chunk)
        if self._waited >= self._window:
            if self._window_bytes < MIN_BLOB_RATE * self._waited:
                raise RegistryTimeout(
                    f"{self._origin}: the registry sends slower than "
                    f"{MIN_BLOB_RATE >> 10} KiB/s ({self._window_bytes} bytes in "
                    f"{self._waited:.1f} s) after {self._seen} bytes",
                    "the registry is too slow or hostile; raise --timeout if it is only slow")
            self._waited, self._window_bytes = 0.0, 0
        self._seen += len(chunk)
        if self._size is not None and self._seen > self._size:
            raise RegistryError(f"{self._origin}: the registry sent more than the "
                                f"{self._size} bytes its manifest declares",
                                "the registry serves corrupt or hostile data")
        self._hash.update(chunk)
        self._pending = memoryview(chunk)
        return True

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._size is not None and self._seen != self._size:
            raise RegistryError(f"{self._origin}: got {self._seen} bytes, the manifest "
                                f"declares {self._size}", "the transfer was cut off; try again")
        got = "sha256:" + self._hash.hexdigest()
        if got != self._digest:
            raise RegistryError(f"{self._origin}: content does not match its digest "
                                f"(got {got[:19]}...)",
                                "the registry serves corrupt or tampered data")

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        while not self._pending:
            if not self._next_chunk():
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> None:
        """Read what the consumer left, so that the whole blob is verified."""
        while not self._done:
            self._pending = memoryview(b"")
            self._next_chunk()

    def read_all(self, limit: int) -> bytes:
        """The whole (verified) blob, refused past `limit` bytes."""
        parts: list[bytes] = []
        total = 0
        while not self._done:
            self._pending = memoryview(b"")
            if not self._next_chunk():
                break
            total += len(self._pending)
            if total > limit:
                raise RegistryError(f"{self._origin}: larger than the {limit >> 20} MiB "
                                    "allowed", "the registry serves a hostile document")
            parts.append(bytes(self._pending))
        self._pending = memoryview(b"")
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


# --- the source --------------------------------------------------------------------------


class RegistrySource:
    """An image in a registry (`kind` "registry"). `blobs()` yields `oci:manifest` (the
    chosen image manifest, as served) then `blobs/sha256/<hex>` for the config and each
    layer in order. After `resolve()` (or the first blob), `manifest_digest` is the digest
    of the chosen image manifest and `index_digest` that of the index it came from.
    `timeout` bounds each whole request (see the module docstring for blobs)."""

    kind = "registry"

    def __init__(self, ref: str | Reference, *, platform: str | None = None,
                 insecure: bool = False, username: str | None = None,
                 password: str | None = None, docker_config: str | None = None,
                 timeout: float = 30, scheme: str | None = None,
                 verify: ssl.SSLContext | None = None) -> None:
        """`ref` is an image reference, or a `Reference` already made (the registry
        audit names a registry host that Docker's naming rules might not read as one).
        `scheme` and `verify` (an SSL context) override the choice of http/https and of
        the trusted CAs (the registry audit's `--ca-cert`, or an unverified context)."""
        self.ref = str(ref)
        self.reference = ref if isinstance(ref, Reference) else parse_reference(ref)
        self.platform = platform
        self.insecure = insecure
        self.timeout = timeout
        self.docker_config = docker_config
        if (username is None) != (password is None):
            raise InputError("give both a registry user name and a password, or neither")
        self._explicit = (Credentials(username, password, origin="--username/--password-stdin")
                          if username is not None and password is not None else None)
        self.scheme = scheme or ("http" if insecure or is_loopback(self.reference.host)
                                 else "https")
        self.verify = verify
        self.manifest_digest: str | None = None
        self.index_digest: str | None = None
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._authorization: str | None = None
        self._calls: weakref.WeakKeyDictionary[httpx.Response, _Call] = \
            weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"RegistrySource({str(self.reference)!r}, scheme={self.scheme!r})"

    # - plumbing -

    @property
    def _origin(self) -> str:
        return f"{self.reference.registry}/{self.reference.repository}"

    def _url(self, kind: str, ref: str) -> str:
        return f"{self.scheme}://{self.reference.host}/v2/{self.reference.repository}/{kind}/{ref}"

    def _open(self) -> httpx.Client:
        loopback = is_loopback(self.reference.host)
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            # also for redirects to https
            verify=(self.verify if self.verify is not None
                    else _ssl_context(self.reference.host)),
            trust_env=not loopback,  # proxies from the environment, never for loopback
            headers={"User-Agent": "dockwarden", "Accept-Encoding": "identity"},
        )

    def _credentials(self) -> Credentials | None:
        if not self._creds_loaded:
            self._creds = self._explicit or load_credentials(self.reference.registry,
                                                             self.docker_config)
            self._creds_loaded = True
        return self._creds

    def _send(self, client: httpx.Client, method: str, url: str, what: str,
              headers: dict[str, str] | None = None, auth: str | None = None,
              data: dict[str, str] | None = None) -> httpx.Response:
        """One request, its headers within `timeout` (a watchdog shuts the socket when
        the deadline passes); the body is read under the same deadline by `_read_body`."""
        hdrs = dict(headers or {})
        if auth:
            hdrs["Authorization"] = auth
        call = _Call(client, self.timeout)
        netloc = _netloc(url)
        try:
            request = client.build_request(method, url, headers=hdrs, data=data,
                                           extensions={"trace": call.trace})
            with watchdog(call.deadline, call.abort):
                resp = client.send(request, stream=True)
        except httpx.TimeoutException:
            raise RegistryTimeout(
                f"{what}: no answer from {netloc} within {self.timeout:g}s",
                "is the registry up? raise --timeout if it is slow") from None
        except httpx.ConnectError as exc:
            _deadline_check(call.deadline, what)
            text = _one_line(str(exc))
            hint = "is the registry running at that address?"
            if "SSL" in text or "TLS" in text or "certificate" in text.lower():
                hint = ("for a registry on plain HTTP use --insecure; for a private CA put "
                        f"it in {CERTS_DIR}/{netloc}/ca.crt")
            raise RegistryError(f"{what}: cannot connect to {netloc}: {text}", hint) from None
        except (httpx.HTTPError, httpx.InvalidURL, RuntimeError, UnicodeError,
                ValueError) as exc:
            # a watchdog's shutdown shows as a read error or a closed client
            if call.deadline.expired():
                raise RegistryTimeout(
                    f"{what}: no complete answer from {netloc} within {self.timeout:g}s",
                    "the registry may be slow or hostile; raise --timeout if it is only "
                    "slow") from None
            raise RegistryError(f"{what}: {_one_line(str(exc) or type(exc).__name__)}") \
                from None
        call.answered(resp)
        self._calls[resp] = call
        return resp

    # The registry audit (collect/registry_audit.py) sends its own probes through the
    # same plumbing: one request under the deadline, a capped body, a token for a
    # challenge, the credentials in use.
    def open_client(self) -> httpx.Client:
        return self._open()

    def send(self, client: httpx.Client, method: str, url: str, what: str,
             headers: dict[str, str] | None = None, auth: str | None = None) -> httpx.Response:
        return self._send(client, method, url, what, headers, auth)

    def read_body(self, resp: httpx.Response, limit: int, what: str) -> bytes:
        return self._read_body(resp, limit, what)

    def token(self, client: httpx.Client, params: dict[str, str],
              creds: Credentials | None, what: str) -> str:
        return self._token(client, params, creds, what)

    def credentials(self) -> Credentials | None:
        return self._credentials()

    # The signature look-up (collect/image/signature.py) reads a tag that may be absent
    # and the blobs it names, through the same plumbing.
    def manifest_if_any(self, client: httpx.Client, tag: str, what: str) -> bytes | None:
        """The body of the manifest (or index) tagged `tag`, at most MAX_MANIFEST bytes;
        None when the registry has no such tag."""
        accept = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX))
        resp = self._request(client, self._url("manifests", tag), what, {"Accept": accept})
        if resp.status_code == 404:
            resp.close()
            return None
        self._check(resp, what)
        try:
            return self._read_body(resp, MAX_MANIFEST, what)
        finally:
            resp.close()

    def open_blob(self, client: httpx.Client, digest: str, size: int | None) -> _BlobReader:
        return self._open_blob(client, digest, size)

    def _read_body(self, resp: httpx.Response, limit: int, what: str) -> bytes:
        """The body of `resp`, at most `limit` bytes, within the request's deadline."""
        call = self._calls.get(resp)
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RegistryError(f"{what}: {int(length)} bytes is larger than the "
                                f"{_size_text(limit)} allowed",
                                "the registry serves a hostile document")
        deadline = call.deadline if call is not None else Deadline(self.timeout)
        parts: list[bytes] = []
        seen = 0
        try:
            with watchdog(deadline, call.abort if call is not None else resp.close):
                for chunk in resp.iter_raw():
                    seen += len(chunk)
                    if seen > limit:
                        raise RegistryError(f"{what}: larger than the {_size_text(limit)} "
                                            "allowed", "the registry serves a hostile document")
                    parts.append(chunk)
                    _deadline_check(deadline, what)
        except httpx.TimeoutException:
            _deadline_check(deadline, what)
            raise RegistryError(f"{what}: the registry stalled mid-answer") from None
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            if isinstance(exc, DockwardenError):
                raise
            _deadline_check(deadline, what)
            raise RegistryError(f"{what}: answer cut off: {_one_line(str(exc))}") from None
        return b"".join(parts)

    def _describe(self, resp: httpx.Response) -> str:
        """A short, one-line account of an error body: registry error codes, an HTML page."""
        try:
            body = self._read_body(resp, 64 << 10, "error body")
        except DockwardenError:
            return ""
        return _describe_body(body, resp.headers.get("content-type", ""))

    def _request(self, client: httpx.Client, url: str, what: str,
                 headers: dict[str, str] | None = None) -> httpx.Response:
        """GET with the current authorization; on 401 answer the challenge, retry once."""
        resp = self._send(client, "GET", url, what, headers, self._authorization)
        if resp.status_code != 401:
            return resp
        challenges = resp.headers.get_list("www-authenticate")
        resp.close()
        self._authorization = self._answer(client, challenges, what)
        if self._authorization is None:
            raise RegistryAuthError(f"{what}: the registry requires authentication",
                                    f"run docker login {self.reference.registry}, or pass "
                                    "--username and --password-stdin")
        resp = self._send(client, "GET", url, what, headers, self._authorization)
        if resp.status_code == 401:
            resp.close()
            creds = self._credentials()
            source = f" (from {creds.origin})" if creds else ""
            raise RegistryAuthError(f"{what}: the registry refused the credentials"
                                    f"{source}", "check the user name and password")
        return resp

    def _answer(self, client: httpx.Client, challenges: list[str], what: str) -> str | None:
        parsed = [parse_challenge(c) for c in challenges]
        creds = self._credentials()
        for scheme, params in parsed:
            if scheme == "bearer" and params.get("realm"):
                return "Bearer " + self._token(client, params, creds, what)
        for scheme, _params in parsed:
            if scheme == "basic":
                if creds is None or not creds.username:
                    return None
                if self.scheme != "https" and not is_loopback(self.reference.host):
                    raise RegistryError(
                        f"{what}: refusing to send the credentials for "
                        f"{self.reference.registry} over plain HTTP",
                        "credentials go only over https, or to a loopback registry")
                return creds.basic()
        if not parsed:
            raise RegistryError(f"{what}: HTTP 401 without a WWW-Authenticate challenge")
        return None

    def _realm(self, realm: str, what: str) -> httpx.URL:
        try:
            url = httpx.URL(realm)
            host = url.host
        except (httpx.InvalidURL, ValueError, UnicodeError):
            raise RegistryError(f"{what}: the registry names an invalid token realm "
                                f"{_one_line(repr(realm), 80)}") from None
        if url.scheme not in ("http", "https") or not host:
            raise RegistryError(f"{what}: the registry names an invalid token realm "
                                f"{_one_line(repr(realm), 80)}")
        return url

    def _realm_allows_credentials(self, url: httpx.URL, what: str) -> None:
        """Credentials go to a token realm only over https, or over http to a loopback
        realm of a registry that is itself on plain HTTP; never from a TLS registry to an
        http realm. A realm on another host is noted in the debug log."""
        netloc = _netloc(str(url))
        if url.scheme == "http" and (self.scheme == "https" or not is_loopback(netloc)):
            plain = ("the registry is reached over TLS but names a token service on plain "
                     "HTTP" if self.scheme == "https" else
                     "the token service is on plain HTTP and not on this machine")
            raise RegistryError(
                f"{what}: refusing to send the credentials for {self.reference.registry} "
                f"to http://{netloc}: {plain}",
                "credentials go only over https (or to a loopback registry); a token "
                "service must use https")
        if _hostname(netloc).lower() != _hostname(self.reference.host).lower():
            log.debug("%s: credentials for %s go to the token service at %s://%s (another "
                      "host)", what, self.reference.registry, url.scheme, netloc)

    def _token(self, client: httpx.Client, params: dict[str, str],
               creds: Credentials | None, what: str) -> str:
        realm = params["realm"]
        url = self._realm(realm, what)
        scope = params.get("scope") or f"repository:{self.reference.repository}:pull"
        query: list[tuple[str, str | int | float | bool | None]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scope.split()]
        auth: str | None = None
        form: dict[str, str] | None = None
        method = "GET"
        if creds is not None and (creds.identity_token or creds.username):
            self._realm_allows_credentials(url, what)
        if creds is not None and creds.identity_token:
            method, form = "POST", {"grant_type": "refresh_token", "client_id": "dockwarden",
                                    "refresh_token": creds.identity_token,
                                    "service": params.get("service", ""), "scope": scope}
        elif creds is not None and creds.username:
            query.append(("account", creds.username))
            auth = creds.basic()
        try:
            target = str(url.copy_merge_params(query)) if method == "GET" else str(url)
        except (httpx.InvalidURL, ValueError, UnicodeError):
            raise RegistryError(f"{what}: the registry names an invalid token realm") \
                from None
        token_what = f"{what}: token service {_netloc(str(url))}"
        resp = self._send(client, method, target, token_what, auth=auth, data=form)
        try:
            if resp.status_code in (401, 403):
                source = f" (from {creds.origin})" if creds else ""
                raise RegistryAuthError(
                    f"{token_what} refused the credentials{source}" if creds
                    else f"{token_what} refused anonymous access",
                    "check the user name and password" if creds
                    else f"run docker login {self.reference.registry}")
            if resp.status_code != 200:
                raise RegistryError(f"{token_what} answered HTTP {resp.status_code}"
                                    f"{self._describe(resp)}")
            body = self._read_body(resp, MAX_SMALL_BODY, token_what)
        finally:
            resp.close()
        try:
            answer = _json_document(body, token_what, TOKEN_SHAPE)
        except RegistryError as exc:
            if "not JSON" in exc.message:
                raise RegistryError(f"{token_what} answered without a token") from None
            raise
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{token_what} answered without a token")
        if not _TOKEN_RE.fullmatch(token):
            raise RegistryError(f"{token_what} answered a token with characters not "
                                "allowed in an HTTP header",
                                "the token service is broken or hostile")
        return token

    def _check(self, resp: httpx.Response, what: str, missing: str | None = None) -> None:
        """Turn a non-200 answer into an error (and close it). A 404 is the user's
        `missing` image (InputError), or without it a registry fault."""
        if resp.status_code == 200:
            return
        detail = self._describe(resp)
        resp.close()
        status = resp.status_code
        if status == 404 and missing:
            raise InputError(f"{missing}: {self.reference}{detail}",
                             "check the repository name and tag")
        if status == 403:
            raise RegistryAuthError(f"{what}: access denied{detail}",
                                    "these credentials may not pull this repository")
        if status == 429:
            raise RegistryError(f"{what}: rate limited by the registry{detail}",
                                "wait and try again, or log in")
        raise RegistryError(f"{what}: the registry answered HTTP {status}{detail}",
                            "the registry failed; try again later")

    # - manifests -

    def _fetch_manifest(self, client: httpx.Client, ref: str) -> tuple[bytes, Any, str]:
        what = f"manifest {self._origin}:{ref}" if ":" not in ref else \
            f"manifest {self._origin}@{ref}"
        resp = self._request(client, self._url("manifests", ref), what, {"Accept": ACCEPT})
        self._check(resp, what, "image not found in registry")
        try:
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            header_digest = resp.headers.get("docker-content-digest", "")
            if ctype in SCHEMA1_TYPES:
                raise InputError(f"{what}: Docker schema 1 manifests are not supported",
                                 "push the image again with a current Docker or buildkit")
            if ctype == "text/html":
                raise RegistryError(f"{what}: the registry answered an HTML page, not a "
                                    "manifest", "is this address a registry?")
            body = self._read_body(resp, MAX_MANIFEST, what)
        finally:
            resp.close()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise RegistryError(f"{what}: content does not match the requested digest",
                                "the registry serves corrupt or tampered data")
        if _SHA256_RE.fullmatch(header_digest) and header_digest != digest:
            raise RegistryError(f"{what}: content does not match Docker-Content-Digest",
                                "the registry serves corrupt or tampered data")
        doc = _json_document(body, what, MANIFEST_SHAPE)
        media = str(doc.get("mediaType") or ctype)
        if doc.get("schemaVersion") == 1 or media in SCHEMA1_TYPES:
            raise InputError(f"{what}: Docker schema 1 manifests are not supported",
                             "push the image again with a current Docker or buildkit")
        if doc.get("schemaVersion") != 2:
            raise RegistryError(f"{what}: not an image manifest or index "
                                f"(schemaVersion {_one_line(repr(doc.get('schemaVersion')), 40)})")
        return body, doc, digest

    def _resolve(self, client: httpx.Client) -> tuple[bytes, dict[str, Any]]:
        body, doc, digest = self._fetch_manifest(client, self.reference.reference)
        if doc.get("mediaType") in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
            self.index_digest = digest
            fetched: dict[str, tuple[bytes, str]] = {}

            def fetch(d: Any) -> Any:
                if not isinstance(d, str) or not _SHA256_RE.fullmatch(d):
                    raise RegistryError(f"{self._origin}: the index names an unsupported or "
                                        f"malformed digest {_one_line(repr(d), 80)}")
                sub_body, sub_doc, sub_digest = self._fetch_manifest(client, d)
                fetched["last"] = (sub_body, sub_digest)
                return sub_doc

            doc = choose_manifest(doc, fetch, self.platform, "", self._origin)
            body, digest = fetched["last"]
        self.manifest_digest = digest
        for key in ("config", "layers"):
            if doc.get(key) is None:
                raise RegistryError(f"{self._origin}: the image manifest has no {key}")
        return body, doc

    def resolve(self) -> dict[str, Any]:
        """The chosen image manifest (following an index to one platform)."""
        with self._open() as client:
            _body, doc = self._resolve(client)
        return doc

    # - blobs -

    def _descriptors(self, manifest: dict[str, Any]) -> list[tuple[str, int | None]]:
        descs = [manifest.get("config"), *(manifest.get("layers") or [])]
        out: list[tuple[str, int | None]] = []
        for desc in descs:
            if not isinstance(desc, dict):
                raise RegistryError(f"{self._origin}: malformed descriptor in the manifest")
            digest, size = desc.get("digest"), desc.get("size")
            if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
                raise RegistryError(f"{self._origin}: unsupported or malformed blob digest "
                                    f"{_one_line(repr(digest), 80)}")
            if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                                     or size < 0):
                raise RegistryError(f"{self._origin}: malformed size for blob {digest}")
            out.append((digest, size))
        return out

    def _open_blob(self, client: httpx.Client, digest: str, size: int | None) -> _BlobReader:
        what = f"blob {digest[:19]}... of {self._origin}"
        resp = self._request(client, self._url("blobs", digest), what)
        if resp.status_code == 404:
            resp.close()
            raise RegistryError(f"{what}: the registry lacks this blob although the manifest "
                                "names it", "the repository is incomplete or being cleaned up")
        self._check(resp, what)
        length = resp.headers.get("content-length")
        if size is not None and length is not None and length.isdigit() and int(length) != size:
            resp.close()
            raise RegistryError(f"{what}: the registry offers {length} bytes, the manifest "
                                f"declares {size}", "the registry serves corrupt data")
        return _BlobReader(resp, digest, size, what, self.timeout)

    def _config(self, client: httpx.Client, digest: str, size: int | None) -> bytes:
        """The image config, whole (it is small), verified and shape-checked."""
        what = f"image config {digest[:19]}... of {self._origin}"
        if size is not None and size > MAX_CONFIG:
            raise RegistryError(f"{what}: {size} bytes is larger than the "
                                f"{_size_text(MAX_CONFIG)} allowed",
                                "the registry serves a hostile document")
        reader = self._open_blob(client, digest, size)
        try:
            data = reader.read_all(MAX_CONFIG)
        finally:
            reader.close()
        _json_document(data, what, CONFIG_SHAPE)
        return data

    def blobs(self) -> Iterator[Blob]:
        with self._open() as client:
            body, manifest = self._resolve(client)
            descriptors = self._descriptors(manifest)
            yield Blob("oci:manifest", len(body), io.BytesIO(body))
            (config_digest, config_size), layers = descriptors[0], descriptors[1:]
            config = self._config(client, config_digest, config_size)
            yield Blob(f"blobs/sha256/{config_digest[7:]}", len(config), io.BytesIO(config))
            for digest, size in layers:
                reader = self._open_blob(client, digest, size)
                try:
                    stream: IO[bytes] = io.BufferedReader(reader, CHUNK)
                    yield Blob(f"blobs/sha256/{digest[7:]}", size, stream)
                    reader.drain()
                finally:
                    reader.close()


# --- helpers -----------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,65536}")  # visible ASCII: what a header can carry


def _netloc(url: str) -> str:
    try:
        return _one_line(httpx.URL(url).netloc.decode("ascii", "replace"), 120)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return "?"


def _size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


@functools.lru_cache(maxsize=16)
def _ssl_context(host: str) -> ssl.SSLContext:
    """The system store (honouring SSL_CERT_FILE/DIR) plus Docker's certs.d for `host`:
    *.crt CAs, *.cert + *.key client pairs. Cached: loading a CA bundle is slow."""
    if not host:
        return ssl.create_default_context()
    certs = os.path.join(CERTS_DIR, host)
    try:
        names = sorted(os.listdir(certs))
    except OSError:
        return _ssl_context("")  # shared by every host without certs.d
    ctx = ssl.create_default_context()
    for name in names:
        full = os.path.join(certs, name)
        try:
            if name.endswith(".crt"):
                ctx.load_verify_locations(full)
            elif name.endswith(".cert"):
                ctx.load_cert_chain(full, full[:-5] + ".key")
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot load {full}: {exc}") from None
    return ctx


def certs_dir_cas(host: str) -> list[str]:
    """The CA files Docker trusts for `host` (`/etc/docker/certs.d/HOST:PORT/*.crt`)."""
    certs = os.path.join(CERTS_DIR, host)
    try:
        return [os.path.join(certs, n) for n in sorted(os.listdir(certs)) if n.endswith(".crt")]
    except OSError:
        return []


def trust_context(host: str, ca_file: str | None = None) -> ssl.SSLContext:
    """Docker's trust for `host` (the system store and certs.d, as `_ssl_context`), plus
    the CA certificates in `ca_file` (PEM) when given (an InputError if unreadable)."""
    if not ca_file:
        return _ssl_context(host)
    ctx = ssl.create_default_context()
    for path in certs_dir_cas(host):
        with contextlib.suppress(OSError, ssl.SSLError):
            ctx.load_verify_locations(path)
    from dockwarden.safeio import read_text

    text = read_text(ca_file, what="--ca-cert", max_bytes=MAX_SMALL_BODY)  # no FIFO hangs
    try:
        ctx.load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise InputError(f"--ca-cert {ca_file}: not a PEM certificate file "
                         f"({_one_line(str(exc), 80)})") from None
    return ctx


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe_body(body: bytes, content_type: str) -> str:
    """A short, one-line account of an error body: registry error codes, an HTML page."""
    ctype = content_type.lower()
    text = body.decode("utf-8", "replace")
    if "html" in ctype or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        title = re.search(r"<title[^>]*>(.{0,2000}?)</title>", text, re.I | re.S)
        return " (an HTML page" + (f": {_one_line(title.group(1), 80)})" if title else ")")
    try:
        errors = json.loads(text).get("errors")
        parts = [f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                 for e in errors[:20] if isinstance(e, dict)]
        if parts:
            return f" ({_one_line('; '.join(parts), 160)})"
    except (ValueError, AttributeError, TypeError, RecursionError, KeyError):
        pass
    return f" ({_one_line(text, 80)})" if text.strip() else ""
