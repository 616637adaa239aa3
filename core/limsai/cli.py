"""The ``limsai`` command line (typer + rich).

Start-up stays light: the LIMS, the scenario generator and every heavy library are imported inside
the commands that use them. Exit codes and the ``--json`` rule are in :mod:`limsai.cli_support`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from limsai import __version__
from limsai.cli_protocol import protocol_app
from limsai.cli_stats import stats_app
from limsai.cli_support import (
    EXIT_AUDIT_FAILED,
    EXIT_BAD_INPUT,
    EXIT_LIMS_REJECTED,
    emit_json,
    guarded,
    stderr,
)

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
config_app = typer.Typer(
    help="Deployment settings (DIR/limsai.toml and LIMSAI_* variables).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
audit_app = typer.Typer(help="The tamper-evident audit log (DIR/audit.db).", no_args_is_help=True)
app.add_typer(lims_app, name="lims")
app.add_typer(audit_app, name="audit")
app.add_typer(stats_app, name="stats")
app.add_typer(protocol_app, name="protocol")

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


@audit_app.command("verify")
def audit_verify(workdir: WorkdirOpt, as_json: JsonOpt = False) -> None:
    """Verify the audit log: hash chain, Merkle tree and signed checkpoints. Exit 1 names the first
    bad entry."""
    from limsai.governance.audit_log import AuditLog
    from limsai.governance.audit_verify import VerifyReport
    from limsai.workdir import audit_path

    def run() -> VerifyReport:
        if not audit_path(workdir).is_file():
            raise FileNotFoundError(f"no audit log at {audit_path(workdir)}")
        with AuditLog(workdir) as log:
            return log.verify()

    report = guarded(as_json, run)
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(EXIT_AUDIT_FAILED)


@audit_app.command("export")
def audit_export(
    workdir: WorkdirOpt,
    record: Annotated[str, typer.Option("--record", help="Record reference, e.g. document/DOC-000001.")],
    html: Annotated[Path | None, typer.Option("--html", help="Where to write the HTML page.")] = None,
) -> None:
    """Export a record's audit history with inclusion proofs: JSON on stdout, an HTML page to a file."""
    from limsai.governance.audit_export import render_export_html
    from limsai.governance.audit_log import AuditLog
    from limsai.workdir import audit_path, export_path

    def run() -> tuple[dict[str, Any], Path]:
        if not audit_path(workdir).is_file():
            raise FileNotFoundError(f"no audit log at {audit_path(workdir)}")
        with AuditLog(workdir) as log:
            document = log.export_record(record)
        target = html or export_path(workdir, record)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_export_html(document), encoding="utf-8")
        return document, target

    document, target = guarded(True, run)
    emit_json(document)
    stderr.print(f"{len(document['entries'])} entries for {record}; HTML page: {target}")


@audit_app.command("check")
def audit_check(
    file: Annotated[Path, typer.Argument(help="An export written by `limsai audit export`.")],
    as_json: JsonOpt = False,
) -> None:
    """Check an exported record's proofs and checkpoint signature without the audit database."""
    from limsai.governance.audit_export import check_export

    def run() -> list[str]:
        return check_export(json.loads(file.read_text(encoding="utf-8")))

    problems = guarded(as_json, run)
    if as_json:
        emit_json({"ok": not problems, "problems": problems})
    else:
        typer.echo(
            "export verifies: every proof and the checkpoint signature check out"
            if not problems
            else "export does NOT verify:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    if problems:
        raise typer.Exit(EXIT_AUDIT_FAILED)


@app.command("steps")
def steps(as_json: JsonOpt = False) -> None:
    """List the AI steps this installation can run (core and plugins)."""
    from limsai.runtime.registry import load_registry

    registry = guarded(as_json, load_registry)
    listed = [
        {
            "id": s.id,
            "version": s.version,
            "title": s.title,
            "phase": s.phase.value,
            "permissions": sorted(p.value for p in s.permissions),
            "capabilities": sorted(c.value for c in s.capabilities),
            "description": s.description,
        }
        for s in registry.list()
    ]
    if as_json:
        emit_json({"steps": listed})
        return
    from limsai.render_console import steps_table

    steps_table(listed)


@config_app.command("check")
def config_check(workdir: WorkdirOpt, as_json: JsonOpt = False) -> None:
    """Say what is missing or wrong in the deployment settings; exit 3 when there are errors."""
    from limsai.runtime.settings import config_check as check

    def run() -> list[Any]:
        return check(workdir)  # a settings file that does not load is reported, not raised

    problems = guarded(as_json, run)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        emit_json({"ok": not errors, "problems": [p.model_dump(mode="json") for p in problems]})
    else:
        for p in problems:
            typer.echo(f"{p.severity}: {p.where}: {p.message}")
        typer.echo("configuration OK" if not errors else f"{len(errors)} error(s)")
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("run")
def run_step(
    step: Annotated[str, typer.Argument(help="Step id, e.g. status.update.")],
    workdir: WorkdirOpt,
    record: Annotated[str, typer.Option("--record", help="<type>:<id>, e.g. study:STB-001.")],
    lims: Annotated[str, typer.Option("--lims", help="LIMS instance name.")] = "embedded",
    as_user: Annotated[str | None, typer.Option("--as", help="LIMS user the step runs for.")] = None,
    milestone: Annotated[str, typer.Option(help="Milestone the run belongs to.")] = "",
    param: Annotated[list[str] | None, typer.Option("--param", help="Step parameter name=value.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one step synchronously through the queue, the governance layer and the audit log."""
    from limsai.runtime.local import run_synchronously

    job = guarded(
        as_json,
        lambda: run_synchronously(
            workdir,
            step=step,
            lims=lims,
            record=record,
            user=as_user,
            milestone=milestone,
            params=param or [],
        ),
    )
    from limsai.runtime.service import run_status

    status = run_status(job).model_dump(mode="json")
    if as_json:
        emit_json(status)
    else:
        stderr.print(
            f"run {job.run_id}: {job.state.value}" + (f" — {job.last_error}" if job.last_error else "")
        )
        typer.echo(json.dumps({k: status[k] for k in ("summary", "drafts", "tasks")}, indent=2))
    if job.state.value != "succeeded":
        raise typer.Exit(EXIT_LIMS_REJECTED)


@app.command("serve")
def serve(
    workdir: WorkdirOpt,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8760,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    job_workers: Annotated[int, typer.Option(min=0, help="Job workers per process.")] = 2,
) -> None:
    """Serve the callout API (POST /v1/runs, GET /v1/runs/{id}, /v1/steps, /healthz, /readyz)."""
    import os

    import uvicorn

    from limsai.runtime.service import WORKDIR_ENV, WORKERS_ENV

    os.environ[WORKDIR_ENV] = str(workdir.resolve())
    os.environ[WORKERS_ENV] = str(job_workers)
    uvicorn.run(
        "limsai.runtime.service:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@lims_app.command("sign")
def lims_sign(
    workdir: WorkdirOpt,
    document: Annotated[str, typer.Option("--document", help="Document id, e.g. DOC-000001.")],
    as_user: Annotated[str, typer.Option("--as", help="The signer's LIMS user id.")],
    meaning: Annotated[
        str, typer.Option(help="authorship | review | approval | responsibility")
    ] = "approval",
    version: Annotated[int | None, typer.Option(help="Version to sign (default: the latest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """E-sign a document version in the embedded LIMS; the password is the second component
    (prompted, or LIMSAI_SIGN_PASSWORD for scripts). Repeated wrong passwords lock the signer out."""
    import os

    from limsai.lims.embedded.signing import find_document, sign_with_password
    from limsai.model import SignatureMeaning
    from limsai.workdir import open_lims

    def run() -> Any:
        chosen = SignatureMeaning(meaning)
        lims = open_lims(workdir)
        doc = find_document(lims, document, version)
        password = os.environ.get("LIMSAI_SIGN_PASSWORD") or typer.prompt(
            f"Password for {as_user} (signing {doc.document_id} v{doc.version} as {chosen.value})",
            hide_input=True,
        )
        return sign_with_password(lims, doc, signer=as_user, password=password, meaning=chosen)

    signature = guarded(as_json, run)
    if as_json:
        emit_json(signature.model_dump(mode="json"))
    else:
        typer.echo(
            f"Signed {signature.document_id} v{signature.version}: "
            f"{signature.printed_name} ({signature.signer}), "
            f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC, meaning: {signature.meaning.value}, "
            f"sha256 {signature.content_sha256}"
        )


@lims_app.command("upload")
def lims_upload(
    workdir: WorkdirOpt,
    file: Annotated[Path, typer.Argument(help="The document to file, e.g. the sponsor's protocol PDF.")],
    study: Annotated[str, typer.Option("--study", help="Study id, e.g. AUR-STB-014.")],
    as_user: Annotated[str, typer.Option("--as", help="The LIMS user filing it.")],
    name: Annotated[str | None, typer.Option(help="Document name (default: the file name).")] = None,
    description: Annotated[str, typer.Option(help="What the document is.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """File a sponsor document (e.g. a protocol for protocol.ingest) on a study in the embedded LIMS,
    as a named person; a second upload under the same name is the next version."""
    import mimetypes

    from limsai.lims.embedded.uploads import upload_document
    from limsai.lims.port import study_scope_for
    from limsai.workdir import open_lims

    def run() -> Any:
        content = file.read_bytes()
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        lims = open_lims(workdir)
        try:
            return upload_document(
                lims,
                study_scope_for(lims, as_user, study),
                name=name or file.name,
                filename=file.name,
                media_type=media_type,
                content=content,
                uploaded_by=as_user,
                description=description,
            )
        finally:
            lims.close()

    document = guarded(as_json, run)
    if as_json:
        emit_json(document.model_dump(mode="json"))
    else:
        typer.echo(
            f"Filed {document.name} as {document.document_id} v{document.version} on {document.study_id} "
            f"({document.size} bytes, sha256 {document.sha256}) by {document.created_by}"
        )


@app.command("bundle")
def bundle(
    vendor: Annotated[str, typer.Argument(help="The vendor plugin, e.g. labvantage.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle zip into.")],
    as_json: JsonOpt = False,
) -> None:
    """Write a vendor plugin's install bundle for the LIMS admin: the LIMS-side artefacts, a
    settings template, the admin guide and a SHA256SUMS list the IQ verifies."""
    import hashlib

    from limsai.runtime.plugins import load_plugins

    def run() -> Path:
        builders = dict(load_plugins().contributions("limsai_bundles"))
        found = {name: build for _, (name, build) in builders.items()}
        if vendor not in found:
            known = ", ".join(sorted(found)) or "none"
            raise ValueError(f"no install bundle for {vendor!r} (plugins with a bundle: {known})")
        path: Path = found[vendor](out)
        return path

    path = guarded(as_json, run)
    if as_json:
        emit_json(
            {"vendor": vendor, "bundle": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        )
    else:
        typer.echo(str(path))


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
    from limsai.demo import demo_state

    state: dict[str, Any] = guarded(as_json, lambda: demo_state(workdir, lims=lims, seed=seed))
    if as_json:
        emit_json(state)
        return
    from limsai.render_console import demo_report

    demo_report(state)


def _mount_plugin_commands() -> None:
    """Add the command groups plugins contribute (``limsai_cli_commands``) as ``limsai <name>``; a
    plugin that fails is reported by ``limsai plugins`` and adds nothing."""
    from limsai.runtime.plugins import load_plugins

    taken = {group.name for group in app.registered_groups} | {c.name for c in app.registered_commands}
    for _, (name, sub_app) in load_plugins().contributions("limsai_cli_commands"):
        if name not in taken and isinstance(sub_app, typer.Typer):
            app.add_typer(sub_app, name=name)
            taken.add(name)


def main() -> None:
    """Console-script entry point."""
    _mount_plugin_commands()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
