"""Seeding a work directory with the reference scenario, and the state the demo shows.

``seed_workdir`` generates the scenario, loads it into ``DIR/lims.db`` in one transaction and writes
``DIR/scenario.json`` (seed, counts, canaries, planted anomalies). ``demo_state`` reuses a work
directory already seeded with the same seed, so a second demo run is fast and changes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from limsai.cli_support import stderr
from limsai.workdir import SCENARIO_MANIFEST, WorkdirError, lims_path, open_lims, remove_lims

META_SEED = "scenario_seed"
META_RESULTS = "scenario_results"


def seed_workdir(workdir: Path, *, seed: int | None, results: int | None, force: bool) -> dict[str, Any]:
    """Seed ``DIR/lims.db``; refuse to touch an existing LIMS unless ``force``."""
    from limsai.lims.scenario import DEFAULT_SEED, generate

    if lims_path(workdir).exists():
        if not force:
            raise WorkdirError(f"{lims_path(workdir)} already exists; pass --force to replace it")
        remove_lims(workdir)
    seed = DEFAULT_SEED if seed is None else seed
    started = time.perf_counter()
    with stderr.status(f"Generating the CRO scenario (seed {seed})…"):
        scenario = generate(seed=seed, results=results)
    with stderr.status(f"Loading {len(scenario.dataset.results)} results into {lims_path(workdir)}…"):
        lims = open_lims(workdir, create=True)
        counts = lims.load(scenario.dataset, actor="system:scenario", reason=f"scenario seed {seed}")
        lims.set_meta(META_SEED, str(seed))
        lims.set_meta(META_RESULTS, "" if results is None else str(results))
        lims.close()
    manifest = {
        "seed": seed,
        "results_requested": results,
        "reference_time": scenario.reference_time.isoformat(),
        "counts": counts,
        "canaries": scenario.canaries,
        "anomalies": [a.model_dump(mode="json") for a in scenario.anomalies],
    }
    (workdir / SCENARIO_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {**manifest, "lims": str(lims_path(workdir)), "seconds": round(time.perf_counter() - started, 3)}


def _seeded_with(workdir: Path) -> str | None:
    if not lims_path(workdir).exists():
        return None
    lims = open_lims(workdir)
    try:
        seeded = lims.get_meta(META_SEED)
        if seeded is None:
            raise WorkdirError(
                f"{lims_path(workdir)} holds a LIMS that was not seeded by the demo; choose another --workdir"
            )
        if lims.get_meta(META_RESULTS):
            return None  # a scaled scenario: the demo re-seeds at natural size
        return seeded
    finally:
        lims.close()


def demo_state(workdir: Path, *, lims: str, seed: int | None) -> dict[str, Any]:
    """Seed (or reuse) the demo LIMS and gather what the demo shows."""
    from limsai.lims.inventory import study_rows
    from limsai.lims.scenario import DEFAULT_SEED
    from limsai.runtime.plugins import discover

    found = discover()
    if lims != "embedded":
        names = ", ".join(p.entry_point for p in found) or "none"
        raise WorkdirError(
            f"--lims {lims}: no simulator for that LIMS is available yet (installed plugins: {names}); "
            "use --lims embedded"
        )
    seed = DEFAULT_SEED if seed is None else seed
    previous = _seeded_with(workdir)
    reused = previous == str(seed)
    if not reused:
        seed_workdir(workdir, seed=seed, results=None, force=True)
    manifest = json.loads((workdir / SCENARIO_MANIFEST).read_text(encoding="utf-8"))
    rows = study_rows(open_lims(workdir))
    sponsors: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = sponsors.setdefault(
            row.sponsor_id,
            {
                "sponsor_id": row.sponsor_id,
                "name": row.sponsor_name,
                "studies": 0,
                "samples": 0,
                "results": 0,
            },
        )
        entry["studies"] += 1
        entry["samples"] += row.samples
        entry["results"] += row.results
    return {
        "workdir": str(workdir),
        "lims": str(lims_path(workdir)),
        "seed": seed,
        "reused": reused,
        "sponsors": list(sponsors.values()),
        "studies": [r.model_dump(mode="json") for r in rows],
        "anomalies": manifest["anomalies"],
        "plugins": [p.model_dump(mode="json") for p in found],
    }
