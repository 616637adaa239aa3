"""The LabVantage adapter against hand-written LabVantage answers (``responses``): the connection id,
paging, exact values, ``(null)`` keys, retries and the mapping of HTTP outcomes to typed errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from limsai.lims.errors import LimsRejected, LimsUnavailable, NotFound, ScopeViolation
from limsai.lims.port import Scope, StudyScope
from limsai.model import ResultStatus, SignatureMeaning, SignatureRequest
from limsai_labvantage.adapter import LabVantageAdapter
from limsai_labvantage.client import LabVantageSettings

BASE = "http://lv.test"
A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")


def adapter(**overrides: Any) -> LabVantageAdapter:
    values: dict[str, Any] = {
        "base_url": BASE,
        "username": "svc",
        "password": "pw",
        "page_size": 2,
        "backoff_s": 0,
    }
    return LabVantageAdapter(LabVantageSettings.model_validate({**values, **overrides}))


def connect(rsps: responses.RequestsMock, token: str = "c1") -> None:
    rsps.post(
        f"{BASE}/rest/connections",
        json={"connectionid": token, "code": 200, "status": "OK"},
        match=[matchers.json_params_matcher({"databaseid": "LV8", "username": "svc", "password": "pw"})],
    )


def item(n: int, value: str, sponsor: str = "SPN-A") -> dict[str, Any]:
    return {
        "sdcid": "Sample",
        "keyid1": f"S-{n}",
        "keyid2": "(null)",
        "keyid3": "(null)",
        "dataset": "1",
        "u_dataitemid": f"R-{n}",
        "u_workitemid": f"T-{n}",
        "u_studyid": "STB-A-1",
        "u_sponsorid": sponsor,
        "paramlistid": "Assay",
        "paramid": "Assay",
        "enteredtext": value,
        "enteredunits": "%LC",
        "u_status": "approved",
        "u_reportable": "Y",
        "replicateid": "1",
        "entereddt": "2026-01-15T09:00:00Z",
        "enteredby": None,
        "instrumentid": "HPLC-01",
        "reagentlotid": None,
        "u_runid": None,
        "u_retestof": None,
        "u_invalidationreason": None,
        "u_comment": "",
    }


@responses.activate
def test_paged_read_keeps_exact_values_and_sends_the_connection_id() -> None:
    connect(responses)
    scope_filter = "u_sponsorid = 'SPN-A' and u_studyid = 'STB-A-1'"
    page = {"filter": scope_filter, "maxrows": "2"}
    responses.get(
        f"{BASE}/rest/sdc/dataitems",
        json={"code": 200, "status": "OK", "morerows": "Y", "data": [item(1, "97.50"), item(2, "100.0")]},
        match=[
            matchers.query_param_matcher({**page, "startrow": "1"}),
            matchers.header_matcher({"connectionid": "c1"}),
        ],
    )
    responses.get(
        f"{BASE}/rest/sdc/dataitems",
        json={"code": 200, "status": "OK", "morerows": "N", "data": [item(3, "0.050")]},
        match=[matchers.query_param_matcher({**page, "startrow": "3"})],
    )
    results = adapter().list_results(A1)
    assert [r.value for r in results] == ["97.50", "100.0", "0.050"]
    first = results[0]
    assert (first.result_id, first.sample_id, first.test_id, first.test) == ("R-1", "S-1", "T-1", "Assay")
    assert first.status is ResultStatus.APPROVED and first.reportable is True and first.replicate == 1
    assert first.reagent_lot_id is None and first.analysed_at is not None
    assert len(responses.calls) == 3  # one connection, two pages


@responses.activate
def test_a_row_outside_the_scope_fails_closed() -> None:
    connect(responses)
    responses.get(
        f"{BASE}/rest/sdc/dataitems", json={"morerows": "N", "data": [item(1, "1.0", sponsor="SPN-B")]}
    )
    with pytest.raises(ScopeViolation, match="outside the scope SPN-A"):
        adapter().list_results(Scope(sponsor_id="SPN-A"))


@responses.activate
def test_an_expired_connection_is_reopened_once() -> None:
    connect(responses, "old")
    connect(responses, "new")
    responses.get(
        f"{BASE}/rest/sdc/users",
        status=401,
        json={"code": 401, "status": "ERROR", "message": "expired"},
        match=[matchers.header_matcher({"connectionid": "old"})],
    )
    responses.get(
        f"{BASE}/rest/sdc/users",
        json={
            "morerows": "N",
            "data": [
                {
                    "sysuserid": "sd.a",
                    "sysuserdesc": "Dr A Director",
                    "usertype": "human",
                    "u_roles": "study_director",
                    "u_sponsors": "SPN-A",
                    "u_unblinded": "N",
                    "activeflag": "Y",
                }
            ],
        },
        match=[matchers.header_matcher({"connectionid": "new"})],
    )
    users = adapter().list_users()
    assert [(u.user_id, u.sponsors, u.active, u.unblinded) for u in users] == [
        ("sd.a", ("SPN-A",), True, False)
    ]


@responses.activate
def test_persistent_5xx_is_unavailable_after_the_retries() -> None:
    connect(responses)
    responses.get(
        f"{BASE}/rest/sdc/studies", status=503, json={"code": 503, "status": "ERROR", "message": "down"}
    )
    with pytest.raises(LimsUnavailable, match="answered 503: down") as caught:
        adapter(retries=2).list_studies(Scope(sponsor_id="SPN-A"))
    assert caught.value.transient
    assert sum(1 for c in responses.calls if "/rest/sdc/studies" in c.request.url) == 3


@pytest.mark.parametrize(("status", "error"), [(404, NotFound), (400, LimsRejected), (403, LimsRejected)])
@responses.activate
def test_4xx_answers_are_permanent(status: int, error: type[Exception]) -> None:
    connect(responses)
    responses.post(
        f"{BASE}/rest/actions/RecordESignature",
        status=status,
        json={"output": {}, "code": status, "status": "ERROR", "message": "the signature does not bind"},
    )
    request = SignatureRequest(
        document_id="DOC-000001",
        version=1,
        signer="sd.a",
        printed_name="Dr A Director",
        meaning=SignatureMeaning.APPROVAL,
        content_sha256="0" * 64,
    )
    with pytest.raises(error, match="does not bind"):
        adapter().record_signature(A1, request)
    assert sum(1 for c in responses.calls if "actions" in c.request.url) == 1


@responses.activate
def test_actions_send_labvantage_properties_and_read_null_keys() -> None:
    connect(responses)
    output = {
        "workflowtaskid": "TASK-000001",
        "u_studyid": "STB-A-1",
        "u_sponsorid": "SPN-A",
        "workflowtaskdesc": "Review",
        "assignedto": "sd.a",
        "taskstatus": "open",
        "u_documentid": "(null)",
        "revision": "(null)",
        "u_instructions": "",
        "u_requiredmeaning": "review",
        "createdt": "2026-01-15T09:00:00Z",
        "createby": "limsai",
        "workflowid": "LIMSAI_REVIEW",
    }
    responses.post(
        f"{BASE}/rest/actions/AddToWorkflow",
        json={"output": output, "code": 200, "status": "OK", "message": "Action AddToWorkflow executed"},
    )
    from limsai.model import TaskRequest

    task = adapter().create_task(A1, TaskRequest(title="Review", assignee="sd.a"), idempotency_key="k")
    assert task.document_id is None and task.document_version is None and task.task_id == "TASK-000001"
    sent = json.loads(responses.calls[-1].request.body)
    assert sent["sdcid"] == "LV_Study" and sent["keyid1"] == "STB-A-1" and sent["keyid2"] == "(null)"
    assert sent["u_idempotencykey"] == "k" and sent["workflowid"] == "LIMSAI_REVIEW"
    assert sent["auditactivity"] == "limsai create_task" and sent["auditsignedflag"] == "N"


@responses.activate
def test_a_refused_connection_is_rejected_not_retried() -> None:
    responses.post(f"{BASE}/rest/connections", status=403, json={"code": 403, "message": "not enabled"})
    with pytest.raises(LimsRejected, match="refused the REST connection"):
        adapter().list_users()
