"""DOCX renderer of a data package: the sponsor-editable docxtpl template filled with the content.

The template (``templates/package.docx`` by default) is plain Word text with Jinja tags. It is given
``title``, ``subtitle``, ``draft_notice``, ``package_name``, ``generated_label``, ``summary``
(paragraphs), ``tables`` (each with ``name``, ``title``, ``headings``, ``rows`` and ``marker``),
``flags``, ``qc_statement`` and ``signature_blocks`` (each with ``role`` and ``meaning``).

Tables vary in number and width, so the template only places a marker paragraph for each,
``{{ table.marker }}`` inside ``{%p for table in tables %}``; after the template is rendered, each
marker paragraph is replaced by a Word table built with python-docx (header row bold and repeated
on every page, style "Table Grid" when the template defines it). A sponsor can restyle or move the
text around the markers freely. Text is XML-escaped on rendering. The output is normalised like
XLSX (fixed zip entry times, core properties created/modified set to ``generated_at``), so the same
content gives the same bytes.
"""

from __future__ import annotations

import io
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docxtpl import DocxTemplate  # type: ignore[import-untyped]

from limsai.packages.render_tabular import normalise_ooxml

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

TEMPLATE_NAME = "package.docx"
TABLE_STYLE = "Table Grid"
MARKER = "[[limsai-table:{name}]]"


def _place_table(document: Any, marker: Any, table: RenderedTable) -> None:
    """Replace the ``marker`` paragraph with ``table`` built as a Word table."""
    if not table.headings:
        marker.text = "(no columns)"
        return
    grid = document.add_table(rows=1 + len(table.rows), cols=len(table.headings))
    if TABLE_STYLE in [style.name for style in document.styles]:
        grid.style = TABLE_STYLE
    rows = grid.rows
    for cell, heading in zip(rows[0].cells, table.headings, strict=True):
        cell.text = heading
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row, values in zip(rows[1:], table.rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    _repeat_header(rows[0])
    marker._p.addnext(grid._tbl)
    if table.rows:
        marker._p.getparent().remove(marker._p)
    else:
        marker.text = "(no rows)"


def _repeat_header(row: Any) -> None:
    from docx.oxml import OxmlElement

    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    properties.append(header)


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
                "rows": [list(row) for row in table.rows],
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
