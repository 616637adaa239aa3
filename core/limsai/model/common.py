"""Shared field types for the domain model: identifiers, exact decimal strings and UTC times.

A LIMS holds reported values as text ("99.50", "0.05"): the number of decimals is part of the
value (USP rounding compares against the decimals of the limit). We therefore keep every value as
the exact decimal string the LIMS holds and derive numeric views from it, never the reverse.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@+-]*$")
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class LimsModel(BaseModel):
    """Base of every domain type: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _check_identifier(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"identifier {value!r} must start with a letter or digit and contain only "
            "letters, digits and . _ : / # @ + -"
        )
    return value


Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(_check_identifier)
]
"""A record key as the LIMS prints it (sample ids, study ids, user ids)."""

NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]


def parse_decimal(text: str) -> Decimal:
    """Parse an exact decimal string ("99.50", "-0.5", ".5"); raise ValueError otherwise."""
    candidate = text.strip()
    if not _DECIMAL_RE.match(candidate):
        raise ValueError(f"{text!r} is not a decimal number")
    try:
        return Decimal(candidate)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValueError(f"{text!r} is not a decimal number") from exc


def is_decimal(text: str) -> bool:
    """True when ``text`` is an exact decimal string as accepted by :func:`parse_decimal`."""
    return bool(_DECIMAL_RE.match(text.strip()))


def decimal_places(text: str) -> int:
    """Decimals as written: "95.0" -> 1, "105" -> 0, "0.50" -> 2."""
    candidate = parse_decimal(text)
    exponent = candidate.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_decimal_string(value: str) -> str:
    parse_decimal(value)
    return value.strip()


DecimalString = Annotated[str, AfterValidator(_check_decimal_string)]
"""A number kept exactly as written ("95.0" stays "95.0")."""


def _check_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("time must carry a time zone (UTC is expected)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_check_utc)]
"""A timezone-aware instant, normalised to UTC."""


def utcnow() -> datetime:
    """The current time in UTC (the single place the model reads the clock)."""
    return datetime.now(UTC)
