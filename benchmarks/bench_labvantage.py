"""Benchmark: read every result of a ~20,000-result study through the LabVantage adapter over the
simulator; prints one JSON line (wall time, HTTP calls, pages). Calls must track pages, not samples.

    .venv/bin/python benchmarks/bench_labvantage.py [--results 20000] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import StudyScope
from limsai.testing.factories import bulk_results, tiny_dataset
from limsai_labvantage.harness import simulated_adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        dataset = tiny_dataset()
        bulk_results(dataset, dataset.studies[0], args.results)
        with EmbeddedLims(workdir / "lims.db") as store:
            store.load(dataset, actor="system:bench")
        scope = StudyScope(sponsor_id=dataset.studies[0].sponsor_id, study_id=dataset.studies[0].study_id)
        with simulated_adapter(workdir, page_size=args.page_size) as (adapter, simulator):
            adapter.get_study(scope)  # opens the connection
            before_calls, before_requests = adapter.http_calls, simulator.requests
            started = time.perf_counter()
            results = adapter.list_results(scope)
            seconds = time.perf_counter() - started
            calls = adapter.http_calls - before_calls
            served = simulator.requests - before_requests
    print(
        json.dumps(
            {
                "benchmark": "labvantage_list_results",
                "results": len(results),
                "page_size": args.page_size,
                "pages": math.ceil(len(results) / args.page_size),
                "http_calls": calls,
                "server_requests": served,
                "seconds": round(seconds, 3),
                "results_per_second": round(len(results) / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
