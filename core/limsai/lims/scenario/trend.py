"""The out-of-trend rule the generated stability data are kept clean against.

A regression control chart (PhRMA 2003; Mihalovits & Kemeny 2017, alpha = 0.05): a result is out
of trend when it lies outside the 95 % prediction interval of its batch's line,
``yhat +/- t(0.975, df) * s * sqrt(1 + 1/n + (x - xbar)^2 / Sxx)``, with ``s`` the residual SD
pooled over the study's batches at that condition. The generator redraws a series' noise until
every unplanted point is comfortably inside that interval under both common variants of the rule:
leave-one-out (the line through the batch's other points) and sequential (the line through the
earlier points, from the fourth time point on), with ``s`` pooled over all batches or over the
other batches only, whichever is smaller. The only point outside is then the planted OOT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy.stats import t as student_t

Points = list[tuple[float, float]]


@lru_cache(maxsize=256)
def t975(df: int) -> float:
    """Two-sided 95 % Student t quantile for ``df`` degrees of freedom."""
    return float(student_t.ppf(0.975, df))


@dataclass(frozen=True)
class Line:
    intercept: float
    slope: float
    mean_x: float
    sxx: float
    n: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x

    def half_width(self, x: float, s: float, df: int) -> float:
        """Half-width of the 95 % prediction interval for one new result at ``x``."""
        return t975(df) * s * math.sqrt(1 + 1 / self.n + (x - self.mean_x) ** 2 / self.sxx)


def least_squares(points: Points) -> Line:
    """The ordinary least-squares line through ``points`` (at least two distinct x)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return Line(mean_y - slope * mean_x, slope, mean_x, sxx, n)


def pooled_sd(batches: list[Points]) -> tuple[float, int]:
    """Residual SD pooled over the batches' own lines, and its degrees of freedom."""
    sse, df = 0.0, 0
    for points in batches:
        if len(points) >= 3:
            line = least_squares(points)
            sse += sum((y - line.at(x)) ** 2 for x, y in points)
            df += len(points) - 2
    return (math.sqrt(sse / df), df) if df else (0.0, 0)


Judged = list[tuple[float, float, bool]]
"""A batch's points as (x, y, judged): every point shapes the lines and the pooled SD; only judged
points are tested."""


def point_ratios(
    batches: list[Judged], other_batches_sd: bool = True
) -> list[tuple[int, float, float, float]]:
    """For every judged point: (batch index, x, smallest ratio, largest ratio), a ratio being
    |residual| / prediction-interval half-width under one variant of the rule (leave-one-out or
    sequential line; SD pooled over all batches or, unless ``other_batches_sd`` is false, over the
    other batches). Points must be sorted by x within a batch; batches with fewer than four points
    are not evaluable."""
    plain = [[(x, y) for x, y, _ in points] for points in batches]
    s_all = pooled_sd(plain)
    out: list[tuple[int, float, float, float]] = []
    for index, points in enumerate(batches):
        if len(points) < 4:
            continue
        s_other = pooled_sd(plain[:index] + plain[index + 1 :]) if other_batches_sd else (0.0, 0)
        sds = [(s, df) for s, df in (s_all, s_other) if df > 0]
        own = plain[index]
        for i, (x, y, judged) in enumerate(points):
            if not judged or not sds:
                continue
            references = [own[:i] + own[i + 1 :]] + ([own[:i]] if i >= 3 else [])
            ratios: list[float] = []
            for reference in references:
                line = least_squares(reference)
                residual = abs(y - line.at(x))
                for s, df in sds:
                    ratios.append(residual / line.half_width(x, s, df) if s > 0 else math.inf)
            out.append((index, x, min(ratios), max(ratios)))
    return out


def worst_ratio(batches: list[Judged], other_batches_sd: bool = True) -> float:
    """The largest ratio over every judged point and variant; below 1 means nothing is out of trend."""
    return max((largest for *_, largest in point_ratios(batches, other_batches_sd)), default=0.0)
