"""Entry point of the limsai-labvantage plugin (group ``limsai.plugins``).

limsai registers this module with its plugin manager and calls the hooks it implements (see
:mod:`limsai.runtime.hookspecs`): ``limsai_adapters`` contributes the LabVantage adapter factory
(with its simulator), ``limsai_bundles`` the admin's install bundle (``limsai bundle labvantage``).
"""

from __future__ import annotations

from typing import Any

from limsai.runtime.adapters import AdapterFactory
from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo
from limsai_labvantage import __version__
from limsai_labvantage.adapter import create_adapter
from limsai_labvantage.simulator import start_simulator

PLUGIN = PluginInfo(
    name="labvantage",
    vendor="LabVantage",
    version=__version__,
    description="LabVantage (REST API, SDC/SDI model, Groovy action blocks)",
    provides=("adapter:labvantage", "simulator:labvantage", "bundle:labvantage"),
)

FACTORY = AdapterFactory(
    vendor="labvantage",
    create=create_adapter,
    start_simulator=start_simulator,
    description="LabVantage 8 over REST Web Services (connections, SDCs, actions)",
)


@hookimpl
def limsai_plugin_info() -> PluginInfo:
    """Describe this plugin to ``limsai plugins``."""
    return PLUGIN


@hookimpl
def limsai_adapters() -> list[AdapterFactory]:
    """The LabVantage adapter factory, able to start the LabVantage simulator."""
    return [FACTORY]


@hookimpl
def limsai_bundles() -> list[tuple[str, Any]]:
    """``limsai bundle labvantage --out DIR``: the admin's install bundle."""
    from limsai_labvantage.bundle import build_bundle

    return [("labvantage", build_bundle)]
