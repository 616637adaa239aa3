"""``limsai labvantage …``: the LabVantage plugin's commands, mounted by the ``limsai_cli_commands``
hook (one name per plugin, so the bundle is ``limsai labvantage bundle --out DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from limsai_labvantage.bundle import build_bundle

app = typer.Typer(help="LabVantage plugin: the admin's install bundle.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """LabVantage plugin commands."""


@app.command()
def bundle(out: Annotated[Path, typer.Option("--out", help="folder to write the bundle zip into")]) -> None:
    """Write the install bundle (LIMS-side artefacts, settings template, admin guide, SHA256SUMS)."""
    path = build_bundle(out)
    typer.echo(str(path))
