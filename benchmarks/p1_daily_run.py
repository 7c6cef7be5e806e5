"""P1 daily run (and P4 growth): `atlas-xl run` on generator portfolios, by phase, against named baselines.

For each size (default 1,000 and 10,000 clients x 365 days):
- the whole `atlas-xl run --json` in a child process, 3 times: the fastest run's wall clock and the phases
  it reports (load + validate, engines, report, dashboard), and the highest peak RSS of the 3 (wait4
  ru_maxrss);
- the input-parse floor: pyarrow's CSV reader on the same four files (best of 3, in this process); the same
  read in a fresh interpreter is printed for information (the run's figure includes starting one);
- engines vs the per-row reference (tests.reference) in this process: the reference runs on an evenly
  spaced sample of clients over all days and is scaled linearly to the whole portfolio (its cost is per
  client: one loop over that client's days), and its payouts are checked against the engines' on the sample.
P4 growth: the largest size over the smallest, in whole-run time, engine time and peak RSS.

    python benchmarks/p1_daily_run.py            # 1,000 and 10,000 clients (minutes)
    python benchmarks/p1_daily_run.py --quick    # 20 and 200 clients x 60 days (seconds)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.reference: the per-row oracle

import pyarrow.csv as pacsv  # noqa: E402
from common import best_of, data_dir, machine, mib, print_json, python_child, verdict  # noqa: E402

CLI = "import sys; from atlas_xl.cli.app import entry; entry(sys.argv[1:])"  # what atlas-xl runs
TARGET_FLOOR = 3.0  # whole run <= 3x the parse floor
TARGET_REFERENCE = 50.0  # engines >= 50x faster than the per-row reference
TARGET_RSS = 3 * 1024**3  # peak RSS <= 3 GiB at 10,000 clients
TARGET_GROWTH = 12.0  # 1k -> 10k clients costs <= 12x in time and memory
# phases that follow one another in `atlas-xl run --json`'s timings (their sum + "other" = the whole run)
SEQUENTIAL_PHASES = ("load_seconds", "engine_seconds", "outputs_seconds")
RUNS = 3  # whole runs (fresh child processes) and in-process engine runs per size; the fastest is reported


def parse_floor(folder: Path) -> float:
    from atlas_xl.domain.model import TABLES

    seconds, _ = best_of(3, lambda: [pacsv.read_csv(folder / f"{t}.csv") for t in TABLES])
    return seconds


FRESH_FLOOR = ("import sys, pyarrow.csv as c; from pathlib import Path; "
               "[c.read_csv(Path(sys.argv[1]) / f'{t}.csv') for t in sys.argv[2:]]")


def fresh_parse_floor(folder: Path) -> float:
    """The same read in a fresh interpreter, started and timed like the whole run (information only: the
    target is against the in-process floor)."""
    from atlas_xl.domain.model import TABLES

    return min(python_child(FRESH_FLOOR, str(folder), *TABLES).seconds for _ in range(RUNS))


def measure(clients: int, days: int, sample: int) -> dict[str, object]:
    from atlas_xl.engines.run import run_engines
    from atlas_xl.inputs.portfolio import load_portfolio
    from tests.reference import reference_run

    folder = data_dir(clients, days)
    floor = parse_floor(folder)
    fresh_floor = fresh_parse_floor(folder)
    children = []
    for _ in range(RUNS):  # fresh processes: how fast the kernel hands out memory varies a lot between runs
        with tempfile.TemporaryDirectory() as out:
            child = python_child(CLI, "run", "--data", str(folder), "--out", out, "--json")
        if child.returncode != 0:
            raise SystemExit(f"atlas-xl run failed ({child.returncode}) on {folder}:\n{child.stderr[-2000:]}")
        children.append(child)
    child = min(children, key=lambda c: c.seconds)  # the fastest run and its phases, as best_of elsewhere
    phases = json.loads(child.stdout.strip().splitlines()[-1])["timings"]

    portfolio = load_portfolio(folder)
    rows = len(portfolio.settlements)
    engine_seconds, result = best_of(RUNS, lambda: run_engines(portfolio))
    ids = result.payouts["client_id"].tolist()
    picked = ids[:: max(len(ids) // sample, 1)][:sample]
    ref_seconds, ref = best_of(1, lambda: reference_run(portfolio, client_ids=picked))
    reference_scaled = ref_seconds * len(ids) / len(picked)
    columns = ["client_id", "amount_cents", "withheld_cents", "ready", "reasons"]
    mine = result.payouts[result.payouts["client_id"].isin(picked)][columns].sort_values("client_id")
    theirs = ref.payouts[columns].sort_values("client_id")
    agree = mine.reset_index(drop=True).equals(theirs.reset_index(drop=True).astype(mine.dtypes.to_dict()))
    return {
        "clients": clients, "days": days, "settlement_rows": rows, "parse_floor_s": floor,
        "fresh_process_parse_floor_s": fresh_floor,
        "whole_run_s": child.seconds, "whole_runs_s": [c.seconds for c in children],
        "peak_rss_bytes": max(c.peak_rss_bytes for c in children), "phases_s": phases,
        "engines_in_process_s": engine_seconds, "reference_sample_clients": len(picked),
        "reference_sample_s": ref_seconds, "reference_scaled_s": reference_scaled, "sample_agrees": agree,
    }


def report(m: dict[str, object], full_size: bool) -> None:
    phases = m["phases_s"]
    print(f"\n== P1 daily run: {m['clients']:,} clients x {m['days']} days "
          f"({m['settlement_rows']:,} settlement rows)")
    runs = ", ".join(f"{s:.2f}" for s in m["whole_runs_s"])
    print(f"  whole `atlas-xl run` (child, incl. interpreter start): {m['whole_run_s']:8.2f} s   "
          f"peak RSS {mib(m['peak_rss_bytes'])}   (fastest of {len(m['whole_runs_s'])}: {runs} s; "
          f"the highest peak RSS)")
    for name in SEQUENTIAL_PHASES:
        print(f"    {name.replace('_seconds', ''):<10} {phases[name]:8.2f} s")
        if name == "outputs_seconds":  # the report and the dashboard page, written side by side
            print(f"      {'report':<10} {phases['report_seconds']:6.2f} s  |  dashboard page "
                  f"{phases['dashboard_seconds']:.2f} s  (on a second thread, at the same time)")
    other = m["whole_run_s"] - sum(phases[name] for name in SEQUENTIAL_PHASES)
    print(f"    {'other':<10} {other:8.2f} s  (interpreter start, imports, summary, exit)")
    print(f"  parse floor (pyarrow.csv, 4 files):                 {m['parse_floor_s']:8.3f} s")
    ratio = m["whole_run_s"] / m["parse_floor_s"]
    print(f"  whole run / parse floor = {ratio:,.1f}x  {verdict(ratio, TARGET_FLOOR)}")
    fresh = m["fresh_process_parse_floor_s"]
    print(f"  (information: the same read in a fresh interpreter takes {fresh:.3f} s; "
          f"whole run / that = {m['whole_run_s'] / fresh:,.1f}x)")
    speedup = m["reference_scaled_s"] / m["engines_in_process_s"]
    print(f"  engines in process {m['engines_in_process_s']:.2f} s; per-row reference "
          f"{m['reference_sample_s']:.2f} s on {m['reference_sample_clients']} clients, scaled to all: "
          f"{m['reference_scaled_s']:,.1f} s")
    print(f"  engines speed-up over the reference = {speedup:,.0f}x  "
          f"{verdict(speedup, TARGET_REFERENCE, True)}   (sample payouts agree: {m['sample_agrees']})")
    if full_size:
        print(f"  peak RSS {mib(m['peak_rss_bytes'])} at 10,000 clients: "
              f"{'MET' if m['peak_rss_bytes'] <= TARGET_RSS else 'MISSED'} (target <= 3 GiB)")


def growth(small: dict[str, object], large: dict[str, object]) -> None:
    step = large["clients"] / small["clients"]
    print(f"\n== P4 growth: {small['clients']:,} -> {large['clients']:,} clients ({step:g}x the clients)")
    measures = (("whole run time", "whole_run_s"), ("engine time (in process)", "engines_in_process_s"),
                ("peak RSS", "peak_rss_bytes"))
    for label, key in measures:
        ratio = large[key] / small[key]
        print(f"  {label:<26} {ratio:6.2f}x  {verdict(ratio, TARGET_GROWTH * step / 10)}")
    for phase in large["phases_s"]:
        ratio = large["phases_s"][phase] / max(small["phases_s"].get(phase, 0), 1e-9)
        print(f"    phase {phase.replace('_seconds', ''):<18} {ratio:6.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--sizes", type=int, nargs="+", help="client counts (default 1000 10000)")
    parser.add_argument("--days", type=int, help="days of settlements (default 365)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([20, 200] if args.quick else [1000, 10000])
    days = args.days or (60 if args.quick else 365)
    sample = 10 if args.quick else 100
    print("machine:", machine())
    results = [measure(n, days, sample) for n in sizes]
    for m in results:
        report(m, full_size=m["clients"] >= 10_000)
        print_json("P1", m)
    if len(results) >= 2:
        growth(results[0], results[-1])
    return 0 if all(m["sample_agrees"] for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
