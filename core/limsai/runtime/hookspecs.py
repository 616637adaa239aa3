# mypy: disable-error-code="empty-body"
"""Every extension point of limsai, one small function per hook (pluggy project ``limsai``).

A plugin is a module named by an entry point of the group ``limsai.plugins``. limsai registers it
with its plugin manager and calls the hooks it implements with ``@hookimpl``::

    from limsai.runtime.hookspecs import hookimpl

    @hookimpl
    def limsai_steps() -> list[StepSpec]:
        return [MY_STEP]

Every hook takes no arguments and returns plain values; a plugin implements only the hooks it
needs. The core contributes its own steps and the embedded LIMS through the same hooks, so a
plugin's step or adapter is found exactly as a core one is. A plugin that fails to import or raises
inside a hook is reported by name (``limsai plugins``) and does not stop the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

PROJECT = "limsai"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:
    from limsai.runtime.adapters import AdapterFactory
    from limsai.runtime.plugins import PluginInfo
    from limsai.runtime.registry import StepSpec


@hookspec
def limsai_plugin_info() -> PluginInfo:
    """Describe the plugin: its name, the LIMS vendor it serves, its version and what it provides."""


@hookspec
def limsai_steps() -> list[StepSpec]:
    """Return the AI steps the plugin adds to the step registry (ids must be unique)."""


@hookspec
def limsai_adapters() -> list[AdapterFactory]:
    """Return LIMS adapter factories, one per vendor; a factory may also start its simulator."""


@hookspec
def limsai_routes() -> list[Any]:
    """Return ``fastapi.APIRouter`` objects to mount on the callout service (e.g. a webhook)."""


@hookspec
def limsai_cli_commands() -> list[tuple[str, Any]]:
    """Return ``(name, typer.Typer)`` pairs, each mounted as ``limsai <name>``."""


@hookspec
def limsai_bundles() -> list[tuple[str, Any]]:
    """Return ``(vendor, build)`` pairs: ``build(out_dir) -> Path`` writes the admin's install bundle."""
