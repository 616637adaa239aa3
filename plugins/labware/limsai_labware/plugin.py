"""Entry point of the limsai-labware plugin (group ``limsai.plugins``).

limsai registers this module with its plugin manager and calls the hooks it implements (see
:mod:`limsai.runtime.hookspecs`). The adapter and simulator join through ``limsai_adapters`` as they
are built; until then the plugin only describes itself, so asking for a LabWare LIMS adapter fails
with a clear message naming the vendors that are installed.
"""

from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo
from limsai_labware import __version__

PLUGIN = PluginInfo(
    name="labware",
    vendor="LabWare LIMS",
    version=__version__,
    description="LabWare LIMS (REST web services and LIMS Basic automation)",
    provides=(),
)


@hookimpl
def limsai_plugin_info() -> PluginInfo:
    """Describe this plugin to ``limsai plugins``."""
    return PLUGIN
