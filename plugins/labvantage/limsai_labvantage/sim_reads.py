"""The LabVantage simulator's SDC reads over the embedded reference store.

``GET /rest/sdc/<resource>`` takes ``keyid1`` (``;``-delimited for several keys), ``filter`` (an
equality conjunction, ``u_sponsorid = 'SPN-A' and u_studyid = 'STB-1'``), ``queryid`` (a saved query
with ``param1``… parameters; exclusive with ``keyid1``/``filter``), ``fields`` (comma-separated
columns) and paging ``startrow`` (1-based) / ``maxrows``. Every page is one SQL query on the store,
so a study's rows cost one store query per page, as a real LIMS database would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import LimsRejected, NotFound
from limsai_labvantage.sdcs import NULL_KEY, SPECS, Row, SdcSpec

MAX_ROWS = 5000
_CLAUSE = re.compile(r"\s*(\w+)\s*=\s*'((?:[^']|'')*)'\s*")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)

SAVED_QUERIES: dict[str, tuple[str, str]] = {
    # queryid: (resource, SQL condition on the resource's table; ? = param1 sponsor, param2 study)
    "LIMSAI_INSTRUMENTS_IN_SCOPE": ("instruments", "id IN (SELECT instrument_id FROM results WHERE {scope})"),
    "LIMSAI_CALIBRATIONS_IN_SCOPE": (
        "calibrations",
        "instrument_id IN (SELECT instrument_id FROM results WHERE {scope})",
    ),
    "LIMSAI_REAGENTLOTS_IN_SCOPE": (
        "reagentlots",
        "id IN (SELECT reagent_lot_id FROM results WHERE {scope})",
    ),
}
"""Saved queries the simulator knows; an admin creates the same queries in LabVantage (README)."""


def parse_filter(text: str) -> list[tuple[str, str]]:
    """``col = 'v' and col2 = 'it''s'`` → ``[("col", "v"), ("col2", "it's")]``; LimsRejected otherwise."""
    pairs: list[tuple[str, str]] = []
    for part in _AND.split(text.strip()):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise LimsRejected(f"unsupported filter clause {part!r}: use column = 'value' joined by and")
        pairs.append((match.group(1).lower(), match.group(2).replace("''", "'")))
    return pairs


def _order_column(spec: SdcSpec) -> str:
    return "entry_id" if spec.table == "lims_audit" else "pk"


def _key_sql_column(spec: SdcSpec) -> str:
    return spec.filterable.get("keyid1") or spec.filterable.get(spec.key_column) or "id"


def _where(spec: SdcSpec, params: Mapping[str, str]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    queryid = params.get("queryid")
    if queryid:
        if "keyid1" in params or "filter" in params:
            raise LimsRejected("queryid is exclusive with keyid1 and filter")
        saved = SAVED_QUERIES.get(queryid)
        if saved is None or saved[0] != spec.resource:
            raise NotFound(f"query {queryid!r} is not defined for {spec.resource}")
        sponsor, study = params.get("param1", ""), params.get("param2", NULL_KEY)
        scope = "sponsor_id = ?" + ("" if study in ("", NULL_KEY) else " AND study_id = ?")
        clauses.append(saved[1].format(scope=scope))
        values += [sponsor] + ([] if study in ("", NULL_KEY) else [study])
    if params.get("keyid1"):
        keys = params["keyid1"].split(";")
        clauses.append(f"{_key_sql_column(spec)} IN ({','.join('?' * len(keys))})")
        values += keys
    for column, value in parse_filter(params["filter"]) if params.get("filter") else []:
        sql_column = spec.filterable.get(column)
        if sql_column is None:
            allowed = ", ".join(sorted(spec.filterable)) or "none"
            raise LimsRejected(
                f"column {column!r} of {spec.resource} cannot be filtered on (allowed: {allowed})"
            )
        clauses.append(f"{sql_column} = ?")
        values.append(value)
    return " AND ".join(clauses) or "1 = 1", values


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        start = int(params.get("startrow", "1"))
        size = int(params.get("maxrows", str(MAX_ROWS)))
    except ValueError as exc:
        raise LimsRejected("startrow and maxrows must be whole numbers") from exc
    if start < 1 or not 1 <= size <= MAX_ROWS:
        raise LimsRejected(f"startrow must be at least 1 and maxrows between 1 and {MAX_ROWS}")
    return start, size


def render(spec: SdcSpec, data: Mapping[str, Any]) -> Row:
    """The LabVantage row of one stored record (TraceLog rows also say whether they were signed)."""
    row = spec.to_row(data)
    if spec.resource == "tracelog":
        row["tracelogdesc"] = f"{data.get('action', '')} {data.get('record_id', '')}".strip()
        row["signedflag"] = "Y" if data.get("action") == "e-signature" else "N"
    if spec.resource == "attachments":
        row["attachmentclass"] = "Draft"
        row["attachmentnum"] = str(attachment_number(str(data["document_id"])))
        row["type"] = "R"
    if spec.resource == "stabilityconditions":
        row["stabilityplanid"] = f"{data['study_id']}-P1"
    if spec.resource == "stabilitytimepoints":
        row["stabilityplanid"] = f"{data['study_id']}-P1"
    return row


def attachment_number(document_id: str) -> int:
    """The attachment number LabVantage shows for a document (its sequence in the store)."""
    digits = re.sub(r"\D", "", document_id)
    return int(digits) if digits else 0


def read_sdc(lims: EmbeddedLims, resource: str, params: Mapping[str, str]) -> dict[str, Any]:
    """One page of ``resource`` rows as the simulator answers ``GET /rest/sdc/<resource>``."""
    spec = SPECS.get(resource)
    if spec is None:
        raise NotFound(f"no SDC resource {resource!r}")
    where, values = _where(spec, params)
    start, size = _paging(params)
    order = _order_column(spec)
    select = "entry_id, data" if spec.table == "lims_audit" else f"{order}, data"
    sql = f"SELECT {select} FROM {spec.table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    rows = lims.db.query(sql, (*values, size + 1, start - 1))
    more = len(rows) > size
    out: list[Row] = []
    for order_key, data in rows[:size]:
        record = json.loads(data)
        if spec.table == "lims_audit":
            record["entry_id"] = order_key
        out.append(render(spec, record))
    fields = [f.strip().lower() for f in params.get("fields", "").split(",") if f.strip()]
    if fields:
        out = [{k: v for k, v in row.items() if k in fields} for row in out]
    return {
        "code": 200,
        "status": "OK",
        "sdcid": spec.sdcid,
        "startrow": start,
        "rowcount": len(out),
        "morerows": "Y" if more else "N",
        "data": out,
    }


def read_sub(
    lims: EmbeddedLims, resource: str, keyid1: str, sub: str, params: Mapping[str, str]
) -> dict[str, Any]:
    """``GET /rest/sdc/samples/<S1>/dataitems`` and ``…/sdiworkitems``: one sample's detail rows."""
    if resource != "samples" or sub not in ("dataitems", "sdiworkitems"):
        raise NotFound(f"no sub-resource {resource}/{sub}")
    table = "results" if sub == "dataitems" else "tests"
    spec = SPECS[sub]
    rows = lims.db.query(
        f"SELECT data FROM {table} WHERE json_extract(data, '$.sample_id') = ? ORDER BY pk", (keyid1,)
    )
    data = [render(spec, json.loads(r[0])) for r in rows]
    return {
        "code": 200,
        "status": "OK",
        "sdcid": spec.sdcid,
        "rowcount": len(data),
        "morerows": "N",
        "data": data,
    }
