"""Running a step synchronously on this machine (``limsai run`` and the demo): the same queue, runner,
gateway and audit log as the service, with an in-process worker that drains the queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limsai.lims.port import Scope
from limsai.runtime.queue import Job, JobQueue, RecordRef, RunRequest
from limsai.runtime.registry import StepRegistry, load_registry
from limsai.runtime.settings import Settings, load_settings

DRAIN_TIMEOUT_S = 600.0


def parse_record(ref: str) -> RecordRef:
    """``study:STB-001`` → ``RecordRef(type="study", id="STB-001")``."""
    kind, sep, ident = ref.partition(":")
    if not sep or not ident:
        raise ValueError(f"record {ref!r} must be <type>:<id>, e.g. study:STB-001")
    return RecordRef.model_validate({"type": kind, "id": ident})


def parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter {pair!r} must be name=value")
        params[name] = value
    return params


def default_user(settings: Settings, lims: str, study_id: str) -> str:
    """The study director of a study in the work directory's embedded LIMS (other LIMS need --as)."""
    from limsai.workdir import open_lims

    instance = settings.lims.get(lims)
    if instance is None or instance.vendor != "embedded":
        raise ValueError(f"--as USER is required for LIMS {lims!r}")
    store = open_lims(settings.workdir)
    sponsor = store.study_sponsors().get(study_id)
    if sponsor is None:
        raise ValueError(f"study {study_id} is not in {lims}")
    director = store.list_studies(Scope(sponsor_id=sponsor, study_id=study_id))[0].study_director
    store.close()
    if director is None:
        raise ValueError(f"study {study_id} has no study director; pass --as USER")
    return director


def run_synchronously(
    workdir: Path,
    *,
    step: str,
    lims: str,
    record: str,
    user: str | None,
    milestone: str = "",
    params: list[str] | None = None,
    registry: StepRegistry | None = None,
    settings: Settings | None = None,
) -> Job:
    """Queue one run and work the queue until it has finished; returns the final job."""
    from limsai.runtime.logs import configure
    from limsai.runtime.runner import StepRunner
    from limsai.runtime.worker import drain

    settings = settings or load_settings(workdir)
    configure(settings.log_file)
    registry = registry or load_registry()
    ref = parse_record(record)
    parameters = parse_params(params or [])
    registry.validate_params(step, parameters)
    request = RunRequest(
        step=step,
        lims=lims,
        record=ref,
        milestone=milestone,
        requested_by=user or default_user(settings, lims, ref.id),
        parameters=parameters,
    )
    queue = JobQueue(workdir, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
    job, _ = queue.submit(request)
    drain(queue, StepRunner(settings, registry).handle, "local", timeout=DRAIN_TIMEOUT_S)
    return queue.get(job.run_id)
