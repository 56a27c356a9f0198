"""Traffic bench: `python -m verticals.traffic.flow_bench --data DIR` prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
import time

from core.forecast.graph_bench import run_bench
from verticals.traffic.speed_matrix import SpeedMatrixError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="folder or speed CSV (speed_matrix layout)")
    parser.add_argument("--adjacency", default=None)
    parser.add_argument("--start", default=None)
    parser.add_argument("--freq", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    try:
        m = load(args.data, adjacency=args.adjacency, start=args.start, freq=args.freq)
    except (SpeedMatrixError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    result = run_bench(m.speed, m.times, m.adjacency, m.sensors, seeds=args.seeds,
                       epochs=args.epochs)
    print(json.dumps({"task": "traffic.flow_prediction", "dataset": "speed_matrix", **result,
                      "wall_s": round(time.perf_counter() - began, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
