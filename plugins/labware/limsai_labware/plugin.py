"""Entry point of the limsai-labware plugin (group ``limsai.plugins``).

limsai finds this module through its distribution's entry point and reads ``PLUGIN``. The
adapter and simulator are added here as they are built; until then the plugin declares that it
provides no LIMS adapter, so a step asking for one fails with a clear message.
"""

from limsai.runtime.plugins import PluginInfo
from limsai_labware import __version__

PLUGIN = PluginInfo(
    name="labware",
    vendor="LabWare LIMS",
    version=__version__,
    description="LabWare LIMS (REST web services and LIMS Basic automation)",
    provides=(),
)
