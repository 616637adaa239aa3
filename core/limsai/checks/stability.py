"""Stability trending over one study: ICH Q1E shelf life and out-of-trend (OOT) results per series.

A stability report has to say, for every attribute, how long the product stays within its
specification (ICH Q1E) and whether any result leaves the trend of its batch before it leaves the
specification (OOT; PhRMA 2003, ECA 2016, MHRA). Both rest on the same series, built here from the
study's records and judged with :mod:`limsai.stats` so that the numbers match JMP and expirest.

Series and points:
- A series is one (condition, test, component). Its points are the reportable numeric results of
  stability-pull samples; replicated units of one sample (dissolution) are trended as their mean,
  which is the value a stability summary tables and the one a trend is defined on. Qualified values
  ("<0.05") and text results are left out.
- Time is the time point's nominal value converted to months with 1 month = 365.25 / 12 =
  30.4375 days (a week is 7 days, an hour 1/24 day), so "13 weeks" and "91 days" land on the same
  2.99 months and a series mixing units sorts correctly.
- A point is OOS when any of its results fails the acceptance criterion after USP rounding.

Shelf life: only for the configured conditions (long term by default), only with a specification
limit, and only from batches with at least 3 distinct time points, of which there must be at least
2. The lower limit is used when the specification gives a minimum, the upper when it gives a maximum,
both (two-sided) when it gives both.

OOT, by the prediction-limit regression control chart (Mihalovits & Kemeny 2017), with these
choices, all configurable in :class:`StabilityEvaluationConfig`:
- Each batch in turn is the current batch; the historical batches are the *other* batches of the
  same series. The residual SD comes only from them, so a batch's own off-trend result cannot widen
  the limits it is judged against; at least 2 historical batches with 3 or more points are required.
- The first 3 time points of the current batch are the reference set (no limits); each later point is
  judged against the line through the points accepted so far at alpha = 0.05 (two-sided), and a
  flagged point does not join the line, so it cannot drag later limits towards itself.
- OOS points take no part in OOT: an OOT result is by definition within specification, an OOS result
  is already a critical finding with its own investigation, and an out-of-specification value would
  otherwise distort the lines and pooled SD that judge the remaining points.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from limsai.checks.findings import Evidence, Finding, FindingKind, RecordType, Severity
from limsai.checks.oos import acceptance_criteria
from limsai.checks.run_all import StudyData
from limsai.model import ConditionKind, Result, SampleKind, Specification
from limsai.stats.oot import OotChart, OotMethod, regression_control_chart
from limsai.stats.q1e import InsufficientDataError, MseMode, ShelfLifeResult, evaluate_shelf_life
from limsai.stats.rounding import conforms

DAYS_PER_MONTH = 365.25 / 12.0
DAYS_PER_UNIT: dict[str, float] = {"month": DAYS_PER_MONTH, "week": 7.0, "day": 1.0, "hour": 1.0 / 24.0}

OOT_NOTE = (
    "Open an OOT investigation per SOP: confirm the result (calculations, integration, sample and "
    "standard preparation), compare it with the other batches at this pull, and assess whether the "
    "batch's trend or the proposed shelf life is affected; the result meets its specification, so no "
    "OOS phase I is required"
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StabilityEvaluationConfig(_Frozen):
    """Every threshold of the stability evaluation (defaults: ICH Q1E and Mihalovits & Kemeny 2017)."""

    shelf_life_conditions: frozenset[ConditionKind] = frozenset({ConditionKind.LONG_TERM})
    shelf_life_alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    alpha_pool: float = Field(default=0.25, gt=0.0, lt=1.0)
    mse: MseMode = "pooled"
    search_range: tuple[float, float] = (0.0, 500.0)
    min_batches: int = Field(default=2, ge=2)
    min_timepoints: int = Field(default=3, ge=3)
    oot_method: OotMethod = "prediction"
    oot_alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    reference_points: int = Field(default=3, ge=2)
    min_historical_batches: int = Field(default=2, ge=1)
    exclude_oos_from_oot: bool = True


class SeriesPoint(_Frozen):
    """One reportable value of one batch at one pull (the mean when the sample has several units)."""

    batch: str
    time: float = Field(description="months")
    value: float
    sample_id: str
    timepoint_id: str
    timepoint_label: str
    result_ids: tuple[str, ...]
    reported: tuple[str, ...] = Field(description="the values as the LIMS holds them")
    oos: bool = False


class OotPoint(_Frozen):
    """One point of a batch's regression control chart: the point and its limits (None for the
    reference set)."""

    point: SeriesPoint
    lower: float | None
    upper: float | None
    oot: bool
    reference: bool


class BatchOot(_Frozen):
    """The OOT chart of one batch judged against the other batches, or why there is none."""

    batch: str
    historical: tuple[str, ...] = ()
    method: str = ""
    alpha: float | None = None
    s_pooled: float | None = None
    df: int | None = None
    rows: tuple[OotPoint, ...] = ()
    skipped: str | None = None


class SeriesEvaluation(_Frozen):
    """Shelf life and OOT of one (condition, test, component) of a stability study."""

    study_id: str
    sponsor_id: str
    condition_id: str
    condition: str
    condition_kind: ConditionKind
    test: str
    component: str
    units: str
    spec_id: str | None
    lower: float | None
    upper: float | None
    batches: tuple[str, ...]
    points: tuple[SeriesPoint, ...]
    shelf_life: ShelfLifeResult | None = None
    shelf_life_batches: tuple[str, ...] = ()
    shelf_life_skipped: str | None = None
    oot: tuple[BatchOot, ...] = ()

    @property
    def oot_points(self) -> list[tuple[str, OotPoint]]:
        """(batch, point) of every flagged point, in batch then time order."""
        return [(b.batch, row) for b in self.oot for row in b.rows if row.oot]


def to_months(nominal: str | Decimal, unit: str) -> float:
    """A time point's nominal time in months (1 month = 365.25 / 12 days)."""
    try:
        days = DAYS_PER_UNIT[str(unit)]
    except KeyError:
        raise ValueError(f"unknown time unit {unit!r}") from None
    months = float(Decimal(str(nominal))) * days / DAYS_PER_MONTH
    return round(months, 9)


def build_series(data: StudyData) -> dict[tuple[str, str, str], list[SeriesPoint]]:
    """(condition id, test, component) -> its points sorted by batch, time and sample id."""
    study_id = data.study.study_id
    criteria = acceptance_criteria(data.specifications)
    timepoints = {t.timepoint_id: t for t in data.timepoints if t.study_id == study_id}
    samples = {
        s.sample_id: s
        for s in data.samples
        if s.study_id == study_id
        and s.kind is SampleKind.STABILITY_PULL
        and s.batch
        and s.condition_id
        and s.timepoint_id in timepoints
    }
    grouped: dict[tuple[str, str, str], list[Result]] = defaultdict(list)
    for r in data.results:
        if r.study_id == study_id and r.sample_id in samples and r.reportable and r.numeric is not None:
            grouped[(r.sample_id, r.test, r.component)].append(r)
    series: dict[tuple[str, str, str], list[SeriesPoint]] = defaultdict(list)
    for (sample_id, test, component), results in sorted(grouped.items()):
        sample = samples[sample_id]
        tp = timepoints[sample.timepoint_id or ""]
        results.sort(key=lambda r: (r.replicate, r.result_id))
        values = [float(r.numeric or 0) for r in results]
        spec = criteria.get((study_id, test, component))
        oos = spec is not None and any(conforms(r.value or "", spec) is False for r in results)
        series[(sample.condition_id or "", test, component)].append(
            SeriesPoint(
                batch=sample.batch or "",
                time=to_months(tp.nominal, tp.unit),
                value=math.fsum(values) / len(values),
                sample_id=sample_id,
                timepoint_id=tp.timepoint_id,
                timepoint_label=tp.label,
                result_ids=tuple(r.result_id for r in results),
                reported=tuple(r.value or "" for r in results),
                oos=oos,
            )
        )
    return {
        key: sorted(pts, key=lambda p: (p.batch, p.time, p.sample_id)) for key, pts in sorted(series.items())
    }


def _limit(value: str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def _shelf_life(
    points: Sequence[SeriesPoint], spec: Specification | None, config: StabilityEvaluationConfig
) -> tuple[ShelfLifeResult | None, tuple[str, ...], str | None]:
    if spec is None or (spec.min is None and spec.max is None):
        return None, (), "no numeric acceptance criterion for this attribute"
    times: dict[str, set[float]] = defaultdict(set)
    for p in points:
        times[p.batch].add(p.time)
    usable = tuple(sorted(b for b, ts in times.items() if len(ts) >= config.min_timepoints))
    if len(usable) < config.min_batches:
        counts = ", ".join(f"{b}: {len(ts)}" for b, ts in sorted(times.items()))
        return (
            None,
            usable,
            (
                f"needs at least {config.min_batches} batches with {config.min_timepoints} or more time "
                f"points; time points per batch: {counts or 'none'}"
            ),
        )
    used = [p for p in points if p.batch in usable]
    try:
        result = evaluate_shelf_life(
            [p.time for p in used],
            [p.value for p in used],
            [p.batch for p in used],
            lower=_limit(spec.min),
            upper=_limit(spec.max),
            alpha=config.shelf_life_alpha,
            alpha_pool=config.alpha_pool,
            mse=config.mse,
            search_range=config.search_range,
        )
    except InsufficientDataError as exc:
        return None, usable, str(exc)
    return result, usable, None


def _batch_oot(
    batch: str, by_batch: dict[str, list[SeriesPoint]], config: StabilityEvaluationConfig
) -> BatchOot:
    current = sorted(by_batch[batch], key=lambda p: (p.time, p.value, p.sample_id))
    historical = {
        b: ([p.time for p in pts], [p.value for p in pts])
        for b, pts in sorted(by_batch.items())
        if b != batch and len({p.time for p in pts}) >= 3
    }
    names = tuple(historical)
    if len(historical) < config.min_historical_batches:
        return BatchOot(
            batch=batch,
            historical=names,
            skipped=(
                f"needs at least {config.min_historical_batches} other batches with 3 or more time "
                f"points for the residual SD; found {len(historical)}"
            ),
        )
    if len(current) <= config.reference_points:
        return BatchOot(
            batch=batch,
            historical=names,
            skipped=(
                f"{len(current)} points: nothing to judge after the first {config.reference_points} "
                "reference points"
            ),
        )
    try:
        chart: OotChart = regression_control_chart(
            historical,
            ([p.time for p in current], [p.value for p in current]),
            method=config.oot_method,
            alpha=config.oot_alpha,
            reference_points=config.reference_points,
        )
    except ValueError as exc:
        return BatchOot(batch=batch, historical=names, skipped=str(exc))
    rows = tuple(
        OotPoint(point=p, lower=row.lower, upper=row.upper, oot=row.oot, reference=row.reference)
        for row, p in zip(chart.rows, current, strict=True)
    )
    return BatchOot(
        batch=batch,
        historical=names,
        method=chart.method,
        alpha=chart.alpha,
        s_pooled=chart.s_pooled,
        df=chart.df,
        rows=rows,
    )


def evaluate_series(
    data: StudyData,
    condition_id: str,
    test: str,
    component: str,
    points: Sequence[SeriesPoint],
    config: StabilityEvaluationConfig | None = None,
) -> SeriesEvaluation:
    """Shelf life (where it applies) and the OOT chart of every batch of one series."""
    cfg = config or StabilityEvaluationConfig()
    study = data.study
    condition = next((c for c in data.conditions if c.condition_id == condition_id), None)
    kind = condition.kind if condition is not None else ConditionKind.OTHER
    spec = acceptance_criteria(data.specifications).get((study.study_id, test, component))
    units = next((r.units for r in data.results if r.result_id in points[0].result_ids), "") if points else ""
    if spec is not None and spec.units:
        units = spec.units
    pts = sorted(points, key=lambda p: (p.batch, p.time, p.sample_id))
    if kind in cfg.shelf_life_conditions:
        shelf, used, skipped = _shelf_life(pts, spec, cfg)
    else:
        shelf, used, skipped = None, (), f"shelf life is evaluated at {_kinds(cfg)} conditions only"
    by_batch: dict[str, list[SeriesPoint]] = defaultdict(list)
    for p in pts:
        if not (cfg.exclude_oos_from_oot and p.oos):
            by_batch[p.batch].append(p)
    batches = tuple(sorted({p.batch for p in pts}))
    oot = tuple(
        _batch_oot(b, by_batch, cfg)
        if b in by_batch
        else BatchOot(batch=b, skipped="no points within specification")
        for b in batches
    )
    return SeriesEvaluation(
        study_id=study.study_id,
        sponsor_id=study.sponsor_id,
        condition_id=condition_id,
        condition=condition.label if condition is not None else condition_id,
        condition_kind=kind,
        test=test,
        component=component,
        units=units,
        spec_id=spec.spec_id if spec is not None else None,
        lower=_limit(spec.min) if spec is not None else None,
        upper=_limit(spec.max) if spec is not None else None,
        batches=batches,
        points=tuple(pts),
        shelf_life=shelf,
        shelf_life_batches=used,
        shelf_life_skipped=skipped,
        oot=oot,
    )


def _kinds(cfg: StabilityEvaluationConfig) -> str:
    return " and ".join(sorted(k.value.replace("_", "-") for k in cfg.shelf_life_conditions))


def evaluate_stability(
    data: StudyData, config: StabilityEvaluationConfig | None = None
) -> list[SeriesEvaluation]:
    """Every series of the study, ordered by condition id, test and component."""
    return [
        evaluate_series(data, condition_id, test, component, points, config)
        for (condition_id, test, component), points in build_series(data).items()
    ]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def oot_findings(evaluations: Iterable[SeriesEvaluation]) -> list[Finding]:
    """One major finding per OOT point, ordered by study, condition, test, component, batch, time."""
    kind = FindingKind("oot")
    findings: list[Finding] = []
    for ev in evaluations:
        for chart in ev.oot:
            for row in chart.rows:
                if row.oot:
                    findings.append(_oot_finding(ev, chart, row, kind))
    return findings


def _oot_finding(ev: SeriesEvaluation, chart: BatchOot, row: OotPoint, kind: FindingKind) -> Finding:
    point, unit = row.point, f" {ev.units}" if ev.units else ""
    lower = _fmt(row.lower) if row.lower is not None else "-inf"
    upper = _fmt(row.upper) if row.upper is not None else "inf"
    when = f"{point.timepoint_label} ({_fmt(point.time)} months)"
    shown = point.reported[0] if len(point.reported) == 1 else f"mean {_fmt(point.value)}"
    title = f"OOT: {shown}{unit} at {when} outside {lower} - {upper}{unit}"
    level = f"{100 * (1 - (chart.alpha or 0.05)):g}%"
    detail = (
        f"{ev.test} / {ev.component} of batch {chart.batch} at {ev.condition}, {when}: "
        f"{shown}{unit} lies outside the {level} {chart.method} limits {lower} - {upper}{unit} "
        f"of the batch's trend (line through its earlier accepted points; residual SD "
        f"{_fmt(chart.s_pooled or 0.0)}{unit} pooled from batches {', '.join(chart.historical)}). "
        "It is within specification."
    )
    evidence = [Evidence(record_type=RecordType.RESULT, record_id=rid) for rid in point.result_ids]
    evidence.append(Evidence(record_type=RecordType.SAMPLE, record_id=point.sample_id))
    evidence.append(Evidence(record_type=RecordType.TIMEPOINT, record_id=point.timepoint_id))
    if ev.spec_id is not None:
        evidence.append(Evidence(record_type=RecordType.SPECIFICATION, record_id=ev.spec_id))
    return Finding(
        kind=kind,
        severity=Severity.MAJOR,
        study_id=ev.study_id,
        sponsor_id=ev.sponsor_id,
        title=title,
        detail=detail,
        evidence=tuple(evidence),
        sample_id=point.sample_id,
        timepoint_label=point.timepoint_label,
        suggested_note=OOT_NOTE,
    )
