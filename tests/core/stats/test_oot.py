"""OOT detection: regression control chart, by-time-point limits and slope chart, each checked
against an independent computation (numpy polyfit, scipy.stats quantiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from limsai.stats.oot import (
    OotMethod,
    by_time_point_chart,
    limit_factor,
    pooled_residual_sd,
    regression_control_chart,
    slope_control_chart,
    time_point_limits,
)

HISTORY = {
    "b2": ([0, 1, 3, 3, 6, 6, 12, 12, 24, 24], [101, 101.3, 99.8, 99.2, 99.5, 97.8, 97.4, 97.2, 96.9, 96]),
    "b3": ([0, 3, 3, 6, 6, 12, 12, 24, 24], [104.8, 103, 101.2, 100.8, 99.2, 98.6, 97.2, 97.6, 98]),
    "b4": ([0, 3, 6, 6, 12, 12, 24, 24], [104, 103.2, 102.8, 103.3, 102.4, 101.2, 99.1, 99.5]),
    "b7": ([0, 1, 3, 3, 6, 6, 12, 12, 24, 24], [101.3, 101.5, 100.2, 99.8, 99, 98.5, 98.5, 97.4, 96.6, 96.4]),
}
CURRENT = ([0, 3, 6, 9, 12, 18, 24], [100.0, 99.6, 99.1, 98.7, 93.0, 97.8, 97.2])


def _sse(t: list[int], y: list[float]) -> float:
    coef = np.polyfit(t, y, 1)
    resid = np.asarray(y) - np.polyval(coef, t)
    return float(resid @ resid)


def test_pooled_sd_is_df_weighted() -> None:
    s_p, df = pooled_residual_sd(HISTORY)
    sse = sum(_sse(t, y) for t, y in HISTORY.values())
    assert df == 8 + 7 + 6 + 8
    assert s_p == pytest.approx(math.sqrt(sse / df), rel=1e-12)


def test_prediction_chart_flags_the_dip_and_excludes_it() -> None:
    chart = regression_control_chart(HISTORY, CURRENT, alpha=0.05)
    s_p, df = pooled_residual_sd(HISTORY)
    assert [r.reference for r in chart.rows] == [True] * 3 + [False] * 4
    assert all(r.lower is None and r.upper is None for r in chart.rows[:3])
    assert [r.oot for r in chart.rows] == [False, False, False, False, True, False, False]
    # the 18-month limits come from 0, 3, 6, 9 (the flagged 12-month point is left out)
    t_used, y_used = [0, 3, 6, 9], [100.0, 99.6, 99.1, 98.7]
    slope, intercept = np.polyfit(t_used, y_used, 1)
    xbar = np.mean(t_used)
    sxx = sum((x - xbar) ** 2 for x in t_used)
    half = stats.t.ppf(0.975, df) * s_p * math.sqrt(1 + 1 / 4 + (18 - xbar) ** 2 / sxx)
    row = chart.rows[5]
    assert (row.time, row.value) == (18, 97.8)
    assert row.lower == pytest.approx(intercept + slope * 18 - half, abs=1e-10)
    assert row.upper == pytest.approx(intercept + slope * 18 + half, abs=1e-10)


def test_variants_order_and_formulas() -> None:
    _s_p, df = pooled_residual_sd(HISTORY)
    lev = 1 / 4 + (18 - 4.5) ** 2 / 45.0
    assert limit_factor("confidence", 0.05, df, lev) == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(lev))
    assert limit_factor("shewhart", 0.05, df, lev) == pytest.approx(1.959963984540054)
    wallis = math.sqrt(df * stats.ncx2.ppf(0.95, 1, lev) / stats.chi2.ppf(0.05, df))
    assert limit_factor("tolerance", 0.05, df, lev) == pytest.approx(wallis, rel=1e-12)
    widths = {}
    methods: tuple[OotMethod, ...] = ("prediction", "confidence", "shewhart", "tolerance")
    for method in methods:
        row = regression_control_chart(HISTORY, CURRENT, method=method).rows[3]
        assert row.lower is not None and row.upper is not None
        widths[method] = row.upper - row.lower
    assert widths["confidence"] < widths["prediction"] < widths["tolerance"]


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(90.0, 110.0), min_size=8, max_size=8),
    m=st.integers(2, 6),
    x_star=st.floats(0.0, 60.0),
)
def test_prediction_limits_narrow_as_reference_points_grow(
    values: list[float], m: int, x_star: float
) -> None:
    """Adding a point to the fitted set never widens the prediction interval at x* (same s_p)."""
    times = [0, 1, 3, 6, 9, 12, 18, 24]

    def width(points: int) -> float:
        t = np.array(times[:points], dtype=float)
        lev = 1 / points + (x_star - t.mean()) ** 2 / float(((t - t.mean()) ** 2).sum())
        return limit_factor("prediction", 0.05, 29, lev)

    assert width(m + 1) <= width(m) + 1e-12
    chart_m = regression_control_chart(HISTORY, (times, values), reference_points=m, alpha=1e-12)
    chart_n = regression_control_chart(HISTORY, (times, values), reference_points=m + 1, alpha=1e-12)
    last_m, last_n = chart_m.rows[-1], chart_n.rows[-1]
    assert last_m.upper is not None and last_m.lower is not None
    assert last_n.upper is not None and last_n.lower is not None
    if not any(r.oot for r in chart_m.rows + chart_n.rows):
        assert last_n.upper - last_n.lower <= last_m.upper - last_m.lower + 1e-9


def test_chart_input_errors() -> None:
    with pytest.raises(ValueError, match="reference points"):
        regression_control_chart(HISTORY, ([0, 3, 6], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="3 points"):
        regression_control_chart({"x": ([0, 3], [1.0, 2.0])}, CURRENT)
    with pytest.raises(ValueError, match="different times"):
        regression_control_chart(HISTORY, ([0, 0, 0, 3], [1.0, 2.0, 3.0, 4.0]))


def test_by_time_point_prediction_and_tolerance() -> None:
    at24 = [96.9, 96, 97.6, 98, 99.1, 99.5, 96.6, 96.4]
    lo, hi = time_point_limits(at24, alpha=0.05)
    m, mean, sd = 8, np.mean(at24), np.std(at24, ddof=1)
    half = stats.t.ppf(0.975, m - 1) * sd * math.sqrt(1 + 1 / m)
    assert lo == pytest.approx(mean - half)
    assert hi == pytest.approx(mean + half)
    tlo, thi = time_point_limits(at24, method="tolerance", proportion=0.973, confidence=0.95)
    z = stats.norm.ppf((1 + 0.973) / 2)
    k2 = z * math.sqrt((m - 1) * (1 + 1 / m) / stats.chi2.ppf(0.05, m - 1))
    assert thi - tlo == pytest.approx(2 * k2 * sd)
    chart = by_time_point_chart(HISTORY, CURRENT)
    by_time = {r.time: r for r in chart.rows}
    assert by_time[24].lower == pytest.approx(mean - half)
    assert by_time[9].lower is None and not by_time[9].oot  # no history at 9 months
    assert by_time[12].oot  # 93.0 against 97.2..102.4 history


def test_slope_chart_z_scores() -> None:
    rows = slope_control_chart(HISTORY, CURRENT)
    assert [r.time for r in rows] == [6, 9, 12, 18, 24]
    ct, cy = np.array(CURRENT[0], dtype=float), np.array(CURRENT[1])
    for row in rows:
        hist = []
        for t, y in HISTORY.values():
            keep = np.array(t) <= row.time
            hist.append(np.polyfit(np.array(t)[keep], np.array(y)[keep], 1)[0])
        cur = np.polyfit(ct[ct <= row.time], cy[ct <= row.time], 1)[0]
        z = (cur - np.mean(hist)) / np.std(hist, ddof=1)
        assert row.slope == pytest.approx(cur) and row.z == pytest.approx(z)
        assert row.n_historical == 4 and row.oot == (abs(z) >= 2)
    assert [r.oot for r in rows] == [False, False, False, False, True]
