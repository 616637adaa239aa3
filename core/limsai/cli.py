"""The ``limsai`` command line (typer + rich).

Start-up stays light: the LIMS, the scenario generator and every heavy library are imported inside
the commands that use them. Exit codes and the ``--json`` rule are in :mod:`limsai.cli_support`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from limsai import __version__
from limsai.cli_support import emit_json, guarded, stderr

app = typer.Typer(
    name="limsai",
    help="AI steps for the LIMS your lab already runs: drafted, flagged, audited, never final.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(help="The seeded reference CRO scenario.", no_args_is_help=True)
lims_app = typer.Typer(help="The embedded reference LIMS.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(lims_app, name="lims")

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Work directory (holds lims.db).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"limsai {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """limsai command line."""


@scenario_app.command("seed")
def scenario_seed(
    workdir: WorkdirOpt,
    results: Annotated[int | None, typer.Option(min=1, help="Scale the scenario to about N results.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same data).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing LIMS in the work directory.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Seed the embedded LIMS in DIR with the reference CRO scenario (sponsors, studies, anomalies)."""
    from limsai.seeding import seed_workdir

    outcome = guarded(as_json, lambda: seed_workdir(workdir, seed=seed, results=results, force=force))
    if as_json:
        emit_json(outcome)
    else:
        totals = outcome["counts"]
        stderr.print(
            f"Seeded {workdir / 'lims.db'}: {totals['studies']} studies, {totals['samples']} samples, "
            f"{totals['results']} results, {len(outcome['anomalies'])} planted anomalies "
            f"in {outcome['seconds']:.1f} s (seed {outcome['seed']})."
        )


@app.command("studies")
def studies(workdir: WorkdirOpt, as_json: JsonOpt = False) -> None:
    """List the studies in the LIMS with sponsor, protocol, type, phase, milestones and counts."""
    from limsai.lims.inventory import study_rows
    from limsai.workdir import open_lims

    rows = guarded(as_json, lambda: study_rows(open_lims(workdir)))
    if as_json:
        emit_json({"studies": [r.model_dump(mode="json") for r in rows]})
        return
    from limsai.render_console import studies_table

    studies_table(rows)


@lims_app.command("import")
def lims_import(
    file: Annotated[Path, typer.Argument(help="Long CSV, one row per result (see README).")],
    workdir: WorkdirOpt,
    as_json: JsonOpt = False,
) -> None:
    """Import results exported from any LIMS (long CSV) into the embedded LIMS; all or nothing."""
    from limsai.lims.csv_import import ImportSummary, import_csv
    from limsai.workdir import lims_for_import

    def run() -> ImportSummary:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file")
        with lims_for_import(workdir) as lims:
            return import_csv(lims, file)

    summary = guarded(as_json, run)
    if as_json:
        emit_json(summary.model_dump(mode="json"))
    else:
        created = ", ".join(f"{n} {kind}" for kind, n in summary.created.items() if n)
        stderr.print(f"Imported {file} into {workdir / 'lims.db'}: {created}.")


@app.command("plugins")
def plugins(as_json: JsonOpt = False) -> None:
    """List the installed vendor plugins (entry-point group limsai.plugins)."""
    from limsai.runtime.plugins import discover

    found = guarded(as_json, discover)
    if as_json:
        emit_json({"plugins": [p.model_dump(mode="json") for p in found]})
        return
    from limsai.render_console import plugins_table

    plugins_table(found)


@app.command("demo")
def demo(
    workdir: WorkdirOpt = Path("limsai-demo"),
    lims: Annotated[str, typer.Option("--lims", help="Which LIMS to run against.")] = "embedded",
    seed: Annotated[int | None, typer.Option(help="Scenario seed.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Seed the reference LIMS (once) and show its sponsors, studies and planted anomalies."""
    from limsai.seeding import demo_state

    state: dict[str, Any] = guarded(as_json, lambda: demo_state(workdir, lims=lims, seed=seed))
    if as_json:
        emit_json(state)
        return
    from limsai.render_console import demo_report

    demo_report(state)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
