"""A fake chat-completions server on loopback, for tests and IQ/OQ runs without a model.

It answers ``POST .../chat/completions`` the way Azure OpenAI
(``/openai/deployments/<deployment>/chat/completions?api-version=...``) and OpenAI-compatible servers
(``/v1/chat/completions``) do, with the text a test chooses, and records every request (path, query,
headers, JSON body) so a test can check what left the process: the URL shape, the ``api-key``
header, and that no other sponsor's data was in a prompt.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = Callable[[dict[str, Any]], str]
"""The assistant's text for a request body."""


@dataclass
class SeenRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        """Every message's content, joined: what the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


@dataclass
class FakeChatServer:
    """``with FakeChatServer(reply) as server: ... server.url ... server.requests``."""

    reply: Reply
    requests: list[SeenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeChatServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = urlsplit(self.path)
                seen = SeenRequest(parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                outer.requests.append(seen)
                if not parts.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                text = outer.reply(body)
                prompt_tokens = len(seen.prompt.split())
                self._send(
                    200,
                    {
                        "id": f"fake-{len(outer.requests)}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "gpt-4o"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": len(text.split()),
                            "total_tokens": prompt_tokens + len(text.split()),
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:  # keep test output clean
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    """``python -m limsai.testing.fake_llm`` serves a fixed narrative on a free loopback port and
    prints its URL; every request's JSON goes to stderr (for manual IQ runs)."""
    import sys
    import time

    def reply(_: dict[str, Any]) -> str:
        return "This package covers the study at its milestone; see the tables and the flags."

    with FakeChatServer(reply) as server:
        print(server.url, flush=True)
        seen = 0
        try:
            while True:
                time.sleep(0.5)
                for request in server.requests[seen:]:
                    print(json.dumps({"path": request.path, "query": request.query}), file=sys.stderr)
                seen = len(server.requests)
        except KeyboardInterrupt:
            return


if __name__ == "__main__":
    main()
