"""PDF renderer of a data package (reportlab, built-in Helvetica; no system packages).

Order: title, subtitle, draft notice, summary, each table, flags, QC statement, signature blocks.
The short front and back matter is set with platypus paragraphs. Data tables can hold tens of
thousands of rows, and a platypus table of paragraphs lays out every cell on its own (about 2.5 ms a
cell), so tables are drawn by :class:`_Grid`: column widths fixed once per table from the widest
heading and cell, cells wider than their column wrapped on words (at most :data:`MAX_CELL_LINES`
lines, then cut with "…"), and every row written straight into the page's text object. The header
row repeats on every page; a table of more than :data:`LANDSCAPE_OVER` columns is set on landscape
pages. Every page carries the draft notice, the package name and the page number in its footer.

The output is deterministic: reportlab's ``invariant`` mode fixes the document ID, and the
creation/modification dates are ``generated_at``. Page streams are Flate-compressed without
reportlab's ASCII85 wrapping, whose pure-Python encoder would otherwise take most of the time.
"""

from __future__ import annotations

import io
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import accumulate
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab import rl_config  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

if TYPE_CHECKING:
    from limsai.packages.render import PackageContent, RenderedTable

LANDSCAPE_OVER = 6
MAX_CELL_LINES = 6
_MARGIN = 15 * mm
_FRAME_PADDING = 6  # platypus Frame default, on each side
_BLANK = "_" * 40

_STYLES = getSampleStyleSheet()
_NOTICE = ParagraphStyle(
    "notice", parent=_STYLES["BodyText"], textColor=colors.darkred, fontName="Helvetica-Bold"
)

_FONT, _BOLD = "Helvetica", "Helvetica-Bold"
_SIZE, _LEADING = 7.5, 9.0
_PAD_X, _PAD_Y = 2.0, 1.5
_ELLIPSIS = "…"
# The widest printable ASCII glyph of Helvetica (and Helvetica-Bold) is "@", 1015/1000 em: an ASCII
# cell of n characters is never wider than n times this.
_MAX_GLYPH = 1.015 * _SIZE
# Helvetica's figures all have the same width, so mapping every digit to "0" keeps a string's width
# and lets "S000123" and "S000124" share one measurement.
_SAME_WIDTH = str.maketrans("123456789", "000000000")
_PDF_ESCAPE = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)"})
_LINE_BREAK = re.compile(r"\r\n?|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RL_CONFIG = threading.Lock()


class _Measure:
    """Cached text widths in one font at the cell size."""

    def __init__(self, font: str) -> None:
        self.font = font
        self._ascii = [w * _SIZE / 1000 for w in getFont(font).widths[:128]]
        self._cache: dict[str, float] = {}

    def __call__(self, text: str) -> float:
        key = text.translate(_SAME_WIDTH)
        width = self._cache.get(key)
        if width is None:
            if key.isascii():
                width = sum(map(self._ascii.__getitem__, key.encode("ascii")))
            else:
                width = float(stringWidth(key, self.font, _SIZE))
            self._cache[key] = width
        return width


def _wrap(text: str, inner: float, measure: _Measure) -> list[str]:
    """``text`` in lines no wider than ``inner``: broken at newlines, then spaces, then anywhere."""
    lines: list[str] = []
    for part in _LINE_BREAK.split(text):
        line = ""
        for word in part.split(" "):
            candidate = f"{line} {word}" if line else word
            if measure(candidate) <= inner:
                line = candidate
                continue
            if line:
                lines.append(line)
            while measure(word) > inner and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut]) > inner:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    if len(lines) > MAX_CELL_LINES:
        last = lines[MAX_CELL_LINES - 1]
        while last and measure(last + _ELLIPSIS) > inner:
            last = last[:-1]
        lines = [*lines[: MAX_CELL_LINES - 1], last + _ELLIPSIS]
    return lines


def _widths(
    table: RenderedTable, available: float, body: _Measure, head: _Measure
) -> tuple[list[float], list[bool]]:
    """Column widths, and whether each was narrowed: each column's widest cell or heading, capped
    evenly when they do not fit, and stretched to ``available`` when they do."""
    natural = []
    for column, heading in enumerate(table.headings):
        shapes = {cell.translate(_SAME_WIDTH) for cell in {row[column] for row in table.rows}}
        widest = max((max(map(body, _LINE_BREAK.split(line))) for line in shapes), default=0.0)
        natural.append(max(widest, max(map(head, _LINE_BREAK.split(heading)))) + 2 * _PAD_X)
    total = sum(natural)
    if total <= available:
        return [width * available / total for width in natural], [False] * len(natural)
    cap, remaining = available / len(natural), available
    for index, width in enumerate(sorted(natural)):
        left = len(natural) - index
        if width * left > remaining:
            cap = remaining / left
            break
        remaining -= width
    return [min(width, cap) for width in natural], [width > cap for width in natural]


def _literal(text: str) -> str | None:
    """``text`` as a PDF string for a WinAnsi-encoded built-in font, or ``None`` if it has
    characters outside that encoding (those are drawn by reportlab, which substitutes fonts)."""
    if text.isascii() and text.isprintable():
        return f"({text.translate(_PDF_ESCAPE)})"
    text = _CONTROL.sub("", text.replace("\t", " "))
    try:
        encoded = text.encode("cp1252")
    except UnicodeEncodeError:
        return None
    chars = (chr(byte) if 32 <= byte < 127 and byte not in b"\\()" else f"\\{byte:03o}" for byte in encoded)
    return f"({''.join(chars)})"


class _Layout:
    """One table measured once: column widths, wrapped cells and the height of every row."""

    def __init__(self, table: RenderedTable, available: float) -> None:
        body, head = _Measure(_FONT), _Measure(_BOLD)
        self.rows = table.rows
        self.widths, narrowed = _widths(table, available, body, head)
        self.lefts = list(accumulate(self.widths, initial=0.0))
        self.xs = [f"{left + _PAD_X:.2f}" for left in self.lefts[:-1]]
        inner = [width - 2 * _PAD_X for width in self.widths]
        self.head = [_wrap(heading, room, head) for heading, room in zip(table.headings, inner, strict=True)]
        self.head_height = self._height(max(map(len, self.head)))
        # Only cells of narrowed columns, or holding a line break, can need more than one line.
        suspect = [
            (column, room, room / _MAX_GLYPH)
            for column, room in enumerate(inner)
            if narrowed[column] or _LINE_BREAK.search("".join(row[column] for row in table.rows))
        ]
        self.wrapped: dict[int, list[list[str]]] = {}
        single = self._height(1)
        heights = [single] * len(table.rows)
        for index, row in enumerate(table.rows) if suspect else ():
            if any(
                (len(row[column]) > fits and body(row[column]) > room) or _LINE_BREAK.search(row[column])
                for column, room, fits in suspect
            ):
                cells = [_wrap(cell, room, body) for cell, room in zip(row, inner, strict=True)]
                self.wrapped[index] = cells
                heights[index] = self._height(max(map(len, cells)))
        self.tops = list(accumulate(heights, initial=0.0))  # tops[i]: rows above row i, in points

    @staticmethod
    def _height(lines: int) -> float:
        return max(lines, 1) * _LEADING + 2 * _PAD_Y


class _Grid(Flowable):  # type: ignore[misc]
    """Rows ``start`` to ``stop`` of a laid-out table, under its header row; splits between rows."""

    def __init__(self, layout: _Layout, start: int, stop: int) -> None:
        super().__init__()
        self.layout, self.start, self.stop = layout, start, stop

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        tops = self.layout.tops
        self.width = self.layout.lefts[-1]
        self.height = self.layout.head_height + tops[self.stop] - tops[self.start]
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Any]:
        tops = self.layout.tops
        room = available_height - self.layout.head_height
        end = min(bisect_right(tops, tops[self.start] + room + 1e-6) - 1, self.stop)
        if end <= self.start:
            return []
        if end >= self.stop:
            return [self]
        return [_Grid(self.layout, self.start, end), _Grid(self.layout, end, self.stop)]

    def draw(self) -> None:
        layout, canvas = self.layout, self.canv
        width, top = self.width, self.height
        bottom = top - layout.head_height - (layout.tops[self.stop] - layout.tops[self.start])
        canvas.setFillColor(colors.lightgrey)
        canvas.rect(0, top - layout.head_height, width, layout.head_height, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        canvas.setStrokeColor(colors.grey)
        canvas.setLineWidth(0.25)
        canvas.setFont(_BOLD, _SIZE)  # both fonts join the document's resources
        canvas.setFont(_FONT, _SIZE)
        code = [f"BT {canvas._doc.getInternalFontName(_BOLD)} {_SIZE} Tf"]
        slow: list[tuple[str, float, float, str]] = []
        first = top - _PAD_Y - 0.9 * _SIZE  # baseline of a row's first line, below its top
        self._lines(code, slow, _BOLD, first, layout.head)
        code.append(f"{canvas._doc.getInternalFontName(_FONT)} {_SIZE} Tf")
        rules = [f"0 {top:.2f} m {width:.2f} {top:.2f} l"]
        tops, wrapped, xs, y = layout.tops, layout.wrapped, layout.xs, top - layout.head_height
        offset = y + tops[self.start]  # row_top = y - (tops[index] - tops[start])
        for index in range(self.start, self.stop):
            row_top = offset - tops[index]
            rules.append(f"0 {row_top:.2f} m {width:.2f} {row_top:.2f} l")
            lines = wrapped.get(index)
            if lines is not None:
                self._lines(code, slow, _FONT, row_top - (top - first), lines)
                continue
            baseline = f"{row_top - (top - first):.2f}"
            for x, cell in zip(xs, layout.rows[index], strict=True):
                if cell.isascii() and cell.isprintable():
                    if "(" in cell or ")" in cell or "\\" in cell:
                        cell = cell.translate(_PDF_ESCAPE)
                    if cell:
                        code.append(f"1 0 0 1 {x} {baseline} Tm ({cell}) Tj")
                else:
                    self._lines(code, slow, _FONT, float(baseline), [[cell]], [x])
        code.append("ET")
        rules.append(f"0 {bottom:.2f} m {width:.2f} {bottom:.2f} l")
        rules.extend(f"{x:.2f} {top:.2f} m {x:.2f} {bottom:.2f} l" for x in layout.lefts)
        code.append(" ".join(rules) + " S")
        canvas.addLiteral("\n".join(code))
        for font, left, at, text in slow:
            canvas.setFont(font, _SIZE)
            canvas.drawString(left, at, text)

    def _lines(
        self,
        code: list[str],
        slow: list[tuple[str, float, float, str]],
        font: str,
        first: float,
        cells: list[list[str]],
        xs: list[str] | None = None,
    ) -> None:
        """Each cell's lines, from the baseline ``first``; text outside WinAnsi goes to ``slow``."""
        for x, lines in zip(xs or self.layout.xs, cells, strict=True):
            for number, line in enumerate(lines):
                baseline = first - number * _LEADING
                literal = _literal(line)
                if literal is None:
                    slow.append((font, float(x), baseline, line))
                elif line:
                    code.append(f"1 0 0 1 {x} {baseline:.2f} Tm {literal} Tj")


def _table(table: RenderedTable, width: float) -> list[Any]:
    flow: list[Any] = [_p(table.title, _STYLES["Heading2"])]
    if not table.headings:
        return [*flow, _p("(no columns)", _STYLES["BodyText"])]
    if not table.rows:
        flow.append(_p("(no rows)", _STYLES["BodyText"]))
    layout = _Layout(table, width - 2 * _FRAME_PADDING)
    return [*flow, _Grid(layout, 0, len(table.rows)), Spacer(1, 4 * mm)]


@contextmanager
def _flate_only() -> Iterator[None]:
    """Within the block, reportlab writes Flate streams without ASCII85 (a process-wide setting,
    so renders take turns; the setting is restored afterwards)."""
    with _RL_CONFIG:
        saved = rl_config.useA85
        rl_config.useA85 = 0
        try:
            yield
        finally:
            rl_config.useA85 = saved


def _p(text: str, style: ParagraphStyle) -> Any:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


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
    notice = content.draft_notice
    identity = f"{content.package_name} | generated {content.generated_label}"

    def on_page(canvas: Any, doc: Any) -> None:
        # Two footer lines (the notice; the package and its time), so a long package name never
        # runs into the page number on a portrait page.
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(_MARGIN, 10.5 * mm, notice)
        canvas.drawString(_MARGIN, 7.5 * mm, identity)
        width = (doc.pageTemplate.pagesize or doc.pagesize)[0]  # this page's, landscape or not
        canvas.drawRightString(width - _MARGIN, 7.5 * mm, f"Page {doc.page}")
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

    with _flate_only():
        doc.build(story, canvasmaker=build_canvas)
    return buffer.getvalue()
