"""P4 growth: the 1,000 -> 10,000 client step in time and memory (<= 12x: linear, no quadratic join).

The figures come from the same measurement as P1 (this runs p1_daily_run with the two sizes and prints its
P4 section at the end); `run_all.py` runs P1 once, which already includes it.

    python benchmarks/p4_growth.py            # 1,000 and 10,000 clients x 365 days
    python benchmarks/p4_growth.py --quick    # 20 and 200 clients x 60 days
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from p1_daily_run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
