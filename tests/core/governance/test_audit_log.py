"""The tamper-evident audit log: what an append writes, the append-only triggers, the signing key,
signed checkpoints, and — by property tests that tamper with the table directly — that verify()
names the first bad seq; plus proofs, the offline export check and concurrent appenders."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import multiprocessing
import sqlite3
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from limsai.governance import merkle
from limsai.governance.audit_entry import GENESIS_HASH, canonical_json, parse_entry
from limsai.governance.audit_export import check_export, render_export_html
from limsai.governance.audit_log import AuditIntegrityError, AuditLog, AuditLogError
from limsai.governance.audit_record import AuditRecord
from limsai.governance.checkpoints import checkpoint_problem, load_public_key_pem
from limsai.governance.identity import ActorType, AgentIdentity
from limsai.model import utcnow

AGENT = AgentIdentity(step_id="stability.summary", step_version="1.0.0", model_id="local-7b")
TRIGGERS = [
    f"{table}_{name}"
    for table in ("audit_entries", "checkpoints")
    for name in ("no_update", "no_delete", "in_sequence")
]


def rec(
    i: int, *, record: str | None = None, sponsor: str = "SP-1", reason: str | None = None
) -> AuditRecord:
    if i % 3 == 0:
        return AuditRecord(
            actor_type=ActorType.AI_AGENT,
            actor_id=AGENT.actor_id,
            on_behalf_of="u.analyst",
            agent=AGENT,
            sponsor_id=sponsor,
            study_id="ST-1",
            action="draft.create",
            record=record if record is not None else f"document/DOC-{i % 4}/v1",
            new_hash=hashlib.sha256(str(i).encode()).hexdigest(),
            reason=reason if reason is not None else f"scheduled run {i}",
            run_id=f"run-{i // 5}",
        )
    return AuditRecord(
        actor_type=ActorType.HUMAN,
        actor_id=f"u.reviewer{i % 2}",
        sponsor_id=sponsor,
        study_id="ST-1",
        action="result.modify",
        record=record if record is not None else f"result/R-{i}",
        old_value="99.50",
        new_value="99.5" + str(i % 10),
        reason=reason if reason is not None else "transcription error",
        details={"unit": "%", "n": i},
    )


def make_log(root: Path, n: int, checkpoints: Sequence[int] = ()) -> AuditLog:
    """A log of ``n`` entries with a signed checkpoint after each size in ``checkpoints``."""
    log = AuditLog(root)
    done = 0
    for size in sorted({*checkpoints, n}):
        log.append_many([rec(i) for i in range(done, size)])
        done = max(done, size)
        if size in checkpoints:
            log.checkpoint()
    return log


@contextmanager
def tamper(log: AuditLog) -> Iterator[sqlite3.Connection]:
    """A raw connection with the append-only triggers dropped, as an administrator could."""
    conn = sqlite3.connect(log.path, isolation_level=None)
    for trigger in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def text_of(conn: sqlite3.Connection, seq: int) -> str:
    return str(conn.execute("SELECT entry FROM audit_entries WHERE seq = ?", (seq,)).fetchone()[0])


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def leaf(text: str) -> str:
    return merkle.leaf_hash(text.encode()).hex()


def edited(text: str, **changes: Any) -> str:
    """The canonical text with some fields changed (by default the reason)."""
    fields = json.loads(text)
    fields.update(changes or {"reason": fields["reason"] + " (edited)"})
    return canonical_json(fields)[0]


def put(conn: sqlite3.Connection, seq: int, text: str, *, rehash: bool) -> None:
    if rehash:
        conn.execute(
            "UPDATE audit_entries SET entry = ?, entry_hash = ?, leaf_hash = ? WHERE seq = ?",
            (text, sha(text), leaf(text), seq),
        )
    else:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = ?", (text, seq))


def shift(conn: sqlite3.Connection, from_seq: int, by: int) -> None:
    """Renumber rows ``seq >= from_seq`` by ``by`` (two steps, so the primary key never collides)."""
    conn.execute("UPDATE audit_entries SET seq = -(seq + ?) WHERE seq >= ?", (by, from_seq))
    conn.execute("UPDATE audit_entries SET seq = -seq WHERE seq < 0")


def rewrite_from(conn: sqlite3.Connection, start: int, n: int) -> None:
    """Rewrite entries ``start..n`` with recomputed hashes and links: a consistent forged history."""
    prev = GENESIS_HASH if start == 1 else sha(text_of(conn, start - 1))
    for seq in range(start, n + 1):
        text = edited(text_of(conn, seq), prev_hash=prev, reason=f"rewritten {seq}")
        put(conn, seq, text, rehash=True)
        prev = sha(text)


# -- appending -----------------------------------------------------------------------------------


def test_append_writes_the_record_with_seq_time_and_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    first, second = log.append(rec(0)), log.append(rec(1))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash
    assert first.entry_hash == sha(first.entry)
    assert first.leaf_hash == hashlib.sha256(b"\x00" + first.entry.encode()).hexdigest()
    assert first.record == rec(0)
    fields = json.loads(second.entry)
    assert fields["seq"] == 2
    assert fields["prev_hash"] == first.entry_hash
    assert fields["actor_id"] == "u.reviewer1"
    assert fields["old_value"] == "99.50"
    assert fields["reason"] == "transcription error"
    assert set(fields) == set(AuditRecord.model_fields) | {"seq", "at", "prev_hash"}
    assert log.entry(2) == second
    assert log.size() == 2
    with sqlite3.connect(log.path) as conn:
        row = conn.execute(
            "SELECT seq, entry, entry_hash, leaf_hash, record, sponsor_id, run_id FROM audit_entries "
            "WHERE seq = 1"
        ).fetchone()
    assert row == (1, first.entry, first.entry_hash, first.leaf_hash, "document/DOC-0/v1", "SP-1", "run-0")


def test_time_is_the_servers_utc_clock_and_callers_cannot_supply_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    before = utcnow()
    entry = log.append(rec(1, reason="x"))
    after = utcnow()
    assert before <= entry.at <= after
    assert entry.at.utcoffset() == timedelta(0)
    at = json.loads(entry.entry)["at"]
    assert at.endswith("Z") and at == entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(ValidationError):
        AuditRecord(actor_type=ActorType.HUMAN, actor_id="u.x", action="a", at="1999-01-01T00:00:00Z")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        AuditRecord(actor_type=ActorType.HUMAN, actor_id="u.x", action="a", seq=7)  # type: ignore[call-arg]
    nested = log.append(rec(1, reason="y").model_copy(update={"details": {"at": "1999-01-01T00:00:00Z"}}))
    assert json.loads(nested.entry)["at"] != "1999-01-01T00:00:00Z"


def test_entry_text_is_canonical_rfc8785(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    odd = rec(1).model_copy(
        update={
            "details": {"ratio": 1e21, "half": 0.5, "int_like": 2.0, "µg": "ü\u2028", "😀": 1, "\uffff": 2}
        }
    )
    for entry in [log.append(rec(0)), log.append(odd)]:
        assert rfc8785.dumps(json.loads(entry.entry)).decode() == entry.entry
        assert parse_entry(entry.entry)[1] is None
    stored = json.loads(log.entry(2).entry)["details"]
    assert stored["int_like"] == 2 and stored["ratio"] == 1e21
    assert log.entry(2).entry.index('"😀"') < log.entry(2).entry.index('"\uffff"')  # UTF-16 key order


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_canonical_json_agrees_with_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value).decode()
    except rfc8785.CanonicalizationError:
        with pytest.raises(ValueError):
            canonical_json(value)
        return
    text, parsed = canonical_json(value)
    assert text == expected
    assert rfc8785.dumps(parsed).decode() == text  # the parsed value stands for the same text
    if isinstance(value, dict):
        fields = {**value, "seq": 1, "at": "t", "prev_hash": GENESIS_HASH}
        canonical = rfc8785.dumps(fields).decode()
        assert parse_entry(canonical)[1] is None
        loose = json.dumps(fields, indent=1)
        if loose != canonical:
            assert parse_entry(loose)[1] == "is not canonical RFC 8785 JSON"


def test_append_many_is_one_transaction(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    entries = log.append_many([rec(i) for i in range(5)])
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert len({e.at for e in entries}) == 1
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    for bad in [{"x": [float("nan")]}, {"x": float("inf")}, {"x": 2**60}]:
        with pytest.raises(ValueError):
            log.append_many([rec(6), rec(1).model_copy(update={"details": bad})])
    assert log.size() == 5
    with pytest.raises(TypeError, match="AuditRecord"):
        log.append({"action": "x"})  # type: ignore[arg-type]
    assert log.append_many([]) == []
    assert log.verify().ok


def test_lookups_by_record_sponsor_and_run(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    refs = [
        "document/DOC-1",
        "document/DOC-1/v2",
        "document/DOC-10",
        "document/DOC-1/v2/page-3",
        "sample/S-1",
    ]
    for i, ref in enumerate(refs):
        log.append(rec(3 * i, record=ref, sponsor="SP-A" if i % 2 else "SP-B"))
    assert [e.record.record for e in log.entries("document/DOC-1")] == [
        "document/DOC-1",
        "document/DOC-1/v2",
        "document/DOC-1/v2/page-3",
    ]
    assert [e.seq for e in log.entries(sponsor_id="SP-A")] == [2, 4]
    assert [e.seq for e in log.entries(run_id="run-1")] == [3, 4]
    assert [e.seq for e in log.entries(after_seq=2, limit=2)] == [3, 4]
    with pytest.raises(KeyError):
        log.entry(99)


# -- append-only ---------------------------------------------------------------------------------


def test_triggers_reject_update_delete_and_out_of_sequence_inserts(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3, checkpoints=[3])
    conn = sqlite3.connect(log.path)
    statements = [
        "UPDATE audit_entries SET entry = 'x' WHERE seq = 2",
        "UPDATE audit_entries SET sponsor_id = 'SP-2'",
        "DELETE FROM audit_entries WHERE seq = 3",
        "DELETE FROM audit_entries",
        "INSERT INTO audit_entries VALUES (2, 'x', 'h', 'l', 'r', NULL, NULL)",
        "INSERT OR REPLACE INTO audit_entries VALUES (2, 'x', 'h', 'l', 'r', NULL, NULL)",
        "INSERT INTO audit_entries VALUES (9, 'x', 'h', 'l', 'r', NULL, NULL)",
        "UPDATE checkpoints SET root_hash = 'x'",
        "DELETE FROM checkpoints",
        "INSERT OR REPLACE INTO checkpoints VALUES (1, 'o', 1, 'r', 't', 's')",
    ]
    for statement in statements:
        with pytest.raises(sqlite3.DatabaseError, match="audit log is append-only"):
            conn.execute(statement)
    conn.close()
    assert log.size() == 3
    assert log.verify().ok


# -- the signing key and checkpoints -------------------------------------------------------------


def test_signing_key_is_a_0600_file_outside_the_database(tmp_path: Path) -> None:
    log = make_log(tmp_path, 4, checkpoints=[4])
    key_path = tmp_path / "keys" / "audit-signing.key"
    pub_path = tmp_path / "keys" / "audit-signing.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert pub_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key_path.read_bytes()
    log.close()
    database = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    assert raw not in database and b"PRIVATE KEY" not in database
    second = AuditLog(tmp_path)
    second.append(rec(5))
    assert second.checkpoint().origin == second.checkpoints()[0].origin  # the same key, reused
    assert key_path.read_bytes() == pem


def test_checkpoint_is_a_signed_note_stored_in_table_and_file(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    checkpoint = log.checkpoint()
    public_key = load_public_key_pem((tmp_path / "keys" / "audit-signing.pub").read_text())
    assert checkpoint.tree_size == 5
    assert checkpoint.root_hash == log.root() == merkle.root(log.leaf_hashes()).hex()
    assert checkpoint_problem(checkpoint, public_key) is None
    lines = checkpoint.note.split("\n")
    assert lines[0] == checkpoint.origin and lines[0].startswith("limsai-audit/")
    assert lines[1] == "5"
    assert base64.b64decode(lines[2]) == bytes.fromhex(checkpoint.root_hash)
    assert lines[3] == f"time {checkpoint.time}"
    assert lines[4] == ""
    assert lines[5].startswith(f"\u2014 {checkpoint.origin} ")
    assert log.checkpoints() == [checkpoint] and log.latest_checkpoint() == checkpoint
    on_disk = json.loads((tmp_path / "audit-checkpoint.json").read_text())
    assert on_disk["root_hash"] == checkpoint.root_hash and on_disk["note"] == checkpoint.note
    forged = checkpoint.model_copy(update={"tree_size": 4})
    assert checkpoint_problem(forged, public_key) == "has a signature that does not verify"


def test_clean_log_verifies_and_reports_coverage(tmp_path: Path) -> None:
    empty = AuditLog(tmp_path / "empty").verify()
    assert (empty.ok, empty.size, empty.first_bad_seq, empty.problem, empty.checkpoints_checked) == (
        True,
        0,
        None,
        None,
        0,
    )
    log = make_log(tmp_path / "log", 12, checkpoints=[0, 3, 8])
    report = log.verify()
    assert report.ok and report.problems == ()
    assert (report.size, report.checkpoints_checked, report.covered_size, report.uncovered) == (12, 3, 8, 4)


def test_proofs_against_the_log_root(tmp_path: Path) -> None:
    log = make_log(tmp_path, 13)
    root = bytes.fromhex(log.root())
    leaves = log.leaf_hashes()
    for seq in range(1, 14):
        proof = [bytes.fromhex(p) for p in log.inclusion_proof(seq)]
        assert merkle.verify_inclusion(leaves[seq - 1], seq - 1, 13, proof, root)
    old_root = bytes.fromhex(log.root(6))
    proof = [bytes.fromhex(p) for p in log.consistency_proof(6)]
    assert merkle.verify_consistency(6, 13, old_root, root, proof)
    small = [bytes.fromhex(p) for p in log.inclusion_proof(2, tree_size=5)]
    assert merkle.verify_inclusion(leaves[1], 1, 5, small, bytes.fromhex(log.root(5)))
    with pytest.raises(ValueError, match="outside"):
        log.root(14)


def test_checkpoint_refuses_to_sign_a_tampered_log(tmp_path: Path) -> None:
    log = make_log(tmp_path, 6, checkpoints=[3])
    with tamper(log) as conn:
        put(conn, 5, edited(text_of(conn, 5)), rehash=False)
    with pytest.raises(AuditIntegrityError, match="entry 5"):
        log.checkpoint()
    other = make_log(tmp_path / "other", 6, checkpoints=[3])
    with tamper(other) as conn:
        rewrite_from(conn, 2, 6)
    with pytest.raises(AuditIntegrityError, match="no longer match"):
        other.checkpoint()
    assert len(other.checkpoints()) == 1
    with tamper(other) as conn:
        conn.execute("UPDATE checkpoints SET root_hash = ?", (other.root(3),))
    with pytest.raises(AuditIntegrityError, match="signature that does not verify"):
        other.checkpoint()


# -- verify names the first bad seq: property tests on a tampered table ---------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=20))
def test_single_row_edits_are_named(data: st.DataObject, n: int) -> None:
    k = data.draw(st.integers(min_value=1, max_value=n), label="k")
    kind = data.draw(st.sampled_from(["text", "entry_hash", "leaf_hash", "helper", "rehashed", "prev_hash"]))
    if kind == "rehashed":
        k = min(k, n - 1)  # the last entry rewritten with its hashes is covered by the checkpoint test
    expected = k
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n)
        with tamper(log) as conn:
            text = text_of(conn, k)
            if kind == "text":
                put(conn, k, edited(text), rehash=False)
            elif kind == "entry_hash":
                conn.execute("UPDATE audit_entries SET entry_hash = ? WHERE seq = ?", (sha("x"), k))
            elif kind == "leaf_hash":
                conn.execute("UPDATE audit_entries SET leaf_hash = ? WHERE seq = ?", (leaf("x"), k))
            elif kind == "helper":
                conn.execute("UPDATE audit_entries SET sponsor_id = 'SP-OTHER' WHERE seq = ?", (k,))
            elif kind == "rehashed":
                put(conn, k, edited(text), rehash=True)
            else:
                put(conn, k, edited(text, prev_hash=sha("elsewhere")), rehash=True)
                if k == n and k > 1:
                    expected = k - 1  # a broken last link cannot tell which side changed
        report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == expected, report.problem
    assert report.problem and str(expected) in report.problem


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=20), renumber=st.booleans())
def test_deleted_rows_are_named(data: st.DataObject, n: int, renumber: bool) -> None:
    k = data.draw(st.integers(min_value=1, max_value=n - 1), label="k")
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n)
        with tamper(log) as conn:
            conn.execute("DELETE FROM audit_entries WHERE seq = ?", (k,))
            if renumber:
                shift(conn, k + 1, -1)
        report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, k), report.problem
    assert report.size == n - 1


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=20), with_hashes=st.booleans())
def test_reordered_rows_are_named(data: st.DataObject, n: int, with_hashes: bool) -> None:
    i = data.draw(st.integers(min_value=1, max_value=n - 1), label="i")
    j = data.draw(st.integers(min_value=i + 1, max_value=n), label="j")
    columns = "entry, entry_hash, leaf_hash" if with_hashes else "entry"
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n)
        with tamper(log) as conn:
            a = conn.execute(f"SELECT {columns} FROM audit_entries WHERE seq = ?", (i,)).fetchone()
            b = conn.execute(f"SELECT {columns} FROM audit_entries WHERE seq = ?", (j,)).fetchone()
            assignments = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
            conn.execute(f"UPDATE audit_entries SET {assignments} WHERE seq = ?", (*b, i))
            conn.execute(f"UPDATE audit_entries SET {assignments} WHERE seq = ?", (*a, j))
        report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, i), report.problem


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=20), fits_chain=st.booleans())
def test_inserted_rows_are_named(data: st.DataObject, n: int, fits_chain: bool) -> None:
    k = data.draw(st.integers(min_value=1, max_value=n), label="k")
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n)
        with tamper(log) as conn:
            prev = GENESIS_HASH if k == 1 else sha(text_of(conn, k - 1))
            template = text_of(conn, k)
            forged = edited(
                template,
                seq=k,
                prev_hash=prev if fits_chain else sha("somewhere"),
                reason="backdated approval",
                actor_id="u.intruder",
            )
            shift(conn, k, 1)
            fields = json.loads(forged)
            conn.execute(
                "INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    k,
                    forged,
                    sha(forged),
                    leaf(forged),
                    fields["record"],
                    fields["sponsor_id"],
                    fields["run_id"],
                ),
            )
        report = log.verify()
    assert report.size == n + 1
    assert (report.ok, report.first_bad_seq) == (False, k), report.problem


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=20),
    also=st.sampled_from(["nothing", "checkpoints table", "checkpoint file"]),
)
def test_tail_truncation_is_named_from_the_signed_size(data: st.DataObject, n: int, also: str) -> None:
    m = data.draw(st.integers(min_value=0, max_value=n - 1), label="m")
    earlier = data.draw(st.lists(st.integers(min_value=0, max_value=n), max_size=2), label="earlier")
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n, checkpoints=[*earlier, n])
        with tamper(log) as conn:
            conn.execute("DELETE FROM audit_entries WHERE seq > ?", (m,))
            if also == "checkpoints table":
                conn.execute("DELETE FROM checkpoints")
        if also == "checkpoint file":
            (Path(tmp) / "audit-checkpoint.json").unlink()
        report = log.verify()
    assert (report.ok, report.size, report.first_bad_seq) == (False, m, m + 1), report.problem
    assert report.covered_size == n
    if also == "checkpoints table":
        assert any("checkpoints table lacks" in p for p in report.problems)
    if also == "checkpoint file":
        assert any("audit-checkpoint.json is missing" in p for p in report.problems)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=20),
    forge_checkpoints=st.booleans(),
)
def test_rewritten_history_is_bounded_by_the_checkpoints(
    data: st.DataObject, n: int, forge_checkpoints: bool
) -> None:
    sizes = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=n), min_size=1, max_size=3)))
    start = data.draw(st.integers(min_value=1, max_value=n), label="start")
    good = max((s for s in sizes if s < start), default=0)
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n, checkpoints=sizes)
        with tamper(log) as conn:
            rewrite_from(conn, start, n)
        if forge_checkpoints:
            # The admin also makes the stored checkpoints match the new roots; without the key the
            # signatures then fail.
            roots = {s: log.root(s) for s in sizes}
            with tamper(log) as conn:
                for size, root in roots.items():
                    conn.execute("UPDATE checkpoints SET root_hash = ? WHERE tree_size = ?", (root, size))
            on_disk = json.loads((Path(tmp) / "audit-checkpoint.json").read_text())
            on_disk["root_hash"] = roots[on_disk["tree_size"]]
            on_disk.pop("note")
            (Path(tmp) / "audit-checkpoint.json").write_text(json.dumps(on_disk))
        report = log.verify()
    assert report.size == n
    if start > sizes[-1]:
        assert report.ok and report.uncovered == n - sizes[-1]  # after the last checkpoint: undetectable
        return
    assert (report.ok, report.first_bad_seq) == (False, good + 1), report.problems
    if forge_checkpoints:
        assert any("signature that does not verify" in p for p in report.problems)
    else:
        assert "recomputed hashes" in (report.problem or "")


def test_last_entry_rewritten_with_hashes_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    log = make_log(tmp_path, 6, checkpoints=[2, 6])
    with tamper(log) as conn:
        put(conn, 6, edited(text_of(conn, 6)), rehash=True)
    report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "seqs 3..6" in (report.problem or "")


def test_a_pinned_key_rejects_checkpoints_signed_by_another(tmp_path: Path) -> None:
    log = make_log(tmp_path, 4, checkpoints=[4])
    assert log.verify(public_key_pem=log.public_key_pem()).ok
    stranger = Ed25519PrivateKey.generate().public_key()
    stranger_pem = stranger.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    report = log.verify(public_key_pem=stranger_pem)
    assert not report.ok
    assert "audit-signing.pub is not the pinned public key" in report.problems
    assert any("names origin" in p for p in report.problems)
    (tmp_path / "keys" / "audit-signing.pub").write_text(stranger_pem)
    replaced = log.verify()
    assert not replaced.ok
    assert "audit-signing.pub is not the public half of the signing key" in replaced.problems


# -- export --------------------------------------------------------------------------------------


def _export_log(root: Path) -> AuditLog:
    log = AuditLog(root)
    refs = ["document/DOC-1", "result/R-1", "document/DOC-1/v2", "document/DOC-10", "document/DOC-1/v2"]
    for i, ref in enumerate(refs):
        log.append(rec(3 * i, record=ref, reason=f"step {i} <b>&</b>"))
    return log


def test_export_round_trips_through_the_offline_checker(tmp_path: Path) -> None:
    log = _export_log(tmp_path)
    doc = json.loads(json.dumps(log.export_record("document/DOC-1")))
    assert [e["seq"] for e in doc["entries"]] == [1, 3, 5]
    assert [e["leaf_index"] for e in doc["entries"]] == [0, 2, 4]
    assert doc["checkpoint"]["tree_size"] == 5  # a checkpoint was signed to cover the entries
    assert doc["log"]["public_key_pem"] == (tmp_path / "keys" / "audit-signing.pub").read_text()
    assert check_export(doc) == []
    assert check_export(doc, public_key_pem=log.public_key_pem()) == []
    log.append(rec(30, record="other/X"))
    again = log.export_record("document/DOC-1")
    assert again["checkpoint"] == doc["checkpoint"]  # the existing checkpoint still covers them
    assert len(log.checkpoints()) == 1
    assert log.export_record("nothing/here")["entries"] == []


def _mutations() -> dict[str, Any]:
    def entry_text(doc: dict[str, Any]) -> None:
        doc["entries"][1]["entry"] = doc["entries"][1]["entry"].replace("step 2", "step 9")

    def entry_text_and_hashes(doc: dict[str, Any]) -> None:
        item = doc["entries"][0]
        item["entry"] = edited(item["entry"])
        item["entry_hash"], item["leaf_hash"] = sha(item["entry"]), leaf(item["entry"])

    def proof(doc: dict[str, Any]) -> None:
        doc["entries"][2]["inclusion_proof"][0] = sha("x")

    def root(doc: dict[str, Any]) -> None:
        doc["checkpoint"]["root_hash"] = sha("root")
        doc["checkpoint"].pop("note")

    def key(doc: dict[str, Any]) -> None:
        other = Ed25519PrivateKey.generate().public_key()
        doc["log"]["public_key_pem"] = other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def foreign_entry(doc: dict[str, Any]) -> None:
        doc["record"] = "document/DOC-10"

    def leaf_index(doc: dict[str, Any]) -> None:
        doc["entries"][0]["leaf_index"] = 1

    return {
        "entry_text": (entry_text, "does not hash to its entry_hash"),
        "entry_text_and_hashes": (entry_text_and_hashes, "inclusion proof does not lead"),
        "proof": (proof, "inclusion proof does not lead"),
        "root": (root, "signature that does not verify"),
        "key": (key, "origin does not belong"),
        "foreign_entry": (foreign_entry, "not the exported record"),
        "leaf_index": (leaf_index, "leaf index 1, not 0"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_a_tampered_export_fails_the_check(tmp_path: Path, name: str) -> None:
    doc = _export_log(tmp_path).export_record("document/DOC-1")
    mutate, expected = _mutations()[name]
    mutate(doc)
    problems = check_export(doc)
    assert any(expected in p for p in problems), problems


def test_check_export_rejects_malformed_documents() -> None:
    assert check_export([]) == ["the export is not a JSON object"]  # type: ignore[arg-type]
    assert "the export's public key cannot be read" in check_export({"format": "x"})


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=25))
def test_exports_of_random_logs_verify_and_any_text_change_fails(data: st.DataObject, n: int) -> None:
    sizes = data.draw(st.lists(st.integers(min_value=0, max_value=n), max_size=2))
    ref = data.draw(st.sampled_from(["document/DOC-0", "document/DOC-1", "result/R-2", "document"]))
    with tempfile.TemporaryDirectory() as tmp:
        log = make_log(Path(tmp), n, checkpoints=sizes)
        doc = log.export_record(ref)
        expected = [e.seq for e in log.entries(ref)]
    assert [e["seq"] for e in doc["entries"]] == expected
    assert check_export(doc) == []
    if expected:
        item = data.draw(st.sampled_from(doc["entries"]))
        at = data.draw(st.integers(min_value=0, max_value=len(item["entry"]) - 1))
        item["entry"] = (
            item["entry"][:at] + ("#" if item["entry"][at] != "#" else "$") + item["entry"][at + 1 :]
        )
        assert check_export(doc) != []


def test_html_rendering_lists_who_what_when_why_with_proofs(tmp_path: Path) -> None:
    log = _export_log(tmp_path)
    log.append(rec(1, record="document/DOC-1", reason="<script>alert(1)</script>"))
    doc = log.export_record("document/DOC-1")
    page = render_export_html(doc)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "step 0 &lt;b&gt;&amp;&lt;/b&gt;" in page
    assert "All 4 entries and the checkpoint signature verify" in page
    assert AGENT.actor_id in page and "on behalf of u.analyst" in page and "model local-7b" in page
    assert doc["checkpoint"]["root_hash"] in page
    assert doc["entries"][0]["inclusion_proof"][0] in page
    assert "How to check" in page and "RFC 9162" in page
    doc["entries"][0]["entry_hash"] = sha("x")
    assert "The checks FAILED" in render_export_html(doc)


# -- concurrency ---------------------------------------------------------------------------------


def _append_from_process(workdir: str, worker: int, count: int) -> None:
    log = AuditLog(Path(workdir))
    for i in range(count):
        log.append(rec(1, record=f"worker/{worker}", reason=f"{worker}:{i}"))
        if i == count // 2:
            log.checkpoint()
    log.close()


def test_concurrent_processes_keep_one_valid_chain(tmp_path: Path) -> None:
    workers, count = 4, 12
    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(target=_append_from_process, args=(str(tmp_path), w, count)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * workers
    log = AuditLog(tmp_path)
    report = log.verify()
    assert report.ok, report.problems
    assert report.size == workers * count
    assert report.checkpoints_checked == workers
    for w in range(workers):
        assert [json.loads(e.entry)["reason"] for e in log.entries(f"worker/{w}")] == [
            f"{w}:{i}" for i in range(count)
        ]
    latest = json.loads((tmp_path / "audit-checkpoint.json").read_text())
    assert latest["tree_size"] == max(cp.tree_size for cp in log.checkpoints())


def test_a_busy_database_is_reported_as_such(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, busy_timeout=0.05)
    blocker = sqlite3.connect(log.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditLogError, match="busy"):
            log.append(rec(1))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert log.append(rec(1)).seq == 1
