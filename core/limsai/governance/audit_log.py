"""The tamper-evident audit log (21 CFR 11.10(e), Annex 11 §9): append-only SQLite, hash-chained
entries that are also the leaves of an RFC 9162 Merkle tree, and Ed25519-signed checkpoints.

``DIR/audit.db`` (WAL, safe for several processes) holds ``audit_entries``, one row per entry: the
canonical RFC 8785 text of the entry (see :mod:`limsai.governance.audit_entry`), its ``entry_hash``
(SHA-256 of the text, so an in-place edit is pinned to its own seq), its RFC 9162 ``leaf_hash``, and
indexed helper columns ``record``, ``sponsor_id`` and ``run_id`` for lookups. Triggers reject
UPDATE and DELETE and any INSERT that is not the next seq. Only the governance layer writes here:
the log chooses ``seq``, ``at`` (server UTC time) and ``prev_hash`` inside the write transaction.

Signed checkpoints go to the ``checkpoints`` table (append-only too) and the latest one also to
``DIR/audit-checkpoint.json``; the signing key stays outside the database (see
:mod:`limsai.governance.checkpoints`). :meth:`AuditLog.verify` explains what it can detect.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from limsai.governance import merkle
from limsai.governance.audit_db import (
    AUDIT_DB,
    BUSY_TIMEOUT_S,
    INSERT_CHECKPOINT,
    INSERT_ENTRY,
    ROWS,
    AuditDatabase,
    AuditIntegrityError,
    AuditLogError,
    log_size,
    stored_checkpoints,
)
from limsai.governance.audit_db import leaf_hashes as stored_leaf_hashes
from limsai.governance.audit_entry import (
    GENESIS_HASH,
    LOG_FIELDS,
    AuditEntry,
    encode_entry,
    entry_from_text,
    entry_hash,
    entry_leaf_hash,
    format_utc,
)
from limsai.governance.audit_export import build_export, check_export, render_export_html
from limsai.governance.audit_record import AuditRecord
from limsai.governance.audit_verify import EntryScanner, StoredCheckpoint, VerifyReport, judge
from limsai.governance.checkpoints import (
    CHECKPOINT_FILE,
    KEY_DIR,
    Checkpoint,
    KeyStore,
    checkpoint_problem,
    load_public_key_pem,
    raw_public_key,
    read_checkpoint_file,
    sign_checkpoint,
    write_checkpoint_file,
)
from limsai.governance.checkpoints import public_key_pem as pem_of
from limsai.model import utcnow

__all__ = [
    "AuditEntry",
    "AuditIntegrityError",
    "AuditLog",
    "AuditLogError",
    "Checkpoint",
    "VerifyReport",
    "check_export",
    "render_export_html",
]


def _check_finite(value: Any) -> None:
    """Reject NaN and infinities, which pydantic's JSON mode would otherwise write as null."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no JSON form: record it as text")
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_finite(item)


def _parsed_record(record: AuditRecord, fields: dict[str, Any], parsed: dict[str, Any]) -> AuditRecord:
    """The record as read back from its entry text: ``record`` itself when its JSON form survived the
    round trip unchanged (the usual case), otherwise the record validated from the parsed text."""
    stored = {k: v for k, v in parsed.items() if k not in LOG_FIELDS}
    return record if stored == fields else AuditRecord.model_validate(stored)


class AuditLog:
    """The audit log of one work directory; an :class:`~limsai.governance.audit_record.AuditSink`.

    Each thread gets its own SQLite connection; several processes may append at once (each append
    is one ``BEGIN IMMEDIATE`` transaction that reads the previous hash under the write lock).
    """

    def __init__(self, workdir: Path, *, key_dir: Path | None = None, busy_timeout: float = BUSY_TIMEOUT_S):
        self.workdir = workdir
        self.path = workdir / AUDIT_DB
        self.checkpoint_path = workdir / CHECKPOINT_FILE
        self.keys = KeyStore(key_dir if key_dir is not None else workdir / KEY_DIR)
        self.db = AuditDatabase(self.path, busy_timeout)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- appending -----------------------------------------------------------------------------

    def append(self, record: AuditRecord) -> AuditEntry:
        """Append one entry in its own transaction."""
        return self.append_many([record])[0]

    def append_many(self, records: Iterable[AuditRecord]) -> list[AuditEntry]:
        """Append entries in one transaction (all or none), at one server time."""
        dumped = []
        for record in records:
            if not isinstance(record, AuditRecord):
                raise TypeError(f"the audit log records AuditRecord values, not {type(record).__name__}")
            for value in (record.old_value, record.new_value, record.details):
                _check_finite(value)
            dumped.append((record, record.model_dump(mode="json")))
        if not dumped:
            return []
        entries: list[AuditEntry] = []
        with self.db.write() as conn:
            last = conn.execute(
                "SELECT seq, entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
            at_time = utcnow()
            at = format_utc(at_time)
            rows = []
            for record, fields in dumped:
                seq += 1
                text, parsed = encode_entry(fields, seq=seq, at=at, prev_hash=prev)
                digest, leaf = entry_hash(text), entry_leaf_hash(text)
                rows.append((seq, text, digest, leaf, record.record, record.sponsor_id, record.run_id))
                entries.append(
                    AuditEntry.model_construct(
                        seq=seq,
                        at=at_time,
                        entry=text,
                        entry_hash=digest,
                        leaf_hash=leaf,
                        prev_hash=prev,
                        record=_parsed_record(record, fields, parsed),
                    )
                )
                prev = digest
            conn.executemany(INSERT_ENTRY, rows)
        return entries

    # -- reading -------------------------------------------------------------------------------

    def size(self) -> int:
        with self.db.read() as conn:
            return log_size(conn)

    def entry(self, seq: int) -> AuditEntry:
        with self.db.read() as conn:
            row = conn.execute("SELECT entry FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise KeyError(f"no audit entry with seq {seq}")
        return entry_from_text(row[0])

    def entries(
        self,
        record: str | None = None,
        *,
        sponsor_id: str | None = None,
        run_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in seq order, filtered by the helper columns. ``record`` matches that reference
        and everything below it (``document/DOC-1`` also matches ``document/DOC-1/v2``)."""
        where: list[str] = ["seq > ?"]
        params: list[object] = [after_seq]
        if record is not None:
            where.append("(record = ? OR (record >= ? AND record < ?))")
            params.extend([record, record + "/", record + "0"])
        if sponsor_id is not None:
            where.append("sponsor_id = ?")
            params.append(sponsor_id)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        sql = f"SELECT entry FROM audit_entries WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.db.read() as conn:
            texts = [row[0] for row in conn.execute(sql, params)]
        return [entry_from_text(text) for text in texts]

    # -- Merkle tree ---------------------------------------------------------------------------

    def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        """The stored leaf hashes of entries ``1..size`` (all when None)."""
        with self.db.read() as conn:
            return stored_leaf_hashes(conn, size)

    def root(self, size: int | None = None) -> str:
        """Hex Merkle root of the first ``size`` entries (all when None)."""
        return merkle.root(self.leaf_hashes(size)).hex()

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[str]:
        """Hex RFC 9162 inclusion proof of entry ``seq`` (leaf index ``seq - 1``) in the tree of
        ``tree_size`` entries (the whole log when None)."""
        leaves = self.leaf_hashes(tree_size)
        return [h.hex() for h in merkle.TreeLevels(leaves).inclusion_proof(seq - 1)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[str]:
        """Hex RFC 9162 consistency proof from the tree of ``old_size`` entries to ``new_size``."""
        leaves = self.leaf_hashes(new_size)
        return [h.hex() for h in merkle.TreeLevels(leaves).consistency_proof(old_size)]

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """Sign ``(tree size, root, time)`` for the whole log, store it and publish it to
        ``audit-checkpoint.json``. Refuses (:class:`AuditIntegrityError`) to sign a log whose entries
        since the last valid checkpoint fail their checks or whose root no longer matches it."""
        key = self.keys.private_key()
        file_checkpoint, _ = read_checkpoint_file(self.checkpoint_path)
        with self.db.write() as conn:
            leaves = stored_leaf_hashes(conn, None)
            anchor = self._anchor(conn, key.public_key(), file_checkpoint)
            roots = merkle.roots_at(leaves, {anchor.tree_size if anchor else 0, len(leaves)})
            if anchor is not None and roots.get(anchor.tree_size, b"").hex() != anchor.root_hash:
                raise AuditIntegrityError(
                    f"refusing to sign: the first {anchor.tree_size} entries no longer match the checkpoint "
                    f"signed at {anchor.time}"
                )
            self._check_since(conn, anchor.tree_size if anchor else 0)
            checkpoint = sign_checkpoint(key, len(leaves), roots[len(leaves)].hex(), format_utc(utcnow()))
            conn.execute(
                INSERT_CHECKPOINT,
                (
                    checkpoint.origin,
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.time,
                    checkpoint.signature,
                ),
            )
        self._publish_latest()
        return checkpoint

    def _anchor(
        self, conn: sqlite3.Connection, public_key: Ed25519PublicKey, file_checkpoint: Checkpoint | None
    ) -> Checkpoint | None:
        """The checkpoint the new one must extend: the larger of the table's latest and the file's.
        Both must verify, so that a forged checkpoint cannot launder a rewritten history."""
        table = stored_checkpoints(conn, [])
        candidates = [cp for _, cp in table[-1:]] + ([file_checkpoint] if file_checkpoint else [])
        for cp in candidates:
            why = checkpoint_problem(cp, public_key)
            if why is not None:
                raise AuditIntegrityError(
                    f"refusing to sign: the checkpoint of tree size {cp.tree_size} {why}"
                )
        anchor = max(candidates, key=lambda cp: cp.tree_size, default=None)
        size = log_size(conn)
        if anchor is not None and anchor.tree_size > size:
            raise AuditIntegrityError(
                f"refusing to sign: the log holds {size} entries but a signed checkpoint "
                f"covers {anchor.tree_size}"
            )
        return anchor

    def _check_since(self, conn: sqlite3.Connection, anchor_size: int) -> None:
        """Row checks of the entries after ``anchor_size`` (starting at the anchor's last entry)."""
        scanner = EntryScanner(first_seq=max(anchor_size, 1), prev_hash=None if anchor_size else GENESIS_HASH)
        for row in conn.execute(ROWS + " WHERE seq >= ? ORDER BY seq", (max(anchor_size, 1),)):
            scanner.feed(row)
        finding = scanner.finish().finding
        if finding is not None:
            raise AuditIntegrityError(f"refusing to sign: {finding.problem}")

    def _publish_latest(self) -> None:
        """Write the table's latest checkpoint to the file, under the write lock so that concurrent
        signers leave the newest one there."""
        with self.db.write() as conn:
            table = stored_checkpoints(conn, [])
            if table:
                write_checkpoint_file(self.checkpoint_path, table[-1][1])

    def checkpoints(self) -> list[Checkpoint]:
        """The stored checkpoints, oldest first."""
        with self.db.read() as conn:
            return [cp for _, cp in stored_checkpoints(conn, [])]

    def latest_checkpoint(self) -> Checkpoint | None:
        stored = self.checkpoints()
        return stored[-1] if stored else None

    def public_key_pem(self) -> str:
        """The PEM public key that verifies this log's checkpoints (creating the key pair if needed)."""
        return pem_of(self.keys.private_key().public_key())

    # -- verification and export ---------------------------------------------------------------

    def verify(self, *, public_key_pem: str | None = None) -> VerifyReport:
        """Check every entry and every checkpoint in one pass; see :mod:`limsai.governance.audit_verify`
        for what is named exactly and what only bounded. ``public_key_pem`` pins the key to check
        signatures with (otherwise ``keys/audit-signing.pub``)."""
        notes: list[str] = []
        file_checkpoint, file_problem = read_checkpoint_file(self.checkpoint_path)
        if file_problem:
            notes.append(file_problem)
        public_key = self._verification_key(public_key_pem, notes)
        with self.db.read() as conn:
            table = stored_checkpoints(conn, notes)
            sizes = {cp.tree_size for _, cp in table} | (
                {file_checkpoint.tree_size} if file_checkpoint else set()
            )
            scanner = EntryScanner(root_sizes=sizes, keep_leaves=max(sizes, default=0))
            for row in conn.execute(ROWS + " ORDER BY seq"):
                scanner.feed(row)
        scan = scanner.finish()
        stored = [StoredCheckpoint(f"checkpoint #{cid}", cp) for cid, cp in table]
        in_table = {cp for _, cp in table}
        if file_checkpoint is not None and file_checkpoint not in in_table:
            stored.append(StoredCheckpoint(f"the checkpoint in {CHECKPOINT_FILE}", file_checkpoint))
            if public_key is not None and checkpoint_problem(file_checkpoint, public_key) is None:
                notes.append(
                    f"{CHECKPOINT_FILE} holds a signed checkpoint (tree size {file_checkpoint.tree_size}) "
                    "that the checkpoints table lacks: checkpoint rows were removed"
                )
        if table and file_checkpoint is None and file_problem is None:
            late, _ = read_checkpoint_file(self.checkpoint_path)
            if late is None or late not in in_table:
                notes.append(f"{CHECKPOINT_FILE} is missing although the log has signed checkpoints")
        if stored and public_key is None:
            notes.append("there is no public key to check the signed checkpoints with")
        return judge(scan, stored, public_key, notes)

    def _verification_key(self, pinned_pem: str | None, notes: list[str]) -> Ed25519PublicKey | None:
        try:
            exported = self.keys.public_key()
        except ValueError:
            notes.append(f"{self.keys.public_path.name} does not hold an Ed25519 public key")
            exported = None
        if pinned_pem is not None:
            pinned = load_public_key_pem(pinned_pem)
            if exported is not None and raw_public_key(exported) != raw_public_key(pinned):
                notes.append(f"{self.keys.public_path.name} is not the pinned public key")
            return pinned
        if exported is not None and self.keys.private_path.exists():
            try:
                signing = self.keys.load_private_key().public_key()
            except (OSError, ValueError):
                return exported
            if raw_public_key(signing) != raw_public_key(exported):
                notes.append(f"{self.keys.public_path.name} is not the public half of the signing key")
        return exported

    def export_record(self, ref: str) -> dict[str, Any]:
        """Everything an inspector needs to check the entries of record ``ref`` (and below it)
        without the database; see :func:`limsai.governance.audit_export.build_export`."""
        return build_export(self, ref)
