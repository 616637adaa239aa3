"""Human-readable console output of the CLI (rich tables); ``--json`` output never passes here."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from limsai.lims.inventory import StudyRow
from limsai.runtime.plugins import DiscoveredPlugin

MIN_PIPE_WIDTH = 150
# A terminal keeps its own width; piped output (CI logs, `make demo | less`) gets room for the tables.
console = Console() if sys.stdout.isatty() else Console(width=MIN_PIPE_WIDTH)


def _milestones(milestones: Sequence[Any]) -> str:
    """The latest completed milestone and how many of the plan are complete."""
    pairs = [
        (m["name"], str(m["status"])) if isinstance(m, dict) else (m.name, str(m.status)) for m in milestones
    ]
    done = [name for name, status in pairs if status == "complete"]
    if not pairs:
        return "—"
    latest = done[-1] if done else "none complete"
    return f"{latest} ({len(done)}/{len(pairs)})"


def studies_table(rows: Sequence[StudyRow] | Sequence[dict[str, Any]], title: str = "Studies") -> None:
    table = Table(title=title)
    table.add_column("Study", no_wrap=True)
    for heading in ("Sponsor", "Protocol", "Type", "Phase", "Study director", "Milestone reached"):
        table.add_column(heading)
    for heading in ("Samples", "Results"):
        table.add_column(heading, justify="right")
    for row in rows:
        r = row if isinstance(row, dict) else row.model_dump(mode="json")
        table.add_row(
            r["study_id"],
            r["sponsor_id"],
            r["protocol_number"],
            r["study_type"],
            r["phase"],
            r["study_director_name"] or r["study_director"] or "—",
            _milestones(r["milestones"]),
            f"{r['samples']:,}",
            f"{r['results']:,}",
        )
    console.print(table)


def plugins_table(found: Sequence[DiscoveredPlugin]) -> None:
    table = Table(title="Installed limsai plugins")
    for heading in ("Plugin", "Distribution", "Vendor", "Version", "Provides", "Status"):
        table.add_column(heading)
    for p in found:
        info = p.info
        table.add_row(
            p.entry_point,
            p.distribution or "?",
            info.vendor if info else "?",
            info.version if info else "?",
            ", ".join(info.provides) if info and info.provides else "—",
            "ok" if p.ok else f"[red]broken: {p.error}[/]",
        )
    if not found:
        console.print("No limsai plugins are installed.")
    else:
        console.print(table)


def demo_report(state: dict[str, Any]) -> None:
    reused = "reused" if state["reused"] else "seeded"
    console.print(
        f"[bold]limsai demo[/] — embedded reference LIMS {state['lims']} ({reused}, seed {state['seed']})"
    )
    if state.get("via", "embedded") != "embedded":
        console.print(
            f"Steps run over HTTP through the {state['via']} adapter against its simulator, which serves "
            "that LIMS's wire protocol over the same store on loopback."
        )
    sponsors = Table(title="Sponsors")
    for heading in ("Sponsor", "Name"):
        sponsors.add_column(heading)
    for heading in ("Studies", "Samples", "Results"):
        sponsors.add_column(heading, justify="right")
    for s in state["sponsors"]:
        sponsors.add_row(
            s["sponsor_id"], s["name"], str(s["studies"]), f"{s['samples']:,}", f"{s['results']:,}"
        )
    console.print(sponsors)
    studies_table(state["studies"])
    anomalies = Table(title="Planted anomalies (what the checks must find — and nothing else)")
    for heading in ("Kind", "Sponsor", "Study", "Records", "Description"):
        anomalies.add_column(heading)
    for a in state["anomalies"]:
        more = len(a["records"]) - 1
        records = a["records"][0] + (f" (+{more} more)" if more else "")
        anomalies.add_row(a["kind"], a["sponsor_id"], a["study_id"], records, a["description"])
    console.print(anomalies)
    console.print(
        f"{len(state['plugins'])} vendor plugins installed: "
        + ", ".join(p["entry_point"] for p in state["plugins"])
    )
    runs = Table(title="status.update through the job queue (drafts wait in the LIMS for review)")
    for heading in ("Study", "Milestone", "Run", "Status", "Drafts", "Tasks", "Overdue pulls"):
        runs.add_column(heading)
    for r in state["runs"]:
        runs.add_row(
            r["study_id"],
            r["milestone"],
            r["run_id"],
            r["status"] + (f": {r['error']}" if r["error"] else ""),
            str(len(r["drafts"])),
            str(len(r["tasks"])),
            str(r["summary"].get("overdue_pulls", "—")),
        )
    console.print(runs)
    packages_table(state["packages"])
    reports_table(state.get("reports", []))
    release_report(state)
    audit = state["audit"]
    verdict = "[green]" if audit["ok"] else "[bold red]"
    console.print(f"$ limsai audit verify --workdir {state['workdir']}\n{verdict}{audit['summary']}[/]")


def packages_table(packages: Sequence[dict[str, Any]]) -> None:
    table = Table(
        title="package.assemble: sponsor data packages drafted for the study director's e-signature"
    )
    for heading in ("Study", "Sponsor", "Milestone", "Files", "Flags", "Draft (manifest)", "Review task"):
        table.add_column(heading)
    for p in packages:
        manifest = p["drafts"][0] if p["drafts"] else None
        table.add_row(
            p["study_id"],
            p["sponsor_id"] or "—",
            p["milestone"],
            str(p["summary"].get("files", "—")),
            str(p["summary"].get("flags", "—")) if not p["error"] else f"{p['status']}: {p['error']}",
            f"{manifest['document_id']} v{manifest['version']}" if manifest else "—",
            ", ".join(p["tasks"]) or "—",
        )
    console.print(table)
    for p in packages:
        if p["summary"].get("out_dir"):
            console.print(f"  {p['study_id']}: {p['summary']['out_dir']}", highlight=False)


def reports_table(reports: Sequence[dict[str, Any]]) -> None:
    if not reports:
        return
    table = Table(title="report.draft: stability report sections (ICH Q1E shelf life, OOT/OOS, trend charts)")
    for heading in (
        "Study",
        "Milestone",
        "Series",
        "Proposed shelf life",
        "OOT",
        "OOS",
        "Narrative",
        "Draft",
    ):
        table.add_column(heading)
    for r in reports:
        s = r["summary"]
        checks = s.get("narrative_checks") or {}
        table.add_row(
            r["study_id"],
            r["milestone"],
            str(s.get("series", "—")) if not r["error"] else f"{r['status']}: {r['error']}",
            f"{s['proposed_shelf_life_months']} months" if s.get("proposed_shelf_life_months") else "—",
            str(s.get("oot", "—")),
            str(s.get("oos", "—")),
            "verified"
            if checks.get("verified")
            else f"{len(checks.get('unverified_claims', []))} unverified",
            r["drafts"][1]["name"].rsplit("/", 1)[1] if len(r["drafts"]) > 1 else "—",
        )
    console.print(table)


def release_report(state: dict[str, Any]) -> None:
    signing = state.get("signing")
    if not signing:
        return
    sig = signing["signature"]
    console.print(
        f"\n[bold]E-signature[/] (password as the second component, 21 CFR 11.200)\n$ {signing['command']}\n"
        f"{'already signed' if signing['reused'] else 'Signed'} {sig['document_id']} v{sig['version']}: "
        f"{sig['printed_name']} ({sig['signer']}), meaning {sig['meaning']}, sha256 {sig['content_sha256']}",
        highlight=False,
    )
    for r in state["releases"]:
        if r["status"] == "succeeded":
            console.print(
                f"[green]package.release {r['study_id']}: released[/] — {r['summary'].get('manifestation')}",
                highlight=False,
            )
        else:
            console.print(
                f"[yellow]package.release {r['study_id']}: refused[/] — {r['error']}", highlight=False
            )


def steps_table(steps: Sequence[dict[str, Any]]) -> None:
    table = Table(title="AI steps")
    for heading in ("Step", "Version", "Phase", "Title", "Needs"):
        table.add_column(heading)
    for s in steps:
        table.add_row(s["id"], s["version"], s["phase"], s["title"], ", ".join(s["permissions"]))
    console.print(table)
