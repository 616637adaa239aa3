"""A whole LIMS's worth of records in one value: what the scenario generator produces, what the CSV
import builds, and what the embedded LIMS loads in one all-or-nothing transaction.

``problems()`` checks referential integrity and sponsor consistency before anything is written, so a
bad bundle is refused with every problem named and nothing stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from limsai.model.equipment import Calibration, Instrument, ReagentLot
from limsai.model.parties import ALL_SPONSORS, Principal, Sponsor
from limsai.model.records import AuditEvent, Deviation
from limsai.model.results import Result, Sample, Specification, Test
from limsai.model.study import Condition, Study, Timepoint

MAX_PROBLEMS = 50


@dataclass(frozen=True)
class KnownRecords:
    """Records a LIMS already holds that a bundle may refer to (only the referenced ones are needed):
    ids, with ``studies`` mapping study to sponsor, ``samples`` sample to study, ``tests`` test to
    sample."""

    sponsors: frozenset[str] = frozenset()
    studies: Mapping[str, str] = field(default_factory=dict)
    users: frozenset[str] = frozenset()
    instruments: frozenset[str] = frozenset()
    reagent_lots: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    timepoints: frozenset[str] = frozenset()
    samples: Mapping[str, str] = field(default_factory=dict)
    tests: Mapping[str, str] = field(default_factory=dict)


class LimsDataset(BaseModel):
    """Records to load into a LIMS. Lists keep the producer's order (stable bytes for a seed)."""

    model_config = ConfigDict(extra="forbid")

    sponsors: list[Sponsor] = Field(default_factory=list)
    users: list[Principal] = Field(default_factory=list)
    studies: list[Study] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    timepoints: list[Timepoint] = Field(default_factory=list)
    samples: list[Sample] = Field(default_factory=list)
    tests: list[Test] = Field(default_factory=list)
    results: list[Result] = Field(default_factory=list)
    specifications: list[Specification] = Field(default_factory=list)
    instruments: list[Instrument] = Field(default_factory=list)
    calibrations: list[Calibration] = Field(default_factory=list)
    reagent_lots: list[ReagentLot] = Field(default_factory=list)
    deviations: list[Deviation] = Field(default_factory=list)
    audit_trail: list[AuditEvent] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of records of each kind."""
        return {name: len(getattr(self, name)) for name in type(self).model_fields}

    def problems(self, known: KnownRecords | None = None) -> list[str]:
        """Integrity problems of this bundle on top of the records a LIMS already holds (``known``).
        Empty when the bundle may be loaded."""
        known = known or KnownRecords()
        out: list[str] = []
        sponsors = {s.sponsor_id for s in self.sponsors} | known.sponsors
        studies = dict(known.studies)
        users = {u.user_id for u in self.users} | known.users
        instruments = {i.instrument_id for i in self.instruments} | known.instruments
        lots = {r.lot_id for r in self.reagent_lots} | known.reagent_lots

        def dupes(kind: str, keys: Iterable[str]) -> None:
            for key, n in Counter(keys).items():
                if n > 1:
                    out.append(f"{kind} {key!r} appears {n} times")

        dupes("sponsor", (s.sponsor_id for s in self.sponsors))
        dupes("user", (u.user_id for u in self.users))
        dupes("study", (s.study_id for s in self.studies))
        dupes("condition", (c.condition_id for c in self.conditions))
        dupes("timepoint", (t.timepoint_id for t in self.timepoints))
        dupes("sample", (s.sample_id for s in self.samples))
        dupes("test", (t.test_id for t in self.tests))
        dupes("result", (r.result_id for r in self.results))
        dupes("specification", (s.spec_id for s in self.specifications))
        dupes("instrument", (i.instrument_id for i in self.instruments))
        dupes("calibration", (c.calibration_id for c in self.calibrations))
        dupes("reagent lot", (r.lot_id for r in self.reagent_lots))
        dupes("deviation", (d.deviation_id for d in self.deviations))

        for user in self.users:
            for sponsor_id in user.sponsors:
                if sponsor_id != ALL_SPONSORS and sponsor_id not in sponsors:
                    out.append(f"user {user.user_id} may see unknown sponsor {sponsor_id!r}")
        for study in self.studies:
            if study.sponsor_id not in sponsors:
                out.append(f"study {study.study_id} names unknown sponsor {study.sponsor_id!r}")
            if study.study_director is not None and study.study_director not in users:
                out.append(f"study {study.study_id} names unknown study director {study.study_director!r}")
            if study.study_id in studies and studies[study.study_id] != study.sponsor_id:
                out.append(f"study {study.study_id} already belongs to sponsor {studies[study.study_id]!r}")
            studies[study.study_id] = study.sponsor_id

        def scoped(kind: str, key: str, study_id: str, sponsor_id: str) -> None:
            owner = studies.get(study_id)
            if owner is None:
                out.append(f"{kind} {key} names unknown study {study_id!r}")
            elif owner != sponsor_id:
                out.append(
                    f"{kind} {key} says sponsor {sponsor_id!r} but study {study_id} belongs to {owner!r}"
                )

        conditions = {c.condition_id for c in self.conditions} | known.conditions
        timepoints = {t.timepoint_id for t in self.timepoints} | known.timepoints
        sample_study = {**known.samples, **{s.sample_id: s.study_id for s in self.samples}}
        test_sample = {**known.tests, **{t.test_id: t.sample_id for t in self.tests}}
        for c in self.conditions:
            scoped("condition", c.condition_id, c.study_id, c.sponsor_id)
        for t in self.timepoints:
            scoped("timepoint", t.timepoint_id, t.study_id, t.sponsor_id)
            if t.condition_id is not None and t.condition_id not in conditions:
                out.append(f"timepoint {t.timepoint_id} names unknown condition {t.condition_id!r}")
        for s in self.samples:
            scoped("sample", s.sample_id, s.study_id, s.sponsor_id)
            if s.condition_id is not None and s.condition_id not in conditions:
                out.append(f"sample {s.sample_id} names unknown condition {s.condition_id!r}")
            if s.timepoint_id is not None and s.timepoint_id not in timepoints:
                out.append(f"sample {s.sample_id} names unknown timepoint {s.timepoint_id!r}")
        for order in self.tests:
            scoped("test", order.test_id, order.study_id, order.sponsor_id)
            if sample_study.get(order.sample_id) != order.study_id:
                out.append(
                    f"test {order.test_id} names sample {order.sample_id!r} not in study {order.study_id}"
                )
        for r in self.results:
            scoped("result", r.result_id, r.study_id, r.sponsor_id)
            if test_sample.get(r.test_id) != r.sample_id:
                out.append(f"result {r.result_id} names test {r.test_id!r} not on sample {r.sample_id!r}")
            if r.instrument_id is not None and r.instrument_id not in instruments:
                out.append(f"result {r.result_id} names unknown instrument {r.instrument_id!r}")
            if r.reagent_lot_id is not None and r.reagent_lot_id not in lots:
                out.append(f"result {r.result_id} names unknown reagent lot {r.reagent_lot_id!r}")
            if len(out) >= MAX_PROBLEMS:
                break
        for spec in self.specifications:
            scoped("specification", spec.spec_id, spec.study_id, spec.sponsor_id)
        for cal in self.calibrations:
            if cal.instrument_id not in instruments:
                out.append(f"calibration {cal.calibration_id} names unknown instrument {cal.instrument_id!r}")
        for d in self.deviations:
            scoped("deviation", d.deviation_id, d.study_id, d.sponsor_id)
        return out[:MAX_PROBLEMS]
