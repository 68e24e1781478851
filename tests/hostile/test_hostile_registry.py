"""A hostile registry on 127.0.0.1: it trickles, lies about sizes, redirects, answers
wrong types, deep JSON and non-ASCII tokens, sends garbage challenges, and (over TLS)
names a token realm on plain HTTP. Each ends in a one-line error with the SPEC's exit
code (3: the audit could not complete; 2: bad input), never a traceback or a hang, and
credentials never reach a plain-HTTP realm of a TLS registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import socket
import ssl
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwarden.collect.image import registry as reg
from dockwarden.collect.image.registry import (
    MAX_CONFIG,
    OCI_MANIFEST,
    RegistryError,
    RegistrySource,
)
from dockwarden.errors import DockwardenError
from harness import registry as harness
from hostile.conftest import run_dockwarden

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


# --- helpers ------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media, "digest": sha(data), "size": len(data), **extra}


def layer_bytes(text: bytes = b"hello\n") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        tf.addfile(info, io.BytesIO(text))
    return gzip.compress(buf.getvalue(), mtime=0)


def config_bytes(**fields: Any) -> bytes:
    base: dict[str, Any] = {"architecture": "amd64", "os": "linux",
                            "rootfs": {"type": "layers", "diff_ids": []}}
    return json.dumps({**base, **fields}).encode()


def manifest_bytes(config: bytes, layer: bytes, **fields: Any) -> bytes:
    base = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": desc(OCI_CONFIG, config), "layers": [desc(OCI_LAYER, layer)]}
    return json.dumps({**base, **fields}).encode()


def serve(fake: harness.FakeRegistry, manifest: bytes, blobs: dict[str, bytes],
          repo: str = "x", tag: str = "1") -> None:
    fake.serve(f"/v2/{repo}/manifests/{tag}", 200, manifest, {"Content-Type": OCI_MANIFEST})
    for digest, data in blobs.items():
        fake.serve(f"/v2/{repo}/blobs/{digest}", 200, data)


def serve_good(fake: harness.FakeRegistry) -> tuple[bytes, bytes, bytes]:
    layer = layer_bytes()
    config = config_bytes()
    manifest = manifest_bytes(config, layer)
    serve(fake, manifest, {sha(config): config, sha(layer): layer})
    return manifest, config, layer


def read_all(source: RegistrySource) -> list[bytes]:
    return [b.stream.read() for b in source.blobs()]


def bounded(fn: Callable[[], Any], seconds: float = 60) -> Any:
    """Run `fn` in a thread; fail the test (a hang) if it has not ended in `seconds`."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not end within {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def error_of(source: RegistrySource) -> DockwardenError:
    with pytest.raises(DockwardenError) as info:
        bounded(lambda: read_all(source))
    err = info.value
    assert "\n" not in err.message and "\n" not in err.hint
    return err


def assert_one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("dockwarden: error: "), err
    assert all(line.startswith(("dockwarden: error: ", "hint: ")) for line in lines), err
    assert len(lines) <= 2, err


@pytest.fixture
def fake() -> Iterator[harness.FakeRegistry]:
    with harness.FakeRegistry() as server:
        yield server


class Trickle:
    """A raw TCP server on 127.0.0.1: for each connection it reads the request head,
    sends the first `burst` bytes of `answer` at once, then the rest one byte every
    `interval` seconds, until done or the client hangs up."""

    def __init__(self, answer: bytes, burst: int = 0, interval: float = 1.0) -> None:
        self.answer, self.burst, self.interval = answer, burst, interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    got = conn.recv(4096)
                    if not got:
                        return
                    head += got
                conn.sendall(self.answer[:self.burst])
                for i in range(self.burst, len(self.answer)):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(self.answer[i:i + 1])
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def http_answer(body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


# --- defect 9: hangs past --timeout ---------------------------------------------------------


def test_trickling_registry_ends_the_cli_with_exit_3() -> None:
    """One byte a second of headers: `--timeout 2` bounds the request, not each read."""
    trickle = Trickle(http_answer(b"{}" * 200, {"Content-Type": OCI_MANIFEST}))
    try:
        run = run_dockwarden(["image", "--remote", f"127.0.0.1:{trickle.port}/x:1",
                              "--timeout", "2", "--no-progress"], timeout=60)
    finally:
        trickle.close()
    assert run.code == 3, run
    assert_one_line_error(run.err)
    assert "within" in run.err


@pytest.mark.parametrize("phase", ["headers", "manifest body", "blob body", "token body"])
def test_trickle_in_each_phase_is_bounded(fake: harness.FakeRegistry, phase: str) -> None:
    manifest, _config, layer = serve_good(fake)
    body = manifest if phase in ("headers", "manifest body") else layer
    answer = http_answer(body, {"Content-Type": OCI_MANIFEST})
    burst = 0 if phase == "headers" else answer.index(b"\r\n\r\n") + 4
    trickle = Trickle(answer, burst=burst, interval=0.5)
    try:
        if phase in ("headers", "manifest body"):
            ref = f"127.0.0.1:{trickle.port}/x:1"
        elif phase == "blob body":  # the manifest here, its layer from the trickle
            fake.serve(f"/v2/x/blobs/{sha(layer)}", 307, b"",
                       {"Location": f"http://127.0.0.1:{trickle.port}/layer"})
            ref = f"{fake.url}/x:1"
        else:
            realm = f"http://127.0.0.1:{trickle.port}/token"
            fake.serve("/v2/x/manifests/1", 401, b"",
                       {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
            ref = f"{fake.url}/x:1"
        err = error_of(RegistrySource(ref, timeout=1))
    finally:
        trickle.close()
    assert err.exit_code == 3, err.message
    assert "within 1s" in err.message or "slower than" in err.message, err.message


# --- defect 10-like: sizes -------------------------------------------------------------------


def test_lying_sizes(fake: harness.FakeRegistry) -> None:
    manifest, config, layer = serve_good(fake)
    # a blob longer than its descriptor, without Content-Length (the body ends with the
    # connection): refused as soon as it passes the declared size
    fake.serve(f"/v2/x/blobs/{sha(layer)}", 200, layer + b"\0" * 100_000, length=False)
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3 and "more than" in err.message
    # a Content-Length that disagrees with the descriptor
    fake.serve(f"/v2/x/blobs/{sha(layer)}", 200, layer[:-1])
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3 and "declares" in err.message
    # a config descriptor larger than the cap is refused before it is fetched
    huge = json.loads(manifest)
    huge["config"]["size"] = MAX_CONFIG + 1
    fake.serve("/v2/x/manifests/1", 200, json.dumps(huge).encode(),
               {"Content-Type": OCI_MANIFEST})
    seen = len(fake.requests)
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3 and "larger than the 8 MiB allowed" in err.message
    assert not any("/blobs/" in r.path for r in fake.requests[seen:])
    # a config without a size that never ends
    sizeless = json.loads(manifest)
    del sizeless["config"]["size"]
    fake.serve("/v2/x/manifests/1", 200, json.dumps(sizeless).encode(),
               {"Content-Type": OCI_MANIFEST})
    fake.serve(f"/v2/x/blobs/{sha(config)}", 200, b" " * (MAX_CONFIG + 10), length=False)
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3 and "larger than the 8 MiB allowed" in err.message


def test_oversized_token_answer(fake: harness.FakeRegistry) -> None:
    serve_good(fake)
    fake.serve("/v2/x/manifests/1", 401, b"",
               {"WWW-Authenticate": f'Bearer realm="http://{fake.url}/token"'})
    fake.serve("/token", 200, b'{"token": "' + b"a" * (2 << 20) + b'"}', length=False)
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3 and "larger than the 1 MiB allowed" in err.message


def test_lying_size_cli(fake: harness.FakeRegistry) -> None:
    _manifest, _config, layer = serve_good(fake)
    fake.serve(f"/v2/x/blobs/{sha(layer)}", 200, layer + b"\0" * 100_000, length=False)
    run = run_dockwarden(["image", "--remote", f"{fake.url}/x:1", "--no-progress"])
    assert run.code == 3, run
    assert_one_line_error(run.err)


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("location", [
    "/v2/x/manifests/1",  # a loop
    "file:///etc/passwd",
    "gopher://127.0.0.1/x",
    "http://[::1",
])
def test_redirects(fake: harness.FakeRegistry, location: str) -> None:
    fake.serve("/v2/x/manifests/1", 302, b"", {"Location": location})
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code == 3, err.message
    assert "root:" not in err.message


def test_token_realm_redirect_to_plain_http_drops_credentials(
        fake: harness.FakeRegistry) -> None:
    """A realm that redirects elsewhere never takes the user's credentials along."""
    serve_good(fake)
    with harness.FakeRegistry() as elsewhere:
        fake.serve("/v2/x/manifests/1", 401, b"",
                   {"WWW-Authenticate": f'Bearer realm="http://{fake.url}/token"'})
        fake.serve("/token", 307, b"", {"Location": f"http://{elsewhere.url}/token"})
        elsewhere.serve("/token", 200, b'{"token": "t"}')
        with pytest.raises(DockwardenError):
            bounded(lambda: read_all(RegistrySource(f"{fake.url}/x:1", username="u",
                                                    password="secret")))
        assert elsewhere.requests
        assert all(r.header("Authorization") is None for r in elsewhere.requests)


# --- defect 8: wrong types, deep JSON, non-ASCII tokens, garbage challenges -----------------


def _manifest_case(fake: harness.FakeRegistry, case: str) -> None:
    layer = layer_bytes()
    config = config_bytes()
    good = json.loads(manifest_bytes(config, layer))
    blobs = {sha(layer): layer, sha(config): config}
    if case == "layers-string":
        doc: Any = {**good, "layers": "x"}
    elif case == "config-number":
        doc = {**good, "config": 5}
    elif case == "layer-size-string":
        doc = {**good, "layers": [{**good["layers"][0], "size": "12"}]}
    elif case == "platform-string":
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{**desc(OCI_MANIFEST, manifest_bytes(config, layer)),
                              "platform": "linux"}]}
    elif case == "manifests-object":
        doc = {"schemaVersion": 2, "manifests": {"a": 1}}
    elif case in ("rootfs-number", "env-number", "history-strings"):
        field = {"rootfs-number": {"rootfs": 5},
                 "env-number": {"config": {"Env": 5}},
                 "history-strings": {"history": ["x"]}}[case]
        bad_config = config_bytes(**field)
        blobs[sha(bad_config)] = bad_config
        doc = json.loads(manifest_bytes(bad_config, layer))
    elif case == "deep":
        doc = None
        body = b'{"schemaVersion": 2, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        serve(fake, body, blobs)
        return
    elif case == "deep-inside":
        doc = {**good, "annotations": None, "x": json.loads("[" * 60 + "]" * 60)}
    elif case == "list":
        doc = [good]
    else:
        raise AssertionError(case)
    serve(fake, json.dumps(doc).encode(), blobs)


MANIFEST_CASES = ["layers-string", "config-number", "layer-size-string", "platform-string",
                  "manifests-object", "rootfs-number", "env-number", "history-strings",
                  "deep", "deep-inside", "list"]


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_wrong_types_and_depth(fake: harness.FakeRegistry, case: str) -> None:
    _manifest_case(fake, case)
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert isinstance(err, RegistryError) and err.exit_code == 3, err.message


@pytest.mark.parametrize("case", ["platform-string", "rootfs-number", "env-number", "deep"])
def test_wrong_types_cli(fake: harness.FakeRegistry, case: str) -> None:
    _manifest_case(fake, case)
    run = run_dockwarden(["image", "--remote", f"{fake.url}/x:1", "--no-progress"])
    assert run.code == 3, run
    assert_one_line_error(run.err)


TOKEN_ANSWERS = {
    "number": b'{"token": 5}',
    "e-acute": json.dumps({"token": "tok\u00e9"}).encode(),
    "line-separator": json.dumps({"token": "tok\u2028x"}).encode(),
    "newline": json.dumps({"token": "tok\r\nX-Evil: 1"}).encode(),
    "lone-surrogate": b'{"token": "tok\\udc80"}',
    "deep": b'{"token": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "list": b'["tok"]',
    "not-utf8": b'{"token": "\xff\xfe"}',
}


@pytest.mark.parametrize("answer", sorted(TOKEN_ANSWERS))
def test_hostile_token_answers(fake: harness.FakeRegistry, answer: str) -> None:
    serve_good(fake)
    fake.serve("/v2/x/manifests/1", 401, b"",
               {"WWW-Authenticate": f'Bearer realm="http://{fake.url}/token"'})
    fake.serve("/token", 200, TOKEN_ANSWERS[answer], {"Content-Type": "application/json"})
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert isinstance(err, RegistryError) and err.exit_code == 3, err.message
    assert not any("X-Evil" in str(r.headers) for r in fake.requests)


@pytest.mark.parametrize("answer", ["e-acute", "line-separator"])
def test_hostile_token_answers_cli(fake: harness.FakeRegistry, answer: str) -> None:
    serve_good(fake)
    fake.serve("/v2/x/manifests/1", 401, b"",
               {"WWW-Authenticate": f'Bearer realm="http://{fake.url}/token"'})
    fake.serve("/token", 200, TOKEN_ANSWERS[answer], {"Content-Type": "application/json"})
    run = run_dockwarden(["image", "--remote", f"{fake.url}/x:1", "--no-progress"])
    assert run.code == 3, run
    assert_one_line_error(run.err)


CHALLENGES = [
    "Bearer",
    "Bearer realm=",
    'Bearer realm="',
    'Bearer realm="http://[::1"',
    'Bearer realm="ftp://127.0.0.1/token"',
    'Bearer realm="http://\u00e9\u00e9.invalid/token"',
    'Bearer realm="/relative"',
    "Basic " + "a" * 20_000,
    "\x00\x01\x02",
    'Bearer realm="http://127.0.0.1:1/t",scope="' + "x " * 2000 + '"',
    "Negotiate abc",
]


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_garbage_challenges(fake: harness.FakeRegistry, challenge: str) -> None:
    serve_good(fake)

    def handler(h: Any) -> None:
        # written raw: http.server would refuse some of these header values
        h.send_response(401)
        h.send_header("Content-Length", "0")
        h.wfile.write(b"WWW-Authenticate: " + challenge.encode("latin-1", "replace")
                      + b"\r\n")
        h.end_headers()
    fake.routes[("GET", "/v2/x/manifests/1")] = handler
    err = error_of(RegistrySource(f"{fake.url}/x:1"))
    assert err.exit_code in (2, 3), err.message


def test_garbage_challenge_cli(fake: harness.FakeRegistry) -> None:
    serve_good(fake)
    fake.serve("/v2/x/manifests/1", 401, b"",
               {"WWW-Authenticate": 'Bearer realm="http://[::1",service=\x01'})
    run = run_dockwarden(["image", "--remote", f"{fake.url}/x:1", "--no-progress"])
    assert run.code in (2, 3), run
    assert_one_line_error(run.err)


# --- invalid references ---------------------------------------------------------------------


@pytest.mark.parametrize(("ref", "says"), [
    ("UPPER/case", "repository name must be lowercase"),
    ("x@sha256:zz", "invalid digest"),
    ("127.0.0.1:5000/App:1", "repository name must be lowercase"),
    ("x:bad\u00e9tag", "invalid tag"),
    ("x@md5:abc", "invalid digest"),
])
@pytest.mark.parametrize("remote", [False, True])
def test_invalid_references_exit_2(ref: str, says: str, remote: bool) -> None:
    run = run_dockwarden(["image", *(["--remote"] if remote else []), ref, "--no-progress"])
    assert run.code == 2, run
    assert_one_line_error(run.err)
    assert says in run.err


# --- defect 6: credentials and token realms ---------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ssl.SSLContext]:
    """A server context with a certificate for localhost and 127.0.0.1 from a test CA,
    which the registry client trusts through its certs.d directory (pointed at tmp_path)."""
    ca = harness.make_ca(str(tmp_path))
    server = harness.make_cert(str(tmp_path), "server", hosts=("localhost", "127.0.0.1"),
                               issuer=ca)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.cert, server.key)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    monkeypatch.setattr(reg, "CERTS_DIR", str(certs))
    reg._ssl_context.cache_clear()
    ctx.ca_pem = Path(ca.cert).read_bytes()  # type: ignore[attr-defined]
    ctx.certs_dir = certs  # type: ignore[attr-defined]
    yield ctx
    reg._ssl_context.cache_clear()


def tls_source(ctx: ssl.SSLContext, host: str, **kw: Any) -> RegistrySource:
    """A RegistrySource for HOST/x:1 over https (a loopback host is reached over plain
    HTTP by default, so the scheme is set as for a remote registry), trusting the CA."""
    folder = ctx.certs_dir / host  # type: ignore[attr-defined]
    folder.mkdir(exist_ok=True)
    (folder / "ca.crt").write_bytes(ctx.ca_pem)  # type: ignore[attr-defined]
    source = RegistrySource(f"{host}/x:1", **kw)
    source.scheme = "https"
    return source


def test_tls_registry_never_sends_credentials_to_an_http_realm(
        tls: ssl.SSLContext) -> None:
    with harness.FakeRegistry(tls) as registry, harness.FakeRegistry() as realm:
        serve_good(registry)
        registry.serve("/v2/x/manifests/1", 401, b"", {
            "WWW-Authenticate": f'Bearer realm="http://{realm.url}/token",service="s"'})
        realm.serve("/token", 200, b'{"token": "t"}')
        host = f"localhost:{registry.port}"
        err = error_of(tls_source(tls, host, username="alice", password="s3cret"))
        assert err.exit_code == 3
        assert "refusing to send the credentials" in err.message
        assert f"http://{realm.url}" in err.message and "TLS" in err.message
        assert "s3cret" not in err.message + err.hint
        assert registry.requests  # the TLS registry was reached...
        assert realm.requests == []  # ...and nothing at all went to the http realm
        # with an identity token from a Docker config, the same
        config = tls.certs_dir.parent / "config.json"  # type: ignore[attr-defined]
        config.write_text(json.dumps({"auths": {host: {"identitytoken": "refresh-me"}}}))
        err = error_of(tls_source(tls, host, docker_config=str(config)))
        assert "refusing to send the credentials" in err.message
        assert realm.requests == []


def test_tls_registry_cross_host_https_realm_is_allowed_and_logged(
        tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture) -> None:
    with harness.FakeRegistry(tls) as registry, harness.FakeRegistry(tls) as realm:
        manifest, config, layer = serve_good(registry)
        routes = dict(registry.routes)

        def guard(route: Any) -> Any:
            def handler(h: Any) -> None:
                if h.headers.get("Authorization") == "Bearer tok":
                    route(h)
                else:
                    h.reply(401, b"", {"WWW-Authenticate":
                                       f'Bearer realm="https://127.0.0.1:{realm.port}/token"'})
            return handler
        for key, route in routes.items():
            registry.routes[key] = guard(route)
        realm.serve("/token", 200, b'{"token": "tok"}')
        tls_source(tls, f"127.0.0.1:{realm.port}")  # trust the realm's certificate too
        source = tls_source(tls, f"localhost:{registry.port}", username="alice",
                            password="pw")
        with caplog.at_level(logging.DEBUG, logger=reg.__name__):
            assert bounded(lambda: read_all(source)) == [manifest, config, layer]
        assert realm.requests
        assert (realm.requests[0].header("Authorization") or "").startswith("Basic ")
        assert any("another host" in r.getMessage() for r in caplog.records)
        assert "pw" not in caplog.text


def test_plain_http_loopback_realm_of_a_loopback_registry_gets_credentials(
        fake: harness.FakeRegistry) -> None:
    """A registry on this machine over plain HTTP may use a token service on this
    machine over plain HTTP (Docker's usual local setup)."""
    serve_good(fake)
    with harness.FakeRegistry() as realm:
        fake.serve("/v2/x/manifests/1", 401, b"",
                   {"WWW-Authenticate": f'Bearer realm="http://{realm.url}/token"'})
        realm.serve("/token", 401, b"")
        err = error_of(RegistrySource(f"{fake.url}/x:1", username="u", password="p"))
        assert "refused the credentials" in err.message
        assert realm.requests[0].header("Authorization") is not None
