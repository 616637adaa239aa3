"""The governance layer every AI step runs through: who is acting for whom on which sponsor's
study (``context``), what they may do (``policy``), the scoped gateway around any LIMS adapter
(``gateway``), the tamper-evident audit log (``audit_log``, ``merkle``), drafts and the release check
(``drafts``, ``release``) and the approved-prompt registry (``prompts``)."""
