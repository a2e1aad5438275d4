"""The machine description and `mixed_precision: auto`, from /proc/cpuinfo texts of the CPUs layerspec runs on."""

from __future__ import annotations

import pytest

from layerspec.hardware import choose_precision, describe_cpu, parse_cpuinfo, this_cpu, use_onednn_by_default

# Flags as Linux prints them (shortened to the ones that matter, plus a few neighbours).
AMD_ZEN3 = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni vaes\n"
INTEL_VM = (
    "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: avx avx2 avx512f avx512bw avx512vl avx512_vnni\n"
    "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: avx avx2\n"
)
INTEL_AMX = (
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n"
)


def test_the_first_processor_is_read() -> None:
    model, flags = parse_cpuinfo(INTEL_VM)
    assert model == "Intel(R) Xeon(R) Processor" and "avx512_vnni" in flags


@pytest.mark.parametrize(
    ("text", "native", "onednn", "flags"),
    [
        (AMD_ZEN3, False, "off", ["avx2"]),
        (INTEL_VM, False, "on", ["avx2", "avx512f", "avx512_vnni"]),
        (INTEL_AMX, True, "on", ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"]),
    ],
    ids=["amd-avx2", "intel-avx512", "intel-amx"],
)
def test_cpu_kinds(text: str, native: bool, onednn: str, flags: list[str]) -> None:
    cpu = describe_cpu(text, environ={})
    assert (cpu.native_bfloat16, cpu.onednn, cpu.vector_flags) == (native, onednn, flags)
    assert cpu.onednn_source == "TensorFlow's default for this CPU"


@pytest.mark.parametrize(("value", "state"), [("0", "off"), ("1", "on"), ("true", "on"), ("False", "off")])
def test_the_environment_decides_onednn(value: str, state: str) -> None:
    cpu = describe_cpu(INTEL_AMX if state == "off" else AMD_ZEN3, environ={"TF_ENABLE_ONEDNN_OPTS": value})
    assert cpu.onednn == state and cpu.onednn_source == "TF_ENABLE_ONEDNN_OPTS"


@pytest.mark.parametrize(
    ("text", "environ", "turned_on"),
    [
        (AMD_ZEN3, {}, True),  # AVX2 only: TensorFlow would leave oneDNN off
        (INTEL_VM, {}, False),  # TensorFlow turns it on itself
        (INTEL_AMX, {}, False),
        (AMD_ZEN3, {"TF_ENABLE_ONEDNN_OPTS": "0"}, False),  # the user's choice stands
        ("model name\t: old\nflags\t\t: sse2 avx\n", {}, False),  # no AVX2: not measured, left alone
    ],
    ids=["amd-avx2", "intel-avx512", "intel-amx", "user-said-off", "no-avx2"],
)
def test_layerspec_turns_onednn_on_where_tensorflow_would_not(
    text: str, environ: dict[str, str], turned_on: bool
) -> None:
    before = dict(environ)
    assert use_onednn_by_default(parse_cpuinfo(text)[1], environ) is turned_on
    cpu = describe_cpu(text, environ)
    if turned_on:
        assert (cpu.onednn, cpu.onednn_source) == ("on", "layerspec's default for this CPU")
    else:
        assert environ == before


def test_a_child_process_still_knows_the_default_was_layerspec_s() -> None:
    """A subprocess inherits both variables; the user overriding the value makes it the user's again."""
    environ: dict[str, str] = {}
    use_onednn_by_default(parse_cpuinfo(AMD_ZEN3)[1], environ)
    assert describe_cpu(AMD_ZEN3, dict(environ)).onednn_source == "layerspec's default for this CPU"
    environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    assert describe_cpu(AMD_ZEN3, environ).onednn_source == "TF_ENABLE_ONEDNN_OPTS"


def test_an_unreadable_value_leaves_tensorflow_s_default() -> None:
    assert describe_cpu(AMD_ZEN3, environ={"TF_ENABLE_ONEDNN_OPTS": "yes please"}).onednn == "off"


@pytest.mark.parametrize(
    ("text", "gpu", "chosen", "reason"),
    [
        (AMD_ZEN3, False, "float32", "no native bfloat16"),
        (INTEL_VM, False, "float32", "no native bfloat16"),
        (INTEL_AMX, False, "bfloat16", "native bfloat16 (AMX)"),
        (AMD_ZEN3, True, "float16", "GPU"),
        (INTEL_AMX, True, "float16", "GPU"),
    ],
)
def test_auto(text: str, gpu: bool, chosen: str, reason: str) -> None:
    choice = choose_precision("auto", gpu, describe_cpu(text, environ={}))
    assert choice.requested == "auto" and choice.chosen == chosen and reason in choice.reason


def test_an_explicit_policy_is_kept_and_emulation_is_said() -> None:
    emulated = choose_precision("bfloat16", False, describe_cpu(AMD_ZEN3, environ={}))
    assert emulated.chosen == "bfloat16" and "emulated" in emulated.reason
    native = choose_precision("bfloat16", False, describe_cpu(INTEL_AMX, environ={}))
    assert native.chosen == "bfloat16" and "emulated" not in native.reason
    assert choose_precision("float32", False, describe_cpu(AMD_ZEN3, environ={})).reason == "as the spec asks"


def test_this_machine_is_described() -> None:
    cpu = this_cpu()
    assert cpu.model and cpu.onednn in ("on", "off")


NATIVE_BF16_PROBE = """
import tensorflow as tf
x = tf.cast(tf.random.normal([2, 16, 16, 8]), tf.bfloat16)
k = tf.cast(tf.random.normal([3, 3, 8, 8]), tf.bfloat16)
tf.nn.conv2d(x, k, 1, "SAME").numpy()
"""


@pytest.mark.keras
def test_auto_s_bfloat16_runs_on_native_units() -> None:
    """Where `auto` picks bfloat16, oneDNN runs the convolution in bfloat16 (not emulated through float32)."""
    import os
    import subprocess
    import sys

    cpu = this_cpu()
    if not cpu.native_bfloat16 or cpu.onednn == "off":
        pytest.skip(
            f"needs native bfloat16 units and oneDNN; this CPU ({cpu.model}): {cpu.vector_flags}, oneDNN {cpu.onednn}"
        )
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", NATIVE_BF16_PROBE], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    # oneDNN's verbose line names the implementation: `brg_conv_fwd:avx512_core_amx` or `jit:avx512_core_bf16` on
    # native units; an emulating CPU says `jit_bf16:avx512_core` (bfloat16 data, float32 arithmetic).
    lines = [line.split(",") for line in done.stdout.splitlines() if ",exec,cpu,convolution," in line]
    isas = [fields[6].rpartition(":")[2] for fields in lines]
    assert isas and all("amx" in isa or "bf16" in isa for isa in isas), isas
