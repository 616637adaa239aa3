"""Property tests of sponsor isolation: whatever the sponsors and whatever sequence of gateway calls a
step makes, nothing returned, logged or rendered carries another sponsor's canary."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limsai.governance.context import ClientProjectContext
from limsai.governance.gateway import ScopedGateway
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import RolloutPhase
from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import Scope, StudyScope
from limsai.lims.scenario import Scenario, generate
from limsai.model import AiAttribution, DraftDocument, TaskRequest
from limsai.testing.audit import ListAuditSink
from limsai.testing.factories import tiny_dataset

AGENT = AgentIdentity(step_id="report.draft", step_version="0.1.0")
METHODS = [
    "get_study",
    "list_conditions",
    "list_timepoints",
    "list_samples",
    "list_tests",
    "list_results",
    "list_specifications",
    "list_instruments",
    "list_calibrations",
    "list_reagent_lots",
    "list_deviations",
    "list_documents",
    "list_tasks",
    "list_signatures",
    "list_audit_trail",
]


def rendered(value: Any) -> str:
    items = value if isinstance(value, list) else [value]
    return "\n".join(item.model_dump_json() for item in items)


def run_calls(lims: EmbeddedLims, ctx: ClientProjectContext, calls: list[str]) -> tuple[str, str]:
    sink = ListAuditSink()
    gw = ScopedGateway(lims, ctx, sink)
    out = []
    for method in calls:
        out.append(rendered(getattr(gw, method)()))
    return "\n".join(out), sink.dump()


tags = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=4),
    min_size=2,
    max_size=4,
    unique=True,
)


@settings(max_examples=25, deadline=None)
@given(
    tags=tags,
    pick=st.integers(min_value=0, max_value=3),
    calls=st.lists(st.sampled_from(METHODS), max_size=8),
)
def test_random_sponsors_and_calls_never_leak_a_canary(tags: list[str], pick: int, calls: list[str]) -> None:
    sponsors = tuple(f"SPN-{t.upper()}" for t in tags)
    me = sponsors[pick % len(sponsors)]
    tag = me.split("-")[1].lower()
    with tempfile.TemporaryDirectory() as tmp:
        lims = EmbeddedLims(Path(tmp) / "lims.db")
        lims.load(tiny_dataset(sponsors), actor="system:test")
        scope = StudyScope(sponsor_id=me, study_id=f"STB-{tag.upper()}-1")
        ctx = ClientProjectContext.for_study(
            lims, scope, user_id=f"sd.{tag}", agent=AGENT, rollout_phase=RolloutPhase.READ_ONLY, run_id="r"
        )
        returned, logged = run_calls(lims, ctx, ["list_samples", *calls])
        lims.close()
    assert f"CANARY-{tag}" in returned
    for other in sponsors:
        if other != me:
            canary = f"CANARY-{other.split('-')[1].lower()}"
            assert canary not in returned and canary not in logged


@pytest.fixture(scope="module")
def scenario_lims(tmp_path_factory: pytest.TempPathFactory) -> tuple[EmbeddedLims, Scenario]:
    scenario = generate()
    lims = EmbeddedLims(tmp_path_factory.mktemp("scn") / "lims.db")
    lims.load(scenario.dataset, actor="system:test")
    return lims, scenario


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_scenario_gateway_sequences_never_cross_sponsors(
    scenario_lims: tuple[EmbeddedLims, Scenario], data: st.DataObject
) -> None:
    lims, scenario = scenario_lims
    sponsor = data.draw(st.sampled_from(sorted(scenario.canaries)))
    studies = sorted(s.study_id for s in lims.list_studies(Scope(sponsor_id=sponsor)))
    study = data.draw(st.sampled_from(studies))
    users = sorted(u.user_id for u in lims.list_users() if sponsor in u.sponsors and u.roles)
    user = data.draw(st.sampled_from(users))
    ctx = ClientProjectContext.for_study(
        lims,
        StudyScope(sponsor_id=sponsor, study_id=study),
        user_id=user,
        agent=AGENT,
        rollout_phase=RolloutPhase.REVIEW_ASSISTED,
        run_id="r",
    )
    sink = ListAuditSink()
    gw = ScopedGateway(lims, ctx, sink)
    calls = data.draw(
        st.lists(st.sampled_from([*METHODS, "attach_draft", "create_task"]), min_size=1, max_size=6)
    )
    returned = []
    for method in calls:
        try:
            if method == "attach_draft":
                attribution: AiAttribution = gw.attribution()
                content = f"draft for {study}: {scenario.canaries[sponsor]}".encode()
                doc = DraftDocument(
                    name=f"{study} draft",
                    filename="d.txt",
                    media_type="text/plain",
                    content=content,
                    attribution=attribution,
                )
                returned.append(
                    rendered(gw.attach_draft(doc, idempotency_key=f"{study}-{user}-{len(returned)}"))
                )
            elif method == "create_task":
                director = gw.get_study().study_director or user
                task = TaskRequest(title="Review", assignee=director)
                returned.append(rendered(gw.create_task(task, idempotency_key=f"{study}-{user}-t")))
            else:
                returned.append(rendered(getattr(gw, method)()))
        except Exception as exc:  # refusals are fine; they must not leak either
            returned.append(str(exc))
    text, logged = "\n".join(returned), sink.dump()
    for other, canary in scenario.canaries.items():
        if other != sponsor:
            assert canary not in text and canary not in logged
    assert all(r.sponsor_id == sponsor for r in sink.records)
