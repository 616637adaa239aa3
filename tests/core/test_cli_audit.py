"""`limsai demo` writes an audit log and ends by verifying it; `limsai audit verify/export/check`
detect tampering, export a record's history with proofs, and check an export without the database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def limsai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limsai.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    proc = limsai("demo", "--workdir", str(workdir))
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("audit log intact:"), last
    return workdir


def entries_of(workdir: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(workdir / "audit.db")
    entries = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM audit_entries ORDER BY seq")]
    conn.close()
    return entries


def test_demo_runs_the_steps_for_every_study_and_audits_them(demo_dir: Path) -> None:
    entries = entries_of(demo_dir)
    started: dict[str, set[str]] = {}
    for e in entries:
        if e["action"] == "step.started":
            started.setdefault(e["agent"]["step_id"], set()).add(e["study_id"])
    assert len(started["status.update"]) == 7 and len(started["package.assemble"]) == 7  # one per study
    assert started["package.release"] == {"AUR-STB-014", "AUR-PK-007"}
    assert {e["action"] for e in entries} == {
        "step.started",
        "read",
        "prompt_loaded",
        "attach_draft",
        "create_task",
        "record_release",
        "release_refused",
        "step.finished",
    }
    assert [e["study_id"] for e in entries if e["action"] == "record_release"] == ["AUR-STB-014"]
    assert [e["study_id"] for e in entries if e["action"] == "release_refused"] == ["AUR-PK-007"]
    assert all(e["actor_type"] == "ai_agent" and e["on_behalf_of"] for e in entries)
    drafted = [
        e for e in entries if e["action"] == "attach_draft" and e["agent"]["step_id"] == "package.assemble"
    ]
    assert drafted and all(e["agent"]["prompt_id"] == "package_executive_summary_template" for e in drafted)
    assert (demo_dir / "keys" / "audit-signing.pub").is_file()
    assert not any(
        "PRIVATE" in line for line in (demo_dir / "audit.db").read_bytes().decode("latin-1").splitlines()
    )


def test_verify_json_and_exit_codes(demo_dir: Path, tmp_path: Path) -> None:
    proc = limsai("audit", "verify", "--workdir", str(demo_dir), "--json")
    report: dict[str, Any] = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"] and report["uncovered"] == 0
    assert report["size"] == len(entries_of(demo_dir)) and report["covered_size"] == report["size"]
    missing = limsai("audit", "verify", "--workdir", str(tmp_path), "--json")
    assert missing.returncode == 3 and "no audit log" in json.loads(missing.stdout)["error"]["message"]


def test_tampering_is_named_by_seq(demo_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    copy.mkdir()
    for name in ("audit.db", "audit-checkpoint.json"):
        (copy / name).write_bytes((demo_dir / name).read_bytes())
    (copy / "keys").mkdir()
    (copy / "keys" / "audit-signing.pub").write_bytes((demo_dir / "keys" / "audit-signing.pub").read_bytes())
    conn = sqlite3.connect(copy / "audit.db")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    entry = conn.execute("SELECT entry FROM audit_entries WHERE seq = 12").fetchone()[0]
    forged = entry.replace('"actor_type":"ai_agent"', '"actor_type":"human"')
    assert forged != entry
    conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = 12", (forged,))
    conn.commit()
    conn.close()
    proc = limsai("audit", "verify", "--workdir", str(copy))
    assert proc.returncode == 1
    assert "FAILED verification at seq 12" in proc.stdout


def test_export_round_trips_through_the_offline_check(demo_dir: Path, tmp_path: Path) -> None:
    html = tmp_path / "export.html"
    proc = limsai(
        "audit", "export", "--workdir", str(demo_dir), "--record", "study/AUR-STB-014", "--html", str(html)
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    expected = [e for e in entries_of(demo_dir) if e["record"].startswith("study/AUR-STB-014")]
    assert len(document["entries"]) == len(expected) > 0
    page = html.read_text(encoding="utf-8")
    assert "<html" in page.lower() and document["entries"][0]["leaf_hash"] in page
    exported = tmp_path / "export.json"
    exported.write_text(proc.stdout, encoding="utf-8")
    ok = limsai("audit", "check", str(exported), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"ok": True, "problems": []}
    document["entries"][0]["entry"] = document["entries"][0]["entry"].replace("AUR-STB-014", "AUR-STB-019")
    exported.write_text(json.dumps(document), encoding="utf-8")
    bad = limsai("audit", "check", str(exported), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["problems"]
