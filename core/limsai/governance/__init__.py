"""The governance layer every AI step runs through.

* ``context`` — who acts for whom on which sponsor's study (ClientProjectContext); ``identity`` —
  actor types and the versioned AI agent; ``policy`` — role permissions and rollout phases;
* ``gateway`` — the scoped gateway around any LIMS adapter (scope, re-check, RBAC, blinding, phases);
* ``audit_record`` — what is recorded; ``audit_log`` (with ``audit_db``, ``audit_entry``,
  ``audit_verify``, ``audit_export``, ``checkpoints``, ``merkle``) — the append-only, hash-chained,
  RFC 9162 Merkle audit log with Ed25519-signed checkpoints, verification and offline-checkable exports;
* ``drafts`` and ``release`` — draft packages with a manifest a human signs, and the release check;
* ``prompts`` — the approved-prompt registry; ``errors`` — the layer's typed refusals.
"""
