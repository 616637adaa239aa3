"""The DOCX reader: python-docx paragraphs and tables in body order, as one page of text.

A Word file has no pages, so the whole body is page 1. Table cells are written into the page text
row by row (cells separated by a tab, rows by a newline) and each cell records its exact span, so a
schedule-of-activities tick cites the same text a reviewer sees.
"""

from __future__ import annotations

import io
import zipfile

from limsai.protocols.models import ProtocolReadError, SourceDocument, SourcePage, SourceTable, TableCell
from limsai.protocols.source import DOCX, ReadLimits, check_size, sha256


def read_docx(
    content: bytes, name: str = "protocol.docx", limits: ReadLimits | None = None
) -> SourceDocument:
    """Read a DOCX protocol; ProtocolReadError when it is empty, corrupt, encrypted or oversized."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    limits = limits or ReadLimits()
    check_size(content, limits)
    try:
        document = docx.Document(io.BytesIO(content))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ProtocolReadError("corrupt", f"{name} is not a readable DOCX ({exc})") from exc
    parts: list[str] = []
    length = 0
    tables: list[SourceTable] = []

    def add(text: str) -> tuple[int, int]:
        nonlocal length
        start = length
        parts.append(text)
        length += len(text)
        return start, length

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            add(block.text + "\n\n")
        elif isinstance(block, Table):
            rows: list[list[TableCell]] = []
            for row in block.rows:
                cells: list[TableCell] = []
                seen: set[int] = set()
                for column, cell in enumerate(row.cells):
                    if id(cell._tc) in seen:  # a merged cell repeats; keep its first occurrence
                        continue
                    seen.add(id(cell._tc))
                    if cells:
                        add("\t")
                    start, end = add(cell.text)
                    cells.append(TableCell(text=cell.text, start=start, end=end, column=column))
                add("\n")
                rows.append(cells)
            tables.append(SourceTable(rows=rows))
    text = "".join(parts)
    if not text.strip():
        raise ProtocolReadError("empty", f"{name} has no text")
    if len(text) > limits.max_pages * 5000:
        raise ProtocolReadError("oversized", f"{name} holds more text than {limits.max_pages} pages")
    page = SourcePage(number=1, text=text, tables=tables)
    return SourceDocument(sha256=sha256(content), name=name, media_type=DOCX, pages=[page])
