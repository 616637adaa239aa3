"""The LabVantage simulator's actions (``POST /rest/actions/<Action>``) over the embedded store.

Properties arrive as a flat JSON object of strings, LabVantage style: identity ``sdcid`` +
``keyid1..3`` (``(null)`` when empty), multi-values ``;``-delimited with ``propsmatch``, and the
``audit*`` properties. Each action answers the envelope ``{"output", "code", "message", "status"}``
whose ``output`` values are strings. Writes go through the embedded store, which records every one
in its audit trail; the simulator serves that trail as TraceLog rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import LimsRejected, NotFound
from limsai.lims.port import StudyScope
from limsai.model import (
    AiAttribution,
    AuditEvent,
    DocumentRef,
    DraftDocument,
    LimsDataset,
    ReleaseRequest,
    SignatureMeaning,
    SignatureRequest,
    TaskRequest,
    utcnow,
)
from limsai_labvantage.sdcs import NULL_KEY, SPECS
from limsai_labvantage.sim_reads import render

Props = Mapping[str, str]
ActionFn = Callable[[EmbeddedLims, Props], dict[str, str]]


def _need(props: Props, *names: str) -> list[str]:
    missing = [n for n in names if not props.get(n) or props[n] == NULL_KEY]
    if missing:
        raise LimsRejected("missing propert" + ("ies " if len(missing) > 1 else "y ") + ", ".join(missing))
    return [props[n] for n in names]


def _scope(props: Props) -> StudyScope:
    sdcid, study, sponsor = _need(props, "sdcid", "keyid1", "u_sponsorid")
    if sdcid != "LV_Study":
        raise LimsRejected(f"this action needs sdcid LV_Study, not {sdcid!r}")
    return StudyScope(sponsor_id=sponsor, study_id=study)


def _optional(props: Props, name: str) -> str | None:
    value = props.get(name)
    return None if value in (None, "", NULL_KEY) else value


def _row(resource: str, record: Any) -> dict[str, str]:
    row = render(SPECS[resource], record.model_dump(mode="json"))
    return {k: (NULL_KEY if v is None else v) for k, v in row.items()}


def add_sdi_attachment(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    scope = _scope(props)
    filename, content_type, data, key = _need(
        props, "filename", "contenttype", "attachmentdata", "u_idempotencykey"
    )
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LimsRejected("attachmentdata must be base64") from exc
    draft = DraftDocument(
        name=props.get("attachmentdesc") or filename,
        filename=filename,
        media_type=content_type,
        content=content,
        milestone=props.get("u_milestone", ""),
        description=props.get("u_description", ""),
        attribution=AiAttribution.model_validate_json(_need(props, "u_attribution")[0]),
    )
    document = lims.attach_draft(scope, draft, idempotency_key=key)
    return {"newkeyid1": scope.study_id, **_row("attachments", document)}


def add_to_workflow(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    scope = _scope(props)
    title, assignee, key = _need(props, "workflowtaskdesc", "assignedto", "u_idempotencykey")
    revision = _optional(props, "revision")
    request = TaskRequest(
        title=title,
        assignee=assignee,
        document_id=_optional(props, "u_documentid"),
        document_version=int(revision) if revision else None,
        instructions=props.get("u_instructions", ""),
        required_meaning=props.get("u_requiredmeaning") or "review",
    )
    return _row("workflowtasks", lims.create_task(scope, request, idempotency_key=key))


def record_esignature(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    scope = _scope(props)
    document_id, revision, signer, printed, meaning, sha = _need(
        props, "u_documentid", "revision", "sysuserid", "printedname", "esigreason", "u_contentsha256"
    )
    if props.get("auditsignedflag", "Y") != "Y":
        raise LimsRejected("an e-signature action needs auditsignedflag Y")
    try:
        request = SignatureRequest(
            document_id=document_id,
            version=int(revision),
            signer=signer,
            printed_name=printed,
            meaning=SignatureMeaning(meaning),
            content_sha256=sha,
        )
    except ValueError as exc:
        raise LimsRejected(f"invalid e-signature properties: {exc}") from exc
    return _row("esignatures", lims.record_signature(scope, request))


def release_sdi_attachment(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    scope = _scope(props)
    signature_id, ids, revisions, shas, by, reason = _need(
        props, "esigid", "u_documentid", "revision", "u_contentsha256", "releasedby", "auditreason"
    )
    columns = [ids.split(";"), revisions.split(";"), shas.split(";")]
    if props.get("propsmatch", "Y") != "Y" or len({len(c) for c in columns}) != 1:
        raise LimsRejected("u_documentid, revision and u_contentsha256 must match one to one (propsmatch Y)")
    try:
        refs = tuple(
            DocumentRef(document_id=d, version=int(v), sha256=s) for d, v, s in zip(*columns, strict=True)
        )
        request = ReleaseRequest(
            signature_id=signature_id,
            documents=refs,
            released_by=by,
            reason=reason,
            details=json.loads(props.get("u_details") or "{}"),
        )
    except ValueError as exc:
        raise LimsRejected(f"invalid release properties: {exc}") from exc
    released = lims.release_documents(scope, request)
    return {
        "u_documentid": ";".join(d.document_id for d in released),
        "revision": ";".join(str(d.version) for d in released),
        "u_documentstatus": ";".join(d.status.value for d in released),
    }


def add_sdi(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    """AddSDI for Samples: the row's columns as properties; returns ``newkeyid1``."""
    if props.get("sdcid") != "Sample":
        raise LimsRejected("the simulator's AddSDI creates Samples only (sdcid Sample)")
    row: dict[str, str | None] = {k: (None if v == NULL_KEY else v) for k, v in props.items()}
    row["s_sampleid"] = row.get("keyid1") or row.get("s_sampleid")
    try:
        sample = SPECS["samples"].from_row(row)
    except ValueError as exc:
        raise LimsRejected(f"invalid sample properties: {exc}") from exc
    lims.load(
        LimsDataset(samples=[sample]),
        actor=props.get("auditby", "labvantage"),
        reason=props.get("auditreason", ""),
    )
    return {"newkeyid1": sample.sample_id, "newkeyid2": NULL_KEY, "newkeyid3": NULL_KEY}


def enter_data_item(lims: EmbeddedLims, props: Props) -> dict[str, str]:
    """EnterDataItem: ``enteredtext`` for sample/paramlist/param/replicate (``;``-delimited, propsmatch)."""
    names = ("keyid1", "paramlistid", "paramid", "replicateid", "enteredtext")
    lists = [v.split(";") for v in _need(props, *names)]
    if len({len(x) for x in lists}) != 1:
        raise LimsRejected("EnterDataItem properties must match one to one (propsmatch Y)")
    user = props.get("auditby", "labvantage")
    entered = 0
    with lims.db.write() as conn:
        for sample, test, component, replicate, value in zip(*lists, strict=True):
            hit = conn.execute(
                "SELECT pk, data FROM results WHERE json_extract(data, '$.sample_id') = ? AND "
                "json_extract(data, '$.test') = ? AND json_extract(data, '$.component') = ? AND "
                "json_extract(data, '$.replicate') = ?",
                (sample, test, component, int(replicate)),
            ).fetchone()
            if hit is None:
                raise NotFound(f"no data item {sample}/{test}/{component}/{replicate}")
            record = json.loads(hit[1])
            old, record["value"] = record.get("value"), value
            conn.execute("UPDATE results SET data = ? WHERE pk = ?", (json.dumps(record), hit[0]))
            lims._audit(
                conn,
                AuditEvent(
                    at=utcnow(),
                    user_id=user,
                    action="enter_data_item",
                    record_type="result",
                    record_id=record["result_id"],
                    sponsor_id=record["sponsor_id"],
                    study_id=record["study_id"],
                    field="value",
                    old_value=old,
                    new_value=value,
                    reason=props.get("auditreason", ""),
                ),
            )
            entered += 1
    return {"count": str(entered)}


ACTIONS: dict[str, ActionFn] = {
    "AddSDI": add_sdi,
    "EnterDataItem": enter_data_item,
    "AddSDIAttachment": add_sdi_attachment,
    "AddToWorkflow": add_to_workflow,
    "RecordESignature": record_esignature,
    "ReleaseSDIAttachment": release_sdi_attachment,
}
"""Actions the simulator executes; ``RecordESignature`` and ``ReleaseSDIAttachment`` stand for the
site's own e-signature and release actions (their names are configurable in the adapter)."""
