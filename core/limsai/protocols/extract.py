"""The deterministic protocol extractor (the offline default): identifiers, sponsor, phase and
titles from labelled fields and title-page conventions, the schedule from tables
(:mod:`~limsai.protocols.extract_schedule`) and requirements from text patterns
(:mod:`~limsai.protocols.extract_requirements`). Every item cites a span of the source page text.

Extractors share one interface, ``extract(doc) -> ProtocolRequirements``, so a later LLM extractor
plugs in behind it and is compared with this one. Text that addresses an AI is data: it is flagged
and changes nothing else.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from limsai.protocols import patterns as P
from limsai.protocols.extract_requirements import extract_requirements
from limsai.protocols.extract_schedule import extract_schedule
from limsai.protocols.models import (
    Ambiguity,
    AmbiguityKind,
    Citation,
    Item,
    ItemKind,
    ProtocolRequirements,
    SourceDocument,
)

EXTRACTOR = "deterministic/1"
FRONT_PAGES = 6


class Extractor(Protocol):
    def __call__(self, doc: SourceDocument) -> ProtocolRequirements: ...


def matches(
    doc: SourceDocument, pattern: re.Pattern[str], group: int = 0, pages: int | None = None
) -> Iterator[tuple[int, re.Match[str], Citation]]:
    """Each match of ``pattern`` with the citation of ``group``."""
    for page in doc.pages[:pages]:
        for m in pattern.finditer(page.text):
            if m.group(group) is not None:
                yield page.number, m, doc.cite(page.number, m.start(group), m.end(group))


def _first_frequent(found: list[tuple[str, Citation]]) -> tuple[str, Citation, int] | None:
    if not found:
        return None
    counts = Counter(v for v, _ in found)
    best = max(counts, key=lambda v: (counts[v], -[x for x, _ in found].index(v)))
    return best, next(c for v, c in found if v == best), len(counts)


def protocol_number(doc: SourceDocument) -> Item | None:
    for pattern, confidence in ((P.PROTOCOL_LABELLED, 0.95), (P.PROTOCOL_BARE, 0.85)):
        found = [(m.group(1).rstrip("."), c) for _, m, c in matches(doc, pattern, 1)]
        best = _first_frequent(found)
        if best:
            return Item(kind=ItemKind.PROTOCOL_NUMBER, value=best[0], citation=best[1], confidence=confidence)
    return None


def identifiers(doc: SourceDocument) -> list[Item]:
    out: dict[str, Item] = {}
    for scheme, pattern, group in (("NCT", P.NCT, 0), ("EudraCT", P.EUDRACT, 1), ("EU CT", P.EUCT, 1)):
        for _, m, c in matches(doc, pattern, group):
            out.setdefault(
                m.group(group),
                Item(
                    kind=ItemKind.IDENTIFIER,
                    value=m.group(group),
                    citation=c,
                    confidence=0.95,
                    attributes={"scheme": scheme},
                ),
            )
    return list(out.values())


def sponsor(doc: SourceDocument) -> Item | None:
    for pattern, confidence in ((P.SPONSOR_LABELLED, 0.95), (P.COPYRIGHT, 0.7)):
        found = [(m.group(1).strip(), c) for _, m, c in matches(doc, pattern, 1, FRONT_PAGES)]
        best = _first_frequent(found)
        if best:
            return Item(kind=ItemKind.SPONSOR, value=best[0], citation=best[1], confidence=confidence)
    return None


def _phase_item(key: str, citation: Citation, confidence: float, **extra: str) -> Item:
    code, decode = P.PHASES[key]
    return Item(
        kind=ItemKind.PHASE,
        value=decode,
        citation=citation,
        confidence=confidence,
        attributes={"code": code, "codeSystem": "http://www.cdisc.org", **extra},
    )


def phase(doc: SourceDocument, ambiguities: list[Ambiguity]) -> Item | None:
    found: list[tuple[str, Citation]] = []
    for _, m, c in matches(doc, P.PHASE):
        first, second = P.ROMAN.get(m.group(1), m.group(1)), m.group(2)
        key = f"{first}/{P.ROMAN.get(second, second)}" if second else first
        if key in P.PHASES:
            found.append((key, c))
    best = _first_frequent(found)
    if best:
        key, citation, distinct = best
        if distinct > 1:
            ambiguities.append(
                Ambiguity(
                    kind=AmbiguityKind.CONFLICTING_VALUE,
                    citations=[c for _, c in found],
                    message=f"the protocol names {distinct} different phases; "
                    f"{P.PHASES[key][1]} is the most frequent",
                )
            )
        return _phase_item(key, citation, 0.95 if distinct == 1 else 0.6)
    return inferred_phase(doc, ambiguities)


def inferred_phase(doc: SourceDocument, ambiguities: list[Ambiguity]) -> Item | None:
    """When no phase is stated: healthy volunteers suggest Phase I; placebo-controlled efficacy in
    patients suggests Phase II. Low confidence, always flagged for a human."""
    text = "\n".join(p.text for p in doc.pages[: FRONT_PAGES * 4])
    rules = (
        ("I", r"(?i)\bhealthy (?:volunteers|subjects)\b"),
        (
            "II",
            r"(?i)\b(?:safety and efficacy|efficacy and safety)\b"
            r"(?=[\s\S]*\bplacebo\b)(?=[\s\S]*\bpatients\b)",
        ),
    )
    for key, rule in rules:
        for page in doc.pages[: FRONT_PAGES * 4]:
            m = re.search(rule, page.text)
            if m and re.search(rule, text):
                citation = doc.cite(page.number, m.start(), m.end())
                ambiguities.append(
                    Ambiguity(
                        kind=AmbiguityKind.NOT_STATED,
                        citations=[citation],
                        message=f"the phase is not stated; {P.PHASES[key][1]} is inferred from the design",
                    )
                )
                return _phase_item(key, citation, 0.3, basis="inferred")
    return None


def titles(doc: SourceDocument) -> list[Item]:
    labelled = [(m.group(1), c) for _, m, c in matches(doc, P.TITLE_LABELLED, 1, FRONT_PAGES)]
    if labelled:
        return [
            Item(
                kind=ItemKind.TITLE,
                value=v,
                citation=c,
                confidence=0.95,
                attributes={"type": "Official Study Title"},
            )
            for v, c in labelled[:1]
        ]
    page = doc.pages[0]
    best: tuple[int, int, int] | None = None
    for m in re.finditer(r"(?:[^\n]*\S[^\n]*\n?)+", page.text):
        block = m.group(0)
        words = len(block.split())
        if words < 6 or re.search(r"(?i)copyright|confidential|information|page \d", block):
            continue
        if best is None or words > best[2]:
            stripped = block.rstrip()
            lead = len(block) - len(block.lstrip())
            best = (m.start() + lead, m.start() + len(stripped), words)
    if best is None:
        return []
    citation = doc.cite(page.number, best[0], best[1])
    value = re.sub(r"\s+", " ", citation.quote).strip()
    return [
        Item(
            kind=ItemKind.TITLE,
            value=value,
            citation=citation,
            confidence=0.6,
            attributes={"type": "Official Study Title"},
        )
    ]


def objectives(doc: SourceDocument) -> tuple[list[Item], list[Item]]:
    found: dict[ItemKind, dict[str, Item]] = {ItemKind.OBJECTIVE: {}, ItemKind.ENDPOINT: {}}
    for _, m, c in matches(doc, P.OBJECTIVE, 3):
        kind = ItemKind.OBJECTIVE if m.group(2).lower() == "objective" else ItemKind.ENDPOINT
        value = re.sub(r"\s+", " ", m.group(3)).strip()
        found[kind].setdefault(
            value.lower(),
            Item(
                kind=kind,
                value=value,
                citation=c,
                confidence=0.8,
                attributes={"level": m.group(1).lower()},
            ),
        )
    return list(found[ItemKind.OBJECTIVE].values()), list(found[ItemKind.ENDPOINT].values())


def extract(doc: SourceDocument) -> ProtocolRequirements:
    """Structured requirements of ``doc`` (see the module docstring)."""
    ambiguities: list[Ambiguity] = []
    activities, encounters, schedule, layout = extract_schedule(doc)
    ambiguities += layout
    found_phase = phase(doc, ambiguities)
    objs, ends = objectives(doc)
    pk, requirements, flags = extract_requirements(doc, encounters, schedule)
    return ProtocolRequirements(
        extractor=EXTRACTOR,
        document_sha256=doc.sha256,
        document_name=doc.name,
        protocol_number=protocol_number(doc),
        identifiers=identifiers(doc),
        sponsor=sponsor(doc),
        phase=found_phase,
        titles=titles(doc),
        objectives=objs,
        endpoints=ends,
        activities=activities,
        encounters=encounters,
        schedule=schedule,
        pk_timepoints=pk,
        requirements=requirements,
        ambiguities=ambiguities + flags,
        warnings=list(doc.warnings),
    )
