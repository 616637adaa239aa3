"""How limsai runs: plugin discovery today; the step registry, job queue, callout service and
settings join it as they are built."""
