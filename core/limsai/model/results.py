"""Samples, tests ordered on them, results and the specifications they are judged against.

Values stay exact: ``Result.value`` is the decimal string the LIMS holds ("99.50") or a text result
("BLQ", "<0.05", "Complies"); ``Result.numeric`` is derived from it. Specification limits are kept as
written ("95.0"), with their decimal places, because OOS is decided after rounding to those places.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from limsai.model.common import (
    DecimalString,
    Identifier,
    LimsModel,
    NonEmptyStr,
    UtcDatetime,
    decimal_places,
    is_decimal,
)


class SampleKind(StrEnum):
    STABILITY_PULL = "stability_pull"
    PK = "pk"
    CALIBRATION_STANDARD = "calibration_standard"
    QC = "qc"
    ISR = "isr"


class Sample(LimsModel):
    """A physical sample logged in the LIMS. ``treatment_arm`` and ``randomisation_code`` are blinded
    fields: only an unblinded principal may see them (the governance layer removes them otherwise)."""

    BLINDED_FIELDS: ClassVar[frozenset[str]] = frozenset({"treatment_arm", "randomisation_code"})

    sample_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    kind: SampleKind
    matrix: str = ""
    batch: str | None = None
    condition_id: Identifier | None = None
    timepoint_id: Identifier | None = None
    subject_id: str | None = None
    treatment_arm: str | None = None
    randomisation_code: str | None = None
    nominal_concentration: DecimalString | None = None
    storage_condition: str = ""
    collected_at: UtcDatetime | None = None
    received_at: UtcDatetime | None = None
    parent_sample_id: Identifier | None = Field(default=None, description="ISR/aliquot: the original")
    comment: str = ""


class TestStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class Test(LimsModel):
    """A test (analysis) ordered on a sample, e.g. Assay by HPLC."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    test_id: Identifier
    sample_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    name: NonEmptyStr
    method: str = ""
    status: TestStatus = TestStatus.PENDING


class ResultStatus(StrEnum):
    ENTERED = "entered"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    INVALIDATED = "invalidated"
    CANCELLED = "cancelled"


TEXT_RESULTS = frozenset({"BLQ", "ALQ", "ND", "NR", "Complies", "Does not comply"})
"""Non-numeric reported values a LIMS may hold besides numbers and "<x" / ">x" qualifiers."""


def check_result_value(value: str) -> str:
    """Accept a decimal string, a qualified decimal ("<0.05", ">100") or a known text result."""
    text = value.strip()
    if text != value or not text:
        raise ValueError(f"result value {value!r} must not be empty or padded with spaces")
    if is_decimal(text) or text in TEXT_RESULTS:
        return text
    if text[0] in "<>" and is_decimal(text[1:]):
        return text
    raise ValueError(
        f"result value {value!r} is not a number, a '<x'/'>x' qualifier or one of "
        + ", ".join(sorted(TEXT_RESULTS))
    )


class Result(LimsModel):
    """A reported result of one component of a test (e.g. Impurity B of Related substances)."""

    result_id: Identifier
    test_id: Identifier
    sample_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    test: NonEmptyStr
    component: NonEmptyStr
    value: str | None = Field(default=None, description="exactly as the LIMS holds it")
    units: str = ""
    status: ResultStatus = ResultStatus.ENTERED
    reportable: bool = True
    replicate: int = Field(default=1, ge=1)
    analysed_at: UtcDatetime | None = None
    analyst_id: Identifier | None = None
    instrument_id: Identifier | None = None
    reagent_lot_id: Identifier | None = None
    run_id: Identifier | None = None
    retest_of: Identifier | None = Field(default=None, description="the result this one replaces")
    invalidation_reason: str | None = None
    comment: str = ""

    @field_validator("value")
    @classmethod
    def _value_form(cls, value: str | None) -> str | None:
        return None if value is None else check_result_value(value)

    @model_validator(mode="after")
    def _invalidated_not_reportable(self) -> Result:
        if self.status in (ResultStatus.INVALIDATED, ResultStatus.CANCELLED) and self.reportable:
            raise ValueError(f"result {self.result_id} is {self.status} and cannot be reportable")
        return self

    @property
    def numeric(self) -> Decimal | None:
        """The value as a number when it is one ("<0.05" and "BLQ" have no numeric view)."""
        if self.value is not None and is_decimal(self.value):
            return Decimal(self.value)
        return None

    @property
    def decimals(self) -> int | None:
        """Decimal places of the reported value as held by the LIMS."""
        return decimal_places(self.value) if self.value is not None and is_decimal(self.value) else None


class SpecificationKind(StrEnum):
    ACCEPTANCE = "acceptance"
    CONTROL = "control"


class Specification(LimsModel):
    """An acceptance criterion (or a control range) as written in the protocol or specification.

    ``min``/``max`` are the limits exactly as printed ("95.0"); limits include their end values and
    are never rounded. ``text`` is the criterion as the specification prints it ("NMT 0.5%").
    """

    spec_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    test: NonEmptyStr
    component: NonEmptyStr
    kind: SpecificationKind = SpecificationKind.ACCEPTANCE
    min: DecimalString | None = None
    max: DecimalString | None = None
    text: str = ""
    units: str = ""
    method: str = ""

    @model_validator(mode="after")
    def _limits_consistent(self) -> Specification:
        if self.min is None and self.max is None and not self.text.strip():
            raise ValueError(f"specification {self.spec_id} has neither limits nor text")
        if self.min is not None and self.max is not None and Decimal(self.min) > Decimal(self.max):
            raise ValueError(f"specification {self.spec_id}: minimum {self.min} is above maximum {self.max}")
        return self

    @property
    def decimals(self) -> int:
        """Decimal places of the limit(s) as written; results are rounded to these before judging."""
        places = [decimal_places(v) for v in (self.min, self.max) if v is not None]
        return max(places) if places else 0

    @property
    def min_value(self) -> Decimal | None:
        return None if self.min is None else Decimal(self.min)

    @property
    def max_value(self) -> Decimal | None:
        return None if self.max is None else Decimal(self.max)

    def describe(self) -> str:
        """The criterion as a reviewer reads it ("95.0 - 105.0 %", "NMT 0.5 %")."""
        if self.text:
            return self.text
        unit = f" {self.units}" if self.units else ""
        if self.min is not None and self.max is not None:
            return f"{self.min} - {self.max}{unit}"
        if self.max is not None:
            return f"NMT {self.max}{unit}"
        return f"NLT {self.min}{unit}"
