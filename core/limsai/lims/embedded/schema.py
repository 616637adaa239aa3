"""The embedded LIMS's SQLite schema.

Each record kind is one table holding the record as JSON (``data``, the domain model's exact
serialisation, so values such as "99.50" survive byte for byte) next to the key columns that reads
filter and page on: ``sponsor_id``/``study_id`` for scope, ``pk`` for keyset paging, plus the few
columns a scoped read joins on. Documents keep every version with its content and status; tasks
and signatures sit beside them; ``lims_audit`` is the LIMS's own append-only audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from limsai.model import (
    Calibration,
    Condition,
    Deviation,
    Instrument,
    Principal,
    ReagentLot,
    Result,
    Sample,
    Specification,
    Sponsor,
    Study,
    Test,
    Timepoint,
)

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Entity:
    """How one record kind is stored: its table, model, key field and extra indexed columns."""

    table: str
    model: type[BaseModel]
    key: str
    scoped: bool
    extra: tuple[str, ...] = ()


ENTITIES: dict[str, Entity] = {
    e.table: e
    for e in (
        Entity("sponsors", Sponsor, "sponsor_id", scoped=False),
        Entity("users", Principal, "user_id", scoped=False),
        Entity("studies", Study, "study_id", scoped=True),
        Entity("conditions", Condition, "condition_id", scoped=True),
        Entity("timepoints", Timepoint, "timepoint_id", scoped=True),
        Entity("samples", Sample, "sample_id", scoped=True),
        Entity("tests", Test, "test_id", scoped=True, extra=("sample_id",)),
        Entity("results", Result, "result_id", scoped=True, extra=("instrument_id", "reagent_lot_id")),
        Entity("specifications", Specification, "spec_id", scoped=True),
        Entity("instruments", Instrument, "instrument_id", scoped=False),
        Entity("calibrations", Calibration, "calibration_id", scoped=False, extra=("instrument_id",)),
        Entity("reagent_lots", ReagentLot, "lot_id", scoped=False),
        Entity("deviations", Deviation, "deviation_id", scoped=True),
    )
}


def _entity_ddl(entity: Entity) -> str:
    extra = "".join(f", {column} TEXT" for column in entity.extra)
    scope_cols = ", sponsor_id TEXT NOT NULL, study_id TEXT NOT NULL" if entity.scoped else ""
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {entity.table} (pk INTEGER PRIMARY KEY, "
        f"id TEXT NOT NULL UNIQUE{scope_cols}{extra}, data TEXT NOT NULL);\n"
    )
    if entity.scoped:
        ddl += (
            f"CREATE INDEX IF NOT EXISTS {entity.table}_scope ON {entity.table}(sponsor_id, study_id, pk);\n"
        )
    for column in entity.extra:
        ddl += f"CREATE INDEX IF NOT EXISTS {entity.table}_{column} ON {entity.table}({column});\n"
    return ddl


DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    + "".join(_entity_ddl(e) for e in ENTITIES.values())
    + """
CREATE TABLE IF NOT EXISTS documents (
    pk INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    sponsor_id TEXT NOT NULL,
    study_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL,
    content BLOB NOT NULL,
    UNIQUE (document_id, version)
);
CREATE INDEX IF NOT EXISTS documents_scope ON documents(sponsor_id, study_id, pk);
CREATE INDEX IF NOT EXISTS documents_name ON documents(study_id, name);
CREATE TABLE IF NOT EXISTS tasks (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sponsor_id TEXT NOT NULL,
    study_id TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_scope ON tasks(sponsor_id, study_id, pk);
CREATE TABLE IF NOT EXISTS signatures (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    sponsor_id TEXT NOT NULL,
    study_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signatures_scope ON signatures(sponsor_id, study_id, pk);
CREATE TABLE IF NOT EXISTS credentials (
    user_id TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS lims_audit (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sponsor_id TEXT,
    study_id TEXT,
    record_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lims_audit_scope ON lims_audit(sponsor_id, study_id, entry_id);
CREATE TRIGGER IF NOT EXISTS lims_audit_no_update BEFORE UPDATE ON lims_audit
BEGIN SELECT RAISE(ABORT, 'the LIMS audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS lims_audit_no_delete BEFORE DELETE ON lims_audit
BEGIN SELECT RAISE(ABORT, 'the LIMS audit trail is append-only'); END;
"""
)
