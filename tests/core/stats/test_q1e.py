"""ICH Q1E shelf life against LeBlond et al. (2011) / expirest published values and independent fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from limsai.stats.linear import (
    JointModel,
    crossing_time,
    crossing_time_brentq,
    design_matrix,
    design_row,
    quadratic_form,
    residual_sse,
)
from limsai.stats.q1e import (
    ExtrapolationRules,
    InsufficientDataError,
    evaluate_shelf_life,
    max_extrapolation,
)

LEBLOND = {
    "b2": "0:101 1:101.3 3:99.8 3:99.2 6:99.5 6:97.8 12:97.4 12:97.2 24:96.9 24:96",
    "b3": "0:104.8 3:103 3:101.2 6:100.8 6:99.2 12:98.6 12:97.2 24:97.6 24:98",
    "b4": "0:104 3:103.2 6:102.8 6:103.3 12:102.4 12:101.2 24:99.1 24:99.5",
    "b5": "0:102 1:101.4 2:100.8 3:100.2 3:99.7 6:98.8 6:98.5 12:98 12:97.1 24:96.6 24:96.1",
    "b7": "0:101.3 1:101.5 3:100.2 3:99.8 6:99 6:98.5 12:98.5 12:97.4 24:96.6 24:96.4",
}


def leblond(*batches: str) -> tuple[list[float], list[float], list[str]]:
    t: list[float] = []
    y: list[float] = []
    b: list[str] = []
    for name in batches:
        for pair in LEBLOND[name].split():
            month, value = pair.split(":")
            t.append(float(month))
            y.append(float(value))
            b.append(name)
    return t, y, b


# expirest finds each crossing with uniroot and prints it at that tolerance; the closed-form root
# differs from the printed digits by up to 6e-6 months (23.6672457 vs 23.66724), hence 1e-5.
ROOT_TOL = 1e-5


def test_leblond_b2_b5_b7_pools_all_batches() -> None:
    r = evaluate_shelf_life(*leblond("b2", "b5", "b7"), lower=95)
    assert r.model == "cics"
    assert r.worst_batch is None
    assert r.shelf_life == pytest.approx(25.9957631, abs=1e-6)
    assert r.intercepts["b2"] == pytest.approx(100.566878981, abs=1e-9)
    assert r.slopes["b7"] == pytest.approx(-0.192993630573, abs=1e-12)
    assert round(r.poolability.intercepts.F, 3) == 0.436  # F(batch)
    assert round(r.poolability.slopes.F, 3) == 0.229  # F(batch x time)
    assert (r.poolability.slopes.df1, r.poolability.slopes.df2) == (2, 25)
    assert round(r.regression.F, 3) == 129.051
    assert (r.regression.df1, r.regression.df2) == (1, 29)  # 31 results


def test_leblond_b3_b4_b5_common_slope() -> None:
    r = evaluate_shelf_life(*leblond("b3", "b4", "b5"), lower=95)
    assert r.model == "dics"
    assert r.worst_batch == "b5"
    assert r.shelf_life == pytest.approx(23.3972651, abs=2e-6)
    assert r.shelf_life is not None and round(r.shelf_life, 4) == 23.3973
    assert r.intercepts == pytest.approx(
        {"b3": 102.175653109, "b4": 104.255189423, "b5": 100.820021871}, abs=1e-8
    )
    assert r.slopes == pytest.approx(dict.fromkeys(("b3", "b4", "b5"), -0.213120866465), abs=1e-12)
    assert round(r.poolability.intercepts.F, 3) == 21.738
    assert round(r.poolability.slopes.F, 3) == 0.183


@pytest.mark.parametrize(
    ("mse", "expected"),
    [
        ("pooled", {"cics": 26.22410, "dics": 24.80030, "dids": 23.66724}),
        ("per-batch", {"cics": 26.22410, "dics": 24.80030, "dids": 23.34184}),
    ],
)
def test_expirest_loose_limit(mse: str, expected: dict[str, float]) -> None:
    r = evaluate_shelf_life(*leblond("b2", "b5", "b7"), lower=94.95, mse=mse)  # type: ignore[arg-type]
    got = {name: fit.shelf_life for name, fit in r.per_model.items()}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=ROOT_TOL), name


@pytest.mark.parametrize("batches", [("b2", "b5", "b7"), ("b3", "b4", "b5"), ("b2", "b3", "b4", "b5", "b7")])
def test_bound_at_shelf_life_meets_limit_with_joint_design(batches: tuple[str, ...]) -> None:
    """At each reported crossing, the bound built from the explicit joint design x0'(X'X)^-1 x0 is 95."""
    t, y, b = leblond(*batches)
    r = evaluate_shelf_life(t, y, b, lower=95)
    tt, yy = np.array(t), np.array(y)
    labels, codes = np.unique(b, return_inverse=True)
    k = len(labels)
    for model, fit in r.per_model.items():
        x = design_matrix(tt, codes, k, model)  # type: ignore[arg-type]
        coef, *_ = np.linalg.lstsq(x, yy, rcond=None)
        df = len(yy) - x.shape[1]
        s2 = residual_sse(x, yy) / df
        for code, label in enumerate(labels):
            t_star = fit.shelf_life_by_batch[label]
            assert t_star is not None
            x0 = design_row(t_star, code, k, model)  # type: ignore[arg-type]
            bound = x0 @ coef - stats.t.ppf(0.95, df) * math.sqrt(s2 * quadratic_form(x, x0))
            assert bound == pytest.approx(95.0, abs=1e-9)


def test_poolability_f_matches_explicit_ancova() -> None:
    t, y, b = leblond("b2", "b3", "b4", "b5", "b7")
    r = evaluate_shelf_life(t, y, b, lower=95)
    tt, yy = np.array(t), np.array(y)
    codes = np.unique(b, return_inverse=True)[1]
    models: tuple[JointModel, ...] = ("cics", "dics", "dids")
    sse = {m: residual_sse(design_matrix(tt, codes, 5, m), yy) for m in models}
    mse_full = sse["dids"] / (len(yy) - 10)
    f_slopes = (sse["dics"] - sse["dids"]) / 4 / mse_full
    f_ints = (sse["cics"] - sse["dics"]) / 4 / mse_full
    got_slopes, got_ints = r.poolability.slopes.F, r.poolability.intercepts.F
    assert got_slopes == pytest.approx(f_slopes, rel=1e-10)
    assert got_ints == pytest.approx(f_ints, rel=1e-10)
    assert r.poolability.slopes.p == pytest.approx(stats.f.sf(f_slopes, 4, len(yy) - 10), rel=1e-9)
    assert r.poolability.intercepts.p == pytest.approx(stats.f.sf(f_ints, 4, len(yy) - 10), rel=1e-9)


def test_upper_limit_mirrors_lower_limit() -> None:
    t, y, b = leblond("b3", "b4", "b5")
    low = evaluate_shelf_life(t, y, b, lower=95)
    high = evaluate_shelf_life(t, [200.0 - v for v in y], b, upper=105)
    assert high.model == low.model
    assert high.shelf_life == pytest.approx(low.shelf_life, abs=1e-9)


def test_two_sided_uses_half_alpha_each_side_and_earliest_crossing() -> None:
    t, y, b = leblond("b2", "b5", "b7")
    both = evaluate_shelf_life(t, y, b, lower=95, upper=1000, alpha=0.05)
    one = evaluate_shelf_life(t, y, b, lower=95, alpha=0.025)
    assert both.shelf_life == pytest.approx(one.shelf_life, abs=1e-9)
    assert both.shelf_life is not None and both.shelf_life < 25.9957631
    tight_upper = evaluate_shelf_life(t, y, b, lower=80, upper=100.7)
    assert tight_upper.shelf_life == 0.0  # the upper bound is above 100.7 at t = 0


def test_edge_cases_zero_none_and_errors() -> None:
    t, y, b = leblond("b2", "b5", "b7")
    assert evaluate_shelf_life(t, y, b, lower=101.0).shelf_life == 0.0
    rising = evaluate_shelf_life(t, [200.0 - v for v in y], b, lower=95)
    assert rising.shelf_life is None and "does not meet the limit" in rising.reason
    short = evaluate_shelf_life(t, y, b, lower=95, search_range=(0.0, 20.0))
    assert short.shelf_life is None
    with pytest.raises(InsufficientDataError, match="2 batches"):
        evaluate_shelf_life(*leblond("b2"), lower=95)
    with pytest.raises(InsufficientDataError, match="limit"):
        evaluate_shelf_life(t, y, b)
    with pytest.raises(InsufficientDataError, match="different times"):
        evaluate_shelf_life([0, 0, 0, 3, 6], [1, 2, 3, 4, 5], ["a", "a", "a", "b", "b"], lower=0)
    with pytest.raises(InsufficientDataError, match="3 points"):
        evaluate_shelf_life(
            [0, 6, 0, 3, 6, 9],
            [100, 99, 100, 99.5, 99, 98],
            ["a", "a", "b", "b", "b", "b"],
            lower=90,
            mse="per-batch",
        )


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_does_not_change_the_answer(rnd: object) -> None:
    t, y, b = leblond("b3", "b4", "b5", "b7")
    rows = list(zip(t, y, b, strict=True))
    rnd.shuffle(rows)  # type: ignore[attr-defined]
    pt, py, pb = (list(c) for c in zip(*rows, strict=True))
    ref = evaluate_shelf_life(t, y, b, lower=95, upper=106)
    got = evaluate_shelf_life(pt, py, pb, lower=95, upper=106)
    assert (got.model, got.worst_batch) == (ref.model, ref.worst_batch)
    assert got.shelf_life == pytest.approx(ref.shelf_life, abs=1e-9)
    got_f, ref_f = got.poolability.slopes.F, ref.poolability.slopes.F
    assert got_f == pytest.approx(ref_f, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    b0=st.floats(95.5, 110),
    b1=st.floats(-2.0, 0.5),
    s2=st.floats(0.01, 4.0),
    n=st.integers(3, 40),
    tbar=st.floats(0.0, 24.0),
    sxx=st.floats(20.0, 4000.0),
    df=st.integers(1, 60),
    side=st.sampled_from(["lower", "upper"]),
)
def test_closed_form_crossing_agrees_with_brentq(
    b0: float, b1: float, s2: float, n: int, tbar: float, sxx: float, df: int, side: str
) -> None:
    q = stats.t.ppf(0.95, df)
    if side == "upper":  # mirror so the line starts inside an upper limit of 95 + (95 - 90)
        b0, b1, limit = 190.0 - b0, -b1, 95.0
    else:
        limit = 95.0
    closed = crossing_time(
        np.array([b0]),
        np.array([b1]),
        np.array([q]),
        np.array([s2]),
        np.array([float(n)]),
        np.array([tbar]),
        np.array([sxx]),
        limit,
        side,  # type: ignore[arg-type]
        (0.0, 500.0),
    )[0]
    numeric = crossing_time_brentq(b0, b1, q, s2, n, tbar, sxx, limit, side, (0.0, 500.0))  # type: ignore[arg-type]
    if numeric is None:
        assert math.isnan(closed)
    else:
        assert closed == pytest.approx(numeric, abs=1e-7)


@pytest.mark.parametrize(
    ("x", "storage", "expected"),
    [
        (12, "room", 24),
        (18, "room", 30),
        (24, "room", 36),
        (12, "refrigerated", 18),
        (24, "refrigerated", 30),
    ],
)
def test_q1e_extrapolation_worked_examples(x: float, storage: str, expected: float) -> None:
    assert max_extrapolation(x, storage).max_shelf_life == expected  # type: ignore[arg-type]


def test_extrapolation_decision_tree_branches_and_configuration() -> None:
    assert max_extrapolation(12, "room", statistics=False).max_shelf_life == 18
    assert max_extrapolation(12, "room", statistics=False, little_change=True).max_shelf_life == 24
    assert max_extrapolation(12, "room", change_accelerated=True).max_shelf_life == 18
    assert max_extrapolation(12, "room", change_accelerated=True, statistics=False).max_shelf_life == 15
    both = max_extrapolation(12, "room", change_accelerated=True, change_intermediate=True)
    assert both.max_shelf_life == 12 and "no extrapolation" in both.rule
    assert max_extrapolation(12, "refrigerated", statistics=False).max_shelf_life == 15
    assert max_extrapolation(12, "refrigerated", change_accelerated=True).max_shelf_life == 12
    assert max_extrapolation(24, "frozen").max_shelf_life == 24
    custom = ExtrapolationRules(full_factor=1.5, full_add=6)
    assert max_extrapolation(24, "room", rules=custom).max_shelf_life == 30
    with pytest.raises(InsufficientDataError):
        max_extrapolation(0, "room")
