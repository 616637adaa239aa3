"""The stability trend chart a reviewer reads next to the shelf-life and OOT tables.

One PNG per attribute and condition (:class:`limsai.checks.stability.SeriesEvaluation`): the results
of every batch, the regression line(s) of the ICH Q1E model chosen by the poolability tests, the 95%
confidence bound of the mean that decides the shelf life, the specification limit(s), the shelf-life
crossing, and the OOT and OOS results marked so they are found at a glance. Batches differ by marker
*and* line style, so the chart still reads when printed in black and white.

The bytes are reproducible: fixed size and resolution, matplotlib's default style whatever the local
configuration, and no software or date metadata in the PNG, so the same evaluation always gives the
same file and a package's hash does not change between runs. matplotlib is imported on first use
only, so importing this module costs nothing to code that never draws.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from limsai.checks.stability import SeriesEvaluation, SeriesPoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<")
LINESTYLES: tuple[str | tuple[int, tuple[int, ...]], ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 2, 1, 2, 1, 2)),
    (0, (8, 3)),
    (0, (1, 3)),
    (0, (3, 1, 1, 1)),
)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
SIZE_INCHES = (10.5, 5.6)
DPI = 110


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def q1e_lines(ev: SeriesEvaluation) -> list[tuple[str, float, float, float, int, float, float, float]]:
    """The chosen Q1E model's lines: (batch or "pooled", intercept, slope, MSE, df, n, tbar, Sxx)
    with n, tbar and Sxx the terms of the mean-line variance at t, MSE * (1/n + (t - tbar)^2 / Sxx)."""
    res = ev.shelf_life
    if res is None:
        return []
    fit = res.per_model[res.model]
    pts = [p for p in ev.points if p.batch in ev.shelf_life_batches]
    by: dict[str, list[SeriesPoint]] = {b: [p for p in pts if p.batch == b] for b in ev.shelf_life_batches}

    def sums(group: list[SeriesPoint]) -> tuple[float, float, float]:
        t = np.array([p.time for p in group])
        return float(t.shape[0]), float(t.mean()), float(((t - t.mean()) ** 2).sum())

    first = ev.shelf_life_batches[0]
    if res.model == "cics":
        n, tbar, sxx = sums(pts)
        return [
            ("pooled", fit.intercepts[first], fit.slopes[first], fit.mse[first], fit.df[first], n, tbar, sxx)
        ]
    within = math.fsum(sums(g)[2] for g in by.values())
    lines = []
    for b, group in by.items():
        n, tbar, sxx = sums(group)
        lines.append(
            (
                b,
                fit.intercepts[b],
                fit.slopes[b],
                fit.mse[b],
                fit.df[b],
                n,
                tbar,
                within if res.model == "dics" else sxx,
            )
        )
    return lines


def confidence_bounds(ev: SeriesEvaluation, times: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(line, side, bound at ``times``) for every line of the chosen model and every limit: the
    one-sided 95% bound of the mean (two-sided, alpha/2 each side, when both limits are given)."""
    res = ev.shelf_life
    if res is None:
        return []
    two_sided = res.lower is not None and res.upper is not None
    out = []
    for name, b0, b1, mse, df, n, tbar, sxx in q1e_lines(ev):
        q = float(special.stdtrit(df, 1.0 - (res.alpha / 2.0 if two_sided else res.alpha)))
        half = q * np.sqrt(mse * (1.0 / n + (times - tbar) ** 2 / sxx))
        centre = b0 + b1 * times
        if res.lower is not None:
            out.append((name, "lower", centre - half))
        if res.upper is not None:
            out.append((name, "upper", centre + half))
    return out


def _x_max(ev: SeriesEvaluation) -> float:
    last = max((p.time for p in ev.points), default=0.0) or 1.0
    life = ev.shelf_life.shelf_life if ev.shelf_life is not None else None
    if life is not None and 0.0 < life <= 3.0 * last:
        return max(last, life) * 1.08
    return last * 1.12


def _batch_lines(ax: Axes, ev: SeriesEvaluation, times: np.ndarray, style: dict[str, int]) -> None:
    lines = q1e_lines(ev)
    if lines and lines[0][0] == "pooled":
        _, b0, b1, *_ = lines[0]
        ax.plot(times, b0 + b1 * times, color="black", lw=1.8, label=f"Pooled regression line ({_model(ev)})")
    elif lines:
        for name, b0, b1, *_ in lines:
            i = style[name]
            ax.plot(times, b0 + b1 * times, color=COLOURS[i], ls=LINESTYLES[i], lw=1.4)
    else:  # no Q1E model: each batch's own least-squares line, for orientation only
        for b, i in style.items():
            pts = [p for p in ev.points if p.batch == b]
            if len({p.time for p in pts}) >= 2:
                slope, intercept = np.polyfit([p.time for p in pts], [p.value for p in pts], 1)
                ax.plot(times, intercept + slope * times, color=COLOURS[i], ls=LINESTYLES[i], lw=1.0)


def _model(ev: SeriesEvaluation) -> str:
    names = {"cics": "common intercept and slope", "dics": "common slope", "dids": "separate lines"}
    return f"Q1E: {names[ev.shelf_life.model]}" if ev.shelf_life is not None else "no Q1E model"


def _limits_and_shelf_life(ax: Axes, ev: SeriesEvaluation, times: np.ndarray, x_max: float) -> None:
    unit = f" {ev.units}" if ev.units else ""
    for value, name, ls in ((ev.lower, "Lower", (0, (6, 2))), (ev.upper, "Upper", (0, (2, 1)))):
        if value is not None:
            ax.axhline(
                value,
                color="#7F0000",
                lw=1.6,
                ls=ls,
                label=f"{name} specification limit ({_fmt(value)}{unit})",
            )
    res = ev.shelf_life
    if res is None:
        return
    level = "two-sided" if res.lower is not None and res.upper is not None else "one-sided"
    shown = res.worst_batch or ("pooled" if res.model == "cics" else None)
    whose = "" if shown in (None, "pooled") else f", {shown}"
    for k, (_name, _side, bound) in enumerate(
        b for b in confidence_bounds(ev, times) if shown in (None, b[0])
    ):
        label = f"95% confidence bound ({level}{whose})" if k == 0 else None
        ax.plot(times, bound, color="#555555", lw=1.2, ls=(0, (1, 1.5)), label=label)
    life = res.shelf_life
    if life is None:
        ax.plot([], [], " ", label=f"Bound does not meet the limit within {res.search_range[1]:g} months")
    elif life <= x_max:
        crossing = np.array([life])
        worst = res.worst_batch or "pooled"
        value = next(
            (
                float(b[0])
                for n, _s, b in confidence_bounds(ev, crossing)
                if n == worst and _near_limit(ev, b[0])
            ),
            None,
        )
        ax.axvline(life, color="black", lw=1.0, ls=(0, (4, 2, 1, 2)))
        if value is not None:
            ax.plot([life], [value], marker="*", ms=15, color="black", ls="none")
        ax.plot(
            [],
            [],
            marker="*",
            ms=12,
            color="black",
            ls=(0, (4, 2, 1, 2)),
            label=f"Shelf life {life:.1f} months",
        )
    else:
        ax.plot([], [], " ", label=f"Shelf life {life:.1f} months (beyond the chart)")


def _near_limit(ev: SeriesEvaluation, value: float) -> bool:
    limits = [v for v in (ev.lower, ev.upper) if v is not None]
    span = max((abs(v) for v in limits), default=1.0) or 1.0
    return any(abs(value - v) <= 1e-6 * span for v in limits)


def _flags(ax: Axes, ev: SeriesEvaluation) -> None:
    oot = [(row.point, row) for b in ev.oot for row in b.rows if row.oot]
    if oot:
        ax.plot(
            [p.time for p, _ in oot],
            [p.value for p, _ in oot],
            marker="o",
            ms=17,
            mfc="none",
            mec="#C00000",
            mew=2.0,
            ls="none",
            label="OOT (outside 95% prediction limits)",
        )
        for k, (p, row) in enumerate(oot):
            if row.lower is not None and row.upper is not None:
                label = "Prediction interval at the OOT result" if k == 0 else None
                ax.plot(
                    [p.time, p.time], [row.lower, row.upper], color="#C00000", lw=2.5, alpha=0.6, label=label
                )
                ax.annotate(
                    "OOT", (p.time, p.value), xytext=(10, -14), textcoords="offset points", color="#C00000"
                )
    oos = [p for p in ev.points if p.oos]
    if oos:
        ax.plot(
            [p.time for p in oos],
            [p.value for p in oos],
            marker="X",
            ms=14,
            mfc="none",
            mec="black",
            mew=1.6,
            ls="none",
            label="OOS (fails the acceptance criterion)",
        )
        for p in oos:
            ax.annotate("OOS", (p.time, p.value), xytext=(10, 8), textcoords="offset points")


def trend_plot(ev: SeriesEvaluation, *, size: tuple[float, float] = SIZE_INCHES, dpi: int = DPI) -> bytes:
    """The trend chart of one series as PNG bytes (identical bytes for identical input)."""
    import matplotlib
    from matplotlib import style as mpl_style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    with mpl_style.context("default"), matplotlib.rc_context({"font.size": 9}):
        fig = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.07, 0.1, 0.57, 0.8))
        x_max = _x_max(ev)
        times = np.linspace(0.0, x_max, 241)
        style = {b: i % len(MARKERS) for i, b in enumerate(ev.batches)}
        handles: list[Line2D] = []
        for b, i in style.items():
            pts = [p for p in ev.points if p.batch == b]
            ax.plot(
                [p.time for p in pts],
                [p.value for p in pts],
                marker=MARKERS[i],
                color=COLOURS[i],
                mfc="white" if i % 2 else COLOURS[i],
                ms=6,
                ls="none",
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=MARKERS[i],
                    color=COLOURS[i],
                    ls=LINESTYLES[i],
                    mfc="white" if i % 2 else COLOURS[i],
                )
            )
        _batch_lines(ax, ev, times, style)
        _limits_and_shelf_life(ax, ev, times, x_max)
        _flags(ax, ev)
        extra, extra_labels = ax.get_legend_handles_labels()
        ax.legend(
            [*handles, *extra],
            [f"Batch {b}" for b in style] + extra_labels,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=8,
            frameon=False,
            title=_model(ev),
            title_fontsize=8,
        )
        ax.set_xlim(0.0, x_max)
        ax.set_xlabel("Time (months)")
        ax.set_ylabel(f"{ev.component} ({ev.units})" if ev.units else ev.component)
        ax.set_title(f"{ev.study_id}: {ev.test} - {ev.component}, {ev.condition}", fontsize=10)
        ax.grid(True, color="#DDDDDD", lw=0.6)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
