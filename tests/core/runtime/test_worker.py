"""The worker loop: outcomes recorded from handler results and exceptions, the heartbeat keeping a
lease alive, lost leases, the run/drain loops, and a worker process killed mid-job whose job another
worker finishes with the handler's effect written exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.errors import LimsRejected, LimsUnavailable
from limsai.runtime.queue import Job, JobQueue, JobState, RecordRef, RunRequest
from limsai.runtime.worker import Handler, drain, error_text, run_one, run_worker

HERE = Path(__file__).resolve().parent


def request(milestone: str = "T3M") -> RunRequest:
    return RunRequest(
        step="stability_summary",
        lims="embedded",
        record=RecordRef(type="study", id="STB-001"),
        milestone=milestone,
        requested_by="jdoe",
    )


def ok(job: Job) -> dict[str, Any]:
    return {"run_id": job.run_id, "attempt": job.attempts}


def raising(exc: BaseException) -> Handler:
    def handler(job: Job) -> dict[str, Any]:
        raise exc

    return handler


# -- the pattern every step's writes must follow -----------------------------------------------------


def effect_handler(effects: Path, *, hang: str = "") -> Handler:
    """A handler whose one side effect is idempotent on run_id (``INSERT OR IGNORE``), so a re-run after
    a crash cannot write it twice. ``hang`` makes it block ("before_write" or "after_write") so that a
    test can kill the process there."""

    def handler(job: Job) -> dict[str, Any]:
        conn = sqlite3.connect(effects, timeout=10, isolation_level=None)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS started (run_id TEXT, attempt INTEGER)")
            conn.execute("CREATE TABLE IF NOT EXISTS completed (run_id TEXT PRIMARY KEY, summary TEXT)")
            conn.execute("INSERT INTO started VALUES (?, ?)", (job.run_id, job.attempts))
            if hang == "before_write":
                time.sleep(60)
            conn.execute(
                "INSERT OR IGNORE INTO completed VALUES (?, ?)",
                (job.run_id, f"summary of {job.request.record.id}"),
            )
            if hang == "after_write":
                time.sleep(60)
        finally:
            conn.close()
        return {"summary": job.run_id}

    return handler


def effect_rows(effects: Path, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(effects)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


# -- run_one -------------------------------------------------------------------------------------------


def test_run_one_records_the_handler_result(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    assert run_one(queue, ok, "w1") is None
    job, _ = queue.submit(request())
    done = run_one(queue, ok, "w1")
    assert done is not None
    assert (done.run_id, done.state, done.attempts) == (job.run_id, JobState.SUCCEEDED, 1)
    assert done.result == {"run_id": job.run_id, "attempt": 1}
    assert queue.get(job.run_id) == done


class FlakyService(Exception):
    transient = True


@pytest.mark.parametrize(
    ("exc", "state", "error"),
    [
        (LimsUnavailable("LIMS timed out"), JobState.QUEUED, "LimsUnavailable: LIMS timed out"),
        (FlakyService("try later"), JobState.QUEUED, "FlakyService: try later"),
        (LimsRejected("study is locked"), JobState.FAILED, "LimsRejected: study is locked"),
        (ValueError("bad input"), JobState.FAILED, "ValueError: bad input"),
        (RuntimeError(), JobState.FAILED, "RuntimeError"),
    ],
)
def test_exceptions_become_transient_or_permanent_failures(
    tmp_path: Path, exc: Exception, state: JobState, error: str
) -> None:
    queue = JobQueue(tmp_path, backoff_base=5)
    job, _ = queue.submit(request())
    failed = run_one(queue, raising(exc), "w1")
    assert failed is not None
    assert (failed.run_id, failed.state, failed.last_error, failed.attempts) == (job.run_id, state, error, 1)
    assert "Traceback" not in error and failed.lease_owner is None


def test_a_transient_error_that_persists_ends_failed_after_max_attempts(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, max_attempts=3, backoff_base=0.01, backoff_max=0.02)
    job, _ = queue.submit(request())
    assert drain(queue, raising(LimsUnavailable("down")), "w1", timeout=5) == 3
    final = queue.get(job.run_id)
    assert (final.state, final.attempts, final.last_error) == (JobState.FAILED, 3, "LimsUnavailable: down")


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (lambda job: ["not", "a", "dict"], "TypeError: handler returned list, not a dict"),
        (lambda job: {"value": float("nan")}, "ValueError: Out of range float values are not JSON compliant"),
    ],
)
def test_a_result_that_is_not_a_json_object_fails_the_job(
    tmp_path: Path, handler: Callable[[Job], Any], error: str
) -> None:
    queue = JobQueue(tmp_path)
    queue.submit(request())
    failed = run_one(queue, handler, "w1")
    assert failed is not None and (failed.state, failed.last_error) == (JobState.FAILED, error)


def test_error_text() -> None:
    assert error_text(LimsUnavailable("  503 \n")) == "LimsUnavailable: 503"
    assert error_text(KeyError("x")) == "KeyError: 'x'"


def test_heartbeat_keeps_the_lease_while_the_handler_runs(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, lease_seconds=0.3)
    rival = JobQueue(tmp_path, lease_seconds=0.3)
    job, _ = queue.submit(request())
    rival_claims: list[Job | None] = []

    def slow(job: Job) -> dict[str, Any]:
        for _ in range(4):  # 0.8 s in all: well past one lease
            time.sleep(0.2)
            rival_claims.append(rival.claim("w2"))
        return {}

    done = run_one(queue, slow, "w1")
    assert rival_claims == [None] * 4
    assert done is not None and done.run_id == job.run_id
    assert (done.state, done.attempts, done.lease_owner) == (JobState.SUCCEEDED, 1, None)


def test_an_outcome_after_the_lease_was_taken_over_is_dropped(tmp_path: Path) -> None:
    now = [datetime(2025, 3, 1, tzinfo=UTC)]
    queue = JobQueue(tmp_path, lease_seconds=30, clock=lambda: now[0])
    job, _ = queue.submit(request())

    def overtaken(job: Job) -> dict[str, Any]:
        now[0] += timedelta(seconds=31)
        assert queue.claim("w2") is not None  # the lease lapsed: another worker takes over
        return {"from": "w1"}

    current = run_one(queue, overtaken, "w1")
    assert current is not None
    assert (current.state, current.lease_owner, current.attempts, current.result) == (
        JobState.RUNNING,
        "w2",
        2,
        None,
    )
    assert queue.succeed(job.run_id, "w2", {"from": "w2"}).result == {"from": "w2"}


def test_cancelling_a_running_job_drops_its_outcome(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    job, _ = queue.submit(request())

    def cancelled_midway(job: Job) -> dict[str, Any]:
        queue.cancel(job.run_id)
        return {"done": True}

    current = run_one(queue, cancelled_midway, "w1")
    assert current is not None and current.run_id == job.run_id
    assert (current.state, current.result) == (JobState.CANCELLED, None)


# -- loops ---------------------------------------------------------------------------------------------


def test_run_worker_stops_after_max_jobs(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    for i in range(4):
        queue.submit(request(milestone=f"M{i}"))
    assert run_worker(queue, ok, "w1", stop=threading.Event(), max_jobs=3) == 3
    assert queue.counts()["succeeded"] == 3
    assert queue.counts()["queued"] == 1


def test_run_worker_runs_until_stopped(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    stop = threading.Event()
    processed: list[int] = []
    worker = threading.Thread(
        target=lambda: processed.append(run_worker(queue, ok, "w1", stop=stop, poll_interval=0.01))
    )
    worker.start()
    for i in range(3):
        queue.submit(request(milestone=f"M{i}"))
    deadline = time.monotonic() + 5
    while queue.counts()["succeeded"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    worker.join(timeout=5)
    assert processed == [3]


def test_drain_waits_out_backoff_and_returns_when_nothing_is_queued(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, backoff_base=0.05)
    first, _ = queue.submit(request(milestone="M1"))
    second, _ = queue.submit(request(milestone="M2"))
    calls: list[str] = []

    def flaky_once(job: Job) -> dict[str, Any]:
        calls.append(job.run_id)
        if job.run_id == first.run_id and job.attempts == 1:
            raise LimsUnavailable("busy")
        return {"ok": True}

    assert drain(queue, flaky_once, "w1", timeout=5) == 3
    assert calls == [first.run_id, second.run_id, first.run_id]
    assert queue.get(first.run_id).attempts == 2
    assert queue.counts()["succeeded"] == 2
    assert drain(queue, flaky_once, "w1", timeout=5) == 0


def test_drain_gives_up_at_the_timeout(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, backoff_base=60)
    job, _ = queue.submit(request())
    start = time.monotonic()
    assert drain(queue, raising(LimsUnavailable("down")), "w1", timeout=0.2) == 1
    assert 0.2 <= time.monotonic() - start < 2
    assert queue.get(job.run_id).state is JobState.QUEUED


# -- worker processes ------------------------------------------------------------------------------------

SHARING_WORKER = textwrap.dedent(
    """
    import sqlite3, sys, threading, time
    from pathlib import Path
    from limsai.runtime.queue import JobQueue
    from limsai.runtime.worker import run_one

    workdir, effects, worker_id, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])

    def handler(job):
        conn = sqlite3.connect(effects, timeout=10, isolation_level=None)
        try:  # a plain INSERT: a job handed to two workers would show up twice
            conn.execute("INSERT INTO handled VALUES (?, ?)", (job.run_id, worker_id))
        finally:
            conn.close()
        return {"by": worker_id}

    queue = JobQueue(workdir, busy_timeout=10)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    while run_one(queue, handler, worker_id) is not None:
        pass
    """
)


def test_worker_processes_sharing_a_queue_never_run_a_job_twice(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    submitted = {queue.submit(request(milestone=f"M{i}"))[0].run_id for i in range(60)}
    effects, script, go = tmp_path / "effects.db", tmp_path / "sharing.py", tmp_path / "go"
    setup = sqlite3.connect(effects, isolation_level=None)
    setup.execute("CREATE TABLE handled (run_id TEXT, worker TEXT)")
    setup.close()
    script.write_text(SHARING_WORKER)
    args = [[sys.executable, str(script), str(tmp_path), str(effects), f"p{i}", str(go)] for i in range(3)]
    procs = [subprocess.Popen(arg, stdout=subprocess.PIPE, text=True) for arg in args]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        go.touch()
        for proc in procs:
            proc.communicate(timeout=30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    handled = effect_rows(effects, "handled")
    assert sorted(run_id for run_id, _ in handled) == sorted(submitted)  # each job exactly once
    for run_id, worker in handled:
        job = queue.get(run_id)
        assert (job.state, job.attempts, job.result) == (JobState.SUCCEEDED, 1, {"by": worker})


# -- a worker process killed mid-job ---------------------------------------------------------------------

DOOMED_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[4])
    from test_worker import effect_handler
    from limsai.runtime.queue import JobQueue
    from limsai.runtime.worker import run_one

    workdir, effects, hang = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    run_one(JobQueue(workdir, lease_seconds=0.5), effect_handler(effects, hang=hang), "doomed")
    """
)


@pytest.mark.parametrize("hang", ["before_write", "after_write"])
def test_a_killed_workers_job_is_finished_by_another_worker_exactly_once(tmp_path: Path, hang: str) -> None:
    queue = JobQueue(tmp_path, lease_seconds=0.5)
    effects = tmp_path / "effects.db"
    job, _ = queue.submit(request())
    script = tmp_path / "doomed.py"
    script.write_text(DOOMED_WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(effects), hang, str(HERE)])
    try:
        deadline = time.monotonic() + 20
        wanted = 1 if hang == "before_write" else 2  # a started row, plus the completed one
        while time.monotonic() < deadline:
            if effects.exists() and _rows_written(effects) >= wanted:
                break
            assert proc.poll() is None, "the doomed worker exited early"
            time.sleep(0.02)
        else:
            pytest.fail("the doomed worker never started the job")
        assert queue.get(job.run_id).lease_owner == "doomed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    stranded = queue.get(job.run_id)
    assert (stranded.state, stranded.lease_owner, stranded.attempts) == (JobState.RUNNING, "doomed", 1)
    assert stranded.lease_expires_at is not None
    done = None
    deadline = time.monotonic() + 10
    while done is None and time.monotonic() < deadline:
        done = run_one(queue, effect_handler(effects), "rescuer")  # None until the lease lapses
        time.sleep(0.05)

    assert done is not None
    assert done.started_at is not None and done.updated_at >= stranded.lease_expires_at
    assert (done.run_id, done.state, done.attempts) == (job.run_id, JobState.SUCCEEDED, 2)
    assert (done.result, done.last_error) == ({"summary": job.run_id}, "worker lost")
    assert effect_rows(effects, "started") == [(job.run_id, 1), (job.run_id, 2)]
    assert effect_rows(effects, "completed") == [(job.run_id, "summary of STB-001")]
    assert queue.counts() == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}


def _rows_written(effects: Path) -> int:
    try:
        return sum(len(effect_rows(effects, table)) for table in ("started", "completed"))
    except sqlite3.OperationalError:  # tables not created yet
        return 0
