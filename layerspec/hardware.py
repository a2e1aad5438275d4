"""What the machine offers the training step: the CPU's vector units, oneDNN, and the precision `auto` picks.

Read without importing TensorFlow (from /proc/cpuinfo and the environment), so `check` and the records can say
which machine a figure came from. Which kernels TensorFlow runs depends on this: TensorFlow turns oneDNN's on by
itself only on CPUs with AVX-512 or AVX neural-network units, and bfloat16 is fast only where the CPU computes it
natively. layerspec turns oneDNN on for the other AVX2 CPUs too (`use_onednn_by_default`), because there it
measured the training step faster with it (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# CPU flags (as Linux names them) that compute bfloat16 products natively; without them bfloat16 is emulated.
NATIVE_BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
# CPU flags TensorFlow 2.21 looks for when it decides to turn oneDNN's kernels on by itself (x86 Linux).
ONEDNN_DEFAULT_FLAGS = frozenset({"avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni"})
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
# Holds the value layerspec gave ONEDNN_ENV, so a record (in this process or a child) can tell layerspec's
# default from the user's own setting.
ONEDNN_DEFAULT_MARK = "LAYERSPEC_ONEDNN_DEFAULT"
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")

Policy = Literal["float32", "bfloat16", "float16"]
OnednnSource = Literal["TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default for this CPU", "layerspec's default for this CPU"]


class CpuInfo(BaseModel):
    """The CPU as Linux reports it: model name and the flags that decide TensorFlow's kernels."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: str = Field(description="The CPU's model name (/proc/cpuinfo).")
    vector_flags: list[str] = Field(description="Which of the vector instruction sets TensorFlow's kernels use it has.")
    native_bfloat16: bool = Field(description="Whether it computes in bfloat16 natively (AVX512-BF16 or AMX).")
    onednn: Literal["on", "off"] = Field(description="Whether TensorFlow's oneDNN kernels were on.")
    onednn_source: OnednnSource = Field(
        description="What decided `onednn`: the environment variable, layerspec's default (on for AVX2 CPUs on "
        "which TensorFlow leaves it off) or TensorFlow's default for this CPU."
    )


class PrecisionChoice(BaseModel):
    """The compute dtype training used, and why (recorded in train.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    requested: str = Field(description="train.mixed_precision as the spec gave it (`auto` included).")
    chosen: Policy = Field(description="The compute dtype training used.")
    reason: str = Field(description="Why that one, in words.")


def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """Model name and flags of the first processor in a /proc/cpuinfo text."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model or platform.processor() or platform.machine(), flags


def onednn_state(
    flags: frozenset[str], environ: MutableMapping[str, str] | None = None
) -> tuple[Literal["on", "off"], OnednnSource]:
    """Whether oneDNN's kernels are on, and who decided: the user's environment, layerspec or TensorFlow."""
    environ = os.environ if environ is None else environ
    value = environ.get(ONEDNN_ENV)
    if value is not None and value.strip().lower() in ("0", "false", "1", "true"):
        state: Literal["on", "off"] = "on" if value.strip().lower() in ("1", "true") else "off"
        by_layerspec = environ.get(ONEDNN_DEFAULT_MARK) == value
        return state, "layerspec's default for this CPU" if by_layerspec else "TF_ENABLE_ONEDNN_OPTS"
    return ("on" if flags & ONEDNN_DEFAULT_FLAGS else "off"), "TensorFlow's default for this CPU"


def use_onednn_by_default(flags: frozenset[str] | None = None, environ: MutableMapping[str, str] | None = None) -> bool:
    """Turn oneDNN's kernels on for an AVX2 CPU on which TensorFlow would leave them off; True if it did.

    On such CPUs (AMD EPYC, older Xeons) TensorFlow's own convolution kernels run the reference network's training
    step at under half the speed of oneDNN's (docs/benchmarks.md). Nothing changes where the user set
    TF_ENABLE_ONEDNN_OPTS, where TensorFlow turns oneDNN on itself, or once TensorFlow is imported (it reads the
    variable only then, and a record must not claim a setting that did not take effect).
    """
    if environ is None:
        if "tensorflow" in sys.modules:
            return False
        environ = os.environ
    flags = parse_cpuinfo(_cpuinfo_text())[1] if flags is None else flags
    if ONEDNN_ENV in environ:
        return False
    if "avx2" not in flags or flags & ONEDNN_DEFAULT_FLAGS:
        return False
    environ[ONEDNN_ENV] = environ[ONEDNN_DEFAULT_MARK] = "1"
    return True


def describe_cpu(text: str, environ: MutableMapping[str, str] | None = None) -> CpuInfo:
    model, flags = parse_cpuinfo(text)
    onednn, source = onednn_state(flags, environ)
    return CpuInfo(
        model=model,
        vector_flags=[f for f in VECTOR_FLAGS if f in flags],
        native_bfloat16=bool(flags & NATIVE_BFLOAT16_FLAGS),
        onednn=onednn,
        onednn_source=source,
    )


@cache
def this_cpu() -> CpuInfo:
    return describe_cpu(_cpuinfo_text())


def choose_precision(requested: str, gpu: bool, cpu: CpuInfo) -> PrecisionChoice:
    """`auto` made concrete: float16 on a GPU, bfloat16 where the CPU has native bfloat16 units, else float32.

    An explicit policy is kept as asked; the reason then says whether the machine computes it natively.
    """
    if requested != "auto":
        chosen: Policy = requested  # type: ignore[assignment]  # the spec's Literal, less "auto"
        native = gpu or chosen != "bfloat16" or cpu.native_bfloat16
        reason = "as the spec asks" + ("" if native else " (this CPU has no bfloat16 units: it is emulated)")
        return PrecisionChoice(requested=requested, chosen=chosen, reason=reason)
    if gpu:
        return PrecisionChoice(requested="auto", chosen="float16", reason="a GPU computes float16 natively")
    if cpu.native_bfloat16:
        units = "AMX" if "amx_bf16" in cpu.vector_flags else "AVX512_BF16"
        return PrecisionChoice(requested="auto", chosen="bfloat16", reason=f"the CPU has native bfloat16 ({units})")
    return PrecisionChoice(
        requested="auto",
        chosen="float32",
        reason="the CPU has no native bfloat16 (no AMX or AVX512_BF16 flag) and there is no GPU",
    )
