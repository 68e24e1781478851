"""The cosign signature of an image in a registry (DW311), read and checked.

cosign stores the signature of the manifest `sha256:<hex>` under the tag
`sha256-<hex>.sig` of the same repository: an image manifest whose layers are
simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`, a small JSON
document naming the signed manifest digest in `critical.image.docker-manifest-digest`),
each with its signature, base64, in the layer annotation `dev.cosignproject.cosign/signature`.
A signature made while uploading to the transparency log also carries the log entry in
`dev.sigstore.cosign/bundle` (the payload's sha256, the signature and the public key), and
a keyless one its certificate in `dev.sigstore.cosign/certificate`.

Each signature is verified with the `--key` public key using `cryptography` (ECDSA P-256,
P-384, P-521; RSA PKCS#1 v1.5 and PSS; Ed25519: the keys cosign makes and accepts). The
bundle and the certificate are never trusted for a pass (their own signatures, by the log
and by Fulcio, are not verified here); they only tell a payload altered after signing
(its sha256 differs from the log entry's) from a payload signed by another key (the key
the entry or the certificate names verifies it).

Written by hand: the Python sigstore client verifies keyless bundles, not signatures kept
as `.sig` tags with a key pair, and what is needed is small. The requests go through the
image's own `RegistrySource` (its credentials, its per-request deadlines and size caps),
every document is capped in size and depth, and anything malformed is an `invalid`
signature with a one-line reason, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from dockwarden.deadline import Deadline
from dockwarden.errors import InputError
from dockwarden.model.image import CosignSignature, SignatureFacts, SignatureStatus
from dockwarden.safeio import read_input
from dockwarden.sanitize import clean, excerpt

if TYPE_CHECKING:
    import httpx

    from dockwarden.collect.image.registry import RegistrySource

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
PAYLOAD_TYPE = "cosign container image signature"

MAX_SIGNATURES = 32  # signature layers read; more are counted, not read
MAX_PAYLOAD = 64 << 10  # a cosign payload is a few hundred bytes
MAX_SIGNATURE_TEXT = 8 << 10  # base64 of a signature (RSA 4096: 684 characters)
MAX_BUNDLE_TEXT = 64 << 10
MAX_CERTIFICATE_TEXT = 16 << 10
MAX_KEY_FILE = 64 << 10
LOOKUP_REQUESTS = 3  # the whole lookup ends within this many request timeouts

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
V = SignatureStatus


# --- keys --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key that verifies cosign signatures: `kind` ecdsa, rsa or ed25519;
    `description` its kind and fingerprint (sha256 of its DER SubjectPublicKeyInfo)."""

    key: Any
    kind: str
    description: str
    path: str = ""
    der: bytes = b""


def public_key(key: Any, path: str = "") -> PublicKey:
    """Wrap a `cryptography` public key; ValueError for a kind cosign does not use."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()[:16]
    if isinstance(key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        if key.curve.name not in names:
            raise ValueError(f"an ECDSA key on curve {key.curve.name} (cosign uses P-256, "
                             "P-384 or P-521)")
        return PublicKey(key, "ecdsa", f"ECDSA {names[key.curve.name]} {fingerprint}", path,
                         der)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"an RSA key of {key.key_size} bits (cosign needs 2048 or more)")
        return PublicKey(key, "rsa", f"RSA {key.key_size} {fingerprint}", path, der)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKey(key, "ed25519", f"Ed25519 {fingerprint}", path, der)
    raise ValueError(f"a {type(key).__name__.removeprefix('_')} key (cosign keys are ECDSA, "
                     "RSA or Ed25519)")


def load_key(path: str) -> PublicKey:
    """The `--key FILE` public key (PEM, as `cosign generate-key-pair` writes cosign.pub);
    an InputError (exit 2) naming what is wrong otherwise."""
    data = read_input(path, what="public key", max_bytes=MAX_KEY_FILE)
    shown = clean(path)
    hint = "give the PEM public key that verifies the signatures (cosign.pub)"
    if b"PRIVATE KEY-----" in data:
        raise InputError(f"--key {shown} holds a private key, not a public key", hint)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise InputError(f"--key {shown} is not a PEM public key", hint) from None
    try:
        return public_key(key, path)
    except ValueError as exc:
        raise InputError(f"--key {shown} is {exc}", hint) from None


def verifies(key: PublicKey, payload: bytes, signature: bytes) -> bool:
    """Whether `signature` is `key`'s over `payload`, as cosign signs: ECDSA with the
    curve's hash (or SHA-256, which older cosign used for every curve), RSA PKCS#1 v1.5
    or PSS with SHA-256, Ed25519 over the payload itself."""
    k = key.key
    try:
        if isinstance(k, ec.EllipticCurvePublicKey):
            own = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}
            for algorithm in (own.get(k.curve.name, hashes.SHA256()), hashes.SHA256()):
                try:
                    k.verify(signature, payload, ec.ECDSA(algorithm))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(k, rsa.RSAPublicKey):
            pads: tuple[padding.AsymmetricPadding, ...] = (
                padding.PKCS1v15(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO))
            for pad in pads:
                try:
                    k.verify(signature, payload, pad, hashes.SHA256())
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(k, ed25519.Ed25519PublicKey):
            k.verify(signature, payload)
            return True
    except (InvalidSignature, ValueError, TypeError, OverflowError):
        return False
    return False


def signature_kind(signature: bytes) -> str | None:
    """What kind of key could have made `signature`: ecdsa (DER r, s), ed25519 (64
    bytes), rsa (a modulus' length), or None for bytes that are no signature."""
    try:
        r, s = utils.decode_dss_signature(signature)
        if r > 0 and s > 0:
            return "ecdsa"
    except (ValueError, TypeError):
        pass
    if len(signature) == 64:
        return "ed25519"
    if len(signature) in (256, 384, 512, 1024):
        return "rsa"
    return None


# --- the environment ---------------------------------------------------------------------


def content_trust(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the docker client of this environment enforces content trust: as the
    docker CLI reads DOCKER_CONTENT_TRUST, any non-empty value but a false boolean."""
    value = (os.environ if environ is None else environ).get("DOCKER_CONTENT_TRUST", "")
    return value != "" and value not in ("0", "f", "F", "false", "FALSE", "False")


def signature_tag(digest: str) -> str:
    """cosign's tag for the signature of `digest`: sha256:<hex> -> sha256-<hex>.sig."""
    return digest.replace(":", "-", 1) + ".sig"


# --- judging one signature (pure) --------------------------------------------------------


def _json(data: bytes | str, what: str) -> tuple[Any, str]:
    """Decoded JSON and "", or None and why not; depth-capped (registry's shape check)."""
    from dockwarden.collect.image.registry import RegistryError, check_shape

    try:
        doc = json.loads(data)
    except RecursionError:
        return None, f"{what} is nested too deep"
    except ValueError:
        return None, f"{what} is not JSON"
    try:
        check_shape(doc, object, what)
    except RegistryError as exc:
        return None, exc.message
    return doc, ""


def _field(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def check_payload(payload: bytes, subject: str) -> tuple[str, str, str]:
    """(problem or "", claimed digest, docker reference) of a simple-signing payload
    for the manifest `subject`."""
    doc, problem = _json(payload, "the payload")
    if problem:
        return problem, "", ""
    if not isinstance(doc, dict) or not isinstance(doc.get("critical"), dict):
        return "the payload has no critical section: not a simple-signing payload", "", ""
    kind = _field(doc, "critical", "type")
    claimed = _field(doc, "critical", "image", "docker-manifest-digest")
    reference = _field(doc, "critical", "identity", "docker-reference")
    reference = clean(reference)[:200] if isinstance(reference, str) else ""
    if not isinstance(claimed, str):
        return "the payload names no image digest (critical.image.docker-manifest-digest)", \
            "", reference
    claimed_shown = clean(claimed)[:80]
    if kind != PAYLOAD_TYPE:
        shown = clean(kind)[:60] if isinstance(kind, str) else type(kind).__name__
        return f"the payload's critical.type is {shown!r}, not {PAYLOAD_TYPE!r}", \
            claimed_shown, reference
    if claimed != subject:
        return (f"the payload signs another image ({_short(claimed_shown)}), not this one: "
                "a signature copied from another image"), claimed_shown, reference
    return "", claimed, reference


def _short(digest: str) -> str:
    return digest if len(digest) <= 22 else digest[:19] + "..."


@dataclass(frozen=True, slots=True)
class _LogEntry:
    """What a transparency-log bundle says of a signature (a hint, never trusted)."""

    payload_sha256: str = ""
    signature: bytes = b""
    key: PublicKey | None = None


def _log_entry(text: Any) -> _LogEntry | None:
    """The hashedrekord entry of a cosign bundle annotation; None when absent or not
    readable (a malformed bundle gives no hint, and no pass)."""
    if not isinstance(text, str) or not text or len(text) > MAX_BUNDLE_TEXT:
        return None
    bundle, problem = _json(text, "the bundle")
    body = _field(bundle, "Payload", "body")
    if problem or not isinstance(body, str):
        return None
    try:
        entry, problem = _json(base64.b64decode(body, validate=True), "the log entry")
    except (binascii.Error, ValueError):
        return None
    spec = _field(entry, "spec")
    if problem or not isinstance(spec, dict):
        return None
    digest = _field(spec, "data", "hash", "value")
    algorithm = _field(spec, "data", "hash", "algorithm")
    payload_sha256 = digest if algorithm == "sha256" and isinstance(digest, str) \
        and _HEX64.fullmatch(digest) else ""
    signature = b""
    key: PublicKey | None = None
    with_key = _field(spec, "signature", "publicKey", "content")
    content = _field(spec, "signature", "content")
    try:
        if isinstance(content, str) and len(content) <= MAX_SIGNATURE_TEXT:
            signature = base64.b64decode(content, validate=True)
        if isinstance(with_key, str) and len(with_key) <= MAX_CERTIFICATE_TEXT:
            key = _key_of_pem(base64.b64decode(with_key, validate=True))
    except (binascii.Error, ValueError):
        pass
    return _LogEntry(payload_sha256, signature, key)


def _key_of_pem(pem: bytes) -> PublicKey | None:
    """The key of a PEM public key or certificate (as a log entry or a keyless signature
    carries), or None."""
    try:
        if b"CERTIFICATE-----" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            key = public_key(cert.public_key())
            try:
                names = cert.extensions.get_extension_for_class(
                    x509.SubjectAlternativeName).value
                who = [str(n.value) for n in names][:1]
            except (x509.ExtensionNotFound, ValueError):
                who = []
            if who:
                return PublicKey(key.key, key.kind, f"{key.description} (certificate of "
                                 f"{excerpt(clean(who[0]), 80)})", der=key.der)
            return key
        return public_key(serialization.load_pem_public_key(pem))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def judge(layer: int, payload: bytes, payload_digest: str, annotations: Mapping[str, Any],
          subject: str, key: PublicKey | None) -> CosignSignature:
    """The status of one signature layer: its payload (which must name `subject`), its
    signature annotation, and, with `key`, whether the signature verifies."""
    def out(status: SignatureStatus, reason: str, claimed: str = "",
            reference: str = "") -> CosignSignature:
        return CosignSignature(layer, payload_digest, status, reason, claimed, reference)

    text = annotations.get(SIGNATURE_ANNOTATION)
    if not isinstance(text, str) or not text:
        return out(V.INVALID, f"no signature: the layer lacks the {SIGNATURE_ANNOTATION} "
                   "annotation")
    if len(text) > MAX_SIGNATURE_TEXT:
        return out(V.INVALID, f"the signature annotation is longer than {MAX_SIGNATURE_TEXT} "
                   "characters")
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return out(V.INVALID, "the signature annotation is not base64")
    problem, claimed, reference = check_payload(payload, subject)
    if problem:
        return out(V.INVALID, problem, claimed, reference)
    kind = signature_kind(signature)
    if kind is None:
        return out(V.INVALID, f"the signature ({len(signature)} bytes) is not an ECDSA, RSA "
                   "or Ed25519 signature", claimed, reference)
    entry = _log_entry(annotations.get(BUNDLE_ANNOTATION))
    if entry is not None and entry.payload_sha256 and \
            entry.payload_sha256 != hashlib.sha256(payload).hexdigest():
        return out(V.INVALID, "the payload was changed after signing: its sha256 differs "
                   "from the one its transparency-log entry records", claimed, reference)
    if entry is not None and entry.signature and entry.signature != signature:
        return out(V.INVALID, "the signature was changed: it differs from the one its "
                   "transparency-log entry records", claimed, reference)
    others = [k for k in (entry.key if entry else None,
                          _key_of_pem(str(annotations.get(CERTIFICATE_ANNOTATION, ""))[
                              :MAX_CERTIFICATE_TEXT].encode()))
              if k is not None]
    if key is not None and verifies(key, payload, signature):
        return out(V.VERIFIED, f"verified with {key.description}", claimed, reference)
    signer = next((k for k in others if verifies(k, payload, signature)), None)
    if others and signer is None:
        return out(V.INVALID, "the signature does not verify with the key its own "
                   "transparency-log entry or certificate names: the payload or the "
                   "signature was altered", claimed, reference)
    if key is None:
        by = f" by {signer.description}" if signer else ""
        return out(V.UNVERIFIED, f"signed{by}, not verified (no --key)", claimed, reference)
    if signer is not None:
        return out(V.OTHER_KEY, f"signed by another key: {signer.description}, not "
                   f"{key.description}", claimed, reference)
    if kind != key.kind:
        return out(V.OTHER_KEY, f"signed by another key: an {kind} signature, and --key is "
                   f"{key.description}", claimed, reference)
    return out(V.OTHER_KEY, f"does not verify with {key.description}: signed by another "
               "key, or altered after signing (no transparency-log entry tells which)",
               claimed, reference)


# --- the lookup --------------------------------------------------------------------------


def lookup(source: RegistrySource, key: PublicKey | None,
           environ: Mapping[str, str] | None = None) -> SignatureFacts:
    """The signature of the image `source` has read (after its blobs or `resolve()`):
    the `.sig` tag of the index it came from, else of its manifest. Registry failures
    (unreachable, timeout, refused credentials, a corrupt blob) raise the registry's
    errors; a malformed signature is an `invalid` signature, never an exception."""
    subjects = [d for d in (source.index_digest, source.manifest_digest) if d]
    if not subjects:
        source.resolve()
        subjects = [d for d in (source.index_digest, source.manifest_digest) if d]
    repository = f"{source.reference.registry}/{source.reference.repository}"
    facts = SignatureFacts(repository=clean(repository), subject=subjects[-1], tags=(),
                           key=clean(key.path) if key else "",
                           key_id=key.description if key else "",
                           content_trust=content_trust(environ))
    deadline = Deadline(source.timeout * LOOKUP_REQUESTS)
    tags: list[str] = []
    with source.open_client() as client:
        for subject in subjects:
            tag = signature_tag(subject)
            tags.append(tag)
            body = _signature_manifest(source, client, tag, deadline)
            if body is None:
                continue
            signatures, more = _signatures(source, client, body, tag, subject, key, deadline)
            return replace(facts, subject=subject, tags=tuple(tags), signatures=signatures,
                           not_judged=more)
    return replace(facts, tags=tuple(tags))


def _signature_manifest(source: RegistrySource, client: httpx.Client, tag: str,
                        deadline: Deadline) -> bytes | None:
    """The body of the `.sig` manifest, or None when the registry has no such tag."""
    what = f"signature {source.reference.registry}/{source.reference.repository}:{tag}"
    deadline.check(what)
    return source.manifest_if_any(client, tag, what)


def _signatures(source: RegistrySource, client: httpx.Client, body: bytes, tag: str,
                subject: str, key: PublicKey | None,
                deadline: Deadline) -> tuple[tuple[CosignSignature, ...], int]:
    from dockwarden.collect.image.registry import MANIFEST_SHAPE, RegistryError, _json_document

    def bad(reason: str) -> tuple[tuple[CosignSignature, ...], int]:
        return (CosignSignature(0, "", V.INVALID, reason),), 0

    try:
        doc = _json_document(body, f"the signature manifest {tag}", MANIFEST_SHAPE)
    except RegistryError as exc:
        return bad(exc.message)
    layers = doc.get("layers")
    if "manifests" in doc and layers is None:
        return bad(f"{tag} is an index, not a signature manifest")
    if not isinstance(layers, list) or not layers:
        return bad(f"the signature manifest {tag} holds no signature")
    out = [_layer(source, client, i, desc, subject, key, deadline)
           for i, desc in enumerate(layers[:MAX_SIGNATURES])]
    return tuple(out), max(0, len(layers) - MAX_SIGNATURES)


def _layer(source: RegistrySource, client: httpx.Client, index: int, desc: Any,
           subject: str, key: PublicKey | None, deadline: Deadline) -> CosignSignature:
    def bad(reason: str, digest: str = "") -> CosignSignature:
        return CosignSignature(index, digest, V.INVALID, reason)

    if not isinstance(desc, dict):
        return bad("the layer descriptor is not an object")
    digest, size, media = desc.get("digest"), desc.get("size"), desc.get("mediaType")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        return bad("the layer names no sha256 digest")
    if media != SIMPLE_SIGNING:
        shown = clean(media)[:80] if isinstance(media, str) else "none"
        return bad(f"not a simple-signing payload (media type {shown})", digest)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return bad("the payload's size is missing or malformed", digest)
    if size > MAX_PAYLOAD:
        return bad(f"the payload is {size} bytes, more than the {MAX_PAYLOAD >> 10} KiB "
                   "a signature payload may have", digest)
    annotations = desc.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    what = f"signature payload {digest[:19]}... of {source.reference.repository}"
    deadline.check(what)
    reader = source.open_blob(client, digest, size)
    try:
        payload = reader.read_all(MAX_PAYLOAD)  # its size and sha256 checked
    finally:
        reader.close()
    return judge(index, payload, digest, annotations, subject, key)
