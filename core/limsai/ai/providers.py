"""Language-model providers behind one small client: which model the AI steps call, and how a call
is bounded and accounted for.

The provider comes from the deployment's ``llm`` settings (``LIMSAI_LLM_PROVIDER`` and the provider's
variables, see :data:`limsai.runtime.settings.LLM_ENV`): ``deterministic`` (the default) needs no model
and :func:`build_client` returns ``None`` for it; ``azure`` calls an Azure OpenAI deployment and
``openai_like`` any OpenAI-compatible server on the customer's network (vLLM, Ollama, llama.cpp).

Every call is bounded: a timeout per request, a bounded number of retries on rate limiting (429),
server errors (5xx) and dropped connections, with exponential back-off; anything else fails at once
with a typed :class:`LlmError`. Every call is accounted for: the prompt and completion tokens the
server reports in ``usage`` (counted on the HTTP responses, so structured calls and retried requests
are included), the model id and the generation parameters, as an :class:`LlmCall` for provenance and
the audit log. llama-index takes seconds to import, so it is imported only when the first call is
made, never when this module is.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from limsai.runtime.settings import LLM_ENV, LLM_ENV_BY_FIELD, LLM_REQUIRED, LlmSettings

if TYPE_CHECKING:
    import httpx
    from llama_index.core.llms import LLM

M = TypeVar("M", bound=BaseModel)

DEFAULT_AZURE_MODEL = "gpt-4o"
"""The model family assumed for an Azure deployment when ``azure_model`` is not set."""


class LlmError(RuntimeError):
    """A language-model call failed; no text came back and nothing may be drafted from it."""


class LlmNotConfigured(LlmError):
    """The settings name a provider but lack what it needs."""


class LlmTimeout(LlmError):
    """The server did not answer within the timeout (transient: the job queue retries the run)."""

    transient = True


class LlmUnavailable(LlmError):
    """The server kept refusing (429, 5xx or no connection) after the allowed retries (transient: the
    job queue retries the run later, with backoff)."""

    transient = True


class LlmRejected(LlmError):
    """The server refused the request (a 4xx other than 429: bad key, unknown deployment, filtered)."""


class LlmMalformedResponse(LlmError):
    """The server answered, but not with a usable completion (no text, not JSON, wrong shape)."""


class LlmOptions(BaseModel):
    """How calls are made: bounds and generation parameters (the same for every call of a client)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=5)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=20.0, ge=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, gt=0)
    structured_mode: Literal["auto", "tool_call"] = "auto"
    """``auto``: the model's native structured output (json_schema on Azure gpt-4o-class models,
    JSON in the message text on OpenAI-compatible servers); ``tool_call``: a forced function call."""
    context_window: int = Field(default=8192, gt=0)
    """Declared for OpenAI-compatible servers, whose context window cannot be looked up."""


class TokenUsage(BaseModel):
    """Tokens the server reported for one call (summed over its HTTP requests)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class LlmCall(BaseModel):
    """What one call used: for the draft's provenance and the audit log (never prompt or reply text)."""

    model_config = ConfigDict(frozen=True)

    provider: Literal["azure", "openai_like"]
    model_id: str
    parameters: dict[str, Any]
    usage: TokenUsage
    attempts: int
    structured: bool = False


def llm_settings_from_env(environ: Mapping[str, str] | None = None) -> LlmSettings:
    """The ``llm`` settings from the provider's environment variables alone (see ``LLM_ENV``)."""
    env = os.environ if environ is None else environ
    return LlmSettings.model_validate({field: env[var] for var, field in LLM_ENV.items() if env.get(var)})


class _UsageMeter:
    """Sums ``usage`` from every completion response the HTTP client receives."""

    def __init__(self) -> None:
        self.usage = TokenUsage()

    def reset(self) -> None:
        self.usage = TokenUsage()

    def __call__(self, response: httpx.Response) -> None:
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return
        response.read()
        try:
            usage = json.loads(response.content).get("usage") or {}
            keys = ("prompt_tokens", "completion_tokens", "total_tokens")
            counts = {k: int(usage.get(k) or 0) for k in keys}
        except (ValueError, TypeError, AttributeError):
            return  # the SDK reports the malformed body itself
        u = self.usage
        self.usage = TokenUsage(
            prompt_tokens=u.prompt_tokens + counts["prompt_tokens"],
            completion_tokens=u.completion_tokens + counts["completion_tokens"],
            total_tokens=u.total_tokens + counts["total_tokens"],
        )


class LlmClient:
    """One configured model. Not thread-safe: use one client per worker."""

    def __init__(
        self,
        settings: LlmSettings,
        options: LlmOptions | None = None,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if settings.provider == "deterministic":
            raise LlmNotConfigured("the deterministic provider has no language model")
        required = LLM_REQUIRED[settings.provider]
        missing = [LLM_ENV_BY_FIELD[key] for key in required if not getattr(settings, key)]
        if missing:
            raise LlmNotConfigured(f"provider {settings.provider!r} needs {', '.join(missing)}")
        self.settings = settings
        self.provider: Literal["azure", "openai_like"] = settings.provider
        self.options = options or LlmOptions()
        self._http_client = http_client
        self._sleep = sleep
        self._meter = _UsageMeter()
        self._llm: LLM | None = None
        self._owned_client: httpx.Client | None = None
        if self.provider == "azure":
            self.model_name = settings.azure_model or DEFAULT_AZURE_MODEL
            self.model_id = f"azure:{settings.azure_deployment}:{self.model_name}"
        else:
            self.model_name = str(settings.openai_model)
            self.model_id = f"openai_like:{self.model_name}"

    @property
    def parameters(self) -> dict[str, Any]:
        """The generation parameters sent with every call."""
        o = self.options
        return {
            "temperature": o.temperature,
            "max_tokens": o.max_tokens,
            "timeout_seconds": o.timeout_seconds,
            "max_retries": o.max_retries,
            "structured_mode": o.structured_mode,
        }

    @property
    def llm(self) -> LLM:
        """The llama-index LLM, built (and llama-index imported) on first use."""
        if self._llm is None:
            self._llm = self._build()
        return self._llm

    def _build(self) -> LLM:
        import httpx
        import llama_index.core
        from llama_index.core.types import PydanticProgramMode

        os.environ.setdefault(
            "TIKTOKEN_CACHE_DIR",
            os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "tiktoken_cache"),
        )
        client = self._http_client
        if client is None:
            client = self._owned_client = httpx.Client(timeout=self.options.timeout_seconds)
        client.event_hooks["response"] = [*client.event_hooks.get("response", []), self._meter]
        s, o = self.settings, self.options
        tool_call = o.structured_mode == "tool_call"
        mode = PydanticProgramMode.FUNCTION if tool_call else PydanticProgramMode.DEFAULT
        common: dict[str, Any] = {
            "temperature": o.temperature,
            "max_tokens": o.max_tokens,
            "timeout": o.timeout_seconds,
            "max_retries": 0,  # retries are ours (bounded, counted)
            "http_client": client,
            "pydantic_program_mode": mode,
        }
        if self.provider == "azure":
            from llama_index.llms.azure_openai import AzureOpenAI  # type: ignore[import-untyped]

            assert s.azure_api_key is not None
            llm: LLM = AzureOpenAI(
                model=self.model_name,
                engine=s.azure_deployment,
                azure_endpoint=s.azure_endpoint,
                api_key=s.azure_api_key.get_secret_value(),
                api_version=s.azure_api_version,
                **common,
            )
            return llm
        from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

        key = s.openai_api_key.get_secret_value() if s.openai_api_key else "unused"
        llm = OpenAILike(
            model=self.model_name,
            api_base=s.openai_base_url,
            api_key=key,
            is_chat_model=True,
            is_function_calling_model=tool_call,
            context_window=o.context_window,
            **common,
        )
        return llm

    def close(self) -> None:
        """Close the HTTP client this client created (an injected one belongs to the caller)."""
        if self._owned_client is not None:
            self._owned_client.close()
            self._owned_client = None

    # -- calls ------------------------------------------------------------------------------------------
    def chat(self, prompt: str) -> tuple[str, LlmCall]:
        """The model's reply to ``prompt`` (sent as the single user message) and what the call used."""
        from llama_index.core.llms import ChatMessage, MessageRole

        message = ChatMessage(role=MessageRole.USER, content=prompt)
        response, attempts = self._with_retries(lambda: self.llm.chat([message]))
        text = response.message.content
        if not isinstance(text, str) or not text.strip():
            raise LlmMalformedResponse(f"{self.model_id} returned no text")
        return text, self._record(attempts, structured=False)

    def structured(self, output_cls: type[M], prompt: str) -> tuple[M, LlmCall]:
        """``prompt`` answered as an ``output_cls`` instance (json_schema content or a tool call)."""
        from llama_index.core.llms import ChatMessage, MessageRole

        message = ChatMessage(role=MessageRole.USER, content=prompt)
        structured_llm = self.llm.as_structured_llm(output_cls)
        response, attempts = self._with_retries(lambda: structured_llm.chat([message]))
        value = response.raw
        if not isinstance(value, output_cls):
            raise LlmMalformedResponse(f"{self.model_id} did not return a {output_cls.__name__}")
        return value, self._record(attempts, structured=True)

    def _record(self, attempts: int, *, structured: bool) -> LlmCall:
        return LlmCall(
            provider=self.provider,
            model_id=self.model_id,
            parameters=self.parameters,
            usage=self._meter.usage,
            attempts=attempts,
            structured=structured,
        )

    def _with_retries(self, call: Callable[[], Any]) -> tuple[Any, int]:
        import openai

        self._meter.reset()
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except openai.APITimeoutError as exc:
                limit = self.options.timeout_seconds
                raise LlmTimeout(f"{self.model_id}: no answer within {limit} s") from exc
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                if attempt > self.options.max_retries:
                    why = f"{_describe(exc)} after {attempt} attempt(s)"
                    raise LlmUnavailable(f"{self.model_id}: {why}") from exc
                self._sleep(self._delay(attempt, exc))
            except openai.APIStatusError as exc:
                if exc.status_code >= 500 and attempt <= self.options.max_retries:
                    self._sleep(self._delay(attempt, exc))
                    continue
                raise LlmRejected(f"{self.model_id}: {_describe(exc)}") from exc
            except (openai.APIResponseValidationError, ValidationError, ValueError) as exc:
                raise LlmMalformedResponse(f"{self.model_id}: unusable response: {_short(exc)}") from exc
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise LlmMalformedResponse(f"{self.model_id}: unusable response: {_short(exc)}") from exc

    def _delay(self, attempt: int, exc: Exception) -> float:
        o = self.options
        delay = o.backoff_seconds * 2 ** (attempt - 1)
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        return float(min(delay, o.max_backoff_seconds))


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def options_from(settings: LlmSettings) -> LlmOptions:
    """The call bounds and generation parameters the deployment's settings give."""
    return LlmOptions(
        timeout_seconds=settings.timeout_seconds,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )


def build_client(
    settings: LlmSettings,
    options: LlmOptions | None = None,
    *,
    http_client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LlmClient | None:
    """The client for the configured provider; ``None`` for ``deterministic`` (no model)."""
    if settings.provider == "deterministic":
        return None
    return LlmClient(settings, options or options_from(settings), http_client=http_client, sleep=sleep)
