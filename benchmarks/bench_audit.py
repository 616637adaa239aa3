"""Benchmark: the audit log at 100,000 entries — single appends (each its own transaction), one
``append_many`` transaction, a checkpoint, and a full ``verify()``.

Targets: ≥ 5,000 single appends/s and a full verify of 100,000 entries in < 10 s on the 2-core
machine. Prints one JSON document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from limsai.governance.audit_log import AuditLog
from limsai.governance.audit_record import AuditRecord
from limsai.governance.identity import ActorType, AgentIdentity

ENTRIES = 100_000


def _records(n: int) -> list[AuditRecord]:
    agent = AgentIdentity(step_id="stability-summary", step_version="1.2.0", model_id="local-llm-7b")
    return [
        AuditRecord(
            actor_type=ActorType.AI_AGENT,
            actor_id=agent.actor_id,
            on_behalf_of="u.analyst",
            agent=agent,
            sponsor_id=f"SP-{i % 3}",
            study_id=f"ST-{i % 40}",
            action="draft.create",
            record=f"document/DOC-{i % 500}/v{i % 4 + 1}",
            new_hash=f"{i:064x}",
            reason="scheduled stability summary",
            run_id=f"run-{i // 100}",
            details={"pages": i % 30, "template": "stability-summary@3"},
        )
        for i in range(n)
    ]


def main() -> None:
    records = _records(ENTRIES)
    with tempfile.TemporaryDirectory() as tmp:
        log = AuditLog(Path(tmp) / "single")
        started = time.perf_counter()
        for record in records:
            log.append(record)
        append_seconds = time.perf_counter() - started
        started = time.perf_counter()
        log.checkpoint()
        checkpoint_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = log.verify()
        verify_seconds = time.perf_counter() - started
        db_mb = (Path(tmp) / "single" / "audit.db").stat().st_size / 1e6
        log.close()

        batch = AuditLog(Path(tmp) / "batch")
        started = time.perf_counter()
        for i in range(0, ENTRIES, 1000):
            batch.append_many(records[i : i + 1000])
        many_seconds = time.perf_counter() - started
        batch.close()
    print(
        json.dumps(
            {
                "benchmark": "audit_log_100k",
                "entries": ENTRIES,
                "single_appends_per_s": round(ENTRIES / append_seconds),
                "target_appends_per_s": 5000,
                "append_many_per_s": round(ENTRIES / many_seconds),
                "append_many_batch": 1000,
                "checkpoint_seconds": round(checkpoint_seconds, 2),
                "verify_seconds": round(verify_seconds, 2),
                "target_verify_seconds": 10,
                "verify_ok": report.ok,
                "db_mb": round(db_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
