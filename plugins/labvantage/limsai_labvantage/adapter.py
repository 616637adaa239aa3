"""The LabVantage adapter: limsai's LIMS port over LabVantage 8 REST Web Services.

Reads are SDC queries filtered by the caller's scope (``filter=u_sponsorid = '…' and …``) and paged
(``startrow``/``maxrows``), so a study costs one call per page, never one per sample; lab resources
come from saved queries over the scope's data items. Every row returned is checked against the scope
(fail closed with ``ScopeViolation``). Drafts go in as SDIAttachments of the Draft attachment class on
the study, review tasks through AddToWorkflow, e-signatures and release through the site's actions,
each carrying the ``audit*`` properties so that LabVantage's TraceLog records them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, TypeVar

from limsai.lims.errors import LimsRejected, NotFound, ScopeViolation
from limsai.lims.port import ALL_CAPABILITIES, Capability, Scope, StudyScope
from limsai.model import (
    Calibration,
    Condition,
    Deviation,
    Document,
    DraftDocument,
    Instrument,
    LimsAuditEntry,
    Principal,
    ReagentLot,
    ReleaseRequest,
    Result,
    ReviewTask,
    Sample,
    Signature,
    SignatureRequest,
    Specification,
    Study,
    TaskRequest,
    Test,
    Timepoint,
)
from limsai_labvantage.client import LabVantageClient, LabVantageSettings
from limsai_labvantage.sdcs import NULL_KEY, SPECS

M = TypeVar("M")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LabVantageAdapter:
    """A LabVantage instance as limsai sees it (see :mod:`limsai.lims.port`)."""

    vendor = "labvantage"

    def __init__(self, settings: LabVantageSettings) -> None:
        self.settings = settings
        self.client = LabVantageClient(settings)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def capabilities(self) -> frozenset[Capability]:
        return ALL_CAPABILITIES

    @property
    def http_calls(self) -> int:
        return self.client.http_calls

    def close(self) -> None:
        self.client.close()

    # -- reading ------------------------------------------------------------------------------------
    def _filter(self, resource: str, scope: Scope, **equal: str | None) -> str:
        spec = SPECS[resource]
        by_sql = {sql: column for column, sql in spec.filterable.items()}
        clauses = {by_sql["sponsor_id"]: scope.sponsor_id}
        if scope.study_id is not None:
            clauses[by_sql["study_id"]] = scope.study_id
        clauses.update({column: value for column, value in equal.items() if value is not None})
        return " and ".join(f"{column} = {_quote(value)}" for column, value in clauses.items())

    def _read(self, resource: str, params: dict[str, str], scope: Scope | None) -> list[Any]:
        spec = SPECS[resource]
        records = [spec.from_row(row) for row in self.client.rows(resource, params)]
        if scope is not None:
            for record in records:
                sponsor, study = getattr(record, "sponsor_id", None), getattr(record, "study_id", None)
                if sponsor is not None and not scope.admits(sponsor, study):
                    raise ScopeViolation(
                        f"LabVantage {self.name} returned {resource} row {getattr(record, spec.key)!r} "
                        f"outside the scope {scope.sponsor_id}/{scope.study_id or '*'}"
                    )
        return records

    def _scoped(self, resource: str, scope: Scope, **equal: str | None) -> list[Any]:
        return self._read(resource, {"filter": self._filter(resource, scope, **equal)}, scope)

    def _query(self, resource: str, queryid: str, scope: Scope) -> list[Any]:
        params = {"queryid": queryid, "param1": scope.sponsor_id, "param2": scope.study_id or NULL_KEY}
        return self._read(resource, params, None)

    def list_studies(self, scope: Scope) -> list[Study]:
        return self._scoped("studies", scope)

    def get_study(self, scope: StudyScope) -> Study:
        studies = self.list_studies(scope)
        if not studies:
            raise NotFound(f"study {scope.study_id} not found for sponsor {scope.sponsor_id}")
        return studies[0]

    def list_conditions(self, scope: Scope) -> list[Condition]:
        return self._scoped("stabilityconditions", scope)

    def list_timepoints(self, scope: Scope) -> list[Timepoint]:
        return self._scoped("stabilitytimepoints", scope)

    def list_samples(self, scope: Scope) -> list[Sample]:
        return self._scoped("samples", scope)

    def list_tests(self, scope: Scope) -> list[Test]:
        return self._scoped("sdiworkitems", scope)

    def list_results(self, scope: Scope) -> list[Result]:
        return self._scoped("dataitems", scope)

    def list_specifications(self, scope: Scope) -> list[Specification]:
        return self._scoped("specifications", scope)

    def list_instruments(self, scope: Scope) -> list[Instrument]:
        return self._query("instruments", self.settings.instruments_query, scope)

    def list_calibrations(self, scope: Scope) -> list[Calibration]:
        return self._query("calibrations", self.settings.calibrations_query, scope)

    def list_reagent_lots(self, scope: Scope) -> list[ReagentLot]:
        return self._query("reagentlots", self.settings.reagent_lots_query, scope)

    def list_deviations(self, scope: Scope) -> list[Deviation]:
        return self._scoped("incidents", scope)

    def list_documents(self, scope: Scope) -> list[Document]:
        return self._scoped("attachments", scope)

    def list_tasks(self, scope: Scope) -> list[ReviewTask]:
        return self._scoped("workflowtasks", scope)

    def list_signatures(self, scope: Scope, document_id: str | None = None) -> list[Signature]:
        return self._scoped("esignatures", scope, u_documentid=document_id)

    def list_audit_trail(self, scope: Scope, record_id: str | None = None) -> list[LimsAuditEntry]:
        return self._scoped("tracelog", scope, keyid1=record_id)

    def get_user(self, user_id: str) -> Principal:
        users: list[Principal] = self._read("users", {"keyid1": user_id}, None)
        if not users:
            raise NotFound(f"user {user_id!r} not found in LabVantage {self.name}")
        return users[0]

    def list_users(self) -> list[Principal]:
        return self._read("users", {}, None)

    def get_document_content(self, scope: StudyScope, document_id: str, version: int) -> bytes:
        rows = list(
            self.client.rows(
                "attachments",
                {
                    "filter": self._filter(
                        "attachments", scope, u_documentid=document_id, revision=str(version)
                    )
                },
            )
        )
        if not rows:
            raise NotFound(f"document {document_id} v{version} not found in study {scope.study_id}")
        params = {
            "command": "ViewAttachment",
            "sdcid": "LV_Study",
            "keyid1": scope.study_id,
            "keyid2": NULL_KEY,
            "keyid3": NULL_KEY,
            "attachmentnum": str(rows[0]["attachmentnum"]),
            "revision": str(version),
            "u_sponsorid": scope.sponsor_id,
        }
        return self.client.content(params)

    # -- writing ------------------------------------------------------------------------------------
    def _identity(self, scope: StudyScope, activity: str, reason: str) -> dict[str, str]:
        return {
            "sdcid": "LV_Study",
            "keyid1": scope.study_id,
            "keyid2": NULL_KEY,
            "keyid3": NULL_KEY,
            "u_sponsorid": scope.sponsor_id,
            "auditactivity": activity,
            "auditreason": reason,
            "auditsignedflag": "N",
        }

    def attach_draft(self, scope: StudyScope, draft: DraftDocument, *, idempotency_key: str) -> Document:
        if not idempotency_key:
            raise LimsRejected("attach_draft needs a non-empty idempotency key")
        props = {
            **self._identity(
                scope, "limsai attach_draft", f"AI draft on behalf of {draft.attribution.on_behalf_of}"
            ),
            "attachmentclass": self.settings.attachment_class,
            "type": "D",
            "filename": draft.filename,
            "contenttype": draft.media_type,
            "attachmentdesc": draft.name,
            "attachmentdata": base64.b64encode(draft.content).decode("ascii"),
            "u_milestone": draft.milestone,
            "u_description": draft.description,
            "u_attribution": draft.attribution.model_dump_json(),
            "u_idempotencykey": idempotency_key,
        }
        output = self.client.action("AddSDIAttachment", props)
        document: Document = SPECS["attachments"].from_row(self._nulls(output))
        return document

    def create_task(self, scope: StudyScope, task: TaskRequest, *, idempotency_key: str) -> ReviewTask:
        if not idempotency_key:
            raise LimsRejected("create_task needs a non-empty idempotency key")
        props = {
            **self._identity(scope, "limsai create_task", task.title),
            "workflowid": self.settings.workflow_id,
            "workflowtaskdesc": task.title,
            "assignedto": task.assignee,
            "u_documentid": task.document_id or NULL_KEY,
            "revision": str(task.document_version) if task.document_version else NULL_KEY,
            "u_instructions": task.instructions,
            "u_requiredmeaning": task.required_meaning,
            "u_idempotencykey": idempotency_key,
        }
        created: ReviewTask = SPECS["workflowtasks"].from_row(
            self._nulls(self.client.action("AddToWorkflow", props))
        )
        return created

    def record_signature(self, scope: StudyScope, request: SignatureRequest) -> Signature:
        props = {
            **self._identity(scope, "e-signature", request.meaning.value),
            "auditsignedflag": "Y",
            "u_documentid": request.document_id,
            "revision": str(request.version),
            "sysuserid": request.signer,
            "printedname": request.printed_name,
            "esigreason": request.meaning.value,
            "u_contentsha256": request.content_sha256,
        }
        output = self.client.action(self.settings.signature_action, props, retry_reads=False)
        signature: Signature = SPECS["esignatures"].from_row(self._nulls(output))
        return signature

    def release_documents(self, scope: StudyScope, request: ReleaseRequest) -> list[Document]:
        props = {
            **self._identity(scope, "release", f"{request.reason} (signature {request.signature_id})"),
            "esigid": request.signature_id,
            "propsmatch": "Y",
            "separator": ";",
            "u_documentid": ";".join(d.document_id for d in request.documents),
            "revision": ";".join(str(d.version) for d in request.documents),
            "u_contentsha256": ";".join(d.sha256 for d in request.documents),
            "releasedby": request.released_by,
            "auditreason": request.reason,
            "u_details": json.dumps(request.details, sort_keys=True, default=str),
        }
        self.client.action(self.settings.release_action, props)
        wanted = [(d.document_id, d.version) for d in request.documents]
        documents = {(d.document_id, d.version): d for d in self.list_documents(scope)}
        missing = [w for w in wanted if w not in documents]
        if missing:
            raise LimsRejected(f"LabVantage {self.name} did not return released documents {missing}")
        return [documents[w] for w in wanted]

    @staticmethod
    def _nulls(output: dict[str, str]) -> dict[str, str | None]:
        return {k: (None if v == NULL_KEY else v) for k, v in output.items()}


def settings_from_instance(instance: Any, workdir: Path) -> LabVantageSettings:
    """Adapter settings for a configured LIMS instance (``limsai.toml`` ``[lims.<name>]``): the secret
    behind ``credentials_ref`` is ``username:password`` (a bare password means user ``limsai``)."""
    from limsai.runtime.settings import resolve_secret

    if not getattr(instance, "base_url", None) or not getattr(instance, "credentials_ref", None):
        raise LimsRejected(
            f"LabVantage instance {getattr(instance, 'name', '?')!r} needs base_url and credentials_ref"
        )
    secret = resolve_secret(instance.credentials_ref, base=workdir)
    username, colon, password = secret.partition(":")
    if not colon:
        username, password = "limsai", secret
    return LabVantageSettings(
        name=instance.name, base_url=instance.base_url, username=username, password=password
    )


def create_adapter(instance: Any, workdir: Path) -> LabVantageAdapter:
    """The ``create`` of the plugin's :class:`~limsai.runtime.adapters.AdapterFactory`."""
    return LabVantageAdapter(settings_from_instance(instance, workdir))
