"""``protocol.ingest``: a sponsor protocol filed on a study, read into grounded requirements, USDM 4.0
and a LIMS configuration plan, drafted for the study director's review.

When a protocol (PDF or DOCX) arrives, someone has to work out what to set up in the LIMS: test
methods, the sampling schedule, specifications and storage conditions. This step reads the
protocol document through the scoped gateway (an audited read), extracts every requirement with the
text it came from (:mod:`limsai.protocols`), exports the study design as USDM 4.0 (validated against
the shipped schema) and proposes a configuration plan in which each entry cites its source and
names the ambiguities that block it. When the rollout phase allows drafts, the requirements, the
USDM document and the plan (JSON and CSV) are attached to the study as a DRAFT package under
``protocol/<document_id>/`` with a review task for the study director; in the read-only phase
nothing is attached and the outcome says so.

Applying the plan (creating the methods, schedule and specifications in the LIMS) is not part of
this step: it writes structured data, so it belongs to a write-back step that runs only after a
human has approved the plan. A document that cannot be read completely (corrupt, encrypted, image
only, oversized) fails the run with the reader's typed error before anything is attached. A retry of
a run reuses the first attempt's package time, so the LIMS hands back the first attachments; a new
run on a protocol version whose plan is already drafted (and not rejected or superseded) writes
nothing and points at the existing drafts.

When the deployment names a language model (``llm`` settings other than ``deterministic``), the
model reads the protocol too, through the approved ``protocol_extraction`` prompt (loaded through
the gateway, so the run's identity names the prompt and the model), and its grounded answer is
merged into the deterministic requirements (:mod:`limsai.protocols.merge`): agreement raises
confidence, disagreement and ungrounded values become ambiguities for the reviewer. The model id,
token usage and merge counts go into the draft's provenance and the audit log (counts and ids,
never protocol text). A failed model call fails the run before anything is attached: a plan that
silently fell back to one extractor would claim a check that never happened.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field

from limsai.governance.drafts import MANIFEST_FILENAME, DraftFile, DraftManifest, DraftPackage
from limsai.governance.gateway import ScopedGateway
from limsai.governance.policy import PHASE_WRITES, Permission
from limsai.lims.errors import NotFound
from limsai.lims.port import Capability as C
from limsai.model import (
    Document,
    DocumentStatus,
    Identifier,
    LimsModel,
    SignatureMeaning,
    TaskRequest,
    utcnow,
)
from limsai.protocols import AmbiguityKind, ProtocolRequirements, SourceDocument, extract, read_protocol
from limsai.protocols.merge import document_text, merge_extractions
from limsai.protocols.source import DOCX, PDF
from limsai.protocols.usdm import build_usdm
from limsai.runtime.registry import StepOutcome, StepPhase, StepRun, StepSpec
from limsai.steps._drafting import attach_package, draft_rows, earlier_attempt
from limsai.steps._protocol_plan import LimsPlan, PlanSource, build_plan, json_bytes

PREFIX = "protocol"
PROTOCOL_MEDIA_TYPES = frozenset({PDF, DOCX})
CLOSED = (DocumentStatus.SUPERSEDED, DocumentStatus.REJECTED)
FILES = ("requirements.json", "usdm.json", "lims-plan.json", "lims-plan.csv")


class NotAProtocol(ValueError):
    """The named document cannot be a sponsor protocol (an AI draft, or neither PDF nor DOCX)."""


class ModelExtractionFailed(RuntimeError):
    """The configured language model could not extract the protocol's requirements."""


class ProtocolIngestParams(LimsModel):
    document_id: Identifier | None = Field(
        default=None,
        description="the protocol document (default: the study's newest PDF/DOCX protocol filed by a person)",
    )


def plan_prefix(document_id: str) -> str:
    """Where a protocol's drafts sit among the study's documents: ``protocol/<document_id>``."""
    return f"{PREFIX}/{document_id}"


def is_protocol_candidate(doc: Document) -> bool:
    text = f"{doc.name} {doc.filename}".casefold()
    return not doc.ai_generated and doc.media_type in PROTOCOL_MEDIA_TYPES and "protocol" in text


def find_protocol(study: str, everything: list[Document], document_id: str | None) -> Document:
    """The newest version of ``document_id``, or the study's newest protocol filed by a person,
    among the study's documents."""
    documents = [d for d in everything if d.status not in CLOSED]
    if document_id is not None:
        versions = [d for d in documents if d.document_id == document_id]
        if not versions:
            raise NotFound(f"document {document_id} is not a current document of study {study}")
        doc = max(versions, key=lambda d: d.version)
        if doc.ai_generated:
            raise NotAProtocol(f"document {document_id} is an AI draft, not a protocol filed by a person")
        if doc.media_type not in PROTOCOL_MEDIA_TYPES:
            raise NotAProtocol(
                f"document {document_id} is {doc.media_type}; a protocol must be a PDF or DOCX"
            )
        return doc
    candidates = [d for d in documents if is_protocol_candidate(d)]
    if not candidates:
        raise NotFound(
            f"study {study} has no protocol to ingest: no PDF or DOCX document filed by a person whose "
            "name or filename contains 'protocol'; file one, or name it with document_id"
        )
    return max(candidates, key=lambda d: (d.created_at, d.version))


def drafted_before(
    gateway: ScopedGateway, documents: list[Document], prefix: str, sha256: str
) -> tuple[Document, DraftManifest] | None:
    """A plan another run of this step version drafted from the same protocol content and nobody has
    rejected or superseded since: re-running on it would only add a copy."""
    ctx = gateway.context
    name = f"{prefix}/{MANIFEST_FILENAME}"
    for doc in documents:
        attribution = doc.attribution
        if (
            doc.name != name
            or attribution is None
            or doc.status in CLOSED
            or attribution.run_id == ctx.run_id
        ):
            continue
        if (attribution.step_id, attribution.step_version) != (STEP.id, STEP.version):
            continue
        manifest = DraftManifest.model_validate_json(
            gateway.get_document_content(doc.document_id, doc.version)
        )
        if sha256 in manifest.provenance.inputs.values():
            return doc, manifest
    return None


def extract_with_model(
    step_run: StepRun, doc: SourceDocument, source: Document, req: ProtocolRequirements
) -> tuple[ProtocolRequirements, dict[str, Any]]:
    """``req`` merged with the configured model's grounded extraction, and what the call used."""
    from limsai.ai.extract_llm import PROMPT_ID, LlmProtocolExtractor
    from limsai.ai.providers import LlmError, build_client

    assert step_run.llm is not None
    gateway, ctx = step_run.gateway, step_run.context
    model_id: str = step_run.llm.provider
    try:
        client = build_client(step_run.llm)
        assert client is not None  # only "deterministic" has no client
        model_id = client.model_id
        try:
            prompt = gateway.approved_prompt(PROMPT_ID, model_id=model_id)
            extraction = LlmProtocolExtractor(client).extract(
                prompt,
                document=document_text(doc),
                document_id=source.document_id,
                sponsor_name=ctx.sponsor_id,
                sponsor_id=ctx.sponsor_id,
            )
        finally:
            client.close()
    except LlmError as exc:
        gateway.audit_event("step.llm_failed", reason=type(exc).__name__, task=PROMPT_ID, model_id=model_id)
        raise ModelExtractionFailed(
            f"the language model {model_id} could not extract the requirements of document "
            f"{source.document_id} v{source.version} ({type(exc).__name__}: {exc}); nothing was attached"
        ) from exc
    result = merge_extractions(req, extraction, doc)
    call = extraction.call
    facts = {
        "model_id": call.call.model_id,
        "prompt": {"id": call.prompt_id, "version": call.prompt_version, "sha256": call.prompt_sha256},
        "parameters": call.call.parameters,
        "usage": call.call.usage.model_dump(),
        "attempts": call.call.attempts,
        "merge": result.report.counts,
    }
    gateway.audit_event(
        "step.llm_call",
        task=PROMPT_ID,
        document_id=source.document_id,
        call=call.model_dump(mode="json"),
        merge=result.report.counts,
    )
    return result.requirements, facts


def summarise(req: ProtocolRequirements, plan: LimsPlan, source: Document) -> dict[str, Any]:
    """What the LIMS shows next to the run."""
    return {
        "document_id": source.document_id,
        "document_version": source.version,
        "protocol_number": plan.protocol_number,
        "requirements": len(req.requirements),
        "schedule_pairs": len(req.schedule),
        "ambiguities": len(req.ambiguities),
        "injection_flags": sum(1 for a in req.ambiguities if a.kind is AmbiguityKind.EMBEDDED_INSTRUCTION),
        "planned_items": len(plan.items()),
        "blocked_items": len(plan.blocked()),
        "warnings": plan.warnings,
    }


def run(step_run: StepRun) -> StepOutcome:
    """Read, extract, plan; attach the drafts and open the review task when the phase allows."""
    STEP.check_agent(step_run.context)
    params = step_run.params
    if not isinstance(params, ProtocolIngestParams):
        raise TypeError(f"protocol.ingest expects ProtocolIngestParams, not {type(params).__name__}")
    ctx, gateway = step_run.context, step_run.gateway
    allowed = PHASE_WRITES[ctx.rollout_phase]
    drafting = Permission.WRITE_DRAFTS in allowed
    documents = gateway.list_documents()  # read once: the protocol, earlier plans, a first attempt
    source = find_protocol(ctx.study_id, documents, params.document_id)
    content = gateway.get_document_content(source.document_id, source.version)
    if hashlib.sha256(content).hexdigest() != source.sha256:
        raise NotAProtocol(
            f"document {source.document_id} v{source.version}'s content does not match its sha256"
        )
    doc = read_protocol(content, source.filename)  # ProtocolReadError: nothing attached
    req = extract(doc)
    prefix = plan_prefix(source.document_id)
    earlier = drafted_before(gateway, documents, prefix, source.sha256) if drafting else None
    model: dict[str, Any] | None = None
    if earlier is None and step_run.llm is not None and step_run.llm.provider != "deterministic":
        req, model = extract_with_model(step_run, doc, source, req)
        ctx = gateway.context  # now attributed to the approved prompt and the model as well
    usdm = build_usdm(req)
    study = gateway.get_study()
    plan = build_plan(
        req,
        study_id=ctx.study_id,
        study_protocol_number=study.protocol_number,
        source=PlanSource(
            document_id=source.document_id,
            version=source.version,
            name=source.name,
            filename=source.filename,
            sha256=source.sha256,
        ),
    )
    summary = summarise(req, plan, source)
    if model is not None:
        summary["llm"] = {"model_id": model["model_id"], **model["merge"]}
    label = plan.protocol_number or source.filename
    message = (
        f"{label}: {summary['requirements']} requirements, {summary['planned_items']} planned LIMS items "
        f"({summary['blocked_items']} blocked), {summary['ambiguities']} ambiguities"
    )
    if not drafting:
        return StepOutcome(
            summary=summary, message=f"{message}; rollout phase {ctx.rollout_phase.value}: not attached"
        )
    if earlier is not None:  # checked before any model call: a re-run asks no model for a copy
        return replay(gateway, documents, prefix, earlier, summary, message)
    created_at = earlier_attempt(gateway, prefix, documents) or utcnow()
    files = [
        DraftFile(name=FILES[0], media_type="application/json", content=json_bytes(req)),
        DraftFile(name=FILES[1], media_type="application/json", content=json_bytes_of(usdm)),
        DraftFile(name=FILES[2], media_type="application/json", content=plan.to_json()),
        DraftFile(name=FILES[3], media_type="text/csv", content=plan.to_csv()),
    ]
    facts = {
        "document_id": source.document_id,
        "document_version": source.version,
        "protocol_number": plan.protocol_number,
        "extractor": req.extractor,
        "counts": {k: v for k, v in summary.items() if isinstance(v, int) and k != "document_version"},
        "warnings": plan.warnings,
        "applied": False,
    }
    if model is not None:
        facts["llm"] = model
    package = DraftPackage.for_run(
        ctx,
        files,
        milestone=step_run.milestone,
        inputs={f"document/{source.document_id}/v{source.version}": source.sha256},
        facts=facts,
        created_at=created_at,
    )
    documents = attach_package(gateway, package, prefix)
    summary["manifest_sha256"] = package.manifest_hash
    tasks: list[str] = []
    if Permission.CREATE_TASKS in allowed:
        manifest = documents[0]
        task = gateway.create_task(
            TaskRequest(
                title=f"Review the LIMS configuration plan for protocol {label}",
                assignee=study.study_director or ctx.principal.user_id,
                document_id=manifest.document_id,
                document_version=manifest.version,
                instructions=(
                    f"{summary['requirements']} requirements and {summary['ambiguities']} ambiguities "
                    f"extracted from {source.filename} (document {source.document_id} v{source.version}) "
                    f"need review: {summary['planned_items']} planned LIMS items, {summary['blocked_items']} "
                    f"of them blocked by an open ambiguity, {summary['injection_flags']} text(s) addressed "
                    "to an AI. Check each entry against its citation and decide each ambiguity. An approval "
                    f"e-signature on the manifest (sha256 {manifest.sha256}) is what applying the plan "
                    "to the LIMS, a separate write-back step, will require."
                ),
                required_meaning=SignatureMeaning.APPROVAL.value,
            ),
            idempotency_key=f"{ctx.run_id}:review",
        )
        tasks.append(task.task_id)
    return StepOutcome(summary=summary, drafts=draft_rows(documents), tasks=tasks, message=message)


def json_bytes_of(value: dict[str, Any]) -> bytes:
    """A JSON document as indented, key-sorted UTF-8 (the same document gives the same bytes)."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def replay(
    gateway: ScopedGateway,
    everything: list[Document],
    prefix: str,
    earlier: tuple[Document, DraftManifest],
    summary: dict[str, Any],
    message: str,
) -> StepOutcome:
    """The outcome of a run whose plan an earlier run already drafted: its drafts and open tasks."""
    manifest_doc, manifest = earlier
    run_id = manifest.provenance.run_id
    order = [f"{prefix}/{MANIFEST_FILENAME}", *(f"{prefix}/{f.name}" for f in manifest.files)]
    documents = [
        d
        for d in everything
        if d.name in order and d.attribution is not None and d.attribution.run_id == run_id
    ]
    documents.sort(key=lambda d: (order.index(d.name), d.version))
    tasks = [
        t.task_id
        for t in gateway.list_tasks()
        if t.document_id == manifest_doc.document_id and t.document_version == manifest_doc.version
    ]
    summary = {**summary, "manifest_sha256": manifest_doc.sha256, "already_drafted_by": run_id}
    return StepOutcome(
        summary=summary,
        drafts=draft_rows(documents),
        tasks=tasks,
        message=f"{message}; already drafted by run {run_id}: nothing written",
    )


STEP = StepSpec(
    id="protocol.ingest",
    version="1.0.0",
    title="Ingest a sponsor protocol",
    description=(
        "Reads a protocol (PDF or DOCX) filed on the study, extracts its requirements with citations, "
        "exports USDM 4.0 and drafts a LIMS configuration plan (test methods, sampling schedule, "
        "specifications, storage) with every ambiguity flagged, for the study director's review."
    ),
    input_model=ProtocolIngestParams,
    permissions=frozenset(
        {Permission.READ_DATA, Permission.READ_DOCUMENTS, Permission.WRITE_DRAFTS, Permission.CREATE_TASKS}
    ),
    phase=StepPhase.READ_ONLY,
    capabilities=frozenset({C.READ_STUDIES, C.READ_DOCUMENTS, C.ATTACH_DRAFTS, C.CREATE_TASKS}),
    run=run,
)
