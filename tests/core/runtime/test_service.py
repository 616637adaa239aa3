"""The callout service on a real uvicorn server on loopback: HMAC authentication (401 problem+json for
unsigned, wrongly signed, expired and replayed requests, creating nothing), a signed run to
``succeeded`` with its draft in the embedded LIMS, and idempotent submissions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from limsai.lims.port import Scope
from limsai.testing.service import get_signed, post_run, running_service, signed_headers
from limsai.workdir import open_lims

SECRET = "s3cret-for-the-embedded-lims-caller-0123456789"
STUDY = "AUR-STB-014"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("svc")
    subprocess.run(
        [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", str(workdir)],
        check=True,
        capture_output=True,
    )
    with running_service(workdir, {"embedded": SECRET}) as base:
        yield base, workdir


def run_body(milestone: str = "T24 pull complete", **over: Any) -> dict[str, Any]:
    return {
        "step": "status.update",
        "lims": "embedded",
        "record": {"type": "study", "id": STUDY},
        "milestone": milestone,
        "requested_by": "hgreco",
        "parameters": {},
        **over,
    }


def jobs(workdir: Path) -> int:
    import sqlite3

    path = workdir / "jobs.db"
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


def wait_done(base: str, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = get_signed(base, f"/v1/runs/{run_id}", "embedded", SECRET).json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def test_health_and_readiness(service: tuple[str, Path]) -> None:
    base, _ = service
    assert requests.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
    assert requests.get(f"{base}/readyz", timeout=5).json()["status"] == "ready"


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong-secret", "expired", "future", "unknown-instance", "tampered"]
)
def test_bad_signatures_get_401_problem_and_create_nothing(service: tuple[str, Path], case: str) -> None:
    base, workdir = service
    before = jobs(workdir)
    body = json.dumps(run_body(milestone=f"auth-{case}")).encode()
    headers = signed_headers("embedded", SECRET, body)
    if case == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif case == "wrong-secret":
        headers = signed_headers("embedded", "not-the-secret-at-all-0123456789abcdef", body)
    elif case == "expired":
        headers = signed_headers("embedded", SECRET, body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = signed_headers("embedded", SECRET, body, timestamp=int(time.time()) + 301)
    elif case == "unknown-instance":
        headers = signed_headers("labware-prod", SECRET, body)
    elif case == "tampered":
        body = body.replace(b"AUR-STB-014", b"AUR-STB-019")
    response = requests.post(f"{base}/v1/runs", data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 401 and problem["type"] == "urn:limsai:problem:unauthenticated"
    assert jobs(workdir) == before


def test_replayed_request_is_refused(service: tuple[str, Path]) -> None:
    base, workdir = service
    body = json.dumps(run_body(milestone="replay", record={"type": "study", "id": "AUR-STB-019"})).encode()
    headers = signed_headers("embedded", SECRET, body)
    first = requests.post(f"{base}/v1/runs", data=body, headers=headers, timeout=10)
    assert first.status_code == 202
    before = jobs(workdir)
    again = requests.post(f"{base}/v1/runs", data=body, headers=headers, timeout=10)
    assert again.status_code == 401 and again.json()["reason"] == "replayed"
    assert jobs(workdir) == before


def test_signed_run_succeeds_with_a_draft_and_is_idempotent(service: tuple[str, Path]) -> None:
    base, workdir = service
    accepted = post_run(base, "embedded", SECRET, run_body())
    assert accepted.status_code == 202
    run = accepted.json()
    assert run["status_url"] == f"/v1/runs/{run['run_id']}" and run["created"] is True
    status = wait_done(base, run["run_id"])
    assert status["status"] == "succeeded", status
    assert status["drafts"] and status["tasks"]
    again = post_run(
        base, "embedded", SECRET, run_body(), timestamp=int(time.time()) + 1
    )  # a LIMS retry, signed anew
    assert again.status_code == 200 and again.json()["run_id"] == run["run_id"]
    lims = open_lims(workdir)
    sponsor = lims.study_sponsors()[STUDY]
    documents = lims.list_documents(Scope(sponsor_id=sponsor, study_id=STUDY))
    assert {d.status.value for d in documents} == {"draft"}
    assert sorted(d.document_id for d in documents) == sorted({d["document_id"] for d in status["drafts"]})
    assert len(lims.list_tasks(Scope(sponsor_id=sponsor, study_id=STUDY))) == 1


def test_bad_requests_are_problems(service: tuple[str, Path]) -> None:
    base, workdir = service
    before = jobs(workdir)
    unknown = post_run(base, "embedded", SECRET, run_body(step="no.such.step"))
    assert unknown.status_code == 404 and unknown.json()["type"] == "urn:limsai:problem:unknown-step"
    malformed = post_run(base, "embedded", SECRET, {"step": "status.update"})
    assert malformed.status_code == 422 and malformed.headers["content-type"].startswith(
        "application/problem+json"
    )
    other = post_run(base, "embedded", SECRET, run_body(lims="labware-prod"))
    assert other.status_code == 403
    missing = get_signed(base, "/v1/runs/does-not-exist", "embedded", SECRET)
    assert missing.status_code == 404 and missing.json()["type"] == "urn:limsai:problem:unknown-run"
    assert jobs(workdir) == before


def test_a_read_signature_is_bound_to_its_path(service: tuple[str, Path]) -> None:
    base, _ = service
    headers = signed_headers("embedded", SECRET, b"GET /v1/steps")
    assert requests.get(f"{base}/v1/steps", headers=headers, timeout=10).status_code == 200
    other = requests.get(f"{base}/v1/runs/anything", headers=headers, timeout=10)
    assert other.status_code == 401 and other.json()["reason"] == "bad_signature"


def test_steps_are_listed(service: tuple[str, Path]) -> None:
    base, _ = service
    listed = get_signed(base, "/v1/steps", "embedded", SECRET).json()["steps"]
    assert "status.update" in {s["id"] for s in listed}
