"""The tables of a data package, built from one study's records as the sponsor's profile asks:
which fields, in which order, under which headings, and which numbers rounded (USP half-up, to the
profile's decimals) or shown exactly as the LIMS holds them ("97.50" stays "97.50").

Rows are sorted on stable keys so that the same data always gives the same table.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from limsai.checks.run_all import StudyData
from limsai.model import Result, ResultStatus, SampleKind, Specification, is_decimal
from limsai.packages.profiles import SponsorProfile, TableKind, TableSpec
from limsai.stats.rounding import conforms, usp_round

Row = dict[str, str]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, (tuple, list)):
        return "; ".join(str(v) for v in value)
    return str(value)


def _shown(value: str, decimals: int | None) -> str:
    """A number as the profile wants it: exactly as reported, or USP-rounded to ``decimals``."""
    if decimals is None or not is_decimal(value):
        return value
    return f"{usp_round(value, decimals):f}"


def _spec_index(data: StudyData) -> dict[tuple[str, str], Specification]:
    return {(s.test, s.component): s for s in data.specifications if s.kind.value == "acceptance"}


def _reportable(data: StudyData) -> list[Result]:
    return [r for r in data.results if r.reportable and r.status not in (ResultStatus.INVALIDATED,)]


def results_by_timepoint(data: StudyData, profile: SponsorProfile) -> list[Row]:
    samples = {s.sample_id: s for s in data.samples}
    conditions = {c.condition_id: c for c in data.conditions}
    timepoints = {t.timepoint_id: t for t in data.timepoints}
    specs = _spec_index(data)
    rows: list[tuple[tuple[Any, ...], Row]] = []
    for r in _reportable(data):
        sample = samples.get(r.sample_id)
        if sample is None or sample.kind is not SampleKind.STABILITY_PULL:
            continue
        cond = conditions.get(sample.condition_id or "")
        tp = timepoints.get(sample.timepoint_id or "")
        spec = specs.get((r.test, r.component))
        key = (
            cond.label if cond else "",
            tp.nominal_value if tp else Decimal(0),
            sample.batch or "",
            r.sample_id,
            r.test,
            r.component,
            r.replicate,
        )
        rows.append(
            (
                key,
                {
                    "condition": cond.label if cond else "",
                    "timepoint": tp.label if tp else "",
                    "batch": sample.batch or "",
                    "sample_id": r.sample_id,
                    "test": r.test,
                    "component": r.component,
                    "replicate": str(r.replicate),
                    "value": r.value or "",
                    "units": profile.display_units(r.units),
                    "specification": spec.describe() if spec else "",
                    "status": r.status.value,
                    "analysed_at": _text(r.analysed_at),
                    "comment": r.comment,
                },
            )
        )
    return [row for _, row in sorted(rows, key=lambda kv: kv[0])]


def stability_summary(data: StudyData, profile: SponsorProfile) -> list[Row]:
    groups: dict[tuple[Any, ...], list[Result]] = defaultdict(list)
    labels: dict[tuple[Any, ...], tuple[str, str]] = {}
    samples = {s.sample_id: s for s in data.samples}
    conditions = {c.condition_id: c for c in data.conditions}
    timepoints = {t.timepoint_id: t for t in data.timepoints}
    for r in _reportable(data):
        sample = samples.get(r.sample_id)
        if sample is None or sample.kind is not SampleKind.STABILITY_PULL or r.numeric is None:
            continue
        cond = conditions.get(sample.condition_id or "")
        tp = timepoints.get(sample.timepoint_id or "")
        key = (
            cond.label if cond else "",
            tp.nominal_value if tp else Decimal(0),
            sample.batch or "",
            r.test,
            r.component,
        )
        groups[key].append(r)
        labels[key] = (cond.label if cond else "", tp.label if tp else "")
    specs = _spec_index(data)
    rows = []
    for key in sorted(groups):
        values = [r.numeric for r in groups[key] if r.numeric is not None]
        spec = specs.get((key[3], key[4]))
        verdicts = [conforms(r.value or "", spec) for r in groups[key]] if spec else []
        rows.append(
            {
                "condition": labels[key][0],
                "timepoint": labels[key][1],
                "batch": key[2],
                "test": key[3],
                "component": key[4],
                "n": str(len(values)),
                "mean": f"{statistics.fmean(values):.6f}",
                "sd": f"{statistics.stdev(values):.6f}" if len(values) > 1 else "",
                "min": _text(min(groups[key], key=lambda r: r.numeric or 0).value),
                "max": _text(max(groups[key], key=lambda r: r.numeric or 0).value),
                "units": profile.display_units(groups[key][0].units),
                "specification": spec.describe() if spec else "",
                "conforms": ""
                if not verdicts
                else ("yes" if all(v is not False for v in verdicts) else "no"),
            }
        )
    return rows


def pk_concentrations(data: StudyData, profile: SponsorProfile) -> list[Row]:
    samples = {s.sample_id: s for s in data.samples}
    timepoints = {t.timepoint_id: t for t in data.timepoints}
    rows: list[tuple[tuple[Any, ...], Row]] = []
    for r in _reportable(data):
        sample = samples.get(r.sample_id)
        if sample is None or sample.kind is not SampleKind.PK:
            continue
        tp = timepoints.get(sample.timepoint_id or "")
        key = (sample.subject_id or "", tp.nominal_value if tp else Decimal(0), r.sample_id, r.component)
        rows.append(
            (
                key,
                {
                    "subject_id": sample.subject_id or "",
                    "treatment_arm": sample.treatment_arm or "",
                    "timepoint": tp.label if tp else "",
                    "nominal_time_h": tp.nominal if tp else "",
                    "sample_id": r.sample_id,
                    "analyte": r.component,
                    "concentration": r.value or "",
                    "units": profile.display_units(r.units),
                    "bql": "yes" if r.value == "BLQ" else "",
                    "run_id": r.run_id or "",
                    "status": r.status.value,
                    "comment": r.comment,
                },
            )
        )
    return [row for _, row in sorted(rows, key=lambda kv: kv[0])]


def _records(items: Iterable[Any], key: str) -> list[Row]:
    return [
        {k: _text(v) for k, v in item.model_dump().items()}
        for item in sorted(items, key=lambda i: getattr(i, key))
    ]


BUILDERS: dict[TableKind, Callable[[StudyData, SponsorProfile], list[Row]]] = {
    TableKind.RESULTS_BY_TIMEPOINT: results_by_timepoint,
    TableKind.STABILITY_SUMMARY: stability_summary,
    TableKind.PK_CONCENTRATIONS: pk_concentrations,
    TableKind.SAMPLE_INVENTORY: lambda d, p: _records(d.samples, "sample_id"),
    TableKind.DEVIATIONS: lambda d, p: _records(d.deviations, "deviation_id"),
    TableKind.CALIBRATIONS: lambda d, p: _records(d.calibrations, "calibration_id"),
    TableKind.REAGENT_LOTS: lambda d, p: _records(d.reagent_lots, "lot_id"),
    TableKind.SPECIFICATIONS: lambda d, p: _records(d.specifications, "spec_id"),
}


def build_table(
    spec: TableSpec, data: StudyData, profile: SponsorProfile
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Headings and rows of one profile table: the profile's columns, in its order, its rounding."""
    rows = BUILDERS[TableKind(spec.table)](data, profile)
    headings = tuple(c.heading for c in spec.columns)
    cells = [
        tuple(_shown(row.get(c.field, ""), spec.decimals(c.field)) for c in spec.columns) for row in rows
    ]
    return headings, cells
