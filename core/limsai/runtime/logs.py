"""Structured logs: one JSON object per line on stderr (or a file), always naming the run, step, LIMS
instance and sponsor, and never carrying result values or document text — logs leave the validated
boundary more easily than the audit log does, so they hold identifiers and counts only."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOGGER_NAME = "limsai"
CONTEXT_FIELDS = ("run_id", "step", "lims", "sponsor_id", "study_id", "attempt", "worker")


class JsonLineFormatter(logging.Formatter):
    """``{"time", "level", "event", run_id, step, lims, sponsor_id, ...}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        return json.dumps(line, default=str, sort_keys=False)


def configure(log_file: Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send limsai's logs as JSON lines to ``log_file`` (appending) or to stderr; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for old in list(logger.handlers):
        logger.removeHandler(old)
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    return logger


def log(event: str, **fields: object) -> None:
    """Log ``event`` at INFO with context fields (run_id, step, lims, sponsor_id, …) and counts."""
    context = {k: fields.pop(k) for k in CONTEXT_FIELDS if k in fields}
    logging.getLogger(LOGGER_NAME).info(event, extra={**context, "fields": fields})
