"""Import results exported from any LIMS into the embedded LIMS from a long CSV, one row per result.

Format: UTF-8 (a byte-order mark is allowed), comma-separated with standard CSV quoting, a header row,
then one row per result. Column names match ignoring case and surrounding spaces, in any order; cells
lose their surrounding spaces; blank rows are skipped. Problems name the line as a text editor counts
it (the header is line 1) and the column.

Required columns: ``sponsor_id, study_id, study_type, protocol_number, batch, condition,
timepoint_months, sample_id, test, component, value, units, spec_min, spec_max, status``.
Optional: ``study_director``, ``milestone``, ``sample_kind``. Any other column is an error.

* ``study_type``: ``stability``, ``bioanalytical_pk`` (aliases ``pk``, ``bioanalytical``), ``other``.
* ``status`` (any case): ``entered``, ``reviewed``, ``approved`` (also ``authorised``, ``authorized``),
  ``invalidated``, ``cancelled`` (also ``canceled``); invalidated and cancelled results are not
  reportable.
* ``condition``: ``25°C/60%RH``, ``25C/60%RH``, ``40 °C / 75 % RH``, ``5°C``, ``-20C``; one condition
  per study and temperature/humidity. Kind: 25/60 and 30/75 long term, 30/65 intermediate, 40/75
  accelerated, 2 to 8 °C refrigerated, -15 °C or colder frozen, anything else other. Stability rows
  need ``condition`` and ``timepoint_months``; other studies may leave them empty.
* ``timepoint_months``: a decimal >= 0; one timepoint per study, condition and month ("T0", "T3").
* ``value``: kept exactly as written ("99.50"): a decimal, ``<x``/``>x`` or one of ``TEXT_RESULTS``;
  empty means no value yet. ``spec_min``/``spec_max``: kept as written ("95.0"); both empty means no
  specification. All rows of one study, test and component give the same limits, as written.
* ``sample_kind``: a ``SampleKind`` value; empty means ``stability_pull`` for stability and ``pk`` for
  bioanalytical studies (studies of type ``other`` must name it). A sample keeps the same study,
  batch, condition, timepoint and kind on every row.
* A test is complete when all its valid results are reviewed or approved, cancelled when all its
  results are cancelled, in progress otherwise.
* Study attributes (sponsor, type, protocol, director, milestone) agree on every row of a study. A
  new study gets phase ``not_applicable``, its batches, ``study_director`` (empty: none) and, when
  ``milestone`` is given, that milestone complete at the import time (empty: none).
* A study already in the LIMS must have the same sponsor, protocol and type, and a director or
  milestone given for it must be the one it has. Rows add to it, reusing its stored conditions,
  timepoints, samples, tests and specifications; a result whose sample, test and component is
  already stored is a duplicate.
* Unknown sponsors are created with their id as name; an unknown study director is created as a user
  with role ``study_director`` entitled to the sponsors of the studies they direct.

Ids follow the keys: condition ``STUDY:COND:25C-60RH``, timepoint ``STUDY:TP:25C-60RH:T3``, test
``SAMPLE:Assay``, result ``SAMPLE:Assay:Impurity_B``, specification ``STUDY:SPEC:Assay:Impurity_B``
(each run of characters other than letters, digits and ``. _ + -`` becomes ``_``). Any problem stops
the import: the first ``MAX_PROBLEMS`` are reported and nothing is written.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gc
import io
import operator
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from limsai.lims.port import Scope
from limsai.model import (
    Condition,
    ConditionKind,
    Identifier,
    LimsDataset,
    MilestoneStatus,
    Principal,
    Result,
    ResultStatus,
    Role,
    Sample,
    SampleKind,
    Specification,
    Sponsor,
    Study,
    StudyType,
    Test,
    TestStatus,
    Timepoint,
    TimeUnit,
    parse_decimal,
    utcnow,
)
from limsai.model.results import check_result_value

REQUIRED_COLUMNS = (
    *("sponsor_id", "study_id", "study_type", "protocol_number", "batch", "condition", "timepoint_months"),
    *("sample_id", "test", "component", "value", "units", "spec_min", "spec_max", "status"),
)
OPTIONAL_COLUMNS = ("study_director", "milestone", "sample_kind")
MAX_PROBLEMS = 20
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
RECORD_KINDS = {  # the kinds whose ids are derived here -> their key field
    "conditions": "condition_id",
    "timepoints": "timepoint_id",
    "samples": "sample_id",
    "tests": "test_id",
    "results": "result_id",
    "specifications": "spec_id",
}

_STUDY_COLUMNS = ("sponsor_id", "study_type", "protocol_number", "study_director", "milestone")
_study_attrs = operator.itemgetter(*_STUDY_COLUMNS)
_SAMPLE_COLUMNS = ("study_id", "batch", "condition", "timepoint_months", "sample_kind")
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
_CHECKED = tuple(dict.fromkeys((*_NOT_EMPTY, *_CHOICES, *_IDS, *_NUMBERS, "condition", "value")))
_ROW_COLUMNS = tuple(c for c in _CHECKED if c not in ("sample_id", "value"))
_row_cells = operator.itemgetter(*_ROW_COLUMNS)
_CONDITION = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*[°º]?\s*C(?:\s*/\s*(\d+(?:\.\d+)?)\s*%\s*RH)?$", re.I)
_ICH = {  # (temperature °C, relative humidity %) -> kind
    (Decimal(25), Decimal(60)): ConditionKind.LONG_TERM,
    (Decimal(30), Decimal(75)): ConditionKind.LONG_TERM,
    (Decimal(30), Decimal(65)): ConditionKind.INTERMEDIATE,
    (Decimal(40), Decimal(75)): ConditionKind.ACCELERATED,
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_KEY = "sample_id, test, component"
_NOT_REPORTABLE = (ResultStatus.INVALIDATED, ResultStatus.CANCELLED)


@dataclass(frozen=True)
class CsvProblem:
    """One problem of the file: where (line as an editor counts it, column) and what."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        return f"{where}, column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class CsvImportError(ValueError):
    """The file cannot be imported: ``problems`` holds the first ``MAX_PROBLEMS`` of ``total``."""

    def __init__(self, path: Path, problems: list[CsvProblem]) -> None:
        ordered = sorted(problems, key=lambda p: p.line or 0)
        self.path, self.total, self.problems = path, len(ordered), ordered[:MAX_PROBLEMS]
        more = f"\n  ... and {self.total - MAX_PROBLEMS} more" if self.total > MAX_PROBLEMS else ""
        text = "\n".join(f"  {p}" for p in self.problems) + more
        super().__init__(f"{path.name}: {self.total} problem(s), nothing imported:\n{text}")


class ImportTarget(Protocol):
    """What :func:`import_csv` needs of a LIMS (the embedded LIMS offers it)."""

    def load(self, dataset: LimsDataset, *, actor: str, reason: str = "") -> dict[str, int]: ...
    def study_sponsors(self) -> dict[str, str]: ...
    def sponsor_ids(self) -> set[str]: ...
    def user_ids(self) -> set[str]: ...
    def existing_ids(self, kind: str, ids: Iterable[str]) -> set[str]: ...
    def list_studies(self, scope: Scope) -> list[Study]: ...
    def list_conditions(self, scope: Scope) -> list[Condition]: ...
    def list_timepoints(self, scope: Scope) -> list[Timepoint]: ...
    def list_samples(self, scope: Scope) -> list[Sample]: ...
    def list_tests(self, scope: Scope) -> list[Test]: ...
    def list_results(self, scope: Scope) -> list[Result]: ...
    def list_specifications(self, scope: Scope) -> list[Specification]: ...


def _none_exist(kind: str, ids: Collection[str]) -> set[str]:
    return set()


def _no_records(sponsor_id: str, study_id: str) -> LimsDataset:
    return LimsDataset()


@dataclass(frozen=True)
class ExistingLims:
    """What the target LIMS already holds. ``existing_ids(kind, ids)`` returns which of ``ids`` of a
    record kind (a key of ``RECORD_KINDS``) exist; ``study_records(sponsor_id, study_id)`` returns a
    stored study with its conditions, timepoints, samples, tests, results and specifications."""

    sponsors: frozenset[str] = frozenset()
    study_sponsors: Mapping[str, str] = field(default_factory=dict)
    users: frozenset[str] = frozenset()
    existing_ids: Callable[[str, Collection[str]], set[str]] = _none_exist
    study_records: Callable[[str, str], LimsDataset] = _no_records

    @classmethod
    def of(cls, lims: ImportTarget) -> ExistingLims:
        """Ask ``lims``; a study's records are read (through the port) only for studies a file names."""

        def records(sponsor_id: str, study_id: str) -> LimsDataset:
            s = Scope(sponsor_id=sponsor_id, study_id=study_id)
            return LimsDataset(
                studies=lims.list_studies(s),
                conditions=lims.list_conditions(s),
                timepoints=lims.list_timepoints(s),
                samples=lims.list_samples(s),
                tests=lims.list_tests(s),
                results=lims.list_results(s),
                specifications=lims.list_specifications(s),
            )

        held = (frozenset(lims.sponsor_ids()), lims.study_sponsors(), frozenset(lims.user_ids()))
        return cls(*held, lims.existing_ids, records)

    @classmethod
    def from_dataset(cls, data: LimsDataset) -> ExistingLims:
        """A LIMS holding exactly ``data``, as if it had been loaded."""
        ids = {kind: {getattr(r, key) for r in getattr(data, kind)} for kind, key in RECORD_KINDS.items()}

        def records(sponsor_id: str, study_id: str) -> LimsDataset:
            kinds = ("studies", *RECORD_KINDS)
            return LimsDataset(**{k: [r for r in getattr(data, k) if r.study_id == study_id] for k in kinds})

        return cls(
            frozenset(s.sponsor_id for s in data.sponsors),
            {s.study_id: s.sponsor_id for s in data.studies},
            frozenset(u.user_id for u in data.users),
            lambda kind, wanted: ids[kind] & set(wanted),
            records,
        )


class ImportSummary(BaseModel):
    """What an import wrote: records created per kind, and the sponsors and studies it touched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    rows: int
    created: dict[str, int]
    sponsors: tuple[str, ...]
    studies: tuple[str, ...]
    new_studies: tuple[str, ...]


def _first(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


@functools.lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "_"


def _plain(number: Decimal) -> str:
    return format((number + 0).normalize(), "f")


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _limits(low: str | None, high: str | None) -> str:
    return "no specification" if low is None and high is None else f"[{low or ''}, {high or ''}]"


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
        return (Decimal(match[1]), _dec(match[2]), match[1], match[2]), None
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


def _condition_kind(temp: Decimal, rh: Decimal | None) -> ConditionKind:
    if rh is not None and (temp, rh) in _ICH:
        return _ICH[temp, rh]
    if temp <= -15:
        return ConditionKind.FROZEN
    return ConditionKind.REFRIGERATED if 2 <= temp <= 8 else ConditionKind.OTHER


def _is_id(text: str) -> bool:
    try:
        _IDENTIFIER.validate_python(text)
        return True
    except ValidationError:
        return False


@dataclass(frozen=True)
class _Stored:
    """Lookups over what a LIMS holds for one study (the first record wins)."""

    study: Study | None = None
    conditions: dict[tuple[Decimal, Decimal | None], str] = field(default_factory=dict)
    timepoints: dict[tuple[str | None, Decimal], str] = field(default_factory=dict)
    samples: dict[str, Sample] = field(default_factory=dict)
    tests: dict[tuple[str, str], str] = field(default_factory=dict)
    results: dict[tuple[str, str, str], str] = field(default_factory=dict)
    specs: dict[tuple[str, str], Specification] = field(default_factory=dict)

    @classmethod
    def of(cls, d: LimsDataset) -> _Stored:
        months = (t for t in d.timepoints if t.unit is TimeUnit.MONTH)
        return cls(
            next(iter(d.studies), None),
            _first(((_dec(c.temperature_c), _dec(c.humidity_rh)), c.condition_id) for c in d.conditions),
            _first(((t.condition_id, t.nominal_value), t.timepoint_id) for t in months),
            _first((s.sample_id, s) for s in d.samples),
            _first(((t.sample_id, t.name), t.test_id) for t in d.tests),
            _first(((r.sample_id, r.test, r.component), r.result_id) for r in d.results),
            _first(((s.test, s.component), s) for s in d.specifications),
        )


@dataclass
class _Study:
    line: int
    attrs: tuple[str, ...]  # the values of _STUDY_COLUMNS
    new: bool
    refused: bool
    stored: _Stored
    batches: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class _Row:
    line: int
    cells: dict[str, str]
    status: ResultStatus
    kind: SampleKind
    months: Decimal | None
    condition: tuple[Decimal, Decimal | None, str, str | None] | None  # temperature, RH, as written


class _Builder:
    """Checks rows one by one and collects the records they imply (see the module docstring)."""

    def __init__(self, existing: ExistingLims, now: datetime) -> None:
        self.existing, self.now = existing, now
        self.problems: list[CsvProblem] = []
        self.studies: dict[str, _Study] = {}
        self.conditions: dict[tuple[str, Decimal, Decimal | None], str] = {}
        self.timepoints: dict[tuple[str, str | None, Decimal], str] = {}
        self.samples: dict[str, tuple[int, tuple[str | None, ...], dict[str, str]]] = {}
        self.tests: dict[tuple[str, str], str] = {}
        self.results: dict[tuple[str, str, str], int] = {}
        self.specs: dict[tuple[str, str, str], tuple[int, str | None, str | None]] = {}
        self.claimed: dict[str, tuple[tuple[str, ...], int]] = {}
        self.new: dict[str, list[tuple[int, Any]]] = {kind: [] for kind in RECORD_KINDS}
        self.new_tests: dict[str, tuple[int, dict[str, str]]] = {}  # built once their results are known
        self.test_statuses: dict[str, list[ResultStatus]] = {}

    def bad(self, line: int | None, column: str | None, message: str) -> None:
        self.problems.append(CsvProblem(line, column, message))

    def build(self, line: int, column: str, model: type[BaseModel], values: dict[str, Any]) -> Any:
        """One record, or None when the model refuses it (a problem of its line)."""
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                self.bad(line, column, f"{'.'.join(map(str, error['loc']))}: {error['msg']}")
            return None

    def keep(self, kind: str, line: int, column: str, model: type[BaseModel], values: dict[str, Any]) -> bool:
        """Build one new record of ``kind`` and keep it for loading."""
        record = self.build(line, column, model, values)
        if record is not None:
            self.new[kind].append((line, record))
        return record is not None

    def claim(self, record_id: str, key: tuple[str, ...], line: int) -> bool:
        """Two different keys must not map to one derived id."""
        first = self.claimed.setdefault(record_id, (key, line))
        if first[0] != key:
            them = f"{' / '.join(key)!r} and {' / '.join(first[0])!r} on line {first[1]}"
            self.bad(line, _KEY, f"{them} both map to id {record_id!r}; rename one of them")
        return first[0] == key

    def parse(self, line: int, cells: dict[str, str]) -> _Row | None:
        """Check the row's cells; None (with the problems recorded) when one is wrong."""
        (study_type, status, kind, months, condition), errors = _check_row(_row_cells(cells))
        errors += tuple((c, e) for c in ("sample_id", "value") if (e := _cell(c, cells[c])[1]))
        for column, error in errors:
            self.bad(line, column, error)
        if errors or kind is None:
            return None
        cells["study_type"] = study_type.value
        return _Row(line, cells, status, kind, months, condition)

    def add(self, line: int, cells: dict[str, str]) -> None:
        row = self.parse(line, cells)
        study = None if row is None else self.study(row)
        if row is None or study is None:
            return
        condition_id = self.condition(row, study)
        timepoint_id = self.timepoint(row, study, condition_id)
        if not self.sample(row, study, condition_id, timepoint_id):
            return
        study_id, sample_id = cells["study_id"], cells["sample_id"]
        test, component = cells["test"], cells["component"]
        key = (sample_id, test, component)
        first, stored = self.results.setdefault(key, line), study.stored.results.get(key)
        if first != line or stored:
            where = f"also on line {first}" if first != line else f"already in the LIMS as {stored}"
            what = f"study {study_id}, sample {sample_id}, test {test!r}, component {component!r}"
            self.bad(line, _KEY, f"duplicate result: {what} is {where}")
            return
        test_id, result_id = self.test(row, study), f"{sample_id}:{_slug(test)}:{_slug(component)}"
        if test_id is None or not self.claim(result_id, key, line):
            return
        result = dict(
            result_id=result_id,
            test_id=test_id,
            sample_id=sample_id,
            study_id=study_id,
            sponsor_id=cells["sponsor_id"],
            test=test,
            component=component,
            value=cells["value"] or None,
            units=cells["units"],
            status=row.status,
            reportable=row.status not in _NOT_REPORTABLE,
        )
        if self.keep("results", line, _KEY, Result, result):
            self.test_statuses.setdefault(test_id, []).append(row.status)
        self.spec(row, study)

    def study(self, row: _Row) -> _Study | None:
        cells, line, study_id = row.cells, row.line, row.cells["study_id"]
        attrs = _study_attrs(cells)
        study = self.studies.get(study_id)
        if study is not None and attrs != study.attrs:
            differ = zip(_STUDY_COLUMNS, attrs, study.attrs, strict=True)
            column, value, before = next(d for d in differ if d[1] != d[2])
            there = f"{before!r} on line {study.line}"
            self.bad(line, column, f"study {study_id} has {column} {value!r} here but {there}")
            return None
        if study is None:
            sponsor_id, owner = cells["sponsor_id"], self.existing.study_sponsors.get(study_id)
            refused = owner is not None and owner != sponsor_id
            if refused:
                self.bad(line, "sponsor_id", f"study {study_id} exists in the LIMS under sponsor {owner!r}")
            held = owner == sponsor_id
            stored = _Stored.of(self.existing.study_records(sponsor_id, study_id)) if held else _Stored()
            if stored.study is not None:
                self.check_stored_study(row, stored.study)
            study = self.studies[study_id] = _Study(line, attrs, owner is None, refused, stored)
        study.batches[cells["batch"]] = None
        return None if study.refused else study

    def check_stored_study(self, row: _Row, study: Study) -> None:
        held = {"protocol_number": study.protocol_number, "study_type": study.study_type.value}
        held["study_director"] = study.study_director or ""
        for column, theirs in held.items():
            if (row.cells[column] or column != "study_director") and row.cells[column] != theirs:
                mine = row.cells[column]
                self.bad(
                    row.line,
                    column,
                    f"study {study.study_id} is in the LIMS with {column} {theirs!r}, not {mine!r}",
                )
        milestone = row.cells["milestone"]
        if milestone and study.milestone(milestone) is None:
            message = f"study {study.study_id} is already in the LIMS; the import cannot add milestone"
            self.bad(row.line, "milestone", f"{message} {milestone!r} to it")

    def condition(self, row: _Row, study: _Study) -> str | None:
        if row.condition is None:
            return None
        study_id, (temp, rh, temp_text, rh_text) = row.cells["study_id"], row.condition
        key = (study_id, temp, rh)
        if key not in self.conditions:
            stored = study.stored.conditions.get((temp, rh))
            name = f"{_plain(temp)}C" + ("" if rh is None else f"-{_plain(rh)}RH")
            condition_id = self.conditions[key] = stored or f"{study_id}:COND:{name}"
            label = f"{temp_text}°C" + ("" if rh_text is None else f"/{rh_text}%RH")
            condition = dict(
                condition_id=condition_id,
                study_id=study_id,
                sponsor_id=row.cells["sponsor_id"],
                label=label,
                kind=_condition_kind(temp, rh),
                temperature_c=temp_text,
                humidity_rh=rh_text,
            )
            if stored is None:
                self.keep("conditions", row.line, "condition", Condition, condition)
        return self.conditions[key]

    def timepoint(self, row: _Row, study: _Study, condition_id: str | None) -> str | None:
        if row.months is None:
            return None
        study_id, months = row.cells["study_id"], row.months
        key = (study_id, condition_id, months)
        if key not in self.timepoints:
            stored = study.stored.timepoints.get((condition_id, months))
            label = f"T{_plain(months)}"
            where = "" if condition_id is None else condition_id.rsplit(":", 1)[-1] + ":"
            timepoint_id = self.timepoints[key] = stored or f"{study_id}:TP:{where}{label}"
            timepoint = dict(
                timepoint_id=timepoint_id,
                study_id=study_id,
                sponsor_id=row.cells["sponsor_id"],
                condition_id=condition_id,
                label=label,
                nominal=row.cells["timepoint_months"],
                unit=TimeUnit.MONTH,
            )
            if stored is None:
                self.keep("timepoints", row.line, "timepoint_months", Timepoint, timepoint)
        return self.timepoints[key]

    def sample(self, row: _Row, study: _Study, condition_id: str | None, timepoint_id: str | None) -> bool:
        cells, sample_id = row.cells, row.cells["sample_id"]
        values = (cells["study_id"], cells["batch"] or None, condition_id, timepoint_id, row.kind.value)
        if sample_id in self.samples:
            first, before, shown = self.samples[sample_id]
            where, held = f"on line {first}", before
        else:
            self.samples[sample_id] = (row.line, values, {c: cells[c] for c in _SAMPLE_COLUMNS})
            stored = study.stored.samples.get(sample_id)
            if stored is None:
                sample = dict(
                    sample_id=sample_id,
                    study_id=cells["study_id"],
                    sponsor_id=cells["sponsor_id"],
                    kind=row.kind,
                    batch=values[1],
                    condition_id=condition_id,
                    timepoint_id=timepoint_id,
                )
                return self.keep("samples", row.line, "sample_id", Sample, sample)
            where = "in the LIMS"
            held = (
                stored.study_id,
                stored.batch,
                stored.condition_id,
                stored.timepoint_id,
                stored.kind.value,
            )
            shown = dict(zip(_SAMPLE_COLUMNS, (h or "" for h in held), strict=True))
        for column, mine, theirs in zip(_SAMPLE_COLUMNS, values, held, strict=True):
            if mine != theirs:
                message = (
                    f"sample {sample_id} has {column} {cells[column]!r} here but {shown[column]!r} {where}"
                )
                self.bad(row.line, column, message)
                return False
        return True

    def test(self, row: _Row, study: _Study) -> str | None:
        cells = row.cells
        key = (cells["sample_id"], cells["test"])
        if key not in self.tests:
            test_id = study.stored.tests.get(key)
            if test_id is None:
                test_id = f"{key[0]}:{_slug(key[1])}"
                if not self.claim(test_id, key, row.line):
                    return None
                scoped = {"study_id": cells["study_id"], "sponsor_id": cells["sponsor_id"]}
                self.new_tests[test_id] = (
                    row.line,
                    {"test_id": test_id, "sample_id": key[0], "name": key[1], **scoped},
                )
            self.tests[key] = test_id
        return self.tests[key]

    def spec(self, row: _Row, study: _Study) -> None:
        cells, line = row.cells, row.line
        study_id, test, component = cells["study_id"], cells["test"], cells["component"]
        key, limits = (study_id, test, component), (cells["spec_min"] or None, cells["spec_max"] or None)
        first = self.specs.setdefault(key, (line, *limits))

        def differs(there: str) -> str:
            what = f"specification of {test!r} / {component!r} in study {study_id}"
            return f"{what} is {_limits(*limits)} here but {there}"

        if first[0] != line:
            if first[1:] != limits:
                column = "spec_min" if first[1] != limits[0] else "spec_max"
                self.bad(line, column, differs(f"{_limits(*first[1:])} on line {first[0]}"))
            return
        stored = study.stored.specs.get((test, component))
        if stored is not None and limits != (None, None) and limits != (stored.min, stored.max):
            self.bad(line, "spec_min", differs(f"{_limits(stored.min, stored.max)} in the LIMS"))
        elif stored is None and limits != (None, None):
            spec_id = f"{study_id}:SPEC:{_slug(test)}:{_slug(component)}"
            spec = dict(
                spec_id=spec_id,
                study_id=study_id,
                sponsor_id=cells["sponsor_id"],
                test=test,
                component=component,
                min=limits[0],
                max=limits[1],
                units=cells["units"],
            )
            if self.claim(spec_id, key, line):
                self.keep("specifications", line, "spec_min", Specification, spec)

    def finish(self) -> LimsDataset:
        """The records to load, once no problem was found (and no derived id is already taken)."""
        for test_id, (line, values) in self.new_tests.items():
            status = _test_status(tuple(self.test_statuses.get(test_id, ())))
            self.keep("tests", line, "test", Test, {**values, "status": status})
        taken: set[str] = set()  # samples of other studies (their tests and results clash with them)
        for kind, records in self.new.items():
            clash = self.existing.existing_ids(kind, [getattr(r, RECORD_KINDS[kind]) for _, r in records])
            for line, record in records:
                record_id = getattr(record, RECORD_KINDS[kind])
                if record_id in clash and getattr(record, "sample_id", None) not in taken:
                    self.bad(line, None, f"{kind[:-1]} {record_id!r} already exists in the LIMS")
            taken |= clash if kind == "samples" else set()
        studies: list[Study] = []
        sponsors: dict[str, None] = {}
        directors: dict[str, dict[str, None]] = {}
        for study_id, s in self.studies.items():
            sponsor_id, study_type, protocol, director, milestone = s.attrs
            sponsors[sponsor_id] = None
            if director and s.new and director not in self.existing.users:
                directors.setdefault(director, {})[sponsor_id] = None
            reached = {"name": milestone, "status": MilestoneStatus.COMPLETE, "completed_at": self.now}
            study = dict(
                study_id=study_id,
                sponsor_id=sponsor_id,
                protocol_number=protocol,
                study_type=study_type,
                batches=tuple(batch for batch in s.batches if batch),
                study_director=director or None,
                milestones=[reached] if milestone else [],
            )
            studies += [self.build(s.line, "study_id", Study, study)] if s.new else []
        if self.problems:
            return LimsDataset()
        return LimsDataset(
            sponsors=[Sponsor(sponsor_id=s, name=s) for s in sponsors if s not in self.existing.sponsors],
            users=[
                Principal(user_id=user, display_name=user, roles=(Role.STUDY_DIRECTOR,), sponsors=tuple(seen))
                for user, seen in directors.items()
            ],
            studies=studies,
            **{kind: [record for _, record in records] for kind, records in self.new.items()},
        )


@functools.lru_cache(maxsize=256)
def _test_status(statuses: tuple[ResultStatus, ...]) -> TestStatus:
    if statuses and all(s is ResultStatus.CANCELLED for s in statuses):
        return TestStatus.CANCELLED
    valid = [s for s in statuses if s not in _NOT_REPORTABLE]
    if valid and all(s in (ResultStatus.REVIEWED, ResultStatus.APPROVED) for s in valid):
        return TestStatus.COMPLETE
    return TestStatus.IN_PROGRESS


def _decode(path: Path) -> tuple[str | None, list[CsvProblem]]:
    """The file's text, or one problem per line that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    problems: list[CsvProblem] = []
    header: list[str] = []
    for number, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
            header = header or [cell.strip().lower() for cell in next(csv.reader([text]), [])]
        except UnicodeDecodeError as exc:
            cells = next(csv.reader([raw.decode("utf-8", "replace")]), [])
            index = next((i for i, cell in enumerate(cells) if "\ufffd" in cell), 0)
            column = header[index] if index < len(header) else f"field {index + 1}"
            message = f"byte 0x{raw[exc.start]:02x} is not UTF-8 (save the file as UTF-8)"
            problems.append(CsvProblem(number, column, message))
    return None, problems


def _records(text: str, problems: list[CsvProblem]) -> Iterator[tuple[int, list[str]]]:
    """(first line, stripped cells) of every record that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for cells in reader:
            stripped = [cell.strip() for cell in cells]
            if any(stripped):
                yield start, stripped
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(CsvProblem(start, None, f"not readable as CSV from here on: {exc}"))


def _header_problems(line: int, header: list[str]) -> list[CsvProblem]:
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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading creates several objects per row and no reference cycles; the cyclic collector would
    rescan the growing heap again and again (about 40% of the time for 100,000 rows)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_csv_dataset(
    path: Path | str, *, existing: ExistingLims | None = None, now: datetime | None = None
) -> LimsDataset:
    """The records a long CSV describes, checked against what ``existing`` holds (default: an empty
    LIMS). ``now`` (timezone-aware; default the clock) stamps the milestones the file records.
    Raises :class:`CsvImportError` listing the problems found."""
    path, existing, now = Path(path), existing or ExistingLims(), now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with _gc_paused():
        return _read(path, existing, now.astimezone(UTC))


def _read(path: Path, existing: ExistingLims, now: datetime) -> LimsDataset:
    text, problems = _decode(path)
    if text is None:
        raise CsvImportError(path, problems)
    records = _records(text, problems)
    first = next(records, None)
    if first is None:
        raise CsvImportError(path, problems or [CsvProblem(1, None, "the file is empty")])
    header_line, header = first[0], [cell.lower() for cell in first[1]]
    problems += _header_problems(header_line, header)
    if problems:
        raise CsvImportError(path, problems)
    builder, absent, rows = _Builder(existing, now), dict.fromkeys(OPTIONAL_COLUMNS, ""), 0
    for line, cells in records:
        rows += 1
        if len(cells) == len(header):
            builder.add(line, absent | dict(zip(header, cells, strict=True)))
        else:
            where = header[len(cells)] if len(cells) < len(header) else f"field {len(header) + 1}"
            builder.bad(line, where, f"{len(cells)} fields but the header has {len(header)}")
    builder.problems += problems
    if rows == 0 and not builder.problems:
        builder.bad(header_line, None, "no data rows after the header")
    dataset = builder.finish()
    if builder.problems:
        raise CsvImportError(path, builder.problems)
    return dataset


def import_csv(
    lims: ImportTarget, path: Path | str, *, actor: str = "system:csv-import", now: datetime | None = None
) -> ImportSummary:
    """Read ``path`` against what ``lims`` holds and load it in one transaction, or nothing. Raises
    :class:`CsvImportError` for problems of the file and :class:`~limsai.lims.errors.LimsRejected`
    when the LIMS refuses the load."""
    path = Path(path)
    dataset = read_csv_dataset(path, existing=ExistingLims.of(lims), now=now)
    lims.load(dataset, actor=actor, reason=f"CSV import of {path.name}")
    counts = dataset.counts()
    return ImportSummary(
        path=str(path),
        rows=len(dataset.results),
        created={kind: counts[kind] for kind in ("sponsors", "users", "studies", *RECORD_KINDS)},
        sponsors=tuple(dict.fromkeys(r.sponsor_id for r in dataset.results)),
        studies=tuple(dict.fromkeys(r.study_id for r in dataset.results)),
        new_studies=tuple(study.study_id for study in dataset.studies),
    )
