"""limsai plugin for LabWare LIMS: adapter, simulator and callout glue for LabWare LIMS."""

__version__ = "0.1.0"
