"""Bioanalytical PK studies (ICH M10): dosed subjects sampled at nominal times, plasma
concentrations measured by LC-MS/MS in analytical runs, and incurred sample reanalysis.

Every subject follows a one-compartment oral-absorption profile; placebo subjects and pre-dose
samples are below the LLOQ ("BLQ"). Each run carries a calibration curve (LLOQ..ULOQ) and low/mid/
high QCs in duplicate whose back-calculated values are all within +/-10 % (+/-12 % at the LLOQ),
so every run passes M10 acceptance, and every ISR repeat is within +/-9 % of its original. The
number of subjects is the scenario's size knob: :func:`pk_result_count` says how many results a
study of ``n`` subjects holds without building it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from limsai.lims.scenario.anomalies import AnomalyKind, PlantedAnomaly
from limsai.lims.scenario.base import at, days, significant
from limsai.lims.scenario.bundle import Bundle
from limsai.lims.scenario.catalog import SponsorDef
from limsai.lims.scenario.lab import LCMS_INSTRUMENTS
from limsai.lims.scenario.people import Staff
from limsai.lims.scenario.pk_design import (
    ISR_TIMEPOINTS,
    PK_DOSING_DAYS,
    PK_TIMEPOINTS,
    PLACEBO_ARM,
    RANDOMISATION_BLOCK,
    SUBJECTS_PER_RUN,
    PkDef,
)
from limsai.model import (
    Milestone,
    MilestoneStatus,
    Result,
    ResultStatus,
    Sample,
    SampleKind,
    Study,
    StudyType,
    Test,
    TestStatus,
    Timepoint,
    TimeUnit,
)

QC_LEVELS = ("L", "M", "H")
RUN_OVERHEAD = 2 * len(QC_LEVELS)  # QCs per run, on top of the calibration standards
ISR_RUN_SIZE = SUBJECTS_PER_RUN * len(PK_TIMEPOINTS)
INJECTION = timedelta(minutes=4)
STORAGE = "-70°C"
MATRIX = "Human K2EDTA plasma"
STANDARD_BIAS, LLOQ_BIAS, QC_BIAS, SAMPLE_ERROR, ISR_ERROR = 0.10, 0.12, 0.10, 0.06, 0.09


def isr_count(study_samples: int) -> int:
    """ISR extent per ICH M10: 10 % of the first 1000 study samples and 5 % of the rest."""
    first = min(study_samples, 1000)
    rest = max(study_samples - 1000, 0)
    return -(-(10 * first + 5 * rest) // 100)


def pk_result_count(defn: PkDef, subjects: int) -> int:
    """Results a study of ``subjects`` subjects holds (samples, ISR, standards and QCs)."""
    samples = subjects * len(PK_TIMEPOINTS)
    isr = isr_count(samples)
    runs = -(-subjects // SUBJECTS_PER_RUN) + -(-isr // ISR_RUN_SIZE)
    return samples + isr + runs * (len(defn.standards) + RUN_OVERHEAD)


@dataclass(frozen=True)
class Profile:
    arm: str
    ka: float
    ke: float
    scale: float

    def concentration(self, hours: float) -> float:
        if self.arm == PLACEBO_ARM or hours <= 0:
            return 0.0
        return self.scale * (math.exp(-self.ke * hours) - math.exp(-self.ka * hours))


class PkBuilder:
    """Builds one PK study's records; :meth:`build` returns them as a :class:`Bundle`."""

    def __init__(
        self, defn: PkDef, sponsor: SponsorDef, canary: str, staff: Staff, rng: random.Random, subjects: int
    ) -> None:
        self.defn, self.sponsor, self.canary, self.staff, self.rng = defn, sponsor, canary, staff, rng
        self.subjects = subjects
        self.out = Bundle()
        self.study_id = defn.study_id
        self.test_name = f"{sponsor.api} in plasma"
        self.lloq = float(defn.standards[0])
        self.blinded: list[str] = []
        self.eligible: list[tuple[Sample, str]] = []
        self.last_received = at(defn.dosing_start, 0)
        self.runs = 0
        self.first_instrument = rng.randrange(len(LCMS_INSTRUMENTS))

    def _profile(self, arm: str) -> Profile:
        rng = self.rng
        ka = rng.uniform(0.8, 2.5)
        ke = math.log(2) / rng.uniform(*self.defn.half_life)
        cmax = rng.uniform(*self.defn.cmax)
        tmax = math.log(ka / ke) / (ka - ke)
        return Profile(arm, ka, ke, cmax / (math.exp(-ke * tmax) - math.exp(-ka * tmax)))

    def _arms(self) -> list[str]:
        arms: list[str] = []
        while len(arms) < self.subjects:
            block = [self.defn.active_arm] * (RANDOMISATION_BLOCK - 1) + [PLACEBO_ARM]
            self.rng.shuffle(block)
            arms += block
        return arms[: self.subjects]

    def _record(
        self, sample: Sample, value: str, analysed: datetime, run_id: str, instrument: str, analyst: str
    ) -> None:
        test_id = f"{sample.sample_id}:BA"
        self.out.samples.append(sample)
        self.out.tests.append(
            Test(
                test_id=test_id,
                sample_id=sample.sample_id,
                study_id=self.study_id,
                sponsor_id=self.defn.sponsor_id,
                name=self.test_name,
                method=self.defn.method,
                status=TestStatus.COMPLETE,
            )
        )
        self.out.results.append(
            Result(
                result_id=f"{test_id}:1",
                test_id=test_id,
                sample_id=sample.sample_id,
                study_id=self.study_id,
                sponsor_id=self.defn.sponsor_id,
                test=self.test_name,
                component=self.sponsor.api,
                value=value,
                units="ng/mL",
                status=ResultStatus.APPROVED,
                analysed_at=analysed,
                analyst_id=analyst,
                instrument_id=instrument,
                reagent_lot_id=self.defn.is_lot,
                run_id=run_id,
            )
        )

    def _run(self, run_id: str, start: datetime, study_samples: list[tuple[Sample, str]]) -> None:
        """One analytical run: standards, the first QC set, the study samples, the second QC set.
        Runs rotate over the LC-MS/MS systems."""
        rng, d = self.rng, self.defn
        instrument = LCMS_INSTRUMENTS[(self.first_instrument + self.runs) % len(LCMS_INSTRUMENTS)]
        self.runs += 1
        analyst = rng.choice(self.staff.analysts)
        order: list[tuple[Sample, str]] = []

        def reference(suffix: str, kind: SampleKind, nominal: str, bias: float, what: str) -> None:
            measured = float(nominal) * (1 + rng.uniform(-bias, bias))
            order.append(
                (
                    Sample(
                        sample_id=f"{run_id}-{suffix}",
                        study_id=self.study_id,
                        sponsor_id=d.sponsor_id,
                        kind=kind,
                        matrix=f"{MATRIX}, pooled blank, spiked",
                        nominal_concentration=nominal,
                        storage_condition=STORAGE,
                        comment=f"{what} of run {run_id}; sponsor reference {self.canary}",
                    ),
                    significant(measured),
                )
            )

        for level, nominal in enumerate(d.standards, start=1):
            bias = LLOQ_BIAS if level == 1 else STANDARD_BIAS
            reference(
                f"STD{level}", SampleKind.CALIBRATION_STANDARD, nominal, bias, f"Calibration standard {level}"
            )
        qc_sets = [
            [(f"QC{lv}{rep}", nominal) for lv, nominal in zip(QC_LEVELS, d.qcs, strict=True)]
            for rep in (1, 2)
        ]
        for suffix, nominal in qc_sets[0]:
            reference(suffix, SampleKind.QC, nominal, QC_BIAS, f"QC {suffix[2]} (replicate 1)")
        order += study_samples
        for suffix, nominal in qc_sets[1]:
            reference(suffix, SampleKind.QC, nominal, QC_BIAS, f"QC {suffix[2]} (replicate 2)")
        for position, (sample, value) in enumerate(order):
            self._record(sample, value, start + INJECTION * position, run_id, instrument, analyst)

    @staticmethod
    def _starts(first: datetime, last: datetime, runs: int) -> list[datetime]:
        minutes = int((last - first).total_seconds() // 60)
        return [first + timedelta(minutes=minutes * k // max(runs, 1)) for k in range(runs)]

    def _subject_samples(self, number: int, arm: str) -> list[tuple[Sample, str]]:
        rng, d = self.rng, self.defn
        profile = self._profile(arm)
        per_day = -(-self.subjects // PK_DOSING_DAYS)
        index = number - 1
        dose = at(d.dosing_start + days(index // per_day), 7, 30) + timedelta(minutes=6 * (index % per_day))
        received = at((dose + days(3)).date(), 10)
        self.last_received = max(self.last_received, received)
        subject = f"{d.site}-{number:04d}"
        code = f"{self.sponsor.code}-R{1000 + number}"
        out: list[tuple[Sample, str]] = []
        for tp_code, label, nominal in PK_TIMEPOINTS:
            hours = float(nominal)
            collected = (
                dose - timedelta(minutes=30)
                if hours == 0
                else (dose + timedelta(hours=hours, minutes=rng.randint(0, 3)))
            )
            sample = Sample(
                sample_id=f"{self.study_id}-{number:05d}-{tp_code}",
                study_id=self.study_id,
                sponsor_id=d.sponsor_id,
                kind=SampleKind.PK,
                matrix=MATRIX,
                timepoint_id=f"{self.study_id}:TP:{tp_code}",
                subject_id=subject,
                treatment_arm=arm,
                randomisation_code=code,
                storage_condition=STORAGE,
                collected_at=collected,
                received_at=received,
                comment=f"Subject {subject}, {label}; sponsor reference {self.canary}",
            )
            measured = profile.concentration(hours) * (1 + rng.uniform(-SAMPLE_ERROR, SAMPLE_ERROR))
            value = significant(measured) if measured >= self.lloq else "BLQ"
            self.blinded.append(sample.sample_id)
            if tp_code in ISR_TIMEPOINTS and arm != PLACEBO_ARM and measured >= 3 * self.lloq:
                self.eligible.append((sample, value))
            out.append((sample, value))
        return out

    def build(self) -> Bundle:
        d = self.defn
        arms = self._arms()
        study_runs = -(-self.subjects // SUBJECTS_PER_RUN)
        starts = self._starts(at(d.analysis_start, 8), at(d.analysis_end, 18), study_runs)
        for run in range(study_runs):
            batch: list[tuple[Sample, str]] = []
            for number in range(
                run * SUBJECTS_PER_RUN + 1, min((run + 1) * SUBJECTS_PER_RUN, self.subjects) + 1
            ):
                batch += self._subject_samples(number, arms[number - 1])
            self._run(f"{self.study_id}-RUN{run + 1:04d}", starts[run], batch)
        self._isr(study_runs)
        self._timepoints_and_study()
        self.out.anomalies.append(
            PlantedAnomaly(
                kind=AnomalyKind.BLINDED_FIELD,
                sponsor_id=d.sponsor_id,
                study_id=self.study_id,
                records=tuple(self.blinded),
                description=(
                    f"All {len(self.blinded)} study samples of {self.study_id} ({self.subjects} subjects) "
                    f"carry the blinded fields treatment_arm and randomisation_code; only an unblinded "
                    f"user ({self.staff.unblinded}) may see them."
                ),
                expected={
                    "fields": "treatment_arm,randomisation_code",
                    "samples": str(len(self.blinded)),
                    "subjects": str(self.subjects),
                    "arms": f"{d.active_arm},{PLACEBO_ARM}",
                    "unblinded_user": self.staff.unblinded or "",
                    "verdict": "blinded",
                },
            )
        )
        return self.out

    def _isr(self, study_runs: int) -> None:
        d = self.defn
        n = isr_count(len(self.blinded))
        if n > len(self.eligible):
            raise RuntimeError(f"{self.study_id}: {len(self.eligible)} samples eligible for ISR, {n} needed")
        chosen = sorted(self.rng.sample(range(len(self.eligible)), n))
        repeats: list[tuple[Sample, str]] = []
        for index in chosen:
            parent, original = self.eligible[index]
            repeat = float(original) * (1 + self.rng.uniform(-ISR_ERROR, ISR_ERROR))
            repeats.append(
                (
                    parent.model_copy(
                        update={
                            "sample_id": f"{parent.sample_id}-ISR",
                            "kind": SampleKind.ISR,
                            "parent_sample_id": parent.sample_id,
                            "treatment_arm": None,
                            "randomisation_code": None,
                            "comment": (
                                f"Incurred sample reanalysis of {parent.sample_id}; "
                                f"sponsor reference {self.canary}"
                            ),
                        }
                    ),
                    significant(repeat),
                )
            )
        runs = -(-n // ISR_RUN_SIZE)
        starts = self._starts(at(d.isr_start, 8), at(d.isr_end, 18), runs)
        for run in range(runs):
            self._run(
                f"{self.study_id}-RUN{study_runs + run + 1:04d}",
                starts[run],
                repeats[run * ISR_RUN_SIZE : (run + 1) * ISR_RUN_SIZE],
            )

    def _timepoints_and_study(self) -> None:
        d = self.defn
        for tp_code, label, nominal in PK_TIMEPOINTS:
            self.out.timepoints.append(
                Timepoint(
                    timepoint_id=f"{self.study_id}:TP:{tp_code}",
                    study_id=self.study_id,
                    sponsor_id=d.sponsor_id,
                    label=label,
                    nominal=nominal,
                    unit=TimeUnit.HOUR,
                    planned_tests=(self.test_name,),
                )
            )
        first_dose = at(d.dosing_start, 7, 30)
        milestones = (
            Milestone(
                name="Protocol approved",
                status=MilestoneStatus.COMPLETE,
                due_date=d.dosing_start - days(45),
                completed_at=at(d.dosing_start - days(40), 15),
            ),
            Milestone(
                name="First subject dosed",
                status=MilestoneStatus.COMPLETE,
                due_date=d.dosing_start,
                completed_at=first_dose,
            ),
            Milestone(
                name="Samples received", status=MilestoneStatus.COMPLETE, completed_at=self.last_received
            ),
            Milestone(
                name="ISR complete",
                status=MilestoneStatus.COMPLETE,
                due_date=d.isr_end,
                completed_at=at(d.isr_end, 18),
            ),
            Milestone(
                name="Analysis Complete",
                status=MilestoneStatus.COMPLETE,
                due_date=d.analysis_complete,
                completed_at=at(d.analysis_complete, 16),
            ),
            Milestone(
                name="Draft bioanalytical report",
                status=MilestoneStatus.IN_PROGRESS,
                due_date=d.analysis_complete + days(30),
            ),
            Milestone(name="Final report", due_date=d.analysis_complete + days(60)),
        )
        lloq, uloq = d.standards[0], d.standards[-1]
        self.out.studies.append(
            Study(
                study_id=self.study_id,
                sponsor_id=d.sponsor_id,
                protocol_number=d.protocol_number,
                title=f"Bioanalysis of {self.sponsor.api} in human plasma ({d.protocol_number})",
                description=(
                    f"Randomised, placebo-controlled study of {d.product}: {self.subjects} subjects, "
                    f"plasma {self.sponsor.api} by validated LC-MS/MS (LLOQ {lloq} ng/mL, ULOQ {uloq} "
                    f"ng/mL), ICH M10 run acceptance and ISR. Sponsor reference {self.canary}."
                ),
                study_type=StudyType.BIOANALYTICAL_PK,
                phase=d.phase,
                product=d.product,
                study_director=self.staff.study_director,
                milestones=milestones,
            )
        )


def build_pk(
    defn: PkDef, sponsor: SponsorDef, canary: str, staff: Staff, rng: random.Random, subjects: int
) -> Bundle:
    """All records of one PK study of ``subjects`` subjects, with its blinded-field anomaly."""
    if subjects < 1:
        raise ValueError("a PK study needs at least one subject")
    return PkBuilder(defn, sponsor, canary, staff, rng, subjects).build()
