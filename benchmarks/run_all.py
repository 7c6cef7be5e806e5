"""Run every benchmark (P1 + P4, P2, P3) one after the other; `--quick` is the CI smoke run (< 1 minute).

Each script runs in its own interpreter (so one's memory and caches do not colour the next) and prints
its figures and ratios. The exit status is non-zero when a script fails (an error, a worksheet function
returning an error, or the reference disagreeing with the engines); a missed target is reported as
MISSED in the output, not as a failure, because the quick sizes are too small for the ratios to mean much.

    python benchmarks/run_all.py --quick
    python benchmarks/run_all.py > benchmarks/last-run.txt   # the full run, minutes
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# P4 growth is printed by p1_daily_run.py
SCRIPTS = ("p1_daily_run.py", "p2_udfs.py", "p3_sepa.py", "p5_close.py", "p6_report_writers.py")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    failed = []
    for script in SCRIPTS:
        print(f"\n######## {script} {' '.join(argv)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *argv], check=False)
        took = time.perf_counter() - start
        print(f"######## {script}: exit {done.returncode} after {took:.1f} s", flush=True)
        if done.returncode != 0:
            failed.append(script)
    if failed:
        print(f"FAILED: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
