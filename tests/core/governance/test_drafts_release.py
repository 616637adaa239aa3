"""Draft packages hash to a canonical manifest, and only a human approval bound to that hash releases."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from limsai.governance.context import ClientProjectContext
from limsai.governance.drafts import DraftFile, DraftManifest, DraftPackage
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import RolloutPhase
from limsai.governance.release import (
    content_problems,
    manifestation,
    verify_package,
    verify_release,
)
from limsai.model import (
    AiAttribution,
    Principal,
    PrincipalKind,
    Role,
    Signature,
    SignatureMeaning,
    StudyPhase,
)

PROMPT_SHA = "b917c531968e79483ffe35b6c96777db6ade611fb39d1a6884f90ac3ae0b4f11"
AGENT = AgentIdentity(
    step_id="package",
    step_version="1.0.0",
    model_id="test-model",
    prompt_id="package_executive_summary",
    prompt_version="1",
    prompt_sha256=PROMPT_SHA,
)
CREATED = datetime(2026, 7, 1, 13, 0, 0, tzinfo=UTC)
SIGNED = datetime(2026, 7, 1, 14, 3, 22, tzinfo=UTC)
RESULTS_SHA = hashlib.sha256(b"results").hexdigest()
STUDY_SHA = hashlib.sha256(b"study").hexdigest()
SUMMARY = b"# Executive summary\n\nAssay stayed within 95.0-105.0 % at all timepoints.\n"
TABLE = b"timepoint,assay\n0,99.8\n3,99.1\n6,98.7\n"
FACTS: dict[str, Any] = {"timepoints": [0, 3, 6], "assay": {"min": "98.7", "max": "99.8"}, "oos": 0}

GRECO = Principal(
    user_id="hgreco", display_name="Dr. Hugo Greco", roles=(Role.STUDY_DIRECTOR,), sponsors=("SPN-A",)
)
SIGNERS = {
    p.user_id: p
    for p in (
        GRECO,
        Principal(user_id="jdoe", display_name="Jane Doe", roles=(Role.ANALYST,), sponsors=("SPN-A",)),
        Principal(user_id="qa1", display_name="Quinn Ash", roles=(Role.QA_REVIEWER,), sponsors=("SPN-A",)),
        Principal(
            user_id="old.sd",
            display_name="Dr. Old Director",
            roles=(Role.STUDY_DIRECTOR,),
            sponsors=("SPN-A",),
            active=False,
        ),
        Principal(
            user_id="sd.b", display_name="Dr. B Director", roles=(Role.STUDY_DIRECTOR,), sponsors=("SPN-B",)
        ),
        Principal(
            user_id="ai:package@1.0.0",
            display_name="Package step",
            roles=(Role.STUDY_DIRECTOR,),
            sponsors=("SPN-A",),
        ),
        Principal(
            user_id="system:scheduler",
            display_name="Scheduler",
            roles=(Role.STUDY_DIRECTOR,),
            sponsors=("*",),
        ),
    )
}


def files() -> list[DraftFile]:
    return [
        DraftFile(name="summary.md", media_type="text/markdown; charset=utf-8", content=SUMMARY),
        DraftFile(name="results.csv", media_type="text/csv", content=TABLE),
    ]


def package(**overrides: Any) -> DraftPackage:
    kwargs: dict[str, Any] = {
        "agent": AGENT,
        "run_id": "run-0001",
        "on_behalf_of": "hgreco",
        "sponsor_id": "SPN-A",
        "study_id": "STB-A-1",
        "milestone": "M6",
        "inputs": {"results": RESULTS_SHA, "study": STUDY_SHA},
        "facts": FACTS,
        "created_at": CREATED,
    }
    kwargs.update(overrides)
    return DraftPackage.build(kwargs.pop("files", files()), **kwargs)


def sign(content_sha256: str, **overrides: Any) -> Signature:
    fields: dict[str, Any] = {
        "signature_id": "SIG-1",
        "document_id": "DOC-1",
        "version": 1,
        "study_id": "STB-A-1",
        "sponsor_id": "SPN-A",
        "signer": "hgreco",
        "printed_name": "Dr. Hugo Greco",
        "signed_at": SIGNED,
        "meaning": SignatureMeaning.APPROVAL,
        "content_sha256": content_sha256,
    }
    fields.update(overrides)
    return Signature(**fields)


# -- the manifest ---------------------------------------------------------------------------------


def test_manifest_lists_files_and_provenance() -> None:
    assert json.loads(package().manifest_bytes()) == {
        "format": "limsai.draft-package/1",
        "status": "draft",
        "files": [
            {
                "name": "summary.md",
                "media_type": "text/markdown; charset=utf-8",
                "size": len(SUMMARY),
                "sha256": hashlib.sha256(SUMMARY).hexdigest(),
            },
            {
                "name": "results.csv",
                "media_type": "text/csv",
                "size": len(TABLE),
                "sha256": hashlib.sha256(TABLE).hexdigest(),
            },
        ],
        "provenance": {
            "agent": {
                "step_id": "package",
                "step_version": "1.0.0",
                "model_id": "test-model",
                "prompt_id": "package_executive_summary",
                "prompt_version": "1",
                "prompt_sha256": PROMPT_SHA,
            },
            "run_id": "run-0001",
            "on_behalf_of": "hgreco",
            "sponsor_id": "SPN-A",
            "study_id": "STB-A-1",
            "milestone": "M6",
            "inputs": {"results": RESULTS_SHA, "study": STUDY_SHA},
            "facts": FACTS,
            "created_at": "2026-07-01T13:00:00Z",
        },
    }


def test_manifest_bytes_are_canonical_and_stable() -> None:
    data = package().manifest_bytes()
    assert data == rfc8785.dumps(json.loads(data))  # re-encoding changes nothing
    assert data.startswith(b'{"files":[{"media_type":"text/markdown; charset=utf-8","name":"summary.md"')
    assert b'"status":"draft"}' in data and b" " not in data.replace(b"; charset", b"")
    assert package().manifest_bytes() == data  # rebuilding gives the same bytes


def test_key_order_of_inputs_and_facts_does_not_matter() -> None:
    reordered_facts = {"oos": 0, "assay": {"max": "99.8", "min": "98.7"}, "timepoints": [0, 3, 6]}
    reordered_inputs = {"study": STUDY_SHA, "results": RESULTS_SHA}
    other = package(facts=reordered_facts, inputs=reordered_inputs)
    assert other.manifest_bytes() == package().manifest_bytes()
    assert other.manifest_hash == package().manifest_hash


def test_time_zone_of_created_at_does_not_matter() -> None:
    local = CREATED.astimezone(timezone(timedelta(hours=2)))
    assert package(created_at=local).manifest_hash == package().manifest_hash


def test_facts_are_frozen_at_build_time() -> None:
    facts: dict[str, Any] = {"values": [1, 2]}
    pkg = package(facts=facts)
    before = pkg.manifest_hash
    facts["values"].append(3)
    facts["new"] = True
    assert pkg.manifest_hash == before
    assert pkg.provenance.facts == {"values": [1, 2]}


def test_manifest_round_trips_through_its_bytes() -> None:
    pkg = package()
    parsed = DraftManifest.model_validate_json(pkg.manifest_bytes())
    assert parsed == pkg.manifest
    assert parsed.canonical_bytes() == pkg.manifest_bytes()


def test_any_provenance_change_changes_the_hash() -> None:
    base = package().manifest_hash
    changed = [
        package(run_id="run-0002"),
        package(milestone="M12"),
        package(facts={**FACTS, "oos": 1}),
        package(inputs={"results": STUDY_SHA, "study": STUDY_SHA}),
        package(agent=AGENT.model_copy(update={"model_id": "other-model"})),
        package(created_at=CREATED + timedelta(seconds=1)),
    ]
    assert all(p.manifest_hash != base for p in changed)


# -- documents ------------------------------------------------------------------------------------


def test_documents_manifest_first_then_files() -> None:
    pkg = package()
    manifest_doc, summary_doc, table_doc = pkg.to_documents("STB-A-1 M6 package")
    assert manifest_doc.name == "STB-A-1 M6 package/manifest.json"
    assert manifest_doc.filename == "manifest.json"
    assert manifest_doc.media_type == "application/json"
    assert manifest_doc.content == pkg.manifest_bytes()
    assert manifest_doc.sha256 == pkg.manifest_hash == hashlib.sha256(pkg.manifest_bytes()).hexdigest()
    assert pkg.manifest_hash in manifest_doc.description
    assert (summary_doc.name, summary_doc.filename, summary_doc.content) == (
        "STB-A-1 M6 package/summary.md",
        "summary.md",
        SUMMARY,
    )
    assert (table_doc.filename, table_doc.media_type) == ("results.csv", "text/csv")
    listed = {entry.name: entry.sha256 for entry in pkg.manifest.files}
    assert listed == {"summary.md": summary_doc.sha256, "results.csv": table_doc.sha256}
    assert summary_doc.sha256 == hashlib.sha256(SUMMARY).hexdigest()
    expected = AiAttribution(
        step_id="package",
        step_version="1.0.0",
        run_id="run-0001",
        on_behalf_of="hgreco",
        model_id="test-model",
        prompt_id="package_executive_summary",
        prompt_version="1",
        prompt_sha256=PROMPT_SHA,
    )
    for doc in (manifest_doc, summary_doc, table_doc):
        assert doc.attribution == expected
        assert doc.milestone == "M6"


def test_for_run_takes_attribution_from_the_run_context() -> None:
    context = ClientProjectContext(
        sponsor_id="SPN-A",
        study_id="STB-A-1",
        protocol_number="P-001",
        study_phase=StudyPhase.NONCLINICAL,
        principal=GRECO,
        agent=AGENT,
        rollout_phase=RolloutPhase.REVIEW_ASSISTED,
        run_id="run-0001",
    )
    pkg = DraftPackage.for_run(
        context,
        files(),
        milestone="M6",
        inputs={"results": RESULTS_SHA, "study": STUDY_SHA},
        facts=FACTS,
        created_at=CREATED,
    )
    assert pkg == package()


def test_created_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    pkg = DraftPackage.build(
        files(), agent=AGENT, run_id="r1", on_behalf_of="hgreco", sponsor_id="S", study_id="T"
    )
    assert before <= pkg.provenance.created_at <= datetime.now(UTC)
    assert pkg.provenance.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"files": []}, "at least one file"),
        (
            {"files": [*files(), DraftFile(name="summary.md", media_type="text/plain", content=b"x")]},
            "'summary.md' is used twice",
        ),
        (
            {"files": [*files(), DraftFile(name="SUMMARY.MD", media_type="text/plain", content=b"x")]},
            "'SUMMARY.MD' is used twice (as 'summary.md')",
        ),
        ({"facts": {"value": Decimal("1.0")}}, "not representable as canonical JSON"),
        ({"facts": {"value": float("nan")}}, "not representable as canonical JSON"),
        ({"facts": {"value": 2**60}}, "not representable as canonical JSON"),
        ({"facts": {"value": {1, 2}}}, "not representable as canonical JSON"),
        ({"inputs": {"results": "not-a-hash"}}, "String should match pattern"),
        ({"on_behalf_of": "ai:package@1.0.0"}, "must be the human who asked"),
        ({"on_behalf_of": "system:scheduler"}, "must be the human who asked"),
        ({"created_at": datetime(2026, 7, 1, 13, 0)}, "time zone"),
        ({"sponsor_id": ""}, "sponsor_id"),
    ],
)
def test_bad_packages_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        package(**overrides)
    assert message in str(caught.value)


BAD_NAMES = ["../summary.md", "a/b.txt", "a\\b.txt", "/etc/passwd", "C:evil.txt", ".", "..", "", " x.txt"]
BAD_NAMES += ["x\n.txt", "x\x00.txt", "manifest.json", "Manifest.JSON", "x" * 256]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_path_like_or_reserved_file_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        DraftFile(name=name, media_type="text/plain", content=b"x")


@pytest.mark.parametrize("media_type", ["", "text", "text/", "/plain", "text plain"])
def test_bad_media_types_are_refused(media_type: str) -> None:
    with pytest.raises(ValidationError):
        DraftFile(name="a.txt", media_type=media_type, content=b"x")


def test_empty_name_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="name_prefix"):
        package().to_documents("  ")


def test_an_empty_file_is_allowed_and_listed_with_size_zero() -> None:
    pkg = package(files=[DraftFile(name="empty.txt", media_type="text/plain", content=b"")])
    assert pkg.manifest.files[0].size == 0
    assert pkg.manifest.files[0].sha256 == hashlib.sha256(b"").hexdigest()


# -- release --------------------------------------------------------------------------------------

HASH = package().manifest_hash


def test_study_director_approval_releases_with_the_exact_manifestation() -> None:
    signature = sign(HASH)
    decision = verify_release(HASH, [signature], SIGNERS)
    assert decision.released is True
    assert decision.signature == signature
    assert (
        decision.manifestation
        == "Approved by Dr. Hugo Greco (hgreco) on 2026-07-01 14:03:22 UTC — meaning: approval"
    )
    assert decision.reasons == []


def test_signing_time_is_shown_in_utc() -> None:
    local = SIGNED.astimezone(timezone(timedelta(hours=2)))
    assert manifestation(sign(HASH, signed_at=local)).endswith(
        "on 2026-07-01 14:03:22 UTC — meaning: approval"
    )


@pytest.mark.parametrize(
    ("meaning", "verb"),
    [
        (SignatureMeaning.REVIEW, "Reviewed"),
        (SignatureMeaning.AUTHORSHIP, "Authored"),
        (SignatureMeaning.RESPONSIBILITY, "Signed as responsible"),
    ],
)
def test_manifestation_of_other_meanings(meaning: SignatureMeaning, verb: str) -> None:
    assert manifestation(sign(HASH, meaning=meaning)) == (
        f"{verb} by Dr. Hugo Greco (hgreco) on 2026-07-01 14:03:22 UTC — meaning: {meaning.value}"
    )


OTHER_HASH = package(run_id="run-0002").manifest_hash

FAILURES = [
    pytest.param(
        sign(HASH, meaning=SignatureMeaning.REVIEW), "its meaning is review, not approval", id="review"
    ),
    pytest.param(
        sign("0" * 64), f"it binds content sha256 {'0' * 64}, not this manifest ({HASH})", id="wrong-hash"
    ),
    pytest.param(
        sign(OTHER_HASH, signature_id="SIG-9", document_id="DOC-9"),
        f"it binds content sha256 {OTHER_HASH}, not this manifest",
        id="copied-from-another-package",
    ),
    pytest.param(
        sign(HASH, signer="ai:package@1.0.0", printed_name="Package step"),
        "signer ai:package@1.0.0 is an AI or system principal; only a human may sign",
        id="ai-signer",
    ),
    pytest.param(
        sign(HASH, signer="system:scheduler", printed_name="Scheduler"),
        "signer system:scheduler is an AI or system principal",
        id="system-signer",
    ),
    pytest.param(
        sign(HASH, signer="old.sd", printed_name="Dr. Old Director"),
        "signer old.sd is inactive",
        id="inactive",
    ),
    pytest.param(
        sign(HASH, signer="jdoe", printed_name="Jane Doe"),
        "signer jdoe holds no reviewer role (study_director)",
        id="no-reviewer-role",
    ),
    pytest.param(
        sign(HASH, signer="qa1", printed_name="Quinn Ash"),
        "signer qa1 holds no reviewer role (study_director)",
        id="qa-not-configured-as-reviewer",
    ),
    pytest.param(
        sign(HASH, printed_name="Dr. H. Greco"),
        "printed name 'Dr. H. Greco' is not the signer's name 'Dr. Hugo Greco'",
        id="printed-name-mismatch",
    ),
    pytest.param(
        sign(HASH, signer="mallory", printed_name="Mallory"),
        "signer mallory is not a known LIMS user",
        id="unknown-signer",
    ),
    pytest.param(
        sign(HASH, signer="sd.b", printed_name="Dr. B Director"),
        "signer sd.b is not authorised for sponsor SPN-A",
        id="other-sponsor",
    ),
]


@pytest.mark.parametrize(("signature", "reason"), FAILURES)
def test_signatures_that_do_not_release(signature: Signature, reason: str) -> None:
    decision = verify_release(HASH, [signature], SIGNERS)
    assert decision.released is False
    assert decision.signature is None and decision.manifestation is None
    assert decision.reasons[0].startswith(f"signature {signature.signature_id} does not count: ")
    assert reason in decision.reasons[0]
    assert decision.reasons[-1] == (
        "not released: no approval e-signature by an authorised human reviewer binds this manifest"
    )


def test_every_problem_of_one_signature_is_named() -> None:
    signature = sign("0" * 64, signer="jdoe", printed_name="J. Doe", meaning=SignatureMeaning.REVIEW)
    [reason, _] = verify_release(HASH, [signature], SIGNERS).reasons
    assert reason == (
        "signature SIG-1 does not count: its meaning is review, not approval; "
        f"it binds content sha256 {'0' * 64}, not this manifest ({HASH}): it was made on other content; "
        "signer jdoe holds no reviewer role (study_director); "
        "printed name 'J. Doe' is not the signer's name 'Jane Doe'"
    )


def test_signer_mapped_to_another_user_record_does_not_count() -> None:
    decision = verify_release(HASH, [sign(HASH, signer="hg")], {"hg": GRECO})
    assert not decision.released
    assert "signer hg maps to the user record of hgreco" in decision.reasons[0]


def test_an_ai_account_with_a_human_looking_id_cannot_release() -> None:
    bot = GRECO.model_copy(update={"kind": PrincipalKind.AI_AGENT})
    decision = verify_release(HASH, [sign(HASH)], {"hgreco": bot})
    assert not decision.released
    assert "is an AI or system principal; only a human may sign" in decision.reasons[0]


def test_no_signatures() -> None:
    decision = verify_release(HASH, [], SIGNERS)
    assert decision.released is False
    assert decision.reasons == [
        "no signature has been captured on the manifest",
        "not released: no approval e-signature by an authorised human reviewer binds this manifest",
    ]


def test_valid_signature_releases_and_the_others_are_explained() -> None:
    review = sign(HASH, signature_id="SIG-1", meaning=SignatureMeaning.REVIEW)
    later = sign(HASH, signature_id="SIG-3", signed_at=SIGNED + timedelta(hours=1))
    approval = sign(HASH, signature_id="SIG-2")
    decision = verify_release(HASH, [review, later, approval], SIGNERS)
    assert decision.released is True
    assert decision.signature == approval  # the earliest valid approval
    assert decision.reasons == ["signature SIG-1 does not count: its meaning is review, not approval"]


def test_reviewer_roles_are_configurable() -> None:
    signature = sign(HASH, signer="qa1", printed_name="Quinn Ash")
    roles = frozenset({Role.STUDY_DIRECTOR, Role.QA_REVIEWER})
    assert verify_release(HASH, [signature], SIGNERS, reviewer_roles=roles).released
    assert not verify_release(
        HASH, [sign(HASH)], SIGNERS, reviewer_roles=frozenset({Role.QA_REVIEWER})
    ).released


def test_signature_on_another_document_with_the_same_hash_is_refused_when_the_document_is_named() -> None:
    assert verify_release(HASH, [sign(HASH)], SIGNERS, document_id="DOC-1").released
    decision = verify_release(HASH, [sign(HASH, document_id="DOC-7")], SIGNERS, document_id="DOC-1")
    assert not decision.released
    assert "it was made on document DOC-7, not DOC-1" in decision.reasons[0]


@pytest.mark.parametrize("bad", ["", "abc", HASH.upper(), HASH + "0"])
def test_malformed_manifest_hash_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        verify_release(bad, [sign(HASH)], SIGNERS)


# -- the stored package against what was signed ---------------------------------------------------


def stored(pkg: DraftPackage) -> dict[str, bytes]:
    return {f.name: f.content for f in pkg.files}


def test_intact_stored_package_releases() -> None:
    pkg = package()
    decision = verify_package(pkg.manifest_bytes(), stored(pkg), [sign(pkg.manifest_hash)], SIGNERS)
    assert decision.released is True
    assert (
        decision.manifestation
        == "Approved by Dr. Hugo Greco (hgreco) on 2026-07-01 14:03:22 UTC — meaning: approval"
    )


def test_missing_extra_and_changed_files_are_named() -> None:
    pkg = package()
    contents = stored(pkg)
    del contents["results.csv"]
    contents["summary.md"] = SUMMARY + b"!"
    contents["notes.txt"] = b"extra"
    problems = content_problems(pkg.manifest_bytes(), contents)
    assert problems == [
        "file summary.md differs from the manifest (size or sha256)",
        "file results.csv listed in the manifest is missing",
        "file notes.txt is not listed in the manifest",
    ]
    decision = verify_package(pkg.manifest_bytes(), contents, [sign(pkg.manifest_hash)], SIGNERS)
    assert decision.released is False
    assert decision.signature is None
    assert decision.reasons == [*problems, "not released: the stored package does not match its manifest"]


def test_non_canonical_or_invalid_manifest_is_named() -> None:
    pkg = package()
    pretty = json.dumps(json.loads(pkg.manifest_bytes()), indent=2).encode()
    assert content_problems(pretty, stored(pkg)) == ["the manifest is not in canonical (RFC 8785) form"]
    assert content_problems(b"{}", stored(pkg))[0].startswith("the manifest is not a valid draft manifest")
    assert content_problems(b"\xff", stored(pkg))[0].startswith("the manifest is not a valid draft manifest")
    for listed_names in (["../summary.md", "results.csv"], ["results.csv", "RESULTS.csv"]):
        data = json.loads(pkg.manifest_bytes())
        for entry, name in zip(data["files"], listed_names, strict=True):
            entry["name"] = name
        problems = content_problems(rfc8785.dumps(data), stored(pkg))
        assert problems[0].startswith("the manifest is not a valid draft manifest")


@settings(max_examples=200, deadline=None)
@given(
    contents=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=4),
    target=st.integers(min_value=0),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_changing_any_one_byte_of_any_file_or_of_the_manifest_blocks_release(
    contents: list[bytes], target: int, position: int, flip: int
) -> None:
    pkg = package(
        files=[
            DraftFile(name=f"f{i}.bin", media_type="application/octet-stream", content=c)
            for i, c in enumerate(contents)
        ]
    )
    manifest = pkg.manifest_bytes()
    approval = [sign(pkg.manifest_hash)]
    files_now = stored(pkg)
    assert verify_package(manifest, files_now, approval, SIGNERS).released

    def flipped(data: bytes) -> bytes:
        i = position % len(data)
        return data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :]

    which = target % (len(contents) + 1)
    if which == len(contents):  # the manifest itself
        manifest = flipped(manifest)
    else:  # one file, as stored and as a rebuilt package would list it
        name = f"f{which}.bin"
        files_now[name] = flipped(files_now[name])
        rebuilt = package(
            files=[
                DraftFile(name=n, media_type="application/octet-stream", content=c)
                for n, c in files_now.items()
            ]
        )
        assert rebuilt.manifest_hash != pkg.manifest_hash
        assert not verify_release(rebuilt.manifest_hash, approval, SIGNERS).released
    decision = verify_package(manifest, files_now, approval, SIGNERS)
    assert decision.released is False
    assert decision.signature is None
