"""Quality benchmark: MovieLens-100K temporal replay, product fusion vs baselines.

Prints the figures table (the one recorded in docs/benchmarks.md) and writes the
report with plots under --out (default reports/). Weights are tuned on the
validation replay unless --weights is given. Takes ~10 minutes on 2 busy cores.

    python benchmarks/bench_quality.py [--out reports] [--weights session=.6,...] [--no-product]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.eval.cli import main_eval_offline  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main_eval_offline(sys.argv[1:]))
