"""Benchmark: `layerspec check specs/signs.yaml` against `python -c "import tensorflow"`, side by side.

The checker's promise (issue 2) is that it answers before TensorFlow could even be imported: target <= 0.25x.
Both commands run as fresh processes, alternately, several times; the medians and their ratio are printed.
With --layers N, a generated spec of N layers is checked instead (target: 60,000 layers in under 2 s), written to a
temporary folder: parallel chains of ReLU layers joined by an Add, so it stays within the depth limit and checks.
Usage: python tests/bench/bench_check.py [--runs N] [--spec PATH | --layers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = 0.25
LARGE_TARGET_S = 2.0
CHAIN = 1_000  # layers per chain of the generated spec, well within the model depth limit


def large_spec(layers: int) -> str:
    """A valid spec of `layers` layers in block style: chains of ReLUs from the input, then one Add of their ends."""
    chains = max(1, (layers - 1) // CHAIN)
    lines = ["name: large", "input:", "  shape: [8]", "layers:"]
    for c in range(chains):
        length = CHAIN if c < chains - 1 else layers - 1 - CHAIN * (chains - 1)
        for i in range(length):
            lines.append("  - type: ReLU")
            if i == 0:
                lines.append("    inputs: input")
            if i == length - 1:
                lines.append(f"    name: end{c}")
    ends = ", ".join(f"end{c}" for c in range(chains))
    lines += ["  - type: Add" if chains > 1 else "  - type: Identity", f"    inputs: [{ends}]"]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--layers", type=int, default=0, help="check a generated spec of this many layers instead")
    args = parser.parse_args()
    if args.layers:
        bench_large(args.layers, args.runs)
        return
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_large(layers: int, runs: int) -> None:
    """Wall time, and CPU time (user + system), which a shared machine inflates far less."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.yaml"
        path.write_text(large_spec(layers), encoding="utf-8")
        check = [*layerspec_command(), "check", str(path)]
        timed(check)  # warm the file cache, and fail here if the spec does not check
        times, cpus = [], []
        for _ in range(runs):
            before = cpu_seconds()
            times.append(timed(check))
            cpus.append(cpu_seconds() - before)
    median = statistics.median(times)
    verdict = "meets" if median < LARGE_TARGET_S else "misses"
    print(f"layerspec check of {layers:,} layers: median {median:.3f} s over {runs} runs (min {min(times):.3f} s)")
    print(f"CPU time: median {statistics.median(cpus):.3f} s (min {min(cpus):.3f} s)")
    print(f"{verdict} the target of < {LARGE_TARGET_S} s")


if __name__ == "__main__":
    main()
