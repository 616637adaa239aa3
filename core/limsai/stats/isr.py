"""ICH M10 incurred sample reanalysis (ISR): the per-sample %difference and the study verdict.

The %difference is taken against the mean of the original and the repeat result, not against the
original; getting the denominator wrong fails studies that pass (100 -> 122.2 is 19.98% against the
mean but 22.2% against the original). The limit depends on the assay type, so the modality must be
stated: 20% for chromatographic assays, 30% for ligand-binding assays. The study passes when at
least two thirds of the repeats are within the limit, counted as n_pass >= ceil(2n/3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict

Modality = Literal["chromatographic", "ligand-binding"]
LIMITS_PERCENT: dict[str, float] = {"chromatographic": 20.0, "ligand-binding": 30.0}


class IsrSample(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    original: float
    repeat: float
    percent_difference: float
    within_limit: bool


class IsrVerdict(BaseModel):
    """The ISR outcome: counts, the two-thirds requirement, and every sample's %difference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: Modality
    limit_percent: float
    n: int
    n_within: int
    required: int
    passed: bool
    samples: list[IsrSample]


def percent_difference(original: float, repeat: float) -> float:
    """(repeat - original) / mean(repeat, original) x 100."""
    mean = (original + repeat) / 2.0
    if mean == 0.0:
        raise ValueError("original and repeat average to zero: %difference is undefined")
    return (repeat - original) / mean * 100.0


def required_within(n: int, fraction: Fraction = Fraction(2, 3)) -> int:
    """Repeats that must be within the limit: ceil(fraction x n), exactly (4 of 6, 6 of 9, 7 of 10)."""
    return math.ceil(fraction * n)


def isr_verdict(
    original: Sequence[float],
    repeat: Sequence[float],
    modality: Modality,
    *,
    limit_percent: float | None = None,
    fraction: Fraction = Fraction(2, 3),
) -> IsrVerdict:
    """Judge an ISR data set; ``limit_percent`` overrides the modality's M10 limit when given."""
    if modality not in LIMITS_PERCENT:
        raise ValueError(f"modality must be one of {sorted(LIMITS_PERCENT)}, got {modality!r}")
    if len(original) != len(repeat) or not original:
        raise ValueError("original and repeat must be non-empty and of equal length")
    limit = LIMITS_PERCENT[modality] if limit_percent is None else limit_percent
    samples = []
    for o, r in zip(original, repeat, strict=True):
        diff = percent_difference(o, r)
        # a relative guard keeps exact boundary cases (20.000000000000004) on the inclusive side
        within = abs(diff) <= limit * (1.0 + 1e-12)
        samples.append(IsrSample(original=o, repeat=r, percent_difference=diff, within_limit=within))
    n = len(samples)
    n_within = sum(s.within_limit for s in samples)
    required = required_within(n, fraction)
    return IsrVerdict(
        modality=modality,
        limit_percent=limit,
        n=n,
        n_within=n_within,
        required=required,
        passed=n_within >= required,
        samples=samples,
    )


def isr_sample_count(
    study_samples: int, *, first: int = 1000, rate_first: float = 0.10, rate_beyond: float = 0.05
) -> int:
    """Samples to reanalyse: 10% of the first 1000 study samples plus 5% of those beyond (rounded up)."""
    if study_samples < 0:
        raise ValueError("the number of study samples cannot be negative")
    head = min(study_samples, first)
    return math.ceil(head * rate_first + max(study_samples - first, 0) * rate_beyond - 1e-9)
