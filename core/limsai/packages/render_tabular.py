"""CSV and XLSX renderers of a data package, and the normalisation that makes OOXML output repeatable.

Every cell is written as text exactly as given: CSV quotes only where needed, XLSX stores each cell
as a string (never a number or a formula). Both are deterministic: the same content gives the same
bytes. For XLSX (and DOCX, see :func:`normalise_ooxml`) the zip entries are rewritten in a fixed
order with the package's ``generated_at`` as their time, and the document properties' created and
modified times are set to it.

openpyxl spends about 15 µs on each cell it writes, so a sheet's header and first row are written
by openpyxl (which sets up the styles, the frozen header and the rest of the workbook) and the
remaining rows are generated as the same ``inlineStr`` cells, spliced into the sheet XML when the
package is normalised.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

FLAGS_SHEET = "Flags"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_MAX = 31
_SHEET_END = b"</sheetData>"
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
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


def _write_sheet(sheet: Any, headings: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> int:
    """Write the header and the first row with openpyxl; the style id of body cells, or 0."""
    bold = Font(bold=True)
    for column, heading in enumerate(headings, start=1):
        cell = sheet.cell(row=1, column=column)
        cell.value = _text(heading)
        cell.data_type = "s"
        cell.font = bold
    style = 0
    for column, value in enumerate(rows[0] if rows else (), start=1):
        cell = sheet.cell(row=2, column=column)
        cell.value = _text(value)
        cell.data_type = "s"  # a leading "=" stays text, never a formula
        cell.number_format = "@"
        style = cell.style_id
    sheet.freeze_panes = "A2"
    return int(style)


def _rows_xml(rows: tuple[tuple[str, ...], ...], style: int, first: int) -> bytes:
    """``rows`` as ``<row>`` elements numbered from ``first``, each cell an inline string with the
    body ``style``, exactly as openpyxl writes them."""
    letters = [get_column_letter(column) for column in range(1, len(rows[0]) + 1)] if rows else []
    attributes = f'" s="{style}" t="inlineStr"'
    known: dict[str, str] = {}
    parts = []
    for number, row in enumerate(rows, start=first):
        parts.append(f'<row r="{number}">')
        for letter, value in zip(letters, row, strict=True):
            body = known.get(value)
            if body is None:
                body = known[value] = _inline(value)
            parts.append(f'<c r="{letter}{number}{attributes}{body}')
        parts.append("</row>")
    return "".join(parts).encode("utf-8")


def _inline(value: str) -> str:
    text = _text(value)
    if not text:
        return "/>"
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"><is><t{space}>{escape(text).replace(chr(13), '&#13;')}</t></is></c>"


def _splice(rows: bytes, dimension: str) -> Callable[[bytes], bytes]:
    def rewrite(sheet: bytes) -> bytes:
        if _SHEET_END not in sheet:
            raise ValueError("worksheet XML without </sheetData>")
        sheet = _DIMENSION.sub(f'<dimension ref="{dimension}"/>'.encode("ascii"), sheet, count=1)
        return sheet.replace(_SHEET_END, rows + _SHEET_END, 1)

    return rewrite


def render_xlsx(content: PackageContent) -> bytes:
    """One sheet per table (header bold, every cell text), then a ``Flags`` sheet."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    pending = []
    for table, name in zip(content.tables, sheet_names([t.name for t in content.tables]), strict=True):
        sheet = workbook.create_sheet(title=name)
        style = _write_sheet(sheet, table.headings, table.rows)
        if len(table.rows) > 1:
            pending.append((sheet, table, style))
    flags = workbook.create_sheet(title=FLAGS_SHEET)
    _write_sheet(flags, ("Flag",), ())
    for row, flag in enumerate(content.flags, start=2):
        cell = flags.cell(row=row, column=1)
        cell.value = _text(flag)
        cell.data_type = "s"
        cell.number_format = "@"
    when = content.generated_at.replace(tzinfo=None)
    workbook.properties.created = when
    workbook.properties.modified = when
    workbook.properties.creator = "limsai"
    workbook.properties.title = _text(content.title)
    buffer = io.BytesIO()
    workbook.save(buffer)
    rewrites = {}
    for sheet, table, style in pending:
        corner = f"{get_column_letter(len(table.headings))}{len(table.rows) + 1}"
        rows = _rows_xml(table.rows[1:], style, first=3)
        rewrites[sheet.path.lstrip("/")] = _splice(rows, f"A1:{corner}")
    return normalise_ooxml(buffer.getvalue(), content.generated_at, rewrites)


def normalise_ooxml(
    data: bytes, when: datetime, rewrites: Mapping[str, Callable[[bytes], bytes]] | None = None
) -> bytes:
    """Rewrite an OOXML zip so it depends only on its content and ``when``: entries keep their order,
    every entry's time is ``when``, and ``docProps/core.xml`` created/modified are ``when``.
    ``rewrites`` maps entry names to functions that change their bytes on the way."""
    rewrites = rewrites or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    missing = sorted(set(rewrites) - set(source.namelist()))
    if missing:
        raise ValueError(f"no entry to rewrite: {', '.join(missing)}")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    date_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            blob = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                blob = _CORE_TIME.sub(lambda m: m.group(1) + stamp + m.group(2), blob)
            if info.filename in rewrites:
                blob = rewrites[info.filename](blob)
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, blob)
    return out.getvalue()
