"""Memory benchmark: `check`'s estimate against the memory a training step really takes on the CPU (not a test).

    .venv/bin/python tests/bench/bench_memory.py [--specs specs/signs.yaml ...] [--batches 16 64] [--optimizers adam]

Each (spec, batch size, optimizer) runs in a fresh process, which builds the model as `layerspec train` does
(train/model.py: optimizer and its slots, loss, fused batch normalisation), resets the peak resident set
(/proc/self/clear_refs) and trains one step on random data. Compared, in MiB:
- step: the peak resident-memory growth of that step against the estimate of what a step adds (the activations
  kept for the backward pass, the largest one's gradient, and the weights' gradients). The measured growth also
  holds what TensorFlow spends on tracing and optimising the step once, a few tens of MiB that no per-model figure
  covers, so small batches read high;
- per example: the growth between two batch sizes of a spec divided by the difference in examples, against the
  estimate's activations per example, where that constant cancels;
- state: the growth while the model is built against the weights, optimizer slots and moving average.
Large buffers are their own mappings (MALLOC_MMAP_THRESHOLD_) so that the resident set follows allocations. On a
shared machine other processes do not change a process's own resident set, but take one run's figures as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(REPO)}


def resident() -> tuple[int, int]:
    """(current, peak) resident set of this process, in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def measure(spec_path: Path, batch: int, optimizer: str) -> dict[str, Any]:
    """In this (fresh) process: the estimate and the measured growth of one spec at one batch size."""
    import numpy as np
    import tensorflow as tf

    from layerspec.check import check_loaded, memory_of
    from layerspec.spec import load_spec
    from layerspec.train.model import build_model
    from layerspec.train.options import loss_name, train_settings

    loaded = load_spec(spec_path)
    settings = train_settings(loaded).model_copy(update={"batch_size": batch})
    settings = settings.model_copy(update={"optimizer": settings.optimizer.model_copy(update={"type": optimizer})})
    checked = check_loaded(loaded)
    memory = memory_of(checked, batch)
    rng = np.random.default_rng(0)
    shape = checked.summary.record(checked.summary.inputs[0]).output_shape
    x = rng.random((batch, *shape), dtype=np.float32)
    classes = checked.summary.record(checked.summary.outputs[0]).output_shape[-1]
    labels = rng.integers(0, classes, batch)
    sparse = loss_name(loaded, settings).startswith("sparse")
    y = labels if sparse else np.eye(classes, dtype=np.float32)[labels]
    before, _ = resident()
    model = build_model(loaded, settings, tf.distribute.get_strategy())
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # reset the peak to the current resident set
    built, _ = resident()
    model.train_on_batch(x, y)
    _, peak = resident()
    return {
        "spec": spec_path.name,
        "batch": batch,
        "optimizer": optimizer,
        "step_estimate": (memory.activation_bytes or 0) + memory.gradient_bytes,
        "step_measured": peak - built,
        "state_estimate": memory.parameter_bytes + memory.optimizer_bytes + memory.ema_bytes,
        "state_measured": built - before,
        "per_example_estimate": memory.activations_per_example,
    }


def error(estimate: int, measured: int) -> str:
    return f"{100 * (estimate - measured) / measured:+.0f} %" if measured > 0 else "-"


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| spec | batch | optimizer | step: estimate | measured | error | state: estimate | measured |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        step = (
            f"{mib(r['step_estimate'])} | {mib(r['step_measured'])} | {error(r['step_estimate'], r['step_measured'])}"
        )
        state = f"{mib(r['state_estimate'])} | {mib(r['state_measured'])}"
        lines.append(f"| {r['spec']} | {r['batch']} | {r['optimizer']} | {step} | {state} |")
    lines += [
        "",
        "| spec | batches | optimizer | per example: estimate KiB | measured KiB | error |",
        "|---|---|---|---:|---:|---:|",
    ]
    for (spec, optimizer), group in _groups(rows).items():
        if len(group) < 2:
            continue
        small, large = group[0], group[-1]
        examples = large["batch"] - small["batch"]
        estimated = (large["step_estimate"] - small["step_estimate"]) // examples
        measured = (large["step_measured"] - small["step_measured"]) // examples
        batches = f"{small['batch']} -> {large['batch']}"
        figures = f"{estimated / 1024:,.0f} | {measured / 1024:,.0f} | {error(estimated, measured)}"
        lines.append(f"| {spec} | {batches} | {optimizer} | {figures} |")
    return "\n".join(lines)


def _groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["spec"], r["optimizer"]), []).append(r)
    return {key: sorted(group, key=lambda r: r["batch"]) for key, group in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", type=Path, default=[REPO / "specs/signs.yaml"])
    parser.add_argument("--batches", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--optimizers", nargs="+", default=["adam"])
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # SPEC BATCH OPTIMIZER, in a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), int(args.one[1]), args.one[2])))
        return
    rows = []
    for spec in args.specs:
        for batch in args.batches:
            for optimizer in args.optimizers:
                command = [sys.executable, __file__, "--one", str(spec), str(batch), optimizer]
                done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=True)
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
