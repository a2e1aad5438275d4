"""Speed benchmark: plain Keras `model.fit` against `layerspec train` on the reference network (not a test).

    .venv/bin/python tests/bench/bench_train_speed.py [--epochs 8] [--rounds 3] [--configs default bfloat16 ...]
                                                      [--accuracy] [--onednn 0|1] [--isa AVX2]

Plain Keras is the seed notebook's way: the network written by hand, `model.fit` on NumPy arrays (the 1,080
training images / 255, one-hot labels), batch 64, float32, Adam. layerspec trains specs/signs.yaml's layers with a
train section that differs only in the settings named by each configuration. Runs alternate (plain, layerspec
config 1, plain, config 2, ...) in fresh processes, so both sides see the same machine load. Each side's epochs
without the first (tracing) are pooled over the rounds; the target figure is the ratio of the pooled medians
(layerspec / plain). The fastest epochs and the count of slow ones (over 1.25x the side's fastest) show how much
of a median is the machine and how much the code.
The floor is the epoch's arithmetic (forward and backward: 3 x 2 FLOP per multiply-accumulate that `check`
counts, for every training image) at the rate a large float32 matmul reaches on this machine; the second target
is layerspec's median epoch against it. The CPU (model, vector units, oneDNN on or off) is printed first: figures
from different CPU kinds are not comparable. `--onednn` sets TF_ENABLE_ONEDNN_OPTS for both sides;
`--isa AVX2` caps oneDNN at AVX2 (ONEDNN_MAX_CPU_ISA), which is what oneDNN runs on an AVX2-only CPU.
`--accuracy` then trains the full recipe of specs/signs.yaml with the fastest configuration's settings for seeds
1, 2, 3 and prints the test accuracy next to the float32 recipe's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py
import yaml

from layerspec.hardware import this_cpu

REPO = Path(__file__).resolve().parents[2]
LAYERSPEC = Path(sys.executable).parent / "layerspec"
DATA = REPO / "data" / "signs"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

# Train-section settings of each configuration; "default" is layerspec's defaults with the notebook's batch size
# and no validation split (the same work per epoch as the plain loop).
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "keras batchnorm": {"fused_batchnorm": False},
    "deterministic": {"deterministic": True},
    "threads 2/1": {"threads": {"intra_op": 2, "inter_op": 1}},
    "xla": {"jit_compile": True},
    "bfloat16": {"mixed_precision": "bfloat16"},
    "bfloat16+keras batchnorm": {"mixed_precision": "bfloat16", "fused_batchnorm": False},
    "bfloat16+threads": {"mixed_precision": "bfloat16", "threads": {"intra_op": 2, "inter_op": 1}},
    "bfloat16+xla": {"mixed_precision": "bfloat16", "jit_compile": True},
    "bfloat16+xla+threads": {
        "mixed_precision": "bfloat16",
        "jit_compile": True,
        "threads": {"intra_op": 2, "inter_op": 1},
    },
}

# The default comparison: layerspec's defaults and its fastest setting, each with and without the fused kernel.
MAIN_CONFIGS = ["default", "keras batchnorm", "bfloat16", "bfloat16+keras batchnorm"]

PLAIN = """
import json, sys, time
import h5py, numpy as np, keras
epochs = int(sys.argv[1])
with h5py.File(sys.argv[2], "r") as f:
    x = f["train_set_x"][()] / 255.0
    y = keras.utils.to_categorical(f["train_set_y"][()], 6)
x = x.astype("float32")
keras.utils.set_random_seed(1)
inputs = keras.Input((64, 64, 3))
h = keras.layers.ZeroPadding2D(3)(inputs)
h = keras.layers.Conv2D(32, 7, name="conv0")(h)
h = keras.layers.BatchNormalization(axis=3, name="bn0")(h)
h = keras.layers.Activation("relu")(h)
h = keras.layers.MaxPooling2D(2, name="max_pool0")(h)
h = keras.layers.Conv2D(64, 7, name="conv1")(h)
h = keras.layers.BatchNormalization(axis=3, name="bn1")(h)
h = keras.layers.Activation("relu")(h)
h = keras.layers.MaxPooling2D(2, name="max_pool1")(h)
h = keras.layers.Flatten()(h)
outputs = keras.layers.Dense(6, activation="softmax", name="fc")(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
seconds = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        seconds.append(time.perf_counter() - self.started)
model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[Timer()])
print(json.dumps({"epoch_seconds": seconds}))
"""


MATMUL = """
import json, sys, time
import tensorflow as tf
n = 2048
a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
step = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
step(a, b).numpy()
rates = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    step(a, b).numpy()
    rates.append(2 * n**3 / (time.perf_counter() - started) / 1e9)
print(json.dumps({"gflops": max(rates)}))
"""


def matmul_gflops(repeats: int = 20) -> float:
    """The best float32 GFLOP/s of a 2048 x 2048 matmul on this machine (TensorFlow, all cores)."""
    done = subprocess.run([sys.executable, "-c", MATMUL, str(repeats)], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        sys.exit(f"matmul probe failed:\n{done.stderr[-3000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["gflops"])


def epoch_gflop() -> float:
    """Forward and backward arithmetic of one epoch of specs/signs.yaml's network over the training images."""
    from layerspec.check import check_file

    with h5py.File(DATA / "train_signs.h5", "r") as f:
        images = len(f["train_set_y"])
    return 3 * 2 * check_file(REPO / "specs" / "signs.yaml").summary.macs * images / 1e9


def plain_keras(epochs: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, str(epochs), str(DATA / "train_signs.h5")],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    seconds: list[float] = json.loads(done.stdout.strip().splitlines()[-1])["epoch_seconds"]
    return seconds


def variant_spec(folder: Path, name: str, train: dict[str, Any], recipe: bool) -> Path:
    """specs/signs.yaml with its layers untouched and its train section changed."""
    spec = yaml.safe_load((REPO / "specs" / "signs.yaml").read_text())
    if not recipe:  # the notebook's loop: batch 64, Adam, no validation split, no extras
        spec["data"]["validation_split"] = 0.0
        spec["train"] = {"batch_size": 64, "seed": 1}
    spec["train"] = {**spec["train"], **train}
    path = folder / f"{name.replace(' ', '_').replace('/', '-').replace('+', '_')}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def layerspec_train(spec: Path, epochs: int | None, seed: int, out: Path) -> dict[str, Any]:
    command = [
        str(LAYERSPEC),
        "train",
        str(spec),
        "--data",
        str(DATA),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--json",
    ]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def steady(seconds: list[float]) -> list[float]:
    return seconds[1:] if len(seconds) > 1 else seconds


def slow_count(seconds: list[float]) -> str:
    return f"{sum(t > 1.25 * min(seconds) for t in seconds)}/{len(seconds)}"


def speed(configs: list[str], epochs: int, rounds: int, folder: Path, floor: float) -> dict[str, float]:
    """Pooled epoch times per configuration and of the plain runs alternated with it; returns median ratios."""
    plain: dict[str, list[float]] = {name: [] for name in configs}
    ours: dict[str, list[float]] = {name: [] for name in configs}
    for round_ in range(rounds):
        for name in configs:
            mine = steady(plain_keras(epochs))
            spec = variant_spec(folder, name, CONFIGS[name], recipe=False)
            theirs = steady(layerspec_train(spec, epochs, 1, folder / "runs" / f"{name}-{round_}")["epoch_seconds"])
            plain[name] += mine
            ours[name] += theirs
            a, b = statistics.median(mine), statistics.median(theirs)
            print(f"round {round_ + 1} {name:26} plain {a:6.2f}s  layerspec {b:6.2f}s  ratio {b / a:.2f}x", flush=True)
    header = ("configuration", "plain median", "ours median", "ratio", "plain fastest", "ours fastest", "ratio")
    print(
        "\n" + "".join(f"{h:>14}" if i else f"{h:26}" for i, h in enumerate(header)) + "      / floor"
        "   slow epochs plain / ours"
    )
    medians = {}
    for name in configs:
        pm, om = statistics.median(plain[name]), statistics.median(ours[name])
        pf, of = min(plain[name]), min(ours[name])
        medians[name] = om / pm
        print(
            f"{name:26}{pm:>13.2f}s{om:>13.2f}s{om / pm:>13.2f}x{pf:>13.2f}s{of:>13.2f}s{of / pf:>13.2f}x"
            f"{om / floor:>12.2f}x   {slow_count(plain[name])} / {slow_count(ours[name])}",
            flush=True,
        )
    return medians


def accuracy(settings: dict[str, Any], folder: Path) -> None:
    for label, train in (("recipe float32", {}), ("recipe fastest", settings)):
        spec = variant_spec(folder, label, train, recipe=True)
        results = [layerspec_train(spec, None, seed, folder / "acc" / f"{label}-{seed}") for seed in (1, 2, 3)]
        accs = [r["metrics"]["test_accuracy"] for r in results]
        epoch = statistics.median(t for r in results for t in steady(r["epoch_seconds"]))
        print(
            f"{label:16} test accuracy per seed {', '.join(f'{a:.2%}' for a in accs)}  median "
            f"{statistics.median(accs):.2%}  median epoch {epoch:.2f}s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=MAIN_CONFIGS, choices=list(CONFIGS))
    parser.add_argument("--accuracy", action="store_true", help="also train the recipe with the fastest settings")
    parser.add_argument("--onednn", choices=["0", "1"], help="TF_ENABLE_ONEDNN_OPTS for both sides")
    parser.add_argument("--isa", choices=["AVX2", "AVX512_CORE"], help="ONEDNN_MAX_CPU_ISA for both sides")
    args = parser.parse_args()
    if args.isa is not None:
        ENV["ONEDNN_MAX_CPU_ISA"] = os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa
    if args.onednn is not None:
        ENV["TF_ENABLE_ONEDNN_OPTS"] = os.environ["TF_ENABLE_ONEDNN_OPTS"] = args.onednn
        this_cpu.cache_clear()
    cpu = this_cpu()
    print(f"cpu: {cpu.model}; {' '.join(cpu.vector_flags)}; oneDNN {cpu.onednn} ({cpu.onednn_source})", flush=True)
    if args.isa is not None:
        print(f"oneDNN capped at {args.isa} (ONEDNN_MAX_CPU_ISA)", flush=True)
    work, rate = epoch_gflop(), matmul_gflops()
    floor = work / rate
    print(f"floor: {work:.0f} GFLOP per epoch at {rate:.0f} GFLOP/s (float32 matmul) = {floor:.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="layerspec-speed-") as tmp:
        medians = speed(args.configs, args.epochs, args.rounds, Path(tmp), floor)
        fastest = min(medians, key=medians.__getitem__)
        print(
            f"\nfastest: {fastest} ({medians[fastest]:.2f}x); targets: <= 0.6x plain Keras, <= 1.5x the floor",
            flush=True,
        )
        if args.accuracy:
            accuracy(CONFIGS[fastest], Path(tmp))


if __name__ == "__main__":
    main()
