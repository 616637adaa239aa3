"""An in-memory audit sink for tests of code that writes audit records."""

from __future__ import annotations

from limsai.governance.audit_record import AuditRecord


class ListAuditSink:
    """Keeps every appended :class:`AuditRecord` in order."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> AuditRecord:
        self.records.append(record)
        return record

    def actions(self) -> list[str]:
        return [r.action for r in self.records]

    def dump(self) -> str:
        """Every record as JSON, one per line (for leak checks)."""
        return "\n".join(r.model_dump_json() for r in self.records)
