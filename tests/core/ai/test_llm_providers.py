"""The real llama-index clients against fake servers: Azure on httpx.MockTransport, OpenAI-compatible
on a loopback HTTP server. Chat, structured output in both shapes, timeout, 429 then success,
malformed responses, token accounting."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from llm_fakes import (
    AZURE_DEPLOYMENT,
    AZURE_KEY,
    AZURE_VERSION,
    FakeAzure,
    LoopbackServer,
    completion,
    structured_reply,
)
from pydantic import BaseModel

from limsai.ai.providers import (
    LlmMalformedResponse,
    LlmNotConfigured,
    LlmOptions,
    LlmRejected,
    LlmTimeout,
    LlmUnavailable,
    build_client,
    llm_settings_from_env,
)
from limsai.runtime.settings import LlmSettings


class Visit(BaseModel):
    name: str
    day: int


def ok(text: str = "Canned draft text.") -> Any:
    return lambda body: (200, completion(text))


# -- selection ------------------------------------------------------------------------------------------
def test_deterministic_is_the_default_and_has_no_client() -> None:
    assert llm_settings_from_env({}).provider == "deterministic"
    assert build_client(llm_settings_from_env({})) is None


def test_provider_from_environment() -> None:
    env = {
        "LIMSAI_LLM_PROVIDER": "azure",
        "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "k",
        "OPENAI_API_VERSION": "2024-10-21",
        "LIMSAI_AZURE_DEPLOYMENT": "dep",
    }
    client = build_client(llm_settings_from_env(env))
    assert client is not None and client.model_id == "azure:dep:gpt-4o"
    assert client._llm is None  # nothing built (nor llama-index imported) before the first call


def test_missing_provider_settings_are_named() -> None:
    with pytest.raises(LlmNotConfigured, match="AZURE_OPENAI_API_KEY"):
        build_client(
            LlmSettings(
                provider="azure", azure_endpoint="https://x", azure_api_version="v", azure_deployment="d"
            )
        )


# -- Azure -----------------------------------------------------------------------------------------------
def test_azure_chat_request_and_usage(azure: FakeAzure) -> None:
    azure.replies = [ok()]
    text, call = azure.client().chat("Say hi")
    assert text == "Canned draft text."
    request = azure.requests[0]
    assert request.method == "POST"
    assert request.url.path == f"/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions"
    assert request.url.params["api-version"] == AZURE_VERSION
    assert request.headers["api-key"] == AZURE_KEY
    assert azure.bodies[0]["messages"] == [{"role": "user", "content": "Say hi"}]
    assert azure.bodies[0]["temperature"] == 0.0
    assert call.usage.prompt_tokens == 120 and call.usage.completion_tokens == 30
    assert call.model_id == f"azure:{AZURE_DEPLOYMENT}:gpt-4o" and call.attempts == 1
    assert call.parameters["max_tokens"] == 1024


@pytest.mark.parametrize("mode", ["auto", "tool_call"])
def test_azure_structured_both_shapes(azure: FakeAzure, mode: str) -> None:
    azure.replies = [structured_reply({"name": "Screening", "day": 14})]
    value, call = azure.client(LlmOptions(structured_mode=mode)).structured(Visit, "Screening is day 14")  # type: ignore[arg-type]
    assert value == Visit(name="Screening", day=14)
    body = azure.bodies[0]
    if mode == "auto":
        assert body["response_format"]["type"] == "json_schema" and "tools" not in body
    else:
        assert body["tools"][0]["function"]["name"] == "Visit" and body["tool_choice"] == "required"
    assert call.structured and call.usage.total_tokens == 150


def test_azure_timeout(azure: FakeAzure) -> None:
    def slow(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, httpx.ReadTimeout("timed out")

    azure.replies = [slow]
    with pytest.raises(LlmTimeout):
        azure.client().chat("hi")
    assert len(azure.requests) == 1


def test_azure_429_then_success(azure: FakeAzure) -> None:
    azure.replies = [lambda b: (429, {"error": {"message": "slow down"}}), ok("after retry")]
    slept: list[float] = []
    client = azure.client(LlmOptions(backoff_seconds=0.5))
    client._sleep = slept.append
    text, call = client.chat("hi")
    assert text == "after retry" and call.attempts == 2 and len(azure.requests) == 2
    assert slept == [0.5]
    assert call.usage.prompt_tokens == 120  # the 429 reported no usage


def test_azure_retries_are_bounded(azure: FakeAzure) -> None:
    azure.replies = [lambda b: (503, {"error": {"message": "busy"}})]
    with pytest.raises(LlmUnavailable, match="3 attempt"):
        azure.client(LlmOptions(max_retries=2, backoff_seconds=0)).chat("hi")
    assert len(azure.requests) == 3


def test_azure_auth_error_is_not_retried(azure: FakeAzure) -> None:
    azure.replies = [lambda b: (401, {"error": {"message": "bad key"}})]
    with pytest.raises(LlmRejected, match="401"):
        azure.client().chat("hi")
    assert len(azure.requests) == 1


@pytest.mark.parametrize(
    "payload",
    [
        "this is not json",
        {"id": "c1", "object": "chat.completion", "choices": []},
        completion(None),
        completion("   "),
    ],
    ids=["not-json", "no-choices", "null-content", "blank-content"],
)
def test_azure_malformed_chat(azure: FakeAzure, payload: Any) -> None:
    azure.replies = [lambda b: (200, payload)]
    with pytest.raises(LlmMalformedResponse):
        azure.client().chat("hi")


@pytest.mark.parametrize("mode", ["auto", "tool_call"])
def test_azure_malformed_structured(azure: FakeAzure, mode: str) -> None:
    azure.replies = [structured_reply({"name": "Screening"})]  # "day" missing
    with pytest.raises(LlmMalformedResponse):
        azure.client(LlmOptions(structured_mode=mode)).structured(Visit, "x")  # type: ignore[arg-type]


# -- OpenAI-compatible on loopback ------------------------------------------------------------------------
def test_openai_like_chat(loopback: LoopbackServer) -> None:
    loopback.replies = [ok("local text")]
    client = loopback.client()
    text, call = client.chat("hello")
    assert text == "local text"
    assert loopback.paths == ["/v1/chat/completions"]
    assert loopback.headers[0]["Authorization"] == "Bearer local-key"
    assert loopback.bodies[0]["model"] == "local-model"
    assert call.model_id == "openai_like:local-model" and call.usage.total_tokens == 150
    client.close()


@pytest.mark.parametrize("mode", ["auto", "tool_call"])
def test_openai_like_structured_both_shapes(loopback: LoopbackServer, mode: str) -> None:
    loopback.replies = [structured_reply({"name": "Baseline", "day": 0})]
    value, _ = loopback.client(LlmOptions(structured_mode=mode)).structured(Visit, "Baseline is day 0")  # type: ignore[arg-type]
    assert value == Visit(name="Baseline", day=0)
    assert ("tools" in loopback.bodies[0]) == (mode == "tool_call")


def test_openai_like_timeout(loopback: LoopbackServer) -> None:
    loopback.replies = [ok()]
    loopback.delay = 1.0
    with pytest.raises(LlmTimeout):
        loopback.client(LlmOptions(timeout_seconds=0.2)).chat("hi")


def test_openai_like_429_then_success(loopback: LoopbackServer) -> None:
    loopback.replies = [lambda b: (429, {"error": {"message": "slow down"}}), ok("second")]
    text, call = loopback.client().chat("hi")
    assert text == "second" and call.attempts == 2 and len(loopback.bodies) == 2


def test_openai_like_malformed(loopback: LoopbackServer) -> None:
    loopback.replies = [lambda b: (200, "{not json")]
    with pytest.raises(LlmMalformedResponse):
        loopback.client().chat("hi")


def test_timeouts_and_outages_are_retried_by_the_queue_other_failures_are_not() -> None:
    from limsai.ai.providers import LlmMalformedResponse, LlmRejected, LlmUnavailable

    assert LlmTimeout("t").transient is True and LlmUnavailable("u").transient is True
    assert not getattr(LlmRejected("r"), "transient", False)
    assert not getattr(LlmMalformedResponse("m"), "transient", False)


def test_call_bounds_come_from_the_settings_and_bad_values_are_refused(tmp_path: Any) -> None:
    from limsai.ai.providers import options_from
    from limsai.runtime.settings import SettingsError, load_settings

    environ = {
        "LIMSAI_LLM_TIMEOUT_SECONDS": "12.5",
        "LIMSAI_LLM_MAX_RETRIES": "4",
        "LIMSAI_LLM_MAX_TOKENS": "300",
    }
    options = options_from(load_settings(tmp_path, environ=environ).llm)
    assert (options.timeout_seconds, options.max_retries, options.max_tokens, options.temperature) == (
        12.5,
        4,
        300,
        0.0,
    )
    with pytest.raises(SettingsError, match=r"llm\.max_retries"):
        load_settings(tmp_path, environ={"LIMSAI_LLM_MAX_RETRIES": "9"})
