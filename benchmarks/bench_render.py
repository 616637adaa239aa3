"""Benchmark: rendering a sponsor data package — one results table of 20,000 rows x 8 columns plus a
50-row table — in each format (PDF, DOCX, XLSX, CSV), with the 2,000-row package for comparison.

A package for a 20,000-result study must be assembled in under 5 s in all, so the renderers have
about 2 s between them. Each renderer is timed on its own, then run once more under ``tracemalloc``
for its peak Python heap (``peak_mb``). On Linux the timed run also gives the process's peak
resident size (``peak_rss_mb``, which counts what lxml and zlib allocate outside Python) and how
far it rose above the resident size at the start (``rss_growth_mb``).
Prints one JSON document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

SIZES = (20_000, 2_000)
STATUSES = ("Reported", "Reported", "Reported", "Approved", "OOS - under investigation", "Retest")
TIMEPOINTS = ("0.0 h", "0.5 h", "1.0 h", "2.0 h", "4.0 h", "8.0 h", "12.0 h", "24.0 h")
ANALYTES = ("Aurelimab", "Aurelimab metabolite M1")
HEADINGS = ("Sample", "Subject", "Timepoint", "Analyte", "Result", "Unit", "Status", "Comment")


def _content(rows: int) -> Any:
    from limsai.packages.render import PackageContent, RenderedTable, SignatureBlock

    big = tuple(
        (
            f"AUR-PK-007-S{i:06d}",
            f"SUBJ-{i // 40:04d}",
            TIMEPOINTS[i % len(TIMEPOINTS)],
            ANALYTES[i % len(ANALYTES)],
            f"{(i * 7919) % 100000 / 100:.2f}",
            "ng/mL",
            STATUSES[i % len(STATUSES)],
            "" if i % 5 else f"Re-assayed after run RUN-{i % 97:03d}; within-run CV 4.{i % 10}%",
        )
        for i in range(rows)
    )
    summary_rows = tuple(
        (f"SUBJ-{s:04d}", str(40), f"{100 + s * 1.37:.2f}", f"{(s % 9) * 1.1:.1f}", "ng/mL")
        for s in range(50)
    )
    return PackageContent(
        title="Aurelimab PK data package",
        subtitle="Study AUR-PK-007, bioanalytical results",
        package_name="AUR-PK-007_pk_v1",
        generated_at=datetime(2026, 11, 29, 21, 24, 36, tzinfo=UTC),
        summary=("All reported results of the study.", "Concentrations are shown as reported."),
        tables=(
            RenderedTable(name="results", title="All results", headings=HEADINGS, rows=big),
            RenderedTable(
                name="by_subject",
                title="Mean concentration by subject",
                headings=("Subject", "n", "Mean", "CV (%)", "Unit"),
                rows=summary_rows,
            ),
        ),
        flags=("S000004 out of specification",),
        qc_statement="QC reviewed all results.",
        signature_blocks=(SignatureBlock(role="Study director", meaning="approval"),),
    )


def _csv(content: Any) -> bytes:
    from limsai.packages.render import render_csv

    return b"".join(render_csv(table) for table in content.tables)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:  # "5" resets the peak resident size
            handle.write("5")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        found = re.search(rf"{field}:\s+(\d+) kB", handle.read())
    return round(int(found.group(1)) / 1024, 1) if found else 0.0


def _measure(render: Callable[[Any], bytes], content: Any) -> dict[str, float]:
    rss = _reset_peak_rss()
    before = _status_mb("VmRSS") if rss else 0.0
    started = time.perf_counter()
    size = len(render(content))
    seconds = time.perf_counter() - started
    figures = {"seconds": round(seconds, 2), "bytes": size}
    if rss:
        figures["peak_rss_mb"] = _status_mb("VmHWM")
        figures["rss_growth_mb"] = round(figures["peak_rss_mb"] - before, 1)
    tracemalloc.start()
    render(content)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {**figures, "peak_mb": round(peak / 2**20, 1)}


def main() -> None:
    from limsai.packages.render import render_docx, render_pdf, render_xlsx

    renderers: dict[str, Callable[[Any], bytes]] = {
        "pdf": render_pdf,
        "docx": render_docx,
        "xlsx": render_xlsx,
        "csv": _csv,
    }
    figures: dict[str, Any] = {"benchmark": "render_package", "columns": len(HEADINGS)}
    for rows in SIZES:
        content = _content(rows)
        measured = {fmt: _measure(render, content) for fmt, render in renderers.items()}
        total = round(sum(m["seconds"] for m in measured.values()), 2)
        figures[f"rows_{rows}"] = {**measured, "total_seconds": total}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
