"""A small line/column table finder for PDF pages (schedules of activities, test tables).

pypdf's plain text loses table columns, so the PDF reader also records every text fragment with its
position. Fragments on one baseline form a line; a line starting with a header word (Visit,
Activity, Test, ...) opens a table whose columns are its fragments' x positions. Following lines
are rows: each fragment goes to the column it starts in. When a header's columns sit in one
fragment separated by spaces (common in PDFs printed from Word), columns are taken in order from
the spacing instead and every cell is marked ``positional=False`` so the extractor can lower its
confidence. A legend line ("Abbreviations:", "X = ...") or a wide vertical gap closes the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from limsai.protocols.models import SourceTable, TableCell
from limsai.protocols.source import locate

HEADER = re.compile(
    r"^(visit|activity|activities|assessments?|procedures?|time ?points?|sampling time|study day|"
    r"day|week|tests?|parameters?|conditions?|storage conditions?)\b",
    re.IGNORECASE,
)
TIMING = re.compile(
    r"^(activity\s+|assessment\s+|procedure\s+)?(week|day|study day|hour|time|window)\b", re.I
)
LEGEND = re.compile(r"^(abbreviations?|notes?|footnotes?|source|key)\b|^\S{1,3}\s*=\s", re.IGNORECASE)
MARKS = re.compile(r"^(?P<label>.*?\S)(?P<marks>(?:\s+(?:X[a-z]?|x|P|✓|✔|•|[a-z]))+\s*)$")


@dataclass(frozen=True)
class Fragment:
    """A run of text drawn at one position (x, y in points; size is the effective font size)."""

    x: float
    y: float
    size: float
    text: str


def lines_of(fragments: list[Fragment]) -> list[list[Fragment]]:
    """Fragments grouped by baseline, top to bottom, each line left to right."""
    lines: list[list[Fragment]] = []
    for f in sorted((f for f in fragments if f.text.strip()), key=lambda f: (-f.y, f.x)):
        if lines and abs(lines[-1][0].y - f.y) <= max(2.0, 0.35 * f.size):
            lines[-1].append(f)
        else:
            lines.append([f])
    return [sorted(line, key=lambda f: f.x) for line in lines]


def _joined(line: list[Fragment]) -> str:
    out = ""
    for f in line:
        piece = f.text.replace("\n", " ")
        if out and not out.endswith(" ") and not piece.startswith(" "):
            out += " "
        out += piece
    return out


def _ordinal(raw: str) -> list[str]:
    """Cells from a run separated by single spaces (an empty cell is an extra space)."""
    cells = raw[1:].split(" ") if raw.startswith(" ") else raw.split(" ")
    while cells and cells[-1] == "":
        cells.pop()
    return cells


class _Builder:
    def __init__(self, header: list[Fragment], text: str, cursor: int) -> None:
        self.text, self.cursor = text, cursor
        first, rest = header[0], header[1:]
        self.label_x = first.x
        self.positional = len(rest) >= 2
        cells = [self._cell(first.text.strip(), 0, True)]
        if self.positional:
            self.columns = [f.x for f in rest]
            cells += [self._cell(f.text.strip(), i + 1, True) for i, f in enumerate(rest)]
        else:
            raw = "".join(f.text for f in rest).replace("\n", " ").strip()
            tokens = _ordinal(raw)
            self.columns = []
            span = locate(text, raw, cursor)
            base = span[0] if span else None
            pos = 0
            for i, token in enumerate(tokens):
                cell = TableCell(text=token, column=i + 1, positional=False)
                if token and base is not None:
                    at = raw.find(token, pos)
                    if at >= 0:
                        cell = TableCell(
                            text=token,
                            start=base + at,
                            end=base + at + len(token),
                            column=i + 1,
                            positional=False,
                        )
                        pos = at + len(token)
                cells.append(cell)
            if span:
                self.cursor = span[1]
        self.rows: list[list[TableCell]] = [cells]

    def _cell(self, value: str, column: int, positional: bool) -> TableCell:
        span = locate(self.text, value, self.cursor)
        if span is None:
            return TableCell(text=value, column=column, positional=positional)
        self.cursor = span[1]
        return TableCell(text=value, start=span[0], end=span[1], column=column, positional=positional)

    def prose(self, line: list[Fragment]) -> bool:
        """A line of running text: one fragment in the label column reaching past the first column."""
        f = line[0]
        return (
            self.positional
            and len(line) == 1
            and bool(self.columns)
            and f.x + 0.45 * f.size * len(f.text.strip()) > self.columns[0]
        )

    def column_of(self, x: float, size: float) -> int:
        col = 0
        for i, cx in enumerate(self.columns):
            if x + 0.5 * size >= cx:
                col = i + 1
        return col

    def add(self, line: list[Fragment]) -> None:
        if self.positional:
            by_col: dict[int, list[Fragment]] = {}
            for f in line:
                by_col.setdefault(self.column_of(f.x, f.size), []).append(f)
            label = _joined(by_col.pop(0, [])).strip()
            values = {c: _joined(fs).strip() for c, fs in by_col.items()}
            positional = True
        else:
            joined = _joined(line).rstrip("\n")
            m = MARKS.match(joined)
            label = (m.group("label") if m else joined).strip()
            tokens = _ordinal(m.group("marks")) if m else []
            values = {i + 1: t for i, t in enumerate(tokens) if t}
            positional = False
        if not values and self.rows[1:] and (label[:1].islower() or label.startswith("(")):
            previous = self.rows[-1][0]
            merged = f"{previous.text} {label}"
            span = locate(self.text, merged, previous.start or 0) if previous.start is not None else None
            start, end = span if span else (previous.start, previous.end)
            self.rows[-1][0] = TableCell(text=merged, start=start, end=end, column=0, positional=positional)
            return
        row = [self._cell(label, 0, positional)]
        if positional:
            row += [self._cell(v, c, True) for c, v in sorted(values.items())]
        else:
            row += [TableCell(text=v, column=c, positional=False) for c, v in sorted(values.items())]
        self.rows.append(row)


def _ordinal_header(line: list[Fragment]) -> bool:
    tokens = _ordinal(line[1].text.strip()) if len(line) == 2 else []
    return len(tokens) >= 3 and all(len(t) <= 5 for t in tokens)


def find_tables(fragments: list[Fragment], text: str) -> list[SourceTable]:
    """The tables on one page (see the module docstring)."""
    tables: list[SourceTable] = []
    builder: _Builder | None = None
    last_y = 0.0
    cursor = 0
    for line in lines_of(fragments):
        first = line[0].text.strip()
        size = max(f.size for f in line)
        if builder is not None:
            gap = last_y - line[0].y
            if LEGEND.match(first) or gap > 2.2 * size or builder.prose(line):
                tables.append(SourceTable(rows=builder.rows))
                cursor, builder = builder.cursor, None
            elif len(builder.rows) == 1 and TIMING.match(_joined(line).strip()):
                last_y = line[0].y
                continue
            else:
                builder.add(line)
                last_y = line[0].y
                continue
        if HEADER.match(first) and (len(line) >= 3 or _ordinal_header(line)):
            builder = _Builder(line, text, cursor)
            last_y = line[0].y
    if builder is not None:
        tables.append(SourceTable(rows=builder.rows))
    return [t for t in tables if len(t.rows) >= 2]
