"""Plugin discovery and the plugin manager: vendor plugins are separate distributions found through
the entry-point group ``limsai.plugins``; limsai never imports a plugin by name.

Each entry point names a module (or object) implementing hooks of :mod:`limsai.runtime.hookspecs`;
it describes itself through ``limsai_plugin_info``. The core registers its own steps and the
embedded adapter as internal plugins (:data:`CORE_PLUGINS`), the way datasette registers its
defaults. Hooks are called one plugin at a time, so a plugin that fails to import, does not
validate, raises inside a hook or returns the wrong type is reported by name with the reason
(:meth:`LimsaiPluginManager.report`) and the others still contribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict

from limsai.runtime import hookspecs
from limsai.runtime.hookspecs import PROJECT

ENTRY_POINT_GROUP = "limsai.plugins"
CORE_PLUGINS = ("limsai.runtime.registry", "limsai.runtime.adapters")
"""Core modules registered as plugins: the core steps and the embedded LIMS adapter."""

HOOKS = tuple(name for name in vars(hookspecs) if name.startswith("limsai_"))


class PluginInfo(BaseModel):
    """What a plugin says about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    vendor: str
    version: str
    description: str = ""
    provides: tuple[str, ...] = ()


class DiscoveredPlugin(BaseModel):
    """One entry point of the group: the plugin it loaded and the hooks it implements, or why it
    (or one of its hooks) failed."""

    model_config = ConfigDict(frozen=True)

    entry_point: str
    module: str
    distribution: str | None
    info: PluginInfo | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


PROMISES = {
    "limsai_steps": "a list of StepSpec",
    "limsai_adapters": "a list of AdapterFactory",
    "limsai_routes": "a list of routers",
    "limsai_cli_commands": "a list of (name, typer app) pairs",
    "limsai_bundles": "a list of (vendor, build function) pairs",
}


def valid_item(hook: str, item: object) -> bool:
    """Whether ``item`` is what ``hook`` promises to return a list of."""
    from limsai.runtime.adapters import AdapterFactory  # core plugins: imported by every manager
    from limsai.runtime.registry import StepSpec

    if hook == "limsai_steps":
        return isinstance(item, StepSpec)
    if hook == "limsai_adapters":
        return isinstance(item, AdapterFactory)
    if hook == "limsai_cli_commands":
        return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and bool(item[0])
    if hook == "limsai_bundles":
        return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1])
    return item is not None


@dataclass(frozen=True)
class _Entry:
    name: str
    value: str
    distribution: str | None
    error: str | None


class LimsaiPluginManager(pluggy.PluginManager):
    """A pluggy manager for project ``limsai`` with the core plugins registered, that loads entry
    points one by one and collects hook results plugin by plugin, recording failures by name."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self._entries: list[_Entry] = []
        self.failures: dict[str, list[str]] = {}
        for module_name in CORE_PLUGINS:
            self.register(import_module(module_name), name=module_name)

    # -- loading ------------------------------------------------------------------------------
    def add_plugin(self, plugin: object, name: str) -> str | None:
        """Register ``plugin`` under ``name``; on failure nothing stays registered and the reason
        is returned."""
        try:
            self.register(plugin, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, or ValueError for a duplicate
            return describe(exc)
        try:
            self.check_pending()  # earlier plugins passed, so only this one can fail
        except pluggy.PluginValidationError as exc:
            self.unregister(name=name)
            return describe(exc)
        return None

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Load and register every entry point of ``group``, sorted by name."""
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            try:
                error = self.add_plugin(ep.load(), ep.name)
            except Exception as exc:  # a broken plugin must not stop the others
                error = describe(exc)
            self._entries.append(_Entry(ep.name, ep.value, dist, error))

    # -- calling hooks ------------------------------------------------------------------------
    def is_core(self, name: str) -> bool:
        return name in CORE_PLUGINS

    def source(self, name: str) -> str:
        """How messages name a plugin: ``core`` or ``plugin 'name'``."""
        return "core" if self.is_core(name) else f"plugin {name!r}"

    def fail(self, name: str, hook: str, reason: str) -> None:
        """Record that plugin ``name`` failed in ``hook``."""
        message = f"{hook}: {reason}"
        if message not in self.failures.setdefault(name, []):
            self.failures[name].append(message)

    def implemented(self, name: str) -> tuple[str, ...]:
        """The hooks plugin ``name`` implements."""
        return tuple(
            hook
            for hook in HOOKS
            if any(impl.plugin_name == name for impl in getattr(self.hook, hook).get_hookimpls())
        )

    def call(self, hook: str, name: str) -> tuple[bool, Any]:
        """Call plugin ``name``'s implementation of ``hook``: ``(True, result)``, or ``(False,
        None)`` when it has none or it raised (recorded as a failure)."""
        for impl in getattr(self.hook, hook).get_hookimpls():
            if impl.plugin_name == name:
                try:
                    return True, impl.function()
                except Exception as exc:  # one plugin's bug must not stop the others
                    self.fail(name, hook, describe(exc))
                    return False, None
        return False, None

    def results(self, hook: str, name: str) -> list[Any] | None:
        """What plugin ``name``'s ``hook`` returned, checked: None (with a failure recorded) when it
        raised or returned anything but a list of what the hook promises, or when not implemented."""
        called, result = self.call(hook, name)
        if not called:
            return None
        if not isinstance(result, list | tuple) or not all(valid_item(hook, item) for item in result):
            self.fail(name, hook, f"TypeError: returned {result!r:.80}, not {PROMISES[hook]}")
            return None
        return list(result)

    def contributions(self, hook: str) -> list[tuple[str, Any]]:
        """``(plugin name, item)`` for every item each plugin's ``hook`` returned, in registration
        order (core first). A plugin whose hook fails adds nothing and is recorded as failed."""
        out: list[tuple[str, Any]] = []
        for name in dict.fromkeys(impl.plugin_name for impl in getattr(self.hook, hook).get_hookimpls()):
            out += [(name, item) for item in self.results(hook, name) or ()]
        return out

    # -- reporting ------------------------------------------------------------------------------
    def info(self, name: str) -> PluginInfo | None:
        """Plugin ``name``'s description, or None (with a failure recorded) when it gives none."""
        if "limsai_plugin_info" not in self.implemented(name):
            self.fail(name, "limsai_plugin_info", "not implemented; a plugin describes itself with @hookimpl")
            return None
        called, result = self.call("limsai_plugin_info", name)
        if called and not isinstance(result, PluginInfo):
            self.fail(name, "limsai_plugin_info", f"TypeError: returned {result!r:.80}, not a PluginInfo")
        return result if isinstance(result, PluginInfo) else None

    def report(self, *, check_hooks: bool = True) -> list[DiscoveredPlugin]:
        """One entry per loaded entry point, sorted by name. With ``check_hooks`` every other hook
        each plugin implements is called once too, so that a failing one shows here."""
        found: list[DiscoveredPlugin] = []
        for entry in self._entries:
            base: dict[str, Any] = {
                "entry_point": entry.name,
                "module": entry.value,
                "distribution": entry.distribution,
            }
            if entry.error is not None:
                found.append(DiscoveredPlugin(**base, error=entry.error))
                continue
            info = self.info(entry.name)
            hooks = self.implemented(entry.name)
            for hook in hooks if check_hooks else ():
                if hook != "limsai_plugin_info":
                    self.results(hook, entry.name)
            errors = self.failures.get(entry.name, [])
            found.append(DiscoveredPlugin(**base, info=info, hooks=hooks, error="; ".join(errors) or None))
        return found


def load_plugins(*, group: str = ENTRY_POINT_GROUP) -> LimsaiPluginManager:
    """A plugin manager with the core plugins and every installed plugin of ``group``."""
    manager = LimsaiPluginManager()
    manager.load_entry_points(group)
    return manager


def discover() -> list[DiscoveredPlugin]:
    """Load every plugin registered in the ``limsai.plugins`` group, sorted by entry-point name."""
    return load_plugins().report()
