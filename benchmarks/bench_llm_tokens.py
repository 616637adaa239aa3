"""Benchmark: prompt tokens per package as a study grows (2,000 / 20,000 / 200,000 results).

An LLM prompt carries aggregated facts (counts and statistics per condition and test, and the flagged
rows up to a fixed cap), never the result table, so its size must stay flat as the study grows. The
figures compare that with naively pasting every result into the prompt. Results are synthetic;
tokens are counted with the o200k_base encoding (gpt-4o) from llama-index-core's bundled cache, with
the approved ``package_executive_summary`` prompt. Naive figures are exact for 2,000 and 20,000
results and extrapolated linearly (per-row tokens of the 20,000 table) for 200,000. Prints one JSON
document; `benchmarks/run.py` collects it.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import defaultdict
from typing import Any

from limsai.ai.llm_drafter import render_prompt
from limsai.governance.identity import AgentIdentity
from limsai.governance.prompts import AuditContext, PromptRegistry
from limsai.testing.audit import ListAuditSink

SIZES = (2_000, 20_000, 200_000)
MAX_FLAGGED = 20
CONDITIONS = ("25 °C/60% RH", "30 °C/65% RH", "40 °C/75% RH")
TESTS = {"Assay": (95.0, 105.0, "%"), "Impurity B": (0.0, 0.5, "%"), "Water": (0.0, 3.0, "% w/w")}
TIMEPOINTS = (0, 3, 6, 9, 12, 18, 24, 36)


def results(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        test = rng.choice(list(TESTS))
        low, high, unit = TESTS[test]
        centre = (low + high) / 2
        value = round(rng.gauss(centre, (high - low) / 5.5), 2)
        rows.append(
            {
                "sample": f"S-{i:06d}",
                "condition": rng.choice(CONDITIONS),
                "timepoint_months": rng.choice(TIMEPOINTS),
                "test": test,
                "value": value,
                "unit": unit,
                "limit": f"{low}-{high} {unit}",
                "oos": not low <= value <= high,
            }
        )
    return rows


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The facts a prompt carries: bounded whatever the number of rows."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        groups[(row["condition"], row["test"])].append(row["value"])
    flagged = [r for r in rows if r["oos"]]
    return {
        "study_id": "STB-BENCH-1",
        "study_title": "Synthetic stability study",
        "sponsor_name": "Bench Pharma",
        "milestone": "36-month",
        "package_files": ["summary.pdf", "results.csv", "trends.pdf"],
        "reportable_results": len(rows),
        "conditions": list(CONDITIONS),
        "timepoint_months": list(TIMEPOINTS),
        "by_condition_and_test": [
            {
                "condition": c,
                "test": t,
                "results": len(v),
                "min": min(v),
                "max": max(v),
                "mean": round(statistics.fmean(v), 2),
                "limit": f"{TESTS[t][0]}-{TESTS[t][1]} {TESTS[t][2]}",
            }
            for (c, t), v in sorted(groups.items())
        ],
        "oos_total": len(flagged),
        "oos_listed": flagged[:MAX_FLAGGED],
        "oos_not_listed": max(0, len(flagged) - MAX_FLAGGED),
    }


def main() -> None:
    import llama_index.core

    os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR",
        os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "tiktoken_cache"),
    )
    import tiktoken

    encoding = tiktoken.get_encoding("o200k_base")
    agent = AgentIdentity(step_id="bench", step_version="1.0.0", model_id="bench")
    actor = AuditContext.for_agent(
        agent, on_behalf_of="bench", sponsor_id="SPN-B", study_id="STB-B", run_id="r-1"
    )
    prompt = PromptRegistry.load().get("package_executive_summary", "1", audit=ListAuditSink(), actor=actor)
    figures: list[dict[str, Any]] = []
    per_row = 0.0
    started = time.perf_counter()
    for n in SIZES:
        rows = results(n)
        facts = aggregate(rows)
        aggregated = len(encoding.encode(render_prompt(prompt, facts)))
        if n <= 20_000:
            naive_facts = {**{k: v for k, v in facts.items() if k not in ("oos_listed",)}, "results": rows}
            naive = len(encoding.encode(render_prompt(prompt, naive_facts)))
            per_row = (naive - aggregated) / n
            estimated = False
        else:
            naive = round(aggregated + per_row * n)
            estimated = True
        figures.append(
            {
                "results": n,
                "oos_rows": facts["oos_total"],
                "prompt_tokens": aggregated,
                "naive_prompt_tokens": naive,
                "naive_estimated": estimated,
            }
        )
    tokens = [f["prompt_tokens"] for f in figures]
    print(
        json.dumps(
            {
                "benchmark": "llm_prompt_tokens_per_package",
                "encoding": "o200k_base",
                "max_flagged_rows": MAX_FLAGGED,
                "sizes": figures,
                "flat_ratio_200k_vs_2k": round(tokens[-1] / tokens[0], 3),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
