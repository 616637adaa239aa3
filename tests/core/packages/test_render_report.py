"""The report renderer writes headings, paragraphs, figures and tables in order, opens in python-docx,
and gives the same bytes for the same content."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from limsai.packages.render import DRAFT_NOTICE, RenderedTable
from limsai.packages.render_report import Figure, ReportContent, ReportSection, render_report_docx


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def content() -> ReportContent:
    return ReportContent(
        title="Stability report draft",
        subtitle="AUR-STB-014",
        generated_at=datetime(2026, 6, 30, 12, tzinfo=UTC),
        sections=(
            ReportSection(
                heading="Assay at 25°C/60%RH",
                paragraphs=("Shelf life 23.4 months (common slope).",),
                figures=(Figure(png=tiny_png(), caption="Figure 1. Assay trend"),),
                tables=(
                    RenderedTable(
                        name="oot", title="OOT", headings=("Batch", "Value"), rows=(("B1", "97.50"),)
                    ),
                ),
                subsections=(ReportSection(heading="Commentary", paragraphs=("Check the 9-month pull.",)),),
            ),
        ),
    )


def test_report_docx_holds_everything_in_order() -> None:
    from docx import Document

    data = render_report_docx(content())
    assert data == render_report_docx(content())
    doc = Document(io.BytesIO(data))
    texts = [p.text for p in doc.paragraphs if p.text]
    assert texts[0] == DRAFT_NOTICE
    wanted = (
        "Assay at 25°C/60%RH",
        "Shelf life 23.4 months (common slope).",
        "Figure 1. Assay trend",
        "OOT",
        "Commentary",
        "Check the 9-month pull.",
    )
    order = [texts.index(t) for t in wanted]
    assert order == sorted(order)
    assert len(doc.inline_shapes) == 1
    assert [[c.text for c in r.cells] for r in doc.tables[0].rows] == [["Batch", "Value"], ["B1", "97.50"]]


def test_a_figure_must_be_png_and_a_report_needs_a_section() -> None:
    with pytest.raises(ValidationError, match="PNG"):
        Figure(png=b"GIF89a", caption="x")
    with pytest.raises(ValidationError):
        ReportContent(title="t", subtitle="s", generated_at=datetime(2026, 1, 1, tzinfo=UTC), sections=())
    with pytest.raises(ValidationError, match="timezone"):
        ReportContent(
            title="t", subtitle="s", generated_at=datetime(2026, 1, 1), sections=(ReportSection(heading="h"),)
        )
