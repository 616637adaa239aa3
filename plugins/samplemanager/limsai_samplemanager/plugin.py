"""Entry point of the limsai-samplemanager plugin (group ``limsai.plugins``).

limsai registers this module with its plugin manager and calls the hooks it implements (see
:mod:`limsai.runtime.hookspecs`). The adapter and simulator join through ``limsai_adapters`` as they
are built; until then the plugin only describes itself, so asking for a SampleManager adapter
fails with a clear message naming the vendors that are installed.
"""

from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo
from limsai_samplemanager import __version__

PLUGIN = PluginInfo(
    name="samplemanager",
    vendor="Thermo Scientific SampleManager LIMS",
    version=__version__,
    description="Thermo SampleManager (SOAP/REST web services, VGL and C# workflow)",
    provides=(),
)


@hookimpl
def limsai_plugin_info() -> PluginInfo:
    """Describe this plugin to ``limsai plugins``."""
    return PLUGIN
