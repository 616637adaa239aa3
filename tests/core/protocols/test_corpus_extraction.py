"""Generated protocols (DOCX and PDF): every known requirement extracted, every planted ambiguity
flagged, every citation's quote equal to the source text at its span."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from limsai.cli_protocol import protocol_app
from limsai.protocols import ItemKind, ProtocolReadError, ProtocolRequirements, corpus, extract, read_protocol
from limsai.protocols.usdm import UsdmValidationError, build_usdm, validate_usdm

CASES = [(g, fmt) for g in ("bioanalytical", "stability") for fmt in ("docx", "pdf")]


def _ingest(name: str, fmt: str) -> tuple[Any, ProtocolRequirements, bytes]:
    protocol = getattr(corpus, name)()
    content = corpus.to_docx(protocol) if fmt == "docx" else corpus.to_pdf(protocol)
    doc = read_protocol(content, f"{name}.{fmt}")
    return protocol, extract(doc), content


@pytest.fixture(scope="module", params=CASES, ids=[f"{g}-{f}" for g, f in CASES])
def ingested(request: pytest.FixtureRequest) -> tuple[Any, ProtocolRequirements, Any]:
    protocol, req, content = _ingest(*request.param)
    return protocol, req, read_protocol(content, "x")


def values(req: ProtocolRequirements, kind: ItemKind) -> set[str]:
    return {i.value for i in req.of_kind(kind)}


def test_header_fields(ingested: tuple[Any, ProtocolRequirements, Any]) -> None:
    protocol, req, _ = ingested
    exp = protocol.expected
    assert req.protocol_number is not None and req.protocol_number.value == exp["protocol_number"]
    assert req.sponsor is not None and req.sponsor.value == exp["sponsor"]
    assert (req.phase.value if req.phase else None) == exp["phase"]
    assert {i.value for i in req.identifiers} == exp.get("identifiers", set())


def test_requirements_extracted(ingested: tuple[Any, ProtocolRequirements, Any]) -> None:
    protocol, req, _ = ingested
    exp = protocol.expected
    for kind in (ItemKind.TEST_METHOD, ItemKind.MATRIX, ItemKind.STORAGE, ItemKind.STABILITY_CONDITION):
        assert exp.get(kind.value, set()) <= values(req, kind), kind
    found_acceptance = " | ".join(values(req, ItemKind.ACCEPTANCE))
    for criterion in exp["acceptance_criterion"]:
        assert criterion in found_acceptance
    formats = {
        f.strip() for i in req.of_kind(ItemKind.DELIVERABLE) for f in i.attributes["formats"].split(",")
    }
    assert exp["deliverable_formats"] <= formats
    if "pull_months" in exp:
        assert exp["pull_months"] <= {i.attributes["months"] for i in req.of_kind(ItemKind.PULL_POINT)}


def test_schedule_and_pk(ingested: tuple[Any, ProtocolRequirements, Any]) -> None:
    protocol, req, _ = ingested
    exp = protocol.expected
    if "activities" not in exp:
        assert req.schedule == []
        return
    assert {a.value for a in req.activities} == exp["activities"]
    assert {e.value for e in req.encounters} == exp["encounters"]
    pairs = {(s.activity, s.encounter) for s in req.schedule}
    assert exp["pairs"] <= pairs
    assert ("Informed consent", "24 h") not in pairs
    assert {p.value for p in req.pk_timepoints} == exp["pk_timepoints"]


def test_planted_ambiguities_flagged(ingested: tuple[Any, ProtocolRequirements, Any]) -> None:
    protocol, req, _ = ingested
    for kind, hint in protocol.expected["ambiguities"]:
        hits = [a for a in req.ambiguities if a.kind.value == kind]
        assert any(hint in a.message or any(hint in c.quote for c in a.citations) for a in hits), (kind, hint)


def test_every_citation_quotes_its_span(ingested: tuple[Any, ProtocolRequirements, Any]) -> None:
    _, req, doc = ingested
    citations = req.citations()
    assert len(citations) > 10
    for c in citations:
        assert c.document_sha256 == doc.sha256
        assert doc.page(c.page).text[c.start : c.end] == c.quote


def test_injection_changes_nothing_but_a_flag() -> None:
    plain = corpus.bioanalytical()
    clean = corpus.GeneratedProtocol(plain.name, [b for b in plain.blocks if b[1] != corpus.INJECTION])
    with_text = extract(read_protocol(corpus.to_docx(plain), "a.docx"))
    without = extract(read_protocol(corpus.to_docx(clean), "a.docx"))
    strip = {"document_sha256", "ambiguities"}
    a, b = with_text.model_dump(exclude=strip), without.model_dump(exclude=strip)
    assert [i["value"] for i in a["requirements"]] == [i["value"] for i in b["requirements"]]
    assert [s["activity"] + s["encounter"] for s in a["schedule"]] == [
        s["activity"] + s["encounter"] for s in b["schedule"]
    ]
    kinds = [x.kind.value for x in with_text.ambiguities]
    assert kinds.count("embedded_instruction") == 1
    assert "embedded_instruction" not in [x.kind.value for x in without.ambiguities]


def test_usdm_valid_and_broken_rejected() -> None:
    _, req, _ = _ingest("bioanalytical", "pdf")
    document = build_usdm(req)
    version = document["study"]["versions"][0]
    assert version["studyIdentifiers"][0]["text"] == "ACM-BA-2031"
    design = version["studyDesigns"][0]
    assert design["studyPhase"]["standardCode"]["decode"] == "Phase I Trial"
    assert {a["name"] for a in design["activities"]} == {a.value for a in req.activities}
    broken = copy.deepcopy(document)
    del broken["study"]["versions"][0]["studyIdentifiers"][0]["scopeId"]
    with pytest.raises(UsdmValidationError, match="scopeId"):
        validate_usdm(broken)
    broken = copy.deepcopy(document)
    broken["usdmVersion"] = 4
    with pytest.raises(UsdmValidationError):
        validate_usdm(broken)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(protocol_app, name="protocol")
    return app


def test_cli_json_and_usdm(tmp_path: Any) -> None:
    src = tmp_path / "protocol.pdf"
    src.write_bytes(corpus.to_pdf(corpus.bioanalytical()))
    out = tmp_path / "usdm.json"
    result = CliRunner().invoke(_cli(), ["protocol", "ingest", str(src), "--json", "--usdm", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "protocol_number",
        "identifiers",
        "sponsor",
        "phase",
        "titles",
        "activities",
        "encounters",
        "schedule",
        "pk_timepoints",
        "requirements",
        "ambiguities",
    ):
        assert key in data
    assert data["protocol_number"]["value"] == "ACM-BA-2031"
    assert data["schedule"][0]["citation"]["quote"]
    validate_usdm(json.loads(out.read_text(encoding="utf-8")))


def test_cli_bad_file_exits_3(tmp_path: Any) -> None:
    src = tmp_path / "protocol.pdf"
    src.write_bytes(b"%PDF-1.4 garbage")
    result = CliRunner().invoke(_cli(), ["protocol", "ingest", str(src), "--json"])
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["type"] == "bad_input"


def test_read_errors_are_typed() -> None:
    with pytest.raises(ProtocolReadError, match=r"^empty"):
        read_protocol(b"", "a.pdf")
    with pytest.raises(ProtocolReadError, match=r"^corrupt"):
        read_protocol(b"%PDF-1.4 not really", "a.pdf")
    with pytest.raises(ProtocolReadError, match=r"^corrupt"):
        read_protocol(b"PK\x03\x04 broken zip", "a.docx")
    with pytest.raises(ProtocolReadError, match=r"^encrypted"):
        read_protocol(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "a.docx")
