"""Deployment settings: one validated object built from ``DIR/limsai.toml`` and the environment, and a
check that says what in them is missing or wrong before anything relies on them.

Keyword arguments win over the environment, which wins over the file (tables merge key by key). The
environment holds ``LIMSAI_<SETTING>`` (``LIMSAI_ROLLOUT_PHASE=read-only``; tables as JSON) and the model
provider's variables under the names its clients use (``LLM_ENV``; ``LIMSAI_LLM_PROVIDER`` selects).
Secrets never live in the file: LIMS credentials and caller secrets are references (``env:NAME`` or
``file:PATH``, relative to the work directory) resolved when used, and ``LIMSAI_CALLER_<NAME>_SECRET=
<secret>`` declares caller ``<name>`` (lower-cased) from the environment alone, for containers and
scripts. An example ``limsai.toml``::

    rollout_phase = "review-assisted"   # read-only | review-assisted | write-back
    signature_window_seconds = 300      # how far a signed request's time may be from ours
    lease_seconds = 30                  # a worker's hold on a job before another may take it over
    max_attempts = 5                    # tries of a job before it is given up
    log_file = "logs/limsai.jsonl"      # relative to the work directory

    # The work directory's own LIMS is always instance "embedded"; others are declared here.
    [lims.labvantage_prod]
    vendor = "labvantage"               # labware | labvantage | samplemanager | benchling
    base_url = "https://lims.example.com/labvantage"
    credentials_ref = "env:LABVANTAGE_PROD_PASSWORD"    # or "file:/run/secrets/labvantage"

    [callers.labvantage_prod]           # a LIMS instance that may call the service
    secret_ref = "file:/run/secrets/labvantage-caller"  # at least 32 bytes

    [role_mapping]                      # LIMS role name -> limsai role
    "Study Director" = "study_director"

    [llm]                               # deterministic | azure | openai_like; keys in the environment
    provider = "azure"
    azure_endpoint = "https://example.openai.azure.com"
    azure_api_version = "2024-06-01"
    azure_deployment = "gpt-4o"
    timeout_seconds = 60                # per call; max_retries = 2, temperature = 0, max_tokens = 1024
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic_settings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from limsai.governance.policy import GovernancePolicy, RolloutPhase
from limsai.model import Role
from limsai.runtime.auth import INSTANCE_NAME_PATTERN

CONFIG_FILE = "limsai.toml"
EMBEDDED = "embedded"
MIN_SECRET_BYTES = 32
_CALLER_ENV = re.compile(r"LIMSAI_CALLER_(.+)_SECRET", re.IGNORECASE)
_TOML_LINE = re.compile(r"line (\d+)")

InstanceName = Annotated[str, Field(pattern=f"^{INSTANCE_NAME_PATTERN}$")]

LLM_ENV: dict[str, str] = {
    "LIMSAI_LLM_PROVIDER": "provider",
    "AZURE_OPENAI_ENDPOINT": "azure_endpoint",
    "AZURE_OPENAI_API_KEY": "azure_api_key",
    "OPENAI_API_VERSION": "azure_api_version",
    "LIMSAI_AZURE_DEPLOYMENT": "azure_deployment",
    "LIMSAI_AZURE_MODEL": "azure_model",
    "LIMSAI_OPENAI_BASE_URL": "openai_base_url",
    "LIMSAI_OPENAI_MODEL": "openai_model",
    "LIMSAI_OPENAI_API_KEY": "openai_api_key",
    "LIMSAI_LLM_TIMEOUT_SECONDS": "timeout_seconds",
    "LIMSAI_LLM_MAX_RETRIES": "max_retries",
    "LIMSAI_LLM_TEMPERATURE": "temperature",
    "LIMSAI_LLM_MAX_TOKENS": "max_tokens",
}
"""Environment variable → :class:`LlmSettings` field."""
LLM_ENV_BY_FIELD = {name: var for var, name in LLM_ENV.items()}

LLM_REQUIRED: dict[str, tuple[str, ...]] = {
    "deterministic": (),
    "azure": ("azure_endpoint", "azure_api_key", "azure_api_version", "azure_deployment"),
    "openai_like": ("openai_base_url", "openai_model"),
}
"""The fields each provider cannot work without."""


class SettingsError(ValueError):
    """The settings cannot be loaded or a secret reference cannot be resolved; ``problems`` says
    where and why, one entry per problem."""

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None, *, where: str = "settings"):
        super().__init__(message)
        self.problems = problems or [ConfigProblem.error(where, message)]


class ConfigProblem(BaseModel):
    """One thing ``config check`` found missing or wrong."""

    model_config = ConfigDict(frozen=True)

    severity: Literal["error", "warning"]
    where: str
    message: str

    @classmethod
    def error(cls, where: str, message: str) -> ConfigProblem:
        return cls(severity="error", where=where, message=message)

    @classmethod
    def warning(cls, where: str, message: str) -> ConfigProblem:
        return cls(severity="warning", where=where, message=message)


class LimsInstance(BaseModel):
    """A LIMS limsai works with; ``credentials_ref`` refers to the secret, never holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: InstanceName
    vendor: Literal["embedded", "labware", "labvantage", "samplemanager", "benchling"]
    base_url: str | None = None
    credentials_ref: str | None = None


class CallerConfig(BaseModel):
    """A LIMS instance allowed to call the service, with a reference to the secret it signs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: InstanceName
    secret_ref: str


class LlmSettings(BaseModel):
    """Which language model the AI steps use; ``deterministic`` needs none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["deterministic", "azure", "openai_like"] = "deterministic"
    azure_endpoint: str | None = None
    azure_api_key: SecretStr | None = None
    azure_api_version: str | None = None
    azure_deployment: str | None = None
    azure_model: str | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=60.0, gt=0, description="one call's time limit")
    max_retries: int = Field(default=2, ge=0, le=5, description="retries of a 429/5xx/lost connection")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, gt=0, description="longest answer a call may return")


def resolve_secret(ref: str, environ: Mapping[str, str] | None = None, *, base: Path | None = None) -> str:
    """The secret an ``env:NAME`` or ``file:PATH`` reference points at (a file's trailing newline
    dropped; a relative path taken from ``base``). Raises :class:`SettingsError` saying why not."""
    scheme, colon, target = ref.partition(":")
    if not colon or scheme not in ("env", "file") or not target:
        raise SettingsError("not a secret reference: expected 'env:NAME' or 'file:PATH'")
    if scheme == "env":
        value = (os.environ if environ is None else environ).get(target)
        if value is None:
            raise SettingsError(f"environment variable {target} is not set")
    else:
        path = Path(target).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise SettingsError(f"cannot read secret file {path}: {reason}") from None
    if not value:
        raise SettingsError(f"{ref} is empty")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed ``limsai.toml`` (empty when there is none); :class:`SettingsError` if unreadable."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except tomllib.TOMLDecodeError as exc:
        line = _TOML_LINE.search(str(exc))
        where = f"{path} line {line.group(1)}" if line else str(path)
        problem = ConfigProblem.error(where, f"not valid TOML: {exc}")
        raise SettingsError(f"{where}: not valid TOML: {exc}", [problem]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise SettingsError(f"cannot read {path}: {reason}", where=str(path)) from None


_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("limsai_settings_environ", default=None)
"""The environment the :func:`load_settings` call in progress reads (``None``: the process's)."""


def _environment() -> Mapping[str, str]:
    environ = _ENVIRON.get()
    return os.environ if environ is None else environ


class _LimsaiVariables(EnvSettingsSource):
    """``LIMSAI_<SETTING>`` variables, read from the given environment rather than the process's."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items() if v or not self.env_ignore_empty}


class _Values(PydanticBaseSettingsSource):
    """Values worked out before loading: the file's contents, or the specially named variables."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


def _named_variables(environ: Mapping[str, str]) -> dict[str, Any]:
    """The model provider's variables and ``LIMSAI_CALLER_<NAME>_SECRET`` declarations."""
    upper = {key.upper(): key for key in environ}
    llm = {name: environ[upper[var]] for var, name in LLM_ENV.items() if environ.get(upper.get(var, ""))}
    callers = {m[1].lower(): {"secret_ref": f"env:{k}"} for k in environ if (m := _CALLER_ENV.fullmatch(k))}
    return {k: v for k, v in (("llm", llm), ("callers", callers)) if v}


class Settings(BaseSettings):
    """Everything a deployment configures; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="LIMSAI_", extra="forbid", frozen=True, env_ignore_empty=True
    )

    workdir: Path
    lims: dict[str, LimsInstance] = Field(default_factory=dict)
    callers: dict[str, CallerConfig] = Field(default_factory=dict)
    rollout_phase: RolloutPhase = RolloutPhase.REVIEW_ASSISTED
    role_mapping: dict[str, Role] = Field(default_factory=dict)
    policy: GovernancePolicy = Field(default_factory=GovernancePolicy)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    signature_window_seconds: int = Field(default=300, gt=0)
    lease_seconds: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    log_file: Path | None = None

    _environ: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _environment()
        workdir: Any = getattr(init_settings, "init_kwargs", {}).get("workdir")
        if workdir is None:
            workdir = next((v for k, v in env.items() if k.upper() == "LIMSAI_WORKDIR" and v), None)
        toml_path = Path(workdir) / CONFIG_FILE if isinstance(workdir, str | Path) else None
        toml = read_config_file(toml_path) if toml_path else {}
        if "workdir" in toml:
            raise SettingsError(f"{toml_path}: workdir is where {CONFIG_FILE} is; it cannot be set in it")
        named = _Values(settings_cls, _named_variables(env))
        return init_settings, _LimsaiVariables(settings_cls, env), named, _Values(settings_cls, toml)

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, data: Any) -> Any:
        """Name table entries after their keys, add the embedded LIMS, and resolve a relative log
        file against the work directory."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("lims", "callers"):
            if isinstance(data.get(key), dict):
                data[key] = {n: {"name": n, **v} if isinstance(v, dict) else v for n, v in data[key].items()}
        lims = data.setdefault("lims", {})
        if isinstance(lims, dict):
            lims.setdefault(EMBEDDED, {"name": EMBEDDED, "vendor": EMBEDDED})
        log_file, workdir = data.get("log_file"), data.get("workdir")
        if isinstance(log_file, str | Path) and isinstance(workdir, str | Path):
            data["log_file"] = Path(workdir) / log_file  # an absolute log_file stays as it is
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        for table in (self.lims, self.callers):
            for key, entry in table.items():
                if entry.name != key:
                    raise ValueError(f"entry {key!r} is named {entry.name!r}; the name must be its key")
        if self.lims[EMBEDDED].vendor != EMBEDDED:
            raise ValueError(f"LIMS {EMBEDDED!r} is the work directory's own; its vendor is {EMBEDDED!r}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._environ = dict(_environment())

    def resolve_secret(self, ref: str) -> str:
        """Resolve a reference against the environment these settings were loaded from."""
        return resolve_secret(ref, self._environ, base=self.workdir)

    def caller_secret(self, name: str) -> bytes | None:
        """The signing secret of caller ``name``; ``None`` for no such caller. A declared caller whose
        secret cannot be resolved raises :class:`SettingsError` (the deployment is broken, the
        request is not at fault)."""
        caller = self.callers.get(name)
        return None if caller is None else self.resolve_secret(caller.secret_ref).encode("utf-8")


def load_settings(workdir: Path, *, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings for ``workdir`` from ``DIR/limsai.toml`` (if present), ``environ`` (default: the
    process environment) and ``overrides``. Raises :class:`SettingsError` when they are invalid."""
    token = _ENVIRON.set(dict(os.environ if environ is None else environ))
    try:
        return Settings(workdir=workdir, **overrides)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        lines = "\n".join(f"  {p.where}: {p.message}" for p in problems)
        raise SettingsError(f"invalid settings:\n{lines}", problems) from None
    except pydantic_settings.SettingsError as exc:
        raise SettingsError(f"invalid settings: {exc}", where="environment") from None
    finally:
        _ENVIRON.reset(token)


def _problem(error: Any) -> ConfigProblem:
    """A validation error as a problem, without the offending value (which may be a secret)."""
    where = ".".join(str(part) for part in error["loc"]) or "settings"
    return ConfigProblem.error(where, "unknown key" if error["type"] == "extra_forbidden" else error["msg"])


def config_check(settings: Settings | Path, environ: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Everything missing or wrong in the settings (or, given a work directory, in loading them);
    references are resolved against ``environ``, by default the environment they were loaded from."""
    if isinstance(settings, Path):
        try:
            loaded = load_settings(settings, environ=environ)
        except SettingsError as exc:
            return _workdir_problems(settings) + exc.problems
    else:
        loaded = settings
    env: Mapping[str, str] = loaded._environ if environ is None else environ
    problems = _workdir_problems(loaded.workdir)
    error, warning = ConfigProblem.error, ConfigProblem.warning

    def secret(where: str, ref: str) -> str | None:
        try:
            return resolve_secret(ref, env, base=loaded.workdir)
        except SettingsError as exc:
            problems.append(error(where, str(exc)))
            return None

    for name, lims in loaded.lims.items():
        if lims.vendor == EMBEDDED:
            continue
        if not lims.base_url:
            problems.append(error(f"lims.{name}", f"a {lims.vendor} LIMS needs base_url"))
        if not lims.credentials_ref:
            problems.append(error(f"lims.{name}", "credentials_ref is missing ('env:NAME' or 'file:PATH')"))
        else:
            secret(f"lims.{name}.credentials_ref", lims.credentials_ref)
    if not loaded.callers:
        problems.append(warning("callers", "no callers configured: the service would refuse every request"))
    for name, caller in loaded.callers.items():
        value = secret(f"callers.{name}.secret_ref", caller.secret_ref)
        size = len(value.encode("utf-8")) if value is not None else MIN_SECRET_BYTES
        if size < MIN_SECRET_BYTES:
            message = f"the secret is {size} bytes; use at least {MIN_SECRET_BYTES} random bytes"
            problems.append(error(f"callers.{name}.secret_ref", message))
        if name not in loaded.lims:
            problems.append(warning(f"callers.{name}", f"no LIMS instance {name!r}: its runs would fail"))
    provider = loaded.llm.provider
    for key in LLM_REQUIRED[provider]:
        if not getattr(loaded.llm, key):
            message = f"provider {provider!r} needs {key} (or {LLM_ENV_BY_FIELD[key]} in the environment)"
            problems.append(error(f"llm.{key}", message))

    return problems


def _workdir_problems(workdir: Path) -> list[ConfigProblem]:
    if not workdir.exists():
        return [ConfigProblem.error("workdir", f"{workdir} does not exist")]
    if not workdir.is_dir():
        return [ConfigProblem.error("workdir", f"{workdir} is not a directory")]
    try:
        tempfile.TemporaryFile(dir=workdir).close()
    except OSError as exc:
        return [ConfigProblem.error("workdir", f"{workdir} is not writable: {exc.strerror}")]
    return []
