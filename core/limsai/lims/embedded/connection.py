"""SQLite plumbing for the embedded LIMS: one connection per thread, WAL so that several processes
can read while one writes, ``BEGIN IMMEDIATE`` write transactions, and a query counter so that
tests can prove reads are paged (O(pages) queries, never one per sample).

SQLite's own errors are translated into the port's typed errors here and nowhere else.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from limsai.lims.errors import LimsRejected, LimsUnavailable

BUSY_TIMEOUT_S = 30.0


class Database:
    """A SQLite file shared by threads (one connection each) and processes (WAL, busy timeout)."""

    def __init__(self, path: Path, ddl: str, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self.queries = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.executescript(ddl)
        except sqlite3.DatabaseError as exc:
            raise LimsRejected(f"{path} is not a usable LIMS database: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.OperationalError as exc:
                raise LimsUnavailable(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one SELECT and count it."""
        with self._lock:
            self.queries += 1
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise LimsUnavailable(f"LIMS database busy or unavailable: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed as a whole or not at all."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LimsUnavailable(f"LIMS database busy or unavailable: {exc}") from exc
        try:
            yield conn
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise LimsRejected(f"LIMS refused the change: {exc}") from exc
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            raise LimsUnavailable(f"LIMS database busy or unavailable: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
