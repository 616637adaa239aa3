"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.testing.factories import tiny_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def lims(tmp_path: Path) -> Iterator[EmbeddedLims]:
    """An embedded LIMS holding the two-sponsor tiny dataset."""
    store = EmbeddedLims(tmp_path / "lims.db", page_size=2)
    store.load(tiny_dataset(), actor="system:test")
    yield store
    store.close()


@pytest.fixture
def shared_dir() -> Path:
    """The shared reference folder beside the repository; skips where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared reference folder not found at {SHARED}")
    return SHARED
