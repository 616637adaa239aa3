"""Entry point of the limsai-samplemanager plugin (group ``limsai.plugins``).

limsai finds this module through its distribution's entry point and reads ``PLUGIN``. The
adapter and simulator are added here as they are built; until then the plugin declares that it
provides no LIMS adapter, so a step asking for one fails with a clear message.
"""

from limsai.runtime.plugins import PluginInfo
from limsai_samplemanager import __version__

PLUGIN = PluginInfo(
    name="samplemanager",
    vendor="Thermo Scientific SampleManager LIMS",
    version=__version__,
    description="Thermo SampleManager (SOAP/REST web services, VGL and C# workflow)",
    provides=(),
)
