"""Assembling the scenario: people, studies, lab resources and the planted-anomaly record, merged in
sponsor order into one :class:`~limsai.model.LimsDataset`, and the size knob that scales the PK
studies to a requested number of results.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from limsai.lims.scenario.anomalies import AnomalyKind, PlantedAnomaly
from limsai.lims.scenario.base import DEFAULT_SEED, REFERENCE_TIME, iso, stream
from limsai.lims.scenario.bundle import Bundle
from limsai.lims.scenario.catalog import SPONSORS
from limsai.lims.scenario.lab import build_lab
from limsai.lims.scenario.people import build_people
from limsai.lims.scenario.pk import build_pk, pk_result_count
from limsai.lims.scenario.pk_design import PK_STUDIES
from limsai.lims.scenario.stability import build_stability
from limsai.lims.scenario.studies import STABILITY_STUDIES
from limsai.model import LimsDataset, SpecificationKind

MIN_SUBJECTS = 4
"""The smallest PK study the size knob produces (one randomisation block)."""


@dataclass(frozen=True)
class Scenario:
    """A generated CRO world: the records to load, the anomalies planted in them and the seed."""

    seed: int
    reference_time: datetime
    dataset: LimsDataset
    anomalies: list[PlantedAnomaly]
    canaries: dict[str, str]

    def anomalies_of(self, kind: AnomalyKind) -> list[PlantedAnomaly]:
        return [a for a in self.anomalies if a.kind is kind]

    def to_json_bytes(self) -> bytes:
        """Canonical serialisation of seed, reference time, dataset and anomalies: sorted keys, no
        insignificant whitespace, UTF-8. Equal scenarios give equal bytes."""
        payload = {
            "seed": self.seed,
            "reference_time": iso(self.reference_time),
            "dataset": self.dataset.model_dump(mode="json"),
            "anomalies": [a.model_dump(mode="json") for a in self.anomalies],
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def summary(self) -> dict[str, Any]:
        """Counts per sponsor and study, totals and planted anomalies per kind (for printing)."""
        per_study: dict[str, Counter[str]] = defaultdict(Counter)
        for name in ("samples", "tests", "results"):
            for record in getattr(self.dataset, name):
                per_study[record.study_id][name] += 1
        sponsors: dict[str, Any] = {}
        for sponsor in self.dataset.sponsors:
            sponsors[sponsor.sponsor_id] = {"name": sponsor.name, "canary": sponsor.canary, "studies": {}}
        for study in self.dataset.studies:
            counts = per_study[study.study_id]
            sponsors[study.sponsor_id]["studies"][study.study_id] = {
                "type": study.study_type.value,
                "protocol": study.protocol_number,
                "samples": counts["samples"],
                "tests": counts["tests"],
                "results": counts["results"],
                "anomalies": sum(1 for a in self.anomalies if a.study_id == study.study_id),
            }
        return {
            "seed": self.seed,
            "reference_time": iso(self.reference_time),
            "totals": self.dataset.counts(),
            "sponsors": sponsors,
            "anomalies": dict(Counter(a.kind.value for a in self.anomalies)),
        }


def allocate_subjects(total: int) -> list[int]:
    """Split ``total`` PK subjects over the PK studies in proportion to their natural sizes
    (largest remainder, ties to the earlier study), each study keeping at least one block."""
    weights = [pk.base_subjects for pk in PK_STUDIES]
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return [max(MIN_SUBJECTS, s) for s in shares]


def subjects_for(results: int, fixed_results: int) -> list[int]:
    """The smallest PK allocation whose scenario holds at least ``results`` results."""

    def count(total: int) -> int:
        return fixed_results + sum(
            pk_result_count(pk, n) for pk, n in zip(PK_STUDIES, allocate_subjects(total), strict=True)
        )

    low = MIN_SUBJECTS * len(PK_STUDIES)
    if count(low) >= results:
        return allocate_subjects(low)
    high = low
    while count(high) < results:
        high *= 2
    while high - low > 1:  # count(low) < results <= count(high)
        middle = (low + high) // 2
        if count(middle) >= results:
            high = middle
        else:
            low = middle
    return allocate_subjects(high)


def _control_conflicts(bundle: Bundle) -> list[PlantedAnomaly]:
    """Two studies of one sponsor with different control ranges for one test/component/method."""
    ranges: dict[tuple[str, str, str, str], list[tuple[str, str | None, str | None, str]]] = defaultdict(list)
    for spec in bundle.specifications:
        if spec.kind is SpecificationKind.CONTROL:
            ranges[(spec.sponsor_id, spec.test, spec.component, spec.method)].append(
                (spec.study_id, spec.min, spec.max, spec.spec_id)
            )
    out: list[PlantedAnomaly] = []
    for (sponsor_id, test, component, method), entries in ranges.items():
        first = entries[0]
        for other in entries[1:]:
            if (other[1], other[2]) == (first[1], first[2]):
                continue
            out.append(
                PlantedAnomaly(
                    kind=AnomalyKind.CONFLICTING_CONTROL_RANGE,
                    sponsor_id=sponsor_id,
                    study_id=first[0],
                    records=(first[3], other[3]),
                    description=(
                        f"{test} ({component}, {method}): study {first[0]} uses the control range "
                        f"{first[1]} - {first[2]} % but study {other[0]} uses {other[1]} - {other[2]} % "
                        f"for the same method."
                    ),
                    expected={
                        "test": test,
                        "component": component,
                        "method": method,
                        "study_1": first[0],
                        "range_1": f"{first[1]} - {first[2]}",
                        "study_2": other[0],
                        "range_2": f"{other[1]} - {other[2]}",
                        "verdict": "conflicting control ranges",
                    },
                )
            )
    return out


def generate(seed: int = DEFAULT_SEED, results: int | None = None) -> Scenario:
    """The reference CRO scenario for ``seed``. ``results=None`` gives the natural size (a few
    thousand results); ``results=N`` scales the PK studies so the dataset holds at least N results
    and within a few percent of N (when N is below the smallest scenario, the smallest is returned)."""
    if results is not None and results < 1:
        raise ValueError(f"results must be a positive number, not {results}")
    people = build_people(stream(seed, "people"), {pk.sponsor_id for pk in PK_STUDIES})
    sponsors = {s.sponsor_id: s for s in SPONSORS}
    stability = {
        defn.study_id: build_stability(
            defn,
            sponsors[defn.sponsor_id],
            people.canaries[defn.sponsor_id],
            people.staff[defn.sponsor_id],
            stream(seed, defn.study_id),
        )
        for defn in STABILITY_STUDIES
    }
    fixed_results = sum(len(b.results) for b in stability.values())
    if results is None:
        subjects = [pk.base_subjects for pk in PK_STUDIES]
    else:
        subjects = subjects_for(results, fixed_results)
    pk = {
        defn.study_id: build_pk(
            defn,
            sponsors[defn.sponsor_id],
            people.canaries[defn.sponsor_id],
            people.staff[defn.sponsor_id],
            stream(seed, defn.study_id),
            n,
        )
        for defn, n in zip(PK_STUDIES, subjects, strict=True)
    }
    merged = Bundle()
    for sponsor in SPONSORS:
        for defn in STABILITY_STUDIES:
            if defn.sponsor_id == sponsor.sponsor_id:
                merged.extend(stability[defn.study_id])
        for pk_defn in PK_STUDIES:
            if pk_defn.sponsor_id == sponsor.sponsor_id:
                merged.extend(pk[pk_defn.study_id])
    lab, adjusted = build_lab(merged.calibration_gaps, merged.results)
    anomalies = merged.anomalies + lab.anomalies + _control_conflicts(merged)
    order = {s.sponsor_id: i for i, s in enumerate(SPONSORS)}
    kinds = list(AnomalyKind)
    anomalies.sort(key=lambda a: (order[a.sponsor_id], a.study_id, kinds.index(a.kind), a.records[:1]))
    dataset = LimsDataset(
        sponsors=people.sponsors,
        users=people.users,
        studies=merged.studies,
        conditions=merged.conditions,
        timepoints=merged.timepoints,
        samples=merged.samples,
        tests=merged.tests,
        results=adjusted,
        specifications=merged.specifications,
        instruments=lab.instruments,
        calibrations=lab.calibrations,
        reagent_lots=lab.reagent_lots,
        deviations=merged.deviations,
        audit_trail=merged.audit_trail,
    )
    return Scenario(
        seed=seed,
        reference_time=REFERENCE_TIME,
        dataset=dataset,
        anomalies=anomalies,
        canaries=dict(people.canaries),
    )
