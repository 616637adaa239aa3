"""The LabVantage adapter passes the adapter conformance suite against the LabVantage simulator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from limsai.model import LimsDataset
from limsai.testing.conformance import (
    AdapterConformance,
    ConformanceTarget,
    ScenarioConformance,
    load_with_reference,
)
from limsai_labvantage.harness import simulated_adapter

PAGE_SIZE = 50


@contextmanager
def labvantage_target(
    dataset: LimsDataset, workdir: Path, page_size: int = PAGE_SIZE
) -> Iterator[ConformanceTarget]:
    reference = load_with_reference(dataset, workdir / "lims.db", page_size=page_size)
    with simulated_adapter(workdir, page_size=page_size, retries=1) as (adapter, simulator):
        try:
            yield ConformanceTarget(
                adapter=adapter,
                reference=reference,
                calls=lambda: simulator.requests,
                page_size=page_size,
                make_unavailable=simulator.stop,
            )
        finally:
            reference.close()
    shutil.rmtree(workdir, ignore_errors=True)


class TestLabVantageConformance(AdapterConformance):
    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        return labvantage_target(dataset, workdir)


class TestLabVantageScenarioConformance(ScenarioConformance):
    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        return labvantage_target(dataset, workdir, page_size=1000)
