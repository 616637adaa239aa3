"""Verification of a drafted narrative against the facts it was drafted from.

A language model may round, convert, transpose or invent a number. Every number, date, unit and
identifier in a narrative is therefore extracted and looked up in the facts; whatever is not found is
listed in :attr:`NarrativeCheck.unverified_claims`, exactly as the narrative wrote it. Nothing is
corrected: a narrative with unverified claims is marked for a reviewer's attention, not rewritten.

Claims and their normalisation (a claim matches when its normalised form is among the facts'):

* **identifiers**: tokens mixing letters and digits (``STB-2026-001``, ``T12``, ``LOT-42A``) must
  appear verbatim (case-sensitive) in a fact; numbers inside them are not checked separately.
* **dates**: ``2026-11-29``, ``29 November 2026``, ``29 Nov 2026``, ``November 29, 2026`` and
  ``29-Nov-2026`` all normalise to ``2026-11-29``; ``November 2026`` to ``2026-11``. A date (or
  datetime) in the facts yields its day and its month.
* **numbers**: thousands separators (``,``, thin or no-break spaces, ``_`` between groups of three
  digits) are removed, a Unicode minus becomes ``-``, a leading ``+`` is dropped and ``.5`` becomes
  ``0.5``. Trailing zeros are kept: ``5.0`` and ``5.00`` state different precisions and do not match
  each other. A number-typed fact matches its JSON form, and an integral float (``12.0``) also its
  integer form (``12``). Decimal commas are not read as decimals. Numbers spelled as words and
  section numbers at the start of a line (``1.``, ``2)``) are not claims.
* **units**: a unit written right after a number (``25 °C``, ``0.5 mg/mL``, ``12 months``) is
  canonicalised (case folded, ``℃`` → ``°c``, ``ug``/``mcg``/``μg`` → ``µg``, plurals and
  abbreviations of time units merged) and must occur in the facts, attached to a number there, as a
  value on its own (``"unit": "mg/mL"``) or as a word of a key (``timepoint_months``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ClaimKind = Literal["identifier", "date", "number", "unit"]

_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    re.compile(
        r"(?<![\w-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w-])"
    ),
    re.compile(r"(?<!\w)(?P<d>\d{1,2})[ -]" + _MONTH.format("mon") + r"[ -](?P<y>\d{4})(?!\w)", re.I),
    re.compile(r"(?<!\w)" + _MONTH.format("mon") + r" (?P<d>\d{1,2}),? (?P<y>\d{4})(?!\w)", re.I),
    re.compile(r"(?<!\w)" + _MONTH.format("mon") + r" (?P<y>\d{4})(?!\w)", re.I),
]
_IDENTIFIER = re.compile(
    r"(?<![\w./°-])(?=[\w./-]*[A-Za-z])(?=[\w./-]*\d)[A-Za-z0-9]+(?:[-_/.][A-Za-z0-9]+)*(?![\w-])"
)
_UNITS = (
    r"%|°\s?[CF]|℃|mg/mL|mg/g|µg/mL|μg/mL|ug/mL|mg/kg|cfu/g|CFU/g|CFU|mOsm/kg|mAU|AU|NTU|kPa|IU|ppm|ppb"
    r"|mg|µg|μg|ug|mcg|ng|kg|g|mL|ml|µL|μL|uL|L|nm|µm|μm|mm|cm"
    r"|months?|weeks?|days?|hours?|hrs?|h|minutes?|mins?|min|years?|yrs?"
)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[+\-\u2212]?(?:\d{1,3}(?:[,_\u2009\u202f\u00a0]\d{3})+|\d+)(?:\.\d+)?|[+\-\u2212]?\.\d+)"
    r"(?:[\s-]?(?P<unit>" + _UNITS + r")(?![A-Za-z0-9])|(?![\w]))"
)
_SECTION_NUMBER = re.compile(r"^\s*\d+[.)]\s", re.M)
_UNIT_ALIASES = {
    "℃": "°c",
    "ug": "µg",
    "mcg": "µg",
    "μg": "µg",
    "ug/ml": "µg/ml",
    "μg/ml": "µg/ml",
    "μl": "µl",
    "ul": "µl",
    "μm": "µm",
    "months": "month",
    "weeks": "week",
    "days": "day",
    "hours": "h",
    "hour": "h",
    "hrs": "h",
    "hr": "h",
    "minutes": "min",
    "minute": "min",
    "mins": "min",
    "years": "year",
    "yrs": "year",
    "yr": "year",
}
_UNIT_ONLY = re.compile(r"^(?:" + _UNITS + r")$")


class NarrativeCheck(BaseModel):
    """The verdict on one narrative; ``unverified_claims`` as written in it, in order, once each."""

    model_config = ConfigDict(frozen=True)

    verified: bool
    unverified_claims: list[str]
    claims_checked: int = 0


class Claim(BaseModel):
    """One checkable statement in a text: what it says as written and in normalised form."""

    model_config = ConfigDict(frozen=True)

    kind: ClaimKind
    text: str
    normalised: str
    start: int
    end: int


def normalise_number(text: str) -> str:
    s = re.sub(r"[,_\u2009\u202f\u00a0]", "", text.replace("\u2212", "-")).lstrip("+")
    negative = s.startswith("-")
    s = s.lstrip("-")
    if s.startswith("."):
        s = "0" + s
    return ("-" if negative else "") + s


def normalise_unit(text: str) -> str:
    unit = re.sub(r"\s+", "", text).lower().replace("μ", "µ")
    return _UNIT_ALIASES.get(unit, unit)


def _date_claim(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    month = int(groups["m"]) if groups.get("m") else _MONTHS[groups["mon"].lower().rstrip(".")]
    year = int(groups["y"])
    if groups.get("d") is None:
        return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None
    try:
        return date(year, month, int(groups["d"])).isoformat()
    except ValueError:
        return None


def extract_claims(text: str) -> list[Claim]:
    """Every identifier, date, number and unit in ``text``, in order of appearance."""
    taken: list[tuple[int, int]] = [(m.start(), m.end() - 1) for m in _SECTION_NUMBER.finditer(text)]
    claims: list[Claim] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            normalised = _date_claim(m)
            if normalised and free(m.start(), m.end()):
                claims.append(
                    Claim(kind="date", text=m.group(0), normalised=normalised, start=m.start(), end=m.end())
                )
                taken.append((m.start(), m.end()))
    for m in _IDENTIFIER.finditer(text):
        token = m.group(0).rstrip(".")
        if free(m.start(), m.end()) and not _UNIT_ONLY.match(token) and not _NUMBER.fullmatch(token):
            claims.append(
                Claim(
                    kind="identifier",
                    text=token,
                    normalised=token,
                    start=m.start(),
                    end=m.start() + len(token),
                )
            )
            taken.append((m.start(), m.start() + len(token)))
    for m in _NUMBER.finditer(text):
        if not free(m.start(), m.end()):
            continue
        number = normalise_number(m.group("num"))
        claims.append(Claim(kind="number", text=m.group(0), normalised=number, start=m.start(), end=m.end()))
        if m.group("unit"):
            unit = normalise_unit(m.group("unit"))
            claims.append(Claim(kind="unit", text=m.group(0), normalised=unit, start=m.start(), end=m.end()))
    return sorted(claims, key=lambda c: (c.start, c.kind))


def _scalars(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield "key", str(k)
            yield from _scalars(v, str(k))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _scalars(item, key)
    elif value is not None:
        yield "value", value


class FactIndex:
    """The normalised claims the facts support, by kind."""

    def __init__(self, facts: Any) -> None:
        self.known: dict[ClaimKind, set[str]] = {
            "identifier": set(),
            "date": set(),
            "number": set(),
            "unit": set(),
        }
        for where, value in _scalars(facts):
            if where == "key":
                self.known["unit"].update(normalise_unit(w) for w in re.split(r"[_\W]+", value) if w)
                continue
            self._add(value)

    def _add(self, value: Any) -> None:
        known = self.known
        if isinstance(value, bool):
            return
        if isinstance(value, datetime | date):
            day = value.date() if isinstance(value, datetime) else value
            known["date"].update({day.isoformat(), day.isoformat()[:7]})
        elif isinstance(value, int | Decimal):
            known["number"].add(normalise_number(str(value)))
        elif isinstance(value, float):
            known["number"].add(normalise_number(repr(value)))
            if value.is_integer():
                known["number"].add(str(int(value)))
        else:
            text = str(value)
            if _UNIT_ONLY.match(text.strip()):
                known["unit"].add(normalise_unit(text))
            for claim in extract_claims(text):
                known[claim.kind].add(claim.normalised)
                if claim.kind == "date" and len(claim.normalised) == 10:
                    known["date"].add(claim.normalised[:7])

    def supports(self, claim: Claim) -> bool:
        return claim.normalised in self.known[claim.kind]


def check_narrative(text: str, facts: Any) -> NarrativeCheck:
    """Check every claim in ``text`` against ``facts`` (any nesting of mappings, lists and scalars)."""
    index = FactIndex(facts)
    claims = extract_claims(text)
    unverified: list[str] = []
    for claim in claims:
        if not index.supports(claim) and claim.text not in unverified:
            unverified.append(claim.text)
    return NarrativeCheck(verified=not unverified, unverified_claims=unverified, claims_checked=len(claims))
