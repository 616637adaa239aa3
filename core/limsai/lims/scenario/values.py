"""Every reported value of one stability study, drawn before any record is built.

Each batch has a linear trend per component and condition (assay falls, impurities and water rise,
faster at higher temperature); where a study plants a value on the trend, the batch's slope is set
to run through it, and "stressed" batches end near the limit so that the planted value sits among
believable neighbours. Noise is bounded, and a series (one condition x component across the
batches) is redrawn until :mod:`limsai.lims.scenario.trend`'s OOT rule finds nothing in it but the
planted point - whether a checker leaves planted points out of its lines or not.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from limsai.lims.scenario.base import bounded_noise, fixed
from limsai.lims.scenario.catalog import CONDITIONS, STABILITY_TESTS, ComponentDef, ConditionDef
from limsai.lims.scenario.studies import StabilityDef
from limsai.lims.scenario.trend import Judged, point_ratios, worst_ratio

MAX_DRAWS = 400
TREND_MARGIN = 0.8
"""Unplanted points stay within 80 % of the OOT prediction-interval half-width..."""
NAIVE_MARGIN = 0.95
"""...and within 95 % of it when the planted points are left in the lines and the pooled SD."""
OOT_MIN_RATIO = 1.2
"""The planted OOT point lies at least 1.2 half-widths off its trend under every variant."""
UNIT_MEAN_NOISE = 0.8
"""Scatter (percentage points) of the mean of the dissolution units around the batch trend."""
TOTAL_PARTS = ("IMPA", "IMPB", "TOTAL")
"""Total impurities follow the named impurities' trends plus the unspecified ones' ("TOTAL")."""

Values = dict[tuple[int, int, int], str]
"""(batch index, replicate, month) -> reported value, for one condition x component."""
Attempt = Callable[[], tuple[Values, list[Judged], list[Judged] | None]]


class StudyValues:
    """Trends and reported values of one stability study; ``table`` maps (condition, batch,
    component, replicate, month) to the reported value."""

    def __init__(self, defn: StabilityDef, due_months: set[int], rng: random.Random) -> None:
        self.defn, self.rng = defn, rng
        self.due_months = due_months
        self.initial: dict[tuple[int, str], float] = {}
        self.rate: dict[tuple[int, str, str], float] = {}
        self.table: dict[tuple[str, int, str, int, int], str] = {}
        self.planted_values = {
            (p.condition, p.month, p.batch, p.test, p.component, p.replicate): p.value for p in defn.values
        }
        self.off_trend = {(p.condition, p.month, p.batch, p.test, p.component): p for p in defn.off_trend}

    def expected(self, b: int, cond: str, comp: str, month: int) -> float:
        return self.initial[(b, comp)] + self.rate[(b, cond, comp)] * month

    def _expected(self, b: int, cond: str, comp: ComponentDef, month: int) -> float:
        if comp.derived_total:
            return sum(self.expected(b, cond, code, month) for code in TOTAL_PARTS)
        return self.expected(b, cond, comp.code, month)

    def draw(self) -> StudyValues:
        self._trends()
        for cond in CONDITIONS:
            months = [
                m for m in cond.months if m in self.due_months and (cond.code, m) not in self.defn.missing
            ]
            for test in STABILITY_TESTS:
                for comp in test.components:
                    if comp.replicates > 1:
                        self._draw_units(cond, test.code, comp, months)
                    else:
                        self._draw_single(cond, test.code, comp, months)
        return self

    def _trends(self) -> None:
        rng, batches = self.rng, range(len(self.defn.batches))
        for b in batches:
            for test in STABILITY_TESTS:
                for comp in test.components:
                    self.initial[(b, comp.code)] = rng.uniform(*comp.trend.initial)
                    for cond in CONDITIONS:
                        self.rate[(b, cond.code, comp.code)] = rng.uniform(*comp.trend.rates[cond.code])
        on_trend = {(p.condition, p.batch, p.component): p for p in self.defn.values if p.on_trend}
        for stress in self.defn.stresses:
            last = max(next(c for c in CONDITIONS if c.code == stress.condition).months)
            for b in batches:
                if (stress.condition, b, stress.component) not in on_trend:
                    end = rng.uniform(*stress.band)
                    self.rate[(b, stress.condition, stress.component)] = (
                        end - self.initial[(b, stress.component)]
                    ) / last
        for (cond_code, b, comp_code), plant in on_trend.items():
            start = self.initial[(b, comp_code)]
            self.rate[(b, cond_code, comp_code)] = (float(plant.value) - start) / plant.month

    def _accept(self, attempt: Attempt, what: str, outlier: bool) -> Values:
        """Redraw until the unplanted points are clean under :mod:`trend`'s rule, also when the
        planted points are left in every line and in the pooled SD (a naive checker), and - when
        ``outlier`` - the planted OOT point stands out under every variant."""
        best: tuple[float, Values] | None = None
        for _ in range(MAX_DRAWS):
            values, clean, naive = attempt()
            ratio = worst_ratio(clean)
            if naive is not None:
                ratio = max(ratio, worst_ratio(naive, other_batches_sd=False) * TREND_MARGIN / NAIVE_MARGIN)
            if naive is not None and outlier:
                judged_oot = [[(x, y, not judged) for x, y, judged in points] for points in naive]
                weakest = min(smallest for _, _, smallest, _ in point_ratios(judged_oot))
                if weakest < OOT_MIN_RATIO:
                    ratio = max(ratio, 1.0 + OOT_MIN_RATIO - weakest)
            if ratio <= TREND_MARGIN:
                return values
            if best is None or ratio < best[0]:
                best = (ratio, values)
        assert best is not None
        if best[0] >= 1.0:
            raise RuntimeError(f"{self.defn.study_id}: no clean draw for {what} (best ratio {best[0]:.2f})")
        return best[1]

    def _store(self, cond: ConditionDef, test: str, comp: ComponentDef, values: Values) -> None:
        """Keep the drawn values; unplanted ones must lie well inside the acceptance criterion."""
        low, high = comp.safe
        for (b, rep, m), value in values.items():
            planted = (cond.code, m, b, test, comp.code, rep) in self.planted_values or (
                cond.code,
                m,
                b,
                test,
                comp.code,
            ) in self.off_trend
            if not planted and not low <= float(value) <= high:
                raise RuntimeError(
                    f"{self.defn.study_id}: unplanted value {value} of {comp.code} outside {comp.safe}"
                )
            self.table[(cond.code, b, comp.code, rep, m)] = value

    def _draw_single(self, cond: ConditionDef, test: str, comp: ComponentDef, months: list[int]) -> None:
        batches = range(len(self.defn.batches))
        has_oot = any((cond.code, m, b, test, comp.code) in self.off_trend for m in months for b in batches)

        def attempt() -> tuple[Values, list[Judged], list[Judged] | None]:
            values: Values = {}
            clean: list[Judged] = []
            naive: list[Judged] = []
            for b in batches:
                clean.append([])
                naive.append([])
                for m in months:
                    planted = self.planted_values.get((cond.code, m, b, test, comp.code, 1))
                    off = self.off_trend.get((cond.code, m, b, test, comp.code))
                    expected = self._expected(b, cond.code, comp, m)
                    if planted is not None:
                        values[(b, 1, m)] = planted
                    elif off is not None:
                        values[(b, 1, m)] = fixed(expected + off.offset, comp.places)
                        naive[-1].append((float(m), float(values[(b, 1, m)]), False))
                    else:
                        value = fixed(expected + bounded_noise(self.rng, comp.trend.noise), comp.places)
                        values[(b, 1, m)] = value
                        clean[-1].append((float(m), float(value), True))
                        naive[-1].append((float(m), float(value), True))
            return values, clean, naive if has_oot else None

        self._store(cond, test, comp, self._accept(attempt, f"{cond.code} {comp.code}", outlier=True))

    def _draw_units(self, cond: ConditionDef, test: str, comp: ComponentDef, months: list[int]) -> None:
        """Replicated units (dissolution): the mean of the units follows the batch trend with
        bounded noise, each unit scatters around that mean, and the mean is what is trended."""
        batches = range(len(self.defn.batches))
        reps = range(1, comp.replicates + 1)
        has_plant = any(
            (cond.code, m, b, test, comp.code, rep) in self.planted_values
            for m in months
            for b in batches
            for rep in reps
        )

        def attempt() -> tuple[Values, list[Judged], list[Judged] | None]:
            values: Values = {}
            clean: list[Judged] = []
            naive: list[Judged] = []
            for b in batches:
                clean.append([])
                naive.append([])
                for m in months:
                    level = self.expected(b, cond.code, comp.code, m) + bounded_noise(
                        self.rng, UNIT_MEAN_NOISE
                    )
                    spread = [bounded_noise(self.rng, comp.trend.noise) for _ in reps]
                    centre = sum(spread) / len(spread)
                    untouched = True
                    for rep, deviation in zip(reps, spread, strict=True):
                        planted = self.planted_values.get((cond.code, m, b, test, comp.code, rep))
                        values[(b, rep, m)] = planted or fixed(level + deviation - centre, comp.places)
                        untouched = untouched and planted is None
                    mean = sum(float(values[(b, rep, m)]) for rep in reps) / len(reps)
                    if untouched:
                        clean[-1].append((float(m), mean, True))
                    naive[-1].append((float(m), mean, untouched))
            return values, clean, naive if has_plant else None

        self._store(cond, test, comp, self._accept(attempt, f"{cond.code} {comp.code}", outlier=False))
