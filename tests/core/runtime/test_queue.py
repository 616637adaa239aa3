"""The durable job queue: idempotent submission, state transitions, claim order, backoff, leases, and
that concurrent claimers never share a job (worker processes sharing a queue: test_worker.py)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from limsai.runtime.queue import (
    InvalidTransition,
    Job,
    JobNotFound,
    JobQueue,
    JobState,
    LeaseLost,
    QueueError,
    RecordRef,
    RunRequest,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def request(study: str = "STB-001", milestone: str = "", step: str = "stability_summary") -> RunRequest:
    return RunRequest(
        step=step,
        lims="embedded",
        record=RecordRef(type="study", id=study),
        milestone=milestone,
        requested_by="jdoe",
        parameters={"limit": 3},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(tmp_path: Path, clock: FakeClock) -> JobQueue:
    return JobQueue(tmp_path, lease_seconds=30, max_attempts=3, backoff_base=2, backoff_max=60, clock=clock)


# -- submission and idempotency ---------------------------------------------------------------------


def test_idempotency_key_is_sha256_of_canonical_identity() -> None:
    canonical = (
        '{"lims":"embedded","milestone":"T3M","record":{"id":"STB-001","type":"study"},'
        '"step":"stability_summary"}'
    )
    assert request(milestone="T3M").idempotency_key() == hashlib.sha256(canonical.encode()).hexdigest()


def test_idempotency_key_ignores_parameters_and_requester_but_not_milestone() -> None:
    base = request(milestone="T3M")
    other = base.model_copy(update={"parameters": {"limit": 9}, "requested_by": "asmith"})
    assert other.idempotency_key() == base.idempotency_key()
    assert request(milestone="T6M").idempotency_key() != base.idempotency_key()
    assert request(study="STB-002", milestone="T3M").idempotency_key() != base.idempotency_key()
    assert request(step="trend", milestone="T3M").idempotency_key() != base.idempotency_key()


def test_submit_creates_a_queued_job(queue: JobQueue) -> None:
    job, created = queue.submit(request())
    assert created is True
    assert job.run_id.startswith("run-")
    assert job.idempotency_key == request().idempotency_key()
    assert job.request == request()
    assert job.state is JobState.QUEUED
    assert (job.attempts, job.max_attempts) == (0, 3)
    assert job.created_at == job.updated_at == job.next_attempt_at == T0
    assert (job.started_at, job.finished_at, job.lease_owner, job.lease_expires_at) == (None,) * 4
    assert (job.last_error, job.result) == (None, None)
    assert queue.get(job.run_id) == job
    assert queue.path == queue.path.parent / "jobs.db"


def test_same_key_returns_the_existing_job_and_writes_nothing(queue: JobQueue, clock: FakeClock) -> None:
    first, _ = queue.submit(request(milestone="T3M"))
    clock.advance(5)
    again, created = queue.submit(request(milestone="T3M").model_copy(update={"requested_by": "asmith"}))
    assert created is False
    assert again == first
    assert again.request.requested_by == "jdoe"
    assert queue.counts()["queued"] == 1


def test_different_milestone_is_a_new_job(queue: JobQueue) -> None:
    first, _ = queue.submit(request(milestone="T3M"))
    second, created = queue.submit(request(milestone="T6M"))
    assert created is True
    assert second.run_id != first.run_id
    assert queue.counts()["queued"] == 2


def test_a_failed_or_cancelled_job_gives_its_key_to_a_resubmission(queue: JobQueue) -> None:
    failed, _ = queue.submit(request(milestone="T3M"))
    queue.claim("w1")
    queue.fail(failed.run_id, "w1", "LimsRejected: no", transient=False)
    cancelled, _ = queue.submit(request(milestone="T6M"))
    queue.cancel(cancelled.run_id)

    again, created = queue.submit(request(milestone="T3M"))
    assert created is True and again.run_id != failed.run_id and again.state is JobState.QUEUED
    assert queue.get(failed.run_id).state is JobState.FAILED  # the refused run stays as history
    assert queue.find(request(milestone="T3M")) == again
    once_more, created = queue.submit(request(milestone="T3M"))
    assert (once_more.run_id, created) == (again.run_id, False)  # a queued job is not doubled
    renewed, created = queue.submit(request(milestone="T6M"))
    assert created is True and renewed.run_id != cancelled.run_id
    assert queue.get(cancelled.run_id).state is JobState.CANCELLED
    assert queue.find(request(milestone="T9M")) is None


def test_get_unknown_raises_job_not_found(queue: JobQueue) -> None:
    with pytest.raises(JobNotFound, match="run-nope") as caught:
        queue.get("run-nope")
    assert isinstance(caught.value, KeyError)


def test_jobs_survive_reopening(tmp_path: Path) -> None:
    job, _ = JobQueue(tmp_path).submit(request())
    reopened = JobQueue(tmp_path)
    assert reopened.get(job.run_id) == job
    assert reopened.submit(request()) == (job, False)


# -- transitions -------------------------------------------------------------------------------------


def test_claim_then_succeed(queue: JobQueue, clock: FakeClock) -> None:
    job, _ = queue.submit(request())
    clock.advance(1)
    claimed = queue.claim("w1")
    assert claimed is not None
    assert claimed.run_id == job.run_id
    assert claimed.state is JobState.RUNNING
    assert claimed.attempts == 1
    assert claimed.lease_owner == "w1"
    assert claimed.started_at == T0 + timedelta(seconds=1)
    assert claimed.lease_expires_at == T0 + timedelta(seconds=31)
    assert queue.claim("w2") is None

    clock.advance(2)
    done = queue.succeed(job.run_id, "w1", {"document": "DOC-1", "pages": 3})
    assert done.state is JobState.SUCCEEDED
    assert done.result == {"document": "DOC-1", "pages": 3}
    assert done.finished_at == T0 + timedelta(seconds=3)
    assert (done.lease_owner, done.lease_expires_at, done.last_error) == (None, None, None)
    assert queue.get(job.run_id) == done
    assert queue.counts() == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}


def test_result_must_be_json(queue: JobQueue) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    with pytest.raises(TypeError):
        queue.succeed(job.run_id, "w1", {"when": object()})
    assert queue.get(job.run_id).state is JobState.RUNNING


def test_claim_order_is_oldest_first_skipping_jobs_in_backoff(queue: JobQueue, clock: FakeClock) -> None:
    ids = []
    for milestone in ("T1M", "T2M", "T3M"):
        ids.append(queue.submit(request(milestone=milestone))[0].run_id)
        clock.advance(1)
    first = queue.claim("w1")
    assert first is not None and first.run_id == ids[0]
    queue.fail(ids[0], "w1", "LimsUnavailable: timeout", transient=True)  # back off 2 s
    assert [queue.claim("w1"), queue.claim("w1")] == [queue.get(ids[1]), queue.get(ids[2])]
    assert queue.claim("w1") is None
    clock.advance(2)
    again = queue.claim("w1")
    assert again is not None and (again.run_id, again.attempts) == (ids[0], 2)


def test_transient_failures_back_off_exponentially_up_to_the_attempt_bound(
    tmp_path: Path, clock: FakeClock
) -> None:
    queue = JobQueue(tmp_path, max_attempts=4, backoff_base=1, backoff_max=3, clock=clock)
    job, _ = queue.submit(request())
    waits = []
    for attempt in (1, 2, 3):
        claimed = queue.claim("w1")
        assert claimed is not None and claimed.attempts == attempt
        failed = queue.fail(job.run_id, "w1", "LimsUnavailable: 503", transient=True)
        assert failed.state is JobState.QUEUED
        assert failed.last_error == "LimsUnavailable: 503"
        assert failed.lease_owner is None
        wait = (failed.next_attempt_at - clock.now).total_seconds()
        waits.append(wait)
        clock.advance(wait - 0.001)
        assert queue.claim("w1") is None
        clock.advance(0.001)
    assert waits == [1.0, 2.0, 3.0]  # 1, 2, then 4 capped at backoff_max
    last = queue.claim("w1")
    assert last is not None and last.attempts == 4
    final = queue.fail(job.run_id, "w1", "LimsUnavailable: 503", transient=True)
    assert final.state is JobState.FAILED
    assert final.finished_at == clock.now
    assert queue.claim("w1") is None


def test_permanent_failure_fails_at_once(queue: JobQueue) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    failed = queue.fail(job.run_id, "w1", "LimsRejected: study is locked", transient=False)
    assert failed.state is JobState.FAILED
    assert (failed.attempts, failed.last_error) == (1, "LimsRejected: study is locked")
    assert queue.claim("w2") is None


def test_backoff_formula(queue: JobQueue) -> None:
    assert [queue.backoff(n) for n in (1, 2, 3, 4, 5, 6, 200)] == [2, 4, 8, 16, 32, 60, 60]


# -- leases -------------------------------------------------------------------------------------------


def test_heartbeat_extends_the_lease(queue: JobQueue, clock: FakeClock) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    clock.advance(20)
    queue.heartbeat(job.run_id, "w1")
    assert queue.get(job.run_id).lease_expires_at == clock.now + timedelta(seconds=30)
    clock.advance(29)
    assert queue.claim("w2") is None


def test_heartbeat_and_outcome_from_a_non_owner_raise_lease_lost(queue: JobQueue) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    with pytest.raises(LeaseLost):
        queue.heartbeat(job.run_id, "w2")
    with pytest.raises(LeaseLost):
        queue.succeed(job.run_id, "w2", {})
    with pytest.raises(LeaseLost):
        queue.fail(job.run_id, "w2", "x", transient=False)
    queue.succeed(job.run_id, "w1", {})
    with pytest.raises(LeaseLost):
        queue.heartbeat(job.run_id, "w1")
    with pytest.raises(JobNotFound):
        queue.heartbeat("run-nope", "w1")


def test_expired_lease_is_reclaimed_as_a_new_attempt(queue: JobQueue, clock: FakeClock) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    clock.advance(30)
    reclaimed = queue.claim("w2")
    assert reclaimed is not None
    assert (reclaimed.run_id, reclaimed.lease_owner, reclaimed.attempts) == (job.run_id, "w2", 2)
    assert reclaimed.last_error == "worker lost"
    assert reclaimed.started_at == T0
    with pytest.raises(LeaseLost):
        queue.heartbeat(job.run_id, "w1")
    with pytest.raises(LeaseLost):
        queue.succeed(job.run_id, "w1", {"late": True})
    done = queue.succeed(job.run_id, "w2", {"ok": True})
    assert (done.state, done.result, done.attempts) == (JobState.SUCCEEDED, {"ok": True}, 2)


def test_lease_expiry_with_no_attempts_left_fails_the_job(tmp_path: Path, clock: FakeClock) -> None:
    queue = JobQueue(tmp_path, lease_seconds=10, max_attempts=2, clock=clock)
    job, _ = queue.submit(request())
    queue.claim("w1")
    clock.advance(10)
    assert queue.claim("w2") is not None
    clock.advance(10)
    assert queue.claim("w3") is None
    lost = queue.get(job.run_id)
    assert (lost.state, lost.attempts, lost.last_error) == (JobState.FAILED, 2, "worker lost")
    assert (lost.lease_owner, lost.finished_at) == (None, clock.now)


# -- cancel, list, counts -----------------------------------------------------------------------------


def test_cancel_queued_and_running_jobs(queue: JobQueue) -> None:
    queued, _ = queue.submit(request(milestone="T1M"))
    cancelled = queue.cancel(queued.run_id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.finished_at is not None
    assert queue.cancel(queued.run_id) == cancelled
    assert queue.claim("w1") is None

    running, _ = queue.submit(request(milestone="T2M"))
    queue.claim("w1")
    assert queue.cancel(running.run_id).lease_owner is None
    with pytest.raises(LeaseLost):
        queue.succeed(running.run_id, "w1", {})
    assert queue.get(running.run_id).state is JobState.CANCELLED


def test_finished_jobs_cannot_be_cancelled(queue: JobQueue) -> None:
    job, _ = queue.submit(request())
    queue.claim("w1")
    queue.succeed(job.run_id, "w1", {})
    with pytest.raises(InvalidTransition):
        queue.cancel(job.run_id)
    with pytest.raises(JobNotFound):
        queue.cancel("run-nope")


def test_list_is_newest_first_and_filters_by_state(queue: JobQueue, clock: FakeClock) -> None:
    ids = []
    for milestone in ("T1M", "T2M", "T3M"):
        ids.append(queue.submit(request(milestone=milestone))[0].run_id)
        clock.advance(1)
    queue.claim("w1")
    assert [job.run_id for job in queue.list()] == ids[::-1]
    assert [job.run_id for job in queue.list(limit=2)] == [ids[2], ids[1]]
    assert [job.run_id for job in queue.list(JobState.RUNNING)] == [ids[0]]
    assert [job.run_id for job in queue.list(JobState.QUEUED)] == [ids[2], ids[1]]
    assert queue.list(limit=0) == []
    assert queue.counts() == {"queued": 2, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert queue.next_due() == T0 + timedelta(seconds=1)


def test_bad_settings_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        JobQueue(tmp_path, lease_seconds=0)
    with pytest.raises(ValueError):
        JobQueue(tmp_path, max_attempts=0)
    with pytest.raises(ValueError):
        JobQueue(tmp_path, backoff_base=10, backoff_max=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "jobs.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(QueueError):
        JobQueue(tmp_path / "bad")
    with pytest.raises(ValueError):
        JobQueue(tmp_path, clock=lambda: datetime(2025, 1, 1)).submit(request())
    with pytest.raises(ValueError):
        JobQueue(tmp_path).claim("")


# -- concurrency --------------------------------------------------------------------------------------


def _claim_all(queue: JobQueue, worker_id: str, out: list[Job]) -> None:
    while (job := queue.claim(worker_id)) is not None:
        out.append(job)
        queue.succeed(job.run_id, worker_id, {"by": worker_id})
    queue.close()


def test_concurrent_threads_never_claim_the_same_job(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, busy_timeout=10)
    submitted = {queue.submit(request(milestone=f"M{i}"))[0].run_id for i in range(60)}
    barrier = threading.Barrier(6)
    claimed: dict[str, list[Job]] = {f"t{i}": [] for i in range(6)}

    def work(worker_id: str) -> None:
        barrier.wait()
        _claim_all(queue, worker_id, claimed[worker_id])

    threads = [threading.Thread(target=work, args=(worker_id,)) for worker_id in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    all_ids = [job.run_id for jobs in claimed.values() for job in jobs]
    assert sorted(all_ids) == sorted(submitted)
    for worker_id, jobs in claimed.items():
        assert all(queue.get(job.run_id).result == {"by": worker_id} for job in jobs)
    assert queue.counts()["succeeded"] == 60


def test_claims_take_turns_under_a_busy_writer(tmp_path: Path) -> None:
    """A claimer waits for another connection's write transaction instead of failing."""
    queue = JobQueue(tmp_path, busy_timeout=5)
    queue.submit(request())
    other = JobQueue(tmp_path, busy_timeout=5)
    start = time.monotonic()
    result: list[Job | None] = []
    claimer = threading.Thread(target=lambda: result.append(queue.claim("w1")))
    with other._db.write():
        claimer.start()
        time.sleep(0.2)
        assert result == []
    claimer.join()
    assert time.monotonic() - start >= 0.2
    assert result[0] is not None and result[0].lease_owner == "w1"
