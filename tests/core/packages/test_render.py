"""Tests of the data-package renderers: exact cells, deterministic bytes, large tables."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook  # type: ignore[import-untyped]
from pypdf import PdfReader

from limsai.packages.render import (
    DRAFT_NOTICE,
    PackageContent,
    RenderedTable,
    SignatureBlock,
    render_all,
    render_csv,
    render_docx,
    render_pdf,
    render_xlsx,
)

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SMALL = RenderedTable(
    name="results_by_timepoint",
    title="Results by timepoint",
    headings=("Sample", "Assay (%)", "Comment"),
    rows=(("S-001", "97.50", 'low, "retest"'), ("S-002", "100.0", "=1+1")),
)
WIDE = RenderedTable(
    name="wide",
    title="Wide table",
    headings=tuple(f"Column {i}" for i in range(8)),
    rows=(tuple(f"{i}.10" for i in range(8)),),
)


def _content(*tables: RenderedTable) -> PackageContent:
    return PackageContent(
        title="Stability data package",
        subtitle="Study STB-1 & <month 6>",
        package_name="ACME_STB-1_m6_v1",
        generated_at=WHEN,
        summary=("First paragraph.", "Second paragraph."),
        tables=tables or (SMALL, WIDE),
        flags=("R-9 result out of specification",),
        qc_statement="QC reviewed all results.",
        signature_blocks=(SignatureBlock(role="Study director", meaning="approval"),),
    )


def test_csv_bytes_exact() -> None:
    assert render_csv(SMALL) == (
        b'Sample,Assay (%),Comment\nS-001,97.50,"low, ""retest"""\nS-002,100.0,=1+1\n'
    )


@pytest.mark.parametrize("render", [render_xlsx, render_pdf, render_docx])
def test_same_content_same_bytes(render: Callable[[PackageContent], bytes]) -> None:
    assert render(_content()) == render(_content())


def test_xlsx_cells_are_strings() -> None:
    book = load_workbook(io.BytesIO(render_xlsx(_content())))
    assert book.sheetnames == ["results_by_timepoint", "wide", "Flags"]
    sheet = book["results_by_timepoint"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values == [
        ["Sample", "Assay (%)", "Comment"],
        ["S-001", "97.50", 'low, "retest"'],
        ["S-002", "100.0", "=1+1"],
    ]
    assert sheet["A1"].font.bold
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)
    assert [[c.value for c in row] for row in book["Flags"].iter_rows()] == [
        ["Flag"],
        ["R-9 result out of specification"],
    ]
    assert book.properties.created == WHEN.replace(tzinfo=None)


def test_xlsx_sheet_names_truncated_and_unique() -> None:
    long_a = RenderedTable(name="a" * 40, title="A", headings=("x",), rows=())
    long_b = RenderedTable(name="a" * 40 + "b", title="B", headings=("x",), rows=())
    flags = RenderedTable(name="flags", title="F", headings=("x",), rows=())
    names = load_workbook(io.BytesIO(render_xlsx(_content(long_a, long_b, flags)))).sheetnames
    assert names == ["a" * 31, "a" * 29 + "~2", "flags~2", "Flags"]


def test_docx_tables_hold_cells_exactly() -> None:
    document = Document(io.BytesIO(render_docx(_content())))
    cells = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    assert cells[0] == [
        ["Sample", "Assay (%)", "Comment"],
        ["S-001", "97.50", 'low, "retest"'],
        ["S-002", "100.0", "=1+1"],
    ]
    assert cells[1][1] == [f"{i}.10" for i in range(8)]
    text = "\n".join(paragraph.text for paragraph in document.paragraphs)
    assert "Study STB-1 & <month 6>" in text
    assert DRAFT_NOTICE in text
    assert "R-9 result out of specification" in text
    assert "QC reviewed all results." in text
    assert "Meaning: approval" in text
    assert "[[limsai-table:" not in text
    assert "{{" not in text and "{%" not in text


def test_pdf_text_holds_numbers_and_notice() -> None:
    reader = PdfReader(io.BytesIO(render_pdf(_content())))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in ("97.50", "100.0", "7.10", "Stability data package", "QC reviewed all results."):
        assert expected in text
    assert "not valid until reviewed and e-signed in the LIMS" in text
    widths = [float(page.mediabox.width) for page in reader.pages]
    assert max(widths) > min(widths)  # the 8-column table is set on a landscape page
    assert reader.metadata is not None and str(reader.metadata["/CreationDate"]).startswith(
        "D:20260304050607"
    )


def test_render_all_names_files() -> None:
    files = render_all(_content(), ["docx", "pdf", "xlsx", "csv"])
    assert sorted(files) == [
        "ACME_STB-1_m6_v1.docx",
        "ACME_STB-1_m6_v1.pdf",
        "ACME_STB-1_m6_v1.xlsx",
        "tables/results_by_timepoint.csv",
        "tables/wide.csv",
    ]
    assert files["tables/results_by_timepoint.csv"] == render_csv(SMALL)
    with pytest.raises(ValueError, match="unknown output format"):
        render_all(_content(), ["html"])


def test_content_is_validated() -> None:
    with pytest.raises(ValueError, match="cells"):
        RenderedTable(name="t", title="T", headings=("a", "b"), rows=(("1",),))
    with pytest.raises(ValueError, match="letters, digits"):
        RenderedTable(name="bad name", title="T", headings=(), rows=())
    with pytest.raises(ValueError, match="timezone"):
        PackageContent(title="T", subtitle="S", package_name="p", generated_at=datetime(2026, 1, 1))


def test_large_table_renders_in_every_format() -> None:
    headings = tuple(f"h{i}" for i in range(13))
    rows = tuple(tuple(f"{r}.{i}0" for i in range(13)) for r in range(2000))
    files = render_all(
        _content(RenderedTable(name="big", title="Big", headings=headings, rows=rows)),
        ["docx", "pdf", "xlsx", "csv"],
    )
    assert files["tables/big.csv"].count(b"\n") == 2001
    assert len(load_workbook(io.BytesIO(files["ACME_STB-1_m6_v1.xlsx"]))["big"]["A"]) == 2001
    assert len(Document(io.BytesIO(files["ACME_STB-1_m6_v1.docx"])).tables[0].rows) == 2001
    assert len(PdfReader(io.BytesIO(files["ACME_STB-1_m6_v1.pdf"])).pages) > 10


ODD = RenderedTable(
    name="odd",
    title="Odd cells",
    headings=("Plain", "Spaces & breaks", "Markup <b>"),
    rows=(
        ("=1+1", " lead", "trail "),
        ("", "x\ry", "tab\there"),
        ("µg/mL ≤ 5", "line\nbreak", "&amp; <w:t>"),
        ("", "", ""),
    ),
)


def test_odd_cells_survive_docx_and_xlsx() -> None:
    content = _content(ODD, SMALL)
    document = Document(io.BytesIO(render_docx(content)))
    cells = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    # python-docx reads a carriage return back as a line break, as it does for its own cell API
    assert cells == [list(ODD.headings), *[[c.replace("\r", "\n") for c in row] for row in ODD.rows]]
    header = document.tables[0].rows[0]
    assert header._tr.xpath("./w:trPr/w:tblHeader")
    assert all(run.bold for cell in header.cells for run in cell.paragraphs[0].runs)
    assert document.tables[0].style is not None and document.tables[0].style.name == "Table Grid"
    sheet = load_workbook(io.BytesIO(render_xlsx(content)))["odd"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values == [list(ODD.headings), *[[c or None for c in row] for row in ODD.rows]]
    assert sheet.dimensions == "A1:C5" and sheet.freeze_panes == "A2"
    assert all(cell.number_format == "@" for row in sheet.iter_rows(min_row=2) for cell in row)


def test_pdf_odd_and_long_cells() -> None:
    long = RenderedTable(
        name="long",
        title="Long cells",
        headings=tuple(f"Heading number {i}" for i in range(13)),
        rows=tuple(("x" * 200, "word " * 100, *[f"{r}.{i}5" for i in range(11)]) for r in range(40)),
    )
    reader = PdfReader(io.BytesIO(render_pdf(_content(ODD, long))))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in ("=1+1", "µg/mL ≤ 5", "&amp; <w:t>", "tab here", "Heading", "39.105", "…"):
        assert expected in text


def test_pdf_pages_repeat_header_notice_and_number() -> None:
    headings = ("Sample", "Result", "Unit")
    rows = tuple((f"S-{r:05d}", f"{r}.25", "ng/mL") for r in range(3000))
    reader = PdfReader(
        io.BytesIO(render_pdf(_content(RenderedTable(name="t", title="T", headings=headings, rows=rows))))
    )
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) > 10
    for number, page in enumerate(pages, start=1):
        assert f"Page {number}" in page
        assert "not valid until reviewed and e-signed in the LIMS" in page
    table_pages = [page for page in pages if "S-0" in page]
    assert len(table_pages) > 10 and all("Sample" in page and "Result" in page for page in table_pages)
    assert all(f"S-{r:05d}" in "".join(pages) for r in (0, 1499, 2999))


def test_every_pdf_row_is_drawn_inside_its_page_once() -> None:
    headings = ("Sample", "Result", "Units")
    rows = tuple((f"S-{r:05d}", f"{r}.25", "ng/mL") for r in range(3000))
    reader = PdfReader(
        io.BytesIO(render_pdf(_content(RenderedTable(name="t", title="T", headings=headings, rows=rows))))
    )
    seen: list[str] = []
    for page in reader.pages:
        height = float(page.mediabox.height)
        width = float(page.mediabox.width)
        placed: list[tuple[str, float, float]] = []

        def visit(text: str, _cm: Any, tm: Any, _font: Any, _size: Any, placed: list[Any] = placed) -> None:
            placed.extend(
                (token, float(tm[4]), float(tm[5])) for token in text.split() if token.startswith("S-")
            )

        page.extract_text(visitor_text=visit)
        assert all(0 < x < width and 0 < y < height for _, x, y in placed), "a row is drawn off the page"
        seen.extend(text for text, _, _ in placed)
    assert seen == [f"S-{r:05d}" for r in range(3000)]
