"""Run every ``benchmarks/bench_*.py`` script and print their JSON figures, one per line, together
with the machine they ran on. Copy the figures into ``benchmarks/BENCHMARKS.md``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    machine = {
        "date": datetime.now(UTC).date().isoformat(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
    }
    print(json.dumps({"machine": machine}))
    failed = 0
    for script in sorted(here.glob("bench_*.py")):
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            failed += 1
            print(json.dumps({"benchmark": script.stem, "error": proc.stderr.strip()[-2000:]}))
            continue
        for line in proc.stdout.splitlines():
            if line.strip():
                print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
