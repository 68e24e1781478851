"""Collect the facts `dockwarden registry URL` judges: transport, authentication and
what an anonymous client (and, given credentials, a logged-in one) may do.

The HTTP exchanges go through the image audit's registry client
(collect/image/registry.py): its deadline per request, capped bodies, token service
handling and credentials (`--username`, Docker's config.json and helpers). The TLS
facts are read here on plain `ssl` sockets, because an HTTP client hides what is needed:
the certificate presented even when it does not verify (parsed with `cryptography`),
OpenSSL's reason for refusing it, and which protocol versions the server accepts (one
handshake per version, with a context pinned to it).

Nothing is changed on the registry. The write test asks for an upload the way a push
does, with as little effect as the protocol allows:
- when a blob of the repository is known (from the manifest pulled), the upload asks to
  mount that blob from the same repository (`POST .../blobs/uploads/?mount=D&from=R`):
  a registry that lets the client push answers 201 and rewrites a link it already had,
  byte for byte, and one that does not answers 401/403;
- otherwise (or when the registry does not mount) an upload session is opened and
  cancelled at once (DELETE of its Location). Distribution 2.8 then still leaves the
  session's hash state under `_uploads/` until its upload purger removes it: that is why
  the mount is preferred.
Credentials are never sent over plain HTTP to another machine, nor over TLS whose
certificate did not verify.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from dockwarden.collect.image.registry import (
    ACCEPT,
    MAX_MANIFEST,
    MAX_SMALL_BODY,
    REPOSITORY_RE,  # the repository-name grammar of image references
    Credentials,
    Reference,
    RegistryAuthError,
    RegistryError,
    RegistrySource,
    certs_dir_cas,
    is_loopback,
    parse_challenge,
    trust_context,
)
from dockwarden.deadline import Deadline, watchdog
from dockwarden.errors import InputError
from dockwarden.model.common import Fact, Unknown
from dockwarden.model.registry import Attempt, Login, RegistrySnapshot, TlsFacts
from dockwarden.sanitize import excerpt

MAX_REPOSITORIES = 100  # repository names kept from the catalog
WRITE_TEST_REPOSITORY = "dockwarden/write-test"  # when no repository is named or listed
TLS_VERSIONS = (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
                ("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))
DEPRECATED_TLS = ("TLSv1", "TLSv1.1")  # RFC 8996
# OpenSSL's reasons for a handshake the client itself cannot start
_LOCAL_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE",
                   "UNSUPPORTED_PROTOCOL")
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


# --- the URL -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryURL:
    scheme: str | None  # None: not given (https is tried, then plain HTTP)
    hostname: str  # without brackets
    port: int
    host: str  # host[:port] as Docker names it (certs.d, config.json)

    def ref(self, scheme: str | None = None) -> str:
        return f"{scheme or self.scheme or 'https'}://{self.host}"


def parse_registry_url(text: str) -> RegistryURL:
    """`https://HOST[:PORT][/v2/]`, `http://...` or `HOST[:PORT]`; anything else (other
    schemes, a path, credentials in the URL, a bad port) is an InputError (exit 2)."""
    usage = "expected http(s)://HOST[:PORT] or HOST[:PORT]"
    shown = excerpt(repr(text), 120)
    if not text or len(text) > 1024 or any(c.isspace() or not c.isprintable() for c in text):
        raise InputError(f"invalid registry URL {shown}", usage)
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError as exc:
        raise InputError(f"invalid registry URL {shown}: {excerpt(str(exc), 80)}",
                         usage) from None
    scheme = parts.scheme.lower() or None
    if scheme not in (None, "http", "https"):
        raise InputError(f"invalid registry URL {shown}: scheme {excerpt(scheme, 20)} is not "
                         "http or https", usage)
    if parts.username is not None or parts.password is not None:
        raise InputError(f"invalid registry URL {excerpt(repr(parts.hostname or ''), 80)}: "
                         "credentials in the URL are not accepted",
                         "pass --username and --password-stdin")
    if parts.path.rstrip("/") not in ("", "/v2") or parts.query or parts.fragment:
        raise InputError(f"invalid registry URL {shown}: a registry URL has no path",
                         usage)
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        ip = None
    if ip is None and not _HOST_RE.fullmatch(hostname):
        raise InputError(f"invalid registry URL {shown}: no valid host name", usage)
    if port == 0:
        raise InputError(f"invalid registry URL {shown}: port 0", usage)
    name = f"[{hostname}]" if ip is not None and ip.version == 6 else hostname.lower()
    default = 80 if scheme == "http" else 443
    host = name if port is None else f"{name}:{port}"
    return RegistryURL(scheme, hostname.lower(), port or default, host)


# --- TLS ---------------------------------------------------------------------------------


def _handshake(url: RegistryURL, ctx: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    deadline = Deadline(timeout)
    sock = socket.create_connection((url.hostname, url.port), timeout=deadline.timeout())
    try:
        sock.settimeout(deadline.timeout())
        with watchdog(deadline, lambda: sock.shutdown(socket.SHUT_RDWR)):
            server = url.hostname if ctx.check_hostname else None
            tls = ctx.wrap_socket(sock, server_hostname=server)
    except BaseException:
        sock.close()
        raise
    if deadline.expired():
        tls.close()
        raise TimeoutError("no TLS handshake within the time limit")
    return tls


def _unverified(minimum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        with warnings.catch_warnings():  # pinning to TLS 1.0/1.1 is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = minimum
            ctx.maximum_version = minimum
        if minimum < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # the old versions need old signatures
    return ctx


def _version_accepted(url: RegistryURL, version: ssl.TLSVersion, timeout: float) -> bool | None:
    try:
        ctx = _unverified(version)
    except (ValueError, ssl.SSLError):
        return None  # this OpenSSL cannot be pinned to it
    try:
        tls = _handshake(url, ctx, timeout)
    except ssl.SSLError as exc:
        reason = str(getattr(exc, "reason", "") or "")
        if any(r in reason for r in _LOCAL_REFUSALS) and "ALERT" not in reason:
            # did the refusal come from here or from the server? with nothing sent, here
            return None if reason == "NO_PROTOCOLS_AVAILABLE" else False
        return False
    except OSError:
        return False
    with tls:
        return True


def _hostname_matches(hostname: str, dns: list[str], ips: list[str]) -> bool:
    try:
        return str(ipaddress.ip_address(hostname)) in ips
    except ValueError:
        pass
    host = hostname.lower().rstrip(".")
    for name in dns:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _certificate(der: bytes) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    except (x509.ExtensionNotFound, ValueError):
        dns, ips = [], []
    self_signed = cert.issuer == cert.subject
    if self_signed:
        try:
            cert.verify_directly_issued_by(cert)
        except Exception:
            self_signed = False
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_text = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_text = f"EC {key.curve.name}"
    else:
        key_text = type(key).__name__.replace("PublicKey", "").lstrip("_")
    algo = cert.signature_hash_algorithm
    return {
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc, "not_after": cert.not_valid_after_utc,
        "dns": dns, "ips": ips, "self_signed": self_signed, "key": key_text,
        "hash": algo.name if algo is not None else "none",
    }


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def probe_tls(url: RegistryURL, ca_file: str | None, timeout: float) -> TlsFacts:
    """The certificate and versions of a TLS registry. ssl.SSLError / OSError when no
    TLS handshake is possible at all (the caller tells plain HTTP from a dead port)."""
    tls = _handshake(url, _unverified(), timeout)
    with tls:
        der = tls.getpeercert(binary_form=True) or b""
        version = tls.version() or ""
        cipher = (tls.cipher() or ("",))[0]
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    try:
        info = _certificate(der)
    except ValueError as exc:
        raise RegistryError(f"{url.host}: the TLS certificate cannot be read: "
                            f"{excerpt(str(exc), 80)}") from None
    verified, error = True, ""
    try:
        with _handshake(url, trust_context(url.host, ca_file), timeout):
            pass
    except ssl.SSLCertVerificationError as exc:
        verified, error = False, str(exc.verify_message or exc.reason or exc)
    except ssl.SSLError as exc:
        verified, error = False, str(exc.reason or exc)
    except OSError as exc:
        raise RegistryError(f"{url.host}: the second TLS handshake failed: "
                            f"{excerpt(str(exc), 80)}") from None
    versions = tuple((name, _version_accepted(url, v, timeout)) for name, v in TLS_VERSIONS)
    now = dt.datetime.now(dt.UTC)
    cas = tuple(certs_dir_cas(url.host)) + ((ca_file,) if ca_file else ())
    return TlsFacts(
        version=version, cipher=cipher, verified=verified, verify_error=excerpt(error, 160),
        subject=excerpt(info["subject"], 200), issuer=excerpt(info["issuer"], 200),
        not_before=_iso(info["not_before"]), not_after=_iso(info["not_after"]),
        days_left=int((info["not_after"] - now).total_seconds() // 86400),
        self_signed=bool(info["self_signed"]),
        hostname_matches=_hostname_matches(url.hostname, info["dns"], info["ips"]),
        names=tuple(excerpt(n, 120) for n in (info["dns"] + info["ips"])[:50]),
        key=info["key"], signature_hash=info["hash"], versions=versions, trusted_cas=cas)


# --- HTTP exchanges ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    detail: str = ""


class _Prober:
    """Requests to one registry, answering auth challenges anonymously or with `creds`."""

    def __init__(self, source: RegistrySource, client: httpx.Client) -> None:
        self.source = source
        self.client = client
        self.base = f"{source.scheme}://{source.reference.host}"

    def raw(self, method: str, path: str, *, auth: str | None = None,
            headers: dict[str, str] | None = None, limit: int = MAX_SMALL_BODY) -> _Answer:
        what = f"{method} {path}"
        resp = self.source.send(self.client, method, self.base + path, what, headers, auth)
        try:
            body = b"" if method in ("HEAD", "DELETE") or resp.status_code >= 300 else \
                self.source.read_body(resp, limit, what)
        finally:
            resp.close()
        return _Answer(resp.status_code, resp.headers, body)

    def exchange(self, method: str, path: str, creds: Credentials | None, *,
                 headers: dict[str, str] | None = None, limit: int = MAX_SMALL_BODY) -> _Answer:
        """The request; on a 401 its challenge answered (a token, anonymous or for
        `creds`; Basic only with `creds`) and the request sent once more."""
        first = self.raw(method, path, headers=headers, limit=limit)
        if first.status != 401:
            return first
        parsed = [parse_challenge(c) for c in first.headers.get_list("www-authenticate")]
        bearer = next((p for s, p in parsed if s == "bearer" and p.get("realm")), None)
        if bearer is not None:
            try:
                auth = "Bearer " + self.source.token(self.client, bearer, creds,
                                                     f"{method} {path}")
            except RegistryAuthError as exc:
                return _Answer(401, first.headers, b"", excerpt(exc.message, 160))
        elif creds is not None and creds.username and any(s == "basic" for s, _ in parsed):
            auth = creds.basic()
        else:
            return _Answer(401, first.headers, b"", "authentication required")
        return self.raw(method, path, auth=auth, headers=headers, limit=limit)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _denied(answer: _Answer, path: str) -> Attempt:
    detail = answer.detail or f"HTTP {answer.status}"
    return Attempt(False, answer.status, detail, path)


@dataclass
class _Access:
    """What one identity (anonymous, or the credentials) could do."""

    catalog: Fact[Attempt]
    repositories: list[str]
    tags: list[str]
    pull: Fact[Attempt]
    blob: str | None  # a blob digest of the repository, for the mount
    push: Fact[Attempt]


class RegistryAudit:
    def __init__(self, url: RegistryURL, *, repository: str | None = None,
                 ca_file: str | None = None, username: str | None = None,
                 password: str | None = None, docker_config: str | None = None,
                 timeout: float = 30.0, write_test: bool = True) -> None:
        if repository is not None and not REPOSITORY_RE.fullmatch(repository):
            raise InputError(f"--repository {excerpt(repr(repository), 80)}: not a repository "
                             "name", "lower-case path components joined by '/', e.g. team/app")
        self.url = url
        self.repository = repository
        self.ca_file = ca_file
        self.username = username
        self.password = password
        self.docker_config = docker_config
        self.timeout = timeout
        self.write_test = write_test
        self.notes: list[str] = []
        self.errors: list[str] = []

    # - transport -

    def _transport(self) -> tuple[str, TlsFacts | None]:
        if self.url.scheme == "http":
            return "http", None
        try:
            return "https", probe_tls(self.url, self.ca_file, self.timeout)
        except TimeoutError:
            raise RegistryError(f"{self.url.host}: no TLS handshake within "
                                f"{self.timeout:g}s", "is the registry up? raise --timeout "
                                "if it is slow") from None
        except ssl.SSLError as exc:
            if self.url.scheme == "https":
                raise RegistryError(f"{self.url.host}: TLS handshake failed: "
                                    f"{excerpt(str(exc.reason or exc), 100)}",
                                    "if the registry is on plain HTTP, give http://"
                                    ) from None
            self.notes.append(f"{self.url.host} does not speak TLS "
                              f"({excerpt(str(exc.reason or exc), 60)}): audited over "
                              "plain HTTP")
            return "http", None
        except OSError as exc:
            reason = excerpt(exc.strerror or str(exc) or type(exc).__name__, 100)
            raise RegistryError(f"{self.url.host}: cannot connect: {reason}",
                                "is the registry running at that address?") from None

    # - access -

    def _try(self, what: str, step: Any) -> Any:
        """Run one probe; a registry fault mid-way is an unknown fact and an error."""
        try:
            return step()
        except RegistryAuthError as exc:
            return Unknown(f"{what}: {excerpt(exc.message, 160)}")
        except RegistryError as exc:
            message = f"{what}: {excerpt(exc.message, 200)}"
            self.errors.append(message)
            return Unknown(message)

    def _catalog(self, prober: _Prober, creds: Credentials | None) -> tuple[Attempt, list[str]]:
        path = f"/v2/_catalog?n={MAX_REPOSITORIES}"
        answer = prober.exchange("GET", path, creds)
        if answer.status != 200:
            return _denied(answer, "/v2/_catalog"), []
        doc = _json(answer.body)
        repos = doc.get("repositories") if isinstance(doc, dict) else None
        if not isinstance(repos, list):
            return Attempt(False, 200, "the answer is not a catalog", "/v2/_catalog"), []
        names = [r for r in repos if isinstance(r, str) and REPOSITORY_RE.fullmatch(r)]
        return (Attempt(True, 200, f"repositories listed: {len(repos)}", "/v2/_catalog"),
                names[:MAX_REPOSITORIES])

    def _tags(self, prober: _Prober, creds: Credentials | None, repo: str) -> list[str]:
        answer = prober.exchange("GET", f"/v2/{repo}/tags/list", creds)
        doc = _json(answer.body) if answer.status == 200 else None
        tags = doc.get("tags") if isinstance(doc, dict) else None
        return [t for t in tags if isinstance(t, str)
                and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", t)] \
            if isinstance(tags, list) else []

    def _pull(self, prober: _Prober, creds: Credentials | None, repo: str,
              tag: str) -> tuple[Fact[Attempt], str | None]:
        path = f"/v2/{repo}/manifests/{tag}"
        answer = prober.exchange("GET", path, creds, headers={"Accept": ACCEPT},
                                 limit=MAX_MANIFEST)
        if answer.status == 404:
            return Unknown(f"{repo}:{tag} was not found, so pulling it could not be "
                           "tried"), None
        if answer.status != 200:
            return _denied(answer, path), None
        blob = self._blob(prober, creds, repo, _json(answer.body))
        return Attempt(True, 200, f"manifest of {repo}:{tag} read", path), blob

    def _blob(self, prober: _Prober, creds: Credentials | None, repo: str, doc: Any,
              depth: int = 0) -> str | None:
        """A blob digest the repository holds (the first image's config), for the mount."""
        if not isinstance(doc, dict):
            return None
        config = doc.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return digest
        manifests = doc.get("manifests")
        if depth == 0 and isinstance(manifests, list) and manifests \
                and isinstance(manifests[0], dict):
            child = manifests[0].get("digest")
            if isinstance(child, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", child):
                answer = prober.exchange("GET", f"/v2/{repo}/manifests/{child}", creds,
                                         headers={"Accept": ACCEPT}, limit=MAX_MANIFEST)
                if answer.status == 200:
                    return self._blob(prober, creds, repo, _json(answer.body), 1)
        return None

    def _push(self, prober: _Prober, creds: Credentials | None, repo: str,
              blob: str | None) -> Fact[Attempt]:
        path = f"/v2/{repo}/blobs/uploads/"
        query = f"?mount={blob}&from={repo}" if blob else ""
        answer = prober.exchange("POST", path + query, creds)
        if answer.status == 201:
            return Attempt(True, 201, "mounted a blob the repository already holds "
                           "(nothing changed)", path)
        if answer.status == 202:
            return Attempt(True, 202, self._cancel(prober, creds, answer), path)
        if answer.status >= 500:
            raise RegistryError(f"the registry answered HTTP {answer.status}")
        return _denied(answer, path)

    def _cancel(self, prober: _Prober, creds: Credentials | None, answer: _Answer) -> str:
        location = answer.headers.get("location", "")
        try:
            target = httpx.URL(prober.base).join(location)
        except (httpx.InvalidURL, ValueError):
            return "an upload session was opened; its Location is invalid, not cancelled"
        if target.netloc != httpx.URL(prober.base).netloc or not location:
            return "an upload session was opened on another host: not cancelled"
        path = target.raw_path.decode("ascii", "replace")
        done = prober.exchange("DELETE", path, creds)
        if done.status in (200, 202, 204):
            return "an upload session was opened and cancelled at once (nothing stored)"
        return f"an upload session was opened; cancelling it answered HTTP {done.status}"

    def _access(self, prober: _Prober, creds: Credentials | None,
                known: list[str], who: str) -> _Access:
        catalog = self._try(f"catalog ({who})", lambda: self._catalog(prober, creds))
        repos: list[str] = [] if isinstance(catalog, Unknown) else catalog[1]
        repo = self.repository or next(iter(known + repos), None)
        pull: Fact[Attempt]
        blob: str | None = None
        tags: list[str] = []
        if repo is None:
            pull = Unknown("no repository to pull: none named (--repository) and the "
                           "catalog lists none")
        else:
            tags = self._try(f"tags of {repo} ({who})",
                             lambda: self._tags(prober, creds, repo)) or []
            if isinstance(tags, Unknown):
                tags = []
            tag = "latest" if "latest" in tags or not tags else tags[0]
            got = self._try(f"pull {repo}:{tag} ({who})",
                            lambda: self._pull(prober, creds, repo, tag))
            pull, blob = (got, None) if isinstance(got, Unknown) else got
        push: Fact[Attempt] = Unknown("the write test was not asked for (--no-write-test)")
        if self.write_test:
            target = repo or WRITE_TEST_REPOSITORY
            push = self._try(f"push to {target} ({who})",
                             lambda: self._push(prober, creds, target, blob))
        return _Access(catalog if isinstance(catalog, Unknown) else catalog[0], repos, tags,
                       pull, blob, push)

    # - the whole audit -

    def _credentials_allowed(self, scheme: str, tls: TlsFacts | None) -> str:
        """Why the credentials may not be sent here ("" when they may)."""
        if scheme == "http" and not is_loopback(self.url.host):
            return ("the registry is on plain HTTP on another machine: dockwarden does not "
                    "send credentials in clear text")
        if tls is not None and not tls.verified:
            return "the registry's certificate did not verify: credentials are not sent"
        return ""

    def collect(self) -> RegistrySnapshot:
        scheme, tls = self._transport()
        loopback = is_loopback(self.url.host)
        if tls is not None:
            old = [name for name, ok in tls.versions if ok and name in DEPRECATED_TLS]
            if old:
                self.notes.append(f"accepts {' and '.join(old)} (deprecated, RFC 8996)")
        verify = (trust_context(self.url.host, self.ca_file) if tls is None or tls.verified
                  else _unverified())
        reference = Reference(self.url.host, self.repository or WRITE_TEST_REPOSITORY, "latest")
        source = RegistrySource(reference, username=self.username, password=self.password,
                                docker_config=self.docker_config, timeout=self.timeout,
                                scheme=scheme, verify=verify)
        with source.open_client() as client:
            prober = _Prober(source, client)
            base = prober.raw("GET", "/v2/")
            api_version = excerpt(base.headers.get("docker-distribution-api-version", ""), 40)
            challenge = excerpt(" ".join(base.headers.get_list("www-authenticate")), 300)
            if base.status == 200:
                auth_scheme, realm = "none", ""
            elif base.status == 401:
                parsed = [parse_challenge(c) for c in base.headers.get_list("www-authenticate")]
                auth_scheme = parsed[0][0] if parsed else "unknown"
                realm = excerpt(parsed[0][1].get("realm", ""), 200) if parsed else ""
            else:
                hint = ("the server speaks TLS: give https://"
                        if scheme == "http" and base.status == 400 else
                        "is this the address of a registry (Docker Registry HTTP API v2)?")
                raise RegistryError(f"{self.url.ref(scheme)}/v2/ answered HTTP {base.status}: "
                                    "not a registry API", hint)
            # with credentials first: a repository their catalog lists is one to try
            # anonymously too
            login = self._login(prober, source, scheme, tls)
            anonymous = self._access(prober, None, login[1] if login else [], "anonymous")
        repos = anonymous.repositories or (login[1] if login else [])
        repos = list(dict.fromkeys(repos))
        repository: Fact[str] = (
            self.repository or next(iter(repos), None)
            or Unknown("no repository named (--repository) and the catalog lists none"))
        tag = None
        if not isinstance(anonymous.pull, Unknown):
            tag = anonymous.pull.url.rsplit("/", 1)[-1]
        return RegistrySnapshot(
            ref=self.url.ref(scheme), host=self.url.host, scheme=scheme, loopback=loopback,
            api_version=api_version, tls=tls, auth_scheme=auth_scheme, challenge=challenge,
            realm=realm, catalog=anonymous.catalog,
            repositories=tuple(excerpt(r, 200) for r in repos),
            repository=repository, tag=tag, pull=anonymous.pull, push=anonymous.push,
            login=login[0] if login else None, notes=tuple(self.notes),
            errors=tuple(self.errors))

    def _login(self, prober: _Prober, source: RegistrySource, scheme: str,
               tls: TlsFacts | None) -> tuple[Login, list[str]] | None:
        creds = source.credentials()
        if creds is None:
            return None
        why = self._credentials_allowed(scheme, tls)
        if why:
            not_sent = Unknown(why)
            self.notes.append(f"credentials from {creds.origin} not used: {why}")
            return Login(creds.origin, not_sent, not_sent, not_sent, not_sent), []

        def accepted() -> bool:
            return prober.exchange("GET", "/v2/", creds).status == 200

        ok = self._try("login", accepted)
        if ok is False:
            refused = Unknown("the registry refused the credentials")
            return Login(creds.origin, False, refused, refused, refused), []
        access = self._access(prober, creds, [], "with credentials")
        return Login(creds.origin, ok, access.catalog, access.pull, access.push), \
            access.repositories


def collect_registry(url: RegistryURL, **options: Any) -> RegistrySnapshot:
    """The snapshot of the registry at `url` (see `RegistryAudit` for the options).
    RegistryError (exit 3) when the registry cannot be reached or is not a registry."""
    return RegistryAudit(url, **options).collect()
