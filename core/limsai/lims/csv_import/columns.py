"""The columns of a long CSV and what their cells may hold.

The header rules (known, required and repeated columns, a wrong separator), the accepted spellings of
study types, statuses and sample kinds, and the checks of one row's cells on their own: identifiers,
decimals, conditions, result values and the rules that tie cells of one row together. Comparing a
row with other rows or with the LIMS is the builder's work.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from limsai.lims.csv_import.problems import CsvProblem
from limsai.model import ConditionKind, Identifier, ResultStatus, SampleKind, StudyType, parse_decimal
from limsai.model.results import check_result_value

REQUIRED_COLUMNS = (
    *("sponsor_id", "study_id", "study_type", "protocol_number", "batch", "condition", "timepoint_months"),
    *("sample_id", "test", "component", "value", "units", "spec_min", "spec_max", "status"),
)
OPTIONAL_COLUMNS = ("study_director", "milestone", "sample_kind")
STUDY_TYPES: dict[str, StudyType] = {t.value: t for t in StudyType}
STUDY_TYPES.update(pk=StudyType.BIOANALYTICAL_PK, bioanalytical=StudyType.BIOANALYTICAL_PK)
RESULT_STATUSES: dict[str, ResultStatus] = {s.value: s for s in ResultStatus}
RESULT_STATUSES.update(authorised=ResultStatus.APPROVED, authorized=ResultStatus.APPROVED)
RESULT_STATUSES.update(canceled=ResultStatus.CANCELLED)
SAMPLE_KINDS = {k.value: k for k in SampleKind}
DEFAULT_SAMPLE_KIND = {
    StudyType.STABILITY: SampleKind.STABILITY_PULL,
    StudyType.BIOANALYTICAL_PK: SampleKind.PK,
}
STUDY_COLUMNS = ("sponsor_id", "study_type", "protocol_number", "study_director", "milestone")
study_attrs = operator.itemgetter(*STUDY_COLUMNS)
SAMPLE_COLUMNS = ("study_id", "batch", "condition", "timepoint_months", "sample_kind")

_NOT_EMPTY = (
    *("sponsor_id", "study_id", "study_type", "protocol_number", "sample_id", "test", "component", "status"),
)
_CHOICES: dict[str, Mapping[str, Any]] = {
    "study_type": STUDY_TYPES,
    "status": RESULT_STATUSES,
    "sample_kind": SAMPLE_KINDS,
}
_IDS = ("sponsor_id", "study_id", "sample_id", "study_director")
_NUMBERS = ("timepoint_months", "spec_min", "spec_max")
_ROW_COLUMNS = tuple(  # checked once per distinct combination; sample_id and value are checked per row
    c for c in dict.fromkeys((*_NOT_EMPTY, *_CHOICES, *_IDS, *_NUMBERS, "condition")) if c != "sample_id"
)
_row_cells = operator.itemgetter(*_ROW_COLUMNS)
_CONDITION = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*[°º]?\s*C(?:\s*/\s*(\d+(?:\.\d+)?)\s*%\s*RH)?$", re.I)
_ICH = {  # (temperature °C, relative humidity %) -> kind
    (Decimal(25), Decimal(60)): ConditionKind.LONG_TERM,
    (Decimal(30), Decimal(75)): ConditionKind.LONG_TERM,
    (Decimal(30), Decimal(65)): ConditionKind.INTERMEDIATE,
    (Decimal(40), Decimal(75)): ConditionKind.ACCELERATED,
}
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


@dataclass(slots=True)
class Row:
    """One data row whose cells passed their own checks, with the cells that rows compare parsed."""

    line: int
    cells: dict[str, str]
    status: ResultStatus
    kind: SampleKind
    months: Decimal | None
    condition: tuple[Decimal, Decimal | None, str, str | None] | None  # temperature, RH, as written


def header_problems(line: int, header: list[str]) -> list[CsvProblem]:
    """What is wrong with the (lower-cased) header row on ``line``."""
    separator = next((s for s in ";\t|" if len(header) == 1 and s in header[0]), None)
    if separator is not None:
        return [CsvProblem(line, None, f"the file must be comma-separated, not separated by {separator!r}")]
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    problems = [
        CsvProblem(line, n or f"field {i + 1}", "unknown column")
        for i, n in enumerate(header)
        if n not in known
    ]
    twice = sorted({name for name in header if name and header.count(name) > 1})
    problems += [CsvProblem(line, name, "column appears more than once") for name in twice]
    return problems + [
        CsvProblem(line, c, "required column is missing") for c in REQUIRED_COLUMNS if c not in header
    ]


def parse_row(line: int, cells: dict[str, str]) -> tuple[Row | None, tuple[tuple[str, str], ...]]:
    """The row checked on its own: None and (column, problem) pairs when a cell is wrong. The study
    type cell is rewritten to its canonical value, so that rows spelling it differently agree."""
    (study_type, status, kind, months, condition), errors = _check_row(_row_cells(cells))
    errors += tuple((c, e) for c in ("sample_id", "value") if (e := _cell(c, cells[c])[1]))
    if errors or kind is None:
        return None, errors
    cells["study_type"] = study_type.value
    return Row(line, cells, status, kind, months, condition), errors


def condition_kind(temp: Decimal, rh: Decimal | None) -> ConditionKind:
    """The ICH kind of a storage condition (see the package docstring)."""
    if rh is not None and (temp, rh) in _ICH:
        return _ICH[temp, rh]
    if temp <= -15:
        return ConditionKind.FROZEN
    return ConditionKind.REFRIGERATED if 2 <= temp <= 8 else ConditionKind.OTHER


def decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@functools.lru_cache(maxsize=1 << 16)
def _cell(column: str, text: str) -> tuple[Any, str | None]:
    """One cell parsed on its own, and what is wrong with it (None when nothing)."""
    if not text:
        return None, "must not be empty" if column in _NOT_EMPTY else None
    if column in _IDS:
        rule = "letters, digits, . _ : / # @ + -; first a letter or digit"
        return (text, None) if _is_id(text) else (None, f"{text!r} is not an identifier ({rule})")
    if column in _CHOICES:
        choice, expected = _CHOICES[column].get(text.lower()), ", ".join(_CHOICES[column])
        return choice, None if choice else f"unknown {column} {text!r}; expected one of {expected}"
    if column in _NUMBERS:
        try:
            number = parse_decimal(text)
        except ValueError:
            return None, f"{text!r} is not a decimal number"
        return number, f"{text!r} is negative" if number < 0 and column == "timepoint_months" else None
    if column == "condition":
        match = _CONDITION.match(text)
        if match is None:
            return None, f"{text!r} is not a condition like 25°C/60%RH or 5°C"
        return (Decimal(match[1]), decimal_or_none(match[2]), match[1], match[2]), None
    if column != "value":
        return text, None
    try:
        return check_result_value(text), None
    except ValueError as exc:
        return None, str(exc)


@functools.lru_cache(maxsize=1 << 14)
def _check_row(texts: tuple[str, ...]) -> tuple[tuple[Any, ...], tuple[tuple[str, str], ...]]:
    """The cells of ``_ROW_COLUMNS`` parsed and checked together (rows of a sample repeat them):
    (study type, status, sample kind, months, condition) and (column, problem) pairs."""
    cells, parsed, errors = dict(zip(_ROW_COLUMNS, texts, strict=True)), {}, []
    for column, text in cells.items():
        parsed[column], error = _cell(column, text)
        if error:
            errors.append((column, error))
    study_type, low, high = parsed["study_type"], parsed["spec_min"], parsed["spec_max"]
    kind = parsed["sample_kind"] or DEFAULT_SAMPLE_KIND.get(study_type)
    if kind is None and study_type is StudyType.OTHER:
        errors.append(("sample_kind", "must be given for studies of type other"))
    if low is not None and high is not None and low > high:
        errors.append(("spec_min", f"spec_min {cells['spec_min']} is above spec_max {cells['spec_max']}"))
    for column in ("condition", "timepoint_months"):
        if study_type is StudyType.STABILITY and not cells[column]:
            errors.append((column, "must not be empty for a stability study"))
    values = (study_type, parsed["status"], kind, parsed["timepoint_months"], parsed["condition"])
    return values, tuple(errors)


def _is_id(text: str) -> bool:
    try:
        _IDENTIFIER.validate_python(text)
        return True
    except ValidationError:
        return False
