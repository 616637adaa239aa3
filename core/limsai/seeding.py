"""Seeding a work directory with the reference scenario, and the state the demo shows.

``seed_workdir`` generates the scenario, loads it into ``DIR/lims.db`` in one transaction and writes
``DIR/scenario.json`` (seed, counts, canaries, planted anomalies). ``seeded_with`` tells the demo
whether a work directory already holds the scenario of a seed, so a second demo run reuses it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from limsai.cli_support import stderr
from limsai.workdir import SCENARIO_MANIFEST, WorkdirError, lims_path, open_lims, remove_lims

META_SEED = "scenario_seed"
DEMO_PASSWORD_PREFIX = "demo-pass-"


def demo_password(user_id: str) -> str:
    """The documented signing password of a scenario user (demo and tests only): ``demo-pass-<user id>``."""
    return DEMO_PASSWORD_PREFIX + user_id


META_RESULTS = "scenario_results"


def seed_workdir(workdir: Path, *, seed: int | None, results: int | None, force: bool) -> dict[str, Any]:
    """Seed ``DIR/lims.db``; refuse to touch an existing LIMS unless ``force``."""
    from limsai.lims.embedded.signing import set_password
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
        for user in scenario.dataset.users:
            set_password(lims, user.user_id, demo_password(user.user_id), actor="system:scenario")
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


def seeded_with(workdir: Path) -> str | None:
    """The seed of a natural-size scenario LIMS in ``DIR`` (None when there is none); an error when
    ``DIR`` holds a LIMS the demo did not seed."""
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
