"""The language-model path end to end: ``limsai demo`` with ``LIMSAI_LLM_PROVIDER=azure`` pointed at a
loopback fake. The fake sees Azure's URL shape and ``api-key`` header; a narrative with a number not in
the facts is flagged (``narrative_checks.verified`` false, the number listed, the review task marked
for attention), never corrected; and no prompt carries another sponsor's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.port import Scope
from limsai.testing.fake_llm import FakeChatServer
from limsai.workdir import open_lims

WRONG = "9999"
SPONSORS = ("SPN-AURORA", "SPN-BOREAL", "SPN-CASCADE")


def narrative(body: dict[str, Any]) -> str:
    return f"Purpose: this package covers the study. Results: {WRONG} samples were analysed."


@pytest.mark.slow
def test_demo_with_azure_flags_an_unverified_number_and_keeps_sponsors_apart(tmp_path: Path) -> None:
    with FakeChatServer(narrative) as server:
        env = {
            **os.environ,
            "LIMSAI_LLM_PROVIDER": "azure",
            "AZURE_OPENAI_ENDPOINT": server.url,
            "AZURE_OPENAI_API_KEY": "fake-key-123",
            "OPENAI_API_VERSION": "2024-10-21",
            "LIMSAI_AZURE_DEPLOYMENT": "limsai-gpt4o",
            "LIMSAI_AZURE_MODEL": "gpt-4o",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "limsai.cli", "demo", "--workdir", str(tmp_path), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        requests = list(server.requests)
    state = json.loads(proc.stdout)
    assert state["audit"]["ok"]
    assert requests, "the demo drafted nothing with the model"
    for request in requests:
        assert request.path == "/openai/deployments/limsai-gpt4o/chat/completions"
        assert request.query["api-version"] == ["2024-10-21"]
        assert request.headers.get("api-key") == "fake-key-123"
    canaries = json.loads((tmp_path / "scenario.json").read_text(encoding="utf-8"))["canaries"]
    for request in requests:
        body = json.dumps(request.body)
        assert not any(c in body for c in canaries.values())
        assert sum(s in body for s in SPONSORS) == 1  # one sponsor's facts per prompt
    for package in state["packages"]:
        out = Path(package["summary"]["out_dir"])
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["narrative_checks"] == {"verified": False, "unverified_claims": [WRONG]}
        assert manifest["provenance"]["model_id"].startswith("azure:limsai-gpt4o")
        assert manifest["provenance"]["llm_call"]["call"]["usage"]["prompt_tokens"] > 0
    lims = open_lims(tmp_path)
    tasks = [t for s in SPONSORS for t in lims.list_tasks(Scope(sponsor_id=s))]
    lims.close()
    package_tasks = [t for t in tasks if "data package" in t.title]
    assert package_tasks and all(t.title.startswith("ATTENTION") for t in package_tasks)


def test_the_model_reads_passages_of_the_sponsors_own_protocol_as_data(tmp_path: Path) -> None:
    from limsai.lims.embedded.uploads import upload_document
    from limsai.lims.port import StudyScope
    from limsai.lims.scenario import REFERENCE_TIME
    from limsai.protocols.corpus import bioanalytical, to_pdf
    from limsai.runtime.local import run_synchronously
    from limsai.runtime.settings import load_settings

    assert (
        subprocess.run(
            [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", str(tmp_path)],
            capture_output=True,
        ).returncode
        == 0
    )
    lims = open_lims(tmp_path)
    upload_document(
        lims,
        StudyScope(sponsor_id="SPN-AURORA", study_id="AUR-PK-007"),
        name="protocol AUR-PK-007",
        filename="protocol.pdf",
        media_type="application/pdf",
        content=to_pdf(bioanalytical()),
        uploaded_by="hgreco",
    )
    lims.close()
    with FakeChatServer(narrative) as server:
        environ = {
            "LIMSAI_LLM_PROVIDER": "azure",
            "AZURE_OPENAI_ENDPOINT": server.url,
            "AZURE_OPENAI_API_KEY": "fake-key-123",
            "OPENAI_API_VERSION": "2024-10-21",
            "LIMSAI_AZURE_DEPLOYMENT": "limsai-gpt4o",
            "LIMSAI_AZURE_MODEL": "gpt-4o",
        }
        job = run_synchronously(
            tmp_path,
            step="package.assemble",
            lims="embedded",
            record="study:AUR-PK-007",
            user="hgreco",
            milestone="Analysis Complete",
            params=[f"as_of={REFERENCE_TIME.isoformat()}"],
            settings=load_settings(tmp_path, environ=environ),
        )
        [request] = server.requests
    assert job.state.value == "succeeded", job.last_error
    prompt = request.prompt
    block = prompt[prompt.index("<document>") : prompt.index("</document>")]
    assert "[DOC-" in block and "LC-MS/MS" in block  # passages of the protocol filed on the study
    assert sum(s in json.dumps(request.body) for s in SPONSORS) == 1
    manifest = json.loads(
        (Path(job.result["summary"]["out_dir"]) / "manifest.json").read_text(encoding="utf-8")
    )
    assert any("suspected" in flag and "not followed" in flag for flag in manifest["validation_flags"])
