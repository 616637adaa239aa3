"""`limsai stats` commands: JSON documents, published values, and exit code 3 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from limsai.cli_stats import stats_app

LEBLOND = {
    "b2": "0:101 1:101.3 3:99.8 3:99.2 6:99.5 6:97.8 12:97.4 12:97.2 24:96.9 24:96",
    "b3": "0:104.8 3:103 3:101.2 6:100.8 6:99.2 12:98.6 12:97.2 24:97.6 24:98",
    "b4": "0:104 3:103.2 6:102.8 6:103.3 12:102.4 12:101.2 24:99.1 24:99.5",
    "b5": "0:102 1:101.4 2:100.8 3:100.2 3:99.7 6:98.8 6:98.5 12:98 12:97.1 24:96.6 24:96.1",
    "b7": "0:101.3 1:101.5 3:100.2 3:99.8 6:99 6:98.5 12:98.5 12:97.4 24:96.6 24:96.4",
}
COLUMNS = ["--time", "month", "--response", "assay", "--batch", "lot"]


def write_csv(path: Path, batches: tuple[str, ...], extra: str = "") -> Path:
    lines = ["lot,month,assay"]
    for name in batches:
        lines += [f"{name},{p.split(':')[0]},{p.split(':')[1]}" for p in LEBLOND[name].split()]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from limsai.cli_stats import stats_app; stats_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)


def one_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)  # the whole of stdout is exactly one document


def test_shelf_life_b2_b5_b7(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "s.csv", ("b7", "b5", "b2"))
    proc = run("shelf-life", str(csv_file), *COLUMNS, "--lower", "95", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc)
    assert doc["model"] == "cics" and doc["worst_batch"] is None
    assert doc["shelf_life"] == pytest.approx(25.9957631, abs=1e-6)
    assert round(doc["poolability"]["intercepts"]["F"], 3) == 0.436
    assert round(doc["poolability"]["slopes"]["F"], 3) == 0.229
    assert set(doc["per_model"]) == {"cics", "dics", "dids"}


def test_shelf_life_loose_limit_per_batch_mse(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "s.csv", ("b2", "b5", "b7"))
    proc = run("shelf-life", str(csv_file), *COLUMNS, "--lower", "94.95", "--mse", "per-batch", "--json")
    doc = one_json(proc)
    lives = {name: fit["shelf_life"] for name, fit in doc["per_model"].items()}
    assert lives == pytest.approx({"cics": 26.22410, "dics": 24.80030, "dids": 23.34184}, abs=1e-5)


def test_shelf_life_b3_b4_b5_and_table(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "s.csv", ("b3", "b4", "b5"))
    doc = one_json(run("shelf-life", str(csv_file), *COLUMNS, "--lower", "95", "--json"))
    assert (doc["model"], doc["worst_batch"]) == ("dics", "b5")
    assert doc["shelf_life"] == pytest.approx(23.3972651, abs=2e-6)
    table = run("shelf-life", str(csv_file), *COLUMNS, "--lower", "95")
    assert table.returncode == 0 and "23.40" in table.stdout and "dics" in table.stdout


def test_oot_rows(tmp_path: Path) -> None:
    csv_file = write_csv(
        tmp_path / "s.csv",
        ("b2", "b3", "b4", "b5", "b7"),
        extra="b9,0,100\nb9,3,99.6\nb9,6,99.1\nb9,9,98.7\nb9,12,93.0\nb9,18,97.8\n",
    )
    proc = run("oot", str(csv_file), *COLUMNS, "--current", "b9", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc)
    rows = doc["rows"]
    assert [r["time"] for r in rows] == [0, 3, 6, 9, 12, 18]
    assert [r["oot"] for r in rows] == [False, False, False, False, True, False]
    assert rows[0]["lower"] is None and rows[4]["lower"] > 93.0
    assert {"time", "value", "lower", "upper", "oot"} <= set(rows[3])
    shewhart = one_json(
        run("oot", str(csv_file), *COLUMNS, "--current", "b9", "--method", "shewhart", "--json")
    )
    assert shewhart["method"] == "shewhart"


@pytest.mark.parametrize(
    ("value", "limits", "reported", "conforms"),
    [
        ("97.96", ["--min", "98.0"], "98.0", True),
        ("97.92", ["--min", "98.0"], "97.9", False),
        ("101.46", ["--max", "101.5"], "101.5", True),
    ],
)
def test_oos_usp_examples(value: str, limits: list[str], reported: str, conforms: bool) -> None:
    proc = run("oos", "--value", value, *limits, "--json")
    assert proc.returncode == 0
    doc = one_json(proc)
    assert (doc["reported"], doc["conforms"]) == (reported, conforms)


def bad_inputs(tmp: Path) -> list[list[str]]:
    good = write_csv(tmp / "good.csv", ("b2", "b5", "b7"))
    one = write_csv(tmp / "one.csv", ("b2",))
    text = write_csv(tmp / "text.csv", ("b2", "b5"), extra="b5,36,n/a\n")
    few = tmp / "few.csv"
    few.write_text("lot,month,assay\nA,0,100\nA,3,99\nB,0,101\nB,3,100\n", encoding="utf-8")
    return [
        ["shelf-life", str(tmp / "missing.csv"), *COLUMNS, "--lower", "95"],
        [
            "shelf-life",
            str(good),
            "--time",
            "month",
            "--response",
            "potency",
            "--batch",
            "lot",
            "--lower",
            "95",
        ],
        ["shelf-life", str(text), *COLUMNS, "--lower", "95"],
        ["shelf-life", str(one), *COLUMNS, "--lower", "95"],
        ["shelf-life", str(few), *COLUMNS, "--lower", "95"],
        ["shelf-life", str(good), *COLUMNS],
        ["oot", str(good), *COLUMNS, "--current", "b9"],
        ["oot", str(one), *COLUMNS, "--current", "b2"],
        ["oot", str(good), *COLUMNS, "--current", "b2", "--reference-points", "10"],
        ["oos", "--value", "BLQ", "--min", "98.0"],
        ["oos", "--value", "99.1"],
    ]


def test_bad_input_exits_3_with_json_error(tmp_path: Path) -> None:
    runner = CliRunner()
    for args in bad_inputs(tmp_path):
        result = runner.invoke(stats_app, [*args, "--json"])
        assert result.exit_code == 3, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "error:" in result.stderr
        doc = json.loads(result.stdout)
        assert doc["error"]["exit_code"] == 3 and doc["error"]["type"] == "bad_input"
        plain = runner.invoke(stats_app, args)
        assert plain.exit_code == 3 and plain.stdout == "" and "error:" in plain.stderr


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = run(
        "shelf-life", str(write_csv(tmp_path / "one.csv", ("b2",))), *COLUMNS, "--lower", "95", "--json"
    )
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert one_json(proc)["error"]["message"] == "poolability needs at least 2 batches, got 1"
