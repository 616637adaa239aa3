"""Protocol ingestion: read a sponsor protocol (PDF or DOCX), extract grounded requirements (every
item cites its source span) and export them as USDM 4.0."""

from limsai.protocols.extract import extract
from limsai.protocols.models import (
    Ambiguity,
    AmbiguityKind,
    Citation,
    Item,
    ItemKind,
    ProtocolReadError,
    ProtocolRequirements,
    ScheduleEntry,
    SourceDocument,
)
from limsai.protocols.source import ReadLimits, read_protocol, read_protocol_file

__all__ = [
    "Ambiguity",
    "AmbiguityKind",
    "Citation",
    "Item",
    "ItemKind",
    "ProtocolReadError",
    "ProtocolRequirements",
    "ReadLimits",
    "ScheduleEntry",
    "SourceDocument",
    "extract",
    "read_protocol",
    "read_protocol_file",
]
