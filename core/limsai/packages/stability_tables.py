"""The stability tables a data package and a report draft share: shelf life by ICH Q1E per
attribute and condition, and the out-of-trend results, built from the series evaluations of
:mod:`limsai.checks.stability` as rows of display strings."""

from __future__ import annotations

from limsai.checks.stability import SeriesEvaluation
from limsai.packages.render import RenderedTable

SHELF_LIFE_HEADINGS = (
    "Attribute",
    "Condition",
    "Batches",
    "Model",
    "Shelf life (months)",
    "Worst batch",
    "p (slopes)",
    "p (intercepts)",
)
OOT_HEADINGS = ("Attribute", "Condition", "Batch", "Timepoint", "Result", "Lower limit", "Upper limit")


def attribute(ev: SeriesEvaluation) -> str:
    """``Test (component)``, or the test alone when the component repeats it."""
    return ev.test if ev.component in ("", ev.test) else f"{ev.test} ({ev.component})"


def months(value: float) -> str:
    return f"{value:.1f}"


def shelf_life_rows(evaluations: list[SeriesEvaluation]) -> list[tuple[str, ...]]:
    """One row per series that has a shelf-life estimate."""
    rows: list[tuple[str, ...]] = []
    for ev in evaluations:
        result = ev.shelf_life
        if result is None:
            continue
        pool = result.poolability
        rows.append(
            (
                attribute(ev),
                ev.condition,
                ", ".join(ev.shelf_life_batches or ev.batches),
                result.model,
                months(result.shelf_life) if result.shelf_life is not None else "not reached",
                result.worst_batch or "",
                f"{pool.slopes.p:.3f}",
                f"{pool.intercepts.p:.3f}",
            )
        )
    return rows


def oot_rows(evaluations: list[SeriesEvaluation]) -> list[tuple[str, ...]]:
    """One row per out-of-trend point, with the prediction limits it fell outside."""
    return [
        (
            attribute(ev),
            ev.condition,
            batch,
            row.point.timepoint_label,
            " / ".join(row.point.reported),
            f"{row.lower:.2f}" if row.lower is not None else "",
            f"{row.upper:.2f}" if row.upper is not None else "",
        )
        for ev in evaluations
        for batch, row in ev.oot_points
    ]


def stability_tables(evaluations: list[SeriesEvaluation]) -> list[RenderedTable]:
    """The two tables, as a package renders them."""
    return [
        RenderedTable(
            name="shelf_life",
            title="Shelf life by ICH Q1E",
            headings=SHELF_LIFE_HEADINGS,
            rows=tuple(shelf_life_rows(evaluations)),
        ),
        RenderedTable(
            name="out_of_trend",
            title="Out-of-trend results (prediction-limit regression control chart)",
            headings=OOT_HEADINGS,
            rows=tuple(oot_rows(evaluations)),
        ),
    ]
