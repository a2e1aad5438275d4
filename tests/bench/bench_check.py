"""Benchmark: `layerspec check specs/signs.yaml` against `python -c "import tensorflow"`, side by side.

The checker's promise (issue 2) is that it answers before TensorFlow could even be imported: target <= 0.25x.
Both commands run as fresh processes, alternately, several times; the medians and their ratio are printed.
Usage: python tests/bench/bench_check.py [--runs N] [--spec PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = 0.25


def timed(command: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def layerspec_command() -> list[str]:
    script = Path(sys.executable).parent / "layerspec"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from layerspec.cli import main; main()"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--spec", default="specs/signs.yaml", help="spec to check (default specs/signs.yaml)")
    args = parser.parse_args()
    check = [*layerspec_command(), "check", args.spec]
    tensorflow = [sys.executable, "-c", "import tensorflow"]
    timed(check), timed(tensorflow)  # warm the file cache; not counted
    checks, imports = [], []
    for _ in range(args.runs):
        checks.append(timed(check))
        imports.append(timed(tensorflow))
    check_s, import_s = statistics.median(checks), statistics.median(imports)
    ratio = check_s / import_s
    print(f"layerspec check {args.spec}: median {check_s:.3f} s over {args.runs} runs (min {min(checks):.3f} s)")
    print(f'python -c "import tensorflow": median {import_s:.3f} s over {args.runs} runs (min {min(imports):.3f} s)')
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"ratio: {ratio:.3f}x ({verdict} the target of <= {TARGET}x)")


if __name__ == "__main__":
    main()
