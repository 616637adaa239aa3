"""Benchmark: seed the embedded LIMS with a 100,000-result scenario through the CLI, then read the
largest study's results through the port and count the queries it took.

Target (issue 2): `limsai scenario seed --results 100000` under 60 s on the 2-core machine.
Prints one JSON document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = 100_000


def main() -> None:
    from limsai.lims.embedded import EmbeddedLims
    from limsai.lims.port import Scope

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "limsai.cli",
                "scenario",
                "seed",
                "--workdir",
                str(workdir),
                "--results",
                str(RESULTS),
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        seed_seconds = time.perf_counter() - started
        lims = EmbeddedLims(workdir / "lims.db")
        counts = {
            (s.sponsor_id, s.study_id): lims.count(
                "results", Scope(sponsor_id=s.sponsor_id, study_id=s.study_id)
            )
            for sp in lims.list_sponsors()
            for s in lims.list_studies(Scope(sponsor_id=sp.sponsor_id))
        }
        (sponsor, study), biggest = max(counts.items(), key=lambda kv: kv[1])
        before = lims.query_count
        started = time.perf_counter()
        results = lims.list_results(Scope(sponsor_id=sponsor, study_id=study))
        read_seconds = time.perf_counter() - started
        queries = lims.query_count - before
        print(
            json.dumps(
                {
                    "benchmark": "seed_100k",
                    "results_total": sum(counts.values()),
                    "seed_seconds": round(seed_seconds, 2),
                    "target_seconds": 60,
                    "largest_study": study,
                    "largest_study_results": len(results),
                    "read_seconds": round(read_seconds, 2),
                    "read_queries": queries,
                    "pages_expected": math.ceil(biggest / lims.page_size),
                    "db_mb": round((workdir / "lims.db").stat().st_size / 1e6, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
