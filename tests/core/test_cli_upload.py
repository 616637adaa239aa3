"""``limsai lims upload`` files a sponsor protocol on a study as a named person; ``protocol.ingest``
then drafts its requirements and LIMS plan from it. Bad input changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from limsai.cli_support import EXIT_BAD_INPUT, EXIT_LIMS_REJECTED
from limsai.protocols.corpus import bioanalytical, to_pdf


def limsai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limsai.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload")
    assert limsai("scenario", "seed", "--workdir", str(path)).returncode == 0
    return path


def test_upload_then_ingest(workdir: Path, tmp_path: Path) -> None:
    protocol = tmp_path / "protocol-AUR-PK-007.pdf"
    protocol.write_bytes(to_pdf(bioanalytical()))
    proc = limsai(
        "lims",
        "upload",
        str(protocol),
        "--workdir",
        str(workdir),
        "--study",
        "AUR-PK-007",
        "--as",
        "hgreco",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["status"] == "approved" and document["created_by"] == "hgreco"
    assert document["media_type"] == "application/pdf" and document["attribution"] is None
    run = limsai(
        "run", "protocol.ingest", "--workdir", str(workdir), "--record", "study:AUR-PK-007", "--json"
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "succeeded", result
    assert result["summary"]["protocol_number"] == "ACM-BA-2031" and result["summary"]["ambiguities"] > 0
    assert len(result["drafts"]) == 5 and len(result["tasks"]) == 1


def test_upload_refuses_bad_input_and_foreign_studies(workdir: Path, tmp_path: Path) -> None:
    missing = limsai("lims", "upload", str(tmp_path / "nope.pdf"), "--workdir", str(workdir), "--study",
                     "AUR-PK-007", "--as", "hgreco", "--json")  # fmt: skip
    assert missing.returncode == EXIT_BAD_INPUT and json.loads(missing.stdout)["error"]["type"] == "bad_input"
    protocol = tmp_path / "protocol.pdf"
    protocol.write_bytes(to_pdf(bioanalytical()))
    foreign = limsai("lims", "upload", str(protocol), "--workdir", str(workdir), "--study", "BOR-PK-011",
                     "--as", "hgreco", "--json")  # fmt: skip
    assert (
        foreign.returncode == EXIT_LIMS_REJECTED
        and "not found" in json.loads(foreign.stdout)["error"]["message"]
    )
