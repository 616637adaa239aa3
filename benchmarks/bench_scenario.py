"""Benchmark: generate the reference CRO scenario at natural size and scaled to 100,000 results
(generation only, no LIMS), and serialise it canonically.

Target: ``generate(results=100_000)`` well under 20 s on the 2-core machine (aim: under 10 s).
Prints one JSON document; ``benchmarks/run.py`` collects it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
SCALED = 100_000


def timed(action: Callable[[], T], repeat: int) -> tuple[T, list[float]]:
    """The last result of ``action`` and the wall time of each of ``repeat`` runs."""
    seconds: list[float] = []
    result: T | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    assert result is not None
    return result, seconds


def figures(seconds: list[float]) -> dict[str, float]:
    return {"best": round(min(seconds), 3), "median": round(statistics.median(seconds), 3)}


def main() -> None:
    from limsai.lims.scenario import generate

    natural, natural_gen = timed(generate, repeat=5)
    natural_bytes, natural_json = timed(natural.to_json_bytes, repeat=3)
    scaled, scaled_gen = timed(lambda: generate(results=SCALED), repeat=2)
    scaled_bytes, scaled_json = timed(scaled.to_json_bytes, repeat=1)
    _, scaled_check = timed(scaled.dataset.problems, repeat=1)
    print(
        json.dumps(
            {
                "benchmark": "scenario_generate",
                "natural_results": len(natural.dataset.results),
                "natural_generate_s": figures(natural_gen),
                "natural_json_s": figures(natural_json),
                "natural_json_mb": round(len(natural_bytes) / 1e6, 2),
                "scaled_requested": SCALED,
                "scaled_results": len(scaled.dataset.results),
                "scaled_records": sum(scaled.dataset.counts().values()),
                "scaled_generate_s": figures(scaled_gen),
                "scaled_json_s": figures(scaled_json),
                "scaled_json_mb": round(len(scaled_bytes) / 1e6, 1),
                "scaled_problems_check_s": figures(scaled_check),
                "target_seconds": 20,
            }
        )
    )


if __name__ == "__main__":
    main()
