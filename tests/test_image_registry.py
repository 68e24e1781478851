"""RegistrySource: references, credentials, a real registry (Debian's docker-registry, open
and with htpasswd) fed by the Engine, and a scripted fake registry that misbehaves."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dockwarden.collect.image.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Credentials,
    Reference,
    RegistryAuthError,
    RegistryError,
    RegistrySource,
    is_loopback,
    load_credentials,
    parse_challenge,
    parse_reference,
)
from dockwarden.errors import DockwardenError, InputError
from harness import registry as harness
from harness.images import BUSYBOX_TAG

DIGEST = "sha256:" + "ab" * 32
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def read_all(source: RegistrySource) -> list[tuple[str, int | None, bytes]]:
    return [(b.name, b.size, b.stream.read()) for b in source.blobs()]


def error_of(source: RegistrySource) -> DockwardenError:
    with pytest.raises(DockwardenError) as info:
        read_all(source)
    err = info.value
    assert "\n" not in err.message and "\n" not in err.hint
    return err


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media, "digest": sha(data), "size": len(data), **extra}


class Image:
    """A one-layer OCI image made in memory."""

    def __init__(self, arch: str = "amd64", text: bytes = b"hello\n") -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
        self.layer = gzip.compress(buf.getvalue(), mtime=0)
        self.config = json.dumps({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(buf.getvalue())]},
        }).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": desc(OCI_CONFIG, self.config), "layers": [desc(OCI_LAYER, self.layer)],
        }).encode()

    @property
    def blobs(self) -> dict[str, bytes]:
        return {sha(self.config): self.config, sha(self.layer): self.layer}


def serve_image(fake: harness.FakeRegistry, image: Image, repo: str = "t/app",
                tag: str = "1") -> None:
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha(image.manifest)}
    for ref in (tag, sha(image.manifest)):
        fake.serve(f"/v2/{repo}/manifests/{ref}", 200, image.manifest, headers)
    for digest, data in image.blobs.items():
        fake.serve(f"/v2/{repo}/blobs/{digest}", 200, data,
                   {"Content-Type": "application/octet-stream"})


@pytest.fixture
def fake() -> Iterator[harness.FakeRegistry]:
    with harness.FakeRegistry() as reg:
        yield reg


# --- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(("ref", "expected"), [
    ("localhost:5000/team/app:1.0", Reference("localhost:5000", "team/app", "1.0")),
    ("localhost/app", Reference("localhost", "app", "latest")),
    (f"host:5000/app@{DIGEST}", Reference("host:5000", "app", None, DIGEST)),
    (f"host.example/app:2@{DIGEST}", Reference("host.example", "app", "2", DIGEST)),
    ("busybox", Reference("docker.io", "library/busybox", "latest")),
    ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
    ("someone/app", Reference("docker.io", "someone/app", "latest")),
    ("docker.io/busybox", Reference("docker.io", "library/busybox", "latest")),
    ("index.docker.io/someone/app:x", Reference("docker.io", "someone/app", "x")),
    ("Registry.Example:5000/app", Reference("Registry.Example:5000", "app", "latest")),
    ("[::1]:5000/a/b_c/d-e:v1", Reference("[::1]:5000", "a/b_c/d-e", "v1")),
    ("127.0.0.1:5000/a__b/c.d:tag-1.x_y", Reference("127.0.0.1:5000", "a__b/c.d", "tag-1.x_y")),
])
def test_parse_reference(ref: str, expected: Reference) -> None:
    assert parse_reference(ref) == expected


@pytest.mark.parametrize(("ref", "needle"), [
    ("", "invalid image reference"),
    ("host:5000/App:1", "repository name must be lowercase"),
    ("Registry/app", "repository name must be lowercase"),  # as the Engine says
    ("UPPER/case", "repository name must be lowercase"),
    ("host:5000/app:bad!tag", "invalid tag"),
    ("https://host/app", "invalid image reference"),
    ("host:5000/app@sha512:" + "ab" * 64, "only sha256"),
    ("host:5000/app@sha256:abc", "invalid digest"),
    ("x@sha256:zz", "invalid digest"),
    ("host:5000/app@sha256:" + "AB" * 32, "64 lower-case hex"),
    ("host:5000/app name", "invalid image reference"),
    ("ho_st:5000/app", "invalid registry host"),
    ("host:5000/-app", "invalid repository name"),
    ("app:t\u00e9", "invalid tag"),
    ("x" * 2000, "longer than"),
])
def test_parse_reference_rejects(ref: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_reference(ref)


def test_reference_text_and_host() -> None:
    ref = parse_reference("busybox")
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.host == "registry-1.docker.io"
    assert parse_reference(f"h:1/a@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1:5000", True), ("127.3.4.5", True), ("localhost:5000", True),
    ("[::1]:5000", True), ("LOCALHOST", True), ("registry.example:5000", False),
    ("10.0.0.1:5000", False), ("[2001:db8::1]:443", False),
])
def test_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_scheme() -> None:
    assert RegistrySource("127.0.0.2:5000/a").scheme == "http"
    assert RegistrySource("localhost:5000/a").scheme == "http"
    assert RegistrySource("registry.example/a").scheme == "https"
    assert RegistrySource("registry.example/a", insecure=True).scheme == "http"
    assert RegistrySource("busybox").scheme == "https"


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="Registry \\"x\\""') == ("basic",
                                                                 {"realm": 'Registry "x"'})


# --- credentials --------------------------------------------------------------------------


def write_config(directory: str, config: dict[str, Any]) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "config.json")
    with open(path, "w") as fh:
        json.dump(config, fh)
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_from_auths(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write_config(str(tmp_path), {"auths": {
        "https://reg.example:5000/v1/": {"auth": b64("alice:s3cr:et")},
        "other.example": {"username": "bob", "password": "pw"},
        "https://index.docker.io/v1/": {"auth": b64("hub:hubpw")},
    }})
    creds = load_credentials("reg.example:5000")
    assert creds is not None and (creds.username, creds.password) == ("alice", "s3cr:et")
    creds = load_credentials("other.example")
    assert creds is not None and (creds.username, creds.password) == ("bob", "pw")
    creds = load_credentials("docker.io")
    assert creds is not None and creds.username == "hub"
    assert load_credentials("nowhere.example") is None
    assert "s3cr" not in repr(load_credentials("reg.example:5000"))


def test_credentials_explicit_path_and_errors(tmp_path: Any) -> None:
    path = write_config(str(tmp_path / "a"), {"auths": {"r.example": {"auth": "!!notb64"}}})
    with pytest.raises(InputError, match="not base64") as info:
        load_credentials("r.example", path)
    assert "notb64" not in info.value.message
    with pytest.raises(InputError, match="does not exist"):
        load_credentials("r.example", str(tmp_path / "missing.json"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{garbage")
    with pytest.raises(InputError, match="not a JSON object"):
        load_credentials("r.example", str(tmp_path / "bad"))


def test_credentials_default_config_garbage_is_ignored(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("[1, 2")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert load_credentials("r.example") is None


def fake_helper(directory: Any, name: str, script: str) -> None:
    path = directory / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_credentials_from_helpers(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_helper(bindir, "dwstore", 'read server; [ "$1" = get ] || exit 3\n'
                'printf \'{"ServerURL":"%s","Username":"store-%s","Secret":"pw"}\' '
                '"$server" "$server"\n')
    fake_helper(bindir, "dwtok", 'read server\n'
                'printf \'{"ServerURL":"x","Username":"<token>","Secret":"idtok"}\'\n')
    fake_helper(bindir, "dwnone", "echo 'credentials not found in native keychain'; exit 1\n")
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    path = write_config(str(tmp_path), {
        "credsStore": "dwstore",
        "credHelpers": {"tok.example": "dwtok", "none.example": "dwnone",
                        "gone.example": "dwabsent"},
        "auths": {"none.example": {"auth": b64("fallback:pw")},
                  "gone.example": {"auth": b64("inline:pw")}},
    })
    creds = load_credentials("r.example:5000", path)
    assert creds is not None and creds.username == "store-r.example:5000"
    assert creds.origin == "docker-credential-dwstore"
    creds = load_credentials("docker.io", path)
    assert creds is not None and creds.username == "store-https://index.docker.io/v1/"
    creds = load_credentials("tok.example", path)
    assert creds is not None and creds.identity_token == "idtok" and not creds.username
    creds = load_credentials("none.example", path)  # the helper has none: the auths entry
    assert creds is not None and creds.username == "fallback"
    creds = load_credentials("gone.example", path)  # no such helper binary
    assert creds is not None and creds.username == "inline"
    bad = write_config(str(tmp_path / "evil"), {"credsStore": "../../bin/sh"})
    with pytest.raises(InputError, match="invalid credential helper"):
        load_credentials("r.example", bad)


def test_username_needs_password() -> None:
    with pytest.raises(InputError, match="both"):
        RegistrySource("127.0.0.1:1/a", username="u")
    assert "pw" not in repr(Credentials("u", "pw", origin="x"))


# --- a fake registry: the happy path, auth flows, and misbehaviour -------------------------


def test_fake_reads_manifest_then_blobs(fake: harness.FakeRegistry) -> None:
    image = Image()
    serve_image(fake, image)
    source = RegistrySource(f"{fake.url}/t/app:1")
    blobs = read_all(source)
    assert blobs == [
        ("oci:manifest", len(image.manifest), image.manifest),
        (f"blobs/sha256/{sha(image.config)[7:]}", len(image.config), image.config),
        (f"blobs/sha256/{sha(image.layer)[7:]}", len(image.layer), image.layer),
    ]
    assert source.manifest_digest == sha(image.manifest) and source.index_digest is None
    accept = fake.requests[0].header("Accept") or ""
    assert OCI_INDEX in accept and DOCKER_LIST in accept and DOCKER_MANIFEST in accept
    assert "distribution.manifest.v1" not in accept


def test_fake_partial_reads_are_verified(fake: harness.FakeRegistry) -> None:
    """A consumer that stops early: the rest is drained and checked before the next blob."""
    image = Image(text=b"x" * 100_000)
    serve_image(fake, image)
    names = []
    for blob in RegistrySource(f"{fake.url}/t/app:1").blobs():
        blob.stream.read(10)
        names.append(blob.name)
    assert len(names) == 3


def test_fake_by_digest_and_tampered_manifest(fake: harness.FakeRegistry) -> None:
    image = Image()
    serve_image(fake, image)
    assert read_all(RegistrySource(f"{fake.url}/t/app@{sha(image.manifest)}"))
    other = sha(b"something else")
    fake.serve(f"/v2/t/app/manifests/{other}", 200, image.manifest,
               {"Content-Type": OCI_MANIFEST})
    err = error_of(RegistrySource(f"{fake.url}/t/app@{other}"))
    assert isinstance(err, RegistryError) and "requested digest" in err.message
    fake.serve("/v2/t/app/manifests/2", 200, image.manifest,
               {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": other})
    err = error_of(RegistrySource(f"{fake.url}/t/app:2"))
    assert "Docker-Content-Digest" in err.message and err.exit_code == 3


def test_fake_garbage_json(fake: harness.FakeRegistry) -> None:
    fake.serve("/v2/t/app/manifests/1", 200, b"{\x00 not json at all",
               {"Content-Type": OCI_MANIFEST})
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryError) and err.exit_code == 3
    assert "not JSON" in err.message
    fake.serve("/v2/t/app/manifests/2", 200, b"[1, 2]", {"Content-Type": OCI_MANIFEST})
    assert "not a JSON object" in error_of(RegistrySource(f"{fake.url}/t/app:2")).message
    fake.serve("/v2/t/app/manifests/3", 200, b'{"schemaVersion": 2, "layers": 5}',
               {"Content-Type": OCI_MANIFEST})
    assert error_of(RegistrySource(f"{fake.url}/t/app:3")).exit_code in (2, 3)


def test_fake_html_500(fake: harness.FakeRegistry) -> None:
    page = b"<!DOCTYPE html><html><head><title>Bad\nGateway</title></head><body>oops</body>"
    fake.serve("/v2/t/app/manifests/1", 500, page, {"Content-Type": "text/html"})
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryError) and err.exit_code == 3
    assert "HTTP 500" in err.message and "HTML page: Bad Gateway" in err.message
    fake.serve("/v2/t/app/manifests/2", 200, page, {"Content-Type": "text/html"})
    err = error_of(RegistrySource(f"{fake.url}/t/app:2"))
    assert "HTML page" in err.message and err.exit_code == 3


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
def test_fake_10mb_manifest(fake: harness.FakeRegistry, length: bool) -> None:
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (10 << 20) + b'"}'
    fake.serve("/v2/t/app/manifests/1", 200, body, {"Content-Type": OCI_MANIFEST},
               length=length)
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryError) and "larger than the 4 MiB" in err.message


def test_fake_blob_digest_mismatch(fake: harness.FakeRegistry) -> None:
    image = Image()
    serve_image(fake, image)
    layer = sha(image.layer)
    flipped = image.layer[:-1] + bytes([image.layer[-1] ^ 0xFF])
    fake.serve(f"/v2/t/app/blobs/{layer}", 200, flipped)
    source = RegistrySource(f"{fake.url}/t/app:1")
    blobs = source.blobs()
    next(blobs), next(blobs)
    blob = next(blobs)
    assert blob.name == f"blobs/sha256/{layer[7:]}"
    with pytest.raises(RegistryError, match="does not match its digest") as info:
        blob.stream.read()
    assert info.value.exit_code == 3


def test_fake_blob_size_mismatch(fake: harness.FakeRegistry) -> None:
    image = Image()
    serve_image(fake, image)
    layer = sha(image.layer)
    fake.serve(f"/v2/t/app/blobs/{layer}", 200, image.layer[:-5])  # Content-Length says so
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert "the manifest declares" in err.message and err.exit_code == 3
    fake.serve(f"/v2/t/app/blobs/{layer}", 200, image.layer[:-5], length=False)
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert "got " in err.message and err.exit_code == 3
    fake.serve(f"/v2/t/app/blobs/{layer}", 200, image.layer + b"extra", length=False)
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert "more than" in err.message


def test_fake_blob_cut_off(fake: harness.FakeRegistry) -> None:
    image = Image(text=os.urandom(200_000))
    serve_image(fake, image)
    layer = sha(image.layer)

    def cut(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(image.layer)))
        h.end_headers()
        h.wfile.write(image.layer[: len(image.layer) // 2])
        h.wfile.flush()
        h.close_connection = True
    fake.routes[("GET", f"/v2/t/app/blobs/{layer}")] = cut
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryError) and "cut off after" in err.message


def test_fake_not_found_and_missing_blob(fake: harness.FakeRegistry) -> None:
    err = error_of(RegistrySource(f"{fake.url}/t/nothing:1"))
    assert isinstance(err, InputError) and not isinstance(err, RegistryError)
    assert err.message.startswith("image not found in registry")
    assert "NAME_UNKNOWN" in err.message and err.exit_code == 2
    image = Image()
    serve_image(fake, image)
    del fake.routes[("*", f"/v2/t/app/blobs/{sha(image.layer)}")]
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryError) and "lacks this blob" in err.message


def test_fake_schema1_refused(fake: harness.FakeRegistry) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "t/app", "fsLayers": []}).encode()
    fake.serve("/v2/t/app/manifests/1", 200, body,
               {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"})
    fake.serve("/v2/t/app/manifests/2", 200, body, {"Content-Type": "application/json"})
    for tag in ("1", "2"):
        err = error_of(RegistrySource(f"{fake.url}/t/app:{tag}"))
        assert "schema 1" in err.message and err.exit_code == 2


def test_fake_connection_refused() -> None:
    port = harness.free_port()  # nothing listens there
    err = error_of(RegistrySource(f"127.0.0.1:{port}/t/app:1"))
    assert isinstance(err, RegistryError) and err.exit_code == 3
    assert f"cannot connect to 127.0.0.1:{port}" in err.message and err.hint


def test_fake_timeout(fake: harness.FakeRegistry) -> None:
    def slow(h: Any) -> None:
        time.sleep(1.5)
        h.reply(200, b"{}")
    fake.routes[("GET", "/v2/t/app/manifests/1")] = slow
    started = time.monotonic()
    err = error_of(RegistrySource(f"{fake.url}/t/app:1", timeout=0.3))
    assert isinstance(err, RegistryError) and "within 0.3s" in err.message
    assert time.monotonic() - started < 1.4


def bearer_registry(fake: harness.FakeRegistry, image: Image, *, user: str = "",
                    password: str = "", key: str = "token") -> list[dict[str, Any]]:
    """Protect the image behind a Bearer challenge; /token issues tokens (checking
    Basic credentials when `user` is set). Returns the token requests seen."""
    serve_image(fake, image)
    seen: list[dict[str, Any]] = []
    realm = f"http://{fake.url}/token"
    protected = dict(fake.routes)

    def guard(route: Any) -> Any:
        def handler(h: Any) -> None:
            if h.headers.get("Authorization") != "Bearer tok-123":
                h.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                    "Content-Type": "application/json",
                    "WWW-Authenticate": f'Bearer realm="{realm}",service="fake-registry",'
                                        'scope="repository:t/app:pull"'})
            else:
                route(h)
        return handler

    for k, route in protected.items():
        fake.routes[k] = guard(route)

    def token(h: Any) -> None:
        query = httpx.URL(h.path).params
        body = fake.requests[-1].body.decode()
        seen.append({"method": h.command, "query": dict(query.multi_items()),
                     "auth": h.headers.get("Authorization"), "form": body})
        if user and h.headers.get("Authorization") != "Basic " + b64(f"{user}:{password}"):
            h.reply(401, b'{"details":"bad creds"}')
            return
        h.reply(200, json.dumps({key: "tok-123", "expires_in": 300}).encode(),
                {"Content-Type": "application/json"})
    fake.routes[("*", "/token")] = token
    return seen


def test_fake_bearer_with_credentials(fake: harness.FakeRegistry) -> None:
    image = Image()
    seen = bearer_registry(fake, image, user="alice", password="pa ss")
    blobs = read_all(RegistrySource(f"{fake.url}/t/app:1", username="alice",
                                    password="pa ss"))
    assert [b[2] for b in blobs] == [image.manifest, image.config, image.layer]
    assert len(seen) == 1  # the token is reused for the blobs
    assert seen[0]["query"] == {"service": "fake-registry", "scope": "repository:t/app:pull",
                                "account": "alice"}
    err = error_of(RegistrySource(f"{fake.url}/t/app:1", username="alice", password="nope"))
    assert isinstance(err, RegistryAuthError) and err.exit_code == 2
    assert "refused the credentials (from --username/--password-stdin)" in err.message
    assert "nope" not in err.message + err.hint


def test_fake_bearer_anonymous_access_token(fake: harness.FakeRegistry) -> None:
    image = Image()
    seen = bearer_registry(fake, image, key="access_token")
    assert len(read_all(RegistrySource(f"{fake.url}/t/app:1"))) == 3
    assert seen[0]["auth"] is None and "account" not in seen[0]["query"]


def test_fake_bearer_identity_token(fake: harness.FakeRegistry, tmp_path: Any) -> None:
    image = Image()
    seen = bearer_registry(fake, image)
    path = write_config(str(tmp_path), {"auths": {fake.url: {"identitytoken": "refresh-me"}}})
    assert len(read_all(RegistrySource(f"{fake.url}/t/app:1", docker_config=path))) == 3
    assert seen[0]["method"] == "POST"
    assert "grant_type=refresh_token" in seen[0]["form"]
    assert "refresh_token=refresh-me" in seen[0]["form"]


def test_fake_bearer_token_service_failures(fake: harness.FakeRegistry) -> None:
    image = Image()
    bearer_registry(fake, image)
    fake.serve("/token", 200, b"<html>login</html>", {"Content-Type": "text/html"})
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert "answered without a token" in err.message and err.exit_code == 3
    fake.serve("/token", 503, b"")
    assert "HTTP 503" in error_of(RegistrySource(f"{fake.url}/t/app:1")).message


def test_fake_basic_challenge(fake: harness.FakeRegistry) -> None:
    image = Image()
    serve_image(fake, image)
    expected = "Basic " + b64("bob:pw")
    for k, route in dict(fake.routes).items():
        def handler(h: Any, route: Any = route) -> None:
            if h.headers.get("Authorization") == expected:
                route(h)
            else:
                h.reply(401, b"", {"WWW-Authenticate": 'Basic realm="fake"'})
        fake.routes[k] = handler
    assert len(read_all(RegistrySource(f"{fake.url}/t/app:1", username="bob",
                                       password="pw"))) == 3
    err = error_of(RegistrySource(f"{fake.url}/t/app:1"))
    assert isinstance(err, RegistryAuthError) and "requires authentication" in err.message
    err = error_of(RegistrySource(f"{fake.url}/t/app:1", username="bob", password="wrong"))
    assert isinstance(err, RegistryAuthError) and "wrong" not in err.message + err.hint


def test_fake_blob_redirect_drops_authorization(fake: harness.FakeRegistry) -> None:
    """Blobs redirected to other storage are followed without the registry's credentials."""
    image = Image()
    serve_image(fake, image)
    layer = sha(image.layer)
    with harness.FakeRegistry() as storage:
        storage.serve(f"/store/{layer}", 200, image.layer)
        fake.serve(f"/v2/t/app/blobs/{layer}", 307, b"",
                   {"Location": f"http://{storage.url}/store/{layer}"})
        blobs = read_all(RegistrySource(f"{fake.url}/t/app:1", username="u", password="p"))
        assert blobs[-1][2] == image.layer
        assert storage.requests and storage.requests[0].header("Authorization") is None


def test_fake_index_platforms(fake: harness.FakeRegistry) -> None:
    amd, arm = Image("amd64"), Image("arm64", b"arm\n")
    serve_image(fake, amd, tag="amd")
    serve_image(fake, arm, tag="arm")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        desc(OCI_MANIFEST, arm.manifest, platform={"os": "linux", "architecture": "arm64",
                                                   "variant": "v8"}),
        desc(OCI_MANIFEST, amd.manifest, platform={"os": "linux", "architecture": "amd64"}),
    ]}).encode()
    fake.serve("/v2/t/app/manifests/multi", 200, index, {"Content-Type": OCI_INDEX})
    source = RegistrySource(f"{fake.url}/t/app:multi")
    assert read_all(source)[1][2] == amd.config
    assert source.index_digest == sha(index) and source.manifest_digest == sha(amd.manifest)
    source = RegistrySource(f"{fake.url}/t/app:multi", platform="linux/arm64")
    assert read_all(source)[1][2] == arm.config
    err = error_of(RegistrySource(f"{fake.url}/t/app:multi", platform="linux/s390x"))
    assert isinstance(err, InputError) and "linux/arm64/v8" in err.message


# --- a real registry, fed by the Engine ---------------------------------------------------

REPO = "dwtest/busybox"


@pytest.fixture(scope="module")
def open_registry(api: Any, busybox: str) -> Iterator[tuple[harness.Registry, str]]:
    with harness.Registry() as reg:
        yield reg, harness.push(api, reg, busybox, REPO, "1")


@pytest.fixture(scope="module")
def auth_registry(api: Any, busybox: str) -> Iterator[tuple[harness.Registry, str]]:
    with harness.Registry(auth=True) as reg:
        yield reg, harness.push(api, reg, busybox, REPO, "1")


def assert_busybox(api: Any, source: RegistrySource) -> None:
    blobs = read_all(source)
    inspect = api.inspect_image(BUSYBOX_TAG)
    name, size, manifest = blobs[0]
    assert name == "oci:manifest" and size == len(manifest)
    doc = json.loads(manifest)
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert doc["config"]["digest"] == inspect["Id"]
    assert blobs[1][0] == "blobs/sha256/" + inspect["Id"][7:]
    assert json.loads(blobs[1][2])["rootfs"]["diff_ids"] == inspect["RootFS"]["Layers"]
    layers = blobs[2:]
    assert len(layers) == len(inspect["RootFS"]["Layers"]) == len(doc["layers"])
    for (lname, lsize, data), ldesc in zip(layers, doc["layers"], strict=True):
        assert lname == "blobs/sha256/" + ldesc["digest"][7:] and lsize == ldesc["size"]
        assert len(data) == lsize and sha(data) == ldesc["digest"]


@pytest.mark.live
def test_live_open_registry(api: Any, open_registry: tuple[harness.Registry, str]) -> None:
    reg, digest = open_registry
    source = RegistrySource(f"{reg.url}/{REPO}:1")
    assert_busybox(api, source)
    assert source.manifest_digest == digest
    assert_busybox(api, RegistrySource(f"{reg.url}/{REPO}@{digest}"))
    assert f"{reg.url}/{REPO}:1" not in [t for i in api.images() for t in i["RepoTags"] or []]


@pytest.mark.live
def test_live_not_found(open_registry: tuple[harness.Registry, str]) -> None:
    reg, _ = open_registry
    for ref in (f"{reg.url}/{REPO}:nope", f"{reg.url}/dwtest/absent:1"):
        err = error_of(RegistrySource(ref))
        assert isinstance(err, InputError) and err.exit_code == 2
        assert err.message.startswith("image not found in registry")
        assert "UNKNOWN" in err.message


@pytest.mark.live
def test_live_htpasswd(api: Any, auth_registry: tuple[harness.Registry, str]) -> None:
    reg, digest = auth_registry
    ref = f"{reg.url}/{REPO}:1"
    source = RegistrySource(ref, username=reg.username, password=reg.password)
    assert_busybox(api, source)
    assert source.manifest_digest == digest
    err = error_of(RegistrySource(ref))
    assert isinstance(err, RegistryAuthError) and err.exit_code == 2
    assert "requires authentication" in err.message and "docker login" in err.hint
    wrong = "wrong-" + str(reg.password)
    err = error_of(RegistrySource(ref, username=reg.username, password=wrong))
    assert isinstance(err, RegistryAuthError) and err.exit_code == 2
    assert "refused the credentials" in err.message
    assert str(reg.password) not in err.message + err.hint + repr(err)


@pytest.mark.live
def test_live_docker_config(api: Any, auth_registry: tuple[harness.Registry, str],
                            tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reg, _ = auth_registry
    ref = f"{reg.url}/{REPO}:1"
    write_config(str(tmp_path / "env"),
                 {"auths": {reg.url: {"auth": b64(f"{reg.username}:{reg.password}")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "env"))
    assert_busybox(api, RegistrySource(ref))
    path = write_config(str(tmp_path / "arg"), {"auths": {f"http://{reg.url}": {
        "username": reg.username, "password": reg.password}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nothing"))
    assert_busybox(api, RegistrySource(ref, docker_config=path))
    bad = write_config(str(tmp_path / "bad"), {"auths": {reg.url: {
        "auth": b64(f"{reg.username}:bad")}}})
    err = error_of(RegistrySource(ref, docker_config=bad))
    assert isinstance(err, RegistryAuthError) and bad in err.message


def upload_blob(client: httpx.Client, base: str, repo: str, data: bytes) -> None:
    started = client.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(base).join(started.headers["Location"])
    done = client.put(location.copy_merge_params({"digest": sha(data)}), content=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text


@pytest.mark.live
@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_LIST])
def test_live_manifest_list(api: Any, open_registry: tuple[harness.Registry, str],
                            index_type: str) -> None:
    reg, digest = open_registry
    base = f"http://{reg.url}"
    fake_arm = Image("arm64", b"not really arm\n")
    with httpx.Client(timeout=30) as client:
        for data in fake_arm.blobs.values():
            upload_blob(client, base, REPO, data)
        put = client.put(f"{base}/v2/{REPO}/manifests/{sha(fake_arm.manifest)}",
                         content=fake_arm.manifest, headers={"Content-Type": OCI_MANIFEST})
        assert put.status_code == 201, put.text
        real = client.get(f"{base}/v2/{REPO}/manifests/{digest}",
                          headers={"Accept": DOCKER_MANIFEST}).content
        # an OCI manifest beside a Docker one, in either kind of list (distribution 2.8
        # accepts both)
        arm_desc = desc(OCI_MANIFEST, fake_arm.manifest,
                        platform={"os": "linux", "architecture": "arm64"})
        index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": [
            arm_desc,
            desc(DOCKER_MANIFEST, real, platform={"os": "linux", "architecture": "amd64"}),
        ]}).encode()
        tag = "multi-oci" if index_type == OCI_INDEX else "multi-docker"
        put = client.put(f"{base}/v2/{REPO}/manifests/{tag}", content=index,
                         headers={"Content-Type": index_type})
        assert put.status_code == 201, put.text
    source = RegistrySource(f"{reg.url}/{REPO}:{tag}")
    assert_busybox(api, source)
    assert source.manifest_digest == digest and source.index_digest == sha(index)
    source = RegistrySource(f"{reg.url}/{REPO}:{tag}", platform="linux/arm64")
    blobs = read_all(source)
    assert [b[2] for b in blobs] == [fake_arm.manifest, fake_arm.config, fake_arm.layer]
    assert source.manifest_digest == sha(fake_arm.manifest)
    err = error_of(RegistrySource(f"{reg.url}/{REPO}:{tag}", platform="linux/ppc64le"))
    assert isinstance(err, InputError) and "linux/amd64" in err.message
