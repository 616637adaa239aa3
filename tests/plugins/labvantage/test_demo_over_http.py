"""``limsai demo --lims labvantage`` runs the same steps over HTTP against the simulator, and for the
same seed its package CSV tables are byte-identical to those of ``--lims embedded``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def demo(workdir: Path, lims: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "limsai.cli", "demo", "--workdir", str(workdir), "--lims", lims, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    state: dict[str, object] = json.loads(proc.stdout)
    return state


@pytest.mark.slow
def test_demo_over_labvantage_matches_the_embedded_demo(tmp_path: Path) -> None:
    embedded = demo(tmp_path / "embedded", "embedded")
    http = demo(tmp_path / "labvantage", "labvantage")
    assert http["via"] == "labvantage" and http["audit"]["ok"]  # type: ignore[index]
    for key in ("runs", "packages", "reports", "releases"):
        assert [r["status"] for r in http[key]] == [r["status"] for r in embedded[key]], key  # type: ignore[attr-defined]
    assert [r["status"] for r in http["releases"]] == ["succeeded", "failed"]  # type: ignore[attr-defined]
    tables = sorted(
        p.relative_to(tmp_path / "embedded") for p in (tmp_path / "embedded" / "out").rglob("*.csv")
    )
    assert tables, "the demo packages have CSV tables"
    for table in tables:
        assert (tmp_path / "labvantage" / table).read_bytes() == (
            tmp_path / "embedded" / table
        ).read_bytes(), table
