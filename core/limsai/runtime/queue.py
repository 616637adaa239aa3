"""The durable job queue: every step run is a row in ``DIR/jobs.db`` that survives restarts and crashes.

Why a queue at all: LIMS callouts, the CLI and the demo all ask for step runs, and a step run must
neither be lost when a worker dies nor run twice because someone pressed the button twice.

Guarantees
----------
* **At most one job per request.** A :class:`RunRequest` has an :meth:`~RunRequest.idempotency_key`
  derived from ``lims``, ``record``, ``step`` and ``milestone`` (not from ``parameters`` or
  ``requested_by``). Submitting a request whose key is already known returns the existing job and
  writes nothing while that job is QUEUED, RUNNING or SUCCEEDED. A job that FAILED or was CANCELLED
  gives its key up on resubmission: the old row keeps ``<key>:<run_id>`` as history and a new job
  is queued, so a user can run a refused step again once the cause is fixed (e.g. a release
  refused for want of a signature, asked again after the study director signed). Running a step
  that SUCCEEDED again for the same record needs a new key: a different ``milestone``.
* **At-least-once execution with leases.** :meth:`JobQueue.claim` leases a job to one worker for
  ``lease_seconds``; the worker extends the lease with :meth:`JobQueue.heartbeat`. If the worker dies,
  the lease expires and the next claim hands the job to another worker (that reclaim counts as an
  attempt; a job whose attempts are used up this way becomes FAILED with ``last_error`` "worker lost").
  A worker that lost its lease gets :class:`LeaseLost` from ``heartbeat``/``succeed``/``fail`` and
  its outcome is discarded.
* **Exactly-once effects are the handler's duty.** Because a job can run more than once (a worker
  killed after writing to the LIMS but before :meth:`JobQueue.succeed`), every write a step makes must
  be idempotent on ``run_id`` -- e.g. ``INSERT OR IGNORE`` keyed on the run id, or "find the draft
  tagged with this run id, create it only if absent".

States: QUEUED -> RUNNING -> SUCCEEDED | FAILED | QUEUED (transient failure, retried after
exponential backoff ``min(backoff_max, backoff_base * 2 ** (attempts - 1))`` seconds). QUEUED or
RUNNING -> CANCELLED via :meth:`JobQueue.cancel`; cancelling a RUNNING job revokes its lease, so the
worker's later ``succeed``/``fail`` raise :class:`LeaseLost` (the handler itself is not interrupted).
``lease_owner``/``lease_expires_at`` are set exactly while a job is RUNNING; ``started_at`` is the start
of the first attempt; ``last_error`` keeps the most recent error, even after a later success.

Times are the server's UTC clock (injectable for tests); several processes on one host share the file.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from limsai.model import Identifier, LimsModel, UtcDatetime, utcnow
from limsai.runtime.queue_db import (
    InvalidTransition,
    JobNotFound,
    LeaseLost,
    QueueDb,
    QueueError,
    QueueUnavailable,
    from_db,
    owned_row,
    to_db,
)

__all__ = [
    "JOBS_DB",
    "InvalidTransition",
    "Job",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "LeaseLost",
    "QueueError",
    "QueueUnavailable",
    "RecordRef",
    "RunRequest",
]

JOBS_DB = "jobs.db"
WORKER_LOST = "worker lost"
MAX_ERROR_CHARS = 4000


class RecordRef(LimsModel):
    """The LIMS record a step runs on."""

    type: Literal["study"]
    id: Identifier


class RunRequest(LimsModel):
    """A request to run one step on one record of one LIMS."""

    step: str
    lims: str
    record: RecordRef
    milestone: str = ""
    requested_by: Identifier
    parameters: dict[str, Any] = Field(default_factory=dict)

    def idempotency_key(self) -> str:
        """SHA-256 (hex) of the canonical JSON ``{"lims", "milestone", "record": {"id", "type"}, "step"}``
        (sorted keys, no whitespace, UTF-8). ``parameters`` and ``requested_by`` are not part of it."""
        identity = {
            "lims": self.lims,
            "milestone": self.milestone,
            "record": {"id": self.record.id, "type": self.record.type},
            "step": self.step,
        }
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class Job(LimsModel):
    """One row of the queue, as read at one instant."""

    run_id: str
    idempotency_key: str
    request: RunRequest
    state: JobState
    attempts: int
    max_attempts: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    lease_owner: str | None
    lease_expires_at: UtcDatetime | None
    next_attempt_at: UtcDatetime
    last_error: str | None
    result: dict[str, Any] | None


def _job(row: sqlite3.Row) -> Job:
    return Job(
        run_id=row["run_id"],
        idempotency_key=row["idempotency_key"],
        request=RunRequest.model_validate_json(row["request"]),
        state=JobState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        started_at=from_db(row["started_at"]),
        finished_at=from_db(row["finished_at"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=from_db(row["lease_expires_at"]),
        next_attempt_at=from_db(row["next_attempt_at"]),
        last_error=row["last_error"],
        result=None if row["result"] is None else json.loads(row["result"]),
    )


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


class JobQueue:
    """The queue in ``workdir/jobs.db``; safe to share between threads and processes."""

    def __init__(
        self,
        workdir: Path,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        busy_timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        for name, value in (("lease_seconds", lease_seconds), ("backoff_base", backoff_base)):
            _positive(name, value)
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if backoff_max < backoff_base:
            raise ValueError("backoff_max must not be below backoff_base")
        self.path = Path(workdir) / JOBS_DB
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._clock = clock or utcnow
        self._db = QueueDb(self.path, busy_timeout)

    def now(self) -> datetime:
        """The queue's clock, in UTC."""
        instant = self._clock()
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("the queue clock must return timezone-aware times")
        return instant.astimezone(UTC)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before retrying after the ``attempts``-th attempt failed transiently."""
        exponent = max(0, attempts - 1)
        if exponent > 64:  # beyond any backoff_max anyone uses; avoids float overflow
            return self.backoff_max
        return float(min(self.backoff_max, self.backoff_base * 2**exponent))

    # -- submitting and reading ---------------------------------------------------------------

    def submit(self, request: RunRequest) -> tuple[Job, bool]:
        """Queue ``request``; returns ``(job, created)``. A known idempotency key returns the existing
        job unchanged with ``created=False``, unless that job FAILED or was CANCELLED: then its key
        is retired to ``<key>:<run_id>`` and a new job is queued."""
        key = request.idempotency_key()
        now = to_db(self.now())
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
            if row is not None:
                if row["state"] not in (JobState.FAILED.value, JobState.CANCELLED.value):
                    return _job(row), False
                conn.execute(
                    "UPDATE jobs SET idempotency_key = ? WHERE run_id = ?",
                    (f"{key}:{row['run_id']}", row["run_id"]),
                )
            run_id = f"run-{uuid.uuid4().hex}"
            conn.execute(
                "INSERT INTO jobs (run_id, idempotency_key, request, state, attempts, max_attempts,"
                " created_at, updated_at, next_attempt_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (run_id, key, request.model_dump_json(), JobState.QUEUED, self.max_attempts, now, now, now),
            )
            row = conn.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        return _job(row), True

    def get(self, run_id: str) -> Job:
        """The job as stored now; :class:`JobNotFound` if there is none."""
        rows = self._db.read("SELECT * FROM jobs WHERE run_id = ?", (run_id,))
        if not rows:
            raise JobNotFound(f"no job {run_id!r}")
        return _job(rows[0])

    def find(self, request: RunRequest) -> Job | None:
        """The job holding ``request``'s idempotency key, if any."""
        rows = self._db.read("SELECT * FROM jobs WHERE idempotency_key = ?", (request.idempotency_key(),))
        return _job(rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        """Jobs per state; every state is present, zero included."""
        counts = dict.fromkeys((state.value for state in JobState), 0)
        for row in self._db.read("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"):
            counts[row["state"]] = row["n"]
        return counts

    def next_due(self) -> datetime | None:
        """When the earliest QUEUED job becomes claimable (possibly in the past); None if none is queued."""
        rows = self._db.read(
            "SELECT MIN(next_attempt_at) AS due FROM jobs WHERE state = ?", (JobState.QUEUED.value,)
        )
        return from_db(rows[0]["due"])

    # -- the worker's side --------------------------------------------------------------------

    def claim(self, worker_id: str) -> Job | None:
        """Lease the oldest claimable job to ``worker_id``: a QUEUED job whose ``next_attempt_at`` has
        come, or a RUNNING job whose lease expired. Sets RUNNING, the lease and ``attempts += 1``.
        Expired jobs with no attempts left are first marked FAILED ("worker lost"). None if nothing
        is claimable."""
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        now_dt = self.now()
        now = to_db(now_dt)
        lease_until = to_db(now_dt + timedelta(seconds=self.lease_seconds))
        with self._db.write() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL, last_error = ?,"
                " finished_at = ?, updated_at = ?"
                " WHERE state = ? AND lease_expires_at <= ? AND attempts >= max_attempts",
                (JobState.FAILED, WORKER_LOST, now, now, JobState.RUNNING, now),
            )
            row = conn.execute(
                "SELECT run_id, state FROM jobs"
                " WHERE (state = ? AND next_attempt_at <= ?) OR (state = ? AND lease_expires_at <= ?)"
                " ORDER BY created_at, seq LIMIT 1",
                (JobState.QUEUED, now, JobState.RUNNING, now),
            ).fetchone()
            if row is None:
                return None
            reclaimed = row["state"] == JobState.RUNNING
            conn.execute(
                "UPDATE jobs SET state = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1,"
                " started_at = COALESCE(started_at, ?), updated_at = ?,"
                " last_error = CASE WHEN ? THEN ? ELSE last_error END"
                " WHERE run_id = ?",
                (JobState.RUNNING, worker_id, lease_until, now, now, reclaimed, WORKER_LOST, row["run_id"]),
            )
            claimed = conn.execute("SELECT * FROM jobs WHERE run_id = ?", (row["run_id"],)).fetchone()
        return _job(claimed)

    def heartbeat(self, run_id: str, worker_id: str) -> None:
        """Extend ``worker_id``'s lease by ``lease_seconds`` from now; :class:`LeaseLost` if the job is
        no longer RUNNING under that worker."""
        now_dt = self.now()
        with self._db.write() as conn:
            owned_row(conn, run_id, worker_id)
            conn.execute(
                "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE run_id = ?",
                (to_db(now_dt + timedelta(seconds=self.lease_seconds)), to_db(now_dt), run_id),
            )

    def succeed(self, run_id: str, worker_id: str, result: dict[str, Any]) -> Job:
        """Record the result and mark SUCCEEDED; :class:`LeaseLost` if ``worker_id`` no longer owns it.
        ``result`` must be JSON-serialisable (TypeError/ValueError otherwise, nothing written)."""
        payload = json.dumps(result, sort_keys=True, allow_nan=False)
        now = to_db(self.now())
        with self._db.write() as conn:
            owned_row(conn, run_id, worker_id)
            conn.execute(
                "UPDATE jobs SET state = ?, result = ?, finished_at = ?, updated_at = ?,"
                " lease_owner = NULL, lease_expires_at = NULL WHERE run_id = ?",
                (JobState.SUCCEEDED, payload, now, now, run_id),
            )
            row = conn.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        return _job(row)

    def fail(self, run_id: str, worker_id: str, error: str, *, transient: bool) -> Job:
        """Record a failed attempt. Transient with attempts left: back to QUEUED after backoff;
        otherwise FAILED. :class:`LeaseLost` if ``worker_id`` no longer owns the job."""
        error = error[:MAX_ERROR_CHARS]
        now_dt = self.now()
        now = to_db(now_dt)
        with self._db.write() as conn:
            owned = owned_row(conn, run_id, worker_id)
            attempts, max_attempts = owned["attempts"], owned["max_attempts"]
            if transient and attempts < max_attempts:
                retry_at = to_db(now_dt + timedelta(seconds=self.backoff(attempts)))
                conn.execute(
                    "UPDATE jobs SET state = ?, next_attempt_at = ?, last_error = ?, updated_at = ?,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE run_id = ?",
                    (JobState.QUEUED, retry_at, error, now, run_id),
                )
            else:
                conn.execute(
                    "UPDATE jobs SET state = ?, last_error = ?, finished_at = ?, updated_at = ?,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE run_id = ?",
                    (JobState.FAILED, error, now, now, run_id),
                )
            row = conn.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        return _job(row)

    def cancel(self, run_id: str) -> Job:
        """Cancel a QUEUED or RUNNING job (a RUNNING job's lease is revoked: its worker's handler runs
        on, but its ``succeed``/``fail`` raise :class:`LeaseLost`). Cancelling a CANCELLED job returns
        it unchanged; a SUCCEEDED or FAILED job raises :class:`InvalidTransition`."""
        now = to_db(self.now())
        with self._db.write() as conn:
            row = conn.execute("SELECT state FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {run_id!r}")
            state = JobState(row["state"])
            if state in (JobState.SUCCEEDED, JobState.FAILED):
                raise InvalidTransition(f"job {run_id} already {state.value}; it cannot be cancelled")
            if state is not JobState.CANCELLED:
                conn.execute(
                    "UPDATE jobs SET state = ?, finished_at = ?, updated_at = ?,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE run_id = ?",
                    (JobState.CANCELLED, now, now, run_id),
                )
            row = conn.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        return _job(row)

    def list(self, state: JobState | None = None, limit: int = 100) -> builtins.list[Job]:
        """Up to ``limit`` jobs, newest first, optionally only those in ``state``."""
        if limit < 1:
            return []
        if state is None:
            rows = self._db.read("SELECT * FROM jobs ORDER BY created_at DESC, seq DESC LIMIT ?", (limit,))
        else:
            rows = self._db.read(
                "SELECT * FROM jobs WHERE state = ? ORDER BY created_at DESC, seq DESC LIMIT ?",
                (JobState(state).value, limit),
            )
        return [_job(row) for row in rows]

    def close(self) -> None:
        """Close the calling thread's database connection."""
        self._db.close()
