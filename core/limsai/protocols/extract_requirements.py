"""Laboratory requirements from a protocol's text and tables: PK sampling timepoints, tests and
methods, matrices, storage and stability conditions, pull points, acceptance criteria and
deliverables, with the ambiguity flags a reviewer must clear (a timepoint in the text but not the
table, two storage temperatures for one material, vague wording, text addressed to an AI)."""

from __future__ import annotations

import re
from collections import defaultdict

from limsai.protocols import patterns as P
from limsai.protocols.models import (
    Ambiguity,
    AmbiguityKind,
    Citation,
    Item,
    ItemKind,
    ScheduleEntry,
    SourceDocument,
    TableCell,
)

PK_ACTIVITY = re.compile(r"(?i)\bpk\b|pharmacokinetic|plasma|blood sampl|serum sampl")


def sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around ``start:end`` (ends at '.', ';', a blank line or a table cell boundary)."""
    left = max(
        text.rfind(". ", 0, start) + 2,
        text.rfind(".\n", 0, start) + 2,
        text.rfind("\n\n", 0, start) + 2,
        text.rfind("\t", 0, start) + 1,
        0,
    )
    stops = [
        i
        for i in (text.find(". ", end), text.find(".\n", end), text.find("\n\n", end), text.find("\t", end))
        if i >= 0
    ]
    right = min(stops) + 1 if stops else len(text)
    if right > len(text):
        right = len(text)
    while left < right and text[left].isspace():
        left += 1
    while right > left and text[right - 1].isspace():
        right -= 1
    return left, right


def norm_time(token: str) -> str:
    token = token.strip().lower()
    if token.startswith("pre"):
        return "pre-dose"
    m = P.TIME_CELL.match(token)
    number = m.group(2) if m and m.group(2) else token
    return f"{float(number):g} h"


class _Collector:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.items: dict[tuple[ItemKind, str], Item] = {}
        self.flags: list[Ambiguity] = []

    def add(self, kind: ItemKind, value: str, citation: Citation, confidence: float, **attrs: str) -> None:
        value = re.sub(r"\s+", " ", value).strip()
        if value:
            self.items.setdefault(
                (kind, value.lower()),
                Item(kind=kind, value=value, citation=citation, confidence=confidence, attributes=attrs),
            )

    def cell(self, page: int, cell: TableCell) -> Citation | None:
        if cell.start is None or cell.end is None:
            return None
        return self.doc.cite(page, cell.start, cell.end)

    def of(self, kind: ItemKind) -> list[Item]:
        return [i for (k, _), i in self.items.items() if k is kind]


def _text_matches(
    doc: SourceDocument, pattern: re.Pattern[str], group: int = 0
) -> list[tuple[int, re.Match[str], Citation]]:
    return [
        (p.number, m, doc.cite(p.number, m.start(group), m.end(group)))
        for p in doc.pages
        for m in pattern.finditer(p.text)
        if m.group(group)
    ]


def pk_timepoints(
    doc: SourceDocument, encounters: list[Item], schedule: list[ScheduleEntry]
) -> tuple[list[Item], list[Ambiguity]]:
    text_points: dict[str, Item] = {}
    for page in doc.pages:
        for m in P.TIMEPOINT.finditer(page.text):
            s, e = sentence(page.text, m.start(), m.end())
            context = page.text[s:e]
            if not (P.PK_CONTEXT.search(context) and P.HOURS.search(context) and "dose" in context.lower()):
                continue
            value = norm_time(m.group(0))
            text_points.setdefault(
                value,
                Item(
                    kind=ItemKind.PK_TIMEPOINT,
                    value=value,
                    citation=doc.cite(page.number, m.start(), m.end()),
                    confidence=0.85,
                    attributes={"source": "text"},
                ),
            )
    ticked = {e.encounter.lower() for e in schedule if PK_ACTIVITY.search(e.activity)}
    table_points: dict[str, Item] = {}
    for enc in encounters:
        if P.TIME_CELL.match(enc.value) and enc.value.lower() in ticked:
            value = norm_time(enc.value)
            table_points.setdefault(
                value,
                enc.model_copy(
                    update={
                        "kind": ItemKind.PK_TIMEPOINT,
                        "value": value,
                        "attributes": {"source": "schedule"},
                    }
                ),
            )
    flags: list[Ambiguity] = []
    if text_points and table_points:
        for value, item in text_points.items():
            if value not in table_points:
                flags.append(
                    Ambiguity(
                        kind=AmbiguityKind.TIMEPOINT_NOT_IN_TABLE,
                        citations=[item.citation],
                        message=f"PK timepoint {value} is in the text but not in the schedule table",
                    )
                )
        for value, item in table_points.items():
            if value not in text_points:
                flags.append(
                    Ambiguity(
                        kind=AmbiguityKind.TIMEPOINT_NOT_IN_TEXT,
                        citations=[item.citation],
                        message=f"PK timepoint {value} is in the schedule table but not in the text",
                    )
                )
    merged = {**table_points, **text_points}

    def order(item: Item) -> float:
        return -1.0 if item.value == "pre-dose" else float(item.value.split()[0])

    return sorted(merged.values(), key=order), flags


def from_tables(c: _Collector, table_pulls: dict[str, set[str]]) -> None:
    for page in c.doc.pages:
        for table in page.tables:
            head = [x.text.strip().lower() for x in table.rows[0]]
            cols = {x.column: h for x, h in zip(table.rows[0], head, strict=True)}
            if head and head[0].startswith("test") and any("method" in h or "accept" in h for h in head):
                for row in table.rows[1:]:
                    cells = {x.column: x for x in row}
                    name, name_cite = row[0].text.strip(), c.cell(page.number, row[0])
                    if not name or name_cite is None:
                        continue
                    method = next((x.text for col, x in cells.items() if "method" in cols.get(col, "")), "")
                    c.add(ItemKind.TEST_METHOD, name, name_cite, 0.9, method=method.strip(), source="table")
                    for col, x in cells.items():
                        cite = c.cell(page.number, x)
                        if "accept" in cols.get(col, "") and cite is not None:
                            c.add(ItemKind.ACCEPTANCE, x.text, cite, 0.9, test=name)
            elif head and "condition" in head[0] and any("pull" in h or "time" in h for h in head):
                for row in table.rows[1:]:
                    cite = c.cell(page.number, row[0])
                    if cite is None:
                        continue
                    condition = re.sub(r"\s+", " ", row[0].text).strip()
                    c.add(ItemKind.STABILITY_CONDITION, condition, cite, 0.9, source="table")
                    for x in row[1:]:
                        if "pull" in cols.get(x.column, "") or "time" in cols.get(x.column, ""):
                            for m in re.finditer(r"\d+", x.text):
                                table_pulls[condition].add(m.group(0))
                                if x.start is not None:
                                    cite = c.doc.cite(page.number, x.start + m.start(), x.start + m.end())
                                    c.add(
                                        ItemKind.PULL_POINT,
                                        f"{condition} T{m.group(0)} months",
                                        cite,
                                        0.9,
                                        condition=condition,
                                        months=m.group(0),
                                    )


def storage(c: _Collector) -> None:
    by_subject: dict[str, dict[str, Citation]] = defaultdict(dict)
    for page_no, m, cite in _text_matches(c.doc, P.STORAGE, 1):
        page = c.doc.page(page_no)
        s, e = sentence(page.text, m.start(), m.end())
        context = page.text[s:e].lower()
        subject = next((x for x in P.STORAGE_SUBJECTS if x in context), "material")
        value = re.sub(r"\s+", " ", m.group(1)).replace("\u2212", "-")
        c.add(ItemKind.STORAGE, f"{subject}: {value}", cite, 0.85, subject=subject, temperature=value)
        by_subject[subject].setdefault(value, cite)
    for subject, temps in by_subject.items():
        if len(temps) > 1:
            c.flags.append(
                Ambiguity(
                    kind=AmbiguityKind.CONFLICTING_STORAGE,
                    citations=list(temps.values()),
                    message=f"{subject} storage is given as {' and '.join(temps)}; which applies?",
                )
            )


def extract_requirements(
    doc: SourceDocument, encounters: list[Item], schedule: list[ScheduleEntry]
) -> tuple[list[Item], list[Item], list[Ambiguity]]:
    """PK timepoints, the other requirements, and the ambiguities found in text and tables."""
    c = _Collector(doc)
    pk, pk_flags = pk_timepoints(doc, encounters, schedule)
    table_pulls: dict[str, set[str]] = defaultdict(set)
    from_tables(c, table_pulls)
    for _, m, cite in _text_matches(doc, P.METHODS):
        c.add(ItemKind.TEST_METHOD, m.group(0), cite, 0.8, source="text")
    for page_no, m, cite in _text_matches(doc, P.MATRIX):
        text = doc.page(page_no).text
        s, e = sentence(text, m.start(), m.end())
        if P.MATRIX_CONTEXT.search(text[s:e]):
            c.add(ItemKind.MATRIX, m.group(0).lower(), cite, 0.75)
    storage(c)
    for _, m, cite in _text_matches(doc, P.CONDITION):
        c.add(ItemKind.STABILITY_CONDITION, f"{m.group(1)} °C/{m.group(2)}% RH", cite, 0.85, source="text")
    all_table_pulls = set().union(*table_pulls.values()) if table_pulls else set()
    for page in doc.pages:
        for m in P.PULL_CONTEXT.finditer(page.text):
            s, e = sentence(page.text, m.start(), m.end())
            if "month" not in page.text[s:e].lower():
                continue
            for n in P.MONTH_LIST.finditer(page.text, s, e):
                cite = doc.cite(page.number, n.start(), n.end())
                c.add(
                    ItemKind.PULL_POINT, f"T{n.group(0)} months", cite, 0.8, months=n.group(0), source="text"
                )
                if all_table_pulls and n.group(0) not in all_table_pulls:
                    c.flags.append(
                        Ambiguity(
                            kind=AmbiguityKind.TIMEPOINT_NOT_IN_TABLE,
                            citations=[cite],
                            message=f"pull point {n.group(0)} months is in the text "
                            "but in no storage condition table",
                        )
                    )
    for _, m, cite in _text_matches(doc, P.ACCEPTANCE):
        c.add(ItemKind.ACCEPTANCE, m.group(0), cite, 0.75, source="text")
    for page in doc.pages:
        for m in P.FORMATS.finditer(page.text):
            s, e = sentence(page.text, m.start(), m.end())
            context = page.text[s:e]
            if P.DELIVERABLE.search(context):
                formats = sorted({f.group(1) for f in P.FORMATS.finditer(context)})
                timeline = P.TIMELINE.search(context)
                c.add(
                    ItemKind.DELIVERABLE,
                    context,
                    doc.cite(page.number, s, e),
                    0.7,
                    formats=", ".join(formats),
                    timeline=timeline.group(0) if timeline else "",
                )
    seen: set[tuple[int, int, int]] = set()
    for kind, pattern, message in (
        (AmbiguityKind.UNCLEAR_REQUIREMENT, P.UNCLEAR, "unclear requirement ('{}'): a human must decide"),
        (
            AmbiguityKind.EMBEDDED_INSTRUCTION,
            P.INJECTION,
            "the document contains text addressed to an AI ('{}'); "
            "it was treated as data and changed nothing",
        ),
    ):
        for page_no, m, cite in _text_matches(doc, pattern):
            s, e = sentence(doc.page(page_no).text, m.start(), m.end())
            if (page_no, s, e) in seen and kind is AmbiguityKind.UNCLEAR_REQUIREMENT:
                continue
            seen.add((page_no, s, e))
            c.flags.append(
                Ambiguity(
                    kind=kind, message=message.format(m.group(0)), citations=[cite, doc.cite(page_no, s, e)]
                )
            )
    unique = {(a.kind, a.message): a for a in pk_flags + c.flags}
    return pk, list(c.items.values()), list(unique.values())
