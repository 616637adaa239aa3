"""The callout service: how a click in a LIMS becomes a queued, governed step run.

LIMS instances call ``POST /v1/runs`` with a body signed by HMAC-SHA256 (``limsai.runtime.auth``;
reads sign ``"<METHOD> <path>"`` in place of the empty body and may be repeated, for polling); the
service queues the run (idempotent on LIMS instance + record + step + milestone) and answers 202 with
a status URL; in-process workers run queued jobs through the governance layer. Every error is
``application/problem+json`` (RFC 9457). ``/healthz`` says the process is up; ``/readyz`` says the
queue, the audit log and the caller configuration are usable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from limsai import __version__
from limsai.runtime.auth import AuthError, ReplayGuard, read_payload, verify_request
from limsai.runtime.plugins import LimsaiPluginManager, load_plugins
from limsai.runtime.queue import Job, JobNotFound, JobQueue, JobState, RunRequest
from limsai.runtime.registry import BadParameters, StepRegistry, UnknownStep, load_registry
from limsai.runtime.settings import Settings, SettingsError, load_settings

PROBLEM = "application/problem+json"
WORKDIR_ENV = "LIMSAI_WORKDIR"
WORKERS_ENV = "LIMSAI_SERVICE_WORKERS"


class Problem(Exception):
    """An error answered as problem+json."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = status, slug, title, detail, extra


def problem_response(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:limsai:problem:{slug}", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class RunAccepted(BaseModel):
    run_id: str
    status: JobState
    status_url: str
    created: bool


class RunStatus(BaseModel):
    run_id: str
    step: str
    lims: str
    record: dict[str, str]
    milestone: str
    requested_by: str
    status: JobState
    attempts: int
    created_at: str
    updated_at: str
    summary: dict[str, Any] | None = None
    drafts: list[dict[str, Any]] = []
    tasks: list[str] = []
    error: str | None = None


def run_status(job: Job) -> RunStatus:
    result = job.result or {}
    return RunStatus(
        run_id=job.run_id,
        step=job.request.step,
        lims=job.request.lims,
        record=job.request.record.model_dump(mode="json"),
        milestone=job.request.milestone,
        requested_by=job.request.requested_by,
        status=job.state,
        attempts=job.attempts,
        created_at=job.created_at.isoformat(),
        updated_at=job.updated_at.isoformat(),
        summary=result.get("summary"),
        drafts=result.get("drafts", []),
        tasks=result.get("tasks", []),
        error=job.last_error,
    )


def create_app(
    settings: Settings,
    *,
    workers: int = 1,
    registry: StepRegistry | None = None,
    plugin_manager: LimsaiPluginManager | None = None,
) -> FastAPI:
    """The service for one work directory, with ``workers`` in-process job workers (0: queue only).
    Routes that plugins contribute (``limsai_routes``, e.g. a Benchling webhook) are mounted too."""
    from limsai.runtime.runner import StepRunner
    from limsai.runtime.worker import run_worker

    plugins = plugin_manager or load_plugins()
    steps = registry or load_registry(plugins)
    queue = JobQueue(
        settings.workdir, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts
    )
    guard = ReplayGuard(settings.workdir / "callers.db")
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner = StepRunner(settings, steps)
        threads = [
            threading.Thread(
                target=run_worker,
                args=(queue, runner.handle, f"{os.getpid()}-{i}"),
                kwargs={"stop": stop},
                name=f"limsai-worker-{i}",
                daemon=True,
            )
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    app = FastAPI(
        title="limsai callout service",
        version=__version__,
        description=__doc__,
        lifespan=lifespan,
    )

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, "http", str(exc.detail), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            "invalid-request",
            "Invalid request",
            "the request is malformed",
            errors=jsonable(exc.errors()),
        )

    def secret_for(name: str) -> bytes | None:
        try:
            return settings.caller_secret(name)
        except SettingsError as exc:
            raise Problem(503, "caller-misconfigured", "Caller misconfigured", str(exc)) from exc

    async def caller(request: Request) -> tuple[str, bytes]:
        """Authenticate the LIMS instance: POST signs its body (replay-guarded); GET signs its
        method and path (``auth.read_payload``), so a LIMS can poll."""
        body = await request.body()
        writes = request.method == "POST"
        try:
            instance = verify_request(
                request.headers,
                body if writes else read_payload(request.method, request.url.path),
                secret_for=secret_for,
                guard=guard if writes else None,
                window_seconds=settings.signature_window_seconds,
            )
        except AuthError as exc:
            raise Problem(401, "unauthenticated", "Unauthenticated", str(exc), reason=exc.reason) from exc
        return instance, body

    for name, router in plugins.contributions("limsai_routes"):
        app.include_router(router, prefix=f"/plugins/{name}", tags=[f"plugin:{name}"])

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """The queue and audit log are usable and at least one LIMS caller is configured."""
        problems: list[str] = []
        try:
            await run_in_threadpool(queue.counts)
        except Exception as exc:
            problems.append(f"job queue: {exc}")
        if not settings.callers:
            problems.append("no LIMS callers are configured; every request would be refused")
        if problems:
            return problem_response(503, "not-ready", "Not ready", "; ".join(problems))
        return JSONResponse({"status": "ready", "steps": len(steps.list())})

    @app.get("/v1/steps", tags=["steps"])
    async def list_steps(request: Request) -> dict[str, Any]:
        """The steps this service can run."""
        await caller(request)
        return {
            "steps": [
                {
                    "id": s.id,
                    "version": s.version,
                    "title": s.title,
                    "description": s.description,
                    "phase": s.phase.value,
                    "permissions": sorted(p.value for p in s.permissions),
                    "capabilities": sorted(c.value for c in s.capabilities),
                    "parameters": s.input_model.model_json_schema(),
                }
                for s in steps.list()
            ]
        }

    @app.post(
        "/v1/runs",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": RunRequest.model_json_schema()}},
            }
        },
    )
    async def submit(request: Request) -> JSONResponse:
        """Queue a step run for a LIMS record (idempotent on LIMS instance + record + step + milestone)."""
        instance, body = await caller(request)
        try:
            run = RunRequest.model_validate_json(body)
        except ValidationError as exc:
            raise Problem(
                422,
                "invalid-run",
                "Invalid run request",
                "the run request is malformed",
                errors=jsonable(exc.errors()),
            ) from exc
        if run.lims != instance:
            raise Problem(
                403,
                "wrong-instance",
                "Forbidden",
                f"caller {instance!r} may only start runs on its own LIMS, not {run.lims!r}",
            )
        try:
            steps.validate_params(run.step, run.parameters)
        except UnknownStep as exc:
            raise Problem(404, "unknown-step", "Unknown step", str(exc)) from exc
        except BadParameters as exc:
            raise Problem(422, "bad-parameters", "Invalid step parameters", str(exc)) from exc
        job, created = await run_in_threadpool(queue.submit, run)
        accepted = RunAccepted(
            run_id=job.run_id, status=job.state, status_url=f"/v1/runs/{job.run_id}", created=created
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202 if created else 200)

    @app.get("/v1/runs/{run_id}", response_model=RunStatus, tags=["runs"])
    async def get_run(run_id: str, request: Request) -> RunStatus:
        """A run's status, findings summary, draft references and review task."""
        instance, _ = await caller(request)
        try:
            job = await run_in_threadpool(queue.get, run_id)
        except JobNotFound as exc:
            raise Problem(404, "unknown-run", "Unknown run", f"no run {run_id}") from exc
        if job.request.lims != instance:
            raise Problem(404, "unknown-run", "Unknown run", f"no run {run_id}")
        return run_status(job)

    return app


def jsonable(errors: Any) -> Any:
    """Validation errors without the exception objects pydantic may embed."""
    import json

    return json.loads(json.dumps(errors, default=str))


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one per uvicorn worker process): the work directory and the
    number of job workers come from the environment the ``limsai serve`` command sets."""
    from limsai.runtime.logs import configure

    settings = load_settings(Path(os.environ[WORKDIR_ENV]))
    configure(settings.log_file)
    return create_app(settings, workers=int(os.environ.get(WORKERS_ENV, "2")))
