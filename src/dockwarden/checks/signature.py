"""DW311: the cosign signature of an image in a registry, judged from what
collect/image/signature.py read and verified (the snapshot's `signature`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockwarden.checks.registry import Fail, Scope, check, require
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.image import ImageSnapshot, SignatureFacts, SignatureStatus

V = SignatureStatus


def verdict(facts: SignatureFacts) -> str:
    """The image's verdict: unsigned, verified (any signature verifies with --key),
    invalid (none verifies and one is malformed, tampered or for another image),
    other-key, or unverified (signed, no --key)."""
    statuses = {s.status for s in facts.signatures}
    if not statuses:
        return "unsigned"
    for status in (V.VERIFIED, V.INVALID, V.OTHER_KEY):
        if status in statuses:
            return status.value
    return V.UNVERIFIED.value


def _evidence(facts: SignatureFacts, result: str) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "signature": result,
        "repository": facts.repository,
        "signature_tag": facts.tags[-1] if facts.tags else "",
        "key": f"{facts.key} ({facts.key_id})" if facts.key else "none (no --key)",
        "content_trust": ("DOCKER_CONTENT_TRUST enabled for this client environment"
                          if facts.content_trust else
                          "DOCKER_CONTENT_TRUST not set: the docker client does not "
                          "require signed images"),
    }
    if facts.signatures:
        evidence["signatures"] = [
            {"layer": s.layer, "status": s.status.value, "reason": s.reason,
             **({"payload": s.payload_digest} if s.payload_digest else {}),
             **({"signed_digest": s.claimed_digest} if s.claimed_digest else {})}
            for s in facts.signatures]
    if facts.not_judged:
        evidence["not_read"] = f"{facts.not_judged} more signatures (only the first " \
            f"{len(facts.signatures)} are read)"
    return evidence


@check(
    id="DW311", title="Image not signed, or signature invalid", severity=Severity.MEDIUM,
    scope=Scope.IMAGE, target_kind=TargetKind.IMAGE,
    rationale="Without a verified signature nothing shows that the image in the registry is "
    "the one its publisher built: whoever can push to the repository (or sits between it "
    "and the Engine) can replace it. A signature that does not verify, or signs another "
    "image, is a sign of tampering.",
    remediation="Sign the image by digest with cosign (cosign sign --key cosign.key "
    "IMAGE@DIGEST), verify it before deploying (cosign verify, or an admission policy), and "
    "audit it with --key cosign.pub.",
    bad=("no sha256-<digest>.sig tag in the repository",
         "a payload that names another image's digest"),
    good=("dockwarden image REG/REPO:TAG --remote --key cosign.pub: signed and verified",),
)
def signature(snap: ImageSnapshot, ctx: Any) -> Iterator[Fail]:
    facts = require(snap.signature)
    result = verdict(facts)
    if result == V.VERIFIED:
        return
    evidence = _evidence(facts, result)
    first = next((s.reason for s in facts.signatures if s.status.value == result), "")
    if result == "unsigned":
        tags = " or ".join(t if len(t) <= 26 else f"{t[:19]}...sig" for t in facts.tags)
        yield Fail(evidence, message=f"unsigned: no cosign signature ({tags}) in "
                   f"{facts.repository}")
    elif result == V.INVALID:
        yield Fail(evidence, Severity.HIGH, f"signed but invalid: {first}")
    elif result == V.OTHER_KEY:
        yield Fail(evidence, message=first)
    else:
        yield Fail(evidence, Severity.INFO, "signed, not verified (no --key)")
