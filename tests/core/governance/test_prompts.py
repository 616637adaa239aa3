"""Only approved templates whose bytes still hash to the registry run; every load and refusal is audited."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from limsai.governance.audit_record import AuditRecord
from limsai.governance.identity import ActorType, AgentIdentity
from limsai.governance.prompts import (
    AuditContext,
    PromptRefused,
    PromptRegistry,
    PromptRegistryError,
    RefusalReason,
    main,
    parse_registry,
)
from limsai.testing.audit import ListAuditSink

PROMPT = "package_executive_summary"
V1_FILE = "templates/package_executive_summary.v1.txt"
V1_SHA = "b917c531968e79483ffe35b6c96777db6ade611fb39d1a6884f90ac3ae0b4f11"
V2_SHA = "fba38a20869ca7c83e00d8584ff565d2c9a6e7af8155d5bef8106aa465702805"
V3_FILE = "templates/package_executive_summary.v3.txt"
V3_SHA = "83dec4c62e5efed86e332e02d973f54ec3c28ed6cc10f02769c7e3fbad5bea5a"
AGENT = AgentIdentity(step_id="package", step_version="1.0.0", model_id="test-model")
ACTOR = AuditContext.for_agent(
    AGENT, on_behalf_of="hgreco", sponsor_id="SPN-A", study_id="STB-A-1", run_id="run-0001"
)

ENTRY_V1 = f"""\
  - id: {PROMPT}
    version: "1"
    file: {V1_FILE}
    sha256: {V1_SHA}
    status: approved
    approved_by: hgreco
    approved_at: 2026-06-15
"""


def copy_tree(source: Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            copy_tree(child, target / child.name)
        else:
            (target / child.name).write_bytes(child.read_bytes())


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    """A private copy of the installed prompts package, safe to tamper with."""
    root = tmp_path / "limsai_prompts"
    copy_tree(files("limsai_prompts"), root)
    return root


def write_registry(root: Path, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.yaml").write_text(body, encoding="utf-8")
    return root


def refused(
    registry: PromptRegistry, version: str | None = None, prompt_id: str = PROMPT
) -> tuple[PromptRefused, AuditRecord]:
    sink = ListAuditSink()
    with pytest.raises(PromptRefused) as caught:
        registry.get(prompt_id, version, audit=sink, actor=ACTOR)
    assert sink.actions() == ["prompt_refused"]
    return caught.value, sink.records[0]


# -- the shipped registry -------------------------------------------------------------------------


def test_shipped_templates_hash_to_their_registry_entries() -> None:
    data = files("limsai_prompts").joinpath("templates", "package_executive_summary.v1.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V1_SHA
    registry = PromptRegistry.load()
    for entry in registry.entries:
        assert hashlib.sha256(registry.template_path(entry).read_bytes()).hexdigest() == entry.sha256
    by_ref = {e.ref: e for e in registry.entries}
    assert by_ref[f"prompt/{PROMPT}/v1"].sha256 == V1_SHA
    assert by_ref[f"prompt/{PROMPT}/v1"].status.value == "approved"
    assert by_ref[f"prompt/{PROMPT}/v2"].status.value == "draft"


def test_latest_approved_version_loads_and_is_audited() -> None:
    registry = PromptRegistry.load()
    sink = ListAuditSink()
    prompt = registry.get(PROMPT, audit=sink, actor=ACTOR)  # v3 is the latest approved (v2 is a draft)
    assert (prompt.id, prompt.version, prompt.sha256) == (PROMPT, "3", V3_SHA)
    assert "{facts}" in prompt.text and "{document}" in prompt.text
    assert prompt.text.startswith("You draft the executive summary")
    [record] = sink.records
    assert record.action == "prompt_loaded"
    assert record.actor_type is ActorType.AI_AGENT
    assert record.actor_id == "ai:package@1.0.0"
    assert record.agent == AGENT
    assert (record.on_behalf_of, record.sponsor_id, record.study_id, record.run_id) == (
        "hgreco",
        "SPN-A",
        "STB-A-1",
        "run-0001",
    )
    assert record.record == f"prompt/{PROMPT}/v3"
    assert record.details["sha256"] == V3_SHA
    assert record.details["file"] == V3_FILE
    assert len(record.details["registry_sha256"]) == 64


def test_explicit_approved_version_loads() -> None:
    prompt = PromptRegistry.load().get(PROMPT, "1", audit=ListAuditSink(), actor=ACTOR)
    assert prompt.version == "1"


def test_stamp_puts_the_prompt_identity_on_the_agent() -> None:
    prompt = PromptRegistry.load().get(PROMPT, "1", audit=ListAuditSink(), actor=ACTOR)
    stamped = prompt.stamp(AGENT)
    assert (stamped.prompt_id, stamped.prompt_version, stamped.prompt_sha256) == (PROMPT, "1", V1_SHA)
    assert (stamped.step_id, stamped.step_version, stamped.model_id) == ("package", "1.0.0", "test-model")


def test_load_accepts_a_plain_path(prompts_copy: Path) -> None:
    prompt = PromptRegistry.load(prompts_copy).get(PROMPT, "1", audit=ListAuditSink(), actor=ACTOR)
    assert prompt.sha256 == V1_SHA


# -- refusals -------------------------------------------------------------------------------------


def test_tampered_template_is_refused_and_audited(prompts_copy: Path) -> None:
    template = prompts_copy / V1_FILE
    data = bytearray(template.read_bytes())
    data[10] ^= 0x01  # one byte
    template.write_bytes(bytes(data))
    tampered_sha = hashlib.sha256(bytes(data)).hexdigest()

    error, record = refused(PromptRegistry.load(prompts_copy), "1")

    assert error.reason is RefusalReason.HASH_MISMATCH
    assert (error.expected_sha256, error.actual_sha256) == (V1_SHA, tampered_sha)
    assert record.action == "prompt_refused"
    assert record.actor_type is ActorType.AI_AGENT
    assert record.actor_id == "ai:package@1.0.0"
    assert (record.sponsor_id, record.study_id, record.run_id, record.on_behalf_of) == (
        "SPN-A",
        "STB-A-1",
        "run-0001",
        "hgreco",
    )
    assert record.record == f"prompt/{PROMPT}/v1"
    assert (
        record.reason
        == f"prompt/{PROMPT}/v1: {V1_FILE} has sha256 {tampered_sha}, the registry approved {V1_SHA}"
    )
    assert record.details == {
        "prompt_id": PROMPT,
        "requested_version": "1",
        "version": "1",
        "status": "approved",
        "file": V1_FILE,
        "refusal": "hash_mismatch",
        "expected_sha256": V1_SHA,
        "actual_sha256": tampered_sha,
        "registry_sha256": hashlib.sha256((prompts_copy / "registry.yaml").read_bytes()).hexdigest(),
    }


def test_draft_version_is_refused_and_audited() -> None:
    error, record = refused(PromptRegistry.load(), "2")
    assert error.reason is RefusalReason.NOT_APPROVED
    assert error.version == "2"
    assert record.reason == f"prompt/{PROMPT}/v2 is draft, not approved"
    assert record.details["refusal"] == "not_approved"
    assert record.details["status"] == "draft"
    assert record.details["expected_sha256"] == V2_SHA
    assert record.details["actual_sha256"] is None


def test_retired_version_is_refused_and_never_chosen_as_latest(tmp_path: Path) -> None:
    root = tmp_path / "p"
    body = "prompts:\n" + ENTRY_V1.replace("status: approved", "status: retired")
    write_registry(root, body)
    (root / "templates").mkdir()
    (root / V1_FILE).write_bytes(files("limsai_prompts").joinpath(V1_FILE).read_bytes())
    registry = PromptRegistry.load(root)

    error, record = refused(registry, "1")
    assert error.reason is RefusalReason.NOT_APPROVED
    assert record.details["status"] == "retired"

    error, record = refused(registry)
    assert error.reason is RefusalReason.NO_APPROVED_VERSION
    assert record.reason == f"prompt {PROMPT!r} has no approved version"
    assert record.record == f"prompt/{PROMPT}"


def test_unknown_prompt_and_unknown_version_are_refused_and_audited() -> None:
    registry = PromptRegistry.load()
    error, record = refused(registry, prompt_id="no_such_prompt")
    assert error.reason is RefusalReason.UNKNOWN_PROMPT
    assert record.details["refusal"] == "unknown_prompt"
    assert record.details["expected_sha256"] is None
    assert record.record == "prompt/no_such_prompt"

    error, record = refused(registry, "9")
    assert error.reason is RefusalReason.UNKNOWN_VERSION
    assert record.details["requested_version"] == "9"
    assert record.record == f"prompt/{PROMPT}/v9"


def test_missing_template_file_is_refused(prompts_copy: Path) -> None:
    (prompts_copy / V1_FILE).unlink()
    error, record = refused(PromptRegistry.load(prompts_copy), "1")
    assert error.reason is RefusalReason.FILE_MISSING
    assert record.details["actual_sha256"] is None


def test_latest_approved_is_chosen_numerically(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "templates").mkdir(parents=True)
    entries = []
    for version in ("2", "10", "9"):
        text = f"template v{version}\n".encode()
        (root / "templates" / f"t.v{version}.txt").write_bytes(text)
        entries.append(
            f'  - {{id: t, version: "{version}", file: templates/t.v{version}.txt, '
            f"sha256: {hashlib.sha256(text).hexdigest()}, status: approved, "
            "approved_by: qa1, approved_at: 2026-06-01}"
        )
    write_registry(root, "prompts:\n" + "\n".join(entries) + "\n")
    prompt = PromptRegistry.load(root).get("t", audit=ListAuditSink(), actor=ACTOR)
    assert (prompt.version, prompt.text) == ("10", "template v10\n")


def test_a_refusal_is_not_swallowed_when_the_audit_sink_fails() -> None:
    class FailingSink:
        def append(self, record: AuditRecord) -> None:
            raise OSError("audit log unavailable")

    with pytest.raises(OSError, match="audit log unavailable"):
        PromptRegistry.load().get(PROMPT, audit=FailingSink(), actor=ACTOR)


def test_ai_audit_context_needs_the_matching_agent() -> None:
    with pytest.raises(ValueError, match="must carry the agent identity"):
        AuditContext(actor_type=ActorType.AI_AGENT, actor_id="ai:package@1.0.0")
    with pytest.raises(ValueError, match="is not the agent's id"):
        AuditContext(actor_type=ActorType.AI_AGENT, actor_id="ai:other@1", agent=AGENT)


# -- malformed registries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("prompts: [\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping with a 'prompts' list"),
        ("prompts:\n" + ENTRY_V1 + "    owner: someone\n", f"prompts[0] ({PROMPT} v1).owner: Extra inputs"),
        ("templates: []\n", "templates: Extra inputs are not permitted"),
        ("prompts:\n" + ENTRY_V1 + ENTRY_V1, f"listed more than once: prompt/{PROMPT}/v1"),
        (
            "prompts:\n" + ENTRY_V1.replace(V1_SHA, V1_SHA.upper()),
            f"prompts[0] ({PROMPT} v1).sha256: must be 64 lowercase hex digits",
        ),
        ("prompts:\n" + ENTRY_V1.replace(V1_SHA, V1_SHA[:63]), "sha256: must be 64 lowercase hex digits"),
        (
            "prompts:\n" + ENTRY_V1.replace("    approved_by: hgreco\n", ""),
            "must name approved_by and give approved_at",
        ),
        (
            "prompts:\n" + ENTRY_V1.replace("    approved_at: 2026-06-15\n", ""),
            "must name approved_by and give approved_at",
        ),
        ("prompts:\n" + ENTRY_V1.replace("approved_at: 2026-06-15", "approved_at: soon"), "approved_at"),
        (
            "prompts:\n" + ENTRY_V1.replace("status: approved", "status: ok"),
            "status: Input should be 'approved', 'draft' or 'retired'",
        ),
        (
            "prompts:\n" + ENTRY_V1.replace(V1_FILE, "../evil.txt"),
            "file: must be templates/<plain file name>",
        ),
        (
            "prompts:\n" + ENTRY_V1.replace(V1_FILE, "/etc/passwd"),
            "file: must be templates/<plain file name>",
        ),
        (
            "prompts:\n" + ENTRY_V1.replace('version: "1"', "version: 1.10"),
            "must be written as a quoted string",
        ),
        (
            "prompts:\n" + ENTRY_V1.replace('version: "1"', 'version: "01"'),
            "version: must be dotted numbers without leading zeros",
        ),
        ("prompts:\n" + ENTRY_V1 + "    status: draft\n", "'status' given twice"),
    ],
)
def test_malformed_registry_gives_a_clear_error(tmp_path: Path, body: str, expected: str) -> None:
    root = write_registry(tmp_path / "p", body)
    with pytest.raises(PromptRegistryError) as caught:
        PromptRegistry.load(root)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(root / "registry.yaml"))


def test_unquoted_integer_version_is_read_as_text() -> None:
    document = parse_registry(("prompts:\n" + ENTRY_V1.replace('version: "1"', "version: 1")).encode())
    assert document.prompts[0].version == "1"


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(PromptRegistryError, match="cannot be read"):
        PromptRegistry.load(tmp_path)


# -- the maintenance command ----------------------------------------------------------------------


def test_hash_command_prints_the_sha256(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"hello\n")
    assert main(["hash", str(path)]) == 0
    assert capsys.readouterr().out == hashlib.sha256(b"hello\n").hexdigest() + "\n"
    assert main(["hash", str(tmp_path / "missing.txt")]) == 2
    assert "error:" in capsys.readouterr().err


def test_hash_command_runs_as_a_module() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "limsai.governance.prompts",
            "hash",
            str(files("limsai_prompts").joinpath(V1_FILE)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == V1_SHA + "\n"
