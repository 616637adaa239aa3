"""``limsai stats``: shelf life (ICH Q1E), OOT trending and OOS judgement from the command line.

Analysts and reviewers need to re-run the statistics behind a stability report on a plain CSV export
without the LIMS. Commands read CSVs with the stdlib csv module, keep scipy imports inside the
commands (start-up stays fast) and follow the ``--json`` and exit-code rules of
:mod:`limsai.cli_support`: bad files or values exit 3 with a message, never a traceback.
"""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from limsai.cli_support import emit_json, guarded

stats_app = typer.Typer(
    help="Stability statistics: ICH Q1E shelf life, OOT trending, OOS judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
FileArg = Annotated[Path, typer.Argument(help="CSV file with a header row.")]
TimeOpt = Annotated[str, typer.Option("--time", help="Column holding the time (e.g. months).")]
ResponseOpt = Annotated[str, typer.Option("--response", help="Column holding the result.")]
BatchOpt = Annotated[str, typer.Option("--batch", help="Column holding the batch.")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Significance level of the bound or limits.")]


class StatsInputError(ValueError):
    """The CSV or the options cannot give a statistical answer."""


class MseChoice(StrEnum):
    pooled = "pooled"
    per_batch = "per-batch"


class OotChoice(StrEnum):
    prediction = "prediction"
    confidence = "confidence"
    shewhart = "shewhart"
    tolerance = "tolerance"


def read_series(
    file: Path, time_col: str, response_col: str, batch_col: str
) -> tuple[list[float], list[float], list[str]]:
    """Times, responses and batch labels of a CSV; StatsInputError names the file, row and column."""
    if not file.is_file():
        raise StatsInputError(f"{file}: no such file")
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in (time_col, response_col, batch_col) if c not in header]
            if missing:
                raise StatsInputError(
                    f"{file}: missing column(s) {', '.join(missing)} (has: {', '.join(header) or 'none'})"
                )
            times: list[float] = []
            values: list[float] = []
            batches: list[str] = []
            for line, row in enumerate(reader, start=2):
                times.append(_number(file, line, time_col, row.get(time_col)))
                values.append(_number(file, line, response_col, row.get(response_col)))
                label = (row.get(batch_col) or "").strip()
                if not label:
                    raise StatsInputError(f"{file}: row {line}: empty batch in column {batch_col}")
                batches.append(label)
    except UnicodeDecodeError as exc:
        raise StatsInputError(f"{file}: not a UTF-8 text file ({exc.reason})") from exc
    except csv.Error as exc:
        raise StatsInputError(f"{file}: not a readable CSV ({exc})") from exc
    if not times:
        raise StatsInputError(f"{file}: no data rows")
    return times, values, batches


def _number(file: Path, line: int, column: str, text: str | None) -> float:
    import math

    try:
        value = float((text or "").strip())
    except ValueError:
        raise StatsInputError(f"{file}: row {line}: column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise StatsInputError(f"{file}: row {line}: column {column}: {text!r} is not a finite number")
    return value


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@stats_app.command("shelf-life")
def shelf_life(
    file: FileArg,
    time_col: TimeOpt,
    response_col: ResponseOpt,
    batch_col: BatchOpt,
    lower: Annotated[float | None, typer.Option("--lower", help="Lower acceptance limit.")] = None,
    upper: Annotated[float | None, typer.Option("--upper", help="Upper acceptance limit.")] = None,
    alpha: AlphaOpt = 0.05,
    alpha_pool: Annotated[float, typer.Option("--alpha-pool", help="Poolability test level.")] = 0.25,
    mse: Annotated[MseChoice, typer.Option("--mse", help="MSE for separate lines.")] = MseChoice.pooled,
    search_max: Annotated[
        float, typer.Option("--search-max", help="Longest shelf life searched (time units).")
    ] = 500.0,
    as_json: JsonOpt = False,
) -> None:
    """ICH Q1E shelf life: poolability (ANCOVA), chosen model, worst batch. Give --lower, --upper or
    both (two-sided)."""
    from limsai.stats.q1e import ShelfLifeResult, evaluate_shelf_life

    def run() -> ShelfLifeResult:
        if lower is None and upper is None:
            raise StatsInputError("give an acceptance limit: --lower, --upper or both")
        t, y, b = read_series(file, time_col, response_col, batch_col)
        return evaluate_shelf_life(
            t,
            y,
            b,
            lower=lower,
            upper=upper,
            alpha=alpha,
            alpha_pool=alpha_pool,
            mse="pooled" if mse == MseChoice.pooled else "per-batch",
            search_range=(0.0, search_max),
        )

    result = guarded(as_json, run)
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ICH Q1E shelf life ({file.name})")
    for column in ("model", "shelf life", "worst batch", "chosen"):
        table.add_column(column)
    for name, fit in result.per_model.items():
        mark = "yes" if name == result.model else ""
        table.add_row(name, _fmt(fit.shelf_life), fit.worst_batch or "-", mark)
    console = Console()
    console.print(table)
    pool = result.poolability
    console.print(
        f"slopes F({pool.slopes.df1}, {pool.slopes.df2}) = {pool.slopes.F:.3f}, p = {pool.slopes.p:.4f}; "
        f"intercepts F = {pool.intercepts.F:.3f}, p = {pool.intercepts.p:.4f}",
        highlight=False,
    )
    console.print(result.reason, highlight=False)


@stats_app.command("oot")
def oot(
    file: FileArg,
    time_col: TimeOpt,
    response_col: ResponseOpt,
    batch_col: BatchOpt,
    current: Annotated[str, typer.Option("--current", help="Batch to judge; the others are history.")],
    method: Annotated[OotChoice, typer.Option("--method", help="Limit type.")] = OotChoice.prediction,
    alpha: AlphaOpt = 0.05,
    reference_points: Annotated[
        int, typer.Option("--reference-points", help="First points of the current batch that set the line.")
    ] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Regression control chart of one batch against the pooled residual SD of the other batches."""
    from limsai.stats.oot import OotChart, Series, regression_control_chart

    def run() -> OotChart:
        t, y, b = read_series(file, time_col, response_col, batch_col)
        groups: dict[str, tuple[list[float], list[float]]] = {}
        for ti, yi, bi in zip(t, y, b, strict=True):
            entry = groups.setdefault(bi, ([], []))
            entry[0].append(ti)
            entry[1].append(yi)
        if current not in groups:
            raise StatsInputError(f"batch {current!r} is not in {file} (has: {', '.join(sorted(groups))})")
        history: dict[str, Series] = {k: v for k, v in groups.items() if k != current}
        if not history:
            raise StatsInputError("OOT needs at least one historical batch besides the current one")
        try:
            return regression_control_chart(
                history,
                groups[current],
                method=method.value,
                alpha=alpha,
                reference_points=reference_points,
            )
        except ValueError as exc:
            raise StatsInputError(str(exc)) from exc

    chart = guarded(as_json, run)
    document: dict[str, Any] = {"current": current, **chart.model_dump(mode="json")}
    if as_json:
        emit_json(document)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"OOT {chart.method} chart, batch {current} (s_p {chart.s_pooled:.4g}, df {chart.df})"
    )
    for column in ("time", "value", "lower", "upper", "OOT"):
        table.add_column(column)
    for row in chart.rows:
        flag = "reference" if row.reference else ("OOT" if row.oot else "")
        table.add_row(f"{row.time:g}", f"{row.value:g}", _fmt(row.lower), _fmt(row.upper), flag)
    Console().print(table)


@stats_app.command("oos")
def oos(
    value: Annotated[str, typer.Option("--value", help="Reportable value as written.")],
    min_: Annotated[str | None, typer.Option("--min", help="Lower limit as written (NLT).")] = None,
    max_: Annotated[str | None, typer.Option("--max", help="Upper limit as written (NMT).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge a value against its limits after USP rounding to the limits' decimals."""
    from limsai.model import Specification, is_decimal
    from limsai.stats.rounding import conforms, usp_round

    def run() -> dict[str, Any]:
        if min_ is None and max_ is None:
            raise StatsInputError("give a limit: --min, --max or both")
        if not is_decimal(value):
            raise StatsInputError(f"{value!r} is not a decimal number")
        spec = Specification(
            spec_id="cli",
            study_id="cli",
            sponsor_id="cli",
            test="value",
            component="value",
            min=min_,
            max=max_,
        )
        return {
            "value": value,
            "reported": str(usp_round(value, spec.decimals)),
            "decimals": spec.decimals,
            "min": min_,
            "max": max_,
            "conforms": conforms(value, spec),
        }

    outcome = guarded(as_json, run)
    if as_json:
        emit_json(outcome)
    else:
        verdict = "conforms" if outcome["conforms"] else "does NOT conform"
        typer.echo(f"{value} -> reported {outcome['reported']}: {verdict}")
