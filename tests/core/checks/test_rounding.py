"""USP rounding: half-up on exact decimals, limits as written and inclusive."""

from __future__ import annotations

from decimal import Decimal

import pytest

from limsai.model import Specification, SpecificationKind
from limsai.stats.rounding import conforms, usp_round


def spec(min_: str | None = None, max_: str | None = None, text: str = "") -> Specification:
    return Specification(
        spec_id="S",
        study_id="ST",
        sponsor_id="SP",
        test="Assay",
        component="A",
        kind=SpecificationKind.ACCEPTANCE,
        min=min_,
        max=max_,
        text=text,
    )


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        ("2.675", 2, "2.68"),
        ("0.125", 2, "0.13"),
        ("94.95", 1, "95.0"),
        ("94.94", 1, "94.9"),
        ("0.55", 1, "0.6"),
        ("0.54", 1, "0.5"),
        ("2.5", 0, "3"),
        ("-2.5", 0, "-3"),
        ("74", 0, "74"),
        ("1.0", 3, "1.000"),
        (Decimal("1.005"), 2, "1.01"),
    ],
)
def test_usp_round_is_half_up_and_exact(value: str | Decimal, decimals: int, expected: str) -> None:
    assert str(usp_round(value, decimals)) == expected


def test_float_round_gets_these_wrong() -> None:
    assert round(2.675, 2) == 2.67 and usp_round("2.675", 2) == Decimal("2.68")
    assert round(0.125, 2) == 0.12 and usp_round("0.125", 2) == Decimal("0.13")


def test_usp_round_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        usp_round("BLQ", 1)
    with pytest.raises(ValueError):
        usp_round("1.5", -1)


@pytest.mark.parametrize(
    ("value", "criterion", "expected"),
    [
        ("94.95", spec("95.0", "105.0"), True),
        ("94.94", spec("95.0", "105.0"), False),
        ("95.0", spec("95.0", "105.0"), True),
        ("105.04", spec("95.0", "105.0"), True),
        ("105.05", spec("95.0", "105.0"), False),
        ("0.55", spec(max_="0.5"), False),
        ("0.54", spec(max_="0.5"), True),
        ("0.5", spec(max_="0.5"), True),
        ("79.5", spec(min_="80"), True),
        ("79.4", spec(min_="80"), False),
        ("0.10", spec(max_="0.10"), True),
        ("0.105", spec(max_="0.10"), False),
    ],
)
def test_conforms_rounds_to_the_limit_decimals(value: str, criterion: Specification, expected: bool) -> None:
    assert conforms(value, criterion) is expected


def test_conforms_is_none_when_it_cannot_judge() -> None:
    assert conforms("BLQ", spec("95.0", "105.0")) is None
    assert conforms("<0.05", spec(max_="0.5")) is None
    assert conforms("Complies", spec(text="Complies")) is None
    assert conforms("1.0", spec(text="Clear solution")) is None
