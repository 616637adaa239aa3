"""limsai plugin for Thermo Scientific SampleManager LIMS: adapter, simulator and callout glue."""

__version__ = "0.1.0"
