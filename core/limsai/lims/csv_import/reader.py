"""From the file's bytes to CSV records: UTF-8 decoding that names every line and column holding a
byte that is not UTF-8, and the records with the line each starts on (a quoted cell may span lines),
cells stripped and blank records skipped."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from limsai.lims.csv_import.problems import CsvProblem


def decode(path: Path) -> tuple[str | None, list[CsvProblem]]:
    """The file's text, or one problem per line that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    problems: list[CsvProblem] = []
    header: list[str] = []
    for number, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
            header = header or [cell.strip().lower() for cell in next(csv.reader([text]), [])]
        except UnicodeDecodeError as exc:
            cells = next(csv.reader([raw.decode("utf-8", "replace")]), [])
            index = next((i for i, cell in enumerate(cells) if "\ufffd" in cell), 0)
            column = header[index] if index < len(header) else f"field {index + 1}"
            message = f"byte 0x{raw[exc.start]:02x} is not UTF-8 (save the file as UTF-8)"
            problems.append(CsvProblem(number, column, message))
    return None, problems


def records(text: str, problems: list[CsvProblem]) -> Iterator[tuple[int, list[str]]]:
    """(first line, stripped cells) of every record that is not blank; a CSV syntax error ends the
    records and is added to ``problems``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for cells in reader:
            stripped = [cell.strip() for cell in cells]
            if any(stripped):
                yield start, stripped
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(CsvProblem(start, None, f"not readable as CSV from here on: {exc}"))
