"""Benchmark: the cost of governance on a large read — all results of a 100,002-result study read
directly from the embedded LIMS and through the scoped gateway with a real audit log.

Prints one JSON document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

N = 100_000


def main() -> None:
    from limsai.governance.audit_log import AuditLog
    from limsai.governance.context import ClientProjectContext
    from limsai.governance.gateway import ScopedGateway
    from limsai.governance.identity import AgentIdentity
    from limsai.governance.policy import RolloutPhase
    from limsai.lims.embedded import EmbeddedLims
    from limsai.lims.port import StudyScope
    from limsai.testing.factories import bulk_results, tiny_dataset

    with tempfile.TemporaryDirectory() as tmp:
        ds = tiny_dataset()
        bulk_results(ds, ds.studies[0], N)
        lims = EmbeddedLims(Path(tmp) / "lims.db")
        lims.load(ds, actor="system:bench")
        scope = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
        started = time.perf_counter()
        direct = len(lims.list_results(scope))  # the list is dropped: both reads start from the same heap
        direct_s = time.perf_counter() - started
        audit = AuditLog(Path(tmp))
        ctx = ClientProjectContext.for_study(
            lims,
            scope,
            user_id="sd.a",
            agent=AgentIdentity(step_id="bench.read", step_version="1"),
            rollout_phase=RolloutPhase.READ_ONLY,
            run_id="bench",
        )
        gateway = ScopedGateway(lims, ctx, audit)
        started = time.perf_counter()
        governed = len(gateway.list_results())
        gateway_s = time.perf_counter() - started
        assert governed == direct
        print(
            json.dumps(
                {
                    "benchmark": "gateway_read_100k",
                    "results": direct,
                    "direct_seconds": round(direct_s, 2),
                    "gateway_seconds": round(gateway_s, 2),
                    "overhead_seconds": round(gateway_s - direct_s, 2),
                    "audit_entries_written": audit.size(),
                }
            )
        )


if __name__ == "__main__":
    main()
