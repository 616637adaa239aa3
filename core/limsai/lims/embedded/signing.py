"""E-signing in the embedded LIMS with a second component (21 CFR 11.200): the signer's password.

Passwords are stored as salted scrypt hashes. A wrong password counts against the user; after
``MAX_FAILED_ATTEMPTS`` consecutive failures the user is locked out of signing until an administrator
resets the password, and the lockout is written to the LIMS audit trail (11.300(d): unauthorised
attempts are recorded and alerted). A correct password records the signature through
``record_signature``, which binds it to the version's sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from limsai.lims.errors import LimsRejected
from limsai.lims.port import StudyScope
from limsai.model import AuditEvent, Document, Signature, SignatureMeaning, SignatureRequest, utcnow

if TYPE_CHECKING:
    from limsai.lims.embedded.store import EmbeddedLims

MAX_FAILED_ATTEMPTS = 3
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)


class SigningLockedOut(LimsRejected):
    """Too many wrong passwords: the user may not sign until an administrator resets the password."""


def set_password(lims: EmbeddedLims, user_id: str, password: str, *, actor: str) -> None:
    """Set (or reset, unlocking) a user's signing password; an administrator's act, audited."""
    if len(password) < 8:
        raise LimsRejected("a signing password needs at least 8 characters")
    lims.get_user(user_id)
    salt = secrets.token_bytes(16)
    with lims.db.write() as conn:
        conn.execute(
            "INSERT INTO credentials (user_id, salt, hash) VALUES (?, ?, ?) ON CONFLICT(user_id) DO UPDATE "
            "SET salt = excluded.salt, hash = excluded.hash, failed_attempts = 0, locked = 0",
            (user_id, salt, _hash(password, salt)),
        )
        lims._audit(
            conn,
            AuditEvent(
                at=utcnow(), user_id=actor, action="password_set", record_type="user", record_id=user_id
            ),
        )


def find_document(lims: EmbeddedLims, document_id: str, version: int | None = None) -> Document:
    """A document version by id alone (the signing screen knows the document, not its scope)."""
    rows = lims.db.query(
        "SELECT data FROM documents WHERE document_id = ? AND (? IS NULL OR version = ?) "
        "ORDER BY version DESC LIMIT 1",
        (document_id, version, version),
    )
    if not rows:
        raise LimsRejected(f"no document {document_id}" + (f" v{version}" if version else ""))
    return Document.model_validate_json(rows[0][0])


def sign_with_password(
    lims: EmbeddedLims, document: Document, *, signer: str, password: str, meaning: SignatureMeaning
) -> Signature:
    """Check the signer's password, then record the e-signature bound to the document's sha256."""
    rows = lims.db.query(
        "SELECT salt, hash, failed_attempts, locked FROM credentials WHERE user_id = ?", (signer,)
    )
    if not rows:
        raise LimsRejected(f"{signer} has no signing password; an administrator must set one")
    salt, stored, failed, locked = rows[0]
    if locked:
        raise SigningLockedOut(f"{signer} is locked out of signing after {failed} failed attempts")
    scope = StudyScope(sponsor_id=document.sponsor_id, study_id=document.study_id)
    if not hmac.compare_digest(_hash(password, bytes(salt)), bytes(stored)):
        failed += 1
        lock = failed >= MAX_FAILED_ATTEMPTS
        with lims.db.write() as conn:
            conn.execute(
                "UPDATE credentials SET failed_attempts = ?, locked = ? WHERE user_id = ?",
                (failed, int(lock), signer),
            )
            lims._audit(
                conn,
                AuditEvent(
                    at=utcnow(),
                    user_id=signer,
                    action="signing_lockout" if lock else "signing_failed",
                    record_type="document",
                    record_id=f"{document.document_id}/v{document.version}",
                    sponsor_id=scope.sponsor_id,
                    study_id=scope.study_id,
                    reason=f"wrong password ({failed})",
                ),
            )
        if lock:
            raise SigningLockedOut(f"wrong password; {signer} is now locked out of signing")
        raise LimsRejected(f"wrong password for {signer} ({MAX_FAILED_ATTEMPTS - failed} attempt(s) left)")
    with lims.db.write() as conn:
        conn.execute("UPDATE credentials SET failed_attempts = 0 WHERE user_id = ?", (signer,))
    user = lims.get_user(signer)
    request = SignatureRequest(
        document_id=document.document_id,
        version=document.version,
        signer=signer,
        printed_name=user.display_name,
        meaning=meaning,
        content_sha256=document.sha256,
    )
    return lims.record_signature(scope, request)
