"""``package.release``: record that a human released a data package to the sponsor.

A package drafted by ``package.assemble`` leaves the lab only after the study director (and any other
reviewer the sponsor's profile names) has e-signed its manifest in the LIMS. This step does not
decide anything: it asks the gateway to check that an approval e-signature by an authorised human
binds the stored manifest's sha256, that every file still matches the manifest and that every
sign-off the sponsor requires is there, and only then has the LIMS mark the package RELEASED. Any
other state is refused with the reasons, audited, and changes nothing. It is a write-back step:
deployments in read-only or review-assisted phases refuse it up front.

Which package: ``manifest_document`` (and ``version``) when given; otherwise the newest package
manifest of the run's milestone that is not superseded (the gateway picks it from the one document
list it reads for the check). When the package's files are in
``DIR/out/<study>/<milestone>/`` and match, ``release.json`` is written beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from limsai.governance.drafts import MANIFEST_FILENAME
from limsai.governance.gateway_release import ReleaseOutcome
from limsai.governance.policy import Permission
from limsai.lims.port import Capability as C
from limsai.model import Identifier, LimsModel, SignatureMeaning
from limsai.packages.profiles import load_profile, slug
from limsai.runtime.registry import StepOutcome, StepPhase, StepRun, StepSpec
from limsai.steps.package_assemble import OUT, package_prefix

RELEASE_FILE = "release.json"


class PackageReleaseParams(LimsModel):
    manifest_document: Identifier | None = Field(
        default=None, description="document id of the package manifest (default: the milestone's newest)"
    )
    version: int | None = Field(default=None, ge=1, description="manifest version (default: the newest)")


def write_release_record(
    workdir: Path | None, study_id: str, milestone: str, outcome: ReleaseOutcome
) -> Path | None:
    """``release.json`` beside the package's files, when those are the package that was released."""
    if workdir is None:
        return None
    out = workdir / OUT / study_id / (slug(milestone) if milestone else "no-milestone")
    try:
        local = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if local.get("draft_manifest_sha256") != outcome.manifest_sha256:
        return None  # the files there are another version of the package
    signature = outcome.decision.signature
    assert signature is not None  # a recorded release always has its signature
    record = {
        "status": "RELEASED",
        "manifest_sha256": outcome.manifest_sha256,
        "signature": signature.model_dump(mode="json"),
        "manifestation": outcome.decision.manifestation,
        "documents": [
            {"document_id": d.document_id, "version": d.version, "name": d.name, "sha256": d.sha256}
            for d in outcome.documents
        ],
    }
    target = out / RELEASE_FILE
    target.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def run(step_run: StepRun) -> StepOutcome:
    STEP.check_agent(step_run.context)
    params = step_run.params
    if not isinstance(params, PackageReleaseParams):
        raise TypeError(f"package.release expects PackageReleaseParams, not {type(params).__name__}")
    ctx, gateway = step_run.context, step_run.gateway
    profile = load_profile(ctx.sponsor_id, workdir=step_run.workdir, study_id=ctx.study_id)
    required = {
        role: profile.signature_meanings.get(role, SignatureMeaning.APPROVAL)
        for role in profile.reviewer_roles
    }
    outcome = gateway.record_release(
        params.manifest_document,
        params.version,
        manifest_name=f"{package_prefix(step_run.milestone)}/{MANIFEST_FILENAME}",
        required=required,
    )
    signature = outcome.decision.signature
    assert signature is not None  # record_release raises unless a signature released the package
    record = write_release_record(step_run.workdir, ctx.study_id, step_run.milestone, outcome)
    summary: dict[str, Any] = {
        "released": True,
        "manifest_document": outcome.manifest_document,
        "manifest_sha256": outcome.manifest_sha256,
        "signature_id": signature.signature_id,
        "signer": signature.signer,
        "manifestation": outcome.decision.manifestation,
        "documents": len(outcome.documents),
        "replay": outcome.replay,
        "release_record": str(record) if record else None,
    }
    return StepOutcome(summary=summary, message=outcome.decision.manifestation or "released")


STEP = StepSpec(
    id="package.release",
    version="1.0.0",
    title="Release a signed data package",
    description=(
        "Marks a data package released in the LIMS once a human approval e-signature binds its manifest "
        "hash and every sign-off the sponsor requires is given; anything else is refused and audited."
    ),
    input_model=PackageReleaseParams,
    permissions=frozenset({Permission.READ_DOCUMENTS, Permission.RECORD_RELEASE}),
    phase=StepPhase.WRITE_BACK,
    capabilities=frozenset({C.READ_DOCUMENTS, C.READ_SIGNATURES, C.RELEASE_DOCUMENTS, C.READ_USERS}),
    run=run,
)
