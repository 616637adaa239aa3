"""Plugin hooks: a plugin module found through an entry point contributes steps, adapters, routes and
CLI commands; one that fails to import, misspells a hook, raises inside a hook or returns the wrong
type is reported by name while the core and the other plugins keep working."""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.runtime import hookspecs
from limsai.runtime import plugins as plugin_mod
from limsai.runtime.adapters import (
    AdapterFactory,
    DuplicateVendor,
    UnknownVendor,
    adapter_factories,
    adapter_for,
)
from limsai.runtime.plugins import (
    ENTRY_POINT_GROUP,
    HOOKS,
    LimsaiPluginManager,
    discover,
    load_plugins,
)
from limsai.runtime.registry import load_registry
from limsai.testing.factories import tiny_dataset
from limsai.workdir import WorkdirError

VENDORS = ("benchling", "labvantage", "labware", "samplemanager")

FAKE = """
from pydantic import BaseModel

from limsai.governance.policy import Permission
from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import Capability
from limsai.runtime.adapters import AdapterFactory
from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo
from limsai.runtime.registry import StepOutcome, StepPhase, StepSpec


class EchoParams(BaseModel):
    text: str


def run(step_run):
    return StepOutcome(message=step_run.params.text)


ECHO = StepSpec(
    id="fake.echo",
    version="2.0.1",
    title="Echo",
    description="Says it back.",
    input_model=EchoParams,
    permissions=frozenset({Permission.READ_DATA}),
    phase=StepPhase.READ_ONLY,
    capabilities=frozenset({Capability.READ_STUDIES}),
    run=run,
)


def create(instance, workdir):
    return EmbeddedLims(workdir / "fake.db", name=f"fake-{instance}")


@hookimpl
def limsai_plugin_info():
    return PluginInfo(name="fake", vendor="Fake LIMS", version="9.9.9", provides=("adapter", "fake.echo"))


@hookimpl
def limsai_steps():
    return [ECHO]


@hookimpl
def limsai_adapters():
    return [AdapterFactory(vendor="fakelims", create=create)]


@hookimpl
def limsai_routes():
    return ["router"]


@hookimpl
def limsai_cli_commands():
    return [("fake", "typer app")]


@hookimpl
def limsai_bundles():
    return [("fakelims", len)]
"""

INFO = """
from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo


@hookimpl
def limsai_plugin_info():
    return PluginInfo(name="{name}", vendor="Other", version="1.0.0")
"""

Install = Callable[[str, str], None]


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Install]:
    """``install(name, source)``: a module ``limsai_test_<name>`` registered as entry point ``name``
    next to the real ones (``source`` None: the entry point names an existing module)."""
    real = list(entry_points(group=ENTRY_POINT_GROUP))
    extra: list[EntryPoint] = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugin_mod, "entry_points", lambda group: [*extra, *real])
    modules: list[str] = []

    def add(name: str, source: str) -> None:
        module = f"limsai_test_{name}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()
        modules.append(module)
        extra.append(EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP))

    yield add
    for module in modules:
        sys.modules.pop(module, None)


def by_name() -> dict[str, plugin_mod.DiscoveredPlugin]:
    return {p.entry_point: p for p in discover()}


def test_hook_specs_are_one_small_documented_function_each() -> None:
    assert HOOKS == (
        "limsai_plugin_info",
        "limsai_steps",
        "limsai_adapters",
        "limsai_routes",
        "limsai_cli_commands",
        "limsai_bundles",
    )
    for name in HOOKS:
        function = getattr(hookspecs, name)
        doc = inspect.getdoc(function)
        assert doc is not None and "\n" not in doc, name
        assert inspect.signature(function).parameters == {}, name
    assert hookspecs.hookimpl.project_name == hookspecs.hookspec.project_name == "limsai"


def test_the_four_vendor_plugins_describe_themselves_through_the_hook() -> None:
    found = by_name()
    for vendor in VENDORS:
        plugin = found[vendor]
        assert plugin.ok, plugin.error
        # labvantage also contributes its adapter (with simulator) and its install bundle
        expected = {"limsai_plugin_info"} | (
            {"limsai_adapters", "limsai_bundles"} if vendor == "labvantage" else set()
        )
        assert set(plugin.hooks) == expected
        module = importlib.import_module(f"limsai_{vendor}.plugin")
        assert plugin.info is not None and plugin.info == module.PLUGIN and plugin.info.name == vendor


def test_a_plugin_contributes_a_step_an_adapter_routes_and_commands(install: Install, tmp_path: Path) -> None:
    install("fake", FAKE)
    manager = load_plugins()
    registry = load_registry(manager)
    assert {"fake.echo", "status.update"} <= {s.id for s in registry.list()}
    echo = registry.get("fake.echo")
    assert (echo.version, echo.title) == ("2.0.1", "Echo")
    assert registry.source("fake.echo") == "plugin 'fake' (limsai_test_fake)"
    assert registry.validate_params("fake.echo", {"text": "hi"}).model_dump() == {"text": "hi"}

    assert sorted(adapter_factories(manager)) == ["embedded", "fakelims", "labvantage"]
    adapter = adapter_for("fakelims", "inst-1", tmp_path, manager)
    assert isinstance(adapter, EmbeddedLims) and adapter.name == "fake-inst-1"
    adapter.close()
    assert manager.contributions("limsai_routes") == [("fake", "router")]
    assert manager.contributions("limsai_cli_commands") == [("fake", ("fake", "typer app"))]
    assert ("fake", ("fakelims", len)) in manager.contributions("limsai_bundles")

    fake = by_name()["fake"]
    assert fake.ok and fake.distribution is None and fake.module == "limsai_test_fake"
    assert fake.info is not None and fake.info.provides == ("adapter", "fake.echo")
    assert fake.hooks == HOOKS


def test_a_plugin_failing_on_import_is_reported_and_the_rest_still_work(install: Install) -> None:
    install("boom", "raise RuntimeError('boom at import')\n")
    install("fake", FAKE)
    found = by_name()
    assert found["boom"].error == "RuntimeError: boom at import"
    assert found["boom"].info is None
    assert found["fake"].ok and all(found[v].ok for v in VENDORS)
    assert {"fake.echo", "status.update"} <= {s.id for s in load_registry().list()}


def test_a_plugin_raising_inside_a_hook_is_reported_and_the_rest_still_work(install: Install) -> None:
    install("fake", FAKE)
    install(
        "broken",
        INFO.format(name="broken")
        + """

@hookimpl
def limsai_steps():
    raise ValueError("no steps today")


@hookimpl
def limsai_adapters():
    return [AdapterFactory(vendor="brokenlims", create=lambda instance, workdir: None)]


from limsai.runtime.adapters import AdapterFactory
""",
    )
    manager = load_plugins()
    registry = load_registry(manager)
    assert {"fake.echo", "status.update"} <= {s.id for s in registry.list()}
    assert manager.failures == {"broken": ["limsai_steps: ValueError: no steps today"]}
    assert "brokenlims" in adapter_factories(manager)  # its other hooks still count
    report = {p.entry_point: p for p in manager.report()}
    assert report["broken"].error == "limsai_steps: ValueError: no steps today"
    assert report["broken"].info is not None and report["broken"].info.name == "broken"
    assert report["fake"].ok and all(report[v].ok for v in VENDORS)


def test_a_hook_returning_the_wrong_type_is_reported(install: Install) -> None:
    install(
        "wrong", INFO.format(name="wrong") + "\n\n@hookimpl\ndef limsai_steps():\n    return ['a step']\n"
    )
    install(
        "shape", INFO.format(name="shape") + "\n\n@hookimpl\ndef limsai_cli_commands():\n    return ['x']\n"
    )
    manager = load_plugins()
    assert "a step" not in str(load_registry(manager).list())
    report = {p.entry_point: p for p in manager.report()}
    assert report["wrong"].error == "limsai_steps: TypeError: returned ['a step'], not a list of StepSpec"
    assert report["shape"].error == (
        "limsai_cli_commands: TypeError: returned ['x'], not a list of (name, typer app) pairs"
    )


def test_a_misspelt_hook_keeps_the_plugin_out(install: Install) -> None:
    install("typo", INFO.format(name="typo") + "\n\n@hookimpl\ndef limsai_stepz():\n    return []\n")
    manager = load_plugins()
    assert manager.get_plugin("typo") is None
    error = {p.entry_point: p for p in manager.report()}["typo"].error
    assert error is not None and error.startswith("PluginValidationError") and "limsai_stepz" in error


def test_a_module_that_does_not_describe_itself_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = list(entry_points(group=ENTRY_POINT_GROUP))
    silent = EntryPoint(name="zzz-silent", value="json", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugin_mod, "entry_points", lambda group: [silent, *real])
    found = by_name()
    assert found["zzz-silent"].error == (
        "limsai_plugin_info: not implemented; a plugin describes itself with @hookimpl"
    )
    assert all(found[v].ok for v in VENDORS)


def test_the_core_provides_the_embedded_adapter(tmp_path: Path) -> None:
    with pytest.raises(WorkdirError, match="no LIMS at"):
        adapter_for("embedded", None, tmp_path, LimsaiPluginManager())
    assert not (tmp_path / "lims.db").exists()
    with EmbeddedLims(tmp_path / "lims.db") as store:
        store.load(tiny_dataset(), actor="system:test")
    adapter = adapter_for("embedded", None, tmp_path, LimsaiPluginManager())
    assert isinstance(adapter, EmbeddedLims) and adapter.vendor == "embedded"
    assert adapter.count("studies") == 2
    adapter.close()


def test_an_unknown_vendor_names_the_installed_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownVendor) as caught:
        adapter_for("labware", None, tmp_path, LimsaiPluginManager())
    assert str(caught.value) == (
        "no adapter for LIMS vendor 'labware' is installed (installed: embedded); "
        "install its plugin, e.g. `pip install limsai-labware`"
    )


def test_a_vendor_offered_twice_names_both_sources(install: Install) -> None:
    install(
        "dup",
        INFO.format(name="dup")
        + """

from limsai.runtime.adapters import AdapterFactory


@hookimpl
def limsai_adapters():
    return [AdapterFactory(vendor="embedded", create=lambda instance, workdir: None)]
""",
    )
    with pytest.raises(DuplicateVendor) as caught:
        adapter_factories(load_plugins())
    assert str(caught.value) == "vendor 'embedded' has two adapter factories: from core and from plugin 'dup'"


def test_a_vendor_name_is_a_lower_case_word() -> None:
    with pytest.raises(ValueError, match="must be a non-empty lower-case name"):
        AdapterFactory(vendor="LabWare", create=lambda instance, workdir: None)  # type: ignore[arg-type,return-value]
