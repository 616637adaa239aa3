"""One audit-log entry as stored and hashed: the canonical RFC 8785 JSON text of an ``AuditRecord``
plus what the log adds (``seq``, ``at``, ``prev_hash``), and the checks any reader can redo on it.

The entry text is the unit of hashing: ``entry_hash = SHA-256(text)`` links the chain and
``leaf_hash = SHA-256(0x00 || text)`` is its Merkle leaf. The log, the verifier and the offline export
checker all use the functions here, so they agree on what an entry is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import rfc8785
from pydantic import Field

from limsai.governance.audit_record import AuditRecord
from limsai.governance.identity import SHA256_HEX
from limsai.governance.merkle import leaf_hash
from limsai.model import LimsModel, UtcDatetime

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of entry 1."""

LOG_FIELDS = ("seq", "at", "prev_hash")
"""The fields the log adds to the record; callers cannot supply them."""

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SAFE_INT = 2**53 - 1


class AuditEntry(LimsModel):
    """An entry as stored: its sequence number, server time, canonical text, hashes and the record."""

    seq: int = Field(ge=1)
    at: UtcDatetime
    entry: str = Field(description="canonical RFC 8785 JSON of the whole entry")
    entry_hash: str = Field(pattern=SHA256_HEX, description="hex SHA-256 of the entry text")
    leaf_hash: str = Field(pattern=SHA256_HEX, description="hex RFC 9162 leaf hash of the entry text")
    prev_hash: str = Field(pattern=SHA256_HEX, description="entry_hash of seq - 1 (zeros for seq 1)")
    record: AuditRecord


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``: the one time format the log writes and signs."""
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise ValueError("audit times are written in UTC")
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_leaf_hash(text: str) -> str:
    return leaf_hash(text.encode("utf-8")).hex()


class _Unusual(Exception):
    """A token whose RFC 8785 form may differ from ``json.dumps``'s."""


def _reject(token: str) -> float:
    raise _Unusual(token)


def _safe_int(token: str) -> int:
    value = int(token)
    if abs(value) > _SAFE_INT:
        raise _Unusual(token)
    return value


def _number(token: str) -> int | float:
    value = int(token)
    return value if abs(value) <= _SAFE_INT else float(token)


_PLAIN = json.JSONDecoder(parse_float=_reject, parse_int=_safe_int, parse_constant=_reject)
_NUMBERS = json.JSONDecoder(parse_int=_number)


def _parse(text: str) -> tuple[Any, bool]:
    """``json.loads`` that also says whether the text holds a token whose RFC 8785 form can differ
    from ``json.dumps``'s: a float, an integer beyond 2**53, NaN/Infinity, or (in keys) a character
    beyond the Basic Multilingual Plane, where RFC 8785's UTF-16 key order differs from code points.
    Such texts are parsed with integers beyond 2**53 as floats: RFC 8785 numbers are IEEE doubles."""
    if text.isascii() or _ASTRAL.search(text) is None:
        try:
            return _PLAIN.decode(text), False
        except _Unusual:
            pass
    return _NUMBERS.decode(text), True


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> tuple[str, Any]:
    """The RFC 8785 text of a JSON value and the value as parsed back from that text.

    ``json.dumps`` with sorted keys, compact separators and ``ensure_ascii=False`` writes exactly the
    RFC 8785 text unless the value holds one of the tokens :func:`_parse` flags (RFC 8785 and
    ``json`` escape strings identically); only such values are encoded with ``rfc8785`` itself.
    Raises ValueError for values without a canonical form (NaN, infinities, unsafe integers).
    """
    try:
        text = _dumps(value)
    except TypeError as exc:
        raise ValueError(f"not a JSON value: {exc}") from exc
    parsed, unusual = _parse(text)
    if unusual:
        text = rfc8785.dumps(value).decode("utf-8")
        parsed, _ = _parse(text)
    return text, parsed


def encode_entry(record_fields: Mapping[str, Any], *, seq: int, at: str, prev_hash: str) -> tuple[str, Any]:
    """The canonical text of an entry (``record_fields``, an ``AuditRecord`` dumped in JSON mode, with
    the log's fields) and the fields parsed back from it. Raises ValueError when a value has no
    canonical JSON form."""
    return canonical_json({**record_fields, "seq": seq, "at": at, "prev_hash": prev_hash})


def parse_entry(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse an entry text and check that it is canonical RFC 8785 JSON of an object carrying the
    log's fields: ``(fields, None)`` when it is, ``(fields or None, reason)`` otherwise."""
    try:
        fields, unusual = _parse(text)
    except ValueError:
        return None, "is not valid JSON"
    if not isinstance(fields, dict):
        return None, "is not a JSON object"
    if unusual:
        try:
            canonical = rfc8785.dumps(fields).decode("utf-8")
        except rfc8785.CanonicalizationError:
            return fields, "holds a value RFC 8785 cannot encode"
    else:
        canonical = _dumps(fields)
    if canonical != text:
        return fields, "is not canonical RFC 8785 JSON"
    missing = [name for name in LOG_FIELDS if name not in fields]
    if missing:
        return fields, f"lacks the log field(s) {', '.join(missing)}"
    return fields, None


def entry_from_text(text: str) -> AuditEntry:
    """The :class:`AuditEntry` for a stored text (hashes recomputed from the text)."""
    fields, problem = parse_entry(text)
    if fields is None or problem is not None:
        raise ValueError(f"audit entry text {problem}")
    record = AuditRecord.model_validate({k: v for k, v in fields.items() if k not in LOG_FIELDS})
    return AuditEntry(
        seq=fields["seq"],
        at=fields["at"],
        entry=text,
        entry_hash=entry_hash(text),
        leaf_hash=entry_leaf_hash(text),
        prev_hash=fields["prev_hash"],
        record=record,
    )
