"""The release check: an AI draft package counts as released only through a human approval
e-signature bound to its manifest hash (ES-1, ES-3, ES-4; 21 CFR 11.50, 11.70, 11.10(g)).

:func:`verify_release` looks at every signature captured on the manifest document and accepts one
only if its meaning is approval, its signer is a known, active human holding a reviewer role and
entitled to the sponsor, its printed name is the signer's name and it binds exactly this manifest's
sha256. A signature copied from another record, or a manifest changed by one byte, does not match.
:func:`verify_package` adds the other half of the binding: the stored manifest must hash to what
was signed and every stored file must match the size and sha256 the manifest lists. A sponsor may
require more sign-offs (e.g. QA review as well as the study director's approval): each must be a
valid signature of the same manifest by a holder of that role with that meaning. Each signature
that does not count is explained, so a reviewer or inspector can see why nothing was released.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC

from pydantic import ValidationError

from limsai.governance.context import is_human_id
from limsai.governance.drafts import DraftManifest
from limsai.model import LimsModel, Principal, Role, Signature, SignatureMeaning

DEFAULT_REVIEWER_ROLES: frozenset[Role] = frozenset({Role.STUDY_DIRECTOR})

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERBS = {
    SignatureMeaning.APPROVAL: "Approved",
    SignatureMeaning.REVIEW: "Reviewed",
    SignatureMeaning.AUTHORSHIP: "Authored",
    SignatureMeaning.RESPONSIBILITY: "Signed as responsible",
}


class ReleaseDecision(LimsModel):
    """Whether the package is released, by which signature, shown how, and why others did not count."""

    released: bool
    signature: Signature | None = None
    manifestation: str | None = None
    reasons: list[str]


def manifestation(signature: Signature) -> str:
    """The 21 CFR 11.50 line: printed name, user id, UTC date and time, and meaning, e.g.
    ``Approved by Dr. Hugo Greco (hgreco) on 2026-07-01 14:03:22 UTC — meaning: approval``."""
    when = signature.signed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f"{signature.printed_name} ({signature.signer})"
    return f"{_VERBS[signature.meaning]} by {who} on {when} — meaning: {signature.meaning.value}"


def _binding_problems(
    signature: Signature,
    manifest_hash: str,
    signers: Mapping[str, Principal],
    document_id: str | None,
    reviewer_roles: frozenset[Role] | None = None,
) -> tuple[list[str], Principal | None]:
    """Every reason ``signature`` is not a valid e-signature of this manifest by a known, active,
    entitled human (holding one of ``reviewer_roles``, when given) under his own printed name, and
    the signer. The meaning is not judged here."""
    problems: list[str] = []
    if signature.content_sha256 != manifest_hash:
        problems.append(
            f"it binds content sha256 {signature.content_sha256}, not this manifest ({manifest_hash}): "
            "it was made on other content"
        )
    if document_id is not None and signature.document_id != document_id:
        problems.append(f"it was made on document {signature.document_id}, not {document_id}")
    principal = signers.get(signature.signer)
    if not is_human_id(signature.signer) or (principal is not None and not principal.is_human):
        problems.append(f"signer {signature.signer} is an AI or system principal; only a human may sign")
    if principal is None:
        problems.append(f"signer {signature.signer} is not a known LIMS user")
        return problems, None
    if principal.user_id != signature.signer:
        problems.append(f"signer {signature.signer} maps to the user record of {principal.user_id}")
    if not principal.active:
        problems.append(f"signer {signature.signer} is inactive")
    elif not principal.may_see(signature.sponsor_id):
        problems.append(f"signer {signature.signer} is not authorised for sponsor {signature.sponsor_id}")
    if reviewer_roles is not None and not any(principal.has_role(role) for role in reviewer_roles):
        wanted = ", ".join(sorted(role.value for role in reviewer_roles)) or "(none configured)"
        problems.append(f"signer {signature.signer} holds no reviewer role ({wanted})")
    if signature.printed_name != principal.display_name:
        problems.append(
            f"printed name {signature.printed_name!r} is not the signer's name {principal.display_name!r}"
        )
    return problems, principal


def signature_problems(
    signature: Signature,
    manifest_hash: str,
    signers: Mapping[str, Principal],
    reviewer_roles: frozenset[Role],
    document_id: str | None = None,
) -> list[str]:
    """Every reason ``signature`` cannot release the manifest with ``manifest_hash`` (empty if it can)."""
    problems: list[str] = []
    if signature.meaning is not SignatureMeaning.APPROVAL:
        problems.append(f"its meaning is {signature.meaning.value}, not approval")
    problems.extend(_binding_problems(signature, manifest_hash, signers, document_id, reviewer_roles)[0])
    return problems


def missing_signoffs(
    manifest_hash: str,
    signatures: Sequence[Signature],
    signers: Mapping[str, Principal],
    required: Mapping[Role, SignatureMeaning],
    document_id: str | None = None,
) -> list[str]:
    """One line per sign-off the sponsor requires (role -> meaning) that no valid signature of this
    manifest gives: the signature must bind the manifest, be by a human holding that role, and carry
    that meaning."""
    missing: list[str] = []
    for role, meaning in sorted(required.items()):
        given = False
        for signature in signatures:
            if signature.meaning is not meaning:
                continue
            problems, principal = _binding_problems(signature, manifest_hash, signers, document_id)
            if not problems and principal is not None and principal.has_role(role):
                given = True
                break
        if not given:
            article = "an" if meaning.value[0] in "aeiou" else "a"
            missing.append(
                f"the sponsor requires {article} {meaning.value} e-signature by a {role.value}; "
                "none binds this manifest"
            )
    return missing


def verify_release(
    manifest_hash: str,
    signatures: Sequence[Signature],
    signers: Mapping[str, Principal],
    *,
    reviewer_roles: frozenset[Role] = DEFAULT_REVIEWER_ROLES,
    document_id: str | None = None,
    required: Mapping[Role, SignatureMeaning] | None = None,
) -> ReleaseDecision:
    """Released when at least one signature passes every check and every sign-off in ``required``
    (role -> meaning, e.g. the sponsor profile's reviewers) is given; the earliest approval that
    passes is the one that releases. ``signers`` maps user id to the LIMS user; ``document_id``,
    when given, also requires the signatures to sit on that manifest document."""
    if not _SHA256.match(manifest_hash):
        raise ValueError(f"manifest_hash {manifest_hash!r} is not 64 lowercase hex digits")
    reasons: list[str] = []
    valid: list[Signature] = []
    for signature in signatures:
        problems = signature_problems(signature, manifest_hash, signers, reviewer_roles, document_id)
        if problems:
            reasons.append(f"signature {signature.signature_id} does not count: " + "; ".join(problems))
        else:
            valid.append(signature)
    missing = (
        missing_signoffs(manifest_hash, signatures, signers, required or {}, document_id)
        if signatures
        else []
    )
    if not valid or missing:
        if not signatures:
            reasons.append("no signature has been captured on the manifest")
        reasons.extend(missing)
        reasons.append(
            "not released: no approval e-signature by an authorised human reviewer binds this manifest"
            if not valid
            else "not released: a sign-off the sponsor requires is missing"
        )
        return ReleaseDecision(released=False, reasons=reasons)
    chosen = min(valid, key=lambda s: s.signed_at)
    return ReleaseDecision(
        released=True, signature=chosen, manifestation=manifestation(chosen), reasons=reasons
    )


def content_problems(manifest_bytes: bytes, files: Mapping[str, bytes]) -> list[str]:
    """Every way the stored manifest and files differ from a well-formed draft package: the
    manifest must parse and be canonical, and ``files`` (name -> bytes) must hold exactly the
    listed files with their listed sizes and sha256."""
    try:
        manifest = DraftManifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        return [f"the manifest is not a valid draft manifest ({exc.error_count()} problem(s))"]
    problems: list[str] = []
    if manifest.canonical_bytes() != manifest_bytes:
        problems.append("the manifest is not in canonical (RFC 8785) form")
    listed = {entry.name: entry for entry in manifest.files}
    for name, entry in listed.items():
        content = files.get(name)
        if content is None:
            problems.append(f"file {name} listed in the manifest is missing")
        elif len(content) != entry.size or hashlib.sha256(content).hexdigest() != entry.sha256:
            problems.append(f"file {name} differs from the manifest (size or sha256)")
    problems.extend(f"file {name} is not listed in the manifest" for name in sorted(set(files) - set(listed)))
    return problems


def verify_package(
    manifest_bytes: bytes,
    files: Mapping[str, bytes],
    signatures: Sequence[Signature],
    signers: Mapping[str, Principal],
    *,
    reviewer_roles: frozenset[Role] = DEFAULT_REVIEWER_ROLES,
    document_id: str | None = None,
    required: Mapping[Role, SignatureMeaning] | None = None,
) -> ReleaseDecision:
    """:func:`verify_release` on the stored manifest's own hash, refused as well when the stored
    manifest or files do not match what the manifest lists."""
    manifest_hash = hashlib.sha256(manifest_bytes).hexdigest()
    decision = verify_release(
        manifest_hash,
        signatures,
        signers,
        reviewer_roles=reviewer_roles,
        document_id=document_id,
        required=required,
    )
    problems = content_problems(manifest_bytes, files)
    if not problems:
        return decision
    reasons = [*decision.reasons, *problems, "not released: the stored package does not match its manifest"]
    return ReleaseDecision(released=False, reasons=reasons)
