"""limsai plugin for Benchling: adapter, simulator and callout glue for Benchling."""

__version__ = "0.1.0"
