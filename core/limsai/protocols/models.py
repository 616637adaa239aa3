"""Pydantic models of protocol ingestion: the source document as read, citations into it, and the
structured requirements extracted from it.

Every extracted item must point at the text it came from, so the reader's output
(:class:`SourceDocument`) keeps each page's text exactly, and a :class:`Citation` is only ever
built from a span of that text (``quote == page.text[start:end]``). The deterministic extractor
and any later LLM extractor produce the same :class:`ProtocolRequirements`, so they can be compared.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ProtocolReadError(ValueError):
    """A protocol file cannot be read completely; ``problem`` names why (encrypted, corrupt, empty,
    image_only, oversized, unsupported)."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(f"{problem}: {message}")
        self.problem = problem


class Citation(BaseModel):
    """Where an item came from: a span of one page's text, with the quoted text itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    page: int = Field(ge=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    quote: str

    @model_validator(mode="after")
    def _span(self) -> Citation:
        if self.end < self.start or len(self.quote) != self.end - self.start:
            raise ValueError("a citation's quote must be exactly the text between start and end")
        return self


class TableCell(BaseModel):
    """One cell of a table; ``start``/``end`` locate its text in the page text when it was found."""

    model_config = ConfigDict(extra="forbid")

    text: str
    start: int | None = None
    end: int | None = None
    column: int = 0
    positional: bool = Field(
        default=True, description="False when the column was inferred from spacing rather than positions"
    )


class SourceTable(BaseModel):
    """A table as rows of cells; the first row is the header."""

    model_config = ConfigDict(extra="forbid")

    rows: list[list[TableCell]]


class SourcePage(BaseModel):
    """One page: its number (1-based), its exact text and the tables found on it."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    text: str
    tables: list[SourceTable] = Field(default_factory=list)


class SourceDocument(BaseModel):
    """A protocol file as read: content hash, pages and any problems that did not stop reading."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str
    media_type: str
    pages: list[SourcePage]
    warnings: list[str] = Field(default_factory=list)

    def page(self, number: int) -> SourcePage:
        return self.pages[number - 1]

    def cite(self, page: int, start: int, end: int) -> Citation:
        """The citation of ``page``'s text between ``start`` and ``end``."""
        text = self.page(page).text
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"span {start}:{end} is outside page {page}")
        return Citation(document_sha256=self.sha256, page=page, start=start, end=end, quote=text[start:end])


class ItemKind(StrEnum):
    PROTOCOL_NUMBER = "protocol_number"
    IDENTIFIER = "identifier"
    SPONSOR = "sponsor"
    PHASE = "phase"
    TITLE = "title"
    OBJECTIVE = "objective"
    ENDPOINT = "endpoint"
    ACTIVITY = "activity"
    ENCOUNTER = "encounter"
    PK_TIMEPOINT = "pk_timepoint"
    TEST_METHOD = "test_method"
    MATRIX = "matrix"
    STORAGE = "storage"
    STABILITY_CONDITION = "stability_condition"
    PULL_POINT = "pull_point"
    ACCEPTANCE = "acceptance_criterion"
    DELIVERABLE = "deliverable"


class Item(BaseModel):
    """One extracted value with its citation and a confidence (0-1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ItemKind
    value: str
    citation: Citation
    confidence: float = Field(ge=0, le=1)
    attributes: dict[str, str] = Field(default_factory=dict)


class ScheduleEntry(BaseModel):
    """An activity planned at an encounter (one ticked cell of a schedule of activities)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    activity: str
    encounter: str
    citation: Citation
    confidence: float = Field(ge=0, le=1)
    note: str = ""


class AmbiguityKind(StrEnum):
    TIMEPOINT_NOT_IN_TABLE = "timepoint_not_in_table"
    TIMEPOINT_NOT_IN_TEXT = "timepoint_not_in_text"
    CONFLICTING_STORAGE = "conflicting_storage"
    CONFLICTING_VALUE = "conflicting_value"
    UNCLEAR_REQUIREMENT = "unclear_requirement"
    NOT_STATED = "not_stated"
    INFERRED_LAYOUT = "inferred_table_layout"
    EMBEDDED_INSTRUCTION = "embedded_instruction"


class Ambiguity(BaseModel):
    """Something a human must decide: a contradiction, a gap or an unclear requirement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AmbiguityKind
    message: str
    citations: list[Citation] = Field(default_factory=list)


class ProtocolRequirements(BaseModel):
    """Everything extracted from one protocol; ``requirements`` holds tests, matrices, storage,
    stability, acceptance and deliverable items."""

    model_config = ConfigDict(extra="forbid")

    format: str = "limsai.protocol-requirements/1"
    extractor: str
    document_sha256: str
    document_name: str
    protocol_number: Item | None = None
    identifiers: list[Item] = Field(default_factory=list)
    sponsor: Item | None = None
    phase: Item | None = None
    titles: list[Item] = Field(default_factory=list)
    objectives: list[Item] = Field(default_factory=list)
    endpoints: list[Item] = Field(default_factory=list)
    activities: list[Item] = Field(default_factory=list)
    encounters: list[Item] = Field(default_factory=list)
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    pk_timepoints: list[Item] = Field(default_factory=list)
    requirements: list[Item] = Field(default_factory=list)
    ambiguities: list[Ambiguity] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def citations(self) -> list[Citation]:
        """Every citation the requirements carry (for checking them against the source)."""
        single = [i for i in (self.protocol_number, self.sponsor, self.phase) if i is not None]
        lists = [*self.identifiers, *self.titles, *self.objectives, *self.endpoints, *self.activities]
        lists += [*self.encounters, *self.pk_timepoints, *self.requirements]
        out = [i.citation for i in [*single, *lists]] + [s.citation for s in self.schedule]
        return out + [c for a in self.ambiguities for c in a.citations]

    def of_kind(self, kind: ItemKind) -> list[Item]:
        return [i for i in self.requirements if i.kind is kind]
