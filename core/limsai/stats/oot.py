"""Out-of-trend (OOT) detection for stability results: regression control chart within a batch,
by-time-point limits across batches, and a slope control chart.

An OOT result is within specification but off the batch's own trend or the history of earlier
batches; catching it early is the point of trending (PhRMA 2003, ECA 2016, MHRA). The methods follow
Mihalovits & Kemeny (2017) for the regression control chart and by-time-point intervals, and Torbovska
& Trajkovic-Jolevska (2013) for the slope chart.

Conventions:
- A series is (times, values); the current batch is sorted by time (ties by value) before use.
- Regression chart: the first ``reference_points`` points form the reference set and are returned
  with ``reference=True`` and no limits; every later point is judged against the line of the points
  accepted so far, and joins that set only when it is not flagged.
- A point is OOT when strictly outside its limits (limits are inclusive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import special

from limsai.stats.linear import fit_line

OotMethod = Literal["prediction", "confidence", "shewhart", "tolerance"]
Series = tuple[Sequence[float], Sequence[float]]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OotRow(_Frozen):
    """One result of the current batch; ``lower``/``upper`` are None where no limit applies."""

    time: float
    value: float
    lower: float | None
    upper: float | None
    oot: bool
    reference: bool = False


class OotChart(_Frozen):
    method: str
    alpha: float
    s_pooled: float | None
    df: int | None
    rows: list[OotRow]


class SlopeRow(_Frozen):
    time: float
    slope: float
    historical_mean: float | None
    historical_sd: float | None
    z: float | None
    oot: bool
    n_historical: int


def _sorted(series: Series) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(series[0], dtype=np.float64)
    y = np.asarray(series[1], dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError("times and values must be equally long sequences")
    if not (np.isfinite(t).all() and np.isfinite(y).all()):
        raise ValueError("times and values must be finite numbers")
    order = np.lexsort((y, t))
    return t[order], y[order]


def pooled_residual_sd(historical: Mapping[str, Series]) -> tuple[float, int]:
    """s_p and its df from historical batches fitted separately (df-weighted pooled residual SD)."""
    sse = 0.0
    df = 0
    for name, series in sorted(historical.items()):
        t, y = _sorted(series)
        try:
            fit = fit_line(t, y)
        except ValueError as exc:
            raise ValueError(f"historical batch {name}: {exc}") from exc
        if fit.df < 1:
            raise ValueError(f"historical batch {name}: needs at least 3 points for a residual SD")
        sse += fit.sse
        df += fit.df
    if df < 1:
        raise ValueError("OOT limits need at least one historical batch with 3 or more points")
    return math.sqrt(sse / df), df


def limit_factor(
    method: OotMethod,
    alpha: float,
    df: int,
    leverage: float,
    *,
    proportion: float = 0.95,
    confidence: float = 0.95,
) -> float:
    """Half-width of the limits in units of s_p; ``leverage`` = 1/n + (x* - xbar)^2 / Sxx.

    prediction: t sqrt(1 + leverage); confidence: t sqrt(leverage); shewhart: z; tolerance (Wallis):
    sqrt(df ncx2.ppf(P; 1, leverage) / chi2.ppf(1 - gamma; df))."""
    if method == "prediction":
        return float(special.stdtrit(df, 1.0 - alpha / 2.0)) * math.sqrt(1.0 + leverage)
    if method == "confidence":
        return float(special.stdtrit(df, 1.0 - alpha / 2.0)) * math.sqrt(leverage)
    if method == "shewhart":
        return float(special.ndtri(1.0 - alpha / 2.0))
    if method == "tolerance":
        from scipy import stats

        quantile = stats.ncx2.ppf(proportion, 1, leverage)
        return math.sqrt(df * quantile / stats.chi2.ppf(1.0 - confidence, df))
    raise ValueError(f"unknown OOT method {method!r}")


def regression_control_chart(
    historical: Mapping[str, Series],
    current: Series,
    *,
    method: OotMethod = "prediction",
    alpha: float = 0.05,
    reference_points: int = 3,
    proportion: float = 0.95,
    confidence: float = 0.95,
) -> OotChart:
    """Sequential regression control chart of the current batch against pooled historical noise."""
    if reference_points < 2:
        raise ValueError("the reference set needs at least 2 points to fit a line")
    s_p, df = pooled_residual_sd(historical)
    t, y = _sorted(current)
    if t.shape[0] <= reference_points:
        raise ValueError(
            f"the current batch has {t.shape[0]} points; OOT needs more than the "
            f"{reference_points} reference points"
        )
    used = list(range(reference_points))
    if np.ptp(t[used]) <= 0.0:
        raise ValueError("the reference points must span at least 2 different times")
    rows = [
        OotRow(time=float(t[i]), value=float(y[i]), lower=None, upper=None, oot=False, reference=True)
        for i in used
    ]
    for j in range(reference_points, t.shape[0]):
        fit = fit_line(t[used], y[used])
        half = s_p * limit_factor(
            method, alpha, df, fit.leverage(float(t[j])), proportion=proportion, confidence=confidence
        )
        centre = fit.predict(float(t[j]))
        lower, upper = centre - half, centre + half
        flagged = bool(y[j] < lower or y[j] > upper)
        rows.append(OotRow(time=float(t[j]), value=float(y[j]), lower=lower, upper=upper, oot=flagged))
        if not flagged:
            used.append(j)
    return OotChart(method=method, alpha=alpha, s_pooled=s_p, df=df, rows=rows)


def time_point_limits(
    values: Sequence[float],
    *,
    method: Literal["prediction", "tolerance"] = "prediction",
    alpha: float = 0.05,
    proportion: float = 0.973,
    confidence: float = 0.95,
    exact: bool = False,
) -> tuple[float, float]:
    """Limits for one new result from m historical results at the same time point.

    prediction: mean +/- t_{1-alpha/2, m-1} s sqrt(1 + 1/m); tolerance: mean +/- k2 s with the
    two-sided factor for (proportion, confidence), Howe's or exact."""
    v = np.asarray(values, dtype=np.float64)
    m = int(v.shape[0])
    if m < 2:
        raise ValueError(f"by-time-point limits need at least 2 historical results, got {m}")
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    if method == "prediction":
        half = float(special.stdtrit(m - 1, 1.0 - alpha / 2.0)) * sd * math.sqrt(1.0 + 1.0 / m)
    else:
        from limsai.stats.tolerance import k_two_sided_exact, k_two_sided_howe

        k2 = (k_two_sided_exact if exact else k_two_sided_howe)(m, proportion, confidence)
        half = k2 * sd
    return mean - half, mean + half


def by_time_point_chart(
    historical: Mapping[str, Series],
    current: Series,
    *,
    method: Literal["prediction", "tolerance"] = "prediction",
    alpha: float = 0.05,
    proportion: float = 0.973,
    confidence: float = 0.95,
    exact: bool = False,
) -> OotChart:
    """Judge each current result against the historical results at the same time point.

    Time points with fewer than 2 historical results get no limits (``oot`` False)."""
    pools: dict[float, list[float]] = {}
    for _name, series in sorted(historical.items()):
        for ht, hy in zip(*_sorted(series), strict=True):
            pools.setdefault(float(ht), []).append(float(hy))
    t, y = _sorted(current)
    rows = []
    for ti, yi in zip(t, y, strict=True):
        hist = pools.get(float(ti), [])
        if len(hist) < 2:
            rows.append(OotRow(time=float(ti), value=float(yi), lower=None, upper=None, oot=False))
            continue
        lo, hi = time_point_limits(
            hist, method=method, alpha=alpha, proportion=proportion, confidence=confidence, exact=exact
        )
        rows.append(OotRow(time=float(ti), value=float(yi), lower=lo, upper=hi, oot=bool(yi < lo or yi > hi)))
    return OotChart(method=f"by-time-point {method}", alpha=alpha, s_pooled=None, df=None, rows=rows)


def _slope_upto(t: np.ndarray, y: np.ndarray, until: float, min_times: int) -> float | None:
    keep = t <= until
    if np.unique(t[keep]).shape[0] < min_times:
        return None
    return fit_line(t[keep], y[keep]).slope


def slope_control_chart(
    historical: Mapping[str, Series],
    current: Series,
    *,
    z_limit: float = 2.0,
    min_times: int = 3,
) -> list[SlopeRow]:
    """Slope of the current batch up to each time point vs historical slopes over the same window.

    Starts once ``min_times`` distinct times are available (0, 3, 6 months typically); flags
    |z| >= ``z_limit`` where z = (slope - mean of historical slopes) / their SD (needs >= 2)."""
    hist = [_sorted(s) for _name, s in sorted(historical.items())]
    t, y = _sorted(current)
    rows = []
    for until in np.unique(t):
        slope = _slope_upto(t, y, float(until), min_times)
        if slope is None:
            continue
        others = [s for ht, hy in hist if (s := _slope_upto(ht, hy, float(until), min_times)) is not None]
        mean = sd = z = None
        if len(others) >= 2:
            mean, sd = float(np.mean(others)), float(np.std(others, ddof=1))
            z = (slope - mean) / sd if sd > 0.0 else None
        rows.append(
            SlopeRow(
                time=float(until),
                slope=slope,
                historical_mean=mean,
                historical_sd=sd,
                z=z,
                oot=z is not None and abs(z) >= z_limit,
                n_historical=len(others),
            )
        )
    return rows
