"""Deployment settings: where each value comes from, what the file and environment may say, and every
problem ``config check`` reports."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from limsai.governance.policy import GovernancePolicy, Permission, RolloutPhase
from limsai.model import Role
from limsai.runtime import settings as settings_module
from limsai.runtime.settings import (
    CallerConfig,
    ConfigProblem,
    LimsInstance,
    LlmSettings,
    Settings,
    SettingsError,
    config_check,
    load_settings,
    resolve_secret,
)

SECRET = "s" * 32
EMBEDDED = LimsInstance(name="embedded", vendor="embedded")


def write_toml(workdir: Path, text: str) -> None:
    (workdir / "limsai.toml").write_text(text, encoding="utf-8")


def problems_of(settings: Settings | Path, environ: dict[str, str] | None = None) -> set[tuple[str, str]]:
    return {(p.severity, p.where) for p in config_check(settings, environ)}


# --- loading ---------------------------------------------------------------------------------


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    s = load_settings(tmp_path, environ={})
    assert s.workdir == tmp_path
    assert s.lims == {"embedded": EMBEDDED}
    assert s.callers == {}
    assert s.rollout_phase is RolloutPhase.REVIEW_ASSISTED
    assert s.role_mapping == {}
    assert s.policy == GovernancePolicy()
    assert s.llm == LlmSettings(provider="deterministic")
    assert (s.signature_window_seconds, s.lease_seconds, s.max_attempts, s.log_file) == (300, 30.0, 5, None)


def test_precedence_arguments_over_environment_over_file_over_defaults(tmp_path: Path) -> None:
    write_toml(tmp_path, 'rollout_phase = "write-back"\nmax_attempts = 7\nlease_seconds = 12\n')
    environ = {"LIMSAI_ROLLOUT_PHASE": "read-only", "LIMSAI_MAX_ATTEMPTS": "3"}
    s = load_settings(tmp_path, environ=environ, max_attempts=2)
    assert s.max_attempts == 2  # argument over environment
    assert s.rollout_phase is RolloutPhase.READ_ONLY  # environment over file
    assert s.lease_seconds == 12.0  # file over default
    assert s.signature_window_seconds == 300  # default
    assert load_settings(tmp_path, environ=environ).max_attempts == 3
    assert load_settings(tmp_path, environ={}).rollout_phase is RolloutPhase.WRITE_BACK


def test_environment_names_are_case_insensitive_and_empty_values_ignored(tmp_path: Path) -> None:
    s = load_settings(tmp_path, environ={"limsai_rollout_phase": "write-back", "LIMSAI_MAX_ATTEMPTS": ""})
    assert s.rollout_phase is RolloutPhase.WRITE_BACK
    assert s.max_attempts == 5


def test_settings_built_directly_read_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path, "max_attempts = 9\nlease_seconds = 4\n")
    monkeypatch.setenv("LIMSAI_LEASE_SECONDS", "6")
    monkeypatch.setenv("LIMSAI_CALLER_ENVONLY_SECRET", SECRET)
    s = Settings(workdir=tmp_path, signature_window_seconds=60)
    assert (s.max_attempts, s.lease_seconds, s.signature_window_seconds) == (9, 6.0, 60)
    assert s.caller_secret("envonly") == SECRET.encode()


def test_process_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMSAI_SIGNATURE_WINDOW_SECONDS", "42")
    assert load_settings(tmp_path).signature_window_seconds == 42
    assert load_settings(tmp_path, environ={}).signature_window_seconds == 300


def test_callers_declared_in_the_environment(tmp_path: Path) -> None:
    environ = {"LIMSAI_CALLER_LABVANTAGE_PROD_SECRET": SECRET, "LIMSAI_CALLER_b_SECRET": "t" * 40}
    s = load_settings(tmp_path, environ=environ)
    assert s.callers == {
        "labvantage_prod": CallerConfig(
            name="labvantage_prod", secret_ref="env:LIMSAI_CALLER_LABVANTAGE_PROD_SECRET"
        ),
        "b": CallerConfig(name="b", secret_ref="env:LIMSAI_CALLER_b_SECRET"),
    }
    assert s.caller_secret("labvantage_prod") == SECRET.encode()
    assert s.caller_secret("b") == b"t" * 40
    assert s.caller_secret("LABVANTAGE_PROD") is None
    assert s.caller_secret("nobody") is None


def test_environment_caller_overrides_the_file(tmp_path: Path) -> None:
    write_toml(
        tmp_path, '[callers.lv]\nsecret_ref = "file:lv.secret"\n[callers.other]\nsecret_ref = "env:X"\n'
    )
    s = load_settings(tmp_path, environ={"LIMSAI_CALLER_LV_SECRET": SECRET, "X": "x" * 32})
    assert s.callers["lv"].secret_ref == "env:LIMSAI_CALLER_LV_SECRET"
    assert s.caller_secret("other") == b"x" * 32


def test_file_secrets_are_relative_to_the_workdir_and_lose_their_newline(tmp_path: Path) -> None:
    (tmp_path / "lv.secret").write_text(SECRET + "\n", encoding="utf-8")
    write_toml(tmp_path, '[callers.lv]\nsecret_ref = "file:lv.secret"\n')
    assert load_settings(tmp_path, environ={}).caller_secret("lv") == SECRET.encode()


def test_unresolvable_caller_secret_raises(tmp_path: Path) -> None:
    write_toml(tmp_path, '[callers.lv]\nsecret_ref = "env:MISSING"\n')
    s = load_settings(tmp_path, environ={})
    with pytest.raises(SettingsError, match="environment variable MISSING is not set"):
        s.caller_secret("lv")


def test_embedded_lims_is_always_present(tmp_path: Path) -> None:
    write_toml(
        tmp_path, '[lims.lv]\nvendor = "labvantage"\nbase_url = "https://lv"\ncredentials_ref = "env:P"\n'
    )
    s = load_settings(tmp_path, environ={})
    assert s.lims == {
        "embedded": EMBEDDED,
        "lv": LimsInstance(name="lv", vendor="labvantage", base_url="https://lv", credentials_ref="env:P"),
    }


def test_embedded_instance_must_be_the_embedded_vendor(tmp_path: Path) -> None:
    write_toml(tmp_path, '[lims.embedded]\nvendor = "labware"\n')
    with pytest.raises(SettingsError, match="work directory's own"):
        load_settings(tmp_path, environ={})


def test_entry_name_must_match_its_key(tmp_path: Path) -> None:
    write_toml(tmp_path, '[callers.a]\nname = "b"\nsecret_ref = "env:X"\n')
    with pytest.raises(SettingsError, match="'a' is named 'b'"):
        load_settings(tmp_path, environ={})


def test_role_mapping_from_file_and_environment(tmp_path: Path) -> None:
    write_toml(tmp_path, '[role_mapping]\nStudyDirector = "study_director"\n"QA Reviewer" = "qa_reviewer"\n')
    s = load_settings(tmp_path, environ={})
    assert s.role_mapping == {"StudyDirector": Role.STUDY_DIRECTOR, "QA Reviewer": Role.QA_REVIEWER}
    environ = {"LIMSAI_ROLE_MAPPING": '{"Analyst": "analyst", "QA Reviewer": "lims_admin"}'}
    s = load_settings(tmp_path, environ=environ)  # tables merge key by key, the environment winning
    assert s.role_mapping == {
        "StudyDirector": Role.STUDY_DIRECTOR,
        "QA Reviewer": Role.LIMS_ADMIN,
        "Analyst": Role.ANALYST,
    }


def test_policy_from_file(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[policy]\nreviewer_roles = ["study_director", "qa_reviewer"]\n'
        '[policy.role_permissions]\nanalyst = ["data.read"]\n',
    )
    policy = load_settings(tmp_path, environ={}).policy
    assert policy.reviewer_roles == frozenset({Role.STUDY_DIRECTOR, Role.QA_REVIEWER})
    assert policy.role_permissions == {Role.ANALYST: frozenset({Permission.READ_DATA})}


def test_llm_settings_from_their_environment_names(tmp_path: Path) -> None:
    write_toml(tmp_path, '[llm]\nprovider = "openai_like"\nazure_deployment = "from-file"\n')
    environ = {
        "LIMSAI_LLM_PROVIDER": "azure",
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "key-1",
        "OPENAI_API_VERSION": "2024-06-01",
        "LIMSAI_AZURE_MODEL": "gpt-4o",
        "LIMSAI_OPENAI_BASE_URL": "http://localhost:8000/v1",
        "LIMSAI_OPENAI_MODEL": "llama",
        "LIMSAI_OPENAI_API_KEY": "key-2",
    }
    llm = load_settings(tmp_path, environ=environ).llm
    assert llm.provider == "azure"
    assert (llm.azure_endpoint, llm.azure_api_version) == ("https://example.openai.azure.com", "2024-06-01")
    assert (llm.azure_deployment, llm.azure_model) == ("from-file", "gpt-4o")
    assert (llm.openai_base_url, llm.openai_model) == ("http://localhost:8000/v1", "llama")
    assert llm.azure_api_key is not None and llm.azure_api_key.get_secret_value() == "key-1"
    assert llm.openai_api_key is not None and llm.openai_api_key.get_secret_value() == "key-2"
    assert "key-1" not in repr(llm)


def test_relative_log_file_is_inside_the_workdir(tmp_path: Path) -> None:
    write_toml(tmp_path, 'log_file = "logs/limsai.jsonl"\n')
    assert load_settings(tmp_path, environ={}).log_file == tmp_path / "logs" / "limsai.jsonl"
    absolute = tmp_path / "elsewhere.jsonl"
    assert load_settings(tmp_path, environ={"LIMSAI_LOG_FILE": str(absolute)}).log_file == absolute


@pytest.mark.parametrize(
    ("toml", "where", "message"),
    [
        ("rollout_phas = 'read-only'\n", "rollout_phas", "unknown key"),
        ('[callers.a]\nsecret_reff = "env:X"\n', "callers.a.secret_reff", "unknown key"),
        ('[lims.lv]\nvendor = "labvantage"\npassword = "p"\n', "lims.lv.password", "unknown key"),
        ("[llm]\nmodel = 'x'\n", "llm.model", "unknown key"),
        ("[policy]\nreviewers = []\n", "policy.reviewers", "unknown key"),
        ('[lims.lv]\nvendor = "oracle"\n', "lims.lv.vendor", "Input should be"),
        ('[callers."bad name"]\nsecret_ref = "env:X"\n', "callers.bad name.name", "String should match"),
        ('[role_mapping]\nStudyDirector = "director"\n', "role_mapping.StudyDirector", "'study_director'"),
        ('rollout_phase = "everything"\n', "rollout_phase", "'read-only'"),
        ("max_attempts = 0\n", "max_attempts", "greater than or equal to 1"),
    ],
)
def test_invalid_file_raises_settings_error_with_problems(
    tmp_path: Path, toml: str, where: str, message: str
) -> None:
    write_toml(tmp_path, toml)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ={})
    assert isinstance(caught.value, ValueError)
    assert any(p.where == where and message in p.message for p in caught.value.problems), (
        caught.value.problems
    )
    assert where in str(caught.value)
    found = config_check(tmp_path, {})
    assert (
        ConfigProblem(
            severity="error",
            where=where,
            message=next(p.message for p in caught.value.problems if p.where == where),
        )
        in found
    )


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    write_toml(tmp_path, 'rollout_phase = "read-only"\nmax_attempts = = 3\n')
    with pytest.raises(SettingsError, match=r"limsai.toml line 2: not valid TOML"):
        load_settings(tmp_path, environ={})
    [problem] = config_check(tmp_path, {})
    assert problem.severity == "error"
    assert problem.where == f"{tmp_path / 'limsai.toml'} line 2"
    assert problem.message.startswith("not valid TOML")


def test_unreadable_toml(tmp_path: Path) -> None:
    (tmp_path / "limsai.toml").mkdir()
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path, environ={})
    (tmp_path / "limsai.toml").rmdir()
    (tmp_path / "limsai.toml").write_bytes(b"a = '\xff'\n")
    [problem] = config_check(tmp_path, {})
    assert (problem.severity, problem.message) == (
        "error",
        f"cannot read {tmp_path / 'limsai.toml'}: not UTF-8 text",
    )


def test_workdir_cannot_be_set_in_its_own_file(tmp_path: Path) -> None:
    write_toml(tmp_path, 'workdir = "/elsewhere"\n')
    with pytest.raises(SettingsError, match="cannot be set in it"):
        load_settings(tmp_path, environ={})


def test_malformed_environment_json(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="role_mapping") as caught:
        load_settings(tmp_path, environ={"LIMSAI_ROLE_MAPPING": "{not json"})
    assert [p.where for p in caught.value.problems] == ["environment"]


def test_errors_never_echo_the_value(tmp_path: Path) -> None:
    pasted = "hunter2-this-is-the-real-password"
    write_toml(tmp_path, f'[callers.a]\nsecret_ref = "env:X"\nsecret = "{pasted}"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ={})
    assert pasted not in str(caught.value)
    write_toml(
        tmp_path, f'[lims.lv]\nvendor = "labware"\nbase_url = "https://lw"\ncredentials_ref = "{pasted}"\n'
    )
    found = config_check(tmp_path, {"LIMSAI_CALLER_LV_SECRET": SECRET})
    assert found == [
        ConfigProblem(
            severity="error",
            where="lims.lv.credentials_ref",
            message="not a secret reference: expected 'env:NAME' or 'file:PATH'",
        )
    ]


# --- resolve_secret --------------------------------------------------------------------------


def test_resolve_secret(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("abc\r\n", encoding="utf-8")
    assert resolve_secret("env:A", {"A": "x"}) == "x"
    assert resolve_secret(f"file:{tmp_path / 's'}", {}) == "abc"
    assert resolve_secret("file:s", {}, base=tmp_path) == "abc"
    for ref, message in [
        ("plain-secret", "not a secret reference"),
        ("vault:x", "not a secret reference"),
        ("env:", "not a secret reference"),
        ("env:A", "environment variable A is not set"),
        ("file:missing", "cannot read secret file"),
    ]:
        with pytest.raises(SettingsError, match=message):
            resolve_secret(ref, {}, base=tmp_path)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="file:empty is empty"):
        resolve_secret("file:empty", {}, base=tmp_path)
    with pytest.raises(SettingsError, match="env:E is empty"):
        resolve_secret("env:E", {"E": ""})


# --- config_check ----------------------------------------------------------------------------


def test_a_sound_configuration_has_no_problems(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[lims.lv]\nvendor = "labvantage"\nbase_url = "https://lv"\ncredentials_ref = "env:LV_PASSWORD"\n'
        '[llm]\nprovider = "openai_like"\nopenai_base_url = "http://localhost:8000/v1"\nopenai_model = "m"\n',
    )
    environ = {"LV_PASSWORD": "pw", "LIMSAI_CALLER_LV_SECRET": SECRET}
    assert config_check(load_settings(tmp_path, environ=environ)) == []
    assert config_check(tmp_path, environ) == []


def test_no_callers_is_a_warning(tmp_path: Path) -> None:
    assert config_check(tmp_path, {}) == [
        ConfigProblem(
            severity="warning",
            where="callers",
            message="no callers configured: the service would refuse every request",
        )
    ]


def test_lims_instance_without_base_url_or_credentials(tmp_path: Path) -> None:
    write_toml(
        tmp_path, '[lims.lw]\nvendor = "labware"\n[lims.bx]\nvendor = "benchling"\nbase_url = "https://b"\n'
    )
    found = config_check(tmp_path, {"LIMSAI_CALLER_LW_SECRET": SECRET})
    assert {(p.where, p.message) for p in found} == {
        ("lims.lw", "a labware LIMS needs base_url"),
        ("lims.lw", "credentials_ref is missing ('env:NAME' or 'file:PATH')"),
        ("lims.bx", "credentials_ref is missing ('env:NAME' or 'file:PATH')"),
    }
    assert {p.severity for p in found} == {"error"}


def test_credentials_ref_that_does_not_resolve(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[lims.a]\nvendor = "labware"\nbase_url = "https://a"\ncredentials_ref = "env:A_PASSWORD"\n'
        '[lims.b]\nvendor = "samplemanager"\nbase_url = "https://b"\ncredentials_ref = "file:/no/b"\n',
    )
    found = config_check(tmp_path, {"LIMSAI_CALLER_A_SECRET": SECRET})
    assert [(p.severity, p.where, p.message) for p in found] == [
        ("error", "lims.a.credentials_ref", "environment variable A_PASSWORD is not set"),
        (
            "error",
            "lims.b.credentials_ref",
            "cannot read secret file /no/b: No such file or directory",
        ),
    ]
    # the environment passed to config_check is the one references are resolved against
    assert (
        config_check(load_settings(tmp_path, environ={}), {"A_PASSWORD": "pw"})[0].where
        == "lims.b.credentials_ref"
    )


def test_caller_secret_problems(tmp_path: Path) -> None:
    write_toml(tmp_path, '[callers.embedded]\nsecret_ref = "env:MISSING"\n')
    environ = {"LIMSAI_CALLER_SHORT_SECRET": "x" * 31, "LIMSAI_CALLER_EXACT_SECRET": "é" * 16}
    found = config_check(tmp_path, environ)
    assert [(p.severity, p.where, p.message) for p in found] == [
        ("error", "callers.embedded.secret_ref", "environment variable MISSING is not set"),
        ("error", "callers.short.secret_ref", "the secret is 31 bytes; use at least 32 random bytes"),
        ("warning", "callers.short", "no LIMS instance 'short': its runs would fail"),
        ("warning", "callers.exact", "no LIMS instance 'exact': its runs would fail"),
    ]


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        (
            {"LIMSAI_LLM_PROVIDER": "azure"},
            {"llm.azure_endpoint", "llm.azure_api_key", "llm.azure_api_version", "llm.azure_deployment"},
        ),
        (
            {"LIMSAI_LLM_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": "https://e", "OPENAI_API_VERSION": "v"},
            {"llm.azure_api_key", "llm.azure_deployment"},
        ),
        ({"LIMSAI_LLM_PROVIDER": "openai_like"}, {"llm.openai_base_url", "llm.openai_model"}),
        ({"LIMSAI_LLM_PROVIDER": "openai_like", "LIMSAI_OPENAI_MODEL": "m"}, {"llm.openai_base_url"}),
        ({"LIMSAI_LLM_PROVIDER": "deterministic"}, set()),
        (
            {
                "LIMSAI_LLM_PROVIDER": "azure",
                "AZURE_OPENAI_ENDPOINT": "https://e",
                "AZURE_OPENAI_API_KEY": "k",
                "OPENAI_API_VERSION": "v",
                "LIMSAI_AZURE_DEPLOYMENT": "d",
            },
            set(),
        ),
    ],
)
def test_llm_provider_without_its_settings(
    tmp_path: Path, environ: dict[str, str], missing: set[str]
) -> None:
    environ = {**environ, "LIMSAI_CALLER_EMBEDDED_SECRET": SECRET}
    found = config_check(tmp_path, environ)
    assert {p.where for p in found} == missing
    assert all(p.severity == "error" for p in found)
    if "llm.azure_api_key" in missing:
        assert "AZURE_OPENAI_API_KEY" in next(p.message for p in found if p.where == "llm.azure_api_key")


def test_workdir_missing_or_not_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert ("error", "workdir") in problems_of(missing, {})
    assert ("error", "workdir") in problems_of(load_settings(missing, environ={}))
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    [problem] = [p for p in config_check(a_file, {}) if p.where == "workdir"]
    assert problem.message == f"{a_file} is not a directory"


def test_workdir_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    found = config_check(tmp_path, {"LIMSAI_CALLER_EMBEDDED_SECRET": SECRET})
    assert found == [
        ConfigProblem(
            severity="error", where="workdir", message=f"{tmp_path} is not writable: Permission denied"
        )
    ]


def test_load_failure_still_reports_the_workdir(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    found = config_check(missing, {"LIMSAI_MAX_ATTEMPTS": "zero"})
    assert {(p.severity, p.where) for p in found} == {("error", "workdir"), ("error", "max_attempts")}


def test_the_documented_example_loads(tmp_path: Path) -> None:
    assert settings_module.__doc__ is not None
    example = settings_module.__doc__.split("::\n", 1)[1]
    write_toml(tmp_path, "\n".join(line.removeprefix("    ") for line in example.splitlines()))
    s = load_settings(tmp_path, environ={})
    assert s.lims["labvantage_prod"].credentials_ref == "env:LABVANTAGE_PROD_PASSWORD"
    assert s.role_mapping == {"Study Director": Role.STUDY_DIRECTOR}
    assert s.log_file == tmp_path / "logs" / "limsai.jsonl"
    environ = {"LABVANTAGE_PROD_PASSWORD": "pw", "AZURE_OPENAI_API_KEY": "k"}
    found = config_check(load_settings(tmp_path, environ=environ))
    assert [p.where for p in found] == ["callers.labvantage_prod.secret_ref"]  # /run/secrets is not here
