"""The records a long CSV implies, built row by row and checked against each other and the LIMS.

:class:`Builder` takes the rows in file order. It keeps the first line of every study, sample, result
key and specification, so that a disagreeing row names the line it disagrees with; it reuses what the
LIMS already holds for a study; it derives record ids from the keys (see the package docstring) and
refuses two keys that map to one id. Tests are built last, when all their results' statuses are known.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from limsai.lims.csv_import.columns import (
    SAMPLE_COLUMNS,
    STUDY_COLUMNS,
    Row,
    condition_kind,
    parse_row,
    study_attrs,
)
from limsai.lims.csv_import.existing import RECORD_KINDS, ExistingLims, StoredStudy
from limsai.lims.csv_import.problems import CsvProblem
from limsai.model import (
    Condition,
    LimsDataset,
    MilestoneStatus,
    Principal,
    Result,
    ResultStatus,
    Role,
    Sample,
    Specification,
    Sponsor,
    Study,
    Test,
    TestStatus,
    Timepoint,
    TimeUnit,
)

_KEY = "sample_id, test, component"
_NOT_REPORTABLE = (ResultStatus.INVALIDATED, ResultStatus.CANCELLED)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass
class _Study:
    line: int
    attrs: tuple[str, ...]  # the values of STUDY_COLUMNS
    new: bool
    refused: bool
    stored: StoredStudy
    batches: dict[str, None] = field(default_factory=dict)


class Builder:
    """Checks rows one by one and collects the records they imply; ``problems`` holds what is wrong."""

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

    def add(self, line: int, cells: dict[str, str]) -> None:
        """One data row (cells by column name, absent optional columns empty)."""
        row, errors = parse_row(line, cells)
        for column, error in errors:
            self.bad(line, column, error)
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

    def study(self, row: Row) -> _Study | None:
        cells, line, study_id = row.cells, row.line, row.cells["study_id"]
        attrs = study_attrs(cells)
        study = self.studies.get(study_id)
        if study is not None and attrs != study.attrs:
            differ = zip(STUDY_COLUMNS, attrs, study.attrs, strict=True)
            column, value, before = next(d for d in differ if d[1] != d[2])
            there = f"{before!r} on line {study.line}"
            self.bad(line, column, f"study {study_id} has {column} {value!r} here but {there}")
            return None
        if study is None:
            sponsor_id, owner = cells["sponsor_id"], self.existing.study_sponsors.get(study_id)
            refused = owner is not None and owner != sponsor_id
            if refused:
                self.bad(line, "sponsor_id", f"study {study_id} exists in the LIMS under sponsor {owner!r}")
            records = self.existing.study_records
            stored = StoredStudy.of(records(sponsor_id, study_id)) if owner == sponsor_id else StoredStudy()
            if stored.study is not None:
                self.check_stored_study(row, stored.study)
            study = self.studies[study_id] = _Study(line, attrs, owner is None, refused, stored)
        study.batches[cells["batch"]] = None
        return None if study.refused else study

    def check_stored_study(self, row: Row, study: Study) -> None:
        held = {"protocol_number": study.protocol_number, "study_type": study.study_type.value}
        held["study_director"] = study.study_director or ""
        for column, theirs in held.items():
            mine = row.cells[column]
            if (mine or column != "study_director") and mine != theirs:
                message = f"study {study.study_id} is in the LIMS with {column} {theirs!r}, not {mine!r}"
                self.bad(row.line, column, message)
        milestone = row.cells["milestone"]
        if milestone and study.milestone(milestone) is None:
            message = f"study {study.study_id} is already in the LIMS; the import cannot add milestone"
            self.bad(row.line, "milestone", f"{message} {milestone!r} to it")

    def condition(self, row: Row, study: _Study) -> str | None:
        if row.condition is None:
            return None
        study_id, (temp, rh, temp_text, rh_text) = row.cells["study_id"], row.condition
        key = (study_id, temp, rh)
        if key not in self.conditions:
            stored = study.stored.conditions.get((temp, rh))
            name = f"{_plain(temp)}C" + ("" if rh is None else f"-{_plain(rh)}RH")
            condition_id = self.conditions[key] = stored or f"{study_id}:COND:{name}"
            if stored is None:
                condition = dict(
                    condition_id=condition_id,
                    study_id=study_id,
                    sponsor_id=row.cells["sponsor_id"],
                    label=f"{temp_text}°C" + ("" if rh_text is None else f"/{rh_text}%RH"),
                    kind=condition_kind(temp, rh),
                    temperature_c=temp_text,
                    humidity_rh=rh_text,
                )
                self.keep("conditions", row.line, "condition", Condition, condition)
        return self.conditions[key]

    def timepoint(self, row: Row, study: _Study, condition_id: str | None) -> str | None:
        if row.months is None:
            return None
        study_id, months = row.cells["study_id"], row.months
        key = (study_id, condition_id, months)
        if key not in self.timepoints:
            stored = study.stored.timepoints.get((condition_id, months))
            label = f"T{_plain(months)}"
            where = "" if condition_id is None else condition_id.rsplit(":", 1)[-1] + ":"
            timepoint_id = self.timepoints[key] = stored or f"{study_id}:TP:{where}{label}"
            if stored is None:
                timepoint = dict(
                    timepoint_id=timepoint_id,
                    study_id=study_id,
                    sponsor_id=row.cells["sponsor_id"],
                    condition_id=condition_id,
                    label=label,
                    nominal=row.cells["timepoint_months"],
                    unit=TimeUnit.MONTH,
                )
                self.keep("timepoints", row.line, "timepoint_months", Timepoint, timepoint)
        return self.timepoints[key]

    def sample(self, row: Row, study: _Study, condition_id: str | None, timepoint_id: str | None) -> bool:
        """Whether the row's sample is new and built, or agrees with its first row or the LIMS."""
        cells, sample_id = row.cells, row.cells["sample_id"]
        values = (cells["study_id"], cells["batch"] or None, condition_id, timepoint_id, row.kind.value)
        if sample_id in self.samples:
            first, held, shown = self.samples[sample_id]
            where = f"on line {first}"
        else:
            self.samples[sample_id] = (row.line, values, {c: cells[c] for c in SAMPLE_COLUMNS})
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
            shown = dict(zip(SAMPLE_COLUMNS, (h or "" for h in held), strict=True))
        for column, mine, theirs in zip(SAMPLE_COLUMNS, values, held, strict=True):
            if mine != theirs:
                message = (
                    f"sample {sample_id} has {column} {cells[column]!r} here but {shown[column]!r} {where}"
                )
                self.bad(row.line, column, message)
                return False
        return True

    def test(self, row: Row, study: _Study) -> str | None:
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

    def spec(self, row: Row, study: _Study) -> None:
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
            if not s.new:
                continue
            if director and director not in self.existing.users:
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
            studies.append(self.build(s.line, "study_id", Study, study))
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


@functools.lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "_"


def _plain(number: Decimal) -> str:
    return format((number + 0).normalize(), "f")


def _limits(low: str | None, high: str | None) -> str:
    return "no specification" if low is None and high is None else f"[{low or ''}, {high or ''}]"
