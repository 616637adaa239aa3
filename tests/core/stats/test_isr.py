"""ICH M10 incurred sample reanalysis verdicts (stats.md section 5)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from limsai.stats.isr import isr_sample_count, isr_verdict, percent_difference, required_within

ORIGINAL = [100, 50, 200, 75, 150, 120]
REPEAT = [128.6, 64.3, 257.1, 96.4, 192.9, 154.3]


def test_about_25_percent_fails_chromatographic_passes_ligand_binding() -> None:
    chrom = isr_verdict(ORIGINAL, REPEAT, "chromatographic")
    assert (chrom.n, chrom.n_within, chrom.required, chrom.passed) == (6, 0, 4, False)
    assert all(24.9 < s.percent_difference < 25.1 for s in chrom.samples)
    lba = isr_verdict(ORIGINAL, REPEAT, "ligand-binding")
    assert (lba.n_within, lba.limit_percent, lba.passed) == (6, 30.0, True)


def test_denominator_is_the_mean_not_the_original() -> None:
    assert round(percent_difference(100, 122.2), 2) == 19.98
    verdict = isr_verdict([100], [122.2], "chromatographic")
    assert verdict.passed and verdict.samples[0].within_limit
    assert round((122.2 - 100) / 100 * 100, 1) == 22.2  # the wrong denominator would fail


def test_two_thirds_rounds_up() -> None:
    assert [required_within(n) for n in (3, 6, 9, 10, 100)] == [2, 4, 6, 7, 67]
    assert required_within(10, Fraction(1, 2)) == 5
    # 4 of 6 within 20% passes, 3 of 6 fails
    four = isr_verdict([100] * 6, [110, 110, 110, 110, 150, 150], "chromatographic")
    three = isr_verdict([100] * 6, [110, 110, 110, 150, 150, 150], "chromatographic")
    assert (four.n_within, four.passed, three.n_within, three.passed) == (4, True, 3, False)


def test_exact_limit_is_inclusive_and_override() -> None:
    assert isr_verdict([90], [110], "chromatographic").samples[0].within_limit  # exactly 20%
    assert not isr_verdict([90], [110], "chromatographic", limit_percent=15).passed


def test_modality_and_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="modality"):
        isr_verdict([1], [1], "hplc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        isr_verdict([1, 2], [1], "chromatographic")
    with pytest.raises(ValueError):
        percent_difference(1, -1)


def test_sample_count() -> None:
    assert isr_sample_count(500) == 50
    assert isr_sample_count(1000) == 100
    assert isr_sample_count(3000) == 200
