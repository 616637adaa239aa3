"""PDFs the reader must refuse: encrypted, image-only (no text layer) and oversized."""

from __future__ import annotations

import io

import pytest

from limsai.protocols import ProtocolReadError, ReadLimits, corpus, read_protocol


def _blank_pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf_refused() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(corpus.to_pdf(corpus.stability()))))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ProtocolReadError, match=r"^encrypted") as info:
        read_protocol(out.getvalue(), "locked.pdf")
    assert info.value.problem == "encrypted"


def test_image_only_pdf_refused() -> None:
    with pytest.raises(ProtocolReadError, match=r"^image_only"):
        read_protocol(_blank_pdf(2), "scan.pdf")


def test_oversized_refused_by_bytes_and_pages() -> None:
    content = corpus.to_pdf(corpus.stability(filler_pages=3))
    with pytest.raises(ProtocolReadError, match=r"^oversized"):
        read_protocol(content, "big.pdf", ReadLimits(max_bytes=100))
    with pytest.raises(ProtocolReadError, match=r"^oversized"):
        read_protocol(content, "big.pdf", ReadLimits(max_pages=1))


def test_blank_pages_warn_but_read() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(corpus.to_pdf(corpus.stability()))))
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    doc = read_protocol(out.getvalue(), "mixed.pdf")
    assert doc.warnings and str(len(doc.pages)) in doc.warnings[0]
