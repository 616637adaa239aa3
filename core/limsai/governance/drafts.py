"""Draft packages: what an AI step hands to the LIMS, with a manifest a human signs.

A step's output is a set of files plus a manifest listing each file's name, media type, size and
sha256 and the provenance of the whole: which versioned step, model and approved prompt produced it,
for whom, on which sponsor's study and milestone, from which inputs (by hash) and which computed
facts. The manifest is encoded as RFC 8785 canonical JSON, so its sha256 is a stable identity of the
package: a human e-signature on that hash (21 CFR 11.70) covers every file and all the provenance,
and any later change to a file or to the provenance breaks it. The status is always ``draft``: only
the release check (:mod:`limsai.governance.release`) can say a package counts as approved.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import rfc8785
from pydantic import Field, field_validator, model_validator

from limsai.governance.context import ClientProjectContext, is_human_id
from limsai.governance.identity import SHA256_HEX, AgentIdentity
from limsai.model import AiAttribution, DraftDocument, Identifier, LimsModel, NonEmptyStr, UtcDatetime, utcnow

MANIFEST_FILENAME = "manifest.json"
MANIFEST_MEDIA_TYPE = "application/json"

Sha256 = Annotated[str, Field(pattern=SHA256_HEX)]
MediaType = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$")
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_file_name(name: str) -> str:
    """``name`` if it is a plain file name; ValueError for anything path-like or reserved."""
    if not name or name != name.strip():
        raise ValueError(f"file name {name!r} must be non-empty without leading or trailing spaces")
    if "/" in name or "\\" in name or _DRIVE.match(name) or name in {".", ".."}:
        raise ValueError(f"file name {name!r} must be a plain file name, not a path")
    if _CONTROL.search(name):
        raise ValueError(f"file name {name!r} contains control characters")
    if len(name) > 255:
        raise ValueError(f"file name {name[:40]!r}... is longer than 255 characters")
    if name.casefold() == MANIFEST_FILENAME:
        raise ValueError(f"file name {name!r} is reserved for the package manifest")
    return name


def check_unique_names(names: Iterable[str]) -> None:
    """ValueError when two names are equal ignoring case (they would collide on many file systems)."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            raise ValueError(f"file name {name!r} is used twice (as {seen[key]!r})")
        seen[key] = name


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``; ValueError for anything JSON cannot hold exactly."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not representable as canonical JSON: {exc}") from exc


class DraftFile(LimsModel):
    """One file of a package: a plain name, its media type and its bytes."""

    name: Annotated[str, Field(min_length=1)]
    media_type: MediaType
    content: bytes

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return check_file_name(value)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)


class ManifestFile(LimsModel):
    """How the manifest lists a file: enough to check the stored bytes against what was signed."""

    name: Annotated[str, Field(min_length=1)]
    media_type: MediaType
    size: int = Field(ge=0)
    sha256: Sha256

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return check_file_name(value)


class Provenance(LimsModel):
    """Where a package came from: agent (step, model, prompt), run, requester, study, inputs, facts."""

    agent: AgentIdentity
    run_id: Identifier
    on_behalf_of: Identifier
    sponsor_id: Identifier
    study_id: Identifier
    milestone: str = ""
    inputs: dict[NonEmptyStr, Sha256] = Field(
        default_factory=dict, description="name of each input read -> sha256 of what was read"
    )
    facts: dict[str, Any] = Field(default_factory=dict, description="the computed facts the draft uses")
    created_at: UtcDatetime

    @field_validator("on_behalf_of")
    @classmethod
    def _human_requester(cls, value: str) -> str:
        if not is_human_id(value):
            raise ValueError(f"on_behalf_of {value!r} must be the human who asked, not an AI or system id")
        return value

    @field_validator("facts")
    @classmethod
    def _json_facts(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A private deep copy in JSON's own types, so later edits to the caller's dict cannot
        # change what was hashed, and values JSON cannot hold exactly are refused up front.
        copied: dict[str, Any] = json.loads(canonical_json(value))
        return copied


class DraftManifest(LimsModel):
    """The signed part of a package; its canonical JSON is the document a human e-signs."""

    format: Literal["limsai.draft-package/1"] = "limsai.draft-package/1"
    status: Literal["draft"] = "draft"
    files: tuple[ManifestFile, ...] = Field(min_length=1)
    provenance: Provenance

    @model_validator(mode="after")
    def _unique(self) -> DraftManifest:
        check_unique_names(entry.name for entry in self.files)
        return self

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()


class DraftPackage(LimsModel):
    """Files plus provenance; refuses an empty package, duplicate names and path-like names."""

    files: tuple[DraftFile, ...]
    provenance: Provenance

    @model_validator(mode="after")
    def _files_usable(self) -> DraftPackage:
        if not self.files:
            raise ValueError("a draft package needs at least one file")
        check_unique_names(file.name for file in self.files)
        return self

    @classmethod
    def build(
        cls,
        files: Iterable[DraftFile],
        *,
        agent: AgentIdentity,
        run_id: str,
        on_behalf_of: str,
        sponsor_id: str,
        study_id: str,
        milestone: str = "",
        inputs: Mapping[str, str] | None = None,
        facts: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> DraftPackage:
        """A package stamped now (UTC) unless ``created_at`` is given."""
        provenance = Provenance(
            agent=agent,
            run_id=run_id,
            on_behalf_of=on_behalf_of,
            sponsor_id=sponsor_id,
            study_id=study_id,
            milestone=milestone,
            inputs=dict(inputs or {}),
            facts=dict(facts or {}),
            created_at=created_at or utcnow(),
        )
        return cls(files=tuple(files), provenance=provenance)

    @classmethod
    def for_run(
        cls,
        context: ClientProjectContext,
        files: Iterable[DraftFile],
        *,
        milestone: str = "",
        inputs: Mapping[str, str] | None = None,
        facts: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> DraftPackage:
        """A package attributed to a step run: its agent, run id, requester, sponsor and study."""
        return cls.build(
            files,
            agent=context.agent,
            run_id=context.run_id,
            on_behalf_of=context.principal.user_id,
            sponsor_id=context.sponsor_id,
            study_id=context.study_id,
            milestone=milestone,
            inputs=inputs,
            facts=facts,
            created_at=created_at,
        )

    @property
    def manifest(self) -> DraftManifest:
        entries = tuple(
            ManifestFile(name=f.name, media_type=f.media_type, size=f.size, sha256=f.sha256)
            for f in self.files
        )
        return DraftManifest(files=entries, provenance=self.provenance)

    def manifest_bytes(self) -> bytes:
        """The manifest as RFC 8785 canonical JSON: the exact bytes a reviewer signs."""
        return self.manifest.canonical_bytes()

    @property
    def manifest_hash(self) -> str:
        return hashlib.sha256(self.manifest_bytes()).hexdigest()

    def attribution(self) -> AiAttribution:
        p = self.provenance
        return AiAttribution(
            step_id=p.agent.step_id,
            step_version=p.agent.step_version,
            run_id=p.run_id,
            on_behalf_of=p.on_behalf_of,
            model_id=p.agent.model_id,
            prompt_id=p.agent.prompt_id,
            prompt_version=p.agent.prompt_version,
            prompt_sha256=p.agent.prompt_sha256,
        )

    def to_documents(self, name_prefix: str) -> list[DraftDocument]:
        """The drafts to attach: first the manifest (``<prefix>/manifest.json``, the document a
        human signs; its sha256 is :attr:`manifest_hash`), then one per file (``<prefix>/<name>``)."""
        prefix = name_prefix.strip()
        if not prefix:
            raise ValueError("name_prefix must not be empty")
        attribution = self.attribution()
        digest = self.manifest_hash
        manifest = DraftDocument(
            name=f"{prefix}/{MANIFEST_FILENAME}",
            filename=MANIFEST_FILENAME,
            media_type=MANIFEST_MEDIA_TYPE,
            content=self.manifest_bytes(),
            milestone=self.provenance.milestone,
            description=(
                f"Manifest of a {len(self.files)}-file AI draft package (sha256 {digest}); "
                "an approval e-signature on this document releases the package."
            ),
            attribution=attribution,
        )
        parts = [
            DraftDocument(
                name=f"{prefix}/{f.name}",
                filename=f.name,
                media_type=f.media_type,
                content=f.content,
                milestone=self.provenance.milestone,
                description=f"AI draft; part of the package whose manifest has sha256 {digest}.",
                attribution=attribution,
            )
            for f in self.files
        ]
        return [manifest, *parts]
