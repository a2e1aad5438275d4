"""Export benchmark: `layerspec export` of a trained run in each format, timed, and checked in its runtime.

    .venv/bin/python tests/bench/bench_export.py [RUN] [--data data/signs]

For each format: the wall time of the `layerspec export` command (a fresh process: TensorFlow's start-up
included) and the largest difference between the exported model's probabilities on the test split's raw pixels
and the Keras model's on the scaled ones. The run is exported into a temporary folder and left as it was.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_export import RUNTIMES

from layerspec.hardware import this_cpu

LAYERSPEC = Path(sys.executable).parent / "layerspec"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", nargs="?", type=Path, default=Path("runs/signs_cnn"))
    parser.add_argument("--data", type=Path, default=Path("data/signs"))
    args = parser.parse_args()
    cpu = this_cpu()
    print(f"cpu: {cpu.model}; {' '.join(cpu.vector_flags)}; oneDNN {cpu.onednn}")
    with h5py.File(args.data / "test_signs.h5", "r") as handle:
        pixels = np.asarray(handle["test_set_x"][()], np.float32)
    import keras

    expected = keras.saving.load_model(args.run / "model.keras", compile=False).predict(pixels / 255.0, verbose=0)
    with tempfile.TemporaryDirectory(prefix="layerspec-export-") as tmp:
        for fmt, probabilities in RUNTIMES.items():
            start = time.perf_counter()
            done = subprocess.run(
                [str(LAYERSPEC), "export", str(args.run), "--format", fmt, "--out", f"{tmp}/{fmt}", "--json"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                print(f"{fmt:12} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
                continue
            path = json.loads(done.stdout)["path"]
            size = (
                sum(p.stat().st_size for p in Path(path).rglob("*"))
                if Path(path).is_dir()
                else Path(path).stat().st_size
            )
            error = float(np.abs(probabilities(path, pixels) - expected).max())
            agree = float((probabilities(path, pixels).argmax(1) == expected.argmax(1)).mean())
            print(
                f"{fmt:12} {seconds:6.1f} s  {size / 1e6:6.2f} MB  max |p - keras| {error:.2e}  same class {agree:.1%}"
            )


if __name__ == "__main__":
    main()
