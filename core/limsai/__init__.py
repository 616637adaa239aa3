"""limsai: AI steps inside the LIMS that contract research organisations already run.

The package is layered (see README): ``model`` holds the domain types, ``lims`` the port every
vendor adapter implements plus the embedded reference LIMS and the scenario generator, ``runtime``
the plugin discovery, and ``cli`` the command line. Heavy libraries are imported lazily.
"""

__version__ = "0.1.0"
