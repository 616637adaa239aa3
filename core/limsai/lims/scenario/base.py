"""Shared primitives of the scenario generator: the fixed clock, seeded random streams, exact decimal
formatting and the USP rounding verdict.

Every instant in a scenario derives from :data:`REFERENCE_TIME` and every random draw from a
``random.Random`` seeded from the scenario seed, so one seed always yields the same bytes. Reported
values are produced as exact decimal strings, and planted OOS values are judged with the same
``Decimal.quantize(..., ROUND_HALF_UP)`` rule a correct checker applies (USP General Notices 7.20).
"""

from __future__ import annotations

import calendar
import random
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

REFERENCE_TIME = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
"""The scenario's "now": every record is dated relative to it, never to the wall clock."""

DEFAULT_SEED = 20260630

DUE_MARGIN = timedelta(days=45)
"""A stability pull scheduled at least this long before the reference time has been pulled and
tested; one scheduled after the reference time is not due. Schedules never fall in between."""


def stream(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream for one part of the scenario.

    Each part (people, one study, ...) draws from its own stream, so scaling the PK studies does not
    change a single stability value."""
    return random.Random(f"limsai-scenario/{seed}/{name}")


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping to the last day of a shorter month."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """``day`` at ``hour:minute`` UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def midday(day: date) -> datetime:
    return at(day, 12)


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 with a ``Z`` suffix (how anomalies quote times)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bounded_noise(rng: random.Random, scale: float) -> float:
    """Measurement noise of nearly constant magnitude (between 0.35 and 1.0 times ``scale``) and
    random sign: realistic scatter that never produces a stray outlier, so the only off-trend and
    out-of-specification points are the planted ones."""
    return scale * rng.uniform(0.35, 1.0) * (1.0 if rng.random() < 0.5 else -1.0)


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def fixed(value: float | Decimal, places: int) -> str:
    """``value`` written with exactly ``places`` decimals, rounded half-up ("99.4", "0.12")."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return str(exact.quantize(quantum(places), rounding=ROUND_HALF_UP))


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, as a bioanalytical lab reports concentrations
    ("0.512", "12.3", "456", "1230")."""
    exact = Decimal(repr(value))
    exponent = exact.adjusted() - (digits - 1)
    rounded = exact.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
    if rounded.adjusted() - (digits - 1) > exponent:  # 9.995 -> 10.0: keep the significant figures
        exponent += 1
        rounded = exact.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
    return str(int(rounded)) if exponent >= 0 else str(rounded)


def limit_places(minimum: str | None, maximum: str | None) -> int:
    """Decimal places of the limits as written (the places results are rounded to)."""
    places = 0
    for limit in (minimum, maximum):
        if limit is not None:
            exponent = Decimal(limit).as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                places = max(places, -exponent)
    return places


def usp_rounded(value: str, places: int) -> Decimal:
    """The reported value rounded half-up to ``places`` decimals (USP General Notices 7.20)."""
    return Decimal(value).quantize(quantum(places), rounding=ROUND_HALF_UP)


def usp_conforms(value: str, minimum: str | None, maximum: str | None) -> bool:
    """True when ``value``, rounded to the decimals of the limits, lies within them (end values
    included; limits are never rounded)."""
    rounded = usp_rounded(value, limit_places(minimum, maximum))
    if minimum is not None and rounded < Decimal(minimum):
        return False
    return not (maximum is not None and rounded > Decimal(maximum))


def days(n: float) -> timedelta:
    return timedelta(days=n)
