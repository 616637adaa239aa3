"""Shared plumbing of the command line: exit codes, typed-error mapping, and the ``--json`` rule
(exactly one JSON document on stdout; messages and progress on stderr).

Exit codes (documented in the README):
  0 success; 1 unexpected internal error, or (``audit verify``/``audit check``) the audit log or
  export failed verification; 2 usage error (bad option or argument);
  3 bad input (malformed file or value, missing work directory); 4 the LIMS refused or lacks the
  record (rejected, not found, scope); 5 the LIMS is unavailable (transient: retry later).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError
from rich.console import Console

from limsai.lims.errors import LimsError, LimsUnavailable

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_AUDIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_LIMS_REJECTED = 4
EXIT_LIMS_UNAVAILABLE = 5

stderr = Console(stderr=True)
T = TypeVar("T")


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def _classify(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, LimsUnavailable):
        return EXIT_LIMS_UNAVAILABLE, "lims_unavailable"
    if isinstance(exc, LimsError):
        return EXIT_LIMS_REJECTED, type(exc).__name__
    if isinstance(exc, ValidationError | ValueError | OSError):
        return EXIT_BAD_INPUT, "bad_input"
    return EXIT_INTERNAL, "internal_error"


def fail(exc: BaseException, *, as_json: bool) -> NoReturn:
    """Report ``exc`` (stderr, and one JSON error document on stdout with ``--json``) and exit."""
    code, kind = _classify(exc)
    message = str(exc) if code != EXIT_INTERNAL else f"{type(exc).__name__}: {exc}"
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    if as_json:
        emit_json({"error": {"type": kind, "message": message, "exit_code": code}})
    raise SystemExit(code)


def guarded(as_json: bool, action: Callable[[], T]) -> T:
    """Run ``action``; turn every error into a typed exit (never a traceback for bad input)."""
    try:
        return action()
    except SystemExit:
        raise
    except Exception as exc:  # the one place errors become exit codes
        fail(exc, as_json=as_json)
