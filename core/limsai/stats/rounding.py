"""USP rounding of reportable values before they are judged against a limit.

USP General Notices 7.20: the reportable value is rounded half-up to the decimal places of the limit,
and only then compared; the limit itself is never rounded and includes its end values. Python's
``round()`` on floats gets this wrong (binary representation and round-half-even), so everything here
works on exact ``Decimal`` values parsed from the strings the LIMS holds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from limsai.model import Specification, is_decimal, parse_decimal


def usp_round(value: str | Decimal, decimals: int) -> Decimal:
    """``value`` rounded half-up to ``decimals`` places, exactly ("2.675", 2 -> 2.68; "0.125", 2 -> 0.13)."""
    if decimals < 0:
        raise ValueError(f"decimals must not be negative, got {decimals}")
    number = value if isinstance(value, Decimal) else parse_decimal(value)
    return number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def conforms(value: str, spec: Specification) -> bool | None:
    """Whether ``value`` meets ``spec`` after rounding to the limit's decimals (limits inclusive).

    None when the value is not a plain number ("BLQ", "<0.05") or the specification has no numeric
    limit, since neither can be judged by comparison."""
    if not is_decimal(value) or (spec.min is None and spec.max is None):
        return None
    rounded = usp_round(value, spec.decimals)
    if spec.min_value is not None and rounded < spec.min_value:
        return False
    return not (spec.max_value is not None and rounded > spec.max_value)
