"""``limsai protocol``: ingest a sponsor protocol from the command line.

``ingest FILE`` reads a PDF or DOCX protocol, runs the deterministic extractor and prints a rich
summary, or with ``--json`` exactly one JSON document (every item with its citation); ``--usdm``
also writes the validated USDM 4.0 document. Unreadable files exit 3 with the problem named
(see :mod:`limsai.cli_support`). Heavy imports stay inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from limsai.cli_support import emit_json, guarded

protocol_app = typer.Typer(
    help="Sponsor protocols: ingest into grounded requirements and USDM 4.0.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def ingest_document(file: Path, usdm: Path | None) -> dict[str, Any]:
    """The ``--json`` document of ``file`` (writes the USDM document to ``usdm`` when given)."""
    from limsai.protocols import extract, read_protocol_file
    from limsai.protocols.usdm import build_usdm

    req = extract(read_protocol_file(file))
    if usdm is not None:
        usdm.write_text(json.dumps(build_usdm(req), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    data = req.model_dump(mode="json")
    return data


def _print_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def value(key: str) -> str:
        item = data.get(key)
        return f"{item['value']} (p.{item['citation']['page']})" if item else "—"

    console.print(f"[bold]{data['document_name']}[/]  sha256 {data['document_sha256'][:12]}…")
    for key in ("protocol_number", "sponsor", "phase"):
        console.print(f"  {key.replace('_', ' ')}: {value(key)}", highlight=False)
    for t in data["titles"]:
        console.print(f"  title: {t['value']}", highlight=False)
    console.print(
        f"  identifiers: {', '.join(i['value'] for i in data['identifiers']) or '—'}", highlight=False
    )
    console.print(
        f"  activities: {len(data['activities'])}, encounters: {len(data['encounters'])}, "
        f"scheduled pairs: {len(data['schedule'])}",
        highlight=False,
    )
    console.print(
        f"  PK timepoints: {', '.join(i['value'] for i in data['pk_timepoints']) or '—'}", highlight=False
    )
    table = Table("kind", "value", "page", "confidence", title="Requirements")
    for item in data["requirements"]:
        table.add_row(
            item["kind"], item["value"][:90], str(item["citation"]["page"]), f"{item['confidence']:.2f}"
        )
    console.print(table)
    flags = Table("kind", "message", title="Ambiguities for review")
    for a in data["ambiguities"]:
        flags.add_row(a["kind"], a["message"])
    console.print(flags)


@protocol_app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="The protocol: a PDF or DOCX file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")
    ] = False,
    usdm: Annotated[
        Path | None, typer.Option("--usdm", help="Also write the USDM 4.0 JSON document here.")
    ] = None,
) -> None:
    """Extract requirements, schedule and ambiguities from a protocol, each with its citation."""
    data = guarded(as_json, lambda: ingest_document(file, usdm))
    if as_json:
        emit_json(data)
    else:
        _print_summary(data)
