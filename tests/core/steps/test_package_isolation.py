"""Sponsor isolation of data packages, as a property over scenarios: for any seed, nothing a
package run of one sponsor produces — its files (text extracted from DOCX, XLSX and PDF, not the
compressed bytes), the documents it attached to the LIMS (including the manifest with the facts the
summary prompt was rendered from), its audit entries and its log lines — holds another sponsor's
canary. The sponsor's own canary does reach its package (sample comments in Cascade's inventory),
so the check can see a canary when one is there."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limsai.governance.audit_log import AuditLog
from limsai.lims.port import Scope
from limsai.lims.scenario import REFERENCE_TIME
from limsai.runtime.local import run_synchronously
from limsai.seeding import seed_workdir
from limsai.workdir import open_lims

LOG = "logs/limsai.jsonl"


def readable(name: str, content: bytes) -> str:
    """What a reader of the file sees: every XML part of a DOCX/XLSX, the extracted text of a PDF."""
    if name.endswith((".docx", ".xlsx")):
        import io

        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    if name.endswith(".pdf"):
        import io

        from pypdf import PdfReader

        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return content.decode("utf-8", "replace")


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=1, max_value=2**32 - 1))
def test_no_canary_crosses_sponsors_in_any_scenario(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    workdir = tmp_path_factory.mktemp("iso")
    seeded = seed_workdir(workdir, seed=seed, results=None, force=False)
    (workdir / "limsai.toml").write_text(f'log_file = "{LOG}"\n', encoding="utf-8")
    canaries: dict[str, str] = seeded["canaries"]
    lims = open_lims(workdir)
    studies = [
        (study.sponsor_id, study.study_id)
        for sponsor in lims.list_sponsors()
        for study in lims.list_studies(Scope(sponsor_id=sponsor.sponsor_id))
    ]
    lims.close()
    own_seen = set()
    for sponsor, study in studies:
        job = run_synchronously(
            workdir,
            step="package.assemble",
            lims="embedded",
            record=f"study:{study}",
            user=None,
            milestone="Isolation check",
            params=[f"as_of={REFERENCE_TIME.isoformat()}"],
        )
        assert job.state.value == "succeeded", job.last_error
        out = Path(job.result["summary"]["out_dir"]) if job.result else workdir
        texts = [readable(p.name, p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()]
        lims = open_lims(workdir)
        scope = Scope(sponsor_id=sponsor, study_id=study)
        for doc in lims.list_documents(scope):
            if doc.attribution is not None and doc.attribution.run_id == job.run_id:
                texts.append(
                    readable(doc.filename, lims.get_document_content(scope, doc.document_id, doc.version))
                )
        lims.close()
        with AuditLog(workdir) as audit:
            texts.extend(e.model_dump_json() for e in audit.entries(run_id=job.run_id))
        texts.extend(
            line for line in (workdir / LOG).read_text(encoding="utf-8").splitlines() if job.run_id in line
        )
        blob = "\n".join(texts)
        for other, canary in canaries.items():
            if other != sponsor:
                assert canary not in blob, f"{study} ({sponsor}) carries {other}'s canary"
        if canaries[sponsor] in blob:
            own_seen.add(sponsor)
        assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["sponsor"] == sponsor
    assert "SPN-CASCADE" in own_seen  # the check would see a canary that got through
