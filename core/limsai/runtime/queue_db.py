"""SQLite storage under the job queue, kept apart so that :mod:`limsai.runtime.queue` holds only the
queue's rules.

The same discipline as the embedded LIMS: one connection per thread, WAL so that workers in other
processes can read while one writes, a busy timeout instead of immediate "database is locked"
failures, and ``BEGIN IMMEDIATE`` for every read-modify-write so that two claimers are serialised by
SQLite itself. SQLite's errors become :class:`QueueUnavailable` (transient) here and nowhere else; the queue's
other typed errors live here too, beside the lease check that raises them.

Instants are stored as fixed-width ISO-8601 UTC text with microseconds
(``2025-01-02T03:04:05.000006+00:00``), so that SQL string comparison is chronological comparison.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    request TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    result TEXT,
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (state, lease_expires_at);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, seq);
"""


class QueueError(Exception):
    """Base of every error the job queue raises."""

    transient: bool = False


class QueueUnavailable(QueueError):
    """The queue database could not be opened or stayed locked past the busy timeout; retry later."""

    transient = True


class JobNotFound(QueueError, KeyError):
    """No job has this run id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "job not found"


class LeaseLost(QueueError):
    """The job is no longer leased to this worker (lease expired and reclaimed, or job cancelled)."""


class InvalidTransition(QueueError):
    """The requested change does not apply to the job's current state."""


def to_db(instant: datetime) -> str:
    """A UTC instant as fixed-width text whose string order is time order."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("queue times must carry a time zone")
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def owned_row(conn: sqlite3.Connection, run_id: str, worker_id: str) -> sqlite3.Row:
    """The job's lease columns, checked inside the caller's write transaction: :class:`JobNotFound`
    if there is no such job, :class:`LeaseLost` unless it is RUNNING under ``worker_id``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT state, lease_owner, attempts, max_attempts FROM jobs WHERE run_id = ?", (run_id,)
    ).fetchone()
    if row is None:
        raise JobNotFound(f"no job {run_id!r}")
    if row["state"] != "running" or row["lease_owner"] != worker_id:
        owner = f"leased to {row['lease_owner']}" if row["lease_owner"] else "not leased"
        raise LeaseLost(f"job {run_id} is {row['state']} and {owner}, not leased to {worker_id}")
    return row


class QueueDb:
    """``jobs.db`` shared by threads (one connection each) and processes (WAL, busy timeout)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise QueueError(
                    f"{path} has job-queue schema {version}; this limsai expects {SCHEMA_VERSION}"
                )
            conn.executescript(f"BEGIN IMMEDIATE;\n{DDL}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")
        except sqlite3.OperationalError as exc:
            self._rollback_quietly()
            raise QueueUnavailable(f"cannot open job queue {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._rollback_quietly()
            raise QueueError(f"{path} is not a usable job-queue database: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError as exc:
                raise QueueUnavailable(f"cannot open job queue {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _rollback_quietly(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """One read outside any write transaction (WAL gives it a consistent snapshot)."""
        try:
            rows: list[sqlite3.Row] = self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise QueueUnavailable(f"job queue busy or unavailable: {exc}") from exc
        return rows

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed as a whole or not at all."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise QueueUnavailable(f"job queue busy or unavailable: {exc}") from exc
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            raise QueueUnavailable(f"job queue busy or unavailable: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback_quietly()
            raise QueueUnavailable(f"job queue commit failed: {exc}") from exc

    def close(self) -> None:
        """Close the calling thread's connection (other threads close their own)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
