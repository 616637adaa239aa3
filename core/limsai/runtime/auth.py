"""Caller authentication: how the service knows which LIMS instance sent a request, that the body is
the one that instance signed, that it was signed recently, and that it is not a replay.

A caller sends ``X-Limsai-Instance: <name>`` and ``X-Limsai-Signature: t=<unix seconds>,v1=<hex>``,
the hex being HMAC-SHA256 keyed with the instance's secret over ``"<t>.<raw body>"``. A request is
refused when the signature does not match, when ``t`` is further than the window from the server's
clock in either direction, or when the same signature was used before: a :class:`ReplayGuard` keeps
used signatures in SQLite, so every worker process of the service sees every other's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal

INSTANCE_HEADER = "X-Limsai-Instance"
SIGNATURE_HEADER = "X-Limsai-Signature"
CALLERS_DB = "callers.db"

INSTANCE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
"""What a LIMS instance (and so a caller) may be called: it travels in a header."""

_INSTANCE = re.compile(INSTANCE_NAME_PATTERN)
_SIGNATURE = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-f]{64})")

AuthReason = Literal[
    "missing_instance",
    "missing_signature",
    "malformed",
    "unknown_instance",
    "bad_signature",
    "expired",
    "replayed",
]


class AuthError(Exception):
    """A request that is not authenticated; ``reason`` is machine-readable, the message is for people
    (and says nothing about the secret)."""

    def __init__(self, reason: AuthReason, message: str) -> None:
        super().__init__(message)
        self.reason: AuthReason = reason


def _digest(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Limsai-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if timestamp < 0:
        raise ValueError("timestamp must be unix seconds, not negative")
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def signed_headers(
    instance: str, secret: bytes, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """Both headers a caller sends with ``body`` (signed now unless ``timestamp`` is given)."""
    t = int(time.time()) if timestamp is None else timestamp
    return {INSTANCE_HEADER: instance, SIGNATURE_HEADER: sign(secret, body, t)}


class ReplayGuard:
    """The signatures already used, in a SQLite table shared by every process that opens the same file.

    A signature is remembered while its timestamp is within the window (after that the timestamp
    check refuses it anyway); older rows are purged as new ones arrive.
    """

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + timeout
        while True:  # several processes may create the file at once; switching to WAL can be refused
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS used_signatures (instance TEXT NOT NULL, "
                    "signature TEXT NOT NULL, t INTEGER NOT NULL, "
                    "PRIMARY KEY (instance, signature)) WITHOUT ROWID"
                )
                self._db.execute("CREATE INDEX IF NOT EXISTS used_signatures_t ON used_signatures (t)")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    self._db.close()
                    raise
                time.sleep(0.05)
            except BaseException:
                self._db.close()
                raise

    @classmethod
    def for_workdir(cls, workdir: Path) -> ReplayGuard:
        """The guard of a work directory, ``DIR/callers.db``."""
        return cls(workdir / CALLERS_DB)

    def seen(
        self, instance: str, signature: str, t: int, *, window_seconds: int = 300, now: float | None = None
    ) -> bool:
        """Record the signature and say whether it had been recorded before (one atomic step, so of
        several processes racing with the same signature exactly one is told it is new)."""
        current = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM used_signatures WHERE t < ?", (current - window_seconds,))
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO used_signatures (instance, signature, t) VALUES (?, ?, ?)",
                    (instance, signature, t),
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return inserted == 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReplayGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _header_values(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values by lower-cased name; a limsai header given twice is malformed."""
    values: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in values and key in (INSTANCE_HEADER.lower(), SIGNATURE_HEADER.lower()):
            raise AuthError("malformed", f"{name} is given more than once")
        values[key] = value
    return values


def read_payload(method: str, path: str) -> bytes:
    """What a body-less request (GET) signs in place of the body: ``"GET /v1/runs/<id>"``. A read's
    signature is bound to its path, so it cannot be reused to read another resource."""
    return f"{method.upper()} {path}".encode()


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_for: Callable[[str], bytes | None],
    guard: ReplayGuard | None,
    window_seconds: int = 300,
    now: float | None = None,
) -> str:
    """The name of the LIMS instance that signed this request, or :class:`AuthError`.

    ``secret_for`` gives an instance's secret (``None``: no such caller). The signature is checked
    before the time and the replay guard, so only genuinely signed requests are ever recorded.
    ``guard=None`` skips the replay check: only for reads, whose signed payload is
    :func:`read_payload` (method and path) rather than a body, so that a LIMS may poll a run's status.
    """
    values = _header_values(headers)
    signature = values.get(SIGNATURE_HEADER.lower())
    instance = values.get(INSTANCE_HEADER.lower())
    if not signature:
        raise AuthError("missing_signature", f"the request has no {SIGNATURE_HEADER} header")
    if not instance:
        raise AuthError("missing_instance", f"the request has no {INSTANCE_HEADER} header")
    if not _INSTANCE.fullmatch(instance):
        raise AuthError("malformed", f"{INSTANCE_HEADER} is not a LIMS instance name")
    match = _SIGNATURE.fullmatch(signature)
    if match is None:
        raise AuthError(
            "malformed", f"{SIGNATURE_HEADER} must be 't=<unix seconds>,v1=<64 lower-case hex digits>'"
        )
    secret = secret_for(instance)
    if not secret:
        raise AuthError("unknown_instance", f"no caller {instance!r} is configured")
    timestamp, digest = match.groups()
    if not hmac.compare_digest(_digest(secret, timestamp, body), digest):
        raise AuthError("bad_signature", "the signature does not match the request body")
    current = time.time() if now is None else now
    skew = current - int(timestamp)
    if abs(skew) > window_seconds:
        when = f"{skew:.0f} s old" if skew > 0 else f"{-skew:.0f} s in the future"
        raise AuthError(
            "expired", f"the signature is {when}; at most {window_seconds} s either way is accepted"
        )
    if guard is not None and guard.seen(
        instance, digest, int(timestamp), window_seconds=window_seconds, now=current
    ):
        raise AuthError("replayed", "this signature has already been used")
    return instance
