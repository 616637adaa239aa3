"""Benchmark: stability statistics — ICH Q1E shelf life on a four-batch LeBlond (2011) data set
(poolability tests, all three models and the shelf life), and an OOT scan of 400 series with the
regression control chart.

Targets: >= 1,000 four-batch Q1E evaluations/s; the 400-series OOT scan in < 1 s. For comparison
only, the same Q1E work through statsmodels (formula OLS, anova_lm, get_prediction root search) when
statsmodels is importable; its figures are null otherwise. Prints one JSON document;
`benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from limsai.stats.oot import regression_control_chart
from limsai.stats.q1e import evaluate_shelf_life

LEBLOND = {
    "b2": "0:101 1:101.3 3:99.8 3:99.2 6:99.5 6:97.8 12:97.4 12:97.2 24:96.9 24:96",
    "b3": "0:104.8 3:103 3:101.2 6:100.8 6:99.2 12:98.6 12:97.2 24:97.6 24:98",
    "b4": "0:104 3:103.2 6:102.8 6:103.3 12:102.4 12:101.2 24:99.1 24:99.5",
    "b5": "0:102 1:101.4 2:100.8 3:100.2 3:99.7 6:98.8 6:98.5 12:98 12:97.1 24:96.6 24:96.1",
}
LIMIT = 95.0
Q1E_RUNS = 3000
OOT_SERIES = 400


def _data() -> tuple[list[float], list[float], list[str]]:
    t: list[float] = []
    y: list[float] = []
    b: list[str] = []
    for name, text in LEBLOND.items():
        for pair in text.split():
            month, value = pair.split(":")
            t.append(float(month))
            y.append(float(value))
            b.append(name)
    return t, y, b


def _bench_q1e() -> tuple[float, dict[str, float | None]]:
    t, y, b = _data()
    result = evaluate_shelf_life(t, y, b, lower=LIMIT)
    started = time.perf_counter()
    for _ in range(Q1E_RUNS):
        evaluate_shelf_life(t, y, b, lower=LIMIT)
    rate = Q1E_RUNS / (time.perf_counter() - started)
    return rate, {name: fit.shelf_life for name, fit in result.per_model.items()}


def _bench_oot() -> tuple[float, int]:
    rng = np.random.default_rng(20)
    times = np.array([0, 3, 6, 9, 12, 18, 24, 36], dtype=float)
    history = {
        f"H{i}": (list(times), list(100.5 - 0.12 * times + rng.normal(0, 0.4, times.size))) for i in range(6)
    }
    series = [100.5 - 0.12 * times + rng.normal(0, 0.4, times.size) for _ in range(OOT_SERIES)]
    for s in series[::20]:
        s[5] -= 3.0  # planted dips
    started = time.perf_counter()
    flagged = 0
    for s in series:
        chart = regression_control_chart(history, (list(times), list(s)))
        flagged += sum(r.oot for r in chart.rows)
    return time.perf_counter() - started, flagged


def _bench_statsmodels(runs: int = 3) -> tuple[float | None, dict[str, float | None] | None]:
    try:
        import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import statsmodels.formula.api as smf  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from scipy.optimize import brentq
        from statsmodels.stats.anova import anova_lm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None, None
    t, y, b = _data()
    frame = pd.DataFrame({"t": t, "y": y, "batch": b})
    lives: dict[str, float | None] = {}
    started = time.perf_counter()
    for _ in range(runs):
        fits = {
            "cics": smf.ols("y ~ t", frame).fit(),
            "dics": smf.ols("y ~ C(batch) + t", frame).fit(),
            "dids": smf.ols("y ~ C(batch) * t", frame).fit(),
        }
        anova_lm(fits["cics"], fits["dics"], fits["dids"])
        for name, fit in fits.items():

            def lower_bound(month: float, batch: str, fit: Any = fit) -> float:
                new = pd.DataFrame({"t": [month], "batch": [batch]})
                ci = fit.get_prediction(new).conf_int(alpha=0.10)  # one-sided 95% lower bound
                return float(ci[0, 0]) - LIMIT

            per_batch = [brentq(lower_bound, 0.0, 500.0, args=(batch,), xtol=1e-9) for batch in LEBLOND]
            lives[name] = min(per_batch)
    return runs / (time.perf_counter() - started), lives


def main() -> None:
    rate, ours = _bench_q1e()
    oot_seconds, flagged = _bench_oot()
    sm_rate, sm_lives = _bench_statsmodels()
    agreement = (
        None
        if sm_lives is None
        else max(abs((ours[m] or 0.0) - (sm_lives[m] or 0.0)) for m in ("cics", "dics", "dids"))
    )
    print(
        json.dumps(
            {
                "benchmark": "stats_q1e_oot",
                "q1e_four_batch_per_s": round(rate),
                "target_q1e_per_s": 1000,
                "q1e_shelf_life_by_model": {m: None if v is None else round(v, 4) for m, v in ours.items()},
                "oot_series": OOT_SERIES,
                "oot_scan_seconds": round(oot_seconds, 3),
                "target_oot_seconds": 1,
                "oot_points_flagged": flagged,
                "statsmodels_q1e_per_s": None if sm_rate is None else round(sm_rate, 2),
                "statsmodels_max_abs_diff_months": None if agreement is None else float(f"{agreement:.2e}"),
            }
        )
    )


if __name__ == "__main__":
    main()
