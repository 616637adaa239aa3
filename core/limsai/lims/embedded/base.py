"""Query helpers shared by the embedded LIMS's read and write sides: scope filters, keyset paging
and chunked ``IN`` lookups. Every scoped read goes through :meth:`StoreBase._rows`, so the scope is
always a SQL filter and every read is paged."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from limsai.lims.embedded.connection import Database
from limsai.lims.port import Scope

IN_CHUNK = 500


def scope_clause(scope: Scope | None, **equal: str | None) -> tuple[str, tuple[Any, ...]]:
    """SQL condition and parameters for ``scope`` plus ``column = value`` filters (``None`` = any)."""
    filters: dict[str, str | None] = {}
    if scope is not None:
        filters = {"sponsor_id": scope.sponsor_id, "study_id": scope.study_id}
    used = {column: value for column, value in {**filters, **equal}.items() if value is not None}
    clause = " AND ".join(f"{column} = ?" for column in used) or "1 = 1"
    return clause, tuple(used.values())


class StoreBase:
    """The SQLite file, its page size, and the paged/chunked query helpers."""

    def __init__(self, db: Database, page_size: int) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.db = db
        self.page_size = page_size

    def _rows(
        self, table: str, scope: Scope | None, order_col: str = "pk", **equal: str | None
    ) -> Iterator[tuple[Any, str]]:
        """``(order key, data)`` of every row of ``table`` in ``scope``, one query per page
        (keyset paging on ``order_col``)."""
        clause, params = scope_clause(scope, **equal)
        sql = f"SELECT {order_col}, data FROM {table} WHERE {clause} AND {order_col} > ? "
        sql += f"ORDER BY {order_col} LIMIT ?"
        last = -1
        while True:
            rows = self.db.query(sql, (*params, last, self.page_size))
            yield from rows
            if len(rows) < self.page_size:
                return
            last = rows[-1][0]

    def _in_chunks(self, sql: str, ids: Iterable[str]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (with a ``{marks}`` placeholder for an ``IN`` list) over ``ids`` in chunks."""
        wanted = sorted(set(ids))
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            out.extend(self.db.query(sql.format(marks=",".join("?" * len(chunk))), chunk))
        return out
