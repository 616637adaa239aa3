"""The import's entry points: :func:`read_csv_dataset` turns a file into the records it describes,
checked against what a LIMS holds; :func:`import_csv` loads them into a LIMS, all or nothing, and
returns an :class:`ImportSummary`."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from limsai.lims.csv_import.builder import Builder
from limsai.lims.csv_import.columns import OPTIONAL_COLUMNS, header_problems
from limsai.lims.csv_import.existing import RECORD_KINDS, ExistingLims, ImportTarget
from limsai.lims.csv_import.problems import CsvImportError, CsvProblem
from limsai.lims.csv_import.reader import decode, records
from limsai.model import LimsDataset, utcnow


class ImportSummary(BaseModel):
    """What an import wrote: records created per kind, and the sponsors and studies it touched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    rows: int
    created: dict[str, int]
    sponsors: tuple[str, ...]
    studies: tuple[str, ...]
    new_studies: tuple[str, ...]


def read_csv_dataset(
    path: Path | str, *, existing: ExistingLims | None = None, now: datetime | None = None
) -> LimsDataset:
    """The records a long CSV describes, checked against what ``existing`` holds (default: an empty
    LIMS). ``now`` (timezone-aware; default the clock) stamps the milestones the file records.
    Raises :class:`CsvImportError` listing the problems found."""
    path, existing, now = Path(path), existing or ExistingLims(), now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with _gc_paused():
        return _read(path, existing, now.astimezone(UTC))


def import_csv(
    lims: ImportTarget, path: Path | str, *, actor: str = "system:csv-import", now: datetime | None = None
) -> ImportSummary:
    """Read ``path`` against what ``lims`` holds and load it in one transaction, or nothing. Raises
    :class:`CsvImportError` for problems of the file and :class:`~limsai.lims.errors.LimsRejected`
    when the LIMS refuses the load."""
    path = Path(path)
    dataset = read_csv_dataset(path, existing=ExistingLims.of(lims), now=now)
    lims.load(dataset, actor=actor, reason=f"CSV import of {path.name}")
    counts = dataset.counts()
    return ImportSummary(
        path=str(path),
        rows=len(dataset.results),
        created={kind: counts[kind] for kind in ("sponsors", "users", "studies", *RECORD_KINDS)},
        sponsors=tuple(dict.fromkeys(r.sponsor_id for r in dataset.results)),
        studies=tuple(dict.fromkeys(r.study_id for r in dataset.results)),
        new_studies=tuple(study.study_id for study in dataset.studies),
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading creates several objects per row and no reference cycles; the cyclic collector would
    rescan the growing heap again and again (about 40% of the time for 100,000 rows)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(path: Path, existing: ExistingLims, now: datetime) -> LimsDataset:
    text, problems = decode(path)
    if text is None:
        raise CsvImportError(path, problems)
    rows = records(text, problems)
    first = next(rows, None)
    if first is None:
        raise CsvImportError(path, problems or [CsvProblem(1, None, "the file is empty")])
    header_line, header = first[0], [cell.lower() for cell in first[1]]
    problems += header_problems(header_line, header)
    if problems:
        raise CsvImportError(path, problems)
    builder, absent, count = Builder(existing, now), dict.fromkeys(OPTIONAL_COLUMNS, ""), 0
    for line, cells in rows:
        count += 1
        if len(cells) == len(header):
            builder.add(line, absent | dict(zip(header, cells, strict=True)))
        else:
            where = header[len(cells)] if len(cells) < len(header) else f"field {len(header) + 1}"
            builder.bad(line, where, f"{len(cells)} fields but the header has {len(header)}")
    builder.problems += problems
    if count == 0 and not builder.problems:
        builder.bad(header_line, None, "no data rows after the header")
    dataset = builder.finish()
    if builder.problems:
        raise CsvImportError(path, builder.problems)
    return dataset
