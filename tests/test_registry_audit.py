"""`dockwarden registry URL` (DW401-DW406) against real registries (Debian's
docker-registry) on 127.0.0.1: open, htpasswd over HTTP, and behind TLS with
certificates made here (valid for the test's CA, expired, for another host name,
self-signed). Each check fires where it should and nowhere else, and the write test
leaves the registry's storage byte for byte as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import findings, run_cli, run_json
from dockwarden.collect.registry_audit import parse_registry_url
from dockwarden.errors import InputError
from harness import registry as harness

REPO = "dwtest/busybox"
pytestmark = pytest.mark.live


def tree_hash(root: str) -> dict[str, str]:
    """Every directory and file under `root` -> "dir" or the sha256 of its bytes."""
    out: dict[str, str] = {}
    for directory, _dirs, files in os.walk(root):
        out[os.path.relpath(directory, root)] = "dir"
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def ids(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"]}


def one(report: dict[str, Any], check: str) -> dict[str, Any]:
    found = findings(report, check)
    assert len(found) == 1, (check, report["findings"])
    return found[0]


def warnings(report: dict[str, Any]) -> str:
    return "\n".join(w["message"] for w in report.get("warnings", []))


# --- registries ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, harness.Issued]:
    d = str(tmp_path_factory.mktemp("certs"))
    ca = harness.make_ca(d)
    return {
        "ca": ca,
        "valid": harness.make_cert(d, "valid", issuer=ca, days=(-1, 365)),
        "expired": harness.make_cert(d, "expired", issuer=ca, days=(-30, -1)),
        "wronghost": harness.make_cert(d, "wronghost", hosts=("registry.invalid",),
                                       issuer=ca),
        "selfsigned": harness.make_cert(d, "selfsigned"),
    }


@pytest.fixture(scope="module")
def open_registry(api: Any, busybox: str) -> Iterator[harness.Registry]:
    with harness.Registry() as reg:
        harness.push(api, reg, busybox, REPO, "1")
        yield reg


@pytest.fixture(scope="module")
def auth_registry(api: Any, busybox: str) -> Iterator[harness.Registry]:
    with harness.Registry(auth=True) as reg:
        harness.push(api, reg, busybox, REPO, "1")
        yield reg


@pytest.fixture(scope="module")
def tls_registry(certs: dict[str, harness.Issued]) -> Iterator[harness.Registry]:
    """htpasswd auth behind TLS with a certificate of the test's own CA."""
    valid = certs["valid"]
    with harness.Registry(auth=True, tls=(valid.cert, valid.key)) as reg:
        yield reg


def seed(base: str, repo: str, tag: str) -> None:
    """A tiny image (config and one layer) put into an open registry over its API."""
    import httpx

    def sha(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"not really a layer"
    with httpx.Client(verify=False, timeout=30) as client:
        for data in (config, layer):
            started = client.post(f"{base}/v2/{repo}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = httpx.URL(base).join(started.headers["Location"])
            done = client.put(location.copy_merge_params({"digest": sha(data)}), content=data)
            assert done.status_code == 201, done.text
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha(layer), "size": len(layer)}]}).encode()
        put = client.put(f"{base}/v2/{repo}/manifests/{tag}", content=manifest,
                         headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert put.status_code == 201, put.text


@pytest.fixture(scope="module", params=["expired", "wronghost", "selfsigned"])
def bad_tls_registry(request: pytest.FixtureRequest,
                     certs: dict[str, harness.Issued]) -> Iterator[tuple[str, harness.Registry]]:
    issued = certs[request.param]
    with harness.Registry(tls=(issued.cert, issued.key)) as reg:
        seed(reg.base, REPO, "1")
        yield request.param, reg


def audit(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, dict[str, Any]]:
    return run_json(["registry", url, "--timeout", "20", *args], capsys)


def with_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


# --- open registry over HTTP ---------------------------------------------------------------


def test_open_registry(open_registry: harness.Registry,
                       capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_hash(open_registry.root)
    code, report = audit(capsys, open_registry.url)
    assert tree_hash(open_registry.root) == before  # the push test stored nothing
    assert code == 1 and report["complete"]
    assert report["targets"] == [{"kind": "registry", "ref": f"http://{open_registry.url}",
                                  "complete": True}]
    assert ids(report) == {"DW401", "DW403", "DW404", "DW405"}
    dw401 = one(report, "DW401")
    assert dw401["severity"] == "medium" and dw401["evidence"]["loopback"] is True
    assert dw401["source"] == "registry" and dw401["target"]["kind"] == "registry"
    assert one(report, "DW403")["evidence"]["repositories"] == [REPO]
    assert one(report, "DW404")["evidence"]["repository"] == REPO
    push = one(report, "DW405")
    assert push["severity"] == "critical" and push["evidence"]["status"] == 201
    assert "nothing changed" in push["evidence"]["detail"]


def test_open_registry_named_repository_http_url(open_registry: harness.Registry,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_hash(open_registry.root)
    _code, report = audit(capsys, f"http://{open_registry.url}/v2/", "--repository", REPO,
                         "--no-write-test")
    assert tree_hash(open_registry.root) == before
    assert ids(report) == {"DW401", "DW403", "DW404"}
    assert "does not speak TLS" not in warnings(report)  # http:// given: no TLS tried
    skipped = {s["check"]: s["reason"] for s in report["skipped"]}
    assert "--no-write-test" in skipped["DW405"]


def test_open_registry_repository_absent(open_registry: harness.Registry,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A named repository that does not exist: pull cannot be tried (skipped), and the
    upload opened to test push is cancelled."""
    _code, report = audit(capsys, open_registry.url, "--repository", "dwtest/absent")
    assert "DW404" not in ids(report)
    assert any(s["check"] == "DW404" for s in report["skipped"])
    push = one(report, "DW405")
    assert push["evidence"]["status"] == 202 and "cancelled" in push["evidence"]["detail"]


# --- htpasswd over HTTP --------------------------------------------------------------------


def test_htpasswd_anonymous(auth_registry: harness.Registry,
                            capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_hash(auth_registry.root)
    code, report = audit(capsys, auth_registry.url)
    assert tree_hash(auth_registry.root) == before
    assert code == 0 and report["complete"]  # both findings medium on loopback
    assert ids(report) == {"DW401", "DW406"}
    dw406 = one(report, "DW406")
    assert dw406["severity"] == "medium" and dw406["evidence"]["authentication"] == "basic"
    assert "Basic" in dw406["evidence"]["WWW-Authenticate"]
    assert "credentials_accepted" not in dw406["evidence"]


def test_htpasswd_with_password_stdin(auth_registry: harness.Registry,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_hash(auth_registry.root)
    with_stdin(monkeypatch, f"{auth_registry.password}\n")
    _code, report = audit(capsys, auth_registry.url, "--username", str(auth_registry.username),
                         "--password-stdin")
    assert tree_hash(auth_registry.root) == before
    assert ids(report) == {"DW401", "DW406"}  # what the credentials allow is no finding
    assert one(report, "DW406")["evidence"]["credentials_accepted"] is True
    note = warnings(report)
    assert "accepted; catalog listed; pull allowed; push allowed" in note
    assert str(auth_registry.password) not in json.dumps(report)


def test_htpasswd_wrong_password(auth_registry: harness.Registry,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with_stdin(monkeypatch, "not-the-password\n")
    _code, report = audit(capsys, auth_registry.url, "--username", "dwtest", "--password-stdin")
    assert one(report, "DW406")["evidence"]["credentials_accepted"] is False
    assert "refused by the registry" in warnings(report)
    assert "not-the-password" not in json.dumps(report)


def test_htpasswd_docker_config(auth_registry: harness.Registry, tmp_path: Any,
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    auth = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {auth_registry.url: {"auth": auth.decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    _code, report = audit(capsys, auth_registry.url)
    assert ids(report) == {"DW401", "DW406"}
    assert "config.json" in warnings(report) and "push allowed" in warnings(report)


def test_image_remote_password_stdin(auth_registry: harness.Registry,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ref = f"{auth_registry.url}/{REPO}:1"
    code, _out, err = run_cli(["image", ref, "--remote", "--no-progress", "--format", "json",
                              "--fail-on", "none"], capsys)
    assert code == 2 and "requires authentication" in err
    with_stdin(monkeypatch, f"{auth_registry.password}\n")
    code, report = run_json(["image", ref, "--remote", "--username",
                             str(auth_registry.username), "--password-stdin",
                             "--fail-on", "none"], capsys)
    assert code == 0 and report["complete"]
    assert report["targets"][0]["ref"] == ref


# --- TLS -----------------------------------------------------------------------------------


def test_tls_valid_with_ca_cert(tls_registry: harness.Registry,
                                certs: dict[str, harness.Issued],
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    with_stdin(monkeypatch, f"{tls_registry.password}\n")
    code, report = audit(capsys, f"https://{tls_registry.url}", "--ca-cert",
                         certs["ca"].cert, "--username", str(tls_registry.username),
                         "--password-stdin")
    assert code == 0 and report["complete"]
    assert ids(report) == set()  # TLS verified, Basic auth over TLS, nothing anonymous
    assert report["targets"][0]["ref"] == f"https://{tls_registry.url}"
    assert "with the credentials from --username/--password-stdin: accepted" in warnings(report)
    # without a scheme, https is tried first
    code, report = audit(capsys, tls_registry.url, "--ca-cert", certs["ca"].cert)
    assert ids(report) == set() and report["targets"][0]["ref"].startswith("https://")


def test_tls_untrusted_ca(tls_registry: harness.Registry,
                          capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --ca-cert the test CA is unknown: DW402, and the credentials are not sent."""
    with_stdin(monkeypatch, f"{tls_registry.password}\n")
    _code, report = audit(capsys, tls_registry.url, "--username",
                         str(tls_registry.username), "--password-stdin")
    assert ids(report) == {"DW402"}
    ev = one(report, "DW402")["evidence"]
    assert ev["verified"] is False and "issuer" in ev["verify_error"]
    assert ev["problems"] == ["not trusted"]
    assert "not used" in warnings(report)


def test_tls_bad_certificates(bad_tls_registry: tuple[str, harness.Registry],
                              certs: dict[str, harness.Issued],
                              capsys: pytest.CaptureFixture[str]) -> None:
    kind, reg = bad_tls_registry
    before = tree_hash(reg.root)
    _code, report = audit(capsys, f"https://{reg.url}", "--ca-cert", certs["ca"].cert)
    assert tree_hash(reg.root) == before
    # the registry is open: the anonymous findings hold whatever its certificate
    assert ids(report) == {"DW402", "DW403", "DW404", "DW405"}
    dw402 = one(report, "DW402")
    problems = dw402["evidence"]["problems"]
    assert dw402["severity"] == "medium" and dw402["evidence"]["verified"] is False
    expected = {"expired": ["expired"], "wronghost": ["not valid for 127.0.0.1"],
                "selfsigned": ["self-signed"]}[kind]
    assert problems == expected
    if kind == "expired":
        assert dw402["evidence"]["days_left"] < 0
        assert "expired" in dw402["evidence"]["verify_error"]


def test_tls_versions(tls_registry: harness.Registry, certs: dict[str, harness.Issued]) -> None:
    from dockwarden.collect.registry_audit import probe_tls

    facts = probe_tls(parse_registry_url(tls_registry.url), certs["ca"].cert, 10)
    versions = dict(facts.versions)
    assert versions["TLSv1.2"] is True and versions["TLSv1.3"] is True
    assert versions["TLSv1"] is not True and versions["TLSv1.1"] is not True  # registry min 1.2
    assert facts.verified and facts.hostname_matches and not facts.self_signed
    assert facts.key == "EC secp256r1" and facts.signature_hash == "sha256"


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("url, needle", [
    ("ftp://127.0.0.1:5000", "scheme"),
    ("http://user:secret@127.0.0.1:5000", "credentials in the URL"),
    ("http://127.0.0.1:5000/v2/_catalog", "no path"),
    ("http://127.0.0.1:99999", "invalid registry URL"),
    ("", "invalid registry URL"),
    ("bad host!", "invalid registry URL"),
])
def test_bad_url(url: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match=needle):
        parse_registry_url(url)
    code, out, err = run_cli(["registry", url], capsys)
    assert code == 2 and not out and needle in err and "secret" not in err
    assert len(err.strip().splitlines()) <= 2


def test_unreachable_writes_report(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    port = harness.free_port()
    out_file = tmp_path / "report.json"
    code, _out, err = run_cli(["registry", f"127.0.0.1:{port}", "--format", "json",
                              "--output", str(out_file), "--timeout", "5"], capsys)
    assert code == 3 and "cannot connect" in err
    report = json.loads(out_file.read_text())
    assert report["complete"] is False and report["errors"]
    assert report["targets"][0] == {"kind": "registry", "ref": f"https://127.0.0.1:{port}",
                                    "complete": False}


def test_https_to_plain_http(open_registry: harness.Registry,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["registry", f"https://{open_registry.url}", "--format", "json"],
                             capsys)
    assert code == 3 and "TLS handshake failed" in err and "http://" in err


def test_http_to_tls(tls_registry: harness.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["registry", f"http://{tls_registry.url}", "--format", "json"],
                             capsys)
    assert code == 3 and "not a registry API" in err and "https://" in err


@pytest.mark.parametrize("args, needle", [
    (["--password-stdin"], "--password-stdin needs --username"),
    (["--username", "u"], "--username needs --password-stdin"),
])
def test_login_options(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["registry", "127.0.0.1:1", *args], capsys)
    assert code == 2 and needle in err


def test_empty_password(capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    with_stdin(monkeypatch, "\n")
    code, _out, err = run_cli(["registry", "127.0.0.1:1", "--username", "u",
                              "--password-stdin"], capsys)
    assert code == 2 and "no password on standard input" in err


# --- scripted registries: what the real one cannot be configured to do ---------------------


def tls_server_context(issued: harness.Issued, oldest: Any = None) -> Any:
    import ssl
    import warnings

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if oldest is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = oldest
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(issued.cert, issued.key)
    return ctx


def test_old_tls_versions_noted(certs: dict[str, harness.Issued],
                                capsys: pytest.CaptureFixture[str]) -> None:
    import ssl

    with harness.FakeRegistry(tls=tls_server_context(certs["valid"], ssl.TLSVersion.TLSv1)) \
            as fake:
        fake.serve("/v2/", 401, b"{}", {"WWW-Authenticate": 'Basic realm="x"'})
        _code, report = audit(capsys, fake.url, "--ca-cert", certs["ca"].cert,
                             "--no-write-test")
    assert ids(report) == set()
    assert "accepts TLSv1 and TLSv1.1 (deprecated, RFC 8996)" in warnings(report)


def test_token_service_on_plain_http(certs: dict[str, harness.Issued],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A TLS registry whose token service is on http://: DW406 (high even on loopback:
    the realm is named for every client), and nothing anonymous is allowed."""
    with harness.FakeRegistry() as tokens, \
            harness.FakeRegistry(tls=tls_server_context(certs["valid"])) as fake:
        tokens.serve("/token", 200, b'{"token": "anonymous"}',
                     {"Content-Type": "application/json"})
        challenge = f'Bearer realm="http://{tokens.url}/token",service="test"'
        for path in ("/v2/", "/v2/_catalog"):
            fake.serve(path, 401, b"{}", {"WWW-Authenticate": challenge})
        _code, report = audit(capsys, fake.url, "--ca-cert", certs["ca"].cert)
    assert ids(report) == {"DW406"}
    dw406 = one(report, "DW406")
    assert dw406["severity"] == "high" and dw406["evidence"]["authentication"] == "bearer"
    assert dw406["evidence"]["token_service"] == f"http://{tokens.url}/token"
    assert any(r.path.startswith("/token") for r in tokens.requests)  # anonymous token asked


@pytest.mark.parametrize("content, needle", [
    (None, "No such file"),
    ("not a certificate\n", "not a PEM certificate file"),
])
def test_bad_ca_cert(tls_registry: harness.Registry, tmp_path: Any, content: str | None,
                     needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    code, out, err = run_cli(["registry", tls_registry.url, "--ca-cert", str(path)], capsys)
    assert code == 2 and not out and "--ca-cert" in err and needle in err
