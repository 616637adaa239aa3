"""The runtime's command line: `limsai steps`, `limsai run`, `limsai config check`, the OpenAPI
document kept in the repository, and the demo's second run writing no second draft."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.port import Scope
from limsai.runtime.openapi import openapi_document
from limsai.workdir import open_lims

ROOT = Path(__file__).resolve().parents[3]


def limsai(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "limsai.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("rt")
    assert limsai("scenario", "seed", "--workdir", str(workdir)).returncode == 0
    return workdir


def test_openapi_document_in_the_repository_is_current() -> None:
    kept = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert kept == json.loads(json.dumps(openapi_document(), sort_keys=True)), (
        "regenerate: python -m limsai.runtime.openapi > docs/openapi.json"
    )
    assert {"/v1/runs", "/v1/runs/{run_id}", "/v1/steps", "/healthz", "/readyz"} <= set(kept["paths"])


def test_steps_lists_status_update() -> None:
    proc = limsai("steps", "--json")
    steps = {s["id"]: s for s in json.loads(proc.stdout)["steps"]}
    assert (
        steps["status.update"]["phase"] == "read-only"
        and "data.read" in steps["status.update"]["permissions"]
    )


def test_run_synchronously_then_again_writes_nothing_new(seeded: Path) -> None:
    first = limsai(
        "run",
        "status.update",
        "--workdir",
        str(seeded),
        "--record",
        "study:BOR-STB-022",
        "--milestone",
        "T18 pull complete",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    status: dict[str, Any] = json.loads(first.stdout)
    assert status["status"] == "succeeded" and status["requested_by"] and len(status["drafts"]) == 3
    assert status["summary"]["overdue_pulls"] >= 1
    lims = open_lims(seeded)
    scope = Scope(sponsor_id="SPN-BOREAL", study_id="BOR-STB-022")
    docs = len(lims.list_documents(scope))
    again = limsai(
        "run",
        "status.update",
        "--workdir",
        str(seeded),
        "--record",
        "study:BOR-STB-022",
        "--milestone",
        "T18 pull complete",
        "--json",
    )
    assert json.loads(again.stdout)["run_id"] == status["run_id"]
    assert len(lims.list_documents(scope)) == docs and len(lims.list_tasks(scope)) == 1
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if "sponsor_id" in e] == ["step started", "step finished"]
    allowed = {
        "time",
        "level",
        "event",
        "run_id",
        "step",
        "lims",
        "sponsor_id",
        "study_id",
        "attempt",
        "worker",
        "drafts",
        "tasks",
    }  # identifiers and counts only: never result values or document text
    for event in events:
        assert set(event) <= allowed and event.get("run_id", status["run_id"]) == status["run_id"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["no.such.step", "--record", "study:BOR-STB-022"], "status.update"),
        (["status.update", "--record", "BOR-STB-022"], "must be <type>:<id>"),
        (["status.update", "--record", "study:NOPE-1"], "NOPE-1"),
        (["status.update", "--record", "study:BOR-STB-022", "--param", "as_of=yesterday"], "as_of"),
        (["status.update", "--record", "study:BOR-STB-022", "--lims", "labware-prod"], "labware-prod"),
    ],
)
def test_run_refuses_bad_input(seeded: Path, args: list[str], message: str) -> None:
    proc = limsai("run", *args, "--workdir", str(seeded), "--json")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_config_check(seeded: Path, tmp_path: Path) -> None:
    warn = limsai("config", "check", "--workdir", str(seeded), "--json")
    report = json.loads(warn.stdout)
    assert warn.returncode == 0 and report["ok"] and any("caller" in p["message"] for p in report["problems"])
    (tmp_path / "limsai.toml").write_text(
        'rollout_phase = "sideways"\n[callers.lw]\nsecret_ref = "env:NOPE"\n'
    )
    bad = limsai("config", "check", "--workdir", str(tmp_path), "--json")
    assert bad.returncode == 3 and not json.loads(bad.stdout)["ok"]
    ok = limsai("config", "check", "--workdir", str(seeded), env={"LIMSAI_CALLER_EMBEDDED_SECRET": "x" * 40})
    assert ok.returncode == 0 and "configuration OK" in ok.stdout


def test_a_user_without_the_steps_permissions_is_refused_before_it_runs(seeded: Path) -> None:
    import sqlite3

    lims = open_lims(seeded)
    analyst = next(u for u in lims.list_users() if u.roles == ("analyst",) and "SPN-AURORA" in u.sponsors)
    scope = Scope(sponsor_id="SPN-AURORA", study_id="AUR-STB-019")
    before = len(lims.list_documents(scope))
    proc = limsai(
        "run",
        "status.update",
        "--workdir",
        str(seeded),
        "--record",
        "study:AUR-STB-019",
        "--as",
        analyst.user_id,
        "--json",
    )
    status = json.loads(proc.stdout)
    assert proc.returncode == 4 and status["status"] == "failed" and status["attempts"] == 1
    assert status["error"] == f"PermissionDenied: {analyst.user_id}'s roles do not grant tasks.create"
    assert len(lims.list_documents(scope)) == before  # refused before anything was read or written
    conn = sqlite3.connect(seeded / "audit.db")
    refused = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM audit_entries")]
    conn.close()
    refused = [e for e in refused if e["action"] == "step.refused" and e["run_id"] == status["run_id"]]
    assert len(refused) == 1 and refused[0]["on_behalf_of"] == analyst.user_id
