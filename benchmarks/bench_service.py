"""Benchmark: the callout service on a real uvicorn server on loopback — 1,000 HMAC-signed run
submissions (each verified, replay-guarded and queued), then the p50/p99 latency of
``GET /v1/runs/{id}``. Job workers are off so that the figures are the service's own.

Target (issue 4): at least 200 accepted submissions/s. Prints one JSON document.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

SUBMISSIONS = 1_000
SECRET = "benchmark-caller-secret-0123456789abcdef"


def main() -> None:
    from limsai.runtime.auth import read_payload
    from limsai.testing.service import running_service, signed_headers

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", tmp],
            check=True,
            capture_output=True,
        )
        with (
            running_service(workdir, {"embedded": SECRET}, job_workers=0) as base,
            requests.Session() as http,
        ):
            run_ids: list[str] = []
            started = time.perf_counter()
            for i in range(SUBMISSIONS):
                body = json.dumps(
                    {
                        "step": "status.update",
                        "lims": "embedded",
                        "record": {"type": "study", "id": "AUR-STB-014"},
                        "milestone": f"bench-{i}",
                        "requested_by": "hgreco",
                        "parameters": {},
                    }
                ).encode()
                response = http.post(
                    f"{base}/v1/runs", data=body, headers=signed_headers("embedded", SECRET, body)
                )
                if response.status_code != 202:
                    raise SystemExit(f"submission {i} got {response.status_code}: {response.text}")
                run_ids.append(response.json()["run_id"])
            submit_s = time.perf_counter() - started
            latencies = []
            for run_id in run_ids:
                path = f"/v1/runs/{run_id}"
                headers = signed_headers("embedded", SECRET, read_payload("GET", path))
                t0 = time.perf_counter()
                response = http.get(f"{base}{path}", headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path} got {response.status_code}")
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            json.dumps(
                {
                    "benchmark": "service_1000_submissions",
                    "submissions": SUBMISSIONS,
                    "accepted_per_s": round(SUBMISSIONS / submit_s, 1),
                    "target_accepted_per_s": 200,
                    "get_run_p50_ms": round(quantiles[49], 2),
                    "get_run_p99_ms": round(quantiles[98], 2),
                }
            )
        )


if __name__ == "__main__":
    main()
