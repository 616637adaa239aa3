"""Schedule of activities from the tables a reader found: activities (row labels), encounters
(header cells) and the ticked activity-by-encounter pairs, each citing the row label it came from.

A table counts as a schedule when its header names visits, days, weeks, timepoints or sampling
times. Row labels are cleaned for naming (a trailing score range such as "MMSE 10-23" or a lowercase
parenthetical condition is dropped) and a "Laboratory (Chem/Hemat)" row names its panels. Columns
inferred from spacing rather than positions lower the confidence and raise one ambiguity per table.
"""

from __future__ import annotations

import re

from limsai.protocols.models import (
    Ambiguity,
    AmbiguityKind,
    Item,
    ItemKind,
    ScheduleEntry,
    SourceDocument,
    SourceTable,
    TableCell,
)

SCHEDULE_HEADER = re.compile(
    r"(?i)^(visit|study day|day|week|time ?points?|sampling time|activity|activities|"
    r"assessments?|procedures?)\b"
)
NOT_SCHEDULE = re.compile(r"(?i)\b(acceptance|method|specification|limit|criteri)")
TRAILING_RANGE = re.compile(r"\s*(?:[≤≥<>]=?\s*\d+(?:\.\d+)?|\d+\s*-\s*\d+)\s*$")
LOWER_PAREN = re.compile(r"\s*\((?=[a-z])[^)]*\)")
PANELS = {
    "chem": "Chemistry",
    "hemat": "Hematology",
    "heme": "Hematology",
    "haem": "Haematology",
    "ua": "Urinalysis",
    "coag": "Coagulation",
}
LAB = re.compile(r"(?i)^(?:laboratory|labs?|safety labs?)\s*\(([^)]+)\)")


def activity_names(label: str) -> list[str]:
    """The activity name(s) a row label stands for."""
    label = re.sub(r"\s+", " ", label).strip().rstrip(":").strip()
    lab = LAB.match(label)
    if lab:
        parts = [p.strip() for p in re.split(r"[/,;]| and ", lab.group(1)) if p.strip()]
        return [PANELS.get(p.lower().rstrip("."), p) for p in parts]
    label = LOWER_PAREN.sub("", label)
    label = TRAILING_RANGE.sub("", label).strip()
    return [label] if label else []


def is_schedule(table: SourceTable) -> bool:
    header = table.rows[0]
    words = " ".join(c.text for c in header)
    return bool(header and SCHEDULE_HEADER.match(header[0].text.strip())) and not NOT_SCHEDULE.search(words)


def encounter_name(head: str, cell: TableCell) -> str:
    token = cell.text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", token) and re.match(r"(?i)visit|day|week", head):
        return f"{head.strip().title()} {token}"
    return token


def extract_schedule(
    doc: SourceDocument,
) -> tuple[list[Item], list[Item], list[ScheduleEntry], list[Ambiguity]]:
    """Activities, encounters, schedule entries and layout ambiguities of every schedule table."""
    activities: dict[str, Item] = {}
    encounters: dict[str, Item] = {}
    schedule: dict[tuple[str, str], ScheduleEntry] = {}
    ambiguities: list[Ambiguity] = []
    for page in doc.pages:
        for table in page.tables:
            if not is_schedule(table):
                continue
            header = table.rows[0]
            head = header[0].text
            columns: dict[int, tuple[str, TableCell]] = {}
            for cell in header[1:]:
                name = encounter_name(head, cell)
                if name:
                    columns[cell.column] = (name, cell)
                    if name.lower() not in encounters and cell.start is not None and cell.end is not None:
                        encounters[name.lower()] = Item(
                            kind=ItemKind.ENCOUNTER,
                            value=name,
                            confidence=0.9 if cell.positional else 0.6,
                            citation=doc.cite(page.number, cell.start, cell.end),
                        )
            inferred = any(not c.positional for c in header)
            if inferred:
                anchor = header[0]
                cites = (
                    [doc.cite(page.number, anchor.start, anchor.end)]
                    if anchor.start is not None and anchor.end is not None
                    else []
                )
                ambiguities.append(
                    Ambiguity(
                        kind=AmbiguityKind.INFERRED_LAYOUT,
                        citations=cites,
                        message=f"page {page.number}: the schedule's columns were inferred from spacing; "
                        "check which visit each tick belongs to",
                    )
                )
            for row in table.rows[1:]:
                label = row[0]
                if label.start is None or label.end is None or not label.text.strip():
                    continue
                citation = doc.cite(page.number, label.start, label.end)
                confidence = 0.9 if label.positional else 0.5
                names = activity_names(label.text)
                for name in names:
                    activities.setdefault(
                        name.lower(),
                        Item(
                            kind=ItemKind.ACTIVITY,
                            value=name,
                            citation=citation,
                            confidence=confidence,
                            attributes={"row_label": re.sub(r"\s+", " ", label.text).strip()},
                        ),
                    )
                for cell in row[1:]:
                    if cell.column not in columns or not cell.text.strip():
                        continue
                    encounter = columns[cell.column][0]
                    note = "" if cell.text.strip().upper() == "X" else cell.text.strip()
                    for name in names:
                        schedule.setdefault(
                            (name.lower(), encounter.lower()),
                            ScheduleEntry(
                                activity=name,
                                encounter=encounter,
                                citation=citation,
                                confidence=confidence if cell.positional else 0.5,
                                note=note,
                            ),
                        )
    return list(activities.values()), list(encounters.values()), list(schedule.values()), ambiguities
