"""The stability trend chart: a valid PNG, identical bytes for identical input, and a chart for every
shape of series (one batch, upper limit only, no limit, with OOT and OOS points)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from limsai.checks.run_all import StudyData
from limsai.checks.stability import SeriesEvaluation, evaluate_stability
from limsai.lims.scenario import DEFAULT_SEED, REFERENCE_TIME, generate
from limsai.model import StudyType
from limsai.packages.trend_plot import confidence_bounds, trend_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def studies() -> list[StudyData]:
    scenario = generate(DEFAULT_SEED)
    return [
        StudyData.from_dataset(scenario.dataset, study.study_id, REFERENCE_TIME)
        for study in scenario.dataset.studies
        if study.study_type is StudyType.STABILITY
    ]


@pytest.fixture(scope="module")
def evaluations(studies: list[StudyData]) -> list[SeriesEvaluation]:
    return [ev for data in studies for ev in evaluate_stability(data)]


def _check_png(png: bytes) -> None:
    assert png.startswith(PNG_SIGNATURE)
    assert 10_000 < len(png) < 400_000


def test_chart_with_oot_and_shelf_life_is_deterministic(evaluations: list[SeriesEvaluation]) -> None:
    ev = next(e for e in evaluations if e.oot_points)
    assert ev.shelf_life is not None and ev.shelf_life.shelf_life is not None
    first = trend_plot(ev)
    _check_png(first)
    assert trend_plot(ev) == first
    assert trend_plot(ev.model_copy()) == first


def test_chart_with_oos_points(evaluations: list[SeriesEvaluation]) -> None:
    ev = next(e for e in evaluations if any(p.oos for p in e.points))
    _check_png(trend_plot(ev))


def test_bound_meets_the_limit_at_the_shelf_life(evaluations: list[SeriesEvaluation]) -> None:
    for ev in evaluations:
        res = ev.shelf_life
        if res is None or res.shelf_life is None or res.shelf_life == 0.0:
            continue
        worst = res.worst_batch or "pooled"
        at = confidence_bounds(ev, np.array([res.shelf_life]))
        limits = [v for v in (res.lower, res.upper) if v is not None]
        values = [float(b[0]) for name, _side, b in at if name == worst]
        assert any(abs(v - lim) < 1e-6 * max(1.0, abs(lim)) for v in values for lim in limits), ev.component


def _long_term(data: StudyData, component: str) -> SeriesEvaluation:
    return next(
        e for e in evaluate_stability(data) if e.condition_kind == "long_term" and e.component == component
    )


def test_chart_for_one_batch(studies: list[StudyData]) -> None:
    data = studies[0]
    batch = data.study.batches[0]
    one = replace(data, samples=tuple(s for s in data.samples if s.batch == batch))
    ev = _long_term(one, "Water")
    assert ev.batches == (batch,) and ev.shelf_life is None
    png = trend_plot(ev)
    _check_png(png)
    assert trend_plot(ev) == png


def test_chart_for_upper_limit_only(studies: list[StudyData]) -> None:
    ev = _long_term(studies[0], "Impurity A")
    assert ev.lower is None and ev.upper is not None and ev.shelf_life is not None
    _check_png(trend_plot(ev))


def test_chart_without_limits(studies: list[StudyData]) -> None:
    ev = _long_term(replace(studies[0], specifications=()), "Water")
    assert ev.lower is None and ev.upper is None and ev.shelf_life is None
    _check_png(trend_plot(ev))
