"""protocol.ingest with a language model configured (Azure, pointed at a loopback fake): the model's
structured answer is grounded and merged with the deterministic extraction. A value both agree on
gains confidence, a different reading of the same words is an ambiguity citing both, a value whose
quote is not in the protocol is flagged and never planned; the request went to Azure's deployment
path with the api-key header, and the draft's provenance names the model, its token usage and the
merge counts. A malformed answer fails the run and attaches nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_protocol_ingest import (  # noqa: F401  (fixtures: seeded, workdir)
    STB,
    draft_content,
    lims_state,
    seeded,
    succeeded,
    upload,
    workdir,
)

from limsai.governance.audit_log import AuditLog
from limsai.protocols import AmbiguityKind, ItemKind, ProtocolRequirements, corpus
from limsai.protocols.source import DOCX
from limsai.runtime.local import run_synchronously
from limsai.runtime.queue import Job
from limsai.runtime.settings import load_settings
from limsai.steps._protocol_plan import LimsPlan
from limsai.testing.fake_llm import FakeChatServer

ANSWER: dict[str, Any] = {
    "values": [
        {"field": "storage_condition", "value": "25 °C/60% RH", "quote": "25 °C/60% RH"},
        {
            "field": "acceptance_criterion",
            "value": "95.0% of label claim",
            "quote": "95.0-105.0% of label claim",
        },
        {"field": "batches", "value": "3", "quote": "Three batches are tested at each condition."},
    ],
    "ambiguities": [],
}


class Model:
    """The fake's answer: the extraction above, or text that is not one."""

    def __init__(self) -> None:
        self.text = json.dumps(ANSWER)

    def __call__(self, body: dict[str, Any]) -> str:
        return self.text


@pytest.fixture()
def model() -> Model:
    return Model()


@pytest.fixture()
def server(model: Model) -> Iterator[FakeChatServer]:
    with FakeChatServer(model) as fake:
        yield fake


def ingest_with_model(workdir: Path, server: FakeChatServer, document_id: str) -> Job:  # noqa: F811
    environ = {
        "LIMSAI_LLM_PROVIDER": "azure",
        "AZURE_OPENAI_ENDPOINT": server.url,
        "AZURE_OPENAI_API_KEY": "fake-key-123",
        "OPENAI_API_VERSION": "2024-10-21",
        "LIMSAI_AZURE_DEPLOYMENT": "limsai-gpt4o",
        "LIMSAI_AZURE_MODEL": "gpt-4o",
    }
    return run_synchronously(
        workdir,
        step="protocol.ingest",
        lims="embedded",
        record="study:AUR-STB-014",
        user="hgreco",
        params=[f"document_id={document_id}"],
        settings=load_settings(workdir, environ=environ),
    )


def test_the_model_extraction_is_grounded_and_merged(workdir: Path, server: FakeChatServer) -> None:  # noqa: F811
    source = upload(workdir, STB, corpus.to_docx(corpus.stability()), "STB-2025-014 protocol.docx", DOCX)
    result = succeeded(ingest_with_model(workdir, server, source.document_id))

    (request,) = server.requests
    assert request.path == "/openai/deployments/limsai-gpt4o/chat/completions"
    assert request.query["api-version"] == ["2024-10-21"]
    assert request.headers.get("api-key") == "fake-key-123"
    assert "response_format" in request.body and "Northwind Pharma" in request.prompt

    req = ProtocolRequirements.model_validate_json(draft_content(workdir, STB, result, "requirements.json"))
    assert req.extractor == "deterministic/1+azure:limsai-gpt4o:gpt-4o"
    agreed = next(i for i in req.of_kind(ItemKind.STABILITY_CONDITION) if i.value == "25 °C/60% RH")
    assert agreed.confidence == 0.95 and agreed.attributes["llm"] == "agrees"  # 0.9 from the table alone
    other = next(i for i in req.of_kind(ItemKind.STABILITY_CONDITION) if i.value == "40 °C/75% RH")
    assert other.confidence == 0.9

    conflict = next(a for a in req.ambiguities if a.kind is AmbiguityKind.CONFLICTING_VALUE)
    assert "'95.0% of label claim'" in conflict.message and "'95.0-105.0% of label claim'" in conflict.message
    assert [c.quote for c in conflict.citations] == ["95.0-105.0% of label claim"] * 2
    ungrounded = [a for a in req.ambiguities if a.message.startswith("ungrounded:")]
    assert len(ungrounded) == 1 and "batches '3'" in ungrounded[0].message
    assert "quote not found verbatim in the document" in ungrounded[0].message
    assert not any(i.attributes.get("source") == "llm" for i in req.requirements)

    plan = LimsPlan.model_validate_json(draft_content(workdir, STB, result, "lims-plan.json"))
    by_kind = {a.kind: a for a in plan.ambiguities}
    assay = next(i for i in plan.specifications if i.details["test"] == "Assay")
    assert by_kind[AmbiguityKind.CONFLICTING_VALUE].id in assay.blocked_by
    assert by_kind[AmbiguityKind.NOT_STATED].blocks == []

    merge = {"agreed": 1, "disagreed": 1, "ungrounded": 1, "added": 0, "values": 3}
    summary = result["summary"]
    assert summary["llm"]["model_id"] == "azure:limsai-gpt4o:gpt-4o"
    assert merge.items() <= summary["llm"].items()
    manifest = json.loads(draft_content(workdir, STB, result, "manifest.json"))
    provenance = manifest["provenance"]
    llm = provenance["facts"]["llm"]
    assert llm["model_id"] == "azure:limsai-gpt4o:gpt-4o" and llm["prompt"]["id"] == "protocol_extraction"
    assert llm["usage"]["prompt_tokens"] > 0 and llm["usage"]["total_tokens"] > llm["usage"]["prompt_tokens"]
    assert merge.items() <= llm["merge"].items()
    assert provenance["agent"]["model_id"] == "azure:limsai-gpt4o:gpt-4o"
    assert provenance["agent"]["prompt_id"] == "protocol_extraction"

    with AuditLog(workdir) as audit:
        calls = [e.record for e in audit.entries() if e.record.action == "step.llm_call"]
    assert len(calls) == 1
    logged = json.dumps(calls[0].model_dump(mode="json"))
    assert "fake-key-123" not in logged and "label claim" not in logged and "Northwind" not in logged


def test_a_malformed_model_answer_fails_the_run_and_attaches_nothing(
    workdir: Path,  # noqa: F811
    server: FakeChatServer,
    model: Model,
) -> None:
    source = upload(workdir, STB, corpus.to_docx(corpus.stability()), "STB-2025-014 protocol.docx", DOCX)
    model.text = "I cannot help with that."
    before = lims_state(workdir, STB)
    job = ingest_with_model(workdir, server, source.document_id)
    assert job.state.value == "failed"
    assert (job.last_error or "").startswith(
        "ModelExtractionFailed: the language model azure:limsai-gpt4o:gpt-4o could not extract"
    )
    assert "nothing was attached" in (job.last_error or "")
    assert lims_state(workdir, STB) == before
