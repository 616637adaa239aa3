"""The PDF reader: pypdf text per page, plus positioned fragments for the table finder.

Each page's text is pypdf's plain extraction, kept exactly (citations index into it). The same pass
records every fragment's position so :mod:`limsai.protocols.pdf_tables` can rebuild schedule tables
whose columns the plain text loses. Encrypted, corrupt, empty, image-only and oversized files are
refused with a :class:`ProtocolReadError`; pages without text in an otherwise readable file are
reported as warnings.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Any

from limsai.protocols.models import ProtocolReadError, SourceDocument, SourcePage
from limsai.protocols.pdf_tables import Fragment, find_tables
from limsai.protocols.source import PDF, ReadLimits, check_size, sha256


def read_pdf(content: bytes, name: str = "protocol.pdf", limits: ReadLimits | None = None) -> SourceDocument:
    """Read a PDF protocol (see the module docstring)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    limits = limits or ReadLimits()
    check_size(content, limits)
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise ProtocolReadError(
                "encrypted", f"{name} is encrypted; ask the sponsor for an unprotected copy"
            )
        count = len(reader.pages)
    except ProtocolReadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ProtocolReadError("corrupt", f"{name} is not a readable PDF ({exc})") from exc
    if count == 0:
        raise ProtocolReadError("empty", f"{name} has no pages")
    if count > limits.max_pages:
        raise ProtocolReadError(
            "oversized", f"{name} has {count} pages, more than the limit of {limits.max_pages}"
        )
    pages: list[SourcePage] = []
    blank: list[int] = []
    for number, page in enumerate(reader.pages, start=1):
        fragments: list[Fragment] = []

        def visit(
            text: str, cm: Any, tm: Any, font: Any, size: Any, sink: list[Fragment] = fragments
        ) -> None:
            if text and text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                scale = math.hypot(tm[0], tm[1]) * (math.hypot(cm[0], cm[1]) or 1.0)
                sink.append(Fragment(x=float(x), y=float(y), size=float(size or 1) * float(scale), text=text))

        try:
            text = page.extract_text(visitor_text=visit)
        except Exception as exc:  # pypdf raises many types on damaged content streams
            raise ProtocolReadError("corrupt", f"{name} page {number} cannot be read ({exc})") from exc
        if not text.strip():
            blank.append(number)
        pages.append(SourcePage(number=number, text=text, tables=find_tables(fragments, text)))
    if len(blank) == count:
        raise ProtocolReadError("image_only", f"{name} has no text layer (scanned images?); OCR it first")
    warnings = [f"pages without text (images only?): {', '.join(map(str, blank))}"] if blank else []
    return SourceDocument(sha256=sha256(content), name=name, media_type=PDF, pages=pages, warnings=warnings)
