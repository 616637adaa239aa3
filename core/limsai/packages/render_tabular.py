"""CSV and XLSX renderers of a data package, and the normalisation that makes OOXML output repeatable.

Every cell is written as text exactly as given: CSV quotes only where needed, XLSX stores each cell
as a string (never a number or a formula). Both are deterministic: the same content gives the same
bytes. For XLSX (and DOCX, see :func:`normalise_ooxml`) the zip entries are rewritten in a fixed
order with the package's ``generated_at`` as their time, and the document properties' created and
modified times are set to it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

FLAGS_SHEET = "Flags"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_MAX = 31
_CORE_TIME = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")


def render_csv(table: RenderedTable) -> bytes:
    """The table as CSV: header row of headings, ``\\n`` line ends, UTF-8 without BOM."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.headings)
    writer.writerows(table.rows)
    return buffer.getvalue().encode("utf-8")


def sheet_names(names: list[str], reserved: tuple[str, ...] = (FLAGS_SHEET,)) -> list[str]:
    """Excel-valid sheet names for ``names``: forbidden characters replaced, at most 31 characters,
    unique (case-insensitively, as Excel compares them) among themselves and ``reserved``."""
    taken = {name.casefold() for name in reserved}
    result = []
    for name in names:
        base = _SHEET_FORBIDDEN.sub("_", name).strip("'")[:_SHEET_MAX] or "Table"
        candidate, counter = base, 1
        while candidate.casefold() in taken:
            counter += 1
            suffix = f"~{counter}"
            candidate = base[: _SHEET_MAX - len(suffix)] + suffix
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def _text(value: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", value)  # type: ignore[no-any-return]


def _write_sheet(sheet: object, headings: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> None:
    bold = Font(bold=True)
    for column, heading in enumerate(headings, start=1):
        cell = sheet.cell(row=1, column=column)  # type: ignore[attr-defined]
        cell.value = _text(heading)
        cell.data_type = "s"
        cell.font = bold
    for row_index, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_index, column=column)  # type: ignore[attr-defined]
            cell.value = _text(value)
            cell.data_type = "s"  # a leading "=" stays text, never a formula
            cell.number_format = "@"
    sheet.freeze_panes = "A2"  # type: ignore[attr-defined]


def render_xlsx(content: PackageContent) -> bytes:
    """One sheet per table (header bold, every cell text), then a ``Flags`` sheet."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for table, name in zip(content.tables, sheet_names([t.name for t in content.tables]), strict=True):
        _write_sheet(workbook.create_sheet(title=name), table.headings, table.rows)
    flags = workbook.create_sheet(title=FLAGS_SHEET)
    _write_sheet(flags, ("Flag",), tuple((flag,) for flag in content.flags))
    when = content.generated_at.replace(tzinfo=None)
    workbook.properties.created = when
    workbook.properties.modified = when
    workbook.properties.creator = "limsai"
    workbook.properties.title = _text(content.title)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return normalise_ooxml(buffer.getvalue(), content.generated_at)


def normalise_ooxml(data: bytes, when: datetime) -> bytes:
    """Rewrite an OOXML zip so it depends only on its content and ``when``: entries keep their order,
    every entry's time is ``when``, and ``docProps/core.xml`` created/modified are ``when``."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    date_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            blob = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                blob = _CORE_TIME.sub(lambda m: m.group(1) + stamp + m.group(2), blob)
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, blob)
    return out.getvalue()
