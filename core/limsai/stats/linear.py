"""Straight-line least squares by group sums, shared by shelf-life (ICH Q1E) and OOT statistics.

Stability models are lines in time, one per batch or shared across batches. Their least-squares fits,
residual sums of squares and the variance of the fitted mean all follow in closed form from a few
per-batch sums (count, means, Sxx, Sxy, Syy), which is far faster than building and solving a design
matrix on every call. The explicit design matrices are kept here too, so the closed forms can be
checked against the textbook ``x0' (X'X)^-1 x0`` of the joint model.

A one-sided confidence bound b0 + b1 t -/+ q s sqrt(1/n + (t - tbar)^2 / Sxx) meets a limit where a
quadratic in t vanishes (ICH Q1E Appendix B.1); :func:`crossing_time` solves it for many lines at once
and :func:`crossing_time_brentq` is the numeric root search used to check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
JointModel = Literal["cics", "dics", "dids"]
Side = Literal["lower", "upper"]


@dataclass(frozen=True)
class GroupSums:
    """Per-group sums of a time/response data set; arrays are indexed by group code 0..k-1."""

    n: FloatArray
    tbar: FloatArray
    ybar: FloatArray
    sxx: FloatArray
    sxy: FloatArray
    syy: FloatArray

    @property
    def k(self) -> int:
        return int(self.n.shape[0])


def group_sums(t: FloatArray, y: FloatArray, codes: IntArray, k: int) -> GroupSums:
    """Counts, means and centred sums of squares/products of each group (two passes, stable)."""
    n = np.bincount(codes, minlength=k).astype(np.float64)
    tbar = np.bincount(codes, weights=t, minlength=k) / n
    ybar = np.bincount(codes, weights=y, minlength=k) / n
    dt = t - tbar[codes]
    dy = y - ybar[codes]
    return GroupSums(
        n=n,
        tbar=tbar,
        ybar=ybar,
        sxx=np.bincount(codes, weights=dt * dt, minlength=k).astype(np.float64),
        sxy=np.bincount(codes, weights=dt * dy, minlength=k).astype(np.float64),
        syy=np.bincount(codes, weights=dy * dy, minlength=k).astype(np.float64),
    )


@dataclass(frozen=True)
class LineFit:
    """One least-squares line y = intercept + slope * t with what its confidence bands need."""

    intercept: float
    slope: float
    n: int
    tbar: float
    sxx: float
    sse: float

    @property
    def df(self) -> int:
        return self.n - 2

    @property
    def mse(self) -> float:
        return self.sse / self.df if self.df > 0 else float("nan")

    def predict(self, t: float) -> float:
        return self.intercept + self.slope * t

    def leverage(self, t: float) -> float:
        """1/n + (t - tbar)^2 / Sxx: the mean-line variance at t in units of sigma^2."""
        return 1.0 / self.n + (t - self.tbar) ** 2 / self.sxx


def fit_line(t: FloatArray, y: FloatArray) -> LineFit:
    """Ordinary least-squares line; raises ValueError when the times do not span an interval."""
    n = int(t.shape[0])
    if n < 2:
        raise ValueError(f"a line needs at least 2 points, got {n}")
    tbar = float(t.mean())
    ybar = float(y.mean())
    dt = t - tbar
    dy = y - ybar
    sxx = float(dt @ dt)
    if sxx <= 0.0:
        raise ValueError("a line needs at least 2 different times")
    sxy = float(dt @ dy)
    slope = sxy / sxx
    sse = max(float(dy @ dy) - slope * sxy, 0.0)
    return LineFit(intercept=ybar - slope * tbar, slope=slope, n=n, tbar=tbar, sxx=sxx, sse=sse)


def design_matrix(t: FloatArray, codes: IntArray, k: int, model: JointModel) -> FloatArray:
    """Design matrix of a joint stability model.

    cics: [1, t]; dics: [batch indicators (k), t]; dids: [batch indicators (k), indicator * t (k)].
    """
    t = np.asarray(t, dtype=np.float64)
    if model == "cics":
        return np.column_stack([np.ones_like(t), t])
    indicators = np.zeros((t.shape[0], k))
    indicators[np.arange(t.shape[0]), codes] = 1.0
    if model == "dics":
        return np.column_stack([indicators, t])
    return np.column_stack([indicators, indicators * t[:, None]])


def design_row(t0: float, code: int, k: int, model: JointModel) -> FloatArray:
    """The design row x0 of batch ``code`` at time ``t0`` (same layout as :func:`design_matrix`)."""
    row: FloatArray = design_matrix(np.array([t0]), np.array([code], dtype=np.intp), k, model)[0]
    return row


def quadratic_form(design: FloatArray, x0: FloatArray) -> float:
    """x0' (X'X)^-1 x0 of a full-rank design matrix X."""
    return float(x0 @ np.linalg.solve(design.T @ design, x0))


def residual_sse(design: FloatArray, y: FloatArray) -> float:
    """Residual sum of squares of the least-squares fit of y on the design matrix."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(resid @ resid)


def crossing_time(
    b0: FloatArray,
    b1: FloatArray,
    q: FloatArray,
    s2: FloatArray,
    n: FloatArray,
    tbar: FloatArray,
    sxx: FloatArray,
    limit: float,
    side: Side,
    search_range: tuple[float, float] = (0.0, 500.0),
) -> FloatArray:
    """Earliest t in the search range where the one-sided bound b0 + b1 t -/+ q s se(t) meets ``limit``.

    se(t)^2 = 1/n + (t - tbar)^2 / sxx. All arguments broadcast; the result is the range start where
    the bound is already beyond the limit there, and NaN where it never meets the limit in the range.
    """
    lo, hi = search_range
    sign = 1.0 if side == "lower" else -1.0
    d = sign * (b0 - limit)  # distance to the limit on the "inside" side, at t = 0
    slope = sign * b1
    c = q * q * s2
    a = b1 * b1 - c / sxx
    b = 2.0 * d * slope + 2.0 * c * tbar / sxx
    cc = d * d - c * (1.0 / n + tbar * tbar / sxx)
    margin_lo = d + slope * lo - q * np.sqrt(s2 * (1.0 / n + (lo - tbar) ** 2 / sxx))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        root = np.sqrt(np.maximum(b * b - 4.0 * a * cc, 0.0))
        real = b * b - 4.0 * a * cc >= 0.0
        half = -0.5 * (b + np.where(b >= 0.0, root, -root))
        r1 = np.where(np.abs(a) > 1e-300, half / a, np.nan)
        r2 = np.where(np.abs(half) > 0.0, cc / half, np.nan)
        linear = np.abs(a) <= 1e-14 * np.maximum(b1 * b1, c / sxx)
        r_lin = np.where(linear & (b != 0.0), -cc / b, np.nan)
        candidates = np.stack([np.where(real & ~linear, r1, np.nan), np.where(real & ~linear, r2, r_lin)])
        # a root of the squared equation is a crossing of this side's bound only where the line is
        # still on the inside of the limit (the other root belongs to the opposite bound)
        valid = (candidates > lo) & (candidates <= hi) & (d + slope * candidates >= 0.0)
        first = np.min(np.where(valid, candidates, np.inf), axis=0)
    out = np.where(np.isfinite(first), first, np.nan)
    return np.where(margin_lo <= 0.0, lo, out)


def bound_margin(
    t: float,
    b0: float,
    b1: float,
    q: float,
    s2: float,
    n: float,
    tbar: float,
    sxx: float,
    limit: float,
    side: Side,
) -> float:
    """Distance of the bound from the limit at t, positive while the bound is inside the limit."""
    half_width = q * np.sqrt(s2 * (1.0 / n + (t - tbar) ** 2 / sxx))
    mean = b0 + b1 * t
    return float(mean - half_width - limit if side == "lower" else limit - (mean + half_width))


def crossing_time_brentq(
    b0: float,
    b1: float,
    q: float,
    s2: float,
    n: float,
    tbar: float,
    sxx: float,
    limit: float,
    side: Side,
    search_range: tuple[float, float] = (0.0, 500.0),
) -> float | None:
    """Numeric counterpart of :func:`crossing_time` (scipy brentq on the bound); None = no crossing.

    The margin is concave in t (a line minus a hyperbola), so once positive at the range start it
    changes sign at most once inside the range."""
    from scipy.optimize import brentq

    lo, hi = search_range
    args = (b0, b1, q, s2, n, tbar, sxx, limit, side)
    if bound_margin(lo, *args) <= 0.0:
        return lo
    if bound_margin(hi, *args) > 0.0:
        return None
    return float(brentq(bound_margin, lo, hi, args=args, xtol=1e-12, rtol=1e-14, maxiter=500))
