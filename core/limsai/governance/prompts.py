"""The approved-prompt registry: only an approved template whose bytes still hash to its registered
sha256 is ever handed to a step (PT-1; 21 CFR 11.10(k), Annex 11 §10).

``registry.yaml`` in the ``limsai_prompts`` package lists each template by id, version, file and
sha256 with its status and approver. The runtime re-hashes the file on every load: an edited,
unapproved, retired or unknown template is refused with :class:`PromptRefused`, and every load and
every refusal is written to the audit log. Approval happens in change control, never in code: the
command line (``python -m limsai.governance.prompts hash FILE``) only prints a file's hash.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from limsai.governance.audit_record import AuditRecord, AuditSink
from limsai.governance.context import ClientProjectContext
from limsai.governance.errors import GovernanceError
from limsai.governance.identity import SHA256_HEX, ActorType, AgentIdentity
from limsai.model import LimsModel, NonEmptyStr

REGISTRY_FILE = "registry.yaml"
PROMPTS_PACKAGE = "limsai_prompts"


class PromptStatus(StrEnum):
    APPROVED = "approved"
    DRAFT = "draft"
    RETIRED = "retired"


def _version_text(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise ValueError(f'version {value!r} must be written as a quoted string, e.g. version: "1"')
    return str(value) if isinstance(value, int) else value


Version = Annotated[str, BeforeValidator(_version_text), Field(pattern=r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")]
"""A prompt version: dotted numbers without leading zeros ("1", "2.10"), ordered numerically."""


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version: "2.10" comes after "2.9"."""
    return tuple(int(part) for part in version.split("."))


class PromptEntry(LimsModel):
    """One registry row: which file is prompt ``id`` version ``version``, its hash and its approval."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=128)
    version: Version
    file: str = Field(
        pattern=r"^templates/[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="path of the template inside the prompts package, e.g. templates/x.v1.txt",
    )
    sha256: str = Field(pattern=SHA256_HEX, description="sha256 of the file's bytes, 64 lowercase hex digits")
    status: PromptStatus
    approved_by: str = ""
    approved_at: date | None = None
    description: str = ""

    @model_validator(mode="after")
    def _approval_recorded(self) -> PromptEntry:
        if self.status is PromptStatus.APPROVED and not (self.approved_by.strip() and self.approved_at):
            raise ValueError("an approved prompt must name approved_by and give approved_at (a date)")
        return self

    @property
    def ref(self) -> str:
        return f"prompt/{self.id}/v{self.version}"


class RegistryDocument(LimsModel):
    """The whole of ``registry.yaml``."""

    prompts: tuple[PromptEntry, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> RegistryDocument:
        refs = [entry.ref for entry in self.prompts]
        if twice := sorted({ref for ref in refs if refs.count(ref) > 1}):
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return self


class PromptRegistryError(ValueError):
    """``registry.yaml`` is missing or malformed; ``problems`` names each fault."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class RefusalReason(StrEnum):
    UNKNOWN_PROMPT = "unknown_prompt"
    UNKNOWN_VERSION = "unknown_version"
    NOT_APPROVED = "not_approved"
    NO_APPROVED_VERSION = "no_approved_version"
    FILE_MISSING = "file_missing"
    HASH_MISMATCH = "hash_mismatch"
    NOT_UTF8 = "not_utf8"


class PromptRefused(GovernanceError):
    """A prompt may not be used. Raised by :meth:`PromptRegistry.get` after the refusal has been
    written to the audit log; ``entry`` is the registry row concerned, if the request matched one."""

    def __init__(
        self,
        reason: RefusalReason,
        message: str,
        *,
        prompt_id: str,
        version: str | None,
        entry: PromptEntry | None = None,
        actual_sha256: str | None = None,
    ) -> None:
        self.reason = reason
        self.message = message
        self.prompt_id = prompt_id
        self.version = entry.version if entry else version
        self.entry = entry
        self.expected_sha256 = entry.sha256 if entry else None
        self.actual_sha256 = actual_sha256
        super().__init__(message)


class AuditContext(LimsModel):
    """Who asks for a prompt, for whom, on which sponsor's study and in which run; copied onto the
    audit records of every load and refusal."""

    actor_type: ActorType
    actor_id: NonEmptyStr
    agent: AgentIdentity | None = None
    on_behalf_of: str | None = None
    sponsor_id: str | None = None
    study_id: str | None = None
    run_id: str | None = None

    @model_validator(mode="after")
    def _agent_consistent(self) -> AuditContext:
        if self.actor_type is ActorType.AI_AGENT:
            if self.agent is None:
                raise ValueError("an ai_agent context must carry the agent identity")
            if self.actor_id != self.agent.actor_id:
                raise ValueError(f"actor_id {self.actor_id!r} is not the agent's id {self.agent.actor_id!r}")
        return self

    @classmethod
    def for_agent(
        cls, agent: AgentIdentity, *, on_behalf_of: str, sponsor_id: str, study_id: str, run_id: str
    ) -> AuditContext:
        """The usual case: an AI step acting for a human on one sponsor's study."""
        return cls(
            actor_type=ActorType.AI_AGENT,
            actor_id=agent.actor_id,
            agent=agent,
            on_behalf_of=on_behalf_of,
            sponsor_id=sponsor_id,
            study_id=study_id,
            run_id=run_id,
        )

    @classmethod
    def for_run(cls, context: ClientProjectContext) -> AuditContext:
        """The context of a step run: its agent acting for its human principal."""
        return cls.for_agent(
            context.agent,
            on_behalf_of=context.principal.user_id,
            sponsor_id=context.sponsor_id,
            study_id=context.study_id,
            run_id=context.run_id,
        )

    def record(self, action: str, *, record: str, reason: str, details: Mapping[str, Any]) -> AuditRecord:
        return AuditRecord(
            actor_type=self.actor_type,
            actor_id=self.actor_id,
            agent=self.agent,
            on_behalf_of=self.on_behalf_of,
            sponsor_id=self.sponsor_id,
            study_id=self.study_id,
            run_id=self.run_id,
            action=action,
            record=record,
            reason=reason,
            details=dict(details),
        )


class ApprovedPrompt(LimsModel):
    """The text of an approved template, read once and checked against its registered hash."""

    id: NonEmptyStr
    version: NonEmptyStr
    text: str
    sha256: str = Field(pattern=SHA256_HEX)

    def stamp(self, agent: AgentIdentity) -> AgentIdentity:
        """``agent`` with this prompt's id, version and hash, for attribution of what it drafts."""
        return agent.model_copy(
            update={"prompt_id": self.id, "prompt_version": self.version, "prompt_sha256": self.sha256}
        )


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML safe loader that rejects a key given twice in one mapping instead of keeping the last."""


def _mapping_without_duplicates(loader: Any, node: Any, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            break  # the safe loader's own mapping constructor reports unhashable keys
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"{key!r} given twice", key_node.start_mark)
        keys.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


_PATTERN_HINTS = {
    "id": "must be lowercase letters, digits, '_', '.' or '-'",
    "version": 'must be dotted numbers without leading zeros, e.g. "1" or "2.1"',
    "file": "must be templates/<plain file name>",
    "sha256": "must be 64 lowercase hex digits",
}


def _problem(error: Mapping[str, Any], raw: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        if where.startswith("prompts[") and isinstance(part, int):
            rows = raw.get("prompts")
            row = rows[part] if isinstance(rows, list) and part < len(rows) else None
            if isinstance(row, dict) and "id" in row:
                where += f" ({row.get('id')} v{row.get('version')})"
    hint = _PATTERN_HINTS.get(str(loc[-1])) if loc and error["type"] == "string_pattern_mismatch" else None
    message = hint or str(error["msg"]).removeprefix("Value error, ")
    return f"{where or 'registry'}: {message}"


def parse_registry(data: bytes, source: str = REGISTRY_FILE) -> RegistryDocument:
    """Validate the bytes of a registry file; raise :class:`PromptRegistryError` naming each fault."""
    try:
        raw = yaml.load(data, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise PromptRegistryError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise PromptRegistryError(source, ["must be a mapping with a 'prompts' list"])
    try:
        return RegistryDocument.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(error, raw) for error in exc.errors()]
        raise PromptRegistryError(source, problems) from exc


class PromptRegistry:
    """The registry as loaded; :meth:`get` hands out approved prompts and audits every attempt."""

    def __init__(self, root: Traversable, document: RegistryDocument, registry_sha256: str) -> None:
        self.root = root
        self.entries = document.prompts
        self.registry_sha256 = registry_sha256

    @classmethod
    def load(cls, root: Traversable | Path | None = None) -> PromptRegistry:
        """Read ``registry.yaml`` from ``root`` (default: the installed ``limsai_prompts`` package)."""
        base: Traversable = files(PROMPTS_PACKAGE) if root is None else root
        registry = base.joinpath(REGISTRY_FILE)
        try:
            data = registry.read_bytes()
        except OSError as exc:
            raise PromptRegistryError(str(registry), [f"cannot be read: {exc}"]) from exc
        return cls(base, parse_registry(data, str(registry)), hashlib.sha256(data).hexdigest())

    def template_path(self, entry: PromptEntry) -> Traversable:
        path = self.root
        for part in entry.file.split("/"):
            path = path.joinpath(part)
        return path

    def get(
        self, prompt_id: str, version: str | None = None, *, audit: AuditSink, actor: AuditContext
    ) -> ApprovedPrompt:
        """The approved prompt ``prompt_id`` (its latest approved version when ``version`` is None).

        Raises :class:`PromptRefused` for an unknown id or version, a status other than approved,
        a missing file or a file whose bytes no longer hash to the registered sha256. Appends one
        ``prompt_loaded`` or ``prompt_refused`` record to ``audit`` either way.
        """
        try:
            entry = self._select(prompt_id, version)
            text = self._read(entry)
        except PromptRefused as refused:
            details = {
                "prompt_id": prompt_id,
                "requested_version": version,
                "version": refused.version,
                "status": refused.entry.status.value if refused.entry else None,
                "file": refused.entry.file if refused.entry else None,
                "refusal": refused.reason.value,
                "expected_sha256": refused.expected_sha256,
                "actual_sha256": refused.actual_sha256,
                "registry_sha256": self.registry_sha256,
            }
            ref = f"prompt/{prompt_id}" + (f"/v{refused.version}" if refused.version else "")
            audit.append(actor.record("prompt_refused", record=ref, reason=refused.message, details=details))
            raise
        details = {
            "prompt_id": entry.id,
            "version": entry.version,
            "file": entry.file,
            "sha256": entry.sha256,
            "registry_sha256": self.registry_sha256,
        }
        audit.append(actor.record("prompt_loaded", record=entry.ref, reason="", details=details))
        return ApprovedPrompt(id=entry.id, version=entry.version, text=text, sha256=entry.sha256)

    def _select(self, prompt_id: str, version: str | None) -> PromptEntry:
        def refused(reason: RefusalReason, message: str, entry: PromptEntry | None = None) -> PromptRefused:
            return PromptRefused(reason, message, prompt_id=prompt_id, version=version, entry=entry)

        candidates = [e for e in self.entries if e.id == prompt_id]
        if not candidates:
            raise refused(RefusalReason.UNKNOWN_PROMPT, f"prompt {prompt_id!r} is not in the registry")
        if version is None:
            approved = [e for e in candidates if e.status is PromptStatus.APPROVED]
            if not approved:
                raise refused(
                    RefusalReason.NO_APPROVED_VERSION, f"prompt {prompt_id!r} has no approved version"
                )
            return max(approved, key=lambda e: version_key(e.version))
        entry = next((e for e in candidates if e.version == version), None)
        if entry is None:
            raise refused(RefusalReason.UNKNOWN_VERSION, f"prompt {prompt_id!r} has no version {version!r}")
        if entry.status is not PromptStatus.APPROVED:
            message = f"{entry.ref} is {entry.status.value}, not approved"
            raise refused(RefusalReason.NOT_APPROVED, message, entry)
        return entry

    def _read(self, entry: PromptEntry) -> str:
        """The template's text, once its bytes are known to hash to the approved sha256."""
        try:
            data = self.template_path(entry).read_bytes()
        except OSError as exc:
            message = f"{entry.ref}: template {entry.file} cannot be read ({exc})"
            raise self._refused(RefusalReason.FILE_MISSING, message, entry, None) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            message = f"{entry.ref}: {entry.file} has sha256 {actual}, the registry approved {entry.sha256}"
            raise self._refused(RefusalReason.HASH_MISMATCH, message, entry, data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"{entry.ref}: {entry.file} is not UTF-8 text"
            raise self._refused(RefusalReason.NOT_UTF8, message, entry, data) from exc

    @staticmethod
    def _refused(
        reason: RefusalReason, message: str, entry: PromptEntry, data: bytes | None
    ) -> PromptRefused:
        actual = hashlib.sha256(data).hexdigest() if data is not None else None
        return PromptRefused(
            reason, message, prompt_id=entry.id, version=entry.version, entry=entry, actual_sha256=actual
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``hash FILE`` prints the file's sha256 for pasting into ``registry.yaml``; it approves nothing."""
    parser = argparse.ArgumentParser(prog="python -m limsai.governance.prompts", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hash", help="print the sha256 of a template file").add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        print(hashlib.sha256(args.file.read_bytes()).hexdigest())
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
