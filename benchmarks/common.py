"""Shared helpers of the benchmark scripts: timing, generated data folders, child-process runs with peak RSS.

Every figure a script prints is measured in the same run as the baseline it is divided by, so the
ratios hold on a busy shared machine where absolute seconds do not.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
SEED = 7


@dataclass(frozen=True)
class Timed:
    seconds: float
    value: object


def best_of(repeat: int, func: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeat` runs (the least disturbed by other load) and the last result."""
    best, result = float("inf"), None
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result  # type: ignore[return-value]


def data_dir(clients: int, days: int, seed: int = SEED) -> Path:
    """A folder with the generator's four CSV files for this size, written once and reused (temp dir)."""
    from atlas_xl.domain.model import TABLES
    from atlas_xl.examples.portfolio import generate_portfolio, write_csv

    folder = Path(tempfile.gettempdir()) / f"atlas-bench-{clients}x{days}-s{seed}"
    if not all((folder / f"{t}.csv").exists() for t in TABLES):
        write_csv(generate_portfolio(clients=clients, days=days, seed=seed), folder)  # whole files only
    return folder


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_child(args: list[str], env: dict[str, str] | None = None) -> ChildRun:
    """Run a command, wall-clock it and read ITS peak RSS from wait4 (not the benchmark's own memory)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss is KiB on Linux (bytes on macOS)
        scale = 1 if sys.platform == "darwin" else 1024
        return ChildRun(seconds, usage.ru_maxrss * scale, proc.returncode, out.read().decode(),
                        err.read().decode())


def python_child(code: str, *argv: str) -> ChildRun:
    return run_child([sys.executable, "-c", code, *argv])


def own_peak_rss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 1024**2:,.0f} MiB"


def verdict(ratio: float, limit: float, higher_is_better: bool = False) -> str:
    ok = ratio >= limit if higher_is_better else ratio <= limit
    sign = ">=" if higher_is_better else "<="
    return f"{'MET' if ok else 'MISSED'} (target {sign} {limit:g}x)"


def machine() -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow

    return {"python": platform.python_version(), "pandas": pandas.__version__, "numpy": numpy.__version__,
            "pyarrow": pyarrow.__version__, "cpus": str(os.cpu_count()), "platform": platform.platform()}


def print_json(tag: str, payload: dict[str, object]) -> None:
    """One machine-readable line per script (run_all collects them)."""
    print(f"{tag} {json.dumps(payload, sort_keys=True, default=str)}", flush=True)
