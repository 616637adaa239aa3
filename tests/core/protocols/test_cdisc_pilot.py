"""The real CDISC pilot protocol (LZZT) against the USDM 4.0 JSON CDISC built from it."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from limsai.protocols import ProtocolRequirements, extract, read_protocol_file
from limsai.protocols.usdm import build_usdm

PILOT = Path(__file__).resolve().parents[3].parent / "shared" / "standards" / "protocols" / "cdisc-pilot"
pytestmark = pytest.mark.skipif(not PILOT.is_dir(), reason="the shared CDISC pilot protocol is not available")


def norm(name: str) -> str:
    name = name.lower().replace("randomised", "randomized")
    return " ".join(re.findall(r"[a-z0-9+]+", name))


def found(target: str, names: list[str]) -> bool:
    t = norm(target)
    for n in map(norm, names):
        if t == n or (len(t) > 3 and len(n) > 3 and (t in n or n in t)):
            return True
        if difflib.SequenceMatcher(None, t, n).ratio() >= 0.85:
            return True
    return False


@pytest.fixture(scope="module")
def pilot() -> tuple[ProtocolRequirements, dict[str, Any], Any]:
    doc = read_protocol_file(PILOT / "CDISC_Pilot_Study.pdf")
    usdm = json.loads((PILOT / "CDISC_Pilot_Study.usdm.json").read_text(encoding="utf-8"))
    return extract(doc), usdm, doc


def test_header_fields_exact(pilot: tuple[ProtocolRequirements, dict[str, Any], Any]) -> None:
    req, usdm, _ = pilot
    version = usdm["study"]["versions"][0]
    orgs = {o["id"]: o for o in version["organizations"]}
    sponsor_id = version["studyIdentifiers"][0]
    assert req.protocol_number is not None and req.protocol_number.value == sponsor_id["text"]
    assert req.sponsor is not None and req.sponsor.value == orgs[sponsor_id["scopeId"]]["label"]
    phase = version["studyDesigns"][0]["studyPhase"]["standardCode"]
    assert req.phase is not None and req.phase.value == phase["decode"]
    assert req.phase.attributes["code"] == phase["code"]


def test_activity_names_found(pilot: tuple[ProtocolRequirements, dict[str, Any], Any]) -> None:
    req, usdm, _ = pilot
    expected = [a["name"] for a in usdm["study"]["versions"][0]["studyDesigns"][0]["activities"]]
    names = [a.value for a in req.activities]
    hits = [n for n in expected if found(n, names)]
    score = len(hits) / len(expected)
    print(f"CDISC pilot: {len(hits)}/{len(expected)} USDM activity names found ({score:.0%})")
    assert score >= 0.8


def test_citations_and_usdm(pilot: tuple[ProtocolRequirements, dict[str, Any], Any]) -> None:
    req, _, doc = pilot
    for c in req.citations():
        assert doc.page(c.page).text[c.start : c.end] == c.quote
    design = build_usdm(req)["study"]["versions"][0]["studyDesigns"][0]
    assert len(design["encounters"]) == len(req.encounters) >= 12
