"""SQLite plumbing for the audit log: the schema with its append-only triggers, one connection per
thread, ``BEGIN IMMEDIATE`` write transactions and snapshot reads, and the few queries the log, the
checkpointer and the verifier share. SQLite errors become :class:`AuditLogError` here."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limsai.governance.checkpoints import Checkpoint

AUDIT_DB = "audit.db"
BUSY_TIMEOUT_S = 30.0
APPEND_ONLY = "audit log is append-only"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_entries (
        seq INTEGER PRIMARY KEY,
        entry TEXT NOT NULL,
        entry_hash TEXT NOT NULL,
        leaf_hash TEXT NOT NULL,
        record TEXT NOT NULL,
        sponsor_id TEXT,
        run_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS audit_entries_record ON audit_entries(record)",
    "CREATE INDEX IF NOT EXISTS audit_entries_sponsor ON audit_entries(sponsor_id)",
    "CREATE INDEX IF NOT EXISTS audit_entries_run ON audit_entries(run_id)",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL,
        tree_size INTEGER NOT NULL,
        root_hash TEXT NOT NULL,
        time TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
        for table in ("audit_entries", "checkpoints")
        for op in ("UPDATE", "DELETE")
    ),
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_in_sequence BEFORE INSERT ON {table}
        WHEN NEW.{key} IS NOT (SELECT COALESCE(MAX({key}), 0) + 1 FROM {table})
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: rows are added at the next number only'); END"""
        for table, key in (("audit_entries", "seq"), ("checkpoints", "id"))
    ),
)
ROWS = "SELECT seq, entry, entry_hash, leaf_hash, record, sponsor_id, run_id FROM audit_entries"
INSERT_ENTRY = (
    "INSERT INTO audit_entries (seq, entry, entry_hash, leaf_hash, record, sponsor_id, run_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_CHECKPOINT = (
    "INSERT INTO checkpoints (id, origin, tree_size, root_hash, time, signature) "
    "VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM checkpoints), ?, ?, ?, ?, ?)"
)
_CHECKPOINTS = "SELECT id, origin, tree_size, root_hash, time, signature FROM checkpoints ORDER BY id"


class AuditLogError(RuntimeError):
    """The audit log cannot be read or written (database busy, locked or unusable)."""


class AuditIntegrityError(AuditLogError):
    """The log failed an integrity check, so the operation (e.g. signing a checkpoint) was refused."""


class AuditDatabase:
    """``DIR/audit.db`` shared by threads (one connection each) and processes (WAL, busy timeout)."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a commit survives an application crash; fewer, larger WAL
                # checkpoints keep single-entry transactions cheap.
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA wal_autocheckpoint=10000")
            except sqlite3.Error as exc:
                raise AuditLogError(f"cannot open the audit log {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed as a whole or not at all; holds the write lock throughout."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise AuditLogError(f"the audit log is busy or unavailable: {exc}") from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise AuditLogError(f"the audit log refused the write: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one snapshot of the log."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            yield conn
        except sqlite3.Error as exc:
            raise AuditLogError(f"cannot read the audit log: {exc}") from exc
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def log_size(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_entries").fetchone()[0])


def leaf_hashes(conn: sqlite3.Connection, size: int | None) -> list[bytes]:
    """The stored leaf hashes of entries ``1..size`` (all when None)."""
    n = log_size(conn)
    if size is None:
        size = n
    if not 0 <= size <= n:
        raise ValueError(f"tree size {size} is outside 0..{n}")
    rows = conn.execute("SELECT leaf_hash FROM audit_entries WHERE seq <= ? ORDER BY seq", (size,))
    return [bytes.fromhex(row[0]) for row in rows]


def stored_checkpoints(conn: sqlite3.Connection, problems: list[str]) -> list[tuple[int, Checkpoint]]:
    """The checkpoints table as ``(id, checkpoint)``, oldest first; malformed rows go to ``problems``."""
    out = []
    for cid, origin, size, root_hash, time, signature in conn.execute(_CHECKPOINTS):
        try:
            checkpoint = Checkpoint(
                origin=origin, tree_size=size, root_hash=root_hash, time=time, signature=signature
            )
        except ValueError:
            problems.append(f"checkpoint #{cid} in the checkpoints table is malformed")
        else:
            out.append((cid, checkpoint))
    return out
