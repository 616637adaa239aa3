"""Reading a protocol file of either format: limits, format detection and the dispatch to the PDF
or DOCX reader, so that callers (CLI, step, benchmark) hand over bytes and get a
:class:`SourceDocument` or a typed :class:`ProtocolReadError`, never a partial document."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from limsai.protocols.models import ProtocolReadError, SourceDocument

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class ReadLimits:
    """The largest file a reader accepts (bytes and pages); bigger files are refused as oversized."""

    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 1000


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check_size(content: bytes, limits: ReadLimits) -> None:
    if not content:
        raise ProtocolReadError("empty", "the file has no content")
    if len(content) > limits.max_bytes:
        raise ProtocolReadError("oversized", f"{len(content)} bytes exceed the limit of {limits.max_bytes}")


def media_type_of(content: bytes, name: str = "") -> str:
    """PDF or DOCX from the file's magic bytes (the name only breaks ties)."""
    if content.startswith(b"%PDF"):
        return PDF
    if content.startswith(b"PK"):
        return DOCX
    if content.startswith(OLE_MAGIC):
        raise ProtocolReadError(
            "encrypted", "an OLE compound file: a password-protected DOCX or a legacy .doc, which is not read"
        )
    if not content:
        raise ProtocolReadError("empty", "the file has no content")
    suffix = Path(name).suffix.lower()
    kind = {".pdf": "a PDF", ".docx": "a DOCX"}.get(suffix)
    if kind:
        raise ProtocolReadError("corrupt", f"{name} is named as {kind} but its content is not one")
    raise ProtocolReadError("unsupported", f"{name or 'the file'} is neither a PDF nor a DOCX")


def read_protocol(content: bytes, name: str = "protocol", limits: ReadLimits | None = None) -> SourceDocument:
    """Read a PDF or DOCX protocol from its bytes."""
    limits = limits or ReadLimits()
    check_size(content, limits)
    if media_type_of(content, name) == PDF:
        from limsai.protocols.read_pdf import read_pdf

        return read_pdf(content, name, limits)
    from limsai.protocols.read_docx import read_docx

    return read_docx(content, name, limits)


def read_protocol_file(path: Path, limits: ReadLimits | None = None) -> SourceDocument:
    if not path.is_file():
        raise ProtocolReadError("missing", f"{path}: no such file")
    return read_protocol(path.read_bytes(), path.name, limits)


def locate(text: str, needle: str, start: int = 0) -> tuple[int, int] | None:
    """Where ``needle`` occurs in ``text`` from ``start`` (exactly, else with any whitespace between
    its words), or None."""
    needle = needle.strip()
    if not needle:
        return None
    at = text.find(needle, start)
    if at < 0 and start:
        at = text.find(needle, 0)
    if at >= 0:
        return at, at + len(needle)
    words = needle.split()
    pattern = re.compile(r"\s*".join(re.escape(w) for w in words))
    m = pattern.search(text, start) or pattern.search(text)
    return (m.start(), m.end()) if m else None
