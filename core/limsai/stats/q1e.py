"""ICH Q1E shelf life: batch poolability by ANCOVA, the three regression models, and the earliest
time at which the 95% confidence bound of the mean line meets the acceptance criterion.

Stability reports need the number a reviewer can reproduce with JMP or the R package expirest, fast
enough to evaluate every attribute of every study on each LIMS update. Everything is closed form:
the fits come from per-batch sums (:mod:`limsai.stats.linear`) and each crossing is the root of a
quadratic (ICH Q1E Appendix B.1, :func:`limsai.stats.linear.crossing_time`), cross-checked
numerically by :func:`limsai.stats.linear.crossing_time_brentq`.

Conventions:
- Times are on the scale of the data (usually months); the search range defaults to 0..500 as in
  expirest. A bound already beyond the limit at the start of the range gives shelf life 0 (the range
  start); a bound that never meets the limit within the range gives ``None``. A slope away from the
  limit is not refused: the widening bound may still meet the limit, and that time is reported.
- For dics and dids the bound of batch i uses x0' (X'X)^-1 x0 of the joint model, which reduces to
  1/n_i + (t - tbar_i)^2 / S with S the within-batch Sxx (dics) or batch i's own Sxx (dids).
- ``mse="pooled"`` (default, the Q1E wording) uses the residual mean square of the full dids model for
  separate lines; ``mse="per-batch"`` fits each batch alone with its own MSE and df (JMP/expirest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import special

from limsai.stats.linear import FloatArray, GroupSums, crossing_time, group_sums

ModelName = Literal["cics", "dics", "dids"]
MseMode = Literal["pooled", "per-batch"]


class InsufficientDataError(ValueError):
    """The data cannot support the requested fit or test (too few points, batches or times)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FTest(_Frozen):
    """One ANCOVA F test: statistic, numerator/denominator df and upper-tail p value."""

    F: float
    df1: int
    df2: int
    p: float


class Poolability(_Frozen):
    """Q1E Appendix B.2 tests: slopes (batch x time) first, then intercepts (batch)."""

    alpha_pool: float
    slopes: FTest
    intercepts: FTest


class ModelFit(_Frozen):
    """One of the three models with its shelf life; per-batch entries are keyed by batch label."""

    model: ModelName
    shelf_life: float | None
    worst_batch: str | None
    shelf_life_by_batch: dict[str, float | None]
    intercepts: dict[str, float]
    slopes: dict[str, float]
    mse: dict[str, float]
    df: dict[str, int]


class ShelfLifeResult(_Frozen):
    """The Q1E answer: chosen model, shelf life, worst batch, all three models and the tests.

    ``regression`` is the regression F test of the pooled line (cics): SS(regression) / MSE_cics on
    1 and N-2 df. ``intercepts``/``slopes`` are those of the chosen model, keyed by batch."""

    model: ModelName
    shelf_life: float | None
    worst_batch: str | None
    reason: str
    per_model: dict[str, ModelFit]
    poolability: Poolability
    regression: FTest
    intercepts: dict[str, float]
    slopes: dict[str, float]
    lower: float | None
    upper: float | None
    alpha: float
    mse_mode: MseMode
    search_range: tuple[float, float]


def _earliest(
    b0: FloatArray,
    b1: FloatArray,
    s2: FloatArray,
    df: FloatArray,
    n: FloatArray,
    tbar: FloatArray,
    sxx: FloatArray,
    lower: float | None,
    upper: float | None,
    alpha: float,
    rng: tuple[float, float],
) -> FloatArray:
    two_sided = lower is not None and upper is not None
    q = special.stdtrit(df, 1.0 - (alpha / 2.0 if two_sided else alpha))
    times = np.full(np.shape(b0), np.nan)
    for limit, side in ((lower, "lower"), (upper, "upper")):
        if limit is not None:
            times = np.fmin(times, crossing_time(b0, b1, q, s2, n, tbar, sxx, limit, side, rng))  # type: ignore[arg-type]
    return times


def _fit(
    model: ModelName,
    labels: Sequence[str],
    b0: FloatArray,
    b1: FloatArray,
    mse: FloatArray,
    df: FloatArray,
    times: FloatArray,
) -> ModelFit:
    life = [None if np.isnan(v) else float(v) for v in times]
    keyed = np.where(np.isnan(times), np.inf, times)
    worst = int(np.argmin(keyed)) if np.isfinite(keyed).any() else None
    return ModelFit(
        model=model,
        shelf_life=None if worst is None else life[worst],
        worst_batch=None if worst is None or model == "cics" else labels[worst],
        shelf_life_by_batch=dict(zip(labels, life, strict=True)),
        intercepts={lab: float(v) for lab, v in zip(labels, b0, strict=True)},
        slopes={lab: float(v) for lab, v in zip(labels, b1, strict=True)},
        mse={lab: float(v) for lab, v in zip(labels, mse, strict=True)},
        df={lab: int(v) for lab, v in zip(labels, df, strict=True)},
    )


def _ftest(num_ss: float, df1: int, mse_full: float, df2: int) -> FTest:
    f = max(num_ss, 0.0) / df1 / mse_full if mse_full > 0.0 else float("inf")
    return FTest(F=f, df1=df1, df2=df2, p=float(special.fdtrc(df1, df2, f)))


def _prepare(
    time: Sequence[float] | FloatArray, response: Sequence[float] | FloatArray, batch: Sequence[str]
) -> tuple[list[str], GroupSums, int]:
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(response, dtype=np.float64)
    if not (t.shape == y.shape and t.ndim == 1 and t.shape[0] == len(batch)):
        raise InsufficientDataError("time, response and batch must be equally long sequences")
    if not (np.isfinite(t).all() and np.isfinite(y).all()):
        raise InsufficientDataError("time and response must be finite numbers")
    labels, codes = np.unique(np.asarray(batch, dtype=str), return_inverse=True)
    k = int(labels.shape[0])
    if k < 2:
        raise InsufficientDataError(f"poolability needs at least 2 batches, got {k}")
    sums = group_sums(t, y, codes.astype(np.intp), k)
    if (sums.sxx <= 0.0).any():
        bad = ", ".join(str(labels[i]) for i in np.flatnonzero(sums.sxx <= 0.0))
        raise InsufficientDataError(f"batch(es) {bad}: a line needs at least 2 different times")
    if t.shape[0] - 2 * k < 1:
        raise InsufficientDataError(
            f"{t.shape[0]} points for {k} batches leave no residual df for separate lines"
        )
    return [str(v) for v in labels], sums, int(t.shape[0])


def evaluate_shelf_life(
    time: Sequence[float] | FloatArray,
    response: Sequence[float] | FloatArray,
    batch: Sequence[str],
    *,
    lower: float | None = None,
    upper: float | None = None,
    alpha: float = 0.05,
    alpha_pool: float = 0.25,
    mse: MseMode = "pooled",
    search_range: tuple[float, float] = (0.0, 500.0),
) -> ShelfLifeResult:
    """ICH Q1E shelf life of a multi-batch stability data set (rows in any order).

    ``lower`` alone: one-sided lower bound at 1-alpha; ``upper`` alone: upper; both: two-sided, each
    side at 1-alpha/2, earliest crossing. Model choice at ``alpha_pool``: p(slopes) below it -> dids,
    else p(intercepts) below it -> dics, else cics. Raises InsufficientDataError on unusable data.
    """
    if lower is None and upper is None:
        raise InsufficientDataError("give a lower limit, an upper limit, or both")
    if lower is not None and upper is not None and lower >= upper:
        raise InsufficientDataError(f"lower limit {lower} is not below upper limit {upper}")
    if not 0.0 < alpha < 1.0 or not 0.0 < alpha_pool < 1.0:
        raise InsufficientDataError("alpha and alpha_pool must lie strictly between 0 and 1")
    labels, g, n_total = _prepare(time, response, batch)
    k = g.k
    ones = np.ones(k)

    # cics: one line through all data (total sums from the group sums)
    grand_t = float(g.n @ g.tbar) / n_total
    grand_y = float(g.n @ g.ybar) / n_total
    sxx_tot = float(g.sxx.sum() + g.n @ (g.tbar - grand_t) ** 2)
    sxy_tot = float(g.sxy.sum() + g.n @ ((g.tbar - grand_t) * (g.ybar - grand_y)))
    syy_tot = float(g.syy.sum() + g.n @ (g.ybar - grand_y) ** 2)
    slope_c = sxy_tot / sxx_tot
    sse_cics = max(syy_tot - slope_c * sxy_tot, 0.0)
    # dics: common slope from within-batch sums
    sxx_w = float(g.sxx.sum())
    slope_d = float(g.sxy.sum()) / sxx_w
    sse_dics = max(float(g.syy.sum()) - slope_d * float(g.sxy.sum()), 0.0)
    # dids: one line per batch
    slopes_s = g.sxy / g.sxx
    sse_batch = np.maximum(g.syy - slopes_s * g.sxy, 0.0)
    sse_dids = float(sse_batch.sum())

    df_full = n_total - 2 * k
    mse_full = sse_dids / df_full
    pool = Poolability(
        alpha_pool=alpha_pool,
        slopes=_ftest(sse_dics - sse_dids, k - 1, mse_full, df_full),
        intercepts=_ftest(sse_cics - sse_dics, k - 1, mse_full, df_full),
    )

    rng = search_range
    df_c, df_d = n_total - 2, n_total - k - 1
    mse_c, mse_d = sse_cics / df_c, sse_dics / df_d
    b0_c = (grand_y - slope_c * grand_t) * ones
    b0_d = g.ybar - slope_d * g.tbar
    b0_s = g.ybar - slopes_s * g.tbar
    if mse == "pooled":
        mse_s, df_s = mse_full * ones, df_full * ones
    else:
        df_s = g.n - 2.0
        if (df_s < 1).any():
            raise InsufficientDataError("per-batch MSE needs at least 3 points in every batch")
        mse_s = sse_batch / df_s
    # all 3k lines in one vectorised solve: rows 0..k-1 cics (identical), k..2k-1 dics, 2k.. dids
    times = _earliest(
        np.concatenate([b0_c, b0_d, b0_s]),
        np.concatenate([slope_c * ones, slope_d * ones, slopes_s]),
        np.concatenate([mse_c * ones, mse_d * ones, mse_s]),
        np.concatenate([df_c * ones, df_d * ones, df_s]),
        np.concatenate([n_total * ones, g.n, g.n]),
        np.concatenate([grand_t * ones, g.tbar, g.tbar]),
        np.concatenate([sxx_tot * ones, sxx_w * ones, g.sxx]),
        lower,
        upper,
        alpha,
        rng,
    )
    cics = _fit("cics", labels, b0_c, slope_c * ones, mse_c * ones, df_c * ones, times[:k])
    dics = _fit("dics", labels, b0_d, slope_d * ones, mse_d * ones, df_d * ones, times[k : 2 * k])
    dids = _fit("dids", labels, b0_s, slopes_s, mse_s, df_s, times[2 * k :])

    if pool.slopes.p < alpha_pool:
        chosen = dids
        reason = (
            f"slopes differ between batches (p = {pool.slopes.p:.4f} < {alpha_pool}): separate "
            f"intercepts and slopes ({mse} MSE); shelf life of the worst batch"
        )
    elif pool.intercepts.p < alpha_pool:
        chosen = dics
        reason = (
            f"slopes poolable (p = {pool.slopes.p:.4f} >= {alpha_pool}) but intercepts differ "
            f"(p = {pool.intercepts.p:.4f} < {alpha_pool}): common slope, separate intercepts; "
            "shelf life of the worst batch"
        )
    else:
        chosen = cics
        reason = (
            f"slopes (p = {pool.slopes.p:.4f}) and intercepts (p = {pool.intercepts.p:.4f}) both "
            f"poolable at {alpha_pool}: all batches pooled into one line"
        )
    if chosen.shelf_life is None:
        reason += f"; the bound does not meet the limit within {rng[0]:g}..{rng[1]:g}"
    return ShelfLifeResult(
        model=chosen.model,
        shelf_life=chosen.shelf_life,
        worst_batch=chosen.worst_batch,
        reason=reason,
        per_model={"cics": cics, "dics": dics, "dids": dids},
        poolability=pool,
        regression=FTest(
            F=(syy_tot - sse_cics) / mse_c if mse_c > 0 else float("inf"),
            df1=1,
            df2=df_c,
            p=float(special.fdtrc(1, df_c, (syy_tot - sse_cics) / mse_c)) if mse_c > 0 else 0.0,
        ),
        intercepts=chosen.intercepts,
        slopes=chosen.slopes,
        lower=lower,
        upper=upper,
        alpha=alpha,
        mse_mode=mse,
        search_range=rng,
    )


Storage = Literal["room", "refrigerated", "frozen"]


class ExtrapolationRules(_Frozen):
    """Q1E Appendix A factors, kept as configuration (a consolidated ICH Q1 will replace Q1E)."""

    full_factor: float = 2.0  # Y <= min(2X, X + 12)
    full_add: float = 12.0
    limited_factor: float = 1.5  # Y <= min(1.5X, X + 6)
    limited_add: float = 6.0
    no_statistics_add: float = 3.0  # Y <= X + 3


class Extrapolation(_Frozen):
    """Maximum proposed retest period / shelf life Y for X months of long-term data, with the rule."""

    long_term: float
    max_shelf_life: float
    rule: str


def max_extrapolation(
    long_term: float,
    storage: Storage,
    *,
    change_accelerated: bool = False,
    change_intermediate: bool = False,
    statistics: bool = True,
    little_change: bool = False,
    rules: ExtrapolationRules | None = None,
) -> Extrapolation:
    """ICH Q1E Appendix A decision tree: how far beyond X months of long-term data Y may go.

    ``change_*`` = significant change (Q1A(R2) 2.2.7) at accelerated / intermediate condition;
    ``statistics`` = the data are amenable to and were given a statistical analysis; ``little_change``
    = little or no change and variability over time (room temperature only)."""
    r = rules or ExtrapolationRules()
    x = long_term
    if x <= 0:
        raise InsufficientDataError(f"long-term data must cover a positive period, got {x}")
    full = (min(r.full_factor * x, x + r.full_add), f"min({r.full_factor:g}X, X+{r.full_add:g})")
    lf, la = r.limited_factor, r.limited_add
    limited = (min(lf * x, x + la), f"min({lf:g}X, X+{la:g})")
    plus = (x + r.no_statistics_add, f"X+{r.no_statistics_add:g}")
    none = (x, "no extrapolation")
    if storage == "frozen":
        case, rule = "frozen", none
    elif storage == "refrigerated" and change_accelerated:
        case, rule = "refrigerated, significant change at accelerated", none
    elif storage == "refrigerated":
        case, rule = ("refrigerated, statistics", limited) if statistics else ("refrigerated", plus)
    elif change_accelerated and change_intermediate:
        case, rule = "significant change at accelerated and intermediate", none
    elif change_accelerated:
        case, rule = (
            ("change at accelerated only, statistics", limited)
            if statistics
            else ("change at accelerated only, no statistics", plus)
        )
    elif little_change:
        case, rule = "room temperature, little or no change", full
    elif statistics:
        case, rule = "room temperature, statistics done", full
    else:
        case, rule = "room temperature, no statistics", limited
    return Extrapolation(long_term=x, max_shelf_life=rule[0], rule=f"{case}: {rule[1]}")
