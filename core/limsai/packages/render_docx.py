"""DOCX renderer of a data package: the sponsor-editable docxtpl template filled with the content.

The template (``templates/package.docx`` by default) is plain Word text with Jinja tags. It is given
``title``, ``subtitle``, ``draft_notice``, ``package_name``, ``generated_label``, ``summary``
(paragraphs), ``tables`` (each with ``name``, ``title``, ``headings``, ``rows`` and ``marker``),
``flags``, ``qc_statement`` and ``signature_blocks`` (each with ``role`` and ``meaning``).

Tables vary in number and width, so the template only places a marker paragraph for each,
``{{ table.marker }}`` inside ``{%p for table in tables %}``; after the template is rendered, each
marker paragraph is replaced by a Word table (header row bold and repeated on every page, style
"Table Grid" when the template defines it). A sponsor can restyle or move the text around the
markers freely. Text is XML-escaped on rendering.

A table can hold tens of thousands of rows, and python-docx's cell API walks the table for every
cell it touches, so each table's WordprocessingML is written as one string and parsed once. Cells
read back exactly as python-docx would have written them: tabs become ``w:tab``, line breaks
``w:br``, and characters XML cannot hold are dropped. Columns get widths in proportion to their
longest text, within the template's text width. The output is normalised like
XLSX (fixed zip entry times, core properties created/modified set to ``generated_at``), so the same
content gives the same bytes.
"""

from __future__ import annotations

import io
import re
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docxtpl import DocxTemplate  # type: ignore[import-untyped]

from limsai.packages.render_tabular import normalise_ooxml

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

TEMPLATE_NAME = "package.docx"
TABLE_STYLE = "Table Grid"
MARKER = "[[limsai-table:{name}]]"

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BREAKS = re.compile(r"[\t\n\r]")
_TWIPS_PER_EMU = 1 / 635
_MIN_SHARE = 0.5  # no column narrower than half an even share of the width
_BOLD = "<w:rPr><w:b/></w:rPr>"


def _run(text: str, properties: str = "") -> str:
    """One ``w:r`` holding ``text``: tabs and line breaks as ``w:tab``/``w:br``, as python-docx
    writes them."""
    parts, position = [], 0
    for found in _BREAKS.finditer(text):
        parts.append(_t(text[position : found.start()]))
        parts.append("<w:tab/>" if found.group() == "\t" else "<w:br/>")
        position = found.end()
    parts.append(_t(text[position:]))
    return f"<w:r>{properties}{''.join(parts)}</w:r>"


def _t(piece: str) -> str:
    if not piece:
        return ""
    space = ' xml:space="preserve"' if piece != piece.strip() else ""
    return f"<w:t{space}>{escape(piece)}</w:t>"


def _cell(text: str, properties: str = "") -> str:
    if not text:
        return "<w:tc><w:p/></w:tc>"
    if text.isprintable() and text == text.strip():
        if "&" in text or "<" in text or ">" in text:
            text = escape(text)
        return f"<w:tc><w:p><w:r>{properties}<w:t>{text}</w:t></w:r></w:p></w:tc>"
    return f"<w:tc><w:p>{_run(_NOT_XML.sub('', text), properties)}</w:p></w:tc>"


def _column_widths(table: RenderedTable, total: int) -> list[int]:
    """Widths in twips summing to about ``total``, in proportion to each column's longest text."""
    longest = [
        max(len(heading), max((len(row[column]) for row in table.rows), default=0), 1)
        for column, heading in enumerate(table.headings)
    ]
    floor = _MIN_SHARE / len(longest)
    shares = [max(length / sum(longest), floor) for length in longest]
    return [int(total * share / sum(shares)) for share in shares]


def _table_xml(table: RenderedTable, style_id: str | None, text_width: int) -> str:
    """The whole table as one ``w:tbl`` element."""
    style = f'<w:tblStyle w:val="{escape(style_id)}"/>' if style_id else ""
    grid = "".join(f'<w:gridCol w:w="{width}"/>' for width in _column_widths(table, text_width))
    header = "".join(_cell(heading, _BOLD) for heading in table.headings)
    parts = [
        f"<w:tbl {nsdecls('w')}><w:tblPr>{style}"
        '<w:tblW w:type="auto" w:w="0"/><w:tblLayout w:type="fixed"/>'
        '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0"'
        ' w:noHBand="0" w:noVBand="1" w:val="04A0"/></w:tblPr>'
        f"<w:tblGrid>{grid}</w:tblGrid>",
        f"<w:tr><w:trPr><w:tblHeader/></w:trPr>{header}</w:tr>",
    ]
    known: dict[str, str] = {}  # units, statuses, timepoints repeat down a column
    for row in table.rows:
        cells = [known.get(text) or known.setdefault(text, _cell(text)) for text in row]
        parts.append(f"<w:tr>{''.join(cells)}</w:tr>")
    parts.append("</w:tbl>")
    return "".join(parts)


def _place_table(document: Any, marker: Any, table: RenderedTable) -> None:
    """Replace the ``marker`` paragraph with ``table`` built as a Word table."""
    if not table.headings:
        marker.text = "(no columns)"
        return
    styles = {style.name: style.style_id for style in document.styles}
    section = document.sections[-1]
    text_width = int((section.page_width - section.left_margin - section.right_margin) * _TWIPS_PER_EMU)
    grid = parse_xml(_table_xml(table, styles.get(TABLE_STYLE), text_width))
    marker._p.addnext(grid)
    if table.rows:
        marker._p.getparent().remove(marker._p)
    else:
        marker.text = "(no rows)"


def _context(content: PackageContent) -> dict[str, Any]:
    return {
        "title": content.title,
        "subtitle": content.subtitle,
        "draft_notice": content.draft_notice,
        "package_name": content.package_name,
        "generated_label": content.generated_label,
        "summary": list(content.summary),
        "tables": [
            {
                "name": table.name,
                "title": table.title,
                "headings": list(table.headings),
                "rows": table.rows,
                "marker": MARKER.format(name=table.name),
            }
            for table in content.tables
        ],
        "flags": list(content.flags),
        "qc_statement": content.qc_statement,
        "signature_blocks": [{"role": b.role, "meaning": b.meaning} for b in content.signature_blocks],
    }


def render_docx(content: PackageContent, template: Path | None = None) -> bytes:
    """The package as DOCX, from ``template`` or the shipped ``templates/package.docx``."""
    if template is None:
        with as_file(files("limsai.packages").joinpath("templates", TEMPLATE_NAME)) as shipped:
            return _render(content, Path(shipped))
    return _render(content, template)


def _render(content: PackageContent, template_path: Path) -> bytes:
    document = DocxTemplate(str(template_path))
    document.render(_context(content), autoescape=True)
    markers = {MARKER.format(name=table.name): table for table in content.tables}
    for paragraph in list(document.docx.paragraphs):
        table = markers.pop(paragraph.text.strip(), None)
        if table is not None:
            _place_table(document.docx, paragraph, table)
    properties = document.docx.core_properties
    when = content.generated_at.replace(tzinfo=None)
    properties.created = when
    properties.modified = when
    properties.last_printed = when
    properties.revision = 1
    properties.title = content.title
    properties.subject = content.subtitle
    properties.last_modified_by = "limsai"
    buffer = io.BytesIO()
    document.save(buffer)
    return normalise_ooxml(buffer.getvalue(), content.generated_at)
