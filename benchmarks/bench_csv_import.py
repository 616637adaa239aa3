"""Benchmark: read and import a 100,000-row long CSV into a fresh embedded LIMS.

Prints one JSON document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

ROWS = 100_000


def main() -> None:
    from limsai.lims.csv_import import import_csv, read_csv_dataset
    from limsai.lims.embedded import EmbeddedLims
    from limsai.testing.factories import write_long_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.csv"
        write_long_csv(path, ROWS)
        started = time.perf_counter()
        read_csv_dataset(path)
        read_seconds = time.perf_counter() - started
        lims = EmbeddedLims(Path(tmp) / "lims.db")
        started = time.perf_counter()
        summary = import_csv(lims, path)
        import_seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "benchmark": "csv_import_100k",
                    "rows": summary.rows,
                    "read_seconds": round(read_seconds, 2),
                    "import_seconds": round(import_seconds, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
