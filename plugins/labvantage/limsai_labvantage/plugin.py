"""Entry point of the limsai-labvantage plugin (group ``limsai.plugins``).

limsai registers this module with its plugin manager and calls the hooks it implements (see
:mod:`limsai.runtime.hookspecs`). The adapter and simulator join through ``limsai_adapters`` as they
are built; until then the plugin only describes itself, so asking for a LabVantage adapter fails
with a clear message naming the vendors that are installed.
"""

from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import PluginInfo
from limsai_labvantage import __version__

PLUGIN = PluginInfo(
    name="labvantage",
    vendor="LabVantage",
    version=__version__,
    description="LabVantage (REST API, SDC/SDI model, Groovy action blocks)",
    provides=(),
)


@hookimpl
def limsai_plugin_info() -> PluginInfo:
    """Describe this plugin to ``limsai plugins``."""
    return PLUGIN
