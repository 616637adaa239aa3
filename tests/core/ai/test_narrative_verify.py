"""Numeric-claim verification: every number, date, unit and identifier of a narrative must be in its
facts; unverified claims are listed as written, never corrected."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from limsai.ai.verify import check_narrative, extract_claims, normalise_number

FACTS: dict[str, Any] = {
    "study_id": "STB-2026-001",
    "milestone": "12-month",
    "as_of": date(2026, 11, 29),
    "reportable_results": 1234,
    "conditions": ["25 °C/60% RH", "40 °C/75% RH"],
    "timepoint_months": [0, 3, 6, 12],
    "oos": [{"test": "Assay", "value": 93.8, "unit": "%", "limit": "95.0-105.0 %", "sample": "S-0042"}],
    "slope_per_month": -0.12,
    "open_deviations": 2,
}

CORRECT = (
    "1. Purpose: study STB-2026-001 at the 12-month milestone (data as of 29 November 2026).\n"
    "2. Scope: 1,234 reportable results at 25 °C/60% RH and 40 °C/75% RH, timepoints 0, 3, 6 and "
    "12 months.\n"
    "3. Results: sample S-0042 assayed 93.8 % against a limit of 95.0-105.0 %; the slope is -0.12 "
    "per month. 2 deviations are open."
)


def test_correct_narrative_is_verified() -> None:
    check = check_narrative(CORRECT, FACTS)
    assert check.verified, check.unverified_claims
    assert check.unverified_claims == [] and check.claims_checked > 15


@pytest.mark.parametrize(
    ("wrong", "claim"),
    [
        ("93.8 %", "93.9 %"),  # transposed value
        ("1,234", "1,243"),
        ("29 November 2026", "30 November 2026"),
        ("-0.12", "-0.1"),  # rounded
        ("STB-2026-001", "STB-2026-002"),  # another study
        ("S-0042", "S-0043"),
        ("timepoints 0, 3, 6 and 12 months", "timepoints 0, 3, 6 and 18 months"),
    ],
)
def test_a_wrong_claim_is_listed_as_written(wrong: str, claim: str) -> None:
    check = check_narrative(CORRECT.replace(wrong, claim, 1), FACTS)
    assert not check.verified
    assert any(claim.split()[-1] in c or c in claim for c in check.unverified_claims), check.unverified_claims


def test_wrong_number_listed_exactly() -> None:
    check = check_narrative("Assay was 93.9 % in sample S-0042.", FACTS)
    assert check.verified is False and check.unverified_claims == ["93.9 %"]


def test_wrong_unit_is_unverified() -> None:
    check = check_narrative("Assay was 93.8 mg/mL.", FACTS)
    assert check.unverified_claims == ["93.8 mg/mL"]


def test_precision_is_a_claim() -> None:
    assert not check_narrative("Assay was 93.80 %.", FACTS).verified
    assert check_narrative("The limit starts at 95.0 %.", FACTS).verified
    assert check_narrative("At 12.0 months.", {"months": 12.0}).verified
    assert check_narrative("At 12 months.", {"months": 12.0}).verified


@pytest.mark.parametrize(
    "written", ["2026-11-29", "29 November 2026", "29 Nov 2026", "November 29, 2026", "29-Nov-2026"]
)
def test_date_forms_normalise(written: str) -> None:
    assert check_narrative(f"As of {written}.", FACTS).verified
    assert not check_narrative(f"As of {written}.", {"as_of": "2026-11-28"}).verified


def test_number_normalisation() -> None:
    assert normalise_number("1,234,567.5") == "1234567.5"
    assert normalise_number("\u22120.5") == "-0.5"
    assert normalise_number("+.5") == "0.5"
    assert normalise_number("1\u202f234") == "1234"


def test_section_numbers_and_words_are_not_claims() -> None:
    text = "1. Purpose: none.\n2) Scope: none.\nThree samples."
    assert extract_claims(text) == []


def test_nothing_is_corrected() -> None:
    text = "Assay was 93.9 %."
    check_narrative(text, FACTS)
    assert text == "Assay was 93.9 %."
