"""The seeded CRO scenario: deterministic, loadable, realistic, and holding exactly the anomalies it
records - each planted one is present with the verdict the data give, and nothing else anomalous
exists anywhere in the dataset (at natural size and when scaled)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from limsai.lims.scenario import (
    DEFAULT_SEED,
    REFERENCE_TIME,
    AnomalyKind,
    PlantedAnomaly,
    Scenario,
    generate,
)
from limsai.model import (
    ALL_SPONSORS,
    LimsDataset,
    MilestoneStatus,
    Result,
    ResultStatus,
    Role,
    Sample,
    SampleKind,
    Specification,
    SpecificationKind,
    StudyType,
)

# ------------------------------------------------------------------------------------ helpers


def usp_rounded(value: str, spec: Specification) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-spec.decimals), rounding=ROUND_HALF_UP)


def conforms(value: str, spec: Specification) -> bool:
    rounded = usp_rounded(value, spec)
    if spec.min is not None and rounded < Decimal(spec.min):
        return False
    return not (spec.max is not None and rounded > Decimal(spec.max))


def planted(scenario: Scenario, kind: AnomalyKind) -> list[PlantedAnomaly]:
    return [a for a in scenario.anomalies if a.kind is kind]


def acceptance_specs(ds: LimsDataset) -> dict[tuple[str, str, str], Specification]:
    return {
        (s.study_id, s.test, s.component): s
        for s in ds.specifications
        if s.kind is SpecificationKind.ACCEPTANCE
    }


def oos_results(ds: LimsDataset) -> set[str]:
    """Reportable results outside their acceptance criterion after USP rounding."""
    specs = acceptance_specs(ds)
    out = set()
    for r in ds.results:
        spec = specs.get((r.study_id, r.test, r.component))
        if spec is None or not r.reportable or r.numeric is None:
            continue
        if not conforms(r.value or "", spec):
            out.add(r.result_id)
    return out


def uncalibrated_results(ds: LimsDataset) -> set[str]:
    calibrations = defaultdict(list)
    for c in ds.calibrations:
        calibrations[c.instrument_id].append(c)
    return {
        r.result_id
        for r in ds.results
        if r.instrument_id is not None
        and r.analysed_at is not None
        and not any(c.covers(r.analysed_at) for c in calibrations[r.instrument_id])
    }


def lot_changes(ds: LimsDataset) -> dict[tuple[str, str], list[str]]:
    """(study, test) -> the lots its results used, in order of analysis, for every test whose lot changed."""
    used: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in ds.results:
        if r.reagent_lot_id is not None and r.analysed_at is not None:
            used[(r.study_id, r.test)].append(r)
    out = {}
    for key, results in used.items():
        results.sort(key=lambda r: (r.analysed_at, r.result_id))
        sequence = [results[0].reagent_lot_id or ""]
        for r in results[1:]:
            if r.reagent_lot_id != sequence[-1]:
                sequence.append(r.reagent_lot_id or "")
        if len(sequence) > 1:
            out[key] = sequence
    return out


def missing_timepoints(ds: LimsDataset) -> set[str]:
    """Stability time points whose 'T<n> pull complete' milestone is complete but which lack a
    sample for some batch; and PK time points missing for some subject."""
    studies = {s.study_id: s for s in ds.studies}
    samples_at: dict[str, list[Sample]] = defaultdict(list)
    for s in ds.samples:
        if s.timepoint_id is not None and s.kind in (SampleKind.STABILITY_PULL, SampleKind.PK):
            samples_at[s.timepoint_id].append(s)
    subjects: dict[str, set[str]] = defaultdict(set)
    for s in ds.samples:
        if s.kind is SampleKind.PK and s.subject_id is not None:
            subjects[s.study_id].add(s.subject_id)
    out = set()
    for tp in ds.timepoints:
        study = studies[tp.study_id]
        present = samples_at[tp.timepoint_id]
        if study.study_type is StudyType.STABILITY:
            milestone = study.milestone(f"T{tp.nominal} pull complete")
            assert milestone is not None
            if milestone.status is MilestoneStatus.COMPLETE:
                if {s.batch for s in present} != set(study.batches):
                    out.add(tp.timepoint_id)
            else:
                assert present == [], f"{tp.timepoint_id} is not due but has samples"
        elif {s.subject_id for s in present} != subjects[tp.study_id]:
            out.add(tp.timepoint_id)
    return out


def control_conflicts(ds: LimsDataset) -> set[frozenset[str]]:
    groups: dict[tuple[str, str, str, str], list[Specification]] = defaultdict(list)
    for s in ds.specifications:
        if s.kind is SpecificationKind.CONTROL:
            groups[(s.sponsor_id, s.test, s.component, s.method)].append(s)
    out = set()
    for specs in groups.values():
        for a in specs:
            for b in specs:
                if a.spec_id < b.spec_id and (a.min, a.max) != (b.min, b.max):
                    out.add(frozenset({a.spec_id, b.spec_id}))
    return out


def _line(points: list[tuple[float, float]]) -> tuple[float, float, float, float, int]:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope, mx, sxx, n


def stability_series(
    ds: LimsDataset,
) -> dict[tuple[str, str, str, str], dict[str, list[tuple[float, float, str]]]]:
    """(study, condition, test, component) -> batch -> [(month, value, record id)] of reportable
    numeric results; dissolution units are averaged per time point (record id: the test id)."""
    samples = {s.sample_id: s for s in ds.samples}
    months = {t.timepoint_id: float(t.nominal) for t in ds.timepoints}
    units: dict[tuple[str, str, str, str, str, float, str], list[float]] = defaultdict(list)
    for r in ds.results:
        sample = samples[r.sample_id]
        if sample.kind is not SampleKind.STABILITY_PULL or not r.reportable or r.numeric is None:
            continue
        key = (
            r.study_id,
            sample.condition_id or "",
            r.test,
            r.component,
            sample.batch or "",
            months[sample.timepoint_id or ""],
            r.test_id if r.test == "Dissolution" else r.result_id,
        )
        units[key].append(float(r.numeric))
    out: dict[tuple[str, str, str, str], dict[str, list[tuple[float, float, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (study, cond, test, comp, batch, month, record), values in units.items():
        out[(study, cond, test, comp)][batch].append((month, sum(values) / len(values), record))
    for batches in out.values():
        for points in batches.values():
            points.sort()
    return out


def oot_flags(ds: LimsDataset, exclude: set[str]) -> dict[str, float]:
    """Regression-control-chart OOT (95 % prediction interval, residual SD pooled over the
    batches, leave-one-out and sequential): record id -> |residual| / half-width, for every point
    outside. Points in ``exclude`` (planted OOS/OOT records) are left out of every line."""
    flagged: dict[str, float] = {}
    for batches in stability_series(ds).values():
        kept = {b: [(x, y, rid) for x, y, rid in pts if rid not in exclude] for b, pts in batches.items()}
        sse, df = 0.0, 0
        for pts in kept.values():
            if len(pts) >= 3:
                a, slope, *_ = _line([(x, y) for x, y, _ in pts])
                sse += sum((y - a - slope * x) ** 2 for x, y, _ in pts)
                df += len(pts) - 2
        if df == 0:
            continue
        s = math.sqrt(sse / df)
        t = float(student_t.ppf(0.975, df))
        for b, pts in batches.items():
            for x, y, rid in pts:
                others = [(px, py) for px, py, prid in kept[b] if prid != rid]
                earlier = [(px, py) for px, py, prid in kept[b] if px < x]
                for reference in (others, earlier):
                    if len(reference) < 3:
                        continue
                    a, slope, mx, sxx, n = _line(reference)
                    limit = t * s * math.sqrt(1 + 1 / n + (x - mx) ** 2 / sxx)
                    ratio = abs(y - a - slope * x) / limit
                    if ratio > 1:
                        flagged[rid] = max(flagged.get(rid, 0.0), ratio)
    return flagged


def assert_only_planted(scenario: Scenario) -> None:
    """Every kind of anomaly found in the data is exactly the planted set."""
    ds = scenario.dataset
    assert ds.problems() == []
    oos = {a.records[0] for a in planted(scenario, AnomalyKind.OOS)}
    assert oos_results(ds) == oos
    assert uncalibrated_results(ds) == {
        a.records[0] for a in planted(scenario, AnomalyKind.EXPIRED_CALIBRATION)
    }
    changes = lot_changes(ds)
    lot_anomalies = planted(scenario, AnomalyKind.REAGENT_LOT_CHANGE)
    assert len(changes) == len(lot_anomalies) == 1
    for a in lot_anomalies:
        assert changes[(a.study_id, a.expected["test"])] == [a.records[1], a.records[2]]
    assert missing_timepoints(ds) == {a.records[0] for a in planted(scenario, AnomalyKind.MISSING_TIMEPOINT)}
    unjustified = {
        r.result_id
        for r in ds.results
        if r.status is ResultStatus.INVALIDATED and not (r.invalidation_reason or "").strip()
    }
    assert unjustified == {
        a.records[0] for a in planted(scenario, AnomalyKind.INVALIDATED_WITHOUT_JUSTIFICATION)
    }
    assert control_conflicts(ds) == {
        frozenset(a.records) for a in planted(scenario, AnomalyKind.CONFLICTING_CONTROL_RANGE)
    }
    blinded = {
        s.sample_id for s in ds.samples if s.treatment_arm is not None or s.randomisation_code is not None
    }
    assert blinded == {rid for a in planted(scenario, AnomalyKind.BLINDED_FIELD) for rid in a.records}
    oot = {a.records[0] for a in planted(scenario, AnomalyKind.OOT)}
    # the OOS dissolution unit drags its time point's mean: that mean is part of the OOS, not an OOT
    oos_tests = {r.test_id for r in ds.results if r.result_id in oos}
    # whether a checker leaves the planted points out of its trend lines or not, it finds the OOT only
    for exclude in (oot | oos | oos_tests, set()):
        flags = oot_flags(ds, exclude=exclude)
        assert set(flags) - oos - oos_tests == oot, flags


def pk_run_failures(ds: LimsDataset) -> list[str]:
    """ICH M10 (chromatographic): every standard within 15 % (20 % at the LLOQ) and every QC within
    15 % of nominal; every ISR repeat within 20 % of the mean of repeat and original."""
    samples = {s.sample_id: s for s in ds.samples}
    values = {r.sample_id: r.value for r in ds.results}
    lloq: dict[str, Decimal] = {}
    for s in ds.samples:
        if s.kind is SampleKind.CALIBRATION_STANDARD and s.nominal_concentration is not None:
            nominal = Decimal(s.nominal_concentration)
            lloq[s.study_id] = min(lloq.get(s.study_id, nominal), nominal)
    failures = []
    for r in ds.results:
        s = samples[r.sample_id]
        if s.kind in (SampleKind.CALIBRATION_STANDARD, SampleKind.QC):
            nominal = Decimal(s.nominal_concentration or "0")
            limit = (
                Decimal("0.20")
                if nominal == lloq[s.study_id] and s.kind is SampleKind.CALIBRATION_STANDARD
                else Decimal("0.15")
            )
            if abs(Decimal(r.value or "0") - nominal) > limit * nominal:
                failures.append(r.result_id)
        elif s.kind is SampleKind.ISR:
            original = Decimal(values[s.parent_sample_id or ""] or "0")
            repeat = Decimal(r.value or "0")
            if abs(repeat - original) / ((repeat + original) / 2) > Decimal("0.20"):
                failures.append(r.result_id)
    return failures


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate()


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_bytes(scenario: Scenario) -> None:
    again = generate(DEFAULT_SEED)
    assert again.to_json_bytes() == scenario.to_json_bytes()
    assert generate(7).to_json_bytes() == generate(7).to_json_bytes()


def test_bytes_do_not_depend_on_the_process_or_its_hash_seed(scenario: Scenario) -> None:
    import limsai

    core = os.path.dirname(os.path.dirname(limsai.__file__))
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": core}
    probe = (
        "import hashlib; from limsai.lims.scenario import generate; "
        "print(hashlib.sha256(generate().to_json_bytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashlib.sha256(scenario.to_json_bytes()).hexdigest()


def test_different_seeds_give_different_values_on_the_same_design(scenario: Scenario) -> None:
    other = generate(DEFAULT_SEED + 1)
    assert other.to_json_bytes() != scenario.to_json_bytes()
    assert other.canaries != scenario.canaries
    values = [r.value for r in scenario.dataset.results]
    other_values = [r.value for r in other.dataset.results]
    assert sum(a != b for a, b in zip(values, other_values, strict=False)) > len(values) // 3
    assert [s.study_id for s in other.dataset.studies] == [s.study_id for s in scenario.dataset.studies]
    assert [(a.kind, a.study_id) for a in other.anomalies] == [
        (a.kind, a.study_id) for a in scenario.anomalies
    ]


def test_serialisation_is_canonical_and_complete(scenario: Scenario) -> None:
    raw = scenario.to_json_bytes()
    payload = json.loads(raw)
    assert json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == raw
    assert payload["seed"] == DEFAULT_SEED
    assert payload["reference_time"] == "2026-06-30T12:00:00Z"
    assert len(payload["dataset"]["results"]) == len(scenario.dataset.results)
    assert len(payload["anomalies"]) == len(scenario.anomalies)
    assert LimsDataset.model_validate(payload["dataset"]).counts() == scenario.dataset.counts()


def test_reference_time_is_fixed_and_nothing_happens_after_it(scenario: Scenario) -> None:
    assert scenario.reference_time == REFERENCE_TIME == datetime.fromisoformat("2026-06-30T12:00:00+00:00")
    ds = scenario.dataset
    moments = (
        [r.analysed_at for r in ds.results]
        + [s.collected_at for s in ds.samples]
        + [s.received_at for s in ds.samples]
        + [e.at for e in ds.audit_trail]
        + [d.opened_at for d in ds.deviations]
        + [m.completed_at for st_ in ds.studies for m in st_.milestones]
    )
    assert all(m is None or m <= REFERENCE_TIME for m in moments)
    samples = {s.sample_id: s for s in ds.samples}
    for r in ds.results:
        s = samples[r.sample_id]
        if s.received_at is not None:
            assert s.collected_at is not None and s.collected_at <= s.received_at
            assert r.analysed_at is not None and s.received_at <= r.analysed_at


# ------------------------------------------------------------------------------------ integrity


def test_dataset_loads_without_problems(scenario: Scenario) -> None:
    assert scenario.dataset.problems() == []


def test_records_built_by_copy_still_validate(scenario: Scenario) -> None:
    ds = scenario.dataset
    for sample in ds.samples:
        if sample.kind is SampleKind.ISR:
            assert Sample.model_validate(sample.model_dump()) == sample
    for result in ds.results:
        assert Result.model_validate(result.model_dump()) == result


def test_summary_counts_match_the_dataset(scenario: Scenario) -> None:
    summary = scenario.summary()
    assert summary["totals"] == scenario.dataset.counts()
    studies = [st_ for sp in summary["sponsors"].values() for st_ in sp["studies"].values()]
    assert sum(s["results"] for s in studies) == len(scenario.dataset.results)
    assert sum(s["samples"] for s in studies) == len(scenario.dataset.samples)
    assert summary["anomalies"] == dict(Counter(a.kind.value for a in scenario.anomalies))
    assert set(summary["sponsors"]) == {"SPN-AURORA", "SPN-BOREAL", "SPN-CASCADE"}


def test_natural_size_is_a_few_thousand_results(scenario: Scenario) -> None:
    counts = scenario.dataset.counts()
    assert 2000 <= counts["results"] <= 6000
    assert counts["studies"] == 7
    types = Counter(s.study_type for s in scenario.dataset.studies)
    assert types == {StudyType.STABILITY: 4, StudyType.BIOANALYTICAL_PK: 3}


# ------------------------------------------------------------------------------------ people


def test_users_and_roles(scenario: Scenario) -> None:
    ds = scenario.dataset
    users = {u.user_id: u for u in ds.users}
    admins = [u for u in ds.users if u.has_role(Role.LIMS_ADMIN)]
    assert len(admins) == 1 and admins[0].sponsors == (ALL_SPONSORS,)
    for sponsor in ds.sponsors:
        mine = [u for u in ds.users if u.sponsors == (sponsor.sponsor_id,)]
        roles = Counter(role for u in mine for role in u.roles)
        assert roles[Role.STUDY_DIRECTOR] == 1 and roles[Role.QA_REVIEWER] == 1
        assert roles[Role.PROJECT_MANAGER] == 1 and roles[Role.ANALYST] >= 3
        assert sum(u.unblinded for u in mine) == 1  # every sponsor runs a PK study
        director = next(u for u in mine if u.has_role(Role.STUDY_DIRECTOR))
        assert not director.unblinded and director.display_name.startswith("Dr. ")
        for study in ds.studies:
            if study.sponsor_id == sponsor.sponsor_id:
                assert study.study_director == director.user_id
    assert sum(u.unblinded for u in ds.users) == 3
    for r in ds.results:
        analyst = users[r.analyst_id or ""]
        assert analyst.has_role(Role.ANALYST) and analyst.may_see(r.sponsor_id) and not analyst.unblinded
    assert len({u.display_name for u in ds.users}) == len(ds.users)


def test_studies_have_milestones(scenario: Scenario) -> None:
    for study in scenario.dataset.studies:
        names = {m.name for m in study.milestones}
        complete = {m.name for m in study.milestones if m.status is MilestoneStatus.COMPLETE}
        assert "Samples received" in complete
        if study.study_type is StudyType.BIOANALYTICAL_PK:
            assert "Analysis Complete" in complete and study.phase.value.startswith("phase_")
        else:
            assert {"T0 pull complete", "T12 pull complete"} <= complete and "T24 pull complete" in names
            assert len(study.batches) == 3


def test_canaries_are_unique_present_and_never_cross(scenario: Scenario) -> None:
    ds = scenario.dataset
    canaries = scenario.canaries
    assert set(canaries) == {s.sponsor_id for s in ds.sponsors}
    assert len(set(canaries.values())) == len(canaries)
    for sponsor in ds.sponsors:
        assert sponsor.canary == canaries[sponsor.sponsor_id]
        assert sponsor.canary.startswith("CANARY-") and len(sponsor.canary.rsplit("-", 1)[1]) == 8
    for study in ds.studies:
        assert canaries[study.sponsor_id] in study.description
    for sample in ds.samples:
        assert canaries[sample.sponsor_id] in sample.comment
    scoped = [
        *ds.studies,
        *ds.conditions,
        *ds.timepoints,
        *ds.samples,
        *ds.tests,
        *ds.results,
        *ds.specifications,
        *ds.deviations,
    ]
    for record in scoped:
        text = record.model_dump_json()
        for sponsor_id, canary in canaries.items():
            if sponsor_id != record.sponsor_id:  # type: ignore[attr-defined]
                assert canary not in text
    shared = json.dumps(
        [r.model_dump(mode="json") for r in [*ds.users, *ds.instruments, *ds.calibrations, *ds.reagent_lots]]
    )
    assert not any(canary in shared for canary in canaries.values())


# ------------------------------------------------------------------------------------ planted anomalies


def test_every_kind_is_planted(scenario: Scenario) -> None:
    kinds = Counter(a.kind for a in scenario.anomalies)
    assert set(kinds) == set(AnomalyKind)
    assert kinds[AnomalyKind.BLINDED_FIELD] == 3
    assert kinds[AnomalyKind.OOS] >= 2 and kinds[AnomalyKind.OOS_BOUNDARY_PASS] >= 2
    for a in scenario.anomalies:
        assert a.records and a.description and a.expected
        assert a.should_flag is (a.kind is not AnomalyKind.OOS_BOUNDARY_PASS)


def test_oos_and_boundary_verdicts_rederive_from_the_data(scenario: Scenario) -> None:
    ds = scenario.dataset
    results = {r.result_id: r for r in ds.results}
    specs = {s.spec_id: s for s in ds.specifications}
    seen = set()
    for a in planted(scenario, AnomalyKind.OOS) + planted(scenario, AnomalyKind.OOS_BOUNDARY_PASS):
        result, spec = results[a.records[0]], specs[a.records[1]]
        assert (result.test, result.component, result.study_id) == (spec.test, spec.component, spec.study_id)
        assert result.reportable and result.value == a.expected["value"]
        rounded = usp_rounded(result.value, spec)
        assert str(rounded) == a.expected["rounded"]
        verdict = conforms(result.value, spec)
        assert a.expected["verdict"] == ("pass" if verdict else "OOS")
        assert verdict is (a.kind is AnomalyKind.OOS_BOUNDARY_PASS)
        raw = Decimal(result.value)
        outside_unrounded = (spec.min_value is not None and raw < spec.min_value) or (
            spec.max_value is not None and raw > spec.max_value
        )
        assert outside_unrounded  # every one of them fails a naive comparison without rounding
        seen.add((result.value, spec.min or spec.max, a.kind))
    # the four rounding-boundary cases: two that fail and two that pass after rounding
    assert {
        ("94.94", "95.0", AnomalyKind.OOS),
        ("0.55", "0.5", AnomalyKind.OOS),
        ("94.95", "95.0", AnomalyKind.OOS_BOUNDARY_PASS),
        ("0.54", "0.5", AnomalyKind.OOS_BOUNDARY_PASS),
    } <= seen


def test_planted_boundary_values_sit_on_their_batch_trend(scenario: Scenario) -> None:
    ds = scenario.dataset
    samples = {s.sample_id: s for s in ds.samples}
    results = {r.result_id: r for r in ds.results}
    for a in planted(scenario, AnomalyKind.OOS_BOUNDARY_PASS):
        target = results[a.records[0]]
        sample = samples[target.sample_id]
        earlier = sorted(
            (samples[r.sample_id].timepoint_id or "", float(r.value or 0))
            for r in ds.results
            if r.study_id == target.study_id
            and r.component == target.component
            and r.reportable
            and samples[r.sample_id].batch == sample.batch
            and samples[r.sample_id].condition_id == sample.condition_id
        )
        trend = [v for _, v in earlier]
        assert len(trend) == 3  # 0, 3 and 6 months at 40°C/75%RH
        assert trend == sorted(trend) or trend == sorted(trend, reverse=True)  # monotonic degradation


def test_oot_is_within_spec_and_off_trend(scenario: Scenario) -> None:
    results = {r.result_id: r for r in scenario.dataset.results}
    specs = acceptance_specs(scenario.dataset)
    (a,) = planted(scenario, AnomalyKind.OOT)
    result = results[a.records[0]]
    assert conforms(result.value or "", specs[(result.study_id, result.test, result.component)])
    assert abs(float(a.expected["residual"])) > 6 * float(a.expected["residual_sd_of_trend"])
    flags = oot_flags(scenario.dataset, exclude={a.records[0]})
    assert flags[a.records[0]] > 2


def test_missing_pull_is_recorded_with_a_deviation(scenario: Scenario) -> None:
    (a,) = planted(scenario, AnomalyKind.MISSING_TIMEPOINT)
    ds = scenario.dataset
    assert not [s for s in ds.samples if s.timepoint_id == a.records[0]]
    (deviation,) = ds.deviations
    assert deviation.related_records == (a.records[0],) and deviation.deviation_id == a.expected["deviation"]
    assert missing_timepoints(ds) == {a.records[0]}


def test_expired_calibration_is_the_only_lapse(scenario: Scenario) -> None:
    (a,) = planted(scenario, AnomalyKind.EXPIRED_CALIBRATION)
    ds = scenario.dataset
    result = next(r for r in ds.results if r.result_id == a.records[0])
    lapsed = next(c for c in ds.calibrations if c.calibration_id == a.records[2])
    assert result.instrument_id == a.records[1] == lapsed.instrument_id
    assert result.analysed_at is not None and lapsed.valid_to < result.analysed_at
    assert uncalibrated_results(ds) == {result.result_id}
    assert a.expected["analysed_at"] == result.analysed_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_reagent_lot_change_and_lot_validity(scenario: Scenario) -> None:
    (a,) = planted(scenario, AnomalyKind.REAGENT_LOT_CHANGE)
    ds = scenario.dataset
    assert lot_changes(ds) == {
        (a.study_id, a.expected["test"]): [a.expected["old_lot"], a.expected["new_lot"]]
    }
    lots = {lot.lot_id: lot for lot in ds.reagent_lots}
    for r in ds.results:
        lot = lots[r.reagent_lot_id or ""]
        assert lot.received_at is not None and lot.expires_at is not None and r.analysed_at is not None
        assert lot.received_at <= r.analysed_at <= lot.expires_at
    assert any(
        e.action == "reagent lot changed" and e.new_value == a.expected["new_lot"] for e in ds.audit_trail
    )


def test_invalidations_and_retests(scenario: Scenario) -> None:
    ds = scenario.dataset
    results = {r.result_id: r for r in ds.results}
    invalidated = [r for r in ds.results if r.status is ResultStatus.INVALIDATED]
    assert len(invalidated) == 2  # one justified (a negative control), one planted
    retests = {r.retest_of: r for r in ds.results if r.retest_of is not None}
    for r in invalidated:
        assert not r.reportable and r.result_id in retests
        assert retests[r.result_id].reportable and retests[r.result_id].test_id == r.test_id
    (a,) = planted(scenario, AnomalyKind.INVALIDATED_WITHOUT_JUSTIFICATION)
    assert results[a.records[0]].invalidation_reason is None
    assert results[a.records[1]].retest_of == a.records[0]
    justified = [r for r in invalidated if r.result_id != a.records[0]]
    assert justified[0].invalidation_reason and "Assignable cause" in justified[0].invalidation_reason


def test_conflicting_control_ranges(scenario: Scenario) -> None:
    (a,) = planted(scenario, AnomalyKind.CONFLICTING_CONTROL_RANGE)
    specs = {s.spec_id: s for s in scenario.dataset.specifications}
    first, second = specs[a.records[0]], specs[a.records[1]]
    assert first.sponsor_id == second.sponsor_id and first.study_id != second.study_id
    assert (first.test, first.component, first.method) == (second.test, second.component, second.method)
    assert (first.min, first.max) == ("98.0", "102.0") and (second.min, second.max) == ("97.0", "103.0")
    # acceptance criteria agree across the two studies of one product
    acceptance = acceptance_specs(scenario.dataset)
    for (study, test, comp), spec in acceptance.items():
        if study == first.study_id:
            twin = acceptance[(second.study_id, test, comp)]
            assert (twin.min, twin.max, twin.method) == (spec.min, spec.max, spec.method)


def test_blinded_fields_only_on_pk_study_samples(scenario: Scenario) -> None:
    ds = scenario.dataset
    for a in planted(scenario, AnomalyKind.BLINDED_FIELD):
        pk = [s for s in ds.samples if s.study_id == a.study_id and s.kind is SampleKind.PK]
        assert [s.sample_id for s in pk] == list(a.records)
        assert all(s.treatment_arm in a.expected["arms"].split(",") and s.randomisation_code for s in pk)
        arms = Counter(s.treatment_arm for s in pk)
        assert arms["Placebo"] > 0 and len(arms) == 2


def test_pk_profiles_runs_and_isr(scenario: Scenario) -> None:
    ds = scenario.dataset
    assert pk_run_failures(ds) == []
    samples = {s.sample_id: s for s in ds.samples}
    by_run: dict[str, Counter[SampleKind]] = defaultdict(Counter)
    for r in ds.results:
        s = samples[r.sample_id]
        if s.kind is SampleKind.STABILITY_PULL:
            continue
        assert r.run_id is not None and r.units == "ng/mL"
        by_run[r.run_id][s.kind] += 1
        if s.kind is SampleKind.PK:
            if s.treatment_arm == "Placebo" or s.timepoint_id.endswith(":PRE"):  # type: ignore[union-attr]
                assert r.value == "BLQ"
            elif s.timepoint_id.endswith(":H2"):  # type: ignore[union-attr]
                assert r.numeric is not None and r.numeric > 10
    for counts in by_run.values():
        assert counts[SampleKind.CALIBRATION_STANDARD] >= 8 and counts[SampleKind.QC] == 6
        assert counts[SampleKind.PK] + counts[SampleKind.ISR] <= 80
    pk_samples = Counter(s.study_id for s in ds.samples if s.kind is SampleKind.PK)
    isr = Counter(s.study_id for s in ds.samples if s.kind is SampleKind.ISR)
    for study, n in pk_samples.items():
        assert isr[study] == math.ceil(n / 10)
        assert all(
            samples[s.parent_sample_id or ""].kind is SampleKind.PK
            for s in ds.samples
            if s.kind is SampleKind.ISR
        )


def test_nothing_else_is_anomalous(scenario: Scenario) -> None:
    assert_only_planted(scenario)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_seed_plants_exactly_its_anomalies(seed: int) -> None:
    scenario = generate(seed)
    assert scenario.seed == seed
    assert_only_planted(scenario)
    assert pk_run_failures(scenario.dataset) == []


# ------------------------------------------------------------------------------------ size knob


def test_size_knob_small_and_invalid() -> None:
    assert len(generate(results=12_000).dataset.results) in range(12_000, 12_361)
    smallest = generate(results=1)
    assert len(smallest.dataset.results) < len(generate().dataset.results)
    assert_only_planted(smallest)
    with pytest.raises(ValueError):
        generate(results=0)


@pytest.mark.slow
def test_size_knob_at_100k_keeps_every_guarantee() -> None:
    scenario = generate(results=100_000)
    n = len(scenario.dataset.results)
    assert 100_000 <= n <= 103_000
    assert_only_planted(scenario)
    assert pk_run_failures(scenario.dataset) == []
