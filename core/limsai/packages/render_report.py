"""Rendering a drafted report section as DOCX: headings, paragraphs, tables and figures in order.

A data package (:mod:`limsai.packages.render`) is mostly tables; a study report draft is mostly
prose around figures — per attribute and condition the trend plot, the shelf-life estimate and the
lists of OOT and OOS results, then the report's summary section. :class:`ReportContent` holds that
content already laid out (every cell the exact string to show, every figure as PNG bytes), and
:func:`render_report_docx` writes it with python-docx. The DRAFT notice heads the document, and
``generated_at`` is the only time in it, so the same content gives the same bytes.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from limsai.model import LimsModel
from limsai.packages.render import DRAFT_NOTICE, RenderedTable, _utc
from limsai.packages.render_tabular import normalise_ooxml

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_WIDTH_CM = 16.0


def _png(data: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("a figure must be PNG bytes")
    return data


class Figure(LimsModel):
    """A PNG figure with its caption."""

    png: Annotated[bytes, AfterValidator(_png)]
    caption: str


class ReportSection(LimsModel):
    """One section: a heading, then paragraphs, figures and tables in that order; nested sections
    follow at the next heading level."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[RenderedTable, ...] = ()
    subsections: tuple[ReportSection, ...] = ()


class ReportContent(LimsModel):
    """A report draft as it must appear."""

    title: str
    subtitle: str
    generated_at: Annotated[datetime, AfterValidator(_utc)]
    sections: tuple[ReportSection, ...] = Field(min_length=1)
    draft_notice: str = DRAFT_NOTICE


def _table(document: object, table: RenderedTable) -> None:
    from docx.document import Document as DocxDocument

    assert isinstance(document, DocxDocument)
    if table.title:
        document.add_paragraph(table.title, style="Caption")
    grid = document.add_table(rows=1, cols=len(table.headings))
    grid.style = "Table Grid"
    for cell, heading in zip(grid.rows[0].cells, table.headings, strict=True):
        cell.text = heading
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in table.rows:
        cells = grid.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text


def _section(document: object, section: ReportSection, level: int) -> None:
    from docx.document import Document as DocxDocument
    from docx.shared import Cm

    assert isinstance(document, DocxDocument)
    document.add_heading(section.heading, level=min(level, 9))
    for paragraph in section.paragraphs:
        document.add_paragraph(paragraph)
    for figure in section.figures:
        document.add_picture(io.BytesIO(figure.png), width=Cm(FIGURE_WIDTH_CM))
        document.add_paragraph(figure.caption, style="Caption")
    for table in section.tables:
        _table(document, table)
    for sub in section.subsections:
        _section(document, sub, level + 1)


def render_report_docx(content: ReportContent) -> bytes:
    """The report as DOCX bytes; the same content gives the same bytes."""
    from docx import Document

    document = Document()
    notice = document.add_paragraph()
    run = notice.add_run(content.draft_notice)
    run.bold = True
    document.add_heading(content.title, level=0)
    document.add_paragraph(f"{content.subtitle} · generated {content.generated_at:%Y-%m-%d %H:%M:%S} UTC")
    for section in content.sections:
        _section(document, section, 1)
    buffer = io.BytesIO()
    document.save(buffer)
    return normalise_ooxml(buffer.getvalue(), content.generated_at)
