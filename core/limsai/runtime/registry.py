"""The step registry: every AI step limsai can run, by id, with what it needs and may do.

A step is a :class:`StepSpec`: an id and version, its input model, the permissions it uses, its
phase (read-only or write-back), the adapter capabilities it needs and a ``run`` function. The core
steps are the modules of :mod:`limsai.steps` (each defines ``STEP``); plugins add theirs through the
``limsai_steps`` hook. This module is itself registered as the core's plugin for that hook, so
:func:`load_registry` treats core and plugin steps alike and refuses an id declared twice.
"""

from __future__ import annotations

import builtins
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from limsai.governance.context import ClientProjectContext
from limsai.governance.gateway import ScopedGateway
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import PHASE_WRITES, WRITE_PERMISSIONS, Permission, RolloutPhase
from limsai.lims.port import Capability
from limsai.runtime.hookspecs import hookimpl

if TYPE_CHECKING:
    from limsai.runtime.plugins import LimsaiPluginManager
    from limsai.runtime.settings import LlmSettings

STEPS_PACKAGE = "limsai.steps"
STEP_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class StepPhase(StrEnum):
    """Read-only steps never write data (they may attach drafts and open review tasks when the
    deployment's rollout phase allows); write-back steps write structured data."""

    READ_ONLY = "read-only"
    WRITE_BACK = "write-back"


class StepOutcome(BaseModel):
    """What a run hands back to the LIMS that asked: what the user sees next to the step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: dict[str, Any] = Field(default_factory=dict, description="findings summary: counts, flags")
    drafts: list[dict[str, Any]] = Field(
        default_factory=list, description="document_id, version, name and sha256 of each attached draft"
    )
    tasks: list[str] = Field(default_factory=list, description="ids of the review tasks opened")
    message: str = ""


@dataclass(frozen=True)
class StepRun:
    """One execution of a step: the scoped context, the gateway (the step's only way to the LIMS),
    the validated parameters, the milestone it runs for, the attempt number (1 = first), the
    deployment's work directory (sponsor profile overrides, output files; None in unit tests) and
    its language-model settings (None or ``deterministic``: the offline drafter)."""

    context: ClientProjectContext
    gateway: ScopedGateway
    params: BaseModel
    milestone: str = ""
    attempt: int = 1
    workdir: Path | None = None
    llm: LlmSettings | None = None


class InvalidStep(ValueError):
    """A step declaration that cannot be registered."""


class UnknownStep(KeyError):
    """No step has this id; the message names the ones that exist."""

    def __init__(self, step_id: str, known: Iterable[str]) -> None:
        self.step_id = step_id
        self.known = sorted(known)
        super().__init__(step_id)

    def __str__(self) -> str:
        return f"unknown step {self.step_id!r}; known steps: {', '.join(self.known) or 'none'}"


class BadParameters(ValueError):
    """A step's parameters do not validate against its input model; ``errors`` lists each problem
    (location, message) for a problem+json answer."""

    def __init__(self, step_id: str, errors: builtins.list[dict[str, Any]]) -> None:
        self.step_id = step_id
        self.errors = errors
        problems = "; ".join(f"{e['loc'] or '(parameters)'}: {e['msg']}" for e in errors)
        super().__init__(f"bad parameters for step {step_id}: {problems}")


class DuplicateStep(ValueError):
    """Two sources declare one step id."""


class AgentMismatch(ValueError):
    """The run's context names another AI agent (step id or version) than the step being run."""


@dataclass(frozen=True)
class StepSpec:
    """An AI step. ``permissions`` are all it may use; write permissions the deployment's rollout
    phase does not allow are simply not used (see :meth:`required_permissions`)."""

    id: str
    version: str
    title: str
    description: str
    input_model: type[BaseModel]
    permissions: frozenset[Permission]
    phase: StepPhase
    capabilities: frozenset[Capability]
    run: Callable[[StepRun], StepOutcome] = field(compare=False)

    def __post_init__(self) -> None:
        if not STEP_ID.match(self.id):
            raise InvalidStep(f"step id {self.id!r} must be dotted lower-case words, e.g. 'status.update'")
        if not VERSION.match(self.version):
            raise InvalidStep(f"step {self.id}: version {self.version!r} must be MAJOR.MINOR.PATCH")
        if not (isinstance(self.input_model, type) and issubclass(self.input_model, BaseModel)):
            raise InvalidStep(f"step {self.id}: input_model must be a pydantic model class")
        if self.phase is StepPhase.READ_ONLY and Permission.WRITE_DATA in self.permissions:
            raise InvalidStep(f"step {self.id} is read-only and cannot use {Permission.WRITE_DATA.value}")
        if not callable(self.run):
            raise InvalidStep(f"step {self.id}: run must be callable")

    def agent(self, model_id: str = "deterministic") -> AgentIdentity:
        """The AI agent identity a context for this step carries."""
        return AgentIdentity(step_id=self.id, step_version=self.version, model_id=model_id)

    def check_agent(self, context: ClientProjectContext) -> None:
        """Refuse a context built for another step or version (drafts would be misattributed)."""
        agent = context.agent
        if (agent.step_id, agent.step_version) != (self.id, self.version):
            raise AgentMismatch(
                f"the run's context is for {agent.step_id} {agent.step_version}, "
                f"not for {self.id} {self.version}"
            )

    def runs_in(self, rollout: RolloutPhase) -> bool:
        """Read-only steps run in every rollout phase; write-back steps only in write-back."""
        return self.phase is StepPhase.READ_ONLY or rollout is RolloutPhase.WRITE_BACK

    def required_permissions(self, rollout: RolloutPhase) -> frozenset[Permission]:
        """What the requesting principal must hold under ``rollout``: the step's permissions
        without the writes that phase does not allow (the step does not attempt them)."""
        return self.permissions - (WRITE_PERMISSIONS - PHASE_WRITES[rollout])


class StepRegistry:
    """Steps by id, each with the source that declared it (``core (...)`` or ``plugin '...'``)."""

    def __init__(self, steps: Iterable[StepSpec] = (), *, sources: Mapping[str, str] | None = None) -> None:
        self._steps: dict[str, StepSpec] = {}
        self._sources: dict[str, str] = {}
        for spec in steps:
            self.add(spec, (sources or {}).get(spec.id, spec.run.__module__))

    def add(self, spec: StepSpec, source: str) -> None:
        """Register ``spec``; :class:`DuplicateStep` names both sources when its id is taken."""
        if spec.id in self._steps:
            raise DuplicateStep(
                f"step id {spec.id!r} is declared twice: by {self._sources[spec.id]} and by {source}"
            )
        self._steps[spec.id] = spec
        self._sources[spec.id] = source

    def get(self, step_id: str) -> StepSpec:
        try:
            return self._steps[step_id]
        except KeyError:
            raise UnknownStep(step_id, self._steps) from None

    def list(self) -> builtins.list[StepSpec]:
        """Every step, sorted by id."""
        return [self._steps[key] for key in sorted(self._steps)]

    def source(self, step_id: str) -> str:
        self.get(step_id)
        return self._sources[step_id]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._steps

    def __len__(self) -> int:
        return len(self._steps)

    def validate_params(self, step_id: str, params: Mapping[str, Any]) -> BaseModel:
        """``params`` as the step's input model; :class:`BadParameters` names every problem."""
        spec = self.get(step_id)
        if not isinstance(params, Mapping):
            raise BadParameters(
                step_id, [{"loc": "", "msg": f"expected an object, got {type(params).__name__}"}]
            )
        try:
            return spec.input_model.model_validate(dict(params))
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(part) for part in e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
            raise BadParameters(step_id, errors) from exc


def core_steps() -> builtins.list[StepSpec]:
    """The ``STEP`` of every module of :mod:`limsai.steps` (modules named ``_*`` are helpers)."""
    package = import_module(STEPS_PACKAGE)
    found: builtins.list[StepSpec] = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = import_module(f"{STEPS_PACKAGE}.{module_info.name}")
        spec = getattr(module, "STEP", None)
        if not isinstance(spec, StepSpec):
            raise InvalidStep(f"step module {module.__name__} defines no STEP of type StepSpec")
        found.append(spec)
    return found


@hookimpl
def limsai_steps() -> builtins.list[StepSpec]:
    """The core's steps (this module is registered as the core's plugin)."""
    return core_steps()


def load_registry(plugin_manager: LimsaiPluginManager | None = None) -> StepRegistry:
    """Core and plugin steps. Without ``plugin_manager`` the installed plugins are loaded. A plugin
    whose hook fails adds no step (and is reported by the manager); an id declared twice raises
    :class:`DuplicateStep` naming both sources."""
    if plugin_manager is None:
        from limsai.runtime.plugins import load_plugins

        plugin_manager = load_plugins()
    registry = StepRegistry()
    for name, spec in plugin_manager.contributions("limsai_steps"):
        registry.add(spec, f"{plugin_manager.source(name)} ({spec.run.__module__})")
    broken = plugin_manager.failures.get(__name__)
    if broken:  # a plugin's failure is reported; the core's own steps must load
        raise InvalidStep(f"the core steps did not load: {'; '.join(broken)}")
    return registry
