"""Memory benchmark: `check`'s estimate against the memory a training step really takes on the CPU (not a test).

    .venv/bin/python tests/bench/bench_memory.py [--specs specs/signs.yaml ...] [--batches 8 32 128] [--inter-op N]

Each (spec, batch size) runs in a fresh process, which sets up the runtime and builds the model as `layerspec train`
does (thread pools, train/model.py: optimizer and its slots, loss, metrics, fused batch normalisation), makes one
batch of random inputs and labels (as tensors) and trains on it with `train_on_batch`, the step `fit` runs: one
warm-up step, then three measured ones. Measured, in MiB:
- allocator peak: the most bytes TensorFlow's CPU allocator had in use during a measured step (the largest of the
  three), counted from `tf.config.experimental.reset_memory_stats("CPU:0")` just before it
  (`get_memory_info("CPU:0")["peak"]`). The warm-up step traces the step function and is left out, as the
  estimate models a step, not its tracing. The figure holds everything TensorFlow allocated and still held:
  weights, optimizer slots, the batch, the activations kept for the backward pass, gradients and temporaries; not
  Python objects, graphs or oneDNN's own caches. The child processes run with TF_CPU_ALLOCATOR_USE_BFC=true, so
  that the CPU device allocates through TensorFlow's BFC allocator, which counts every allocation (oneDNN's
  default allocator answers too, but leaves small allocations out);
- state: what the allocator held when a measured step began (weights, slots, the moving average, the batch);
- RSS growth: the peak resident-set growth of the process from just before the model is built to the end of the
  last step (/proc/self/clear_refs, VmHWM): the allocator's figure plus Python and Keras objects, the traced
  graphs, oneDNN's caches and what the allocators keep reserved.
The estimate is `check`'s total (weights, gradients, optimizer slots, moving average, activations for the batch).
On a shared machine other processes do not change a process's own figures; the order in which TensorFlow's
inter-op threads run independent operations moves the allocator's peak from step to step (`--inter-op 1` to fix
the thread count; the figures reported take the spec's own threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# TensorFlow's BFC allocator for the CPU device: it counts every allocation, small ones too, and keeps the true peak.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CPU_ALLOCATOR_USE_BFC": "true", "PYTHONPATH": str(REPO)}


def resident() -> tuple[int, int]:
    """(current, peak) resident set of this process, in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def batch_of(checked: Any, batch: int, sparse: bool) -> tuple[Any, Any]:
    """Random inputs of the model's input shape and dtype (token ids: 1 and 2, never the padding 0) and labels."""
    import numpy as np

    summary = checked.summary
    rng = np.random.default_rng(0)
    name = summary.inputs[0]
    shape = (batch, *summary.record(name).output_shape)
    node = next(n for n in checked.graph.nodes if n.name == name)
    dtype = node.input_spec.dtype if node.input_spec is not None else "float32"
    x = rng.integers(1, 3, shape).astype(dtype) if "int" in dtype else rng.random(shape, dtype=np.float32)
    classes = summary.record(summary.outputs[0]).output_shape[-1]
    labels = rng.integers(0, classes, batch)
    return x, (labels if sparse else np.eye(classes, dtype=np.float32)[labels])


def measure(spec_path: Path, batch: int, inter_op: int | None = None, steps: int = 3) -> dict[str, Any]:
    """In this (fresh) process: the estimate and the measured memory of one spec at one batch size."""
    import tensorflow as tf

    from layerspec.build import compile_verified
    from layerspec.check import check_loaded, memory_of
    from layerspec.spec import load_spec
    from layerspec.train.model import build_model
    from layerspec.train.options import loss_name, train_settings
    from layerspec.train.runtime import prepare_runtime

    loaded = load_spec(spec_path)
    settings = train_settings(loaded).model_copy(update={"batch_size": batch})
    if inter_op is not None:
        threads = settings.threads.model_copy(update={"inter_op": inter_op})
        settings = settings.model_copy(update={"threads": threads})
    prepare_runtime(settings)  # thread pools, determinism and seed, as `layerspec train` sets them
    checked = check_loaded(loaded)
    memory = memory_of(checked, batch)
    x, y = batch_of(checked, batch, loss_name(loaded, settings).startswith("sparse"))
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # reset the peak to the current resident set
    before, _ = resident()
    built = compile_verified(checked)
    model = build_model(built, loaded, settings, tf.distribute.get_strategy(), set(checked.graph.outputs))
    x, y = tf.constant(x), tf.constant(y)
    model.train_on_batch(x, y)  # traces the step
    peaks, states = [], []
    for _ in range(steps):
        tf.config.experimental.reset_memory_stats("CPU:0")
        states.append(tf.config.experimental.get_memory_info("CPU:0")["current"])
        model.train_on_batch(x, y)
        peaks.append(tf.config.experimental.get_memory_info("CPU:0")["peak"])
    _, rss_peak = resident()
    return {
        "spec": spec_path.name,
        "batch": batch,
        "optimizer": settings.optimizer.type,
        "estimate": memory.total_bytes,
        "state_estimate": memory.total_bytes - (memory.activation_bytes or 0) - memory.gradient_bytes,
        "allocator_peak": max(peaks),
        "allocator_peaks": peaks,
        "allocator_state": max(states),
        "rss_growth": rss_peak - before,
        "memory": memory.to_json(),
    }


def error(estimate: int, measured: int) -> str:
    return f"{100 * (estimate - measured) / measured:+.0f} %" if measured > 0 else "-"


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| spec | batch | estimate | allocator peak | error | RSS growth | error | state: estimate | allocator |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        est, peak, rss = r["estimate"], r["allocator_peak"], r["rss_growth"]
        figures = f"{mib(est)} | {mib(peak)} | {error(est, peak)} | {mib(rss)} | {error(est, rss)}"
        state = f"{mib(r['state_estimate'])} | {mib(r['allocator_state'])}"
        lines.append(f"| {r['spec']} | {r['batch']} | {figures} | {state} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", type=Path, default=[REPO / "specs/signs.yaml"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--inter-op", type=int, help="TensorFlow's inter-op threads (default: the spec's threads)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # SPEC BATCH, in a child process
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), int(args.one[1]), args.inter_op)))
        return
    rows = []
    for spec in args.specs:
        for batch in args.batches:
            command = [sys.executable, __file__, "--one", str(spec), str(batch)]
            command += [] if args.inter_op is None else ["--inter-op", str(args.inter_op)]
            done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "memory"}), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(table(rows))


if __name__ == "__main__":
    main()
