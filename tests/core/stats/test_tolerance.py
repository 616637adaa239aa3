"""Tolerance factors against NIST e-Handbook 7.2.6.3 and Owen's tables."""

from __future__ import annotations

import pytest

from limsai.stats.tolerance import k_one_sided, k_two_sided_exact, k_two_sided_howe


def test_nist_example_n43() -> None:
    assert round(k_two_sided_howe(43, 0.90, 0.99), 4) == 2.2173
    # exact noncentral t; NIST prints Natrella's approximation 1.8752
    assert round(k_one_sided(43, 0.90, 0.99), 4) == 1.8740


def test_owen_n10() -> None:
    assert round(k_one_sided(10, 0.99, 0.95), 4) == 3.9811
    assert round(k_two_sided_exact(10, 0.99, 0.95), 4) == 4.4369
    assert round(k_two_sided_howe(10, 0.99, 0.95), 4) == 4.4446


def test_exact_two_sided_is_between_one_sided_and_howe_for_large_n() -> None:
    exact = k_two_sided_exact(43, 0.90, 0.99)
    assert k_one_sided(43, 0.90, 0.99) < exact
    assert exact == pytest.approx(k_two_sided_howe(43, 0.90, 0.99), rel=0.01)


@pytest.mark.parametrize(("n", "p", "g"), [(1, 0.9, 0.9), (10, 1.0, 0.9), (10, 0.9, 0.0)])
def test_invalid_arguments(n: int, p: float, g: float) -> None:
    with pytest.raises(ValueError):
        k_one_sided(n, p, g)
