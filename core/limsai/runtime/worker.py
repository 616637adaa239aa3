"""The worker loop: claims jobs from the :class:`~limsai.runtime.queue.JobQueue`, runs a handler on
each and records the outcome, keeping the lease alive while the handler works.

Delivery is **at least once**. The queue leases each job to one worker at a time, but a worker can
be killed after its handler changed the LIMS and before the success was recorded; the lease then
expires and another worker runs the same job again (same ``run_id``, ``attempts`` one higher). A
worker whose lease was taken over (or whose job was cancelled) finds out when it reports, gets
:class:`~limsai.runtime.queue.LeaseLost` internally, and its outcome is dropped.

**Exactly-once effects are therefore the handler's duty**: every write a handler makes must be
idempotent on ``job.run_id``, so that running it twice leaves one effect::

    def handler(job: Job) -> dict[str, Any]:
        report = build_report(job.request)                      # pure: safe to repeat
        with lims.write() as conn:                              # the LIMS write, keyed on run_id
            conn.execute(
                "INSERT OR IGNORE INTO drafts (run_id, body) VALUES (?, ?)", (job.run_id, report)
            )
        return {"draft": job.run_id}

Failures: an exception whose ``transient`` attribute is True (e.g.
:class:`~limsai.lims.errors.LimsUnavailable`) is retried with backoff while attempts remain; any
other exception fails the job for good. Either way the job keeps ``"ExcType: message"`` as its
``last_error`` -- never a traceback (which would carry paths and data into the queue); the traceback
goes to this module's logger instead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from limsai.runtime.queue import Job, JobQueue, JobState, LeaseLost, QueueError, QueueUnavailable

__all__ = ["Handler", "drain", "error_text", "run_one", "run_worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Job], dict[str, Any]]
"""Runs one job and returns its (JSON-serialisable) result; raises on failure."""


def error_text(exc: BaseException) -> str:
    """``"ExcType: message"`` (just the type when the message is empty)."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _is_transient(exc: BaseException) -> bool:
    return getattr(exc, "transient", False) is True


class _Heartbeat:
    """Extends a job's lease every ``lease_seconds / 3`` in a background thread until stopped."""

    def __init__(self, queue: JobQueue, run_id: str, worker_id: str) -> None:
        self._queue, self._run_id, self._worker_id = queue, run_id, worker_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = self._queue.lease_seconds / 3
        try:
            while not self._stop.wait(interval):
                try:
                    self._queue.heartbeat(self._run_id, self._worker_id)
                except LeaseLost as exc:
                    log.warning("worker %s lost the lease on %s: %s", self._worker_id, self._run_id, exc)
                    return
                except QueueError as exc:  # busy database: try again at the next beat
                    log.warning("heartbeat for %s failed: %s", self._run_id, exc)
        finally:
            self._queue.close()


def run_one(queue: JobQueue, handler: Handler, worker_id: str) -> Job | None:
    """Claim one job, run ``handler`` on it while a heartbeat keeps the lease, and record the outcome.

    Returns the job as it stands afterwards, or None when nothing was claimable. If the lease was
    lost meanwhile (expired and reclaimed, or the job cancelled), the outcome is dropped and the job
    is returned as the queue now holds it. ``BaseException``\\ s such as KeyboardInterrupt are not
    caught: the lease then lapses and another worker retries the job.
    """
    job = queue.claim(worker_id)
    if job is None:
        return None
    log.info("worker %s runs %s (%s, attempt %d)", worker_id, job.run_id, job.request.step, job.attempts)
    result: dict[str, Any] | None = None
    failure: Exception | None = None
    with _Heartbeat(queue, job.run_id, worker_id):
        try:
            result = handler(job)
            if not isinstance(result, dict):
                raise TypeError(f"handler returned {type(result).__name__}, not a dict")
            json.dumps(result, allow_nan=False)
        except Exception as exc:
            failure = exc
    try:
        if failure is None:
            assert result is not None
            return queue.succeed(job.run_id, worker_id, result)
        transient = _is_transient(failure)
        log.warning(
            "job %s failed (%s): %s",
            job.run_id,
            "transient" if transient else "permanent",
            error_text(failure),
            exc_info=failure,
        )
        return queue.fail(job.run_id, worker_id, error_text(failure), transient=transient)
    except LeaseLost as exc:
        log.warning("outcome of %s dropped: %s", job.run_id, exc)
        return queue.get(job.run_id)


def run_worker(
    queue: JobQueue,
    handler: Handler,
    worker_id: str,
    *,
    stop: threading.Event,
    poll_interval: float = 0.2,
    max_jobs: int | None = None,
) -> int:
    """Process jobs until ``stop`` is set (or ``max_jobs`` were processed); returns how many jobs were
    processed, whatever their outcome. Errors outside the handler (a busy queue database, an unreadable
    row) are logged and waited out, not fatal: the job's lease lapses and it is retried or failed."""
    processed = 0
    while not stop.is_set() and (max_jobs is None or processed < max_jobs):
        try:
            job = run_one(queue, handler, worker_id)
        except QueueUnavailable as exc:
            log.warning("worker %s: job queue unavailable, retrying: %s", worker_id, exc)
            stop.wait(poll_interval)
            continue
        except Exception:  # a long-running worker outlives one bad row; the lease retries the job
            log.exception("worker %s: unexpected error outside the handler", worker_id)
            stop.wait(poll_interval)
            continue
        if job is None:
            stop.wait(poll_interval)
        else:
            processed += 1
    return processed


def drain(
    queue: JobQueue, handler: Handler, worker_id: str, *, timeout: float, poll_interval: float = 0.05
) -> int:
    """Run jobs synchronously until none is left QUEUED (waiting out retry backoff) or ``timeout``
    seconds have passed; returns how many jobs were processed. Jobs RUNNING under another worker's
    live lease are not waited for. On timeout it simply returns: callers read the jobs' states."""
    deadline = time.monotonic() + timeout
    processed = 0
    while time.monotonic() < deadline:
        job = run_one(queue, handler, worker_id)
        if job is not None:
            processed += 1
            continue
        due = queue.next_due()
        if due is None:
            break
        wait = _seconds_until(queue, due)
        time.sleep(max(0.0, min(max(wait, poll_interval), deadline - time.monotonic())))
    if queue.counts()[JobState.QUEUED] and time.monotonic() >= deadline:
        log.warning("drain by %s stopped after %.1f s with jobs still queued", worker_id, timeout)
    return processed


def _seconds_until(queue: JobQueue, instant: datetime) -> float:
    return (instant - queue.now()).total_seconds()
