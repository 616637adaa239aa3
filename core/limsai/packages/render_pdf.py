"""PDF renderer of a data package (reportlab platypus, built-in Helvetica; no system packages).

Order: title, subtitle, draft notice, summary, each table, flags, QC statement, signature blocks.
Tables repeat their header row on every page and wrap long cells; a table of more than
:data:`LANDSCAPE_OVER` columns is set on landscape pages. The output is deterministic: reportlab's
``invariant`` mode fixes the document ID, and the creation/modification dates are ``generated_at``.
Every page carries the draft notice, the package name and the page number in its footer.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Frame,
    KeepTogether,
    LongTable,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    TableStyle,
)

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

LANDSCAPE_OVER = 6
_MARGIN = 15 * mm
_BLANK = "_" * 40

_STYLES = getSampleStyleSheet()
_CELL = ParagraphStyle("cell", parent=_STYLES["BodyText"], fontSize=7.5, leading=9, wordWrap="CJK")
_HEAD = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_NOTICE = ParagraphStyle(
    "notice", parent=_STYLES["BodyText"], textColor=colors.darkred, fontName="Helvetica-Bold"
)
_TABLE_STYLE = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
)


def _p(text: str, style: ParagraphStyle) -> Any:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(table: RenderedTable, width: float) -> list[Any]:
    header = [_p(heading, _HEAD) for heading in table.headings]
    body = [[_p(cell, _CELL) for cell in row] for row in table.rows]
    flow: list[Any] = [_p(table.title, _STYLES["Heading2"])]
    if not table.headings:
        return [*flow, _p("(no columns)", _STYLES["BodyText"])]
    if not body:
        flow.append(_p("(no rows)", _STYLES["BodyText"]))
    columns = len(table.headings)
    grid = LongTable([header, *body], colWidths=[width / columns] * columns, repeatRows=1)
    grid.setStyle(_TABLE_STYLE)
    return [*flow, grid, Spacer(1, 4 * mm)]


def _signature(role: str, meaning: str) -> Any:
    lines = [
        _p(role, _STYLES["Heading3"]),
        _p(f"Meaning: {meaning}", _STYLES["BodyText"]),
        _p(f"Printed name: {_BLANK}", _STYLES["BodyText"]),
        _p(f"Signature: {_BLANK}", _STYLES["BodyText"]),
        _p(f"Date-time (UTC): {_BLANK}", _STYLES["BodyText"]),
        Spacer(1, 4 * mm),
    ]
    return KeepTogether(lines)


def render_pdf(content: PackageContent) -> bytes:
    """The package as a PDF (A4; landscape pages for wide tables)."""
    portrait_size, landscape_size = A4, landscape(A4)
    footer = f"{content.draft_notice} | {content.package_name} | generated {content.generated_label}"

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(_MARGIN, 8 * mm, footer)
        canvas.drawRightString(doc.pagesize[0] - _MARGIN, 8 * mm, f"Page {doc.page}")
        canvas.restoreState()

    def frame(size: tuple[float, float], name: str) -> Any:
        return Frame(_MARGIN, _MARGIN, size[0] - 2 * _MARGIN, size[1] - 2 * _MARGIN, id=name)

    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=portrait_size,
        invariant=1,
        title=content.title,
        subject=content.subtitle,
        author="limsai",
        creator="limsai",
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
    )
    doc.addPageTemplates(
        [
            PageTemplate("portrait", [frame(portrait_size, "p")], onPage=on_page, pagesize=portrait_size),
            PageTemplate("landscape", [frame(landscape_size, "l")], onPage=on_page, pagesize=landscape_size),
        ]
    )
    pdf_date = content.generated_at.strftime("D:%Y%m%d%H%M%S+00'00'")
    story: list[Any] = [
        _p(content.title, _STYLES["Title"]),
        _p(content.subtitle, _STYLES["Heading2"]),
        _p(content.draft_notice, _NOTICE),
        _p(f"Package {content.package_name}, generated {content.generated_label}", _STYLES["BodyText"]),
    ]
    if content.summary:
        story.append(_p("Summary", _STYLES["Heading1"]))
        story.extend(_p(paragraph, _STYLES["BodyText"]) for paragraph in content.summary)
    orientation = "portrait"
    for table in content.tables:
        wanted = "landscape" if len(table.headings) > LANDSCAPE_OVER else "portrait"
        if wanted != orientation:
            story.extend([NextPageTemplate(wanted), PageBreak()])
            orientation = wanted
        size = landscape_size if wanted == "landscape" else portrait_size
        story.extend(_table(table, size[0] - 2 * _MARGIN))
    if orientation != "portrait":
        story.extend([NextPageTemplate("portrait"), PageBreak()])
    story.append(_p("Flags", _STYLES["Heading1"]))
    if content.flags:
        story.extend(_p(f"• {flag}", _STYLES["BodyText"]) for flag in content.flags)
    else:
        story.append(_p("No flags.", _STYLES["BodyText"]))
    story.append(_p("QC statement", _STYLES["Heading1"]))
    story.append(_p(content.qc_statement, _STYLES["BodyText"]))
    if content.signature_blocks:
        story.append(_p("Approvals", _STYLES["Heading1"]))
        story.extend(_signature(block.role, block.meaning) for block in content.signature_blocks)

    def build_canvas(*args: Any, **kwargs: Any) -> Any:
        canvas = Canvas(*args, **kwargs)
        canvas.setDateFormatter(lambda *_: pdf_date)
        return canvas

    doc.build(story, canvasmaker=build_canvas)
    return buffer.getvalue()
