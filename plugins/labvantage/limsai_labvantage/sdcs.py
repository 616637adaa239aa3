"""LabVantage's SDC rows for limsai's records: which REST resource (SDC) holds each record kind, which
column holds each field, and how values travel as text.

LabVantage returns every column as a string (``"97.50"`` stays ``"97.50"``), multi-valued columns as
``;``-delimited strings, flags as ``Y``/``N`` and empty keys as ``(null)``. Structured fields with
no LabVantage column of their own (milestones, AI attribution, audit details) travel as JSON in
``u_`` (custom) columns. The simulator renders rows with these tables and the adapter parses them,
so the mapping is written down once; the adapter's unit tests check it against hand-written rows.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from limsai.model import (
    Calibration,
    Condition,
    Deviation,
    Document,
    Instrument,
    LimsAuditEntry,
    Principal,
    ReagentLot,
    Result,
    ReviewTask,
    Sample,
    Signature,
    Specification,
    Study,
    Test,
    Timepoint,
)

NULL_KEY = "(null)"
Row = dict[str, str | None]
Kind = Literal["text", "flag", "list", "json"]


@dataclass(frozen=True)
class SdcSpec:
    """One REST resource: its LabVantage SDC id, the record model, the field → column names (fields
    not named get ``u_<field without underscores>``), constant columns shown on every row, and the
    simulator's store table with the columns a ``filter``/``keyid1`` may use (column → SQL column)."""

    resource: str
    sdcid: str
    model: type[BaseModel]
    key: str
    columns: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    table: str = ""
    filterable: Mapping[str, str] = field(default_factory=dict)

    def column(self, field_name: str) -> str:
        return self.columns.get(field_name) or "u_" + field_name.replace("_", "")

    @property
    def key_column(self) -> str:
        return self.column(self.key)

    def to_row(self, data: Mapping[str, Any]) -> Row:
        """A LabVantage row from a record's JSON-mode dump (``model_dump(mode="json")``)."""
        row: Row = dict(self.constants)
        for name, info in self.model.model_fields.items():
            row[self.column(name)] = _encode(_kind(info.annotation), data.get(name, info.default))
        return row

    def from_row(self, row: Mapping[str, Any]) -> Any:
        """The record a LabVantage row holds (unknown columns are ignored)."""
        values: dict[str, Any] = {}
        for name, info in self.model.model_fields.items():
            column = self.column(name)
            if column in row:
                values[name] = _decode(_kind(info.annotation), row[column])
        return self.model.model_validate(values)


def _kind(annotation: Any) -> Kind:
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else "text"
    origin = get_origin(annotation)
    if origin in (tuple, list):
        item = args[0] if args else str
        return "json" if isinstance(item, type) and issubclass(item, BaseModel) else "list"
    if origin is dict or annotation is dict:
        return "json"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "json"
    if annotation is bool:
        return "flag"
    return "text"


def _encode(kind: Kind, value: Any) -> str | None:
    if value is None:
        return None
    if kind == "flag":
        return "Y" if value else "N"
    if kind == "list":
        return ";".join(str(v) for v in value)
    if kind == "json":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _decode(kind: Kind, text: Any) -> Any:
    if text is None:
        return None
    if kind == "flag":
        return text == "Y"
    if kind == "list":
        return tuple(text.split(";")) if text else ()
    if kind == "json":
        return json.loads(text)
    return text


_SCOPE = {"u_sponsorid": "sponsor_id", "u_studyid": "study_id"}

SPECS: dict[str, SdcSpec] = {
    s.resource: s
    for s in (
        SdcSpec(
            "studies",
            "LV_Study",
            Study,
            "study_id",
            columns={"study_id": "s_studyid", "title": "studydesc", "product": "productid"},
            table="studies",
            filterable={"u_sponsorid": "sponsor_id", "s_studyid": "study_id"},
        ),
        SdcSpec(
            "stabilityconditions",
            "LV_StabilityCondition",
            Condition,
            "condition_id",
            columns={
                "condition_id": "s_conditionid",
                "label": "conditionlabel",
                "temperature_c": "temperature",
                "humidity_rh": "humidity",
            },
            table="conditions",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "stabilitytimepoints",
            "LV_StabilityTimepoint",
            Timepoint,
            "timepoint_id",
            columns={
                "timepoint_id": "s_timepointid",
                "label": "timepointlabel",
                "nominal": "timepointvalue",
                "unit": "timepointunits",
                "condition_id": "s_conditionid",
            },
            table="timepoints",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "samples",
            "Sample",
            Sample,
            "sample_id",
            columns={
                "sample_id": "s_sampleid",
                "kind": "sampletypeid",
                "batch": "batchid",
                "collected_at": "collectiondt",
                "received_at": "receiveddt",
                "comment": "notes",
            },
            table="samples",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "sdiworkitems",
            "SDIWorkItem",
            Test,
            "test_id",
            columns={
                "test_id": "u_workitemid",
                "sample_id": "keyid1",
                "name": "workitemid",
                "method": "testmethodid",
                "status": "workitemstatus",
            },
            constants={"sdcid": "Sample", "keyid2": NULL_KEY, "keyid3": NULL_KEY},
            table="tests",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "dataitems",
            "SDIDataItem",
            Result,
            "result_id",
            columns={
                "result_id": "u_dataitemid",
                "sample_id": "keyid1",
                "test_id": "u_workitemid",
                "test": "paramlistid",
                "component": "paramid",
                "value": "enteredtext",
                "units": "enteredunits",
                "replicate": "replicateid",
                "analysed_at": "entereddt",
                "analyst_id": "enteredby",
                "instrument_id": "instrumentid",
                "reagent_lot_id": "reagentlotid",
            },
            constants={
                "sdcid": "Sample",
                "keyid2": NULL_KEY,
                "keyid3": NULL_KEY,
                "dataset": "1",
                "paramtype": "Standard",
            },
            table="results",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "specifications",
            "SpecSDC",
            Specification,
            "spec_id",
            columns={
                "spec_id": "s_specid",
                "test": "paramlistid",
                "component": "paramid",
                "min": "minvalue",
                "max": "maxvalue",
                "units": "displayunits",
            },
            table="specifications",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "instruments",
            "Instrument",
            Instrument,
            "instrument_id",
            columns={
                "instrument_id": "instrumentid",
                "name": "instrumentdesc",
                "instrument_type": "instrumenttype",
            },
            table="instruments",
            filterable={"instrumentid": "id"},
        ),
        SdcSpec(
            "calibrations",
            "LV_Calibration",
            Calibration,
            "calibration_id",
            columns={
                "calibration_id": "calibrationid",
                "instrument_id": "instrumentid",
                "valid_from": "calibrationdt",
                "valid_to": "calibrationduedt",
            },
            table="calibrations",
            filterable={"instrumentid": "instrument_id"},
        ),
        SdcSpec(
            "reagentlots",
            "LV_ReagentLot",
            ReagentLot,
            "lot_id",
            columns={
                "lot_id": "reagentlotid",
                "reagent": "reagenttypeid",
                "lot_number": "lotnumber",
                "expires_at": "expirydt",
            },
            table="reagent_lots",
            filterable={"reagentlotid": "id"},
        ),
        SdcSpec(
            "incidents",
            "LV_Incident",
            Deviation,
            "deviation_id",
            columns={"deviation_id": "incidentid", "title": "incidentdesc", "status": "incidentstatus"},
            table="deviations",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "attachments",
            "SDIAttachment",
            Document,
            "document_id",
            columns={
                "document_id": "u_documentid",
                "study_id": "keyid1",
                "version": "revision",
                "filename": "filename",
                "media_type": "contenttype",
                "name": "attachmentdesc",
                "created_at": "createdt",
                "created_by": "createby",
            },
            constants={"sdcid": "LV_Study", "keyid2": NULL_KEY, "keyid3": NULL_KEY},
            table="documents",
            filterable={
                "u_sponsorid": "sponsor_id",
                "keyid1": "study_id",
                "u_documentid": "document_id",
                "revision": "version",
            },
        ),
        SdcSpec(
            "workflowtasks",
            "LV_WorkflowTask",
            ReviewTask,
            "task_id",
            columns={
                "task_id": "workflowtaskid",
                "title": "workflowtaskdesc",
                "assignee": "assignedto",
                "status": "taskstatus",
                "document_id": "u_documentid",
                "document_version": "revision",
                "created_at": "createdt",
                "created_by": "createby",
            },
            constants={"workflowid": "LIMSAI_REVIEW"},
            table="tasks",
            filterable=_SCOPE,
        ),
        SdcSpec(
            "esignatures",
            "LV_ESig",
            Signature,
            "signature_id",
            columns={
                "signature_id": "esigid",
                "document_id": "u_documentid",
                "version": "revision",
                "signer": "sysuserid",
                "printed_name": "printedname",
                "signed_at": "signeddt",
                "meaning": "esigreason",
                "content_sha256": "u_contentsha256",
            },
            table="signatures",
            filterable={**_SCOPE, "u_documentid": "document_id"},
        ),
        SdcSpec(
            "tracelog",
            "TraceLog",
            LimsAuditEntry,
            "entry_id",
            columns={
                "entry_id": "tracelogid",
                "record_id": "keyid1",
                "record_type": "sdcid",
                "action": "activity",
                "reason": "reason",
                "user_id": "modby",
                "at": "moddt",
                "field": "columnid",
                "old_value": "oldvalue",
                "new_value": "newvalue",
            },
            table="lims_audit",
            filterable={**_SCOPE, "keyid1": "record_id"},
        ),
        SdcSpec(
            "users",
            "SysUser",
            Principal,
            "user_id",
            columns={
                "user_id": "sysuserid",
                "display_name": "sysuserdesc",
                "kind": "usertype",
                "roles": "u_roles",
                "sponsors": "u_sponsors",
                "active": "activeflag",
            },
            table="users",
            filterable={"sysuserid": "id"},
        ),
    )
}
