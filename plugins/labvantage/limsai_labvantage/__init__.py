"""limsai plugin for LabVantage: adapter, simulator and callout glue for LabVantage."""

__version__ = "0.1.0"
