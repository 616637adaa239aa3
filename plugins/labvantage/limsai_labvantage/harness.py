"""The LabVantage adapter connected to a running simulator over a work directory's store: what the
demo (``limsai demo --lims labvantage``), the benchmark and the integration tests use.

    with simulated_adapter(workdir) as (adapter, simulator):
        adapter.list_results(scope)          # over HTTP, served from workdir/lims.db
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limsai_labvantage.adapter import LabVantageAdapter
from limsai_labvantage.client import LabVantageSettings
from limsai_labvantage.simulator import DEFAULT_PASSWORD, DEFAULT_USER, LabVantageSimulator, RestPolicy


def simulator_settings(simulator: LabVantageSimulator, **overrides: object) -> LabVantageSettings:
    """Adapter settings for ``simulator`` (its URL and default credentials; quick retries)."""
    values: dict[str, object] = {
        "name": "labvantage-sim",
        "base_url": simulator.url,
        "username": DEFAULT_USER,
        "password": DEFAULT_PASSWORD,
        "backoff_s": 0.01,
    }
    values.update(overrides)
    return LabVantageSettings.model_validate(values)


@contextmanager
def simulated_adapter(
    workdir: Path, *, page_size: int = 1000, **overrides: object
) -> Iterator[tuple[LabVantageAdapter, LabVantageSimulator]]:
    """Start the simulator over ``workdir/lims.db`` (every resource enabled) and yield an adapter
    connected to it; both are closed on exit."""
    simulator = LabVantageSimulator(workdir / "lims.db", policy=RestPolicy.everything()).start()
    adapter = LabVantageAdapter(simulator_settings(simulator, page_size=page_size, **overrides))
    try:
        yield adapter, simulator
    finally:
        adapter.close()
        simulator.stop()
        simulator.lims.close()


SIMULATOR_SECRET_FILE = "labvantage-simulator.secret"


def simulator_instance(
    simulator: LabVantageSimulator, workdir: Path, name: str = "labvantage"
) -> dict[str, str]:
    """A ``[lims.<name>]`` table (as a dict) pointing at ``simulator``, its credentials written to
    ``workdir/labvantage-simulator.secret`` (``username:password``, mode 600): what the demo adds to
    ``limsai.toml`` so that the runtime's ``adapter_for`` builds a LabVantage adapter over HTTP."""
    secret = workdir / SIMULATOR_SECRET_FILE
    secret.write_text(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}\n", encoding="utf-8")
    secret.chmod(0o600)
    return {
        "name": name,
        "vendor": "labvantage",
        "base_url": simulator.url,
        "credentials_ref": f"file:{SIMULATOR_SECRET_FILE}",
    }
