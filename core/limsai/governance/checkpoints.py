"""Signed checkpoints of the audit log and the Ed25519 key that signs them, kept outside the database.

A checkpoint commits to ``(tree size, root hash, time)``. Its signed text is a C2SP tlog-checkpoint
note body (c2sp.org/tlog-checkpoint) with one extension line for the time::

    limsai-audit/<log id>
    <tree size, decimal>
    <root hash, standard base64>
    time <UTC ISO 8601 with microseconds and Z>

and its signature a C2SP signed-note Ed25519 signature (c2sp.org/signed-note): base64 of the 4-byte
key ID ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` followed by the 64-byte signature of the
body. The key name is the origin; the log id is the first 16 hex digits of SHA-256 of the raw public
key, so the origin names the key that signs for the log.

The private key lives at ``DIR/keys/audit-signing.key`` (PEM PKCS#8, mode 0600) and the public key
at ``DIR/keys/audit-signing.pub`` (PEM SubjectPublicKeyInfo). The latest checkpoint is also written
to ``DIR/audit-checkpoint.json``, so that removing entries together with the checkpoints table is
still caught. Copy the public key and checkpoints to a witness outside the work directory (QA,
sponsor, WORM storage): whoever can write the key files can also sign a rewritten history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from limsai.governance.identity import SHA256_HEX
from limsai.model import LimsModel

KEY_DIR = "keys"
PRIVATE_KEY_FILE = "audit-signing.key"
PUBLIC_KEY_FILE = "audit-signing.pub"
CHECKPOINT_FILE = "audit-checkpoint.json"
ORIGIN_PREFIX = "limsai-audit/"
_ED25519 = b"\x01"
_TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"


class Checkpoint(LimsModel):
    """A signed statement that the log had ``tree_size`` entries with Merkle root ``root_hash``."""

    origin: str = Field(pattern=r"^limsai-audit/[0-9a-f]{16}$")
    tree_size: int = Field(ge=0)
    root_hash: str = Field(pattern=SHA256_HEX)
    time: str = Field(pattern=_TIME_RE)
    signature: str = Field(description="base64 of the 4-byte key ID and the Ed25519 signature of the body")

    @property
    def body(self) -> str:
        """The signed text (a C2SP tlog-checkpoint note body, ending in a newline)."""
        root = base64.b64encode(bytes.fromhex(self.root_hash)).decode("ascii")
        return f"{self.origin}\n{self.tree_size}\n{root}\ntime {self.time}\n"

    @property
    def note(self) -> str:
        """The C2SP signed note: body, blank line, signature line."""
        return f"{self.body}\n\u2014 {self.origin} {self.signature}\n"


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def log_origin(public_key: Ed25519PublicKey) -> str:
    """``limsai-audit/<first 16 hex digits of SHA-256 of the raw public key>``."""
    return ORIGIN_PREFIX + hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw 32-byte public key: what a witness compares out of band."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def key_id(origin: str, public_key: Ed25519PublicKey) -> bytes:
    """The C2SP signed-note key ID for an Ed25519 key named ``origin``."""
    return hashlib.sha256(origin.encode() + b"\n" + _ED25519 + raw_public_key(public_key)).digest()[:4]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key_pem(pem: str) -> Ed25519PublicKey:
    """Parse a PEM public key; raises ValueError unless it is an Ed25519 key."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the audit signing key must be an Ed25519 public key")
    return key


def sign_checkpoint(private_key: Ed25519PrivateKey, tree_size: int, root_hash: str, time: str) -> Checkpoint:
    public_key = private_key.public_key()
    origin = log_origin(public_key)
    unsigned = Checkpoint(origin=origin, tree_size=tree_size, root_hash=root_hash, time=time, signature="")
    raw = private_key.sign(unsigned.body.encode("utf-8"))
    signature = base64.b64encode(key_id(origin, public_key) + raw).decode("ascii")
    return unsigned.model_copy(update={"signature": signature})


def checkpoint_problem(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> str | None:
    """Why ``checkpoint`` does not verify with ``public_key``, or None when it does."""
    if checkpoint.origin != log_origin(public_key):
        return f"names origin {checkpoint.origin}, not the log's {log_origin(public_key)}"
    try:
        blob = base64.b64decode(checkpoint.signature, validate=True)
    except binascii.Error:
        return "has a signature that is not base64"
    if len(blob) != 68 or blob[:4] != key_id(checkpoint.origin, public_key):
        return "is not signed by the log's key"
    try:
        public_key.verify(blob[4:], checkpoint.body.encode("utf-8"))
    except InvalidSignature:
        return "has a signature that does not verify"
    return None


def checkpoint_from_json(data: Any) -> Checkpoint:
    """A checkpoint from its JSON form (extra keys such as ``note`` are checked, then dropped)."""
    if not isinstance(data, dict):
        raise ValueError("a checkpoint is a JSON object")
    fields = {k: v for k, v in data.items() if k != "note"}
    checkpoint = Checkpoint.model_validate(fields)
    if "note" in data and data["note"] != checkpoint.note:
        raise ValueError("its note text differs from its fields")
    return checkpoint


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {**checkpoint.model_dump(), "note": checkpoint.note}


class KeyStore:
    """The signing key pair of one audit log, in files beside (never inside) the database."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self.private_path = key_dir / PRIVATE_KEY_FILE
        self.public_path = key_dir / PUBLIC_KEY_FILE

    def private_key(self) -> Ed25519PrivateKey:
        """Load the signing key, generating it (mode 0600) and exporting its public key on first use.
        Several processes may race here: the key file is linked into place atomically, one wins."""
        if not self.private_path.exists():
            self._create()
        key = self.load_private_key()
        pem = public_key_pem(key.public_key())
        if not self.public_path.exists() or self.public_path.read_text("ascii") != pem:
            _write_atomic(self.public_path, pem.encode("ascii"), 0o644)
        return key

    def load_private_key(self) -> Ed25519PrivateKey:
        """Read the existing signing key, without creating or exporting anything."""
        key = serialization.load_pem_private_key(self.private_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.private_path} does not hold an Ed25519 private key")
        return key

    def public_key(self) -> Ed25519PublicKey | None:
        """The exported public key, or None when no key has been created yet."""
        if not self.public_path.exists():
            return None
        return load_public_key_pem(self.public_path.read_text("ascii"))

    def _create(self) -> None:
        self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = self.key_dir / f".{PRIVATE_KEY_FILE}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.private_path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_checkpoint_file(path: Path, checkpoint: Checkpoint) -> None:
    data = json.dumps(checkpoint_to_json(checkpoint), indent=2, ensure_ascii=False) + "\n"
    _write_atomic(path, data.encode("utf-8"), 0o644)


def read_checkpoint_file(path: Path) -> tuple[Checkpoint | None, str | None]:
    """The checkpoint in ``path``: ``(checkpoint, None)``, ``(None, None)`` when there is no file,
    or ``(None, reason)`` when the file cannot be read as a checkpoint."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None, None
    try:
        return checkpoint_from_json(json.loads(text)), None
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
        return None, f"{path.name} does not hold a readable checkpoint ({reason})"
