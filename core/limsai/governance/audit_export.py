"""The audit history of one record as a self-contained document an inspector can check offline
(21 CFR 11.10(b), Annex 11 §8): each entry's canonical text with its RFC 9162 inclusion proof against
a signed checkpoint, the checkpoint and the public key. :func:`check_export` redoes every check
from the document alone; :func:`render_export_html` is the human-readable copy.

Inclusion proofs show that each exported entry is in the signed log unchanged; they cannot show that
no entry of the record was left out. The public key travels with the document, so compare its
fingerprint with the one published out of band (or pin the key when calling :func:`check_export`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from limsai.governance.audit_entry import entry_hash, entry_leaf_hash, format_utc, parse_entry
from limsai.governance.checkpoints import (
    checkpoint_from_json,
    checkpoint_problem,
    checkpoint_to_json,
    key_fingerprint,
    load_public_key_pem,
    log_origin,
    raw_public_key,
)
from limsai.governance.merkle import TreeLevels, verify_inclusion
from limsai.model import utcnow

if TYPE_CHECKING:
    from limsai.governance.audit_log import AuditLog

EXPORT_FORMAT = "limsai-audit-export/1"
_HEX64 = frozenset("0123456789abcdef")

HOW_TO_CHECK = (
    "Each entry is the exact canonical JSON (RFC 8785) text stored in the audit log. Its entry hash is "
    "SHA-256 of that text (UTF-8) and its leaf hash is SHA-256 of the byte 0x00 followed by the text. "
    "Starting from the leaf hash, combine it with each proof hash in turn as SHA-256(0x01 || left || "
    "right), following RFC 9162 section 2.1.3.2 for the leaf index and tree size; the result must equal "
    "the checkpoint's root hash. The checkpoint text (origin, tree size, base64 root, time) is a C2SP "
    "signed note: its last line carries an Ed25519 signature, after a 4-byte key ID, over the text above "
    "the blank line, and it must verify with the public key shown, whose SHA-256 fingerprint should "
    "match the one the laboratory published. Each entry's prev_hash is the entry hash of the entry before "
    "it in the log. The proofs show that these entries are in the signed log unchanged; they do not show "
    "that no other entry about this record exists."
)


def build_export(log: AuditLog, ref: str) -> dict[str, Any]:
    """The export of every entry whose ``record`` is ``ref`` or lies below it (``ref/...``), with
    inclusion proofs against the latest signed checkpoint; a fresh checkpoint is signed first when the
    latest one does not cover all of the record's entries."""
    if not ref:
        raise ValueError("a record reference is required")
    entries = log.entries(ref)
    checkpoint = log.latest_checkpoint()
    if checkpoint is None or (entries and checkpoint.tree_size < entries[-1].seq):
        checkpoint = log.checkpoint()
    pem = log.public_key_pem()
    public_key = load_public_key_pem(pem)
    levels = TreeLevels(log.leaf_hashes(checkpoint.tree_size))
    return {
        "format": EXPORT_FORMAT,
        "record": ref,
        "exported_at": format_utc(utcnow()),
        "log": {
            "origin": log_origin(public_key),
            "public_key_pem": pem,
            "public_key_sha256": key_fingerprint(public_key),
        },
        "checkpoint": checkpoint_to_json(checkpoint),
        "entries": [
            {
                "seq": e.seq,
                "leaf_index": e.seq - 1,
                "entry": e.entry,
                "entry_hash": e.entry_hash,
                "leaf_hash": e.leaf_hash,
                "inclusion_proof": [h.hex() for h in levels.inclusion_proof(e.seq - 1)],
            }
            for e in entries
        ],
    }


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64


def check_export(doc: Mapping[str, Any], *, public_key_pem: str | None = None) -> list[str]:
    """Problems found in an export document; empty when the checkpoint signature and every entry's
    hashes and inclusion proof verify. Uses nothing but the document (and ``public_key_pem``, when
    given, as the key the checkpoint must be signed with)."""
    if not isinstance(doc, Mapping):
        return ["the export is not a JSON object"]
    problems: list[str] = []
    if doc.get("format") != EXPORT_FORMAT:
        problems.append(f"the export format is not {EXPORT_FORMAT}")
    ref = doc.get("record")
    if not isinstance(ref, str) or not ref:
        problems.append("the export does not name its record")
        ref = None
    log = _mapping(doc.get("log"))
    try:
        public_key = load_public_key_pem(str(log.get("public_key_pem", "")))
    except ValueError:
        return [*problems, "the export's public key cannot be read"]
    if public_key_pem is not None:
        pinned = load_public_key_pem(public_key_pem)
        if raw_public_key(pinned) != raw_public_key(public_key):
            problems.append("the export's public key is not the pinned key")
        public_key = pinned
    if log.get("public_key_sha256") != key_fingerprint(public_key):
        problems.append("the public key fingerprint does not match the public key")
    if log.get("origin") != log_origin(public_key):
        problems.append("the log origin does not belong to the public key")
    try:
        checkpoint = checkpoint_from_json(doc.get("checkpoint"))
    except ValueError as exc:
        return [*problems, f"the checkpoint cannot be read ({str(exc).splitlines()[0]})"]
    why = checkpoint_problem(checkpoint, public_key)
    if why is not None:
        problems.append(f"the checkpoint {why}")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        return [*problems, "the export has no list of entries"]
    root = bytes.fromhex(checkpoint.root_hash)
    last_seq = 0
    for position, item in enumerate(entries, 1):
        problems.extend(_entry_problems(position, item, ref, checkpoint.tree_size, root, last_seq))
        if isinstance(item, Mapping) and isinstance(item.get("seq"), int):
            last_seq = max(last_seq, item["seq"])
    return problems


def _entry_problems(
    position: int, item: object, ref: str | None, tree_size: int, root: bytes, last_seq: int
) -> list[str]:
    if not isinstance(item, Mapping):
        return [f"entry #{position} is not a JSON object"]
    seq, index, text, proof = (
        item.get("seq"),
        item.get("leaf_index"),
        item.get("entry"),
        item.get("inclusion_proof"),
    )
    if type(seq) is not int or type(index) is not int or not isinstance(text, str):
        return [f"entry #{position} lacks its seq, leaf index or text"]
    if not isinstance(proof, list) or not all(_is_hex64(p) for p in proof):
        return [f"entry {seq}'s inclusion proof is not a list of hex SHA-256 hashes"]
    label = f"entry {seq}"
    out = []
    if seq <= last_seq:
        out.append(f"{label} is out of order or repeated")
    if index != seq - 1:
        out.append(f"{label} has leaf index {index}, not {seq - 1}")
    if entry_hash(text) != item.get("entry_hash"):
        out.append(f"{label}'s text does not hash to its entry_hash")
    leaf = entry_leaf_hash(text)
    if leaf != item.get("leaf_hash"):
        out.append(f"{label}'s text does not hash to its leaf_hash")
    fields, why = parse_entry(text)
    if fields is None or why is not None:
        out.append(f"{label}'s text {why}")
    else:
        if fields.get("seq") != seq:
            out.append(f"{label}'s text says seq {fields.get('seq')}")
        record = fields.get("record")
        if ref is not None and not (
            isinstance(record, str) and (record == ref or record.startswith(ref + "/"))
        ):
            out.append(f"{label} is about {record!r}, not the exported record {ref}")
    if not 0 <= index < tree_size:
        out.append(f"{label} is not covered by the checkpoint (tree size {tree_size})")
    elif not verify_inclusion(bytes.fromhex(leaf), index, tree_size, [bytes.fromhex(p) for p in proof], root):
        out.append(f"{label}'s inclusion proof does not lead to the checkpoint's root")
    return out


def _text(value: object) -> str:
    if value is None or value == "":
        return "\u2014"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _who(fields: Mapping[str, Any]) -> str:
    who = f"{_text(fields.get('actor_id'))} ({_text(fields.get('actor_type'))})"
    if fields.get("on_behalf_of"):
        who += f" on behalf of {fields['on_behalf_of']}"
    agent = fields.get("agent")
    if isinstance(agent, Mapping):
        who += (
            f"; AI step {_text(agent.get('step_id'))} {_text(agent.get('step_version'))}, "
            f"model {_text(agent.get('model_id'))}"
        )
        if agent.get("prompt_id"):
            who += f", prompt {agent['prompt_id']} {_text(agent.get('prompt_version'))}"
    return who


def _what(fields: Mapping[str, Any]) -> str:
    what = f"{_text(fields.get('action'))} on {_text(fields.get('record'))}"
    if fields.get("sponsor_id") or fields.get("study_id"):
        what += f" (sponsor {_text(fields.get('sponsor_id'))}, study {_text(fields.get('study_id'))})"
    if fields.get("old_value") is not None or fields.get("new_value") is not None:
        what += f"; old: {_text(fields.get('old_value'))}; new: {_text(fields.get('new_value'))}"
    if fields.get("old_hash") or fields.get("new_hash"):
        what += f"; old sha256: {_text(fields.get('old_hash'))}; new sha256: {_text(fields.get('new_hash'))}"
    if fields.get("details"):
        what += f"; details: {_text(fields.get('details'))}"
    return what


def render_export_html(doc: Mapping[str, Any]) -> str:
    """A readable HTML page of an export: who/what/when/why per entry, the check result, the
    checkpoint and public key, every proof hash, and how to redo the checks by hand."""
    e = html.escape
    problems = check_export(doc)
    entries = [item for item in doc.get("entries", []) if isinstance(item, Mapping)]
    checkpoint = _mapping(doc.get("checkpoint"))
    log = _mapping(doc.get("log"))
    ref = _text(doc.get("record"))
    if problems:
        status = (
            "<p class='bad'>The checks FAILED:</p><ul>"
            + "".join(f"<li>{e(p)}</li>" for p in problems)
            + "</ul>"
        )
    else:
        status = (
            f"<p class='ok'>All {len(entries)} entries and the checkpoint signature verify "
            "(checked when this page was rendered).</p>"
        )
    rows, proofs = [], []
    for item in entries:
        text = item.get("entry")
        fields, _ = parse_entry(text) if isinstance(text, str) else (None, None)
        fields = fields or {}
        seq = e(_text(item.get("seq")))
        rows.append(
            f"<tr><td>{seq}</td><td>{e(_text(fields.get('at')))}</td><td>{e(_who(fields))}</td>"
            f"<td>{e(_what(fields))}</td><td>{e(_text(fields.get('reason')))}</td></tr>"
        )
        proof_items = "".join(
            f"<li><code>{e(_text(p))}</code></li>" for p in item.get("inclusion_proof") or []
        )
        proofs.append(
            f"<h3>Entry {seq} (leaf index {e(_text(item.get('leaf_index')))})</h3>"
            f"<p>Entry hash <code>{e(_text(item.get('entry_hash')))}</code><br>"
            f"Leaf hash <code>{e(_text(item.get('leaf_hash')))}</code><br>"
            f"prev_hash <code>{e(_text(fields.get('prev_hash')))}</code></p>"
            f"<p>Inclusion proof (leaf side first):</p><ol>{proof_items}</ol>"
            f"<pre>{e(_text(text))}</pre>"
        )
    row_html, proof_html = "\n".join(rows), "\n".join(proofs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Audit history of {e(ref)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #999; padding: 0.3em; vertical-align: top; text-align: left; }}
code, pre {{ font-size: 0.85em; word-break: break-all; white-space: pre-wrap; }}
.ok {{ color: #060; font-weight: bold; }}
.bad {{ color: #a00; font-weight: bold; }}
</style>
</head>
<body>
<h1>Audit history of {e(ref)}</h1>
<p>Exported {e(_text(doc.get("exported_at")))} from audit log {e(_text(log.get("origin")))}.</p>
{status}
<h2>Entries</h2>
<table>
<tr><th>Seq</th><th>When (UTC)</th><th>Who</th><th>What</th><th>Why</th></tr>
{row_html}
</table>
<h2>Signed checkpoint</h2>
<p>Tree size {e(_text(checkpoint.get("tree_size")))},
root hash <code>{e(_text(checkpoint.get("root_hash")))}</code>,
signed {e(_text(checkpoint.get("time")))}.</p>
<pre>{e(_text(checkpoint.get("note")))}</pre>
<p>Public key (SHA-256 fingerprint <code>{e(_text(log.get("public_key_sha256")))}</code>):</p>
<pre>{e(_text(log.get("public_key_pem")))}</pre>
<h2>Proofs</h2>
{proof_html}
<h2>How to check</h2>
<p>{e(HOW_TO_CHECK)}</p>
</body>
</html>
"""
