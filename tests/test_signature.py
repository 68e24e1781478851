"""DW311: cosign signatures of images in a registry.

Images are pushed to a real registry (Debian's docker-registry on 127.0.0.1, the
harness) over the Registry API, and signed here in cosign's format with keys the tests
generate: the `sha256-<hex>.sig` manifest, its simple-signing payload blob and the
signature annotation (and, where a test says so, the transparency-log bundle annotation
cosign adds when it uploads to Rekor). Then `dockwarden image REF --remote --key FILE`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from conftest import findings, run_cli, run_json
from dockwarden.collect.image import signature as sig
from dockwarden.model.image import SignatureStatus
from harness import registry as harness
from hostile.conftest import HOSTILE, assert_no_raw_controls

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SIMPLE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
ARGS = ["--remote", "--check", "DW311", "--no-progress"]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media, "digest": sha(data), "size": len(data), **extra}


# --- images and signatures, written over the Registry API ----------------------------


def one_layer_image(text: bytes) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a small OCI image."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        tf.addfile(info, io.BytesIO(text))
    layer = gzip.compress(buf.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"User": "1000"},
                         "rootfs": {"type": "layers", "diff_ids": [sha(buf.getvalue())]}}
                        ).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": desc(OCI_CONFIG, config),
                           "layers": [desc(OCI_LAYER, layer)]}).encode()
    return layer, config, manifest


class Repo:
    """A repository of the test registry, written with plain HTTP requests."""

    def __init__(self, reg: harness.Registry, name: str) -> None:
        self.base, self.name, self.host = f"http://{reg.url}", name, reg.url
        self.client = httpx.Client(timeout=30)

    def blob(self, data: bytes) -> None:
        started = self.client.post(f"{self.base}/v2/{self.name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = httpx.URL(self.base).join(started.headers["Location"])
        done = self.client.put(location.copy_merge_params({"digest": sha(data)}), content=data,
                               headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text

    def manifest(self, tag: str, body: bytes, media: str = OCI_MANIFEST) -> None:
        put = self.client.put(f"{self.base}/v2/{self.name}/manifests/{tag}", content=body,
                              headers={"Content-Type": media})
        assert put.status_code == 201, put.text

    def push(self, tag: str, text: bytes) -> str:
        layer, config, manifest = one_layer_image(text)
        self.blob(layer)
        self.blob(config)
        self.manifest(tag, manifest)
        return sha(manifest)

    def ref(self, tag: str) -> str:
        return f"{self.host}/{self.name}:{tag}"

    def payload(self, digest: str) -> bytes:
        """cosign's simple-signing payload for `digest` (its compact JSON)."""
        return json.dumps({"critical": {"identity": {"docker-reference":
                                                     f"{self.host}/{self.name}"},
                                        "image": {"docker-manifest-digest": digest},
                                        "type": "cosign container image signature"},
                           "optional": None}, separators=(",", ":")).encode()

    def attach(self, digest: str, layers: list[tuple[bytes, dict[str, str]]],
               media: str = SIMPLE) -> None:
        """Write the `.sig` manifest of `digest`: one layer per (payload, annotations)."""
        for payload, _ in layers:
            self.blob(payload)
        config = json.dumps({"architecture": "", "os": "", "config": {},
                             "rootfs": {"type": "layers",
                                        "diff_ids": [sha(p) for p, _ in layers]}}).encode()
        self.blob(config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": desc(OCI_CONFIG, config),
                               "layers": [desc(media, p, annotations=a) for p, a in layers]}
                              ).encode()
        self.manifest(digest.replace(":", "-") + ".sig", manifest)

    def sign(self, digest: str, key: Any, *, payload: bytes | None = None,
             signed: bytes | None = None, bundle: bool = False) -> None:
        """Sign `digest` with the private `key`: `signed` is what the signature covers
        (default the payload stored); `bundle` adds a log entry naming the public key."""
        stored = payload if payload is not None else self.payload(digest)
        covered = signed if signed is not None else stored
        signature = make_signature(key, covered)
        annotations = {SIG_ANNOTATION: base64.b64encode(signature).decode()}
        if bundle:
            annotations[BUNDLE_ANNOTATION] = log_bundle(covered, signature, key)
        self.attach(digest, [(stored, annotations)])


def make_signature(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(
            key.curve.name, hashes.SHA256())
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, tuple):  # ("pss", RSA key)
        return key[1].sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                             salt_length=32), hashes.SHA256())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign(data)


def private(key: Any) -> Any:
    return key[1] if isinstance(key, tuple) else key


def public_pem(key: Any) -> bytes:
    return private(key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def log_bundle(signed: bytes, signature: bytes, key: Any) -> str:
    """cosign's bundle annotation: a Rekor hashedrekord entry (its log signature is not
    real; dockwarden never trusts it for a pass)."""
    body = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(signed).hexdigest()}},
        "signature": {"content": base64.b64encode(signature).decode(),
                      "publicKey": {"content": base64.b64encode(public_pem(key)).decode()}}}}
    return json.dumps({"SignedEntryTimestamp": base64.b64encode(b"not checked").decode(),
                       "Payload": {"body": base64.b64encode(json.dumps(body).encode()).decode(),
                                   "integratedTime": 1700000000, "logIndex": 1,
                                   "logID": "00" * 32}})


def write_key(path: Any, key: Any) -> str:
    path.write_bytes(public_pem(key))
    return str(path)


KEYS: dict[str, Callable[[], Any]] = {
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "rsa": lambda: rsa.generate_private_key(65537, 2048),
    "rsa-pss": lambda: ("pss", rsa.generate_private_key(65537, 3072)),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.fixture(scope="module")
def registry() -> Iterator[harness.Registry]:
    try:
        reg = harness.Registry().start()
    except harness.RegistryUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture(scope="module")
def p256() -> Any:
    return KEYS["p256"]()


_COUNT = iter(range(10_000))


@pytest.fixture
def repo(registry: harness.Registry) -> Iterator[Repo]:
    r = Repo(registry, f"dwsig/app{next(_COUNT)}")
    yield r
    r.client.close()


def audit(repo: Repo, tmp_path: Any, key: Any, capsys: Any) -> tuple[int, dict[str, Any]]:
    """`dockwarden image` of the repository's tag 1 with `key`'s public key as --key."""
    return run_json(["image", repo.ref("1"), *ARGS, "--key", write_key(tmp_path / "k.pub", key)],
                    capsys)


def dw311(report: dict[str, Any]) -> dict[str, Any] | None:
    found = findings(report, "DW311")
    assert len(found) <= 1
    return found[0] if found else None


# --- live: the four verdicts ----------------------------------------------------------


@pytest.mark.live
@pytest.mark.parametrize("kind", list(KEYS))
def test_signed_and_verified(repo: Repo, tmp_path: Any, capsys: Any, kind: str) -> None:
    key = KEYS[kind]()
    digest = repo.push("1", b"signed\n")
    repo.sign(digest, key)
    code, report = run_json(["image", repo.ref("1"), *ARGS, "--key",
                             write_key(tmp_path / "cosign.pub", key)], capsys)
    assert code == 0 and report["complete"], report["errors"]
    assert dw311(report) is None
    assert report["summary"]["passed"] == 1 and not report["skipped"]


@pytest.mark.live
def test_verified_with_bundle(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    digest = repo.push("1", b"bundle\n")
    repo.sign(digest, p256, bundle=True)
    code, report = audit(repo, tmp_path, p256, capsys)
    assert code == 0 and dw311(report) is None and report["summary"]["passed"] == 1


@pytest.mark.live
def test_unsigned(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    digest = repo.push("1", b"unsigned\n")
    for extra in (["--key", write_key(tmp_path / "k.pub", p256)], []):
        code, report = run_json(["image", repo.ref("1"), *ARGS, *extra], capsys)
        assert code == 0 and report["complete"]
        found = dw311(report)
        assert found is not None and found["severity"] == "medium"
        assert found["evidence"]["signature"] == "unsigned"
        tag = digest.replace(":", "-") + ".sig"
        assert found["evidence"]["signature_tag"] == tag
        assert found["message"] == (f"unsigned: no cosign signature ({tag[:19]}...sig) in "
                                    f"{repo.host}/{repo.name}")


@pytest.mark.live
def test_tampered_payload_with_bundle(repo: Repo, tmp_path: Any, capsys: Any,
                                      p256: Any) -> None:
    digest = repo.push("1", b"tampered\n")
    original = repo.payload(digest)
    tampered = original.replace(b'"optional":null', b'"optional":{"owner":"mallory"}')
    repo.sign(digest, p256, payload=tampered, signed=original, bundle=True)
    code, report = audit(repo, tmp_path, p256, capsys)
    assert code == 1
    found = dw311(report)
    assert found is not None and found["severity"] == "high"
    assert found["evidence"]["signature"] == "invalid"
    assert "payload was changed after signing" in found["message"]


@pytest.mark.live
def test_tampered_payload_without_bundle(repo: Repo, tmp_path: Any, capsys: Any,
                                         p256: Any) -> None:
    """Without a log entry nothing tells an altered payload from another signer: the
    signature is not verified, and the message says both are possible."""
    digest = repo.push("1", b"tampered, no bundle\n")
    original = repo.payload(digest)
    tampered = original.replace(b'"optional":null', b'"optional":{"a":"b"}')
    repo.sign(digest, p256, payload=tampered, signed=original)
    code, report = audit(repo, tmp_path, p256, capsys)
    found = dw311(report)
    assert code == 0 and found is not None and found["evidence"]["signature"] == "other-key"
    assert "altered after signing" in found["message"]


@pytest.mark.live
def test_signature_bytes_altered(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    digest = repo.push("1", b"bad signature\n")
    payload = repo.payload(digest)
    signature = bytearray(make_signature(p256, payload))
    signature[-1] ^= 1
    repo.attach(digest, [(payload, {SIG_ANNOTATION: base64.b64encode(bytes(signature)).decode(),
                                    BUNDLE_ANNOTATION: log_bundle(payload, make_signature(
                                        p256, payload), p256)})])
    code, report = audit(repo, tmp_path, p256, capsys)
    found = dw311(report)
    assert code == 1 and found is not None and found["evidence"]["signature"] == "invalid"
    assert "signature was changed" in found["message"]


@pytest.mark.live
@pytest.mark.parametrize("bundle", [True, False])
def test_wrong_key(repo: Repo, tmp_path: Any, capsys: Any, p256: Any, bundle: bool) -> None:
    digest = repo.push("1", b"wrong key\n")
    other = KEYS["p256"]()
    repo.sign(digest, other, bundle=bundle)
    code, report = audit(repo, tmp_path, p256, capsys)
    assert code == 0 and report["complete"]
    found = dw311(report)
    assert found is not None and found["severity"] == "medium"
    assert found["evidence"]["signature"] == "other-key"
    ours = sig.public_key(p256.public_key()).description
    theirs = sig.public_key(other.public_key()).description
    assert ours in found["message"]
    if bundle:
        assert found["message"] == f"signed by another key: {theirs}, not {ours}"


@pytest.mark.live
def test_wrong_key_of_another_kind(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    digest = repo.push("1", b"rsa signed\n")
    repo.sign(digest, KEYS["rsa"]())
    _, report = audit(repo, tmp_path, p256, capsys)
    found = dw311(report)
    assert found is not None and found["evidence"]["signature"] == "other-key"
    assert "an rsa signature" in found["message"]


@pytest.mark.live
def test_digest_mismatch(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    """A valid signature of one image copied to another's signature tag."""
    first = repo.push("1", b"first\n")
    second = repo.push("2", b"second\n")
    payload = repo.payload(first)
    repo.sign(second, p256, payload=payload)
    code, report = run_json(["image", repo.ref("2"), *ARGS, "--key",
                             write_key(tmp_path / "k.pub", p256)], capsys)
    found = dw311(report)
    assert code == 1 and found is not None and found["severity"] == "high"
    assert found["evidence"]["signature"] == "invalid"
    assert f"signs another image ({first[:19]}...), not this one" in found["message"]
    assert found["evidence"]["signatures"][0]["signed_digest"] == first


@pytest.mark.live
def test_wrong_payload_type(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    digest = repo.push("1", b"type\n")
    payload = repo.payload(digest).replace(b"cosign container image signature", b"other")
    repo.sign(digest, p256, payload=payload)
    _, report = audit(repo, tmp_path, p256, capsys)
    found = dw311(report)
    assert found is not None and found["evidence"]["signature"] == "invalid"
    assert "critical.type is 'other'" in found["message"]


@pytest.mark.live
def test_no_key(repo: Repo, capsys: Any, p256: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = repo.push("1", b"no key\n")
    repo.sign(digest, p256)
    monkeypatch.delenv("DOCKER_CONTENT_TRUST", raising=False)
    code, report = run_json(["image", repo.ref("1"), *ARGS], capsys)
    found = dw311(report)
    assert code == 0 and found is not None and found["severity"] == "info"
    assert found["message"] == "signed, not verified (no --key)"
    assert found["evidence"]["key"] == "none (no --key)"
    assert found["evidence"]["content_trust"].startswith("DOCKER_CONTENT_TRUST not set")
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "1")
    _, report = run_json(["image", repo.ref("1"), *ARGS], capsys)
    found = dw311(report)
    assert found is not None
    assert found["evidence"]["content_trust"].startswith("DOCKER_CONTENT_TRUST enabled")


@pytest.mark.live
def test_one_good_signature_of_several(repo: Repo, tmp_path: Any, capsys: Any,
                                       p256: Any) -> None:
    digest = repo.push("1", b"two signers\n")
    payload = repo.payload(digest)
    layers = [(payload, {SIG_ANNOTATION: base64.b64encode(make_signature(k, payload)).decode()})
              for k in (KEYS["ed25519"](), p256)]
    repo.attach(digest, layers)
    code, report = audit(repo, tmp_path, p256, capsys)
    assert code == 0 and dw311(report) is None


@pytest.mark.live
def test_text_output(repo: Repo, tmp_path: Any, capsys: Any, p256: Any) -> None:
    repo.push("1", b"text\n")
    code, out, err = run_cli(["image", repo.ref("1"), *ARGS, "--key",
                              write_key(tmp_path / "k.pub", p256), "--details"], capsys)
    assert code == 0 and "DW311" in out and "unsigned" in out, err


# --- live: hostile signature manifests ------------------------------------------------


def _hostile_layers(repo: Repo, digest: str, p256: Any) -> dict[str, Any]:
    payload = repo.payload(digest)
    good = base64.b64encode(make_signature(p256, payload)).decode()
    deep = b"[" * 5000 + b"]" * 5000
    return {
        "bad base64": [(payload, {SIG_ANNOTATION: "not base64!!"})],
        "no annotation": [(payload, {})],
        "empty signature": [(payload, {SIG_ANNOTATION: ""})],
        "garbage signature": [(payload, {SIG_ANNOTATION: base64.b64encode(b"x" * 10).decode()})],
        "deep payload": [(deep, {SIG_ANNOTATION: good})],
        "payload not JSON": [(b"\xff\xfe not json", {SIG_ANNOTATION: good})],
        "payload a list": [(b"[1, 2]", {SIG_ANNOTATION: good})],
        "critical a string": [(b'{"critical": "x"}', {SIG_ANNOTATION: good})],
        "digest a number": [(b'{"critical": {"type": "cosign container image signature", '
                             b'"image": {"docker-manifest-digest": 5}}}', {SIG_ANNOTATION: good})],
        "bundle garbage": [(payload, {SIG_ANNOTATION: good, BUNDLE_ANNOTATION: "{{{"})],
    }


EXPECT = {
    "bad base64": "not base64", "no annotation": "lacks the", "empty signature": "lacks the",
    "garbage signature": "is not an ECDSA", "deep payload": "nested",
    "payload not JSON": "not JSON", "payload a list": "no critical section",
    "critical a string": "no critical section", "digest a number": "names no image digest",
}


@pytest.mark.live
def test_hostile_signature_layers(registry: harness.Registry, tmp_path: Any, capsys: Any,
                                  p256: Any) -> None:
    key = write_key(tmp_path / "k.pub", p256)
    for i, (name, expect) in enumerate(
            [*EXPECT.items(), ("bundle garbage", "verified")]):
        repo = Repo(registry, f"dwsig/hostile{i}")
        digest = repo.push("1", name.encode())
        repo.attach(digest, _hostile_layers(repo, digest, p256)[name])
        code, report = run_json(["image", repo.ref("1"), *ARGS, "--key", key], capsys)
        assert report["complete"], (name, report["errors"])
        found = dw311(report)
        if expect == "verified":  # an unreadable bundle is no hint, and no harm
            assert code == 0 and found is None, name
            continue
        assert code == 1 and found is not None, name
        assert found["evidence"]["signature"] == "invalid", name
        assert expect in found["message"], (name, found["message"])
        assert "\n" not in found["message"]


@pytest.mark.live
def test_hostile_signature_manifests(repo: Repo, tmp_path: Any, capsys: Any,
                                     p256: Any) -> None:
    key = write_key(tmp_path / "k.pub", p256)
    digest = repo.push("1", b"hostile manifests\n")
    tag = digest.replace(":", "-") + ".sig"
    payload = repo.payload(digest)
    repo.blob(payload)
    huge = dict(desc(SIMPLE, payload, annotations={SIG_ANNOTATION: "AAAA"}), size=1 << 40)
    cases = {
        "layers a string": ({"layers": "x"}, "layers is a string"),
        "no layers": ({"layers": []}, "holds no signature"),
        "huge payload": ({"layers": [huge]}, "more than the 64 KiB"),
        "not simple signing": ({"layers": [desc(OCI_LAYER, payload)]},
                               "not a simple-signing payload"),
        "bad digest": ({"layers": [{"mediaType": SIMPLE, "digest": "md5:x", "size": 1}]},
                       "no sha256 digest"),
        "descriptor a list": ({"layers": [[1]]}, "is a list"),
    }
    config = b"{}"
    repo.blob(config)
    for name, (extra, expect) in cases.items():
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": desc(OCI_CONFIG, config), **extra}
        put = repo.client.put(f"{repo.base}/v2/{repo.name}/manifests/{tag}",
                              content=json.dumps(manifest).encode(),
                              headers={"Content-Type": OCI_MANIFEST})
        if put.status_code != 201:  # the registry refuses some shapes itself
            continue
        code, report = run_json(["image", repo.ref("1"), *ARGS, "--key", key], capsys)
        found = dw311(report)
        assert code == 1 and found is not None, name
        assert found["evidence"]["signature"] == "invalid", name
        assert expect in found["message"], (name, found["message"])


# --- images not from a registry, and --key errors -----------------------------------


def save_tarball(path: Any) -> str:
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi\n"))
    layer = layer_buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    with tarfile.open(path, "w") as tf:
        for name, data in (("layer/layer.tar", layer), ("config.json", config),
                           ("manifest.json", json.dumps([{"Config": "config.json",
                                                          "RepoTags": ["x:1"],
                                                          "Layers": ["layer/layer.tar"]}]
                                                        ).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return str(path)


def test_tar_skipped_with_reason(tmp_path: Any, capsys: Any, p256: Any) -> None:
    tar = save_tarball(tmp_path / "image.tar")
    for extra in ([], ["--key", write_key(tmp_path / "k.pub", p256)]):
        code, report = run_json(["image", "--tar", tar, "--check", "DW311", *extra], capsys)
        assert code == 0 and report["complete"] and dw311(report) is None
        skipped = [s for s in report["skipped"] if s["check"] == "DW311"]
        assert len(skipped) == 1
        assert "docker save tarball: no registry holds its signature" in skipped[0]["reason"]


@pytest.mark.parametrize(("content", "expect"), [
    (None, "No such file"),
    (b"hello", "is not a PEM public key"),
    (b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
     "holds a private key"),
    ("dsa", "cosign keys are ECDSA, RSA or Ed25519"),
    ("k1", "curve secp256k1"),
    ("rsa1024", "RSA key of 1024 bits"),
])
def test_bad_key_file(tmp_path: Any, capsys: Any, content: Any, expect: str) -> None:
    path = tmp_path / "key.pub"
    if content == "dsa":
        write_key(path, dsa.generate_private_key(2048))
    elif content == "k1":
        write_key(path, ec.generate_private_key(ec.SECP256K1()))
    elif content == "rsa1024":
        write_key(path, rsa.generate_private_key(65537, 1024))
    elif content is not None:
        path.write_bytes(content)
    tar = save_tarball(tmp_path / "image.tar")
    code, out, err = run_cli(["image", "--tar", tar, "--key", str(path)], capsys)
    assert code == 2 and out == ""
    assert expect in err and len(err.strip().splitlines()) <= 2, err
    assert "Traceback" not in err


# --- pure: judging one signature ------------------------------------------------------

SUBJECT = "sha256:" + "ab" * 32


def _payload(digest: str = SUBJECT) -> bytes:
    return json.dumps({"critical": {"identity": {"docker-reference": "r/x"},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": None}).encode()


@pytest.mark.parametrize("kind", list(KEYS))
def test_judge_each_key_kind(kind: str) -> None:
    key = KEYS[kind]()
    pub = sig.public_key(private(key).public_key())
    payload = _payload()
    note = {SIG_ANNOTATION: base64.b64encode(make_signature(key, payload)).decode()}
    assert sig.judge(0, payload, "", note, SUBJECT, pub).status is SignatureStatus.VERIFIED
    assert sig.judge(0, payload + b" ", "", note, SUBJECT, pub).status is \
        SignatureStatus.OTHER_KEY
    assert sig.judge(0, payload, "", note, SUBJECT, None).status is SignatureStatus.UNVERIFIED


@pytest.mark.parametrize("value", ["DW", "1", "true", "yes"])
def test_content_trust_on(value: str) -> None:
    assert sig.content_trust({"DOCKER_CONTENT_TRUST": value})


@pytest.mark.parametrize("value", ["", "0", "false", "FALSE", "f"])
def test_content_trust_off(value: str) -> None:
    assert not sig.content_trust({"DOCKER_CONTENT_TRUST": value})
    assert not sig.content_trust({})


def test_signature_tag() -> None:
    assert sig.signature_tag(SUBJECT) == "sha256-" + "ab" * 32 + ".sig"


# --- a misbehaving registry (scripted) ------------------------------------------------


@pytest.fixture
def fake() -> Iterator[harness.FakeRegistry]:
    with harness.FakeRegistry() as reg:
        yield reg


def serve_image(fake: harness.FakeRegistry) -> str:
    layer, config, manifest = one_layer_image(b"fake\n")
    digest = sha(manifest)
    for ref in ("1", digest):
        fake.serve(f"/v2/t/app/manifests/{ref}", 200, manifest,
                   {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest})
    for data in (layer, config):
        fake.serve(f"/v2/t/app/blobs/{sha(data)}", 200, data)
    return digest


@pytest.mark.parametrize(("body", "expect"), [
    (b"not json at all", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (json.dumps({"schemaVersion": 2, "layers": "x"}).encode(), "layers is a string"),
    (json.dumps({"schemaVersion": 2, "layers": [[1]]}).encode(), "is a list"),
    (json.dumps({"schemaVersion": 2, "manifests": []}).encode(), "is an index"),
    (json.dumps({"schemaVersion": 2, "layers": [{"mediaType": SIMPLE, "digest": "md5:x",
                                                 "size": 1}]}).encode(), "no sha256 digest"),
    (json.dumps({"schemaVersion": 2, "layers": [{"mediaType": SIMPLE, "digest": SUBJECT,
                                                 "size": "12"}]}).encode(), "is a string"),
])
def test_fake_hostile_signature_manifest(fake: harness.FakeRegistry, capsys: Any,
                                         body: bytes, expect: str) -> None:
    digest = serve_image(fake)
    fake.serve(f"/v2/t/app/manifests/{sig.signature_tag(digest)}", 200, body,
               {"Content-Type": OCI_MANIFEST})
    code, report = run_json(["image", f"{fake.url}/t/app:1", *ARGS], capsys)
    found = dw311(report)
    assert code == 1 and report["complete"] and found is not None
    assert found["evidence"]["signature"] == "invalid"
    assert expect in found["message"] and "\n" not in found["message"]


def test_fake_huge_signature_manifest(fake: harness.FakeRegistry, capsys: Any) -> None:
    digest = serve_image(fake)
    fake.serve(f"/v2/t/app/manifests/{sig.signature_tag(digest)}", 200,
               b" " * (5 << 20), {"Content-Type": OCI_MANIFEST})
    code, _out, err = run_cli(["image", f"{fake.url}/t/app:1", *ARGS], capsys)
    assert code == 3 and "signature lookup failed" in err and "larger than" in err
    assert "Traceback" not in err


def test_fake_registry_fails_on_signature(fake: harness.FakeRegistry, capsys: Any) -> None:
    """A 5xx while looking for the signature: DW311 not judged, the image incomplete
    (exit 3), the reason told; the other checks still judged."""
    digest = serve_image(fake)
    fake.serve(f"/v2/t/app/manifests/{sig.signature_tag(digest)}", 500, b"oops")
    code, report = run_json(["image", f"{fake.url}/t/app:1", "--remote", "--no-progress"],
                            capsys)
    assert code == 3 and not report["complete"]
    skipped = [s for s in report["skipped"] if s["check"] == "DW311"]
    assert skipped and skipped[0]["reason"].startswith("signature lookup failed")
    assert any(e["message"].startswith("DW311: signature lookup failed")
               for e in report["errors"])
    assert findings(report, "DW302")  # judged all the same


def test_fake_payload_blob_missing(fake: harness.FakeRegistry, capsys: Any) -> None:
    digest = serve_image(fake)
    payload = b'{"critical": {}}'
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": desc(OCI_CONFIG, b"{}"),
                           "layers": [desc(SIMPLE, payload,
                                           annotations={SIG_ANNOTATION: "AAAA"})]}).encode()
    fake.serve(f"/v2/t/app/manifests/{sig.signature_tag(digest)}", 200, manifest,
               {"Content-Type": OCI_MANIFEST})
    code, _out, err = run_cli(["image", f"{fake.url}/t/app:1", *ARGS], capsys)
    assert code == 3 and "lacks this blob" in err and "Traceback" not in err


def test_fake_not_selected_no_request(fake: harness.FakeRegistry, capsys: Any) -> None:
    serve_image(fake)
    code, _ = run_json(["image", f"{fake.url}/t/app:1", "--remote", "--skip", "DW311"],
                       capsys)
    assert code == 0
    assert not any(".sig" in r.path for r in fake.requests)


# --- multi-platform: the index's signature, else the platform manifest's ------------


@pytest.mark.live
@pytest.mark.parametrize("signed", ["index", "manifest"])
def test_index_signature(repo: Repo, tmp_path: Any, capsys: Any, p256: Any,
                         signed: str) -> None:
    digest = repo.push("amd", b"amd64\n")
    _, _, manifest = one_layer_image(b"amd64\n")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [desc(OCI_MANIFEST, manifest, platform={
                            "os": "linux", "architecture": "amd64"})]}).encode()
    repo.manifest("multi", index, "application/vnd.oci.image.index.v1+json")
    repo.sign(sha(index) if signed == "index" else digest, p256)
    code, report = run_json(["image", repo.ref("multi"), *ARGS, "--key",
                             write_key(tmp_path / "k.pub", p256)], capsys)
    assert code == 0 and dw311(report) is None and report["summary"]["passed"] == 1


# --- hostile text and arbitrary input to the judge ------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_payload_is_escaped(text: str) -> None:
    for doc in ({"critical": {"type": text, "image": {"docker-manifest-digest": SUBJECT}}},
                {"critical": {"type": "cosign container image signature",
                              "identity": {"docker-reference": text},
                              "image": {"docker-manifest-digest": text}}}):
        got = sig.judge(0, json.dumps(doc).encode(), "", {SIG_ANNOTATION: "AAAA"}, SUBJECT,
                        None)
        assert got.status is SignatureStatus.INVALID
        for value in (got.reason, got.claimed_digest, got.docker_reference):
            assert_no_raw_controls(value)
            assert "\n" not in value


_JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                        max_leaves=20)


@given(payload=st.one_of(st.binary(max_size=300), _JSONISH.map(
           lambda v: json.dumps({"critical": v}).encode())),
       annotations=st.dictionaries(
           st.sampled_from([SIG_ANNOTATION, BUNDLE_ANNOTATION,
                            "dev.sigstore.cosign/certificate", "x"]),
           st.one_of(st.text(max_size=200), _JSONISH), max_size=4))
def test_judge_never_raises(payload: bytes, annotations: dict[str, Any]) -> None:
    got = sig.judge(0, payload, "", annotations, SUBJECT, _P256_PUBLIC)
    assert got.status in (SignatureStatus.INVALID, SignatureStatus.OTHER_KEY)


_P256_PUBLIC = sig.public_key(ec.generate_private_key(ec.SECP256R1()).public_key())


@pytest.mark.live
def test_engine_image_skipped_with_reason(busybox: str, capsys: Any) -> None:
    code, report = run_json(["image", busybox, "--check", "DW311"], capsys)
    assert code == 0 and report["complete"] and dw311(report) is None
    skipped = [s for s in report["skipped"] if s["check"] == "DW311"]
    assert len(skipped) == 1 and skipped[0]["reason"].startswith(
        "read from the Engine, not from a registry (audit it with --remote")


@pytest.mark.live
def test_engine_pushed_image_signed(api: Any, busybox: str, registry: harness.Registry,
                                    tmp_path: Any, capsys: Any) -> None:
    """An image the Engine pushed (a Docker schema 2 manifest), signed here."""
    digest = harness.push(api, registry, busybox, "dwsig/busybox", "1")
    repo = Repo(registry, "dwsig/busybox")
    key = KEYS["p256"]()
    repo.sign(digest, key)
    ref = repo.ref("1")
    code, report = run_json(["image", ref, *ARGS, "--key", write_key(tmp_path / "k.pub", key)],
                            capsys)
    assert code == 0 and dw311(report) is None and report["summary"]["passed"] == 1
    code, report = run_json(["image", f"{registry.url}/dwsig/busybox@{digest}", *ARGS,
                             "--key", write_key(tmp_path / "o.pub", KEYS["p256"]())], capsys)
    found = dw311(report)
    assert found is not None and found["evidence"]["signature"] == "other-key"
