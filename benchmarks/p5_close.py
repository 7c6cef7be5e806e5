"""P5 the daily close: time to close one new day against a full replay of the history, at N clients.

    python benchmarks/p5_close.py --quick    # 200 clients x 60 days (seconds)
    python benchmarks/p5_close.py            # 1,000 clients x 365 days (minutes: books the year first)

Set-up (timed, for information): a fresh SQLite store, every day but the last booked with `close --through`.
Then, timed: closing the last day (workflow.close.close: the store's history, the engines as of that day, the
day's postings and input hash, one transaction) against the engines' full replay as of the same day
(`run_engines`, what `atlas-xl run` computes). The target of issue 18 is a close at <= 0.1x the replay; the
close still derives the day from the engines over the whole history, so it cannot meet it: the figures say
by how much it misses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # atlas_xl from the checkout

from common import best_of, data_dir, machine  # noqa: E402

TARGET = 0.1


def measure(clients: int, days: int) -> dict[str, float | int | str]:
    from atlas_xl.engines.run import run_engines
    from atlas_xl.inputs.portfolio import load_portfolio
    from atlas_xl.store.database import open_store
    from atlas_xl.workflow import close as closing
    from atlas_xl.workflow.users import add_user

    portfolio = load_portfolio(data_dir(clients, days))
    last = portfolio.last_date.date()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'p5.db'}", demo=True)  # a demo store names its users
        add_user(store, None, "ada", "admin")
        add_user(store, "ada", "otto", "operations")
        start = time.perf_counter()
        history = closing.close(store, "otto", portfolio, through=last - dt.timedelta(days=1))
        setup_s = time.perf_counter() - start
        replay_s, _ = best_of(3, lambda: run_engines(portfolio, last))
        start = time.perf_counter()
        today = closing.close(store, "otto", portfolio, day=last)
        close_s = time.perf_counter() - start
        assert today.booked == [last], today
        start = time.perf_counter()
        differences = closing.verify(store, "otto", portfolio)
        verify_s = time.perf_counter() - start
        store.dispose()
    ratio = close_s / replay_s
    print(f"\n== P5 daily close: {clients:,} clients x {days} days ({history.postings + today.postings:,} postings)")
    print(f"  set-up: close --through {len(history.booked)} days      {setup_s:8.2f} s")
    print(f"  close one new day ({today.postings:,} postings)        {close_s:8.3f} s")
    print(f"  full replay (run_engines as of the day)  {replay_s:8.3f} s")
    print(f"  close / replay = {ratio:.2f}x  {'MET' if ratio <= TARGET else 'MISSED'} (target <= {TARGET}x)")
    print(f"  verify every booked day                  {verify_s:8.3f} s; differences: {len(differences)}")
    if len(differences):
        # Known defect (found merging the over-limit sweep with the close, session 6): the sweep of a day depends on
        # the as-of date of the engine run, so a day booked from a later run differs from that day replayed alone.
        # Printed here, not hidden; the fix belongs in engines/payouts.py (issue 18 / 20 notes).
        print("  KNOWN DEFECT: booked days differ from their replay (over-limit sweep depends on the as-of date):")
        print(differences.head(10).to_string())
    return {"clients": clients, "days": days, "setup_s": setup_s, "close_s": close_s, "replay_s": replay_s,
            "ratio": ratio, "verify_s": verify_s, "verify_differences": len(differences),
            "postings": history.postings + today.postings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small size for a CI smoke run")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args(argv)
    clients = args.clients or (200 if args.quick else 1000)
    days = args.days or (60 if args.quick else 365)
    print(f"machine: {machine()}")
    result = measure(clients, days)
    print("P5 " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
