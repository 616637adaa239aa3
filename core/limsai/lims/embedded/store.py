"""The embedded reference LIMS: a real SQLite store implementing the whole LIMS port.

It is the default LIMS of the demo and the tests, and the store the vendor simulators serve over
their wire protocols. Reads are filtered by scope in SQL and paged by keyset (``pk > last``), so a
100,000-result study costs ``ceil(n / page_size)`` queries. Every write also appends to the LIMS's
own audit trail (``lims_audit``, append-only by trigger).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from limsai.lims.embedded.base import scope_clause
from limsai.lims.embedded.connection import BUSY_TIMEOUT_S, Database
from limsai.lims.embedded.releasing import ReleaseMixin
from limsai.lims.embedded.schema import DDL, ENTITIES, SCHEMA_VERSION, Entity
from limsai.lims.errors import LimsRejected, NotFound
from limsai.lims.port import ALL_CAPABILITIES, Capability, Scope, StudyScope
from limsai.model import (
    AuditEvent,
    Calibration,
    Condition,
    Deviation,
    Instrument,
    KnownRecords,
    LimsAuditEntry,
    LimsDataset,
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

M = TypeVar("M", bound=BaseModel)
DEFAULT_PAGE_SIZE = 1000


class EmbeddedLims(ReleaseMixin):
    """limsai's reference LIMS on one SQLite file (``DIR/lims.db`` by convention)."""

    vendor = "embedded"

    def __init__(
        self,
        path: Path | str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        name: str = "embedded",
        busy_timeout: float = BUSY_TIMEOUT_S,
    ):
        super().__init__(Database(Path(path), DDL, busy_timeout), page_size)
        self._name = name
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)

    # -- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> frozenset[Capability]:
        return ALL_CAPABILITIES

    @property
    def query_count(self) -> int:
        """SELECT statements run so far (paging tests read it)."""
        return self.db.queries

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EmbeddedLims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- helpers --------------------------------------------------------------------------------
    def _list(self, entity: Entity, model: type[M], scope: Scope) -> list[M]:
        return [model.model_validate_json(data) for _, data in self._rows(entity.table, scope)]

    def _by_ids(self, entity: Entity, model: type[M], ids: Iterable[str]) -> list[M]:
        rows = self._in_chunks(f"SELECT data FROM {entity.table} WHERE id IN ({{marks}}) ORDER BY pk", ids)
        return [model.model_validate_json(r[0]) for r in rows]

    def _distinct_in_results(self, column: str, scope: Scope) -> list[str]:
        clause, params = scope_clause(scope)
        sql = f"SELECT DISTINCT {column} FROM results WHERE {clause} AND {column} IS NOT NULL"
        return [r[0] for r in self.db.query(sql, params)]

    # -- port reads ---------------------------------------------------------------------------
    def list_studies(self, scope: Scope) -> list[Study]:
        return self._list(ENTITIES["studies"], Study, scope)

    def get_study(self, scope: StudyScope) -> Study:
        studies = self.list_studies(scope)
        if not studies:
            raise NotFound(f"study {scope.study_id} not found for sponsor {scope.sponsor_id}")
        return studies[0]

    def list_conditions(self, scope: Scope) -> list[Condition]:
        return self._list(ENTITIES["conditions"], Condition, scope)

    def list_timepoints(self, scope: Scope) -> list[Timepoint]:
        return self._list(ENTITIES["timepoints"], Timepoint, scope)

    def list_samples(self, scope: Scope) -> list[Sample]:
        return self._list(ENTITIES["samples"], Sample, scope)

    def list_tests(self, scope: Scope) -> list[Test]:
        return self._list(ENTITIES["tests"], Test, scope)

    def list_results(self, scope: Scope) -> list[Result]:
        return self._list(ENTITIES["results"], Result, scope)

    def list_specifications(self, scope: Scope) -> list[Specification]:
        return self._list(ENTITIES["specifications"], Specification, scope)

    def list_deviations(self, scope: Scope) -> list[Deviation]:
        return self._list(ENTITIES["deviations"], Deviation, scope)

    def list_instruments(self, scope: Scope) -> list[Instrument]:
        ids = self._distinct_in_results("instrument_id", scope)
        return self._by_ids(ENTITIES["instruments"], Instrument, ids)

    def list_calibrations(self, scope: Scope) -> list[Calibration]:
        ids = self._distinct_in_results("instrument_id", scope)
        rows = self._in_chunks(
            "SELECT data FROM calibrations WHERE instrument_id IN ({marks}) ORDER BY pk", ids
        )
        return [Calibration.model_validate_json(r[0]) for r in rows]

    def list_reagent_lots(self, scope: Scope) -> list[ReagentLot]:
        ids = self._distinct_in_results("reagent_lot_id", scope)
        return self._by_ids(ENTITIES["reagent_lots"], ReagentLot, ids)

    def list_audit_trail(self, scope: Scope, record_id: str | None = None) -> list[LimsAuditEntry]:
        rows = self._rows("lims_audit", scope, order_col="entry_id", record_id=record_id)
        return [
            LimsAuditEntry.model_validate({**json.loads(data), "entry_id": entry_id})
            for entry_id, data in rows
        ]

    def get_user(self, user_id: str) -> Principal:
        found = self._by_ids(ENTITIES["users"], Principal, [user_id])
        if not found:
            raise NotFound(f"user {user_id!r} not found")
        return found[0]

    def list_users(self) -> list[Principal]:
        return [Principal.model_validate_json(data) for _, data in self._rows("users", None)]

    def list_sponsors(self) -> list[Sponsor]:
        """Every sponsor (administration and the CLI; steps never list across sponsors)."""
        return [Sponsor.model_validate_json(data) for _, data in self._rows("sponsors", None)]

    def count(self, table: str, scope: Scope | None = None) -> int:
        """Number of records of one kind, optionally within a scope."""
        clause, params = scope_clause(scope if ENTITIES[table].scoped else None)
        return int(self.db.query(f"SELECT count(*) FROM {table} WHERE {clause}", params)[0][0])

    # -- what the LIMS already holds (import and load checks) ------------------------------------
    def study_sponsors(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.query("SELECT id, sponsor_id FROM studies")}

    def sponsor_ids(self) -> set[str]:
        return {r[0] for r in self.db.query("SELECT id FROM sponsors")}

    def user_ids(self) -> set[str]:
        return {r[0] for r in self.db.query("SELECT id FROM users")}

    def existing_ids(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` already exist among records of ``kind`` (a table name)."""
        if kind not in ENTITIES:
            raise ValueError(f"unknown record kind {kind!r}")
        return {r[0] for r in self._in_chunks(f"SELECT id FROM {kind} WHERE id IN ({{marks}})", ids)}

    # -- bulk load ----------------------------------------------------------------------------------
    def load(self, dataset: LimsDataset, *, actor: str, reason: str = "") -> dict[str, int]:
        """Store every record of ``dataset`` in one transaction, or nothing.

        Raises :class:`LimsRejected` listing the problems (integrity, ids already present)."""
        problems = dataset.problems(self._known(dataset))
        for table, entity in ENTITIES.items():
            records = getattr(dataset, table)
            clash = self.existing_ids(table, (getattr(r, entity.key) for r in records))
            problems += [f"{table[:-1]} {key!r} already exists in the LIMS" for key in sorted(clash)[:10]]
        if problems:
            raise LimsRejected("cannot load: " + "; ".join(problems))
        counts = {table: len(getattr(dataset, table)) for table in ENTITIES}
        with self.db.write() as conn:
            for table, entity in ENTITIES.items():
                records = getattr(dataset, table)
                if records:
                    self._insert(conn, entity, records)
            for event in dataset.audit_trail:
                self._audit(conn, event)
            self._audit(
                conn,
                AuditEvent(
                    at=self._now(),
                    user_id=actor,
                    action="bulk_load",
                    record_type="dataset",
                    record_id="-",
                    reason=reason,
                    details={k: v for k, v in counts.items() if v},
                ),
            )
        return counts

    def _known(self, ds: LimsDataset) -> KnownRecords:
        """The stored records ``ds`` refers to but does not carry itself."""
        return KnownRecords(
            sponsors=frozenset(self.sponsor_ids()),
            studies=self.study_sponsors(),
            users=frozenset(self.user_ids()),
            instruments=frozenset(self.existing_ids("instruments", self._refs(ds, "instrument_id"))),
            reagent_lots=frozenset(self.existing_ids("reagent_lots", self._refs(ds, "reagent_lot_id"))),
            conditions=frozenset(self.existing_ids("conditions", self._refs(ds, "condition_id"))),
            timepoints=frozenset(self.existing_ids("timepoints", self._refs(ds, "timepoint_id"))),
            samples=self._column_of("samples", "study_id", self._refs(ds, "sample_id")),
            tests=self._column_of("tests", "sample_id", self._refs(ds, "test_id")),
        )

    @staticmethod
    def _refs(ds: LimsDataset, attribute: str) -> set[str]:
        """Every value of ``attribute`` in the bundle's scoped records (the ids they refer to)."""
        refs: set[str] = set()
        for table in ("timepoints", "samples", "tests", "results", "calibrations"):
            refs.update(v for r in getattr(ds, table) if (v := getattr(r, attribute, None)) is not None)
        return refs

    def _column_of(self, table: str, column: str, ids: Iterable[str]) -> dict[str, str]:
        rows = self._in_chunks(f"SELECT id, {column} FROM {table} WHERE id IN ({{marks}})", ids)
        return {r[0]: r[1] for r in rows}

    @staticmethod
    def _insert(conn: Any, entity: Entity, records: list[BaseModel]) -> None:
        columns = ["id", *(["sponsor_id", "study_id"] if entity.scoped else []), *entity.extra, "data"]
        marks = ",".join("?" * len(columns))
        sql = f"INSERT INTO {entity.table} ({','.join(columns)}) VALUES ({marks})"

        def row(record: Any) -> tuple[Any, ...]:
            values: list[Any] = [getattr(record, entity.key)]
            if entity.scoped:
                values += [record.sponsor_id, record.study_id]
            values += [getattr(record, column) for column in entity.extra]
            values.append(record.model_dump_json())
            return tuple(values)

        conn.executemany(sql, (row(r) for r in records))
