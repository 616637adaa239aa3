"""The work directory: where a deployment (or the demo) keeps its state.

``DIR/lims.db`` is the embedded LIMS; ``DIR/scenario.json`` records the seeded scenario's planted
anomalies; ``DIR/audit.db`` is the tamper-evident audit log (its signing key under ``DIR/keys/``);
``DIR/exports/`` holds audit exports. Later layers add the job queue and ``DIR/out/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limsai.lims.embedded import EmbeddedLims

LIMS_DB = "lims.db"
AUDIT_DB = "audit.db"
EXPORTS = "exports"
SCENARIO_MANIFEST = "scenario.json"


class WorkdirError(ValueError):
    """The work directory does not hold what the command needs."""


def lims_path(workdir: Path) -> Path:
    return workdir / LIMS_DB


def audit_path(workdir: Path) -> Path:
    return workdir / AUDIT_DB


def export_path(workdir: Path, record: str) -> Path:
    """Where ``audit export`` writes a record's HTML page (the reference made file-name safe)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in record)
    return workdir / EXPORTS / f"audit-{safe}.html"


def open_lims(workdir: Path, *, create: bool = False) -> EmbeddedLims:
    """Open ``DIR/lims.db``; unless ``create``, a missing LIMS is an error rather than a new file."""
    path = lims_path(workdir)
    if not create and not path.is_file():
        raise WorkdirError(
            f"no LIMS at {path}: run `limsai scenario seed --workdir {workdir}` "
            f"or `limsai lims import --workdir {workdir} FILE.csv` first"
        )
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"{workdir} is not a directory")
    return EmbeddedLims(path)


@contextmanager
def lims_for_import(workdir: Path) -> Iterator[EmbeddedLims]:
    """Open (creating if needed) ``DIR/lims.db`` for an import; if the import fails, a LIMS file and
    work directory that the import itself created are removed again, so a failed import leaves
    nothing behind."""
    if not workdir.exists() and not workdir.parent.is_dir():
        raise WorkdirError(f"cannot create {workdir}: {workdir.parent} does not exist")
    created_dir = not workdir.exists()
    created_db = not lims_path(workdir).exists()
    lims = open_lims(workdir, create=True)
    try:
        yield lims
    except BaseException:
        lims.close()
        if created_db:
            remove_lims(workdir)
        if created_dir and not any(workdir.iterdir()):
            workdir.rmdir()
        raise
    lims.close()


def remove_lims(workdir: Path) -> None:
    """Delete the embedded LIMS files (database, WAL and shared-memory files) and the manifest."""
    for name in (LIMS_DB, LIMS_DB + "-wal", LIMS_DB + "-shm", SCENARIO_MANIFEST):
        (workdir / name).unlink(missing_ok=True)
