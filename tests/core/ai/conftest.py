"""Fixtures for the LLM tests; llama-index is imported once per session (it takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_fakes import FakeAzure, LoopbackServer


@pytest.fixture(scope="session")
def llama_loaded() -> None:
    """Import llama-index once for the whole session."""
    import llama_index.llms.azure_openai
    import llama_index.llms.openai_like  # noqa: F401


@pytest.fixture
def azure(llama_loaded: None) -> FakeAzure:
    return FakeAzure()


@pytest.fixture(scope="module")
def _loopback_server(llama_loaded: None) -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def loopback(_loopback_server: LoopbackServer) -> LoopbackServer:
    _loopback_server.reset()
    return _loopback_server
