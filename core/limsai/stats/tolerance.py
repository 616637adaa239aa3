"""Normal tolerance-interval factors k (mean +/- k s covers a proportion P with confidence gamma).

Out-of-trend limits (by-time-point and regression tolerance limits) need these factors, and the
published tables disagree with each other by approximation: NIST prints Natrella's approximation of
the one-sided factor, and Howe's two-sided factor is itself an approximation. This module gives the
exact one-sided factor (noncentral t), Howe's two-sided factor, and the exact two-sided factor by
numerical integration, so each limit says which one it used.
"""

from __future__ import annotations

import math

from scipy import stats
from scipy.integrate import quad
from scipy.optimize import brentq


def _check(n: int, proportion: float, confidence: float) -> None:
    if n < 2:
        raise ValueError(f"a tolerance factor needs n >= 2, got {n}")
    if not (0.0 < proportion < 1.0 and 0.0 < confidence < 1.0):
        raise ValueError("proportion and confidence must lie strictly between 0 and 1")


def k_one_sided(n: int, proportion: float, confidence: float) -> float:
    """Exact one-sided factor k1 = nct.ppf(gamma, n-1, z_P sqrt(n)) / sqrt(n).

    (n=43, P=0.90, gamma=0.99 -> 1.8740; NIST's 1.8752 is Natrella's approximation.)"""
    _check(n, proportion, confidence)
    root_n = math.sqrt(n)
    nc = stats.norm.ppf(proportion) * root_n
    return float(stats.nct.ppf(confidence, n - 1, nc) / root_n)


def k_two_sided_howe(n: int, proportion: float, confidence: float) -> float:
    """Howe's two-sided factor z_{(1+P)/2} sqrt((n-1)(1+1/n) / chi2.ppf(1-gamma, n-1))."""
    _check(n, proportion, confidence)
    z = stats.norm.ppf((1.0 + proportion) / 2.0)
    return float(z * math.sqrt((n - 1) * (1.0 + 1.0 / n) / stats.chi2.ppf(1.0 - confidence, n - 1)))


def _coverage_confidence(k: float, n: int, proportion: float) -> float:
    """Confidence that mean +/- k s covers at least ``proportion`` of a normal population.

    Conditional on the sample mean at x (in sigma units), the interval covers P exactly when
    s/sigma >= r(x)/k with (Z + x)^2 ~ noncentral chi2(1, x^2) at its P quantile r(x)^2; integrate
    over the sample-mean density N(0, 1/n) (symmetric, hence twice the half-line)."""
    nu = n - 1

    def integrand(x: float) -> float:
        r2 = stats.ncx2.ppf(proportion, 1, x * x) if x > 0.0 else stats.chi2.ppf(proportion, 1)
        density = math.sqrt(n / (2.0 * math.pi)) * math.exp(-n * x * x / 2.0)
        return float(density * stats.chi2.sf(nu * r2 / (k * k), nu))

    upper = 10.0 / math.sqrt(n)  # the sample-mean density is negligible beyond 10 standard errors
    value, _ = quad(integrand, 0.0, upper, epsabs=1e-13, epsrel=1e-11, limit=200)
    return 2.0 * float(value)


def k_two_sided_exact(n: int, proportion: float, confidence: float) -> float:
    """Exact two-sided factor: the k whose coverage confidence (numerical integration) is gamma."""
    _check(n, proportion, confidence)
    howe = k_two_sided_howe(n, proportion, confidence)
    return float(
        brentq(
            lambda k: _coverage_confidence(k, n, proportion) - confidence,
            0.5 * howe,
            2.0 * howe,
            xtol=1e-10,
        )
    )
