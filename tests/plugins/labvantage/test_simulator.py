"""The LabVantage simulator over HTTP, and the adapter meeting its faults: transient faults are
retried to success, permanent ones reported clearly, and no draft, task or signature is written twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import LimsRejected, LimsUnavailable
from limsai.lims.port import StudyScope
from limsai.model import SignatureMeaning, SignatureRequest, TaskRequest
from limsai.testing.conformance import draft
from limsai.testing.factories import tiny_dataset
from limsai_labvantage.adapter import LabVantageAdapter
from limsai_labvantage.harness import simulated_adapter, simulator_settings
from limsai_labvantage.simulator import DEFAULT_PASSWORD, DEFAULT_USER, LabVantageSimulator

A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")


@pytest.fixture
def lv(tmp_path: Path) -> Iterator[tuple[LabVantageAdapter, LabVantageSimulator]]:
    with EmbeddedLims(tmp_path / "lims.db") as store:
        store.load(tiny_dataset(), actor="system:test")
    with simulated_adapter(tmp_path, page_size=2, retries=3) as pair:
        yield pair


def session(sim: LabVantageSimulator) -> tuple[requests.Session, str]:
    s = requests.Session()
    body = {"databaseid": "LV8", "username": DEFAULT_USER, "password": DEFAULT_PASSWORD}
    token = s.post(f"{sim.url}/rest/connections", json=body, timeout=5).json()["connectionid"]
    s.headers["connectionid"] = token
    return s, token


def test_rest_policy_is_off_by_default(tmp_path: Path) -> None:
    with LabVantageSimulator(tmp_path / "lims.db") as sim:
        answer = requests.post(f"{sim.url}/rest/connections", json={}, timeout=5)
        assert answer.status_code == 403
        assert answer.json() == {
            "output": {},
            "code": 403,
            "status": "ERROR",
            "message": "connections are not enabled in the REST policy",
        }
        adapter = LabVantageAdapter(simulator_settings(sim))
        with pytest.raises(LimsRejected, match="not enabled in the REST policy"):
            adapter.list_users()
        sim.lims.close()


def test_connection_lifecycle(lv: tuple[LabVantageAdapter, LabVantageSimulator]) -> None:
    _, sim = lv
    s, token = session(sim)
    assert s.get(f"{sim.url}/rest/connections/{token}", timeout=5).status_code == 200
    assert s.put(f"{sim.url}/rest/connections/{token}", timeout=5).status_code == 200
    assert s.get(f"{sim.url}/rest/sdc/studies/STB-A-1", timeout=5).json()["data"][0]["s_studyid"] == "STB-A-1"
    assert s.delete(f"{sim.url}/rest/connections/{token}", timeout=5).status_code == 200
    assert s.get(f"{sim.url}/rest/connections/{token}", timeout=5).status_code == 404
    assert s.get(f"{sim.url}/rest/sdc/studies", timeout=5).status_code == 401
    bad = {"databaseid": "LV8", "username": DEFAULT_USER, "password": "wrong"}
    assert requests.post(f"{sim.url}/rest/connections", json=bad, timeout=5).status_code == 403


def test_sdc_rows_queries_and_envelopes(lv: tuple[LabVantageAdapter, LabVantageSimulator]) -> None:
    _, sim = lv
    s, _ = session(sim)
    sub = s.get(f"{sim.url}/rest/sdc/samples/STB-A-1-S-T0/dataitems", timeout=5).json()["data"]
    assert sub and all(r["keyid1"] == "STB-A-1-S-T0" and r["keyid2"] == "(null)" for r in sub)
    assert all(isinstance(r["enteredtext"], str) for r in sub)
    page = s.get(
        f"{sim.url}/rest/sdc/samples", params={"maxrows": "1", "fields": "s_sampleid"}, timeout=5
    ).json()
    assert page["morerows"] == "Y" and list(page["data"][0]) == ["s_sampleid"]
    both = s.get(f"{sim.url}/rest/sdc/users", params={"keyid1": "sd.a;sd.b"}, timeout=5).json()["data"]
    assert sorted(r["sysuserid"] for r in both) == ["sd.a", "sd.b"]
    clash = s.get(
        f"{sim.url}/rest/sdc/instruments",
        params={"queryid": "LIMSAI_INSTRUMENTS_IN_SCOPE", "keyid1": "x"},
        timeout=5,
    )
    assert clash.status_code == 400 and "exclusive" in clash.json()["message"]
    bad = s.get(f"{sim.url}/rest/sdc/samples", params={"filter": "matrix like 'x%'"}, timeout=5)
    assert bad.status_code == 400
    actions = s.get(f"{sim.url}/rest/actions", timeout=5).json()["actions"]
    assert {"AddSDI", "EnterDataItem", "AddSDIAttachment", "AddToWorkflow"} <= set(actions)


def test_add_sdi_and_enter_data_item_are_traced(lv: tuple[LabVantageAdapter, LabVantageSimulator]) -> None:
    adapter, _ = lv
    result = adapter.list_results(A1)[0]
    out = adapter.client.action(
        "EnterDataItem",
        {
            "sdcid": "Sample",
            "keyid1": result.sample_id,
            "paramlistid": result.test,
            "paramid": result.component,
            "replicateid": "1",
            "enteredtext": "97.50",
            "auditreason": "transcription corrected",
            "propsmatch": "Y",
        },
    )
    assert out == {"count": "1"}
    assert [r.value for r in adapter.list_results(A1) if r.result_id == result.result_id] == ["97.50"]
    trace = adapter.list_audit_trail(A1, result.result_id)
    assert [(t.action, t.old_value, t.new_value, t.reason) for t in trace] == [
        ("enter_data_item", result.value, "97.50", "transcription corrected")
    ]
    new = adapter.client.action(
        "AddSDI",
        {
            "sdcid": "Sample",
            "keyid1": "STB-A-1-S900",
            "u_studyid": "STB-A-1",
            "u_sponsorid": "SPN-A",
            "sampletypeid": "stability_pull",
        },
    )
    assert new == {"newkeyid1": "STB-A-1-S900", "newkeyid2": "(null)", "newkeyid3": "(null)"}
    assert "STB-A-1-S900" in {s.sample_id for s in adapter.list_samples(A1)}


def test_transient_500s_and_drops_are_retried_to_success(
    lv: tuple[LabVantageAdapter, LabVantageSimulator],
) -> None:
    adapter, sim = lv
    expected = len(sim.lims.list_results(A1))
    sim.faults.fail_next = 2
    assert len(adapter.list_results(A1)) == expected
    sim.faults.drop_next = 1
    document = adapter.attach_draft(A1, draft(), idempotency_key="k1")
    sim.faults.drop_next = 1
    sim.faults.fail_next = 1
    assert adapter.attach_draft(A1, draft(), idempotency_key="k1") == document
    sim.faults.drop_next = 1
    request = TaskRequest(
        title="Review", assignee="sd.a", document_id=document.document_id, document_version=1
    )
    task = adapter.create_task(A1, request, idempotency_key="t1")
    assert adapter.list_documents(A1) == [document] and adapter.list_tasks(A1) == [task]


def test_permanent_outage_is_reported_and_a_retry_writes_once(
    lv: tuple[LabVantageAdapter, LabVantageSimulator],
) -> None:
    adapter, sim = lv
    adapter.list_studies(A1)
    sim.faults.fail_next = 10
    with pytest.raises(LimsUnavailable, match=r"AddSDIAttachment answered 500.*after 3 retries"):
        adapter.attach_draft(A1, draft(), idempotency_key="k1")
    sim.faults.fail_next = 0
    first = adapter.attach_draft(A1, draft(), idempotency_key="k1")
    assert adapter.attach_draft(A1, draft(), idempotency_key="k1") == first
    assert len(adapter.list_documents(A1)) == 1


def test_a_signature_is_never_sent_twice(lv: tuple[LabVantageAdapter, LabVantageSimulator]) -> None:
    adapter, sim = lv
    document = adapter.attach_draft(A1, draft(), idempotency_key="k1")
    request = SignatureRequest(
        document_id=document.document_id,
        version=1,
        signer="sd.a",
        printed_name="Dr A Director",
        meaning=SignatureMeaning.APPROVAL,
        content_sha256=document.sha256,
    )
    sim.faults.fail_next = 1
    before = sim.requests
    with pytest.raises(LimsUnavailable):
        adapter.record_signature(A1, request)
    assert sim.requests - before == 1 and adapter.list_signatures(A1) == []
    signature = adapter.record_signature(A1, request)
    assert adapter.list_signatures(A1) == [signature]
    signed = [t for t in adapter.list_audit_trail(A1) if t.action == "e-signature"]
    assert len(signed) == 1
    s, _ = session(sim)
    rows = s.get(f"{sim.url}/rest/sdc/tracelog", params={"filter": "u_sponsorid = 'SPN-A'"}, timeout=5).json()
    flags = {r["activity"]: r["signedflag"] for r in rows["data"]}
    assert flags["e-signature"] == "Y" and flags["attach_draft"] == "N"


def test_expired_connection_and_runtime_fault_control(
    lv: tuple[LabVantageAdapter, LabVantageSimulator],
) -> None:
    adapter, sim = lv
    adapter.list_studies(A1)
    answer = requests.post(f"{sim.url}/_sim/faults", json={"expire_connections": True}, timeout=5)
    assert answer.json()["status"] == "OK"
    before = sim.requests_by_path.get("/rest/connections", 0)
    assert adapter.get_study(A1).study_id == "STB-A-1"
    assert sim.requests_by_path["/rest/connections"] == before + 1


def test_latency_beyond_the_timeout_is_unavailable(tmp_path: Path) -> None:
    with EmbeddedLims(tmp_path / "lims.db") as store:
        store.load(tiny_dataset(), actor="system:test")
    with simulated_adapter(tmp_path, retries=0, read_timeout_s=0.2) as (adapter, sim):
        adapter.list_studies(A1)
        sim.faults.latency_s = 0.5
        with pytest.raises(LimsUnavailable, match=r"ReadTimeout|ConnectionError"):
            adapter.list_studies(A1)
        sim.faults.latency_s = 0.0


def test_content_and_attachment_rows(lv: tuple[LabVantageAdapter, LabVantageSimulator]) -> None:
    adapter, sim = lv
    document = adapter.attach_draft(A1, draft(), idempotency_key="k1")
    assert adapter.get_document_content(A1, document.document_id, 1) == draft().content
    s, _ = session(sim)
    row = s.get(f"{sim.url}/rest/sdc/attachments", timeout=5).json()["data"][0]
    assert (row["sdcid"], row["keyid1"], row["attachmentclass"], row["revision"]) == (
        "LV_Study",
        "STB-A-1",
        "Draft",
        "1",
    )
    assert json.loads(row["u_attribution"])["step_id"] == "package.assemble"
