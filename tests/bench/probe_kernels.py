"""Run each layer type's contract examples through TensorFlow's CPU kernels: forward and gradient, in a compiled
step, under the float32, mixed_bfloat16 and mixed_float16 policies, with oneDNN on and off.

Usage: `python tests/bench/probe_kernels.py [TYPE ...]` (default: every registered type). Each oneDNN setting runs
in its own process (TF_ENABLE_ONEDNN_OPTS is read when TensorFlow loads); only the failures are printed, one line
each. The examples are configurations `check` accepts, so every failure is a kernel limit to refuse (with a case in
tests/cases/regress/ and a line in docs/hardware.md); float16 is skipped for a type whose `cpu_float16` is False
(known, and warned about by `check`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def probe(keras: Any, tf: Any, type_name: str, shape: tuple[int, ...], args: dict[str, Any]) -> str | None:
    """None if the layer runs forward and backward (input and weight gradients), else the first line of the error."""
    import numpy as np

    try:
        inputs = keras.Input(shape=shape)
        model = keras.Model(inputs, getattr(keras.layers, type_name)(**args)(inputs))
        x = tf.constant(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32"))

        @tf.function  # type: ignore[misc]
        def step(x: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_mean(tf.cast(model(x, training=True), "float32") ** 2)
            return tape.gradient(loss, [x, *model.trainable_variables])

        step(x)
    except Exception as exc:  # every failure is the finding
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        telling = [line for line in lines if "rror" in line or "support" in line or "registered" in line]
        return f"{type(exc).__name__}: {(telling or lines or [''])[0][:200]}"
    return None


def run_here(types: list[str]) -> int:
    """Probe in this process, with oneDNN as the environment sets it; the number of failures."""
    import keras
    import tensorflow as tf

    from layerspec.layers import REGISTRY

    failures = 0
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")
    for type_name in types:
        for example in REGISTRY[type_name].examples:
            if len(example.inputs) != 1 or None in example.inputs[0]:
                continue  # merges and unknown sizes: nothing to run on
            for policy in POLICIES:
                if policy == "mixed_float16" and not REGISTRY[type_name].cpu_float16:
                    continue  # known, and warned about by check (rule float16_kernels_on_cpu)
                keras.config.set_dtype_policy(policy)
                try:
                    error = probe(keras, tf, type_name, tuple(example.inputs[0]), dict(example.args))  # type: ignore[arg-type]
                finally:
                    keras.config.set_dtype_policy("float32")
                if error:
                    failures += 1
                    print(f"oneDNN {onednn} {policy} {type_name} {json.dumps(dict(example.args))}: {error}", flush=True)
    return failures


def main(argv: list[str]) -> int:
    if os.environ.get("LAYERSPEC_PROBE_CHILD"):
        return 1 if run_here(argv) else 0
    from layerspec.layers import REGISTRY

    unknown = [t for t in argv if t not in REGISTRY]
    if unknown:
        print(f"unknown layer types: {', '.join(unknown)}", file=sys.stderr)
        return 2
    types = argv or sorted(REGISTRY)
    status = 0
    for onednn in ("1", "0"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "LAYERSPEC_PROBE_CHILD": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        status |= subprocess.run([sys.executable, __file__, *types], env=env, check=False).returncode
    print("every example runs" if status == 0 else "failures above", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
