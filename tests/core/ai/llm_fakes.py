"""Fakes for the LLM tests: OpenAI-shaped completions, an Azure endpoint on httpx.MockTransport and an
OpenAI-compatible server on loopback."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from limsai.ai.providers import LlmClient, LlmOptions
from limsai.governance.identity import AgentIdentity
from limsai.governance.prompts import ApprovedPrompt, AuditContext, PromptRegistry
from limsai.runtime.settings import LlmSettings
from limsai.testing.audit import ListAuditSink

AZURE_ENDPOINT = "https://fake-resource.openai.azure.com"
AZURE_DEPLOYMENT = "gpt4o-deploy"
AZURE_VERSION = "2024-10-21"
AZURE_KEY = "test-key"

Reply = Callable[[dict[str, Any]], tuple[int, Any]]


def completion(content: str | None = None, tool: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool:
        function = {"name": tool[0], "arguments": json.dumps(tool[1])}
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": function}]
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }


def structured_reply(payload: dict[str, Any]) -> Reply:
    """Answers a structured request in the shape it asked for: json_schema content or a tool call."""

    def reply(body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("tools"):
            return 200, completion(tool=(body["tools"][0]["function"]["name"], payload))
        return 200, completion(json.dumps(payload))

    return reply


class FakeAzure:
    """An Azure OpenAI endpoint on httpx.MockTransport; ``replies`` answer in order, the last repeats."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[Reply] = []

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        status, payload = reply(json.loads(request.content))
        if isinstance(payload, Exception):
            raise payload
        if isinstance(payload, str):
            return httpx.Response(status, text=payload, headers={"content-type": "application/json"})
        return httpx.Response(status, json=payload)

    def client(self, options: LlmOptions | None = None, **settings: Any) -> LlmClient:
        values: dict[str, Any] = {
            "provider": "azure",
            "azure_endpoint": AZURE_ENDPOINT,
            "azure_api_key": AZURE_KEY,
            "azure_api_version": AZURE_VERSION,
            "azure_deployment": AZURE_DEPLOYMENT,
            "azure_model": "gpt-4o",
            **settings,
        }
        return LlmClient(
            LlmSettings.model_validate(values),
            options or LlmOptions(backoff_seconds=0),
            http_client=httpx.Client(transport=httpx.MockTransport(self.handler)),
        )


class LoopbackServer:
    """An OpenAI-compatible server on 127.0.0.1 answering POST /v1/chat/completions."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.replies: list[Reply] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.paths.append(self.path)
                outer.headers.append(dict(self.headers))
                outer.bodies.append(body)
                if outer.delay:
                    threading.Event().wait(outer.delay)
                reply = outer.replies[min(len(outer.bodies), len(outer.replies)) - 1]
                status, payload = reply(body)
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.bodies.clear()
        self.paths.clear()
        self.headers.clear()
        self.replies = []
        self.delay = 0.0

    def client(self, options: LlmOptions | None = None) -> LlmClient:
        settings = LlmSettings(
            provider="openai_like",
            openai_base_url=self.base_url,
            openai_model="local-model",
            openai_api_key="local-key",  # type: ignore[arg-type]
        )
        return LlmClient(settings, options or LlmOptions(backoff_seconds=0))


PROMPTS = Path(__file__).resolve().parents[3] / "shared_prompts"
NEW_TEMPLATES = {
    "oot_oos_commentary": "oot_oos_commentary.v1.txt",
    "stability_report_summary": "stability_report_summary.v1.txt",
    "protocol_extraction": "protocol_extraction.v1.txt",
    "package_executive_summary": "package_executive_summary.v1.txt",
}


def temporary_registry(root: Path) -> PromptRegistry:
    """A registry in ``root`` approving the LLM templates as they are in the repository."""
    (root / "templates").mkdir(parents=True, exist_ok=True)
    entries = []
    for prompt_id, name in NEW_TEMPLATES.items():
        data = (PROMPTS / "templates" / name).read_bytes()
        (root / "templates" / name).write_bytes(data)
        entries.append(
            f'  - id: {prompt_id}\n    version: "1"\n    file: templates/{name}\n'
            f"    sha256: {hashlib.sha256(data).hexdigest()}\n    status: approved\n"
            "    approved_by: hgreco\n    approved_at: 2026-11-29\n"
        )
    (root / "registry.yaml").write_text("prompts:\n" + "".join(entries), encoding="utf-8")
    return PromptRegistry.load(root)


def approved(registry: PromptRegistry, prompt_id: str) -> ApprovedPrompt:
    agent = AgentIdentity(step_id="test", step_version="1.0.0", model_id="test-model")
    actor = AuditContext.for_agent(
        agent, on_behalf_of="hgreco", sponsor_id="SPN-ACME", study_id="STB-ACME-1", run_id="run-0001"
    )
    return registry.get(prompt_id, audit=ListAuditSink(), actor=actor)
