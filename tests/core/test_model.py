"""The domain model rejects bad values with messages that name the problem, and keeps values exact."""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from limsai.model import (
    AiAttribution,
    Calibration,
    DraftDocument,
    Milestone,
    MilestoneStatus,
    Principal,
    Result,
    ResultStatus,
    Signature,
    Specification,
    Study,
    StudyType,
    decimal_places,
    parse_decimal,
)

BASE = {
    "test_id": "T1",
    "sample_id": "S1",
    "study_id": "ST-1",
    "sponsor_id": "SPN-A",
    "test": "Assay",
    "component": "Assay",
}


def result(**kw: object) -> Result:
    return Result.model_validate({"result_id": "R1", **BASE, **kw})


def spec(**kw: object) -> Specification:
    return Specification.model_validate(
        {
            "spec_id": "SP1",
            "study_id": "ST-1",
            "sponsor_id": "SPN-A",
            "test": "Assay",
            "component": "Assay",
            **kw,
        }
    )


def test_result_value_kept_exactly_with_numeric_view() -> None:
    r = result(value="99.50")
    assert r.value == "99.50"
    assert r.numeric == Decimal("99.50")
    assert r.decimals == 2
    assert Result.model_validate_json(r.model_dump_json()) == r


@pytest.mark.parametrize(
    "value,numeric", [("<0.05", None), ("BLQ", None), ("Complies", None), ("-0.5", Decimal("-0.5"))]
)
def test_result_accepts_qualifiers_and_text(value: str, numeric: Decimal | None) -> None:
    assert result(value=value).numeric == numeric


@pytest.mark.parametrize("value", ["abc", "9,5", "1e3", " 99.5", "", "<abc", "NaN"])
def test_result_rejects_bad_values(value: str) -> None:
    with pytest.raises(ValidationError, match="value"):
        result(value=value)


def test_invalidated_result_cannot_be_reportable() -> None:
    with pytest.raises(ValidationError, match="invalidated and cannot be reportable"):
        result(value="1.0", status=ResultStatus.INVALIDATED)
    assert not result(value="1.0", status=ResultStatus.INVALIDATED, reportable=False).reportable


def test_specification_limits_as_written_with_decimals() -> None:
    s = spec(min="95.0", max="105.0", units="%")
    assert (s.min, s.max, s.decimals) == ("95.0", "105.0", 1)
    assert s.describe() == "95.0 - 105.0 %"
    assert spec(max="0.50", units="%").decimals == 2
    assert spec(max="2", units="%").describe() == "NMT 2 %"


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"min": "105.0", "max": "95.0"}, "minimum 105.0 is above maximum 95.0"),
        ({}, "neither limits nor text"),
        ({"min": "ninety"}, "not a decimal number"),
    ],
)
def test_specification_rejects(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**kw)


@pytest.mark.parametrize("bad", ["", " lead", "a b", "x;drop", "é"])
def test_identifiers_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="study_id"):
        Study(study_id=bad, sponsor_id="SPN-A", protocol_number="P-1", study_type=StudyType.STABILITY)


def test_naive_times_rejected_and_aware_times_normalised_to_utc() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        result(value="1", analysed_at=datetime(2026, 1, 1, 12, 0))
    from datetime import timedelta

    cet = timezone(timedelta(hours=1))
    r = result(value="1", analysed_at=datetime(2026, 1, 1, 13, 0, tzinfo=cet))
    assert r.analysed_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert r.analysed_at is not None and r.analysed_at.utcoffset() == timedelta(0)


def test_milestone_status_and_time_agree() -> None:
    with pytest.raises(ValidationError, match="complete but has no completed_at"):
        Milestone(name="Analysis Complete", status=MilestoneStatus.COMPLETE)
    with pytest.raises(ValidationError, match="must be unique"):
        Study(
            study_id="S",
            sponsor_id="A",
            protocol_number="P",
            study_type=StudyType.STABILITY,
            milestones=(Milestone(name="x"), Milestone(name="x")),
        )


def test_principal_sponsor_access() -> None:
    with pytest.raises(ValidationError, match="cannot be combined"):
        Principal(user_id="u", display_name="U", sponsors=("*", "SPN-A"))
    analyst = Principal(user_id="u", display_name="U", sponsors=("SPN-A",))
    assert analyst.may_see("SPN-A") and not analyst.may_see("SPN-B")
    assert not analyst.model_copy(update={"active": False}).may_see("SPN-A")
    assert Principal(user_id="a", display_name="A", sponsors=("*",)).may_see("SPN-Z")


def test_calibration_window() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 7, 1, tzinfo=UTC)
    cal = Calibration(calibration_id="C", instrument_id="I", valid_from=start, valid_to=end)
    assert cal.covers(start) and cal.covers(end) and not cal.covers(datetime(2026, 7, 2, tzinfo=UTC))
    with pytest.raises(ValidationError, match="valid_to must be after valid_from"):
        Calibration(calibration_id="C", instrument_id="I", valid_from=end, valid_to=start)


def test_draft_document_hash_and_plain_filename() -> None:
    attribution = AiAttribution(
        step_id="package.assemble", step_version="1", run_id="r1", on_behalf_of="sd.a"
    )
    draft = DraftDocument(
        name="Package",
        filename="p.pdf",
        media_type="application/pdf",
        content=b"abc",
        attribution=attribution,
    )
    assert draft.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(ValidationError, match="plain file name"):
        DraftDocument.model_validate({**draft.model_dump(), "filename": "../etc/passwd"})


def test_signature_requires_a_sha256() -> None:
    with pytest.raises(ValidationError, match="content_sha256"):
        Signature(
            signature_id="S",
            document_id="D",
            version=1,
            study_id="ST",
            sponsor_id="A",
            signer="u",
            printed_name="U",
            signed_at=datetime(2026, 1, 1, tzinfo=UTC),
            meaning="approval",
            content_sha256="not-a-hash",
        )


def test_models_are_frozen_and_strict() -> None:
    r = result(value="1")
    with pytest.raises(ValidationError):
        r.value = "2"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        result(value="1", colour="blue")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6))
def test_decimal_strings_round_trip_with_their_places(value: Decimal) -> None:
    text = f"{value:f}"
    assert parse_decimal(text) == value
    assert decimal_places(text) == max(0, -value.as_tuple().exponent)  # type: ignore[operator]
    assert result(value=text).value == text
