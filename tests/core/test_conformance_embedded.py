"""The embedded reference LIMS passes the adapter conformance suite it defines for every adapter."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from limsai.lims.embedded import EmbeddedLims
from limsai.model import LimsDataset
from limsai.testing.conformance import (
    AdapterConformance,
    ConformanceTarget,
    ScenarioConformance,
    load_with_reference,
)

PAGE_SIZE = 50


@contextmanager
def embedded_target(dataset: LimsDataset, workdir: Path) -> Iterator[ConformanceTarget]:
    path = workdir / "lims.db"
    reference = load_with_reference(dataset, path, page_size=PAGE_SIZE)
    adapter = EmbeddedLims(path, page_size=PAGE_SIZE, busy_timeout=0.05)
    blockers: list[sqlite3.Connection] = []

    def lock() -> None:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        blockers.append(blocker)

    try:
        yield ConformanceTarget(
            adapter=adapter,
            reference=reference,
            calls=lambda: adapter.query_count,
            page_size=PAGE_SIZE,
            make_unavailable=lock,
        )
    finally:
        for blocker in blockers:
            blocker.execute("ROLLBACK")
            blocker.close()
        adapter.close()
        reference.close()


class TestEmbeddedConformance(AdapterConformance):
    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        return embedded_target(dataset, workdir)


class TestEmbeddedScenarioConformance(ScenarioConformance):
    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        return embedded_target(dataset, workdir)
