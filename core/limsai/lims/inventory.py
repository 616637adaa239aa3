"""What a LIMS holds, study by study: the rows ``limsai studies`` and ``limsai demo`` print.

Counts are single ``count(*)`` queries per study, never a read of the records themselves.
"""

from __future__ import annotations

from pydantic import BaseModel

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import Scope
from limsai.model import Milestone, StudyPhase, StudyType


class StudyRow(BaseModel):
    """One study as the inventory lists it."""

    study_id: str
    sponsor_id: str
    sponsor_name: str
    protocol_number: str
    title: str
    study_type: StudyType
    phase: StudyPhase
    study_director: str | None
    study_director_name: str | None
    milestones: list[Milestone]
    samples: int
    tests: int
    results: int


def study_rows(lims: EmbeddedLims) -> list[StudyRow]:
    """Every study of every sponsor, ordered by sponsor then study id."""
    users = {u.user_id: u for u in lims.list_users()}
    rows: list[StudyRow] = []
    for sponsor in sorted(lims.list_sponsors(), key=lambda s: s.sponsor_id):
        for study in sorted(
            lims.list_studies(Scope(sponsor_id=sponsor.sponsor_id)), key=lambda s: s.study_id
        ):
            scope = Scope(sponsor_id=sponsor.sponsor_id, study_id=study.study_id)
            director = users.get(study.study_director) if study.study_director else None
            rows.append(
                StudyRow(
                    study_id=study.study_id,
                    sponsor_id=sponsor.sponsor_id,
                    sponsor_name=sponsor.name,
                    protocol_number=study.protocol_number,
                    title=study.title,
                    study_type=study.study_type,
                    phase=study.phase,
                    study_director=study.study_director,
                    study_director_name=director.display_name if director else None,
                    milestones=list(study.milestones),
                    samples=lims.count("samples", scope),
                    tests=lims.count("tests", scope),
                    results=lims.count("results", scope),
                )
            )
    return rows
