"""The step registry: core steps are found in limsai.steps with what they declare; an unknown id, bad
parameters, a malformed declaration or an id declared twice each fail with a clear, typed error."""

from __future__ import annotations

import types
from datetime import date

import pytest

from limsai.governance.context import ClientProjectContext
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import Permission, RolloutPhase
from limsai.lims.port import Capability
from limsai.model import StudyPhase
from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import LimsaiPluginManager
from limsai.runtime.registry import (
    AgentMismatch,
    BadParameters,
    DuplicateStep,
    InvalidStep,
    StepOutcome,
    StepPhase,
    StepRegistry,
    StepRun,
    StepSpec,
    UnknownStep,
    load_registry,
)
from limsai.steps.status_update import StatusUpdateParams
from limsai.testing.factories import tiny_dataset


def _noop(run: StepRun) -> StepOutcome:
    return StepOutcome(message="nothing")


def spec(step_id: str = "demo.noop", **changes: object) -> StepSpec:
    fields: dict[str, object] = {
        "id": step_id,
        "version": "0.1.0",
        "title": "No-op",
        "description": "Does nothing.",
        "input_model": StatusUpdateParams,
        "permissions": frozenset({Permission.READ_DATA}),
        "phase": StepPhase.READ_ONLY,
        "capabilities": frozenset({Capability.READ_STUDIES}),
        "run": _noop,
        **changes,
    }
    return StepSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def registry() -> StepRegistry:
    return load_registry(LimsaiPluginManager())


def test_registry_lists_status_update_with_its_declared_fields(registry: StepRegistry) -> None:
    assert "status.update" in [s.id for s in registry.list()]
    step = registry.get("status.update")
    assert (step.id, step.version, step.title) == ("status.update", "1.0.0", "Study status update")
    assert step.input_model is StatusUpdateParams
    assert step.phase is StepPhase.READ_ONLY
    assert step.permissions == {
        Permission.READ_DATA,
        Permission.READ_DOCUMENTS,
        Permission.WRITE_DRAFTS,
        Permission.CREATE_TASKS,
    }
    assert step.capabilities == {
        Capability.READ_STUDIES,
        Capability.READ_SCHEDULE,
        Capability.READ_SAMPLES,
        Capability.READ_RESULTS,
        Capability.READ_DEVIATIONS,
        Capability.READ_DOCUMENTS,
        Capability.ATTACH_DRAFTS,
        Capability.CREATE_TASKS,
    }
    assert "no result values" in step.description
    assert registry.source("status.update") == "core (limsai.steps.status_update)"


def test_the_listing_is_sorted_by_id() -> None:
    reg = StepRegistry([spec("zeta.step"), spec("alpha.step"), spec("mid.step")])
    assert [s.id for s in reg.list()] == ["alpha.step", "mid.step", "zeta.step"]
    assert len(reg) == 3 and "mid.step" in reg and "other.step" not in reg


def test_an_unknown_step_names_the_known_ones(registry: StepRegistry) -> None:
    with pytest.raises(UnknownStep) as caught:
        registry.get("status.updat")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == (
        f"unknown step 'status.updat'; known steps: {', '.join(s.id for s in registry.list())}"
    )
    with pytest.raises(UnknownStep):
        registry.validate_params("nope.step", {})


def test_parameters_validate_into_the_input_model(registry: StepRegistry) -> None:
    params = registry.validate_params("status.update", {"as_of": "2026-06-30"})
    assert params == StatusUpdateParams(as_of=date(2026, 6, 30))
    assert registry.validate_params("status.update", {}) == StatusUpdateParams(as_of=None)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"as_of": "2026-13-01"}, "as_of: Input should be a valid date"),
        ({"as_of": "soon"}, "as_of: Input should be a valid date"),
        ({"asof": "2026-06-30"}, "asof: Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_a_clear_value_error(
    registry: StepRegistry, params: dict[str, str], problem: str
) -> None:
    with pytest.raises(BadParameters) as caught:
        registry.validate_params("status.update", params)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"bad parameters for step status.update: {problem}")
    assert caught.value.step_id == "status.update"
    assert [e["loc"] for e in caught.value.errors] == [problem.split(":")[0]]


def test_parameters_that_are_not_an_object_are_refused(registry: StepRegistry) -> None:
    with pytest.raises(BadParameters, match="expected an object, got list"):
        registry.validate_params("status.update", ["2026-06-30"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Status Update"}, "step id 'Status Update' must be dotted lower-case words"),
        ({"id": "status"}, "step id 'status' must be dotted lower-case words"),
        ({"version": "1.0"}, "version '1.0' must be MAJOR.MINOR.PATCH"),
        ({"input_model": dict}, "input_model must be a pydantic model class"),
        ({"permissions": frozenset({Permission.WRITE_DATA})}, "is read-only and cannot use data.write"),
    ],
)
def test_a_malformed_step_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidStep, match=message):
        spec("demo.noop", **changes)


def test_a_write_back_step_may_write_data_and_runs_only_in_write_back() -> None:
    writer = spec(phase=StepPhase.WRITE_BACK, permissions=frozenset({Permission.WRITE_DATA}))
    assert [writer.runs_in(p) for p in RolloutPhase] == [False, False, True]
    assert [spec().runs_in(p) for p in RolloutPhase] == [True, True, True]


def test_required_permissions_drop_the_writes_a_phase_does_not_allow(registry: StepRegistry) -> None:
    step = registry.get("status.update")
    assert step.required_permissions(RolloutPhase.READ_ONLY) == {
        Permission.READ_DATA,
        Permission.READ_DOCUMENTS,
    }
    assert step.required_permissions(RolloutPhase.REVIEW_ASSISTED) == step.permissions


def test_the_agent_identity_must_be_the_steps_own(registry: StepRegistry) -> None:
    step = registry.get("status.update")
    assert step.agent() == AgentIdentity(step_id="status.update", step_version="1.0.0")
    director = next(u for u in tiny_dataset().users if u.user_id == "sd.a")

    def context(agent: AgentIdentity) -> ClientProjectContext:
        return ClientProjectContext(
            sponsor_id="SPN-A",
            study_id="STB-A-1",
            protocol_number="A-STB-001",
            study_phase=StudyPhase.NOT_APPLICABLE,
            principal=director,
            agent=agent,
            rollout_phase=RolloutPhase.READ_ONLY,
            run_id="r1",
        )

    step.check_agent(context(step.agent()))
    with pytest.raises(AgentMismatch, match=r"for status\.update 0\.9\.0, not for status\.update 1\.0\.0"):
        step.check_agent(context(AgentIdentity(step_id="status.update", step_version="0.9.0")))


def test_a_step_id_declared_twice_names_both_sources() -> None:
    plugin = types.ModuleType("twin_plugin")

    @hookimpl
    def limsai_steps() -> list[StepSpec]:
        return [spec("status.update", run=_noop)]

    plugin.limsai_steps = limsai_steps  # type: ignore[attr-defined]
    manager = LimsaiPluginManager()
    assert manager.add_plugin(plugin, "twin") is None
    with pytest.raises(DuplicateStep) as caught:
        load_registry(manager)
    assert str(caught.value) == (
        "step id 'status.update' is declared twice: by core (limsai.steps.status_update) "
        f"and by plugin 'twin' ({__name__})"
    )
