"""Typed errors every LIMS adapter raises, so that callers act on the kind, not on vendor text.

``LimsUnavailable`` is transient (retry with backoff); ``LimsRejected`` is permanent (the LIMS said
no; retrying changes nothing). ``ScopeViolation`` means a record outside the caller's sponsor/study
was asked for or came back: the call fails closed.
"""

from __future__ import annotations


class LimsError(Exception):
    """Base of every error a LIMS adapter raises."""

    transient: bool = False


class NotFound(LimsError):
    """The record does not exist in the caller's scope (it may exist in another one)."""


class ScopeViolation(LimsError):
    """A request or a returned record crosses the caller's sponsor/study scope."""


class LimsUnavailable(LimsError):
    """The LIMS could not be reached or failed transiently (timeouts, 5xx, locked database)."""

    transient = True


class LimsRejected(LimsError):
    """The LIMS refused the request permanently (validation, permissions, conflicts)."""


class CapabilityMissing(LimsError):
    """The adapter does not offer a capability a step needs."""
