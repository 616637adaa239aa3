"""What the target LIMS already holds, as far as an import needs to know.

A file may add rows to studies the LIMS already has and must not take ids it already uses.
:class:`ImportTarget` is what a LIMS offers for that, :class:`ExistingLims` the answers the import
works from (a study's records are read only for the studies a file names), and :class:`StoredStudy`
looks up one stored study's records by the keys a file uses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from limsai.lims.csv_import.columns import decimal_or_none
from limsai.lims.port import Scope
from limsai.model import (
    Condition,
    LimsDataset,
    Result,
    Sample,
    Specification,
    Study,
    Test,
    Timepoint,
    TimeUnit,
)

RECORD_KINDS = {  # the kinds whose ids the import derives -> their key field
    "conditions": "condition_id",
    "timepoints": "timepoint_id",
    "samples": "sample_id",
    "tests": "test_id",
    "results": "result_id",
    "specifications": "spec_id",
}


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


@dataclass(frozen=True)
class StoredStudy:
    """Lookups over what a LIMS holds for one study, by the keys a file uses (the first record wins)."""

    study: Study | None = None
    conditions: dict[tuple[Decimal, Decimal | None], str] = field(default_factory=dict)
    timepoints: dict[tuple[str | None, Decimal], str] = field(default_factory=dict)
    samples: dict[str, Sample] = field(default_factory=dict)
    tests: dict[tuple[str, str], str] = field(default_factory=dict)
    results: dict[tuple[str, str, str], str] = field(default_factory=dict)
    specs: dict[tuple[str, str], Specification] = field(default_factory=dict)

    @classmethod
    def of(cls, d: LimsDataset) -> StoredStudy:
        months = (t for t in d.timepoints if t.unit is TimeUnit.MONTH)
        return cls(
            next(iter(d.studies), None),
            _first(
                ((decimal_or_none(c.temperature_c), decimal_or_none(c.humidity_rh)), c.condition_id)
                for c in d.conditions
            ),
            _first(((t.condition_id, t.nominal_value), t.timepoint_id) for t in months),
            _first((s.sample_id, s) for s in d.samples),
            _first(((t.sample_id, t.name), t.test_id) for t in d.tests),
            _first(((r.sample_id, r.test, r.component), r.result_id) for r in d.results),
            _first(((s.test, s.component), s) for s in d.specifications),
        )


def _first(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out
