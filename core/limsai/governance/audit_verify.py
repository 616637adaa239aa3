"""Verification of the audit log in one pass: the hash chain row by row, then the signed checkpoints.

What can be pinpointed, and what only bounded:

* **Row-level changes are named exactly** by the entry checks, in seq order, and the first failing
  seq is reported: an edited text or ``entry_hash``/``leaf_hash`` column (the text no longer hashes
  to its stored hashes), a text that is not canonical RFC 8785 JSON, a row whose text carries
  another seq (reordered, or renumbered after a deletion), a missing seq (deleted row), a helper
  column (``record``, ``sponsor_id``, ``run_id``) that disagrees with the text, and a broken
  ``prev_hash`` link.
* **A text rewritten together with its own hashes** shows as a broken link from the next entry.
  The next-but-one entry decides which side changed: if entry ``r + 1`` still links to entry ``r``,
  entry ``r - 1`` was rewritten, otherwise entry ``r``'s own link was. When entry ``r`` is the last,
  both readings fit and the earlier entry, ``r - 1``, is named: it is the first that cannot be
  vouched for. A stretch of entries rewritten with hashes and links shows only at its end; its
  start is bounded by the checkpoints, as below.
* **An inserted row** whose text fits the chain shows at the next row, which then holds the
  original entry of the previous seq still linked to the entry before it; the inserted seq is named.
* **A tail truncation** is named as the first missing seq (``size + 1``) when a signed checkpoint
  (in the table or in ``audit-checkpoint.json``) covers more entries than the log holds.
* **A history rewritten with recomputed hashes and links** passes every row check; only the signed
  roots catch it, and a root says only *that* its range changed, not *where*. The report names the
  first seq after the largest signed size whose root still matches (``good + 1``): the change lies
  between that seq and the first checkpoint whose root fails. A checkpoint whose signature fails is
  reported, and if it claims more of the log than any valid checkpoint vouches for, ``good + 1`` is
  named as well.
* **Not detectable here:** entries appended or rewritten after the last signed checkpoint with a
  consistent chain (``uncovered`` counts them), and a deletion of the database, the checkpoints
  table, ``audit-checkpoint.json`` and the keys together. Export checkpoints and the public key to
  a witness outside the work directory to close that gap.

Checkpoint signatures are checked with the exported public key (or a pinned one), successive valid
checkpoints are checked for RFC 9162 consistency, and the roots at all checkpoint sizes are computed
in the same pass as the row checks, so a full verify is ``O(n)``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from limsai.governance.audit_entry import GENESIS_HASH, parse_entry
from limsai.governance.checkpoints import Checkpoint, checkpoint_problem
from limsai.governance.merkle import RootAccumulator, TreeLevels, verify_consistency
from limsai.model import LimsModel

Row = tuple[int, str, str, str, str, str | None, str | None]
"""``(seq, entry, entry_hash, leaf_hash, record, sponsor_id, run_id)`` as stored."""


class VerifyReport(LimsModel):
    """The outcome of :meth:`AuditLog.verify`."""

    ok: bool
    size: int
    first_bad_seq: int | None = None
    problem: str | None = None
    problems: tuple[str, ...] = ()
    checkpoints_checked: int = 0
    covered_size: int = 0
    uncovered: int = 0

    def summary(self) -> str:
        """One line for people: what was checked and the verdict."""
        if not self.ok:
            return f"audit log FAILED verification at seq {self.first_bad_seq}: {self.problem}"
        tail = f"; {self.uncovered} newer entries not yet covered by a checkpoint" if self.uncovered else ""
        return (
            f"audit log intact: {self.size} entries, hash chain and Merkle tree verified, "
            f"{self.checkpoints_checked} signed checkpoint(s) checked (covering {self.covered_size}){tail}"
        )


@dataclass
class Finding:
    seq: int
    problem: str


@dataclass
class ScanResult:
    size: int
    finding: Finding | None
    roots: dict[int, str]
    leaves: list[bytes] = field(default_factory=list)


class EntryScanner:
    """Row-by-row checks of consecutive entries plus the Merkle roots at the requested sizes.

    ``first_seq``/``prev_hash`` let a scan start inside the log; ``prev_hash=None`` accepts the first
    row's link as given (used when that row is already covered by a verified root). Checks stop at
    the first finding (after the one row of lookahead a broken link needs); roots continue.
    """

    def __init__(
        self,
        *,
        first_seq: int = 1,
        prev_hash: str | None = GENESIS_HASH,
        root_sizes: Collection[int] = (),
        keep_leaves: int = 0,
    ) -> None:
        self._first_seq = first_seq
        self._expected = first_seq
        self._prev: str | None = prev_hash
        self._prev2: str | None = None
        self._pending_link: int | None = None
        self._sizes = set(root_sizes)
        self._keep = keep_leaves
        self._acc = RootAccumulator()
        self.finding: Finding | None = None
        self.roots: dict[int, str] = {0: self._acc.root().hex()} if 0 in self._sizes else {}
        self.leaves: list[bytes] = []

    def feed(self, row: Row) -> None:
        data = row[1].encode("utf-8")
        leaf = hashlib.sha256(b"\x00" + data).digest()
        acc = self._acc
        acc.add(leaf)
        if acc.size <= self._keep:
            self.leaves.append(leaf)
        if acc.size in self._sizes:
            self.roots[acc.size] = acc.root().hex()
        digest = hashlib.sha256(data).hexdigest()
        if self.finding is None:
            self._check(row, digest, leaf.hex())
        self._prev2, self._prev = self._prev, digest
        self._expected = row[0] + 1

    def finish(self) -> ScanResult:
        if self.finding is None and self._pending_link is not None:
            r = self._pending_link
            self.finding = Finding(
                r - 1,
                f"the link from entry {r} to entry {r - 1} is broken and no later entry tells which was "
                f"rewritten with a recomputed hash; entry {r - 1} is the first that cannot be vouched for",
            )
        return ScanResult(self._acc.size, self.finding, self.roots, self.leaves)

    def _check(self, row: Row, digest: str, leaf: str) -> None:
        seq, text, stored_hash, stored_leaf, record, sponsor_id, run_id = row
        if self._pending_link is not None:
            self._decide_link(seq, text, stored_hash, digest)
            return
        e = self._expected
        if seq != e:
            missing = f"entry {e} is" if seq == e + 1 else f"entries {e}..{seq - 1} are"
            self.finding = Finding(e, f"{missing} missing from the log (rows deleted)")
            return
        if digest != stored_hash:
            self.finding = Finding(
                seq, f"entry {seq}'s text does not hash to its stored entry_hash (text or hash edited)"
            )
            return
        if leaf != stored_leaf:
            self.finding = Finding(seq, f"entry {seq}'s stored leaf_hash is not the leaf hash of its text")
            return
        fields, why = parse_entry(text)
        if fields is None or why is not None:
            self.finding = Finding(seq, f"entry {seq}'s text {why}")
            return
        claimed = fields["seq"]
        if type(claimed) is not int or claimed != seq:
            self.finding = self._misplaced(seq, claimed, fields["prev_hash"], digest)
            return
        if self._prev is not None and fields["prev_hash"] != self._prev:
            if seq == self._first_seq:
                self.finding = Finding(seq, f"entry {seq}'s prev_hash does not match the entry before it")
            else:
                self._pending_link = seq
            return
        if (fields.get("record", ""), fields.get("sponsor_id"), fields.get("run_id")) != (
            record,
            sponsor_id,
            run_id,
        ):
            self.finding = Finding(
                seq, f"entry {seq}'s record/sponsor_id/run_id columns differ from its text"
            )

    def _misplaced(self, seq: int, claimed: object, prev_hash: object, digest: str) -> Finding:
        if claimed == seq - 1 and prev_hash == self._prev2 and digest != self._prev:
            before = f"entry {seq - 2}" if seq > 2 else "the start of the chain"
            return Finding(
                seq - 1,
                f"entry {seq - 1} was inserted: row {seq} holds the original entry {seq - 1}, "
                f"which links to {before}",
            )
        return Finding(
            seq, f"row {seq} holds the text of entry {claimed} (rows deleted, inserted or reordered)"
        )

    def _decide_link(self, seq: int, text: str, stored_hash: str, digest: str) -> None:
        r = self._pending_link
        assert r is not None
        fields, why = parse_entry(text)
        next_links_to_r = (
            seq == r + 1
            and digest == stored_hash
            and why is None
            and fields is not None
            and fields["prev_hash"] == self._prev
        )
        if next_links_to_r:
            self.finding = Finding(
                r - 1, f"entry {r - 1} was rewritten with a recomputed hash: entry {r} no longer links to it"
            )
        else:
            self.finding = Finding(r, f"entry {r}'s prev_hash does not match the hash of entry {r - 1}")


@dataclass(frozen=True)
class StoredCheckpoint:
    label: str
    checkpoint: Checkpoint


def judge(
    scan: ScanResult,
    checkpoints: Sequence[StoredCheckpoint],
    public_key: Ed25519PublicKey | None,
    notes: Sequence[str] = (),
) -> VerifyReport:
    """Combine the row scan with the checkpoints (already deduplicated; the table's and the file's)
    into the report. ``notes`` are problems found elsewhere (missing files, key mismatch)."""
    n = scan.size
    candidates: list[Finding] = [scan.finding] if scan.finding else []
    problems: list[str] = list(notes)
    trusted: list[Checkpoint] = []
    forged: list[StoredCheckpoint] = []
    for stored in checkpoints:
        if public_key is None:
            continue
        why = checkpoint_problem(stored.checkpoint, public_key)
        if why is None:
            trusted.append(stored.checkpoint)
        else:
            forged.append(stored)
            problems.append(f"{stored.label} (tree size {stored.checkpoint.tree_size}) {why}")
    trusted.sort(key=lambda cp: cp.tree_size)
    max_signed = trusted[-1].tree_size if trusted else 0
    if max_signed > n:
        candidates.append(
            Finding(
                n + 1,
                f"the log holds {n} entries but a signed checkpoint covers {max_signed}: "
                f"entries {n + 1}..{max_signed} were removed",
            )
        )
    bound = min((f.seq for f in candidates), default=n + 1)
    good, matched = 0, []
    for cp in trusted:
        if cp.tree_size >= bound:
            break
        if scan.roots.get(cp.tree_size) != cp.root_hash:
            candidates.append(
                Finding(
                    good + 1,
                    f"the entries up to seq {cp.tree_size} no longer hash to the root signed for that size "
                    f"(history rewritten with recomputed hashes); the change lies in seqs "
                    f"{good + 1}..{cp.tree_size}",
                )
            )
            break
        good = cp.tree_size
        matched.append(cp)
    roots_by_size: dict[int, set[str]] = {}
    for cp in trusted:
        roots_by_size.setdefault(cp.tree_size, set()).add(cp.root_hash)
    problems.extend(
        f"two signed checkpoints of tree size {size} carry different roots"
        for size, roots in roots_by_size.items()
        if len(roots) > 1
    )
    for stored in forged:
        if good < stored.checkpoint.tree_size <= n:
            candidates.append(
                Finding(
                    good + 1,
                    f"{stored.label} does not verify and claims seqs up to {stored.checkpoint.tree_size}; "
                    f"entries after {good}, the last size a valid checkpoint vouches for, cannot be trusted",
                )
            )
    problems.extend(_consistency_problems(matched, scan.leaves))
    first = min(candidates, key=lambda f: f.seq, default=None)
    all_problems = [f.problem for f in sorted(candidates, key=lambda f: f.seq)] + problems
    return VerifyReport(
        ok=not all_problems,
        size=n,
        first_bad_seq=first.seq if first else None,
        problem=first.problem if first else (all_problems[0] if all_problems else None),
        problems=tuple(dict.fromkeys(all_problems)),
        checkpoints_checked=len(trusted) + len(forged),
        covered_size=max_signed,
        uncovered=max(0, n - max_signed),
    )


def _consistency_problems(matched: Sequence[Checkpoint], leaves: Sequence[bytes]) -> list[str]:
    """RFC 9162 consistency proofs between successive valid checkpoints, built from the entries."""
    sizes = sorted({cp.tree_size for cp in matched})
    if len(sizes) < 2 or len(leaves) < sizes[-1]:
        return []
    levels = TreeLevels(leaves[: sizes[-1]])
    by_size = {cp.tree_size: bytes.fromhex(cp.root_hash) for cp in matched}
    out = []
    for old, new in itertools.pairwise(sizes):
        proof = levels.consistency_proof(old, new)
        if not verify_consistency(old, new, by_size[old], by_size[new], proof):
            out.append(f"the signed checkpoints of tree sizes {old} and {new} are not consistent")
    return out
